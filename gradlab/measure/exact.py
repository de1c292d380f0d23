"""Exact expectations and gradients by enumerating every latent configuration.

``exact_expectation(problem)`` is differentiable; ``exact_gradient(problem, wrt)`` returns the float64 flat
gradient (``problem.layout(wrt)`` maps entries back to named parameters) with peak memory bounded by the
chunk size: each chunk of configurations is differentiated on its own into the latent logits (held as a
leaf) and the parameters the loss uses directly; one final backward pass carries the accumulated logits
gradient through the encoder.

With ``estimator=est`` the target is the estimator's own: the objective under ``est.forward_logits``
(``softmax(logits / tau_f)`` for ``decoupled_st``; the plain objective for every other estimator).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from gradlab.core import checks as _checks
from gradlab.estimators import Estimator
from gradlab.problems.base import Problem

__all__ = ["exact_expectation", "exact_gradient", "check_enumerable", "DEFAULT_MAX_CONFIGURATIONS", "chunk_size_for"]

DEFAULT_MAX_CONFIGURATIONS = 1 << 22  # 4,194,304
# 256 MiB for one chunk of configurations: the bytes a chunk creates (forward and backward); larger chunks were slower
# on the CPUs measured (the hierarchical VAE of BENCHMARKS.md: 8,192 configurations of 20 images 0.11 s, 17,408 0.24 s)
DEFAULT_MEMORY_BUDGET = 1 << 28


def check_enumerable(problem: Problem, max_configurations: int = DEFAULT_MAX_CONFIGURATIONS) -> int:
    """Number of configurations, or a clear error when it exceeds ``max_configurations``."""
    _checks.integer("exact", "max_configurations", max_configurations, 1)
    n = problem.num_configurations()
    if n > max_configurations:
        raise ValueError(
            f"exact enumeration of {problem.name}: {problem.support_text()}, above max_configurations="
            f"{max_configurations:,}. Raise max_configurations, or measure bias against a reference unbiased "
            "estimator (e.g. reinforce) with sample_gradients."
        )
    return n


def chunk_size_for(problem: Problem, memory_budget: int = DEFAULT_MEMORY_BUDGET) -> int:
    """Configurations per chunk so that one chunk needs about ``memory_budget`` bytes."""
    per_config = problem.bytes_per_configuration()
    chunk = max(1, min(problem.num_configurations(), memory_budget // max(per_config, 1)))
    align = problem.chunk_alignment()  # whole multiples where they fit (a nested enumeration shares work)
    return chunk - chunk % align if chunk >= align else chunk


def exact_expectation(
    problem: Problem,
    params: Mapping[str, torch.Tensor] | None = None,
    *,
    estimator: Estimator | None = None,
    chunk_size: int | None = None,
    max_configurations: int = DEFAULT_MAX_CONFIGURATIONS,
) -> torch.Tensor:
    """``E[L]`` by enumeration (a 0-dim tensor, differentiable in ``params``; default: stored values).

    The autograd graph of every chunk is kept; for gradients of large problems use :func:`exact_gradient`.
    """
    n = check_enumerable(problem, max_configurations)
    chunk = chunk_size or chunk_size_for(problem)
    full = problem.full_params(params or {})
    total = None
    for start in range(0, n, chunk):
        term = problem.exact_chunk(full, estimator, start, min(n, start + chunk))
        total = term if total is None else total + term
    return total


def exact_gradient(
    problem: Problem,
    wrt: str = "all",
    *,
    estimator: Estimator | None = None,
    chunk_size: int | None = None,
    max_configurations: int = DEFAULT_MAX_CONFIGURATIONS,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> torch.Tensor:
    """``d E[L] / d theta`` for the parameters selected by ``wrt``, as a float64 flat tensor.

    Map entries back with ``problem.layout(wrt).unflatten(g)``.
    """
    n = check_enumerable(problem, max_configurations)
    chunk = chunk_size or chunk_size_for(problem, memory_budget)
    _checks.integer("exact_gradient", "chunk_size", chunk, 1)
    layout = problem.layout(wrt)
    leaves = {k: v.detach().clone().requires_grad_() for k, v in problem.params(wrt).items()}
    bounds = [(start, min(n, start + chunk)) for start in range(0, n, chunk)]
    return layout.flatten(problem.exact_gradient_chunks(leaves, estimator, bounds))
