"""A test of unbiasedness a user can run on any estimator and any problem with an exact gradient.

Per dimension ``z_j = (mean_j - g_j) / sqrt(s_j^2 / n)``; the family p-value is Bonferroni's
``min(1, d min_j p_j)`` with two-sided normal p-values, valid whatever the dependence between dimensions
(the normal approximation needs ``n`` large: the default is 10^4). A dimension with zero sample variance
rejects when its mean differs from the exact value by more than rounding. Verdict at level ``alpha``: the
false-rejection rate of an unbiased estimator is at most ``alpha``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from scipy import stats as sps

from gradlab.estimators import Estimator
from gradlab.measure.stats import GradientStats
from gradlab.problems.base import Problem

__all__ = ["UnbiasednessResult", "unbiasedness_test", "unbiasedness_from_stats"]


@dataclasses.dataclass(frozen=True)
class UnbiasednessResult:
    statistic: float  # max_j |z_j|
    p_value: float  # Bonferroni-adjusted
    alpha: float
    verdict: str  # "biased" or "not rejected"
    n: int
    dim: int
    worst_dim: int

    @property
    def rejected(self) -> bool:
        return self.verdict == "biased"

    def __str__(self) -> str:
        return (
            f"{self.verdict} at alpha={self.alpha:g}: max |z| = {self.statistic:.3g} over {self.dim} dimensions "
            f"(dimension {self.worst_dim}), Bonferroni p = {self.p_value:.3g}, n = {self.n}"
        )


def unbiasedness_from_stats(stats: GradientStats, exact: torch.Tensor, alpha: float = 0.01) -> UnbiasednessResult:
    if not 0 < alpha < 1:
        raise ValueError(f"unbiasedness_test: alpha must be in (0, 1), got {alpha}")
    g = exact.to(torch.float64).cpu()
    if g.numel() != stats.dim:
        raise ValueError(f"unbiasedness_test: exact has {g.numel()} entries, the estimates {stats.dim}")
    diff = (stats.mean - g).numpy()
    se = np.sqrt(stats.var.numpy() / stats.n)
    dtype = stats.meta.get("dtype", "float64")
    tol = (
        64
        * float(np.finfo(np.float32 if dtype == "float32" else np.float64).eps)
        * (np.abs(g.numpy()) + np.abs(g.numpy()).max())
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, np.abs(diff) / np.where(se > 0, se, 1.0), np.where(np.abs(diff) > tol, np.inf, 0.0))
    p_dim = 2 * sps.norm.sf(z)
    worst = int(np.argmax(z))
    p = float(min(1.0, stats.dim * p_dim[worst]))
    return UnbiasednessResult(
        float(z[worst]), p, alpha, "biased" if p < alpha else "not rejected", stats.n, stats.dim, worst
    )


def unbiasedness_test(
    problem: Problem,
    estimator: Estimator,
    *,
    n: int = 10_000,
    seed: int = 0,
    alpha: float = 0.01,
    wrt: str = "all",
    **sample_kwargs,
) -> UnbiasednessResult:
    """Sample ``n`` estimates and test ``E[estimate] = exact gradient`` (of the estimator's own target)."""
    from gradlab.measure.exact import exact_gradient
    from gradlab.measure.sampler import sample_gradients

    exact = exact_gradient(problem, wrt, estimator=estimator)
    stats = sample_gradients(problem, estimator, n, seed, wrt=wrt, **sample_kwargs)
    return unbiasedness_from_stats(stats, exact, alpha)
