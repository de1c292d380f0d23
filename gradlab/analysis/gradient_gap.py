"""Gradient gap (Huh et al. 2023; Shah et al. App. D): ``E ||grad_relaxed - grad_discrete||^2``.

``grad_relaxed`` is the gradient with the loss evaluated at the relaxed sample through which the
estimator's backward goes (``softmax_t(theta + G)`` for GS-ST; ``softmax(eta/tau_b + G)`` etc. for
decoupled ST); ``grad_discrete`` is the estimator's own gradient at the hard sample, with the same noise.
"""

from __future__ import annotations

import torch

from gradlab.core import checks as _checks
from gradlab.estimators.pathwise import PathwiseEstimator
from gradlab.estimators.relaxation import Relaxation
from gradlab.measure.stats import GradientStats, StatsAccumulator
from gradlab.problems.base import Problem

__all__ = ["gradient_gap"]


def gradient_gap(
    problem: Problem,
    estimator: PathwiseEstimator,
    n: int,
    seed: int = 0,
    *,
    wrt: str = "all",
    chunk_size: int | None = None,
    memory_budget: int | None = None,
) -> GradientStats:
    """Statistics (``d = 1``) of the per-sample gradient gap ``||grad_relaxed - grad_discrete||^2``."""
    from gradlab.measure.sampler import (
        UniformStream,
        chunk_size_for,
        default_memory_budget,
        estimator_meta,
        noise_chunks,
        per_sample_gradients,
    )

    n = _checks.integer("gradient_gap", "n", n, 1)
    relaxed = Relaxation(estimator)
    logits = problem.probe_logits()
    relaxed.plugin_sample(logits, estimator.draw_uniforms(logits, 0))  # fails early when there is no relaxed sample
    dev = torch.device(problem.device)
    n_uniforms = problem.uniforms_per_sample(estimator)
    stream = UniformStream(estimator, None, seed, problem.dtype, dev, n_uniforms=n_uniforms)
    budget = (memory_budget or default_memory_budget(dev)) // 2
    chunk = chunk_size or chunk_size_for(problem, estimator, wrt, budget, stream.block, n)
    acc = StatsAccumulator(1)
    layout = problem.layout(wrt)
    ws_a, ws_b = {}, {}
    for _, u, _ in noise_chunks(stream, n, chunk):
        ga = per_sample_gradients(problem, relaxed, u, wrt, ws_a)
        gb = per_sample_gradients(problem, estimator, u, wrt, ws_b)
        gap = sum(((ga[k] - gb[k]).reshape(u.shape[0], -1) ** 2).sum(-1) for k in layout.names)
        acc.add(gap.to(torch.float64).unsqueeze(1))
    return acc.result(None, {**estimator_meta(estimator, problem, seed, n, wrt), "quantity": "gradient_gap"})
