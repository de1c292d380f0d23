"""The figures of a result file, chosen by its contents: one function for ``gradlab run`` (which draws them when it
has measured) and ``gradlab plot`` (which draws them again from the netCDF alone), so the two give the same
figures.

* a quantization-unit sweep (gradients per ``eta``): the Fig. B.5 panel;
* a grid of decoupled ST alone: squared bias and variance over ``(tau_f, tau_b)`` (and the gradient gap);
* otherwise: squared bias and variance against the temperature (every family with a temperature, without
  ST-ZGR, whose varied setting is alpha, and decoupled ST, drawn on its own grid); the Pareto diagram of the
  estimators of the model's objective (decoupled ST with ``tau_f != 1`` estimates another target and is left
  out); and, if there are several decoupled ST settings, their ``(tau_f, tau_b)`` grid.

A sweep over problem settings gets these figures once per grid point.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import xarray as xr

from gradlab.core import names as N

__all__ = ["result_figures", "plot_results"]


def _subject(ds: xr.Dataset) -> str:
    """What was measured, for the titles: the problem kind's registered summary up to its first parenthesis or
    comma (e.g. "categorical VAE"), "on" its data set where the kind reads one, "(snapshot)" at a snapshot."""
    from gradlab.problems.build import PROBLEMS

    try:
        problem = json.loads(ds.attrs.get("problem_config", "{}"))
    except (TypeError, ValueError):
        problem = {}
    spec = PROBLEMS.get(problem.get("kind", ""))
    if spec is None:
        return str(ds.attrs.get("sweep", "result"))
    what = spec.summary.split(" (")[0].split(", ")[0] or spec.name.replace("_", " ")
    if problem.get("snapshot"):
        what += " (snapshot)"
    return f"{what} on {problem.get('dataset', 'digits')}" if "dataset" in spec.keys else what


def _asks(families: np.ndarray, question) -> np.ndarray:
    """``question(estimator class)`` per setting (False for a family this process has not registered)."""
    from gradlab.estimators import REGISTRY

    answers = {f: bool(question(REGISTRY[f])) if f in REGISTRY else False for f in set(map(str, families))}
    return np.array([answers[str(f)] for f in families], dtype=bool)


def _pick(ds: xr.Dataset, keep: np.ndarray) -> xr.Dataset:
    return ds.isel({N.ESTIMATOR: np.flatnonzero(keep)})


def result_figures(ds: xr.Dataset, directory: str | Path, stem: str) -> list[Path]:
    """Write the figures ``ds`` supports (module docstring) as ``directory/stem_*.png``; returns their paths. A
    result with problem axes (a sweep's grid) gets one set per grid point, ``stem_<axis><index>..._*.png``, the
    point's values in the titles."""
    from gradlab.viz.plots import plot_quantization, save_figure

    directory = Path(directory)
    other = [d for d in ds[N.BIAS2].dims if d not in (N.ESTIMATOR, N.SEED)]
    if "grad_mean" in ds and N.ETA in ds.dims:
        return [save_figure(plot_quantization(ds), directory / f"{stem}_quantization.png")]
    varied = [d for d in other if ds.sizes[d] > 1]
    written = []
    for index in itertools.product(*(range(ds.sizes[d]) for d in varied)):
        point = ds.isel({**{d: 0 for d in other}, **dict(zip(varied, index, strict=True))})
        name = stem + "".join(f"_{d}{i}" for d, i in zip(varied, index, strict=True))
        where = ", ".join(f"{d} = {point[d].values.item()}" for d in varied)
        written += _point_figures(point, directory, name, _subject(ds) + (f" ({where})" if where else ""))
    return written


def _point_figures(point: xr.Dataset, directory: Path, stem: str, subject: str) -> list[Path]:
    """The figures of one grid point (no problem axes left)."""
    from gradlab.analysis.pareto import model_target_mask
    from gradlab.core.results import one_seed
    from gradlab.viz.plots import plot_pareto, plot_tau_grid, plot_vs_temperature, save_figure
    from gradlab.viz.styles import varied_field

    sub = one_seed(point)
    fam = sub[N.FAMILY].values
    decoupled = _asks(fam, lambda cls: len(cls.temperature_fields) == 2)  # a forward and a backward temperature
    if decoupled.all() and len(np.unique(sub["tau_f"].values)) > 1:
        written = [save_figure(plot_tau_grid(sub), directory / f"{stem}_bias_variance.png")]
        if N.GAP in sub:
            fig = plot_tau_grid(sub, (N.GAP,), "Gradient gap over (tau_f, tau_b)")
            written.append(save_figure(fig, directory / f"{stem}_gradient_gap.png"))
        return written
    # the families whose curve runs along their one temperature, or that have no temperature (drawn as lines, one per
    # setting: unordered_set's k, reinforce's m); not ST-ZGR (its curve runs along alpha at one temperature), RELAX
    # (steps) or decoupled ST (two temperatures: drawn on its own grid)
    temp = _pick(
        sub,
        _asks(fam, lambda cls: varied_field(cls) in (None, *cls.temperature_fields[:1]) or not cls.temperature_fields),
    )
    written = [
        save_figure(
            plot_vs_temperature(temp, f"{subject[:1].upper()}{subject[1:]}: squared bias and variance vs temperature"),
            directory / f"{stem}_vs_temperature.png",
        ),
        save_figure(
            plot_pareto(_pick(sub, model_target_mask(sub)), f"Bias-variance trade-offs, {subject}"),
            directory / f"{stem}_pareto.png",
        ),
    ]
    if decoupled.sum() > 1:
        written.append(save_figure(plot_tau_grid(_pick(sub, decoupled)), directory / f"{stem}_decoupled.png"))
    return written


def plot_results(path: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """``gradlab plot``: the figures of a result file (:func:`result_figures`), beside it or in ``out_dir``."""
    from gradlab.core.results import read_netcdf

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"plot: results must be a netCDF written by gradlab run, sweep or study; {path} does not exist"
        )
    try:
        ds = read_netcdf(path)
    except (OSError, ValueError) as exc:
        raise ValueError(f"plot: {path} is not a netCDF file gradlab can read ({exc})") from None
    directory = Path(out_dir) if out_dir else path.parent
    if "train_loss" in ds and "epoch" in ds.dims and N.BIAS2 not in ds:  # a study's or gradlab train's histories
        from gradlab.viz.history_figures import history_figures

        return history_figures(ds, directory, path.stem)
    missing = [v for v in (N.BIAS2, N.VARIANCE, N.FAMILY) if v not in ds]
    if missing:
        raise ValueError(
            f"plot: {path} is not a gradlab result: it has no {', '.join(missing)}; gradlab plot draws the results "
            "of gradlab run, sweep and study, and training histories"
        )
    return result_figures(ds, directory, path.stem)
