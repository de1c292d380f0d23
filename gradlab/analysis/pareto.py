"""Pareto frontiers of estimator settings (ZGR Fig. 4), with and without measurement uncertainty.

Objectives are minimised: squared bias, variance, and optionally the cost (seconds per sample, the axis of
ZGR's speed argument, Fig. 5). Three rules, :func:`pareto_mask` ``method=``:

* ``"plain"``: the frontier of the point estimates (negative squared-bias estimates count as 0);
* ``"upper"``: the frontier of the upper confidence bounds. A setting is optimal only if its *worst*
  plausible values are; a noisy estimate has a high upper bound, so noise puts it on the front only when
  its interval misses the truth from below (one-sided rate ``(1 - confidence) / 2``; measured 1 in 100 for a
  noisy copy of a precisely measured setting in ``tests/analysis/test_frontier.py``, against 40 in 100 on points);
* ``"confident"``: every setting that is *not dominated with confidence*: it is removed only when another
  setting's upper bounds are no worse than its lower bounds in every objective (and better in one). This is
  the set of settings that may be optimal; wider than the front, it shrinks as ``n`` grows.

``"auto"`` (the default) is ``"upper"`` when the result has intervals, else ``"plain"``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from gradlab.core import names as N

__all__ = ["pareto_front", "confident_front", "pareto_mask", "model_target_mask", "PARETO_METHODS"]

PARETO_METHODS = ("auto", "plain", "upper", "confident")


def _stack(objectives: Sequence, name: str) -> np.ndarray:
    cols = [np.asarray(o, dtype=float) for o in objectives]
    if len(cols) < 2:
        raise ValueError(f"{name}: needs at least two objectives, got {len(cols)}")
    if any(c.ndim != 1 or c.shape != cols[0].shape for c in cols):
        raise ValueError(f"{name}: objectives must be 1-D of equal length, got shapes {[c.shape for c in cols]}")
    return np.stack(cols, axis=1)


def pareto_front(*objectives) -> np.ndarray:
    """Boolean mask of the points not dominated when minimising every objective (``x, y[, cost, ...]``).

    A point is dominated when another is no worse in all objectives and strictly better in one. Points with
    a NaN are never on the front; exact duplicates are both kept.
    """
    p = _stack(objectives, "pareto_front")
    return confident_front(p.T, p.T)


RTOL = 1e-9  # values this close (relatively) are ties: the same estimator written twice differs by rounding


def confident_front(lower: Sequence, upper: Sequence) -> np.ndarray:
    """Points not dominated with confidence: ``i`` is removed when some ``j`` has ``upper_j <= lower_i`` in
    every objective and ``<`` in one. ``lower``/``upper``: sequences of per-objective arrays. Values within a
    relative ``RTOL`` count as equal (ReinMax(t=1) and ZGR agree to rounding: neither dominates the other)."""
    lo, hi = _stack(lower, "confident_front"), _stack(upper, "confident_front")
    if lo.shape != hi.shape:
        raise ValueError(f"confident_front: lower {lo.shape} and upper {hi.shape} differ")
    ok = np.isfinite(lo).all(1) & np.isfinite(hi).all(1)
    mask = np.zeros(len(lo), dtype=bool)
    for i in np.flatnonzero(ok):
        others = ok.copy()
        others[i] = False
        tol = RTOL * np.maximum(np.abs(hi), np.abs(lo[i]))
        no_worse = (hi <= lo[i] + tol).all(1)
        better = (hi < lo[i] - tol).any(1)
        mask[i] = not (others & no_worse & better).any()
    return mask


def model_target_mask(ds: xr.Dataset) -> np.ndarray:
    """True for the settings that estimate the model's objective (the ``target`` coordinate; all when the
    result does not record targets): only these are compared with each other."""
    from gradlab.estimators.base import TARGET_MODEL

    if N.TARGET not in ds.coords:
        return np.ones(ds.sizes[N.ESTIMATOR], dtype=bool)
    return ds[N.TARGET].values == TARGET_MODEL


def pareto_mask(
    ds: xr.Dataset,
    objectives: Sequence[str] = (N.BIAS2, N.VARIANCE),
    *,
    method: str = "auto",
    same_target: bool = True,
) -> xr.DataArray:
    """The frontier along the ``estimator`` dimension of a result (see the module docstring for ``method``).

    ``same_target``: compare only estimators of the model's objective (the ``target`` coordinate); those with
    another target (``decoupled_st`` with ``tau_f != 1``) are never on the front. Negative squared-bias values
    (point estimates or lower bounds) count as 0: below the noise, not "less biased than unbiased".
    """
    if method not in PARETO_METHODS:
        raise ValueError(f"pareto_mask: method must be one of {PARETO_METHODS}, got {method!r}")
    for name in objectives:
        if name not in ds:
            raise ValueError(f"pareto_mask: the result has no variable {name!r}; it has {sorted(ds.data_vars)}")
        if ds[name].dims != (N.ESTIMATOR,):
            raise ValueError(
                f"pareto_mask: {name} must have the single dimension {N.ESTIMATOR!r}, has {ds[name].dims} "
                "(select or average the other dimensions first)"
            )
    has_bounds = all(o + N.HI in ds for o in objectives if o + N.LO in ds or o in (N.BIAS2, N.VARIANCE, N.MSE))
    if method == "auto":
        method = "upper" if has_bounds and N.BIAS2 + N.HI in ds else "plain"
    if method != "plain" and not has_bounds:
        raise ValueError(f"pareto_mask: method={method!r} needs confidence bounds (*_lo, *_hi); this result has none")

    def column(name: str, suffix: str) -> np.ndarray:
        key = name + suffix if name + suffix in ds else name
        v = ds[key].values.astype(float)
        return np.maximum(v, 0.0) if name in (N.BIAS2, N.MSE) else v

    keep = model_target_mask(ds) if same_target else np.ones(ds.sizes[N.ESTIMATOR], dtype=bool)
    front = np.zeros(keep.shape, dtype=bool)
    if method == "plain":
        front[keep] = pareto_front(*[column(o, "")[keep] for o in objectives])
    elif method == "upper":
        front[keep] = pareto_front(*[column(o, N.HI)[keep] for o in objectives])
    else:
        lows = [column(o, N.LO)[keep] for o in objectives]
        highs = [column(o, N.HI)[keep] for o in objectives]
        front[keep] = confident_front(lows, highs)
    return xr.DataArray(front, coords={N.ESTIMATOR: ds[N.ESTIMATOR]}, name=f"pareto_{method}")
