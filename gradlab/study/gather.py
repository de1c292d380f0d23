"""The run records of a study gathered into one Dataset: the training histories (``estimator x seed x epoch``, plus
the grid's axes), or, for a study with ``[trajectory]``, the bias-variance measurements along training (the
trajectory's dimensions, plus ``train_estimator`` and ``train_seed`` where the study trains more than one of each,
plus the grid's axes); with the study's provenance."""

from __future__ import annotations

import json

import xarray as xr

from gradlab.core.results import provenance
from gradlab.study.config import StudyConfig
from gradlab.study.runs import Run
from gradlab.training import TrainResult, history_dataset

__all__ = ["gather"]


def _records(cfg: StudyConfig, runs: list[Run]) -> dict[str, dict]:
    return {r.key: json.loads((cfg.runs_dir / f"{r.key}.json").read_text()) for r in runs}


def _at_point(cfg: StudyConfig, runs: list[Run], records: dict) -> xr.Dataset:
    """One grid point's runs as one Dataset."""
    if cfg.trajectory is None:
        results = [
            TrainResult({}, rec["history"], [], rec["problem"], rec["settings"], rec.get("initial", {}))
            for rec in (records[r.key] for r in runs)
        ]
        return history_dataset(results)
    labels = list(dict.fromkeys(r.label for r in runs))
    seeds = list(dict.fromkeys(r.seed for r in runs))
    parts = {(r.label, r.seed): xr.Dataset.from_dict(records[r.key]["trajectory"]) for r in runs}
    if len(labels) == 1 and len(seeds) == 1:  # one training run: the trajectory as trajectory_study gives it
        return next(iter(parts.values()))
    rows = [
        xr.concat(
            [parts[(lab, s)] for s in seeds], dim=xr.Variable("train_seed", seeds), combine_attrs="drop_conflicts"
        )
        for lab in labels
    ]
    return xr.concat(rows, dim=xr.Variable("train_estimator", labels), combine_attrs="drop_conflicts")


def gather(cfg: StudyConfig, runs: list[Run]) -> xr.Dataset:
    """The study's Dataset from its run records (every run must have one)."""
    records = _records(cfg, runs)
    axes = cfg.grid_axes()
    names = list(axes)
    by_point: dict[tuple, list[Run]] = {}
    for r in runs:
        by_point.setdefault(r.point, []).append(r)

    def nest(prefix: tuple, depth: int) -> xr.Dataset:
        if depth == len(names):
            return _at_point(cfg, by_point[prefix], records)
        values = axes[names[depth]]
        parts = [nest((*prefix, v), depth + 1) for v in values]
        labels = [str(list(v)) if isinstance(v, tuple) else v for v in values]
        return xr.concat(parts, dim=xr.Variable(names[depth], labels), combine_attrs="drop_conflicts")

    ds = nest((), 0)
    first = records[runs[0].key]
    ds.attrs.update(
        provenance(
            kind="training study" if cfg.trajectory is None else "training study with trajectories",
            study=cfg.name,
            scale=cfg.scale,
            config=cfg.to_json(),
            problem=first.get("problem", cfg.at(dict(zip(names, runs[0].point, strict=True)))[0]),
            seconds_of_all_runs=round(sum(rec["seconds"] for rec in records.values()), 1),
        )
    )
    for name in names:
        ds[name].attrs.setdefault("long_name", name)
    return ds
