"""Explicit randomness: seeds -> ``torch.Generator`` and reproducible per-block / per-task streams.

gradlab never touches the global RNG (``torch.manual_seed``, ``numpy.random.seed``). Every random
draw goes through a ``torch.Generator`` built here from an integer seed, or one passed by the user.

Two derived streams make results independent of how work is split:

* :func:`block_seed` gives the seed of block ``b`` of a Monte Carlo run, so that samples are the same
  whatever the chunk size (a chunk is a union of whole blocks);
* :func:`task_seed` gives the seed of cell ``i`` of a sweep, so that cells are the same whatever the
  order or the number of workers.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = [
    "to_device",
    "conditional_gumbel",
    "conditional_perturbed",
    "as_generator",
    "block_seed",
    "task_seed",
    "open_uniform",
    "gumbel_from_uniform",
    "make_generator",
]


def to_device(t: torch.Tensor, device: str | torch.device) -> torch.Tensor:
    """``t`` (drawn on the CPU) on ``device``. To a GPU through pinned memory without waiting: a plain copy from
    pageable memory synchronises the stream, so a training step would wait for the previous one to finish before
    its noise could travel. The numbers are the same either way."""
    device = torch.device(device)
    if device.type != "cuda" or t.device.type != "cpu":
        return t.to(device)
    return t.pin_memory().to(device, non_blocking=True)


def _check_seed(seed: object, name: str = "seed") -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"{name}: expected a non-negative integer, got {type(seed).__name__} {seed!r}")
    if seed < 0:
        raise ValueError(f"{name}: expected a non-negative integer, got {seed}")
    return int(seed)


def make_generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A fresh ``torch.Generator`` on ``device`` seeded with ``seed``."""
    seed = _check_seed(seed)
    g = torch.Generator(device=torch.device(device))
    g.manual_seed(seed)
    return g


def as_generator(generator: torch.Generator | int | None, device: str | torch.device = "cpu") -> torch.Generator:
    """Accept a ``torch.Generator`` or an integer seed; refuse ``None`` (no hidden global state)."""
    if isinstance(generator, torch.Generator):
        want = torch.device(device)
        if generator.device.type != want.type:
            raise ValueError(
                f"generator: expected a torch.Generator on device {want.type!r} (where the logits are), "
                f"got one on {generator.device.type!r}"
            )
        return generator
    if generator is None:
        raise TypeError(
            "generator: expected a torch.Generator or an integer seed; got None. gradlab never draws from "
            "the global RNG: pass generator=torch.Generator().manual_seed(0) (or a seed)."
        )
    return make_generator(_check_seed(generator, "generator"), device)


def _derive(seed: int, *keys: int) -> int:
    ss = np.random.SeedSequence([_check_seed(seed), *[int(k) for k in keys]])
    # 63 bits: torch seeds are int64-compatible on every device
    return int(ss.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def block_seed(seed: int, block: int) -> int:
    """Seed of Monte Carlo block ``block`` of a run with master seed ``seed``."""
    return _derive(seed, 0x5A3, block)


def task_seed(seed: int, task: int) -> int:
    """Seed of sweep cell ``task`` of a sweep with master seed ``seed``."""
    return _derive(seed, 0x7A5, task)


def open_uniform(u: torch.Tensor) -> torch.Tensor:
    """Map ``torch.rand`` draws (multiples of ``eps/2`` in ``[0, 1)``) to the middles of their grid
    cells, strictly inside ``(0, 1)``: ``u + eps/4``, clamped below 1.

    A draw of exactly 0 (probability ``2^-24`` in float32) would otherwise select a category of
    probability ``1e-44`` by inversion, or give ``log 0``; the shift removes both (no uniform draw of
    exactly 0 or 1 may produce ``log 0``).
    """
    eps = torch.finfo(u.dtype).eps
    return (u + eps / 4).clamp(max=1.0 - eps / 2)


def gumbel_from_uniform(u: torch.Tensor) -> torch.Tensor:
    """Standard Gumbel draws ``-log(-log u)`` from uniforms (via :func:`open_uniform`), always finite."""
    return -torch.log(-torch.log(open_uniform(u)))


def conditional_perturbed(
    phi: torch.Tensor, index: torch.Tensor, top: torch.Tensor, rest: torch.Tensor
) -> torch.Tensor:
    """Perturbed values ``phi + G`` given ``argmax(phi + G) = index``, from standard Gumbels ``top`` (the shape of
    ``phi`` without its last axis) and ``rest`` (the shape of ``phi``), by the top-down construction (Maddison et
    al. 2014; Tucker et al. 2017, App. C): the maximum ``T = logsumexp(phi) + top`` goes to ``index`` and every
    other ``k`` gets ``-logaddexp(-T, -(phi_k + rest_k))``. Differentiable in ``phi`` (REBAR's reparameterised
    ``z~ | b``); ``-inf`` entries of ``phi`` stay ``-inf`` with zero gradient."""
    finite = torch.isfinite(phi)
    safe = torch.where(finite, phi, torch.zeros_like(phi))  # no inf - inf in the backward of a masked entry
    t = torch.logsumexp(phi, dim=-1, keepdim=True) + top.unsqueeze(-1)
    others = -torch.logaddexp(-t.expand(phi.shape), -(safe + rest))
    chosen = index.unsqueeze(-1) == torch.arange(phi.shape[-1], device=phi.device)
    perturbed = torch.where(chosen, t.expand(phi.shape), others)
    return torch.where(finite, perturbed, phi)


def conditional_gumbel(phi: torch.Tensor, index: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Standard Gumbels ``G`` on the last axis of ``phi`` drawn given ``argmax(phi + G) = index`` (``index``: the
    shape of ``phi`` without its last axis, int64): :func:`conditional_perturbed` with fresh Gumbels from
    ``generator``, minus ``phi``. No gradient; ``-inf`` entries of ``phi`` keep ``phi + G = -inf`` (``G = 0``)."""
    phi = phi.detach()
    shape = phi.shape
    draw = lambda s: gumbel_from_uniform(torch.rand(s, generator=generator, dtype=phi.dtype, device=phi.device))  # noqa: E731
    top = draw(shape[:-1])
    perturbed = conditional_perturbed(phi, index, top, draw(shape))
    return torch.where(torch.isfinite(phi), perturbed - phi, torch.zeros_like(phi))
