"""Confidence intervals for the squared bias (ZGR eq. 16), the variance and the MSE of a gradient estimator.

Notation: ``n`` tested samples ``y_i`` in ``R^d`` with mean ``mu`` and covariance ``S``; the reference is an
exact gradient ``g`` or the mean of ``n_1`` samples of an unbiased reference estimator; ``beta = g - mu``;
``b2 = |beta|^2 / d``. The point estimate ``b2_hat = |g - ybar|^2 / d - V / n (- V_1 / n_1)`` is unbiased.

**Why percentile intervals of bootstrap replicates are wrong here.** A replicate recomputes eq. 16 on a
resampled mean ``ybar* = ybar + e*``; ``|g - ybar*|^2 = |a|^2 - 2 a.e* + |e*|^2`` (``a = g - ybar``) carries the
resampling noise ``|e*|^2`` (mean ``V / n``) on top of the sampling noise the point estimate already removed,
so the replicates sit about ``V / n`` above ``b2_hat`` and their percentiles can exclude the point estimate
(an unbiased estimator then looks biased). ``analyses/interval_methods.py`` measures it on Gaussian samples
with a known truth (``n = 1000``, ``B = 100``, 1,000 repetitions): at ``b2 = 0`` the percentile interval
covers 0.1 % of the time in 50 dimensions (and 99 % in one); the basic (pivotal) bootstrap, which removes the
shift, covers 9 % to 63 %; the interval below covers 93.8 % to 95.7 % there, and 93.8 % to 98.4 % in every
setting of that script.

**What is used instead (a score-type interval).** ``b2_hat`` is a U-statistic of order 2; its variance is

    Var(b2_hat) = 4 beta' C beta / d^2 + Var(|ebar|^2) / d^2,     C = Cov(ybar) (+ Cov(xbar) for samples),

a linear part that grows with the bias and a quadratic part that remains at ``b2 = 0``. The replicates give
both without their resampling artefact: ``Var*(|e*|^2)`` estimates the quadratic part, and
``Var*(a.e*) / |a|^2`` estimates the Rayleigh quotient ``rho`` of ``C`` along the bias direction, so that
``beta' C beta = rho d b2``. The interval is the set of ``b2 >= 0`` with

    (b2_hat - b2)^2 <= z^2 (4 rho b2 / d + Var*(|e*|^2) / d^2),

a quadratic inequality in ``b2`` (as Wilson's interval for a proportion uses the variance at the hypothesised
value). Its lower end is extended to ``b2_hat`` when the estimate is negative, so the point estimate always
lies inside. Assumptions: ``ybar`` close to normal (the CLT, ``n`` in the hundreds), ``rho`` the same along
``a`` as along ``beta`` (exact in one dimension; conservative when the noise is concentrated in a few
directions and the bias is comparable to the noise), enough replicates for the two variances (``B >= 50``).
The coverage of the nominal 95 % interval is measured in ``tests/analysis/test_coverage.py``.

**Variance and MSE.** ``V`` (the average per-dimension variance) and ``MSE = b2 + V`` are positive; their
sampling distributions are right-skewed for heavy-tailed estimators (REINFORCE). The interval is normal on
the log scale with the delta-method standard error from the replicates: ``V exp(+-z sd*(V*) / V)``; the MSE
takes the spread of ``2 a.e* / d + V*`` across replicates (less the resampling term ``Var*(|e*|^2) / d^2``):
the two linear parts are strongly correlated in few dimensions, so they are not estimated apart.

**Limits.** No interval from ``n`` samples accounts for values the samples have not shown: an estimator
whose gradient takes a large value with probability below about ``1 / n`` gets intervals that undercover
(measured: ST on a quantization unit whose rarest level has probability about 0.15 %, MSE coverage 0.77 at
``n = 1000``). Check ``n`` against the rarest outcome that matters. The delta method behind the variance
interval fails where the sample variance is stationary in the outcome probabilities: an estimator taking two
values with probability 1/2 each (REINFORCE on a quantization unit at ``eta = 0.5``, triangular noise) has a
variance estimate whose spread is of order ``1 / n`` instead of ``1 / sqrt(n)``; its interval then over-covers
(measured: 1.00 of 400 repetitions), i.e. it is conservative.

**Sources of replicates.** Streaming Poisson replicates (``sample_gradients(..., bootstrap=B)``) or
multinomial replicates of kept raw samples (``keep_samples=k``); when ``k < n`` their deviations are rescaled
by ``sqrt(k / n)`` (the samples are i.i.d., so ``k`` kept samples describe the ``n``-sample mean at that scale).
"""

from __future__ import annotations

import dataclasses
import math
from statistics import NormalDist

import torch

from gradlab.measure.stats import GradientStats

__all__ = ["Replicates", "replicates", "Intervals", "intervals", "z_value"]

F64 = torch.float64
MIN_REPLICATES = 10  # below this the two variances are too noisy to use; 100 is what the coverage study used


def z_value(confidence: float) -> float:
    """Two-sided normal quantile, e.g. 1.96 for 0.95."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


@dataclasses.dataclass(frozen=True)
class Replicates:
    """Bootstrap replicates of one set of samples, as deviations scaled to the full ``n``.

    ``dev``: ``(B, d)`` replicate mean minus the sample mean; ``var``: ``(B,)`` replicate average variance
    minus its average over replicates. Both float64, already multiplied by ``sqrt(k / n)`` for kept samples.
    """

    dev: torch.Tensor
    var: torch.Tensor
    source: str  # "streaming" or "kept samples"

    @property
    def count(self) -> int:
        return int(self.dev.shape[0])


def replicates(stats: GradientStats, *, count: int = 200, seed: int = 0) -> Replicates | None:
    """The replicates ``stats`` carries (streaming) or can make (multinomial, from kept samples); ``None``
    when it has neither. ``count`` and ``seed`` apply to kept samples only."""
    if stats.n_bootstrap:
        means, avg_vars, _ = stats.bootstrap_means_and_avg_vars()
        dev = means.to(F64) - stats.mean.to(F64)
        v = avg_vars.to(F64)
        return Replicates(dev, v - v.mean(), "streaming")
    if stats.samples is None or stats.samples.shape[0] < 2:
        return None
    x = stats.samples.to(F64)
    k, d = x.shape
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, k, (count, k), generator=g)
    w = torch.zeros(count, k, dtype=F64).scatter_add_(1, idx, torch.ones(count, k, dtype=F64))
    xbar = x.mean(0)
    c = x - xbar
    dev = (w @ c) / k
    ss = w @ (c * c).sum(-1) - k * (dev * dev).sum(-1)
    v = ss / ((k - 1) * d)
    scale = math.sqrt(k / stats.n)
    return Replicates(dev * scale, (v - v.mean()) * scale, "kept samples")


@dataclasses.dataclass(frozen=True)
class Intervals:
    """Point estimates and two-sided intervals; ``b2_se`` is the standard error at ``max(b2, 0)``."""

    b2: float
    b2_lo: float
    b2_hi: float
    b2_se: float
    variance: float
    variance_lo: float
    variance_hi: float
    mse: float
    mse_lo: float
    mse_hi: float
    replicates: int
    confidence: float

    @property
    def b2_consistent_with_zero(self) -> bool:
        return self.b2_lo <= 0.0


def _var(x: torch.Tensor) -> float:
    return float(x.var(correction=1)) if x.numel() > 1 else 0.0


def _log_normal(value: float, sd: float, z: float) -> tuple[float, float]:
    if value <= 0.0 or sd == 0.0:
        return value - z * sd, value + z * sd
    r = math.exp(z * sd / value)
    return value / r, value * r


def b2_interval(b2: float, a: torch.Tensor, e: torch.Tensor, z: float) -> tuple[float, float, float]:
    """Score-type interval for ``b2`` from ``a`` (reference mean minus tested mean) and replicate deviations
    ``e`` ``(B, d)`` of that difference (or their negatives: only variances enter); returns
    ``(lo, hi, se at max(b2, 0))``."""
    proj, sq = e @ a, torch.linalg.vector_norm(e, dim=-1) ** 2  # (B,) each; no (B, d) temporary
    return _score_interval(b2, float(a @ a), a.numel(), _var(proj), _var(sq) / a.numel() ** 2, z)


def _score_interval(b2: float, aa: float, d: int, s_lin: float, quad: float, z: float) -> tuple[float, float, float]:
    """The interval of :func:`b2_interval` from ``|a|^2``, ``Var*(a.e*)`` and ``Var*|e*|^2 / d^2``."""
    lin = 4.0 * s_lin / (aa * d) if aa > 0 else 0.0  # 4 rho / d
    bq = 2.0 * b2 + z * z * lin
    cq = b2 * b2 - z * z * quad
    disc = max(bq * bq - 4.0 * cq, 0.0)
    lo, hi = (bq - math.sqrt(disc)) / 2.0, (bq + math.sqrt(disc)) / 2.0
    se = math.sqrt(lin * max(b2, 0.0) + quad)
    return min(lo, b2), max(hi, b2), se


def intervals(
    stats: GradientStats,
    reference: torch.Tensor | GradientStats,
    *,
    confidence: float = 0.95,
    b2: float | None = None,
    replicates_count: int = 200,
    seed: int = 0,
) -> Intervals | None:
    """Intervals for squared bias, variance and MSE of ``stats`` against ``reference`` (module docstring);
    ``None`` when ``stats`` has no replicates and no kept samples.

    A reference given as samples must carry replicates too (``bootstrap=`` or ``keep_samples=``): its own
    sampling noise is part of eq. 16's uncertainty.
    """
    z = z_value(confidence)
    rep = replicates(stats, count=replicates_count, seed=seed)
    if rep is None:
        return None
    if rep.count < MIN_REPLICATES:
        raise ValueError(
            f"intervals: stats has {rep.count} bootstrap replicates, at least {MIN_REPLICATES} are needed "
            "(sample_gradients(..., bootstrap=B) with B >= 50 recommended)"
        )
    if isinstance(reference, GradientStats):
        ref_rep = replicates(reference, count=replicates_count, seed=seed + 1)
        if ref_rep is None:
            raise ValueError(
                "intervals: reference is a set of samples without bootstrap replicates or kept samples; its "
                "noise is part of eq. 16's uncertainty (sample it with bootstrap=B, as the tested estimator)"
            )
        count = min(rep.count, ref_rep.count)
        ref_mean = reference.mean.to(F64)
        e, sign = ref_rep.dev[:count] - rep.dev[:count], 1.0  # deviations of (reference mean - tested mean)
        ref_term = reference.avg_var / reference.n
    else:
        count = rep.count
        ref_mean = reference.to(F64).cpu().reshape(-1)
        e, sign = rep.dev, -1.0  # the difference moves by -dev: no (B, d) copy for the sign
        ref_term = 0.0
    a = ref_mean - stats.mean.to(F64)
    v = stats.avg_var
    if b2 is None:
        b2 = float(a @ a) / stats.dim - ref_term - v / stats.n
    # the two (B,) projections of the replicates, computed once for both intervals (one pass over (B, d))
    proj, sq = e[:count] @ a, torch.linalg.vector_norm(e[:count], dim=-1) ** 2
    quad = _var(sq) / stats.dim**2
    b2_lo, b2_hi, b2_se = _score_interval(b2, float(a @ a), stats.dim, _var(proj), quad, z)
    sd_v = math.sqrt(_var(rep.var))
    v_lo, v_hi = _log_normal(v, sd_v, z)
    # MSE: the linear parts of b2 and V move together (strongly, in few dimensions), so their joint spread
    # is taken from the replicates directly; the replicates' linear part of b2 carries twice the quadratic
    # variance on top of the truth's (see b2_interval), the quadratic part once: net, subtract it once.
    lin = sign * 2.0 * proj / stats.dim
    mse = b2 + v
    sd_m = math.sqrt(max(_var(lin + rep.var[:count]) - quad, quad))
    m_lo, m_hi = _log_normal(mse, sd_m, z)
    return Intervals(b2, b2_lo, b2_hi, b2_se, v, v_lo, v_hi, mse, m_lo, m_hi, count, confidence)
