"""Monte Carlo sampler: ``n`` independent gradient samples of an estimator on a problem, vectorised.

A chunk of ``R`` samples is one batched computation: the problem's parameters get a leading replica axis
(``R`` independent copies), the estimator gets ``R`` rows of noise, and one backward pass gives the ``R``
per-sample gradients (:meth:`Problem.per_sample_gradients <gradlab.problems.base.Problem.per_sample_gradients>`,
which every problem implements; the categorical VAE and every
:class:`~gradlab.problems.stochastic_model.StochasticModel` override it with their own code under
``torch.func.vmap``: what does not depend on the sample, such as the VAE's encoder, runs once per chunk).

Reproducibility. The noise of sample ``i`` depends only on ``(seed, i)``: samples are grouped in fixed
blocks (their size depends on the problem and the estimator, not on the chunk), and block ``b`` is drawn
from its own generator seeded with ``block_seed(seed, b)``. The same seed gives the same samples whatever
the chunk size; statistics then agree up to floating-point rounding.
"""

from __future__ import annotations

import time

import torch

from gradlab.core import checks as _checks
from gradlab.core.noise import _derive, block_seed
from gradlab.core.version import versions
from gradlab.estimators import Estimator
from gradlab.estimators.stateful import needs_fit
from gradlab.measure.stats import GradientStats, StatsAccumulator
from gradlab.problems.base import Problem

__all__ = ["sample_gradients", "per_sample_gradients", "UniformStream", "block_size_for", "chunk_size_for"]

DEFAULT_MEMORY_BUDGET = None  # per device: see default_memory_budget


def default_memory_budget(device: torch.device) -> int:
    """Bytes for one chunk: 256 MiB on the CPU (chunks small enough for the allocator to recycle their
    buffers: larger ones lose more to page faults than they gain), 4 GiB on an accelerator."""
    return (1 << 28) if torch.device(device).type == "cpu" else (1 << 32)


_BLOCK_ELEMENTS = 1 << 18  # uniforms per noise block (at least one sample)


def block_size_for(estimator: Estimator, event_shape: tuple[int, ...]) -> int:
    """Samples per noise block: a power of two with about 2^18 uniforms, between 1 and 4096."""
    return _block_size(estimator.num_uniforms(tuple(event_shape)))


def _block_size(n_uniforms: int) -> int:
    per = max(1, n_uniforms)
    size = max(1, _BLOCK_ELEMENTS // per)
    return int(min(4096, 1 << (size.bit_length() - 1)))


class UniformStream:
    """Uniform noise (and Poisson bootstrap weights) of samples ``start..stop-1`` for a seed."""

    def __init__(self, estimator, event_shape, seed, dtype, device, bootstrap: int = 0, n_uniforms=None):
        self.n_uniforms = estimator.num_uniforms(tuple(event_shape)) if n_uniforms is None else int(n_uniforms)
        self.block = _block_size(self.n_uniforms)
        self.seed, self.dtype, self.device, self.bootstrap = seed, dtype, torch.device(device), bootstrap
        self._cache: dict[int, tuple[torch.Tensor, torch.Tensor | None]] = {}
        self._gen = torch.Generator(device=self.device)

    def _block(self, b: int):
        if b not in self._cache:
            self._gen.manual_seed(block_seed(self.seed, b))
            u = torch.rand((self.block, self.n_uniforms), generator=self._gen, dtype=self.dtype, device=self.device)
            w = None
            if self.bootstrap:
                self._gen.manual_seed(_derive(self.seed, 0xB0075, b))
                ones = torch.ones((self.bootstrap, self.block), dtype=self.dtype, device=self.device)
                w = torch.poisson(ones, generator=self._gen)
            self._cache = {b: (u, w)}  # keep one block: chunks walk forward
        return self._cache[b]

    def take(self, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        parts_u, parts_w = [], []
        i = start
        while i < stop:
            b, off = divmod(i, self.block)
            j = min(stop, (b + 1) * self.block)
            u, w = self._block(b)
            parts_u.append(u[off : off + j - i])
            if w is not None:
                parts_w.append(w[:, off : off + j - i])
            i = j
        u = parts_u[0] if len(parts_u) == 1 else torch.cat(parts_u)
        w = None if not parts_w else (parts_w[0] if len(parts_w) == 1 else torch.cat(parts_w, dim=1))
        return u, w


def per_sample_gradients(
    problem: Problem, estimator: Estimator, uniforms: torch.Tensor, wrt: str = "all", workspace: dict | None = None
) -> dict[str, torch.Tensor]:
    """Gradients of the estimator's surrogate for ``R = uniforms.shape[0]`` independent samples:
    ``{name: (R, *shape)}`` for the parameters selected by ``wrt`` (the problem's
    :meth:`~gradlab.problems.base.Problem.per_sample_gradients`)."""
    return problem.per_sample_gradients(estimator, uniforms, wrt, workspace)


def fitted(problem: Problem, estimator: Estimator) -> Estimator:
    """``estimator`` fitted once before any sample (an estimator with state to train first, RELAX), so every chunk
    uses the same fitted estimator (the problem's :meth:`~gradlab.problems.base.Problem.fitted`)."""
    return problem.fitted(estimator)


def chunk_size_for(problem, estimator, wrt, memory_budget, block, n) -> int:
    """Samples per chunk: what fits ``memory_budget`` (``problem.bytes_per_sample``), whole noise blocks."""
    per = max(1, int(problem.bytes_per_sample(estimator, wrt)))
    r = max(1, memory_budget // per)
    if r >= block:
        r = (r // block) * block
    return int(min(r, max(n, 1)))


def noise_chunks(stream: UniformStream, n: int, chunk_size: int, checkpoints=()):
    """The one chunk loop of every per-sample statistic (the sampler, the gradient gap): ``(stop, uniforms,
    bootstrap weights)`` of samples ``start..stop-1`` in chunks of ``chunk_size``, also stopping at
    ``checkpoints``; the noise of a sample does not depend on the chunks (``UniformStream``)."""
    start = 0
    for stop in sorted({*range(chunk_size, n, chunk_size), *checkpoints, n}):
        u, w = stream.take(start, stop)
        yield stop, u, w
        start = stop


def estimator_meta(estimator: Estimator, problem: Problem, seed: int, n: int, wrt: str) -> dict:
    """What every per-sample statistic records about its estimator, problem and noise."""
    return {
        "estimator": estimator.label,
        "estimator_name": estimator.name,
        "hparams": estimator.hparams(),
        "seed": seed,
        "n": n,
        "wrt": wrt,
        "problem": problem.config_json(),
    }


def sample_gradients(
    problem: Problem,
    estimator: Estimator,
    n: int | str,
    seed: int = 0,
    *,
    wrt: str = "all",
    device: str | torch.device | None = None,
    chunk_size: int | None = None,
    memory_budget: int | None = None,
    keep_samples: int = 0,
    bootstrap: int = 0,
    progress: bool = False,
    rtol: float | None = None,
    precision_of: str = "variance",
    reference: torch.Tensor | GradientStats | None = None,
    min_n: int = 1000,
    max_n: int = 1_000_000,
    confidence: float = 0.95,
) -> GradientStats:
    """Statistics of ``n`` independent samples of ``estimator``'s gradient of ``problem`` (w.r.t. ``wrt``).

    Returns a :class:`~gradlab.measure.stats.GradientStats` (count, float64 mean and per-dimension variance,
    ``problem.layout(wrt)``). ``keep_samples`` keeps the first raw samples; ``bootstrap`` accumulates that
    many Poisson bootstrap replicates for confidence intervals. ``device`` defaults to the problem's;
    ``chunk_size`` (samples per batched computation) defaults to what fits ``memory_budget`` bytes.

    Precision on request: ``n="auto"`` draws until the ``confidence`` interval of ``precision_of``
    (``"variance"``, or ``"bias2"`` against ``reference``) has a relative half-width ``(hi - lo) / 2 / |value|``
    of at most ``rtol``, checking at ``min_n, 2 min_n, 4 min_n, ...`` and stopping at ``max_n`` otherwise (a
    squared bias consistent with zero never reaches a relative width: it stops at the cap). The checkpoints do
    not depend on the chunk size, so the same seed gives the same ``n``. ``bootstrap`` defaults to 100 here.
    ``meta`` records ``n_reached``, ``rel_halfwidth`` and ``stopped`` (``"rtol"`` or ``"max_n"``).
    """
    auto = isinstance(n, str)
    if auto:
        if n != "auto":
            raise ValueError(f"sample_gradients: n must be a positive integer or 'auto', got {n!r}")
        checkpoints, rtol, bootstrap = _auto_plan(rtol, precision_of, reference, min_n, max_n, bootstrap)
        n = checkpoints[-1]
    elif rtol is not None:
        raise ValueError(f"sample_gradients: rtol applies to n='auto' only, got n={n!r} with rtol={rtol!r}")
    n = _checks.integer("sample_gradients", "n", n, 1)
    seed = _checks.integer("sample_gradients", "seed", seed, 0)
    keep_samples = _checks.integer("sample_gradients", "keep_samples", keep_samples, 0)
    bootstrap = _checks.integer("sample_gradients", "bootstrap", bootstrap, 0)
    if not isinstance(estimator, Estimator):
        raise TypeError(f"sample_gradients: estimator must be a gradlab Estimator, got {type(estimator).__name__}")
    if device is not None and torch.device(device) != torch.device(problem.device):
        problem = problem.to(device)
    n_uniforms = problem.uniforms_per_sample(estimator)  # first: a problem says here what it cannot take
    if needs_fit(estimator):
        estimator = fitted(problem, estimator)
    dev = torch.device(problem.device)
    layout = problem.layout(wrt)
    stream = UniformStream(estimator, None, seed, problem.dtype, dev, bootstrap, n_uniforms=n_uniforms)
    itemsize = torch.finfo(problem.dtype).bits // 8
    memory_budget = memory_budget or default_memory_budget(dev)
    if chunk_size is None:
        chunk_size = chunk_size_for(problem, estimator, wrt, memory_budget, stream.block, n)
    chunk_size = _checks.integer("sample_gradients", "chunk_size", chunk_size, 1)
    if keep_samples and keep_samples * layout.size * itemsize > 4 * memory_budget:
        raise ValueError(
            f"sample_gradients: keep_samples={keep_samples} of {layout.size:,} entries need "
            f"{keep_samples * layout.size * itemsize / 2**30:.1f} GiB, above 4x memory_budget; keep fewer"
        )
    # float64 statistics stay on a CUDA device (no copy of each chunk's statistics to the host; MPS has no
    # float64, so other accelerators accumulate on the CPU); result() moves them to the CPU once at the end
    acc = StatsAccumulator(layout.size, keep_samples, bootstrap, device=dev if dev.type == "cuda" else "cpu")
    workspace: dict = {}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, desc=f"sample {estimator.label}", unit="sample")
    t0 = time.perf_counter()
    start, precision = 0, None
    for stop, u, w in noise_chunks(stream, n, chunk_size, checkpoints if auto else ()):
        grads = per_sample_gradients(problem, estimator, u, wrt, workspace)
        if bootstrap and acc.center is None:
            acc.add_block_center(_first_block_mean(problem, estimator, wrt, stream))
        acc.add([grads[name].reshape(stop - start, -1) for name in layout.names], w)
        if bar is not None:
            bar.update(stop - start)
        start = stop
        if auto and stop in checkpoints:
            precision = _precision(acc.result(layout), precision_of, reference, confidence)
            if precision <= rtol:
                break
    if bar is not None:
        bar.close()
    n = start
    meta = {
        **estimator_meta(estimator, problem, seed, n, wrt),
        "target": estimator.target,
        "dtype": str(problem.dtype).replace("torch.", ""),
        "device": str(dev),
        "chunk_size": chunk_size,
        "block_size": stream.block,
        "seconds": time.perf_counter() - t0,
        **versions(),
    }
    if auto:
        meta.update(
            n_requested="auto",
            rtol=rtol,
            precision_of=precision_of,
            n_reached=n,
            rel_halfwidth=precision,
            stopped="rtol" if precision <= rtol else "max_n",
        )
    return acc.result(layout, meta)


PRECISION_OF = ("variance", "bias2")


def _auto_plan(rtol, precision_of, reference, min_n, max_n, bootstrap) -> tuple[list[int], float, int]:
    """Validate the ``n="auto"`` options; the checkpoints ``min_n * 2^k`` up to ``max_n`` (included)."""
    if rtol is None:
        raise ValueError("sample_gradients: n='auto' needs rtol (the relative half-width to reach, e.g. 0.1)")
    rtol = _checks.positive_real("sample_gradients", "rtol", rtol)
    _checks.choice("sample_gradients", "precision_of", precision_of, PRECISION_OF)
    if precision_of == "bias2" and reference is None:
        raise ValueError("sample_gradients: precision_of='bias2' needs reference= (exact gradient or samples)")
    min_n = _checks.integer("sample_gradients", "min_n", min_n, 2)
    max_n = _checks.integer("sample_gradients", "max_n", max_n, min_n)
    bootstrap = _checks.integer("sample_gradients", "bootstrap", bootstrap or 100, 20)
    checkpoints = []
    k = min_n
    while k < max_n:
        checkpoints.append(k)
        k *= 2
    return [*checkpoints, max_n], rtol, bootstrap


def _precision(stats: GradientStats, precision_of: str, reference, confidence: float) -> float:
    """Relative half-width of the interval of ``precision_of`` (``inf`` for a zero estimate)."""
    from gradlab.measure.intervals import intervals

    ref = stats.mean if reference is None else reference
    iv = intervals(stats, ref, confidence=confidence)
    value, lo, hi = (
        (iv.variance, iv.variance_lo, iv.variance_hi) if precision_of == "variance" else (iv.b2, iv.b2_lo, iv.b2_hi)
    )
    return (hi - lo) / 2.0 / abs(value) if value != 0 else float("inf")


def _first_block_mean(problem, estimator, wrt, stream: UniformStream) -> torch.Tensor:
    """Mean gradient of the first (up to) 8 samples: the bootstrap centre, independent of the chunk size."""
    u, _ = stream.take(0, min(8, stream.block))
    grads = per_sample_gradients(problem, estimator, u, wrt, {})
    flat = problem.layout(wrt).flatten(grads, sample_ndim=1)
    return flat.to(torch.float64).mean(0).cpu()
