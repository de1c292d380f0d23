"""Squared bias, variance, MSE and related summaries of gradient estimators.

* Average squared bias per parameter, unbiased (ZGR eq. 16): with reference samples ``X`` (``n_1``) and
  tested samples ``Y`` (``n_2``), ``b^2 = ||mean(X) - mean(Y)||^2 / d - V_1 / n_1 - V_2 / n_2``, where ``V`` is
  the average over dimensions of the per-dimension sample variance; against an exact reference ``g`` the
  reference terms vanish: ``||g - mean(Y)||^2 / d - V_2 / n_2``.
* ``variance``: ``V``; ``mse = b^2 + V``; ``cosine`` between the mean estimate and the reference.
* Shah et al. App. C: the normalised bias ``|g - mean| / |g|`` and the standard deviation over draws.
* Confidence intervals (:mod:`.intervals`): a score-type interval for the squared bias whose variance is
  estimated from bootstrap replicates without their resampling artefact; log-normal intervals for variance
  and MSE. Their coverage is measured by simulation in the tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
import xarray as xr

from gradlab.core import names as N
from gradlab.core.results import describe, estimator_coords, provenance
from gradlab.measure.intervals import intervals
from gradlab.measure.stats import GradientStats

__all__ = [
    "squared_bias",
    "bias_variance",
    "mse_of_mean",
    "samples_to_beat",
    "normalized_bias_std",
    "summaries",
]

Reference = torch.Tensor | GradientStats


def _check_dims(stats: GradientStats, ref: Reference) -> None:
    d = ref.dim if isinstance(ref, GradientStats) else ref.numel()
    if d != stats.dim:
        raise ValueError(f"reference has {d} entries, the estimates have {stats.dim}")


def squared_bias(stats: GradientStats, reference: Reference) -> float:
    """Unbiased average squared bias per parameter (ZGR eq. 16)."""
    _check_dims(stats, reference)
    if isinstance(reference, GradientStats):
        diff = reference.mean - stats.mean
        return float((diff @ diff) / stats.dim - reference.avg_var / reference.n - stats.avg_var / stats.n)
    diff = reference.to(torch.float64).cpu() - stats.mean
    return float((diff @ diff) / stats.dim - stats.avg_var / stats.n)


def normalized_bias_std(stats: GradientStats, exact: torch.Tensor) -> dict[str, torch.Tensor]:
    """Shah et al. App. C, per dimension: ``|g - mean| / |g|`` and the standard deviation over draws."""
    g = exact.to(torch.float64).cpu()
    _check_dims(stats, g)
    return {"normalized_bias": (g - stats.mean).abs() / g.abs(), "std": stats.std}


def summaries(stats: GradientStats, reference: Reference, confidence: float) -> dict[str, float]:
    ref_mean = reference.mean if isinstance(reference, GradientStats) else reference.to(torch.float64).cpu()
    b2 = squared_bias(stats, reference)
    v = stats.avg_var
    diff = ref_mean - stats.mean
    norm_g = float(ref_mean.norm())
    big = ref_mean.abs() > 1e-12 * float(ref_mean.abs().max() or 1.0)
    out = {
        N.BIAS2: b2,
        N.VARIANCE: v,
        N.MSE: b2 + v,
        N.COSINE: float(stats.mean @ ref_mean / (stats.mean.norm() * norm_g)) if norm_g > 0 else np.nan,
        N.REL_BIAS: float(diff.norm()) / norm_g if norm_g > 0 else np.nan,
        N.REL_BIAS_DIMWISE: float((diff.abs()[big] / ref_mean.abs()[big]).mean()) if bool(big.any()) else np.nan,
        N.MEAN_STD: float(stats.std.mean()),
        N.N_SAMPLES: stats.n,
    }
    iv = intervals(stats, reference, confidence=confidence, b2=b2)
    if iv is not None:
        out[N.BIAS2 + N.LO], out[N.BIAS2 + N.HI], out[N.BIAS2_SE] = iv.b2_lo, iv.b2_hi, iv.b2_se
        out[N.VARIANCE + N.LO], out[N.VARIANCE + N.HI] = iv.variance_lo, iv.variance_hi
        out[N.MSE + N.LO], out[N.MSE + N.HI] = iv.mse_lo, iv.mse_hi
    seconds = stats.meta.get("seconds")
    if seconds is not None and stats.n:
        out[N.SECONDS_PER_SAMPLE] = float(seconds) / stats.n
    return out


def bias_variance(
    stats: Mapping[str, GradientStats] | Sequence[GradientStats],
    reference: Reference | Mapping[str, Reference],
    *,
    confidence: float = 0.95,
    attrs: Mapping | None = None,
) -> xr.Dataset:
    """Squared bias, variance, MSE, cosine, normalised bias and confidence bounds, one row per estimator.

    ``stats``: ``{label: GradientStats}`` or a sequence (labelled by ``stats.meta["estimator"]``).
    ``reference``: the exact gradient (a tensor), samples of a reference unbiased estimator (a
    ``GradientStats``, eq. 16), or a mapping label -> reference (e.g. each ``decoupled_st`` against its own
    target). Bounds (``bias2_lo`` ...) appear when the stats carry bootstrap replicates or raw samples.
    """
    items = (
        list(stats.items())
        if isinstance(stats, Mapping)
        else [(s.meta.get("estimator", str(i)), s) for i, s in enumerate(stats)]
    )
    if not items:
        raise ValueError("bias_variance: stats is empty")
    labels = [k for k, _ in items]
    if len(set(labels)) != len(labels):
        raise ValueError(f"bias_variance: duplicate estimator labels {labels}")
    rows = []
    for label, st in items:
        ref = reference[label] if isinstance(reference, Mapping) else reference
        rows.append(summaries(st, ref, confidence))
    keys = sorted({k for r in rows for k in r})
    data = {k: (N.ESTIMATOR, np.array([r.get(k, np.nan) for r in rows], dtype=float)) for k in keys}
    data[N.N_SAMPLES] = (N.ESTIMATOR, np.array([r[N.N_SAMPLES] for r in rows], dtype=np.int64))
    families = [st.meta.get("estimator_name", label.split("(")[0]) for label, st in items]
    hparams = [st.meta.get("hparams", {}) for _, st in items]
    coords = estimator_coords(labels, families, hparams)
    coords[N.TARGET] = (N.ESTIMATOR, [_target(st) for _, st in items])
    seeds = [st.meta.get("seed") for _, st in items]
    if all(s is not None for s in seeds):
        coords[N.SEED] = (N.ESTIMATOR, np.array(seeds, dtype=np.int64))
    first = items[0][1].meta
    problems = [str(st.meta.get("problem", "")) for _, st in items]
    per_cell = len(set(problems)) > 1
    if per_cell:  # estimates of different problems: each row records its own
        coords[N.PROBLEM] = (N.ESTIMATOR, problems)
    ref_kind = (
        "samples"
        if isinstance(reference, GradientStats)
        else "per-estimator"
        if isinstance(reference, Mapping)
        else "exact"
    )
    base = provenance(
        problem=None if per_cell else first.get("problem"),
        wrt=first.get("wrt"),
        dtype=first.get("dtype"),
        device=first.get("device"),
        reference=ref_kind,
        confidence=confidence,
    )
    return describe(xr.Dataset(data, coords=coords, attrs={**base, **(attrs or {})}), confidence)


def _target(stats: GradientStats) -> str:
    """The estimator's target as recorded by the sampler (``meta["target"]``), else rebuilt from the registry."""
    if "target" in stats.meta:
        return str(stats.meta["target"])
    from gradlab.estimators import estimator

    name = stats.meta.get("estimator_name")
    try:
        return estimator(name, **stats.meta.get("hparams", {})).target if name else ""
    except (KeyError, TypeError, ValueError):
        return ""


def mse_of_mean(ds: xr.Dataset, max_m: int = 1000) -> xr.DataArray:
    """MSE of the average of ``M`` independent estimates, ``b^2 + V / M``, for ``M = 1..max_m``."""
    m = xr.DataArray(np.arange(1, max_m + 1), dims=N.M, name=N.M)
    out = ds[N.BIAS2] + ds[N.VARIANCE] / m
    out.name = "mse_of_mean"
    return out.assign_coords({N.M: m})


def samples_to_beat(ds: xr.Dataset, estimator: str, rival: str, rival_m: int = 1) -> float:
    """Smallest number ``M`` of averaged estimates of ``estimator`` whose MSE is below that of ``rival_m``
    averaged estimates of ``rival``; ``inf`` when its squared bias alone is not below the rival's MSE."""
    sel = ds.sel({N.ESTIMATOR: [estimator, rival]})
    b2, v = float(sel[N.BIAS2][0]), float(sel[N.VARIANCE][0])
    target = float(sel[N.BIAS2][1]) + float(sel[N.VARIANCE][1]) / rival_m
    b2 = max(b2, 0.0)
    if b2 >= target:
        return float("inf")
    return float(max(1, int(np.floor(v / (target - b2))) + 1))
