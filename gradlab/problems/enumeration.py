"""Exact expectations of a :class:`~gradlab.problems.stochastic_model.StochasticModel` by enumeration, in chunks.

* Joint: every configuration of every draw of every element (a configuration's probability is the product of the
  conditionals), ``prod_d K_d ** (variables of draw d)`` configurations; one ``forward`` per configuration under
  ``vmap``.
* Per element, for a model that declares ``elements_independent`` (loss element ``e`` depends only on element ``e``
  of every draw, as the images of a minibatch): ``E[sum_e L_e] = sum_e sum_c p_e(c) L_e(c)`` over each element's
  own configurations ``c`` (``prod_d K_d ** (variables of one element in draw d)``). Every element is at its
  configuration ``c`` in the same ``forward``, so the cost is linear in the number of elements (as Pyro's parallel
  enumeration inside a ``plate``) and the peak memory is set by the chunk, not by the elements.

A declaration of independence is checked where it can be (:func:`check_elements_independent`, when the model is
built): changing only one element's draws must leave every other element's loss unchanged.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from gradlab.core.softmax import log_softmax
from gradlab.estimators.base import Estimator, scatter_one_hot

if TYPE_CHECKING:
    from gradlab.problems.stochastic_model import StochasticModel

__all__ = [
    "configurations",
    "support_text",
    "exact_chunk",
    "chunk_alignment",
    "chunk_bytes",
    "check_elements_independent",
]


def _per_element(model: StochasticModel) -> bool:
    return bool(model.elements_independent)


def _element_vars(model: StochasticModel, d) -> tuple[int, ...]:
    """The variables' shape of one element in draw ``d`` (``S_d`` of ``(*E, *S_d, K)``)."""
    return tuple(d.shape[len(model.loss_shape) : -1])


def configurations(model: StochasticModel) -> int:
    """The configurations the exact engine enumerates: per element for an ``elements_independent`` model, else of
    the whole joint support."""
    return math.prod(_counts(model))


def support_text(model: StochasticModel) -> str:
    """What :func:`configurations` counts, in words (for errors and reports)."""
    n = configurations(model)
    if _per_element(model):
        elements = math.prod(model.loss_shape)
        return f"{n:,} configurations per element, for each of its {elements:,} independent elements"
    shared = "" if not model.loss_shape else " (its draws are shared between elements: elements_independent=False)"
    return f"{n:,} configurations of the joint support{shared}"


def _counts(model: StochasticModel) -> list[int]:
    """Configurations of each draw (per element where ``elements_independent``)."""
    per = _per_element(model)
    return [d.num_classes ** math.prod(_element_vars(model, d) if per else d.shape[:-1]) for d in model.draws]


def chunk_alignment(model: StochasticModel) -> int:
    """The configurations of every draw after the first (``prod_{i >= 1} C_i``): a chunk of whole multiples of it
    covers whole configurations of draw 0 with everything that follows, which the nested enumeration evaluates
    sharing what the later draws do not change."""
    return math.prod(_counts(model)[1:])


def _indices(model: StochasticModel, i: int, local: torch.Tensor) -> torch.Tensor:
    """Configurations ``local`` (``(n,)``) of draw ``i`` as index tensors ``(n, *shape[:-1], 1)`` (per element: the
    same local configuration for every element). The first variable is the lowest digit."""
    d, per = model.draws[i], _per_element(model)
    shape = _element_vars(model, d) if per else tuple(d.shape[:-1])
    count = math.prod(shape)
    powers = d.num_classes ** torch.arange(count, device=model.device, dtype=torch.int64)
    idx = ((local.unsqueeze(-1) // powers) % d.num_classes).reshape(-1, *shape, 1)
    if per:  # every element at the same local configuration
        e = len(model.loss_shape)
        idx = idx.reshape(-1, *([1] * e), *shape, 1).expand(-1, *d.shape[:-1], 1)
    return idx


def exact_chunk(model: StochasticModel, params, estimator: Estimator | None, start: int, stop: int) -> torch.Tensor:
    """``sum_c p(c) L(c)`` over configurations ``start..stop-1`` (per element: summed over the elements too);
    differentiable in ``params``. The flat index has draw 0 as its highest digit. A chunk of whole configurations of
    draw 0 is evaluated nested, one ``vmap`` per draw: what a draw's configurations do not change is computed once
    per configuration of the draws before it (the tree of the draws, as Pyro's enumeration broadcasts), not once per
    configuration of the whole support; any other chunk flat, one ``forward`` per configuration."""
    per = _per_element(model)
    e = len(model.loss_shape)
    counts = _counts(model)
    inner = math.prod(counts[1:])
    dev = model.device

    def one(*idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        log_p = []

        def sample(i: int, logits: torch.Tensor) -> torch.Tensor:
            target = logits if estimator is None else estimator.forward_logits(logits)
            picked = log_softmax(target, dim=-1).gather(-1, idx[i])  # (*E, *S, 1) or (*S, 1)
            log_p.append(picked.flatten(e).sum(-1) if per else picked.sum())
            return scatter_one_hot(idx[i], logits.detach())

        values = model.run_forward(params, sample, estimator)
        log_p = sum(log_p[1:], log_p[0])
        return (log_p, values) if per else (log_p, values.sum())

    if start % inner == 0 and (stop % inner == 0 or stop == math.prod(counts)):
        fn = one
        for level in reversed(range(len(counts))):
            dims = [None] * len(counts)
            dims[level] = 0
            fn = torch.func.vmap(fn, in_dims=tuple(dims))
        first = torch.arange(start // inner, -(-stop // inner), device=dev, dtype=torch.int64)
        idx = [_indices(model, 0, first)]
        idx += [
            _indices(model, i, torch.arange(counts[i], device=dev, dtype=torch.int64)) for i in range(1, len(counts))
        ]
        log_p, values = model.vmapped(fn, *idx)
    else:
        c = torch.arange(start, stop, device=dev, dtype=torch.int64)
        digits, rest = [], c
        for i in reversed(range(len(counts))):  # draw 0 is the highest digit
            digits.append(_indices(model, i, rest % counts[i]))
            rest = rest // counts[i]
        log_p, values = model.vmapped(torch.func.vmap(one), *reversed(digits))
    return (torch.exp(log_p) * values).sum()


_VIEWS = frozenset(
    getattr(torch.ops.aten, name)
    for name in (
        "view",
        "_unsafe_view",
        "expand",
        "detach",
        "alias",
        "unsqueeze",
        "squeeze",
        "permute",
        "t",
        "transpose",
        "select",
        "slice",
        "as_strided",
        "unbind",
        "split",
        "split_with_sizes",
        "unflatten",
    )
    if hasattr(torch.ops.aten, name)
)


def _count_bytes(run) -> int:
    """The bytes of every tensor that ``run()`` creates, counted op by op (a ``TorchDispatchMode``, which sees the
    physical tensors under ``vmap``); views allocate nothing and are not counted."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Count(TorchDispatchMode):
        total = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if func.overloadpacket not in _VIEWS:
                for t in out if isinstance(out, (tuple, list)) else (out,):
                    if isinstance(t, torch.Tensor):
                        Count.total += t.numel() * t.element_size()
            return out

    with Count():
        run()
    return int(Count.total)


def forward_bytes(model: StochasticModel) -> int:
    """The bytes of every tensor one ``forward`` creates at one configuration (every draw at category 0), without
    the backward pass. Measured once per model (cached)."""
    cached = getattr(model, "_forward_bytes", None)
    if cached is None:
        zeros = [torch.zeros((*d.shape[:-1], 1), dtype=torch.int64, device=model.device) for d in model.draws]
        with torch.no_grad():
            cached = _count_bytes(
                lambda: model.run_forward(model.param_values(), lambda i, logits: scatter_one_hot(zeros[i], logits))
            )
        model._forward_bytes = cached
    return cached


# above this many configurations per aligned chunk, the memory of a configuration is measured on a small flat chunk
_MEASURED_CHUNK = 1 << 14


def chunk_bytes(model: StochasticModel) -> int:
    """Bytes per configuration of the exact engine, measured: every tensor that the forward and the backward pass of
    one chunk create (the first ``chunk_alignment`` configurations, evaluated nested as every aligned chunk is; a
    flat chunk of 64 where that is more than 16,384 configurations), divided by its configurations. Every tensor
    counted as if all were alive at once, so a chunk of ``budget / chunk_bytes`` configurations stays within
    ``budget``; nested, what a later draw does not change is counted once per configuration of the draws before it.
    Measured once per model (cached)."""
    cached = getattr(model, "_chunk_bytes", None)
    if cached is None:
        align = chunk_alignment(model)
        stop = align if align <= _MEASURED_CHUNK else min(64, configurations(model))
        leaves = {k: v.detach().clone().requires_grad_() for k, v in model.param_values().items()}

        def run() -> None:
            with torch.enable_grad():
                term = exact_chunk(model, leaves, None, 0, stop)
                torch.autograd.grad(term, list(leaves.values()), allow_unused=True)

        cached = -(-_count_bytes(run) // stop)
        model._chunk_bytes = cached
    return cached


def check_elements_independent(model: StochasticModel, probes: int = 2) -> None:
    """A one-line error when ``model`` declares ``elements_independent`` but a loss element changes when only another
    element's draws change: at ``probes`` fixed random configurations, the draws of the first and of the last element
    are moved to other categories in turn, and every other element's loss must stay the same (to 1e-9 relative)."""
    elements = math.prod(model.loss_shape)
    if elements < 2:
        return  # (flat element numbers below, in the loss's row-major order)
    g = torch.Generator(device="cpu").manual_seed(0)
    for _ in range(probes):
        base = [torch.randint(d.num_classes, (*d.shape[:-1], 1), generator=g).to(model.device) for d in model.draws]
        reference = _losses(model, base)
        for element in (0, elements - 1):
            where = torch.unravel_index(torch.tensor(element), model.loss_shape)
            moved = []
            for idx, d in zip(base, model.draws, strict=True):
                idx = idx.clone()
                idx[where] = (idx[where] + 1) % d.num_classes
                moved.append(idx)
            changed = _losses(model, moved)
            others = torch.ones(model.loss_shape, dtype=torch.bool, device=model.device)
            others[where] = False
            close = torch.isclose(changed, reference, rtol=1e-9, atol=1e-12) | ~others
            if not bool(close.all()):
                bad = int(torch.nonzero(~close.flatten())[0])
                raise ValueError(
                    f"{model.name}: elements_independent=True, but the loss of element {bad} changed when only the "
                    f"draws of element {element} changed; a model whose elements share draws or mix them must pass "
                    "elements_independent=False"
                )


def _losses(model: StochasticModel, indices: list[torch.Tensor]) -> torch.Tensor:
    """Per-element losses with every draw fixed at ``indices``."""
    with torch.no_grad():
        return model.run_forward(model.param_values(), lambda i, logits: scatter_one_hot(indices[i], logits))
