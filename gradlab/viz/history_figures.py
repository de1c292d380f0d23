"""Figures and a table of training histories (``gradlab plot`` on a study or a ``--history`` file): the final
metric of every setting (mean over seeds +- (max - min) / 2, the papers' notation) as a markdown table, the metric
against the epoch and against the training wall time, and for decoupled ST the (tau_f, tau_b) grid of the final
metric. One set per point of the study's grid. No computation beyond arranging what the Dataset holds."""

from __future__ import annotations

import itertools
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from gradlab.core import names as N

__all__ = ["history_figures", "final_table", "METRICS"]

METRICS = ("valid_accuracy", "valid_loss", "train_loss")  # the first a history has is the one drawn


def _metric(ds: xr.Dataset) -> str:
    return next(m for m in METRICS if m in ds)


def final_table(ds: xr.Dataset, metric: str | None = None) -> str:
    """A markdown table of the last epoch's ``metric`` per setting: mean over seeds +- (max - min) / 2."""
    metric = metric or _metric(ds)
    last = ds[metric].isel(epoch=-1)
    mean, half = last.mean(N.SEED), (last.max(N.SEED) - last.min(N.SEED)) / 2
    lines = [f"| estimator | {metric} (last epoch) |", "|---|---:|"]
    lines += [
        f"| {e} | {float(mean.sel({N.ESTIMATOR: e})):.4g} ± {float(half.sel({N.ESTIMATOR: e})):.2g} |"
        for e in ds[N.ESTIMATOR].values
    ]
    return "\n".join(lines)


def _curves(ds: xr.Dataset, metric: str, title: str) -> plt.Figure:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = plt.cm.tab20(np.linspace(0, 1, ds.sizes[N.ESTIMATOR]))
    for est, color in zip(ds[N.ESTIMATOR].values, colors, strict=True):
        run = ds.sel({N.ESTIMATOR: est})
        y = run[metric].mean(N.SEED)
        axes[0].plot(ds["epoch"], y, color=color, label=str(est))
        if "seconds" in run:
            axes[1].plot(run["seconds"].mean(N.SEED), y, color=color)
    axes[0].set(xlabel="epoch", ylabel=f"{metric} (mean over seeds)")
    axes[1].set(xlabel="training wall time [s] (mean over seeds)", ylabel=metric)
    for ax in axes:
        ax.grid(True, alpha=0.3)
    fig.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def tau_grid_figure(ds: xr.Dataset, metric: str, title: str, higher: bool | None = None) -> plt.Figure | None:
    """The final ``metric`` of decoupled ST over its (tau_f, tau_b) grid, mean over seeds, each cell labelled;
    ``higher``: whether higher is better (default: an accuracy). ``None`` when the study has fewer than two
    decoupled cells."""
    keep = ds[N.FAMILY].values == "decoupled_st"
    if keep.sum() < 2:
        return None
    sub = ds.isel({N.ESTIMATOR: np.flatnonzero(keep)})
    final = sub[metric].isel(epoch=-1).mean(N.SEED)
    tf, tb = np.unique(sub["tau_f"].values), np.unique(sub["tau_b"].values)
    grid = np.full((len(tf), len(tb)), np.nan)
    for i, est in enumerate(sub[N.ESTIMATOR].values):
        grid[np.searchsorted(tf, sub["tau_f"].values[i]), np.searchsorted(tb, sub["tau_b"].values[i])] = float(
            final.sel({N.ESTIMATOR: est})
        )
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    higher = metric.endswith("accuracy") if higher is None else higher
    im = ax.imshow(grid, origin="lower", cmap="viridis" if higher else "viridis_r", aspect="auto")
    for (i, j), v in np.ndenumerate(grid):
        if np.isfinite(v):
            r, g, b, _ = im.cmap(im.norm(v))
            ax.text(
                j,
                i,
                f"{v:.3g}",
                ha="center",
                va="center",
                fontsize=8,
                color="black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white",
            )
    ax.set_xticks(range(len(tb)), [f"{x:g}" for x in tb])
    ax.set_yticks(range(len(tf)), [f"{x:g}" for x in tf])
    ax.set(xlabel="backward temperature tau_b", ylabel="forward temperature tau_f", title=title)
    fig.colorbar(im, ax=ax, label=f"final {metric}, mean over seeds")
    fig.tight_layout()
    return fig


def history_figures(ds: xr.Dataset, directory: str | Path, stem: str) -> list[Path]:
    """Write the table (``stem[_point]_final.md``) and the figures (``_curves.png``, ``_tau_grid.png``) of every
    point of the study's grid; returns their paths."""
    from gradlab.core.atomic import atomic_write_text
    from gradlab.viz.plots import save_figure

    directory = Path(directory)
    axes = [d for d in ds[_metric(ds)].dims if d not in (N.ESTIMATOR, N.SEED, "epoch")]
    written = []
    for index in itertools.product(*(range(ds.sizes[a]) for a in axes)):
        point = ds.isel(dict(zip(axes, index, strict=True)))
        tag = "".join(f"_{a}{i}" for a, i in zip(axes, index, strict=True))
        where = ", ".join(f"{a} = {point[a].values}" for a in axes)
        metric = _metric(point)
        title = f"{ds.attrs.get('study', stem)}" + (f" ({where})" if where else "")
        written.append(atomic_write_text(directory / f"{stem}{tag}_final.md", f"# {title}\n\n{final_table(point)}\n"))
        written.append(save_figure(_curves(point, metric, title), directory / f"{stem}{tag}_curves.png"))
        grid = tau_grid_figure(point, metric, f"decoupled ST: final {metric}" + (f" ({where})" if where else ""))
        if grid is not None:
            written.append(save_figure(grid, directory / f"{stem}{tag}_tau_grid.png"))
    return written
