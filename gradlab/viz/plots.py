"""Figures from results: ``xarray.Dataset`` (or check results) -> ``matplotlib.figure.Figure``.

``gl.plots`` draws any result of :func:`gradlab.bias_variance`, a sweep or ``gradlab run``, the user's own
included: :func:`plot_pareto` (bias vs variance with 95 % interval bars and the frontier),
:func:`plot_vs_temperature` (bias and variance against ``t`` with interval bands), :func:`plot_tau_grid`
(decoupled ST over ``(tau_f, tau_b)``), :func:`plot_quantization`, :func:`plot_convergence`;
:func:`save_figure` writes atomically and closes the figure. Legends round hyper-parameters
(:func:`short_label`) and name settings that coincide with another family's (:func:`coinciding`).

No computation happens here beyond selecting and arranging what the Dataset holds, and the frontier
(:func:`gradlab.analysis.pareto_mask`). The backend is the user's (the command line uses ``Agg``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from gradlab.core import names as N
from gradlab.viz.styles import (  # noqa: F401  (FAMILY_STYLE, LINESTYLES: re-exported)
    FAMILY_STYLE,
    LINESTYLES,
    coinciding,
    short_label,
)
from gradlab.viz.styles import groups as _groups  # noqa: F401
from gradlab.viz.styles import styled_groups as _styled_groups
from gradlab.viz.styles import temperature_axis as _temperature_axis
from gradlab.viz.styles import varied as _varied

__all__ = [
    "plot_vs_temperature",
    "plot_pareto",
    "plot_quantization",
    "plot_tau_grid",
    "plot_convergence",
    "save_figure",
    "save_verify_figures",
    "short_label",
    "coinciding",
]


def save_figure(fig, path: str | Path) -> Path:
    """Save atomically (temporary file, then rename) and close the figure."""
    from gradlab.core.atomic import atomic_write_with

    path = Path(path)
    atomic_write_with(
        path,
        lambda tmp: fig.savefig(tmp, dpi=120, bbox_inches="tight", format=path.suffix[1:] or "png"),
        suffix=path.suffix,
    )
    plt.close(fig)
    return path


def _mean_over_seeds(ds: xr.Dataset) -> xr.Dataset:
    from gradlab.core.results import one_seed

    return one_seed(ds)


def _bounds_label(ds: xr.Dataset) -> str:
    """What the drawn bounds are: 95 % intervals of one replicate, or (several seeds) the mean of the replicates'
    bounds, which is not an interval of the mean."""
    if N.SEED in ds.dims and ds.sizes[N.SEED] > 1:
        return f"mean over {ds.sizes[N.SEED]} seeds of the per-seed 95 % bounds"
    return "95 % intervals"


_HLINE_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def plot_vs_temperature(ds: xr.Dataset, title: str = "") -> plt.Figure:
    """ZGR Fig. 1 / B.2: squared bias (left) and variance (right) against the temperature (``t``, or the
    temperature a family declares as its curve's hyper-parameter), with bands of the 95 % intervals
    (:mod:`gradlab.measure.intervals`); a setting measured at one temperature is a point with its interval bar,
    estimators without a temperature are horizontal lines (each with its own marker at the right end), and one that
    coincides with another family's (ReinMax(t=1) and ZGR) says so in the legend."""
    bounds = _bounds_label(ds)
    ds = _mean_over_seeds(ds)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    same = coinciding(ds)
    axis_names = set()
    flat = []  # (label, colour, line style, marker, {variable: value}): drawn once the x range is known
    for label, idx, fam, color, marker, ls in _styled_groups(ds):
        key = _temperature_axis(fam)
        axis_names.update([key] if key else [])
        ts = ds[key].values[idx].astype(float) if key in ds.coords else np.full(len(idx), np.nan)
        if not np.isfinite(ts).all():  # no temperature: one horizontal line per setting
            for j, i in enumerate(idx):
                tag = short_label(label if len(idx) == 1 else ds[N.ESTIMATOR].values[i])
                if i in same:
                    tag += f" (coincides with {short_label(ds[N.ESTIMATOR].values[same[i]])})"
                style = ("--", ":", "-.")[(LINESTYLES.index(ls) + j) % 3]
                flat.append(
                    (
                        tag,
                        color,
                        style,
                        _HLINE_MARKERS[len(flat) % len(_HLINE_MARKERS)],
                        {v: float(ds[v].values[i]) for v in (N.BIAS2, N.VARIANCE)},
                    )
                )
            continue
        order = np.argsort(ts)
        for ax, var in zip(axes, (N.BIAS2, N.VARIANCE), strict=True):
            y = ds[var].values[idx][order]
            lo = ds[var + N.LO].values[idx][order] if var + N.LO in ds else None
            hi = ds[var + N.HI].values[idx][order] if var + N.HI in ds else None
            ax.plot(
                ts[order],
                y,
                marker=marker,
                color=color,
                ls=ls if len(idx) > 1 else "none",
                label=short_label(label),
                ms=4 if len(idx) > 1 else 6,
            )
            if lo is not None and len(idx) > 1:
                ax.fill_between(ts[order], lo, hi, color=color, alpha=0.2)
            elif lo is not None:  # one temperature: a point with its interval bar
                ax.errorbar(ts[order], y, yerr=[y - lo, hi - y], fmt="none", ecolor=color, alpha=0.6)
    for ax, var in zip(axes, (N.BIAS2, N.VARIANCE), strict=True):
        ax.set_xscale("log")
        if flat:
            x0, x1 = ax.get_xlim() if ax.has_data() else (0.01, 10.0)
            for tag, color, style, mk, values in flat:
                ax.plot(
                    [x0, x1],
                    [values[var]] * 2,
                    color=color,
                    ls=style,
                    lw=1.2,
                    label=tag,
                    marker=mk,
                    markevery=[1],
                    ms=5,
                )
            ax.set_xlim(x0, x1)
        ax.set_xlabel("temperature " + (" / ".join(sorted(axis_names)) or "t"))
        if var == N.BIAS2:
            _symlog(ax, ds[var].values, ds[var + N.LO].values if var + N.LO in ds else None)
            ax.set_ylabel("average squared bias per parameter (symlog)")
        else:
            ax.set_yscale("log")
            ax.set_ylabel("average variance per parameter")
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    uniq = dict(zip(labels, handles, strict=False))
    fig.legend(uniq.values(), uniq.keys(), loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    fig.suptitle(title or f"Squared bias and variance vs temperature (bands and bars: {bounds})")
    fig.tight_layout()
    return fig


def _symlog(ax, values, lower=None) -> None:
    """A symlog axis whose linear region (one decade tall) ends at the decade of the smallest non-zero
    magnitude; ticks only at 0 and at decades outside that region, so none overlap; no empty negative half."""
    from matplotlib.ticker import FixedLocator, NullLocator

    v = np.asarray(values, float)
    every = v if lower is None else np.concatenate([v, np.asarray(lower, float)])
    every = every[np.isfinite(every)]
    finite = np.abs(v[np.isfinite(v) & (v != 0)])
    lin = 10.0 ** math.floor(math.log10(max(float(finite.min()) if finite.size else 1e-12, 1e-14)))
    ax.set_yscale("symlog", linthresh=lin, linscale=1.0)
    top = max(float(np.abs(every).max()) if every.size else lin, lin)
    decades = [lin * 10.0**k for k in range(int(math.ceil(math.log10(top / lin))) + 1)]
    ticks = [0.0] + decades
    lowest = float(every.min()) if every.size else 0.0
    pad = 4.0  # 0.6 decade beyond the extreme values: no marker or frontier circle sits on the frame
    if lowest < 0:
        ticks += [-d for d in decades if d <= abs(lowest)]
        ax.set_ylim(bottom=-max(abs(lowest) * pad, lin), top=top * pad)
    else:
        ax.set_ylim(bottom=0, top=top * pad)
    ax.yaxis.set_major_locator(FixedLocator(sorted(ticks)))
    ax.yaxis.set_minor_locator(NullLocator())


def plot_pareto(ds: xr.Dataset, title: str = "", mark_t: Sequence[float] = (2.0,), method: str = "auto") -> plt.Figure:
    """ZGR Fig. 4 left: (variance, squared bias) per setting with 95 % interval bars, families joined along
    their hyper-parameter, the Pareto frontier circled (``method``: see :func:`gradlab.analysis.pareto_mask`;
    by default on the upper confidence bounds), settings that coincide with another family's named in the
    legend. The y axis is symlog (squared-bias estimates can be negative). Only estimators of the model's
    objective should be passed (the ``target`` coordinate); others are never on the frontier."""
    from gradlab.analysis.pareto import pareto_mask

    bounds_text = _bounds_label(ds)
    ds = _mean_over_seeds(ds)
    fig, ax = plt.subplots(figsize=(8, 5.5))
    v, b = ds[N.VARIANCE].values, ds[N.BIAS2].values
    bounds = all(k + s in ds for k in (N.BIAS2, N.VARIANCE) for s in (N.LO, N.HI))
    front_da = pareto_mask(ds, method=method)
    front = front_da.values
    same = coinciding(ds)
    labels = ds[N.ESTIMATOR].values
    marked = False
    for label, idx, fam, color, marker, ls in _styled_groups(ds):
        key = _varied(fam)
        ok = key in ds.coords and np.isfinite(ds[key].values[idx]).all()
        order = np.argsort(ds[key].values[idx]) if ok else np.arange(len(idx))
        ii = np.array(idx)[order]
        if bounds:
            xerr = [v[ii] - ds[N.VARIANCE + N.LO].values[ii], ds[N.VARIANCE + N.HI].values[ii] - v[ii]]
            yerr = [b[ii] - ds[N.BIAS2 + N.LO].values[ii], ds[N.BIAS2 + N.HI].values[ii] - b[ii]]
            ax.errorbar(v[ii], b[ii], xerr=xerr, yerr=yerr, fmt="none", ecolor=color, alpha=0.35, lw=0.8)
        hidden = [i for i in ii if i in same]
        text = short_label(label)
        if hidden:
            text += " (coincides with " + ", ".join(short_label(labels[same[i]]) for i in hidden) + ")"
        mfc = "none" if hidden else color  # hollow, larger: the marker underneath stays visible
        ax.plot(v[ii], b[ii], marker=marker, color=color, mfc=mfc, ls=ls, label=text, ms=9 if hidden else 5, lw=1)
        circled = False
        if "t" in ds.coords:
            for j in ii:
                if any(math.isclose(float(ds["t"].values[j]), m, rel_tol=1e-6) for m in mark_t):
                    ax.plot(v[j], b[j], "o", mfc="none", mec="black", ms=11)
                    marked = circled = True
        if ok and len(ii) > 1 and not circled:  # a curve without a circled t: its ends say where it runs
            for j in (ii[0], ii[-1]):
                ax.annotate(
                    f"{key}={float(ds[key].values[j]):.2g}",
                    (v[j], b[j]),
                    fontsize=6,
                    color=color,
                    xytext=(3, 3),
                    textcoords="offset points",
                )
    if marked:  # the legend names the marked temperature only where a setting at it was drawn
        ax.plot([], [], "o", mfc="none", mec="black", ms=11, label="t = " + ", ".join(f"{m:g}" for m in mark_t))
    rule = {
        "pareto_upper": "on upper 95 % bounds",
        "pareto_plain": "on point estimates",
        "pareto_confident": "not dominated with confidence",
    }[front_da.name]
    ax.plot(v[front], b[front], "o", mfc="none", mec="red", ms=14, mew=1.5, label=f"Pareto frontier ({rule})")
    if bounds:
        ax.errorbar([], [], xerr=[[], []], yerr=[[], []], fmt="none", ecolor="gray", label=bounds_text)
    ax.set_xscale("log")
    _symlog(ax, b, ds[N.BIAS2 + N.LO].values if bounds else None)
    ax.set_xlabel("average variance per parameter")
    ax.tick_params(axis="x", which="both", labelrotation=30)  # a range under a decade labels its minor ticks
    ax.set_ylabel("average squared bias per parameter (symlog)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    ax.set_title(title or "Bias-variance trade-offs")
    fig.tight_layout()
    return fig


def plot_quantization(ds: xr.Dataset, title: str = "") -> plt.Figure:
    """ZGR Fig. B.5: mean +- std of each estimator (red) against eta, exact gradient dashed blue; one row per
    (loss, noise), one column per estimator. Needs ``grad_mean``, ``grad_std``, ``reference_mean``."""
    ds = _mean_over_seeds(ds)
    rows = [d for d in ds["grad_mean"].dims if d not in (N.ETA, N.ESTIMATOR, N.PARAM)]
    stacked = ds.stack(panel=rows) if rows else ds.expand_dims(panel=[0])
    panels = stacked["panel"].values
    ests = ds[N.ESTIMATOR].values
    fig, axes = plt.subplots(
        len(panels), len(ests), figsize=(2.6 * len(ests), 2.1 * len(panels)), squeeze=False, sharex=True
    )
    eta = ds[N.ETA].values
    for r, panel in enumerate(panels):
        sub = stacked.sel(panel=panel)
        for c, est in enumerate(ests):
            ax = axes[r, c]
            m = sub["grad_mean"].sel({N.ESTIMATOR: est}).values[..., 0]
            s = sub["grad_std"].sel({N.ESTIMATOR: est}).values[..., 0]
            ex = sub["reference_mean"].sel({N.ESTIMATOR: est}).values[..., 0]
            ax.fill_between(eta, m - s, m + s, color="red", alpha=0.2, lw=0)
            ax.plot(eta, m, color="red", lw=1.2)
            ax.plot(eta, ex, color="tab:blue", ls="--", lw=1.2)
            if r == 0:
                ax.set_title(str(est), fontsize=8)
            if c == 0:
                ax.set_ylabel(", ".join(str(p) for p in np.atleast_1d(panel)), fontsize=8)
            if r == len(panels) - 1:
                ax.set_xlabel("eta")
            ax.tick_params(labelsize=7)
    fig.suptitle(title or "Single quantization unit: mean ± std of estimators (red), exact gradient (dashed)")
    fig.tight_layout()
    return fig


def plot_tau_grid(ds: xr.Dataset, variables: Sequence[str] = (N.BIAS2, N.VARIANCE), title: str = "") -> plt.Figure:
    """Shah et al. Figs. 5-6: heatmaps over (tau_f, tau_b) of the given variables (log colour scale)."""
    ds = _mean_over_seeds(ds)
    tf, tb = ds["tau_f"].values, ds["tau_b"].values
    ftau, btau = np.unique(tf), np.unique(tb)
    fig, axes = plt.subplots(1, len(variables), figsize=(5 * len(variables), 4.2), squeeze=False)
    for ax, var in zip(axes[0], variables, strict=True):
        grid = np.full((len(ftau), len(btau)), np.nan)
        for i, (f, b) in enumerate(zip(tf, tb, strict=True)):
            grid[np.searchsorted(ftau, f), np.searchsorted(btau, b)] = float(ds[var].values[i])
        shown = np.where(grid > 0, grid, np.nan)
        im = ax.imshow(np.log10(shown), origin="lower", cmap="viridis", aspect="auto")
        for i in range(len(ftau)):
            for j in range(len(btau)):
                if np.isfinite(grid[i, j]):
                    ax.text(j, i, f"{grid[i, j]:.2g}", ha="center", va="center", fontsize=7, color=_ink(im, i, j))
        ax.set_xticks(range(len(btau)), [f"{x:g}" for x in btau])
        ax.set_yticks(range(len(ftau)), [f"{x:g}" for x in ftau])
        ax.set_xlabel("backward temperature tau_b")
        ax.set_ylabel("forward temperature tau_f")
        ax.set_title(f"log10 {var}")
        fig.colorbar(im, ax=ax, shrink=0.8, label=f"log10 {ds[var].attrs.get('long_name', var)}")
    fig.suptitle(title or "Decoupled ST over (tau_f, tau_b)")
    fig.tight_layout()
    return fig


def _ink(im, i: int, j: int) -> str:
    """Black on a light cell of a heatmap, white on a dark one (the cell's colour's luminance)."""
    value = im.get_array()[i, j]
    if np.ma.is_masked(value) or not np.isfinite(value):
        return "black"
    r, g, b, _ = im.cmap(im.norm(value))
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"


def plot_convergence(series: Sequence[dict], title: str = "", ylabel: str = "error") -> plt.Figure:
    """Log-log error against t. ``series``: dicts with ``label``, ``t``, ``error`` and optional ``order``."""
    fig, ax = plt.subplots(figsize=(7, 5))
    for s in series:
        t, e = np.asarray(s["t"], float), np.asarray(s["error"], float)
        ok = e > 0
        lab = s["label"] + (
            f" (fitted order {s['order']:.2f})" if s.get("order") is not None and np.isfinite(s["order"]) else ""
        )
        ax.loglog(t[ok], e[ok], marker=s.get("marker", "o"), ms=4, label=lab)
    ax.set_xlabel("temperature t")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(title or "Convergence as t -> 0")
    fig.tight_layout()
    return fig


def save_verify_figures(results, directory: str | Path) -> list[Path]:
    """Convergence plots of the asymptotic checks of ``gradlab verify``."""
    directory = Path(directory)
    series = [
        {"label": f"{r.id} [{r.verdict}]", "t": r.temperatures, "error": r.errors, "order": r.measured_order}
        for r in results
        if r.temperatures and r.errors and r.claimed_order is not None and r.claimed_order > 0
    ]
    out = []
    if series:
        out.append(
            save_figure(
                plot_convergence(
                    series,
                    "gradlab verify: worst-case errors of asymptotic claims",
                    "error of the claimed series or limit (|measured - claimed|, worst case over the instances)",
                ),
                directory / "verify_convergence.png",
            )
        )
    var = [r for r in results if r.id.endswith("variance-1/t") and r.errors]
    if var:
        fig, ax = plt.subplots(figsize=(6, 4.5))
        for r in var:
            ax.loglog(r.temperatures, r.errors, marker="o", label=f"{r.id}: slope {r.measured_order:.2f}")
        t = np.asarray(var[0].temperatures)
        ax.loglog(t, var[0].errors[0] * t[0] / t, "k:", label="1/t")
        ax.set_xlabel("temperature t")
        ax.set_ylabel("average variance")
        ax.legend(fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
        out.append(save_figure(fig, directory / "verify_gs_variance.png"))
    return out
