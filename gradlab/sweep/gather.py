"""The cell files of a sweep gathered into one Dataset (dims ``(*problem axes, estimator, seed)``), with the
sweep's provenance."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence

import numpy as np
import xarray as xr

from gradlab.core import names as N
from gradlab.core.results import describe, estimator_coords, provenance
from gradlab.sweep.config import SweepConfig
from gradlab.sweep.plan import Cell

__all__ = ["gather"]

PER_PARAM = ("grad_mean", "grad_std", "reference_mean")  # the variables with one value per parameter


def gather(cfg: SweepConfig, cells: Sequence[Cell]) -> xr.Dataset:
    """One Dataset from the cell files: dims (*problem axes, estimator, seed)."""
    axes = cfg.problem_axes()
    ests = cfg.estimator_grid()
    labels = [e.label for e in ests]
    seeds = cfg.sampling["seeds"]
    records = {c.key: json.loads((cfg.cells_dir / f"{c.key}.json").read_text()) for c in cells}
    non_scalar = {"cell", "param_labels", "problem", "target", "reference_used", *PER_PARAM}
    scalar_keys = sorted({k for r in records.values() for k in r} - non_scalar)
    shape = [len(v) for v in axes.values()] + [len(labels), len(seeds)]
    dims = list(axes) + [N.ESTIMATOR, N.SEED]
    data = {k: np.full(shape, np.nan) for k in scalar_keys}
    # the parameters of each cell (a problem axis may change their number, as num_classes = [2, 3] does)
    kept = [r["param_labels"] for r in records.values() if r.get("param_labels")]
    param_labels = max(kept, key=len) if kept else None
    same = all(k == param_labels for k in kept)
    if param_labels:
        for k in PER_PARAM:
            data[k] = np.full([*shape, len(param_labels)], np.nan)
    positions = {
        tuple(v for _, v in combo): tuple(i for i, _ in combo)
        for combo in itertools.product(*[list(enumerate(a)) for a in axes.values()])
    }
    for c in cells:
        r = records[c.key]
        pos = (*positions[tuple(c.point)], labels.index(c.label), seeds.index(c.seed))
        for k in scalar_keys:
            v = r.get(k)
            data[k][pos] = np.nan if v is None else v
        if param_labels and r.get("param_labels"):  # a shorter gradient fills the first entries (NaN after)
            for k in PER_PARAM:
                data[k][pos][: len(r[k])] = r[k]
    variables = {k: (dims, v) for k, v in data.items() if k not in PER_PARAM}
    if param_labels:
        for k in PER_PARAM:
            variables[k] = ([*dims, N.PARAM], data[k])
    if N.N_SAMPLES in variables:
        variables[N.N_SAMPLES] = (dims, np.nan_to_num(data[N.N_SAMPLES]).astype(np.int64))
    coords = estimator_coords(labels, [e.name for e in ests], [e.hparams() for e in ests])
    coords[N.TARGET] = (N.ESTIMATOR, [e.target for e in ests])
    coords[N.SEED] = seeds
    for k, vals in axes.items():  # an axis of list-valued settings (layer widths) is labelled "[32, 32]", ...
        coords[k] = [str(list(v)) if isinstance(v, tuple) else v for v in vals]
    if param_labels and same:
        coords[N.PARAM] = param_labels
    elif param_labels:  # the parameters differ between problem points: positions, each point's labels beside them
        coords[N.PARAM] = np.arange(len(param_labels))
        per_point = np.full([len(v) for v in axes.values()] + [len(param_labels)], "", dtype=object)
        for c in cells:
            own = records[c.key].get("param_labels") or []
            per_point[positions[tuple(c.point)]][: len(own)] = own
        coords["param_label"] = ([*axes, N.PARAM], per_point.astype(str))
    problems = np.full([len(v) for v in axes.values()], "", dtype=object)
    used = np.full([len(v) for v in axes.values()], "", dtype=object)
    for c in cells:
        problems[positions[tuple(c.point)]] = records[c.key].get("problem") or ""
        used[positions[tuple(c.point)]] = records[c.key].get("reference_used", "")
    coords[N.PROBLEM] = (list(axes), problems.astype(str))
    coords["reference_used"] = (list(axes), used.astype(str))
    attrs = provenance(
        sweep=cfg.name,
        master_seed=cfg.seed,
        n=_n_text(cfg),
        wrt=cfg.sampling["wrt"],
        dtype=cfg.problem.get("dtype", "float64"),
        device=cfg.problem.get("device", "cpu"),
        reference=json.dumps(cfg.reference),
        problem_config=cfg.problem,
        config=cfg.to_json(),
        confidence=0.95,
        seed_rule="cell seed = task_seed(master_seed, seed)",
    )
    return describe(xr.Dataset(variables, coords=coords, attrs=attrs), 0.95)


def _n_text(cfg: SweepConfig) -> str:
    """The sampling's ``n`` as the attribute says it: the default, and the estimator tables that set their own
    (the ``n`` variable holds what every cell drew)."""
    own = [f"{b['name']}: {b['n']}" for b in cfg.estimators if "n" in b]
    text = f"{cfg.sampling['n']} per cell"
    return text + (f" ({'; '.join(own)}; the variable n holds each cell's)" if own else "")
