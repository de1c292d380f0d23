"""Pareto frontier: estimator settings not dominated in (squared bias, variance) (ZGR Fig. 4)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .. import names as N

__all__ = ["pareto_front", "pareto_mask"]


def pareto_front(x, y) -> np.ndarray:
    """Boolean mask of the points not dominated when minimising both ``x`` and ``y``.

    A point is dominated when another is no worse in both and strictly better in one. NaN points are never
    on the front; exact duplicates are both kept.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"pareto_front: x and y must be 1-D of equal length, got {x.shape} and {y.shape}")
    ok = np.isfinite(x) & np.isfinite(y)
    mask = np.zeros(x.shape, dtype=bool)
    for i in np.flatnonzero(ok):
        others = ok.copy()
        others[i] = False
        dominated = others & (x <= x[i]) & (y <= y[i]) & ((x < x[i]) | (y < y[i]))
        mask[i] = not dominated.any()
    return mask


def pareto_mask(ds: xr.Dataset, x: str = N.BIAS2, y: str = N.VARIANCE, clip_negative: bool = True) -> xr.DataArray:
    """:func:`pareto_front` along the ``estimator`` dimension of a result.

    ``clip_negative``: the unbiased squared-bias estimate (eq. 16) can be negative when the bias is below the
    noise; such settings count as squared bias 0 (otherwise a noisier estimate could look "less biased").
    """
    if ds[x].dims != (N.ESTIMATOR,):
        raise ValueError(f"pareto_mask: {x} must have the single dimension {N.ESTIMATOR!r}, has {ds[x].dims}")
    xv, yv = ds[x].values, ds[y].values
    if clip_negative:
        xv, yv = np.maximum(xv, 0.0), np.maximum(yv, 0.0)
    return xr.DataArray(pareto_front(xv, yv), coords={N.ESTIMATOR: ds[N.ESTIMATOR]}, name="pareto")
