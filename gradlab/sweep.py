"""Sweeps: a grid of problems x estimator settings x seeds, run cell by cell, resumable, gathered into one
netCDF file (``gradlab sweep CONFIG.toml``).

A configuration (TOML; see ``analyses/*.toml``)::

    name = "zgr-fig1"
    seed = 0                                   # master seed: cell seeds derive from it
    out = "results/zgr_fig1.nc"

    [problem]                                  # gradlab.problems.build_problem keys; a list, or a
    kind = "vae"                               # {linspace|logspace = [a, b, n]} table, makes a grid axis
    num_vars = 4
    num_classes = 8

    [reference]                                # "exact" (default) or samples of an unbiased estimator
    kind = "exact"                             # kind = "estimator", name = "reinforce", m = 4, n = 10000

    [sampling]
    n = 10000                                  # samples per cell; "auto": until the interval is narrow
    # rtol = 0.1                               # (with n = "auto") relative half-width to reach, of
    # precision_of = "variance"                # "variance" or "bias2"; min_n = 1000, max_n = 100000
    seeds = [0]                                # replicate ids (a "seed" dimension)
    wrt = "all"
    bootstrap = 100                            # Poisson bootstrap replicates (confidence intervals)
    gradient_gap = false                       # also measure the gradient gap where defined

    [[estimators]]                             # one table per family; lists / ranges make a grid
    name = "gs_st"
    t = {logspace = [0.01, 2.0, 8]}

    [run]
    n_jobs = 1                                 # joblib workers
    backend = "loky"                           # any joblib backend; "dask" runs on a dask.distributed
    scheduler = ""                             # cluster (address; empty: a local cluster)

Every finished cell is written atomically to ``<out>.cells/<hash>.json`` (the hash covers everything that
determines the cell), so a killed sweep resumes where it stopped; the gathered Dataset has dimensions
``(*problem axes, estimator, seed)``. Cell ``(point, estimator, seed s)`` samples with seed
``task_seed(master seed, s)``: results do not depend on the number of workers or their order.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from . import names as N
from .parallel import joblib_backend
from .results import describe, estimator_coords, provenance, write_netcdf
from .sweep_cells import (
    Cell,
    cell_inputs,
    compute_cell,
    plan_cells,
    sample_reference,
    write_cell,
)
from .sweep_config import SweepConfig, expand_values, load_config

__all__ = [
    "SweepConfig",
    "load_config",
    "expand_values",
    "run_sweep",
    "plan_cells",
    "Cell",
    "compute_cell",
    "cell_inputs",
    "sample_reference",
]

CLIENT_ONLY = Path("/gradlab-client-only/sweep.nc")  # what workers see as the output path: nothing to write to


def _parallel(cfg: SweepConfig, todo: list[Cell], inputs: dict, n_jobs: int, backend: str, scheduler: str | None):
    """Records ``(key, record)`` of ``todo`` as they finish, computed by joblib workers (``backend``), or on a
    dask.distributed cluster (``backend="dask"``: the scheduler at ``scheduler``, else a local cluster of
    ``n_jobs`` worker processes). Workers get the configuration without the output path and the inputs by value;
    the records come back here. A worker that dies costs only its running cells: Dask runs them elsewhere."""
    import joblib

    remote = dataclasses.replace(cfg, out=CLIENT_ONLY)
    threads = max(1, (os.cpu_count() or 1) // max(1, n_jobs)) if n_jobs > 1 else None
    tasks = (joblib.delayed(compute_cell)(remote, c, inputs[c.point], threads) for c in todo)
    with joblib_backend(backend, n_jobs, scheduler):
        yield from joblib.Parallel(return_as="generator_unordered")(tasks)


def run_sweep(
    config: SweepConfig | str | Path | Mapping,
    *,
    n_jobs: int | None = None,
    backend: str | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    max_cells: int | None = None,
) -> xr.Dataset | None:
    """Run (or resume) a sweep and write the gathered netCDF; returns the Dataset.

    Cells run in this process (``n_jobs = 1``), on joblib workers, or on a dask.distributed cluster
    (``backend="dask"``, ``scheduler="tcp://HOST:8786"`` or the file's ``[run] scheduler``; none: a local cluster
    of worker processes). Only this process reads the output folder and writes files: each record is written
    as it arrives, so an interrupted sweep loses only the cells still running. ``max_cells`` runs at most that
    many pending cells and returns ``None`` (a partial sweep, for tests and for spreading work over sessions).
    """
    cfg = config if isinstance(config, SweepConfig) else load_config(config)
    n_jobs = int(n_jobs if n_jobs is not None else cfg.run.get("n_jobs", 1))
    backend = backend or cfg.run.get("backend", "loky")
    scheduler = scheduler or cfg.run.get("scheduler") or None
    cells = plan_cells(cfg)
    created = not cfg.cells_dir.exists()
    cfg.cells_dir.mkdir(parents=True, exist_ok=True)
    for stale in cfg.cells_dir.glob(".*.part"):  # temporaries of a killed run (never a finished cell)
        stale.unlink(missing_ok=True)
    todo = [c for c in cells if not (cfg.cells_dir / f"{c.key}.json").is_file()]
    done = len(cells) - len(todo)
    if max_cells is not None:
        todo = todo[:max_cells]
    bar = None
    try:
        if todo:
            inputs = cell_inputs(cfg, [c.point for c in todo])
            if n_jobs == 1 and backend != "dask":
                records = (compute_cell(cfg, c, inputs[c.point]) for c in todo)
            else:
                records = _parallel(cfg, todo, inputs, n_jobs, backend, scheduler)
            if progress:
                from tqdm.auto import tqdm

                desc = f"sweep {cfg.name}" + (f" ({done} of {len(cells)} cells reused)" if done else "")
                bar = tqdm(total=done + len(todo), initial=done, desc=desc, unit="cell")
            for key, record in records:
                write_cell(cfg, key, record)
                if bar is not None:
                    bar.update(1)
    except BaseException:
        if created and not any(cfg.cells_dir.iterdir()):  # nothing finished: leave no empty folder behind
            cfg.cells_dir.rmdir()
        raise
    finally:
        if bar is not None:
            bar.close()
    if max_cells is not None and len([c for c in cells if not (cfg.cells_dir / f"{c.key}.json").is_file()]):
        return None
    ds = gather(cfg, cells)
    write_netcdf(ds, cfg.out)
    return ds


def gather(cfg: SweepConfig, cells: Sequence[Cell]) -> xr.Dataset:
    """One Dataset from the cell files: dims (*problem axes, estimator, seed)."""
    axes = cfg.problem_axes()
    ests = cfg.estimator_grid()
    labels = [e.label for e in ests]
    seeds = cfg.sampling["seeds"]
    records = {c.key: json.loads((cfg.cells_dir / f"{c.key}.json").read_text()) for c in cells}
    non_scalar = {"cell", "param_labels", "problem", "target", "grad_mean", "grad_std", "reference_mean"}
    scalar_keys = sorted({k for r in records.values() for k in r} - non_scalar)
    shape = [len(v) for v in axes.values()] + [len(labels), len(seeds)]
    dims = list(axes) + [N.ESTIMATOR, N.SEED]
    data = {k: np.full(shape, np.nan) for k in scalar_keys}
    param_labels = next((r["param_labels"] for r in records.values() if r.get("param_labels")), None)
    if param_labels:
        for k in ("grad_mean", "grad_std", "reference_mean"):
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
        if param_labels:
            for k in ("grad_mean", "grad_std", "reference_mean"):
                data[k][pos] = r[k]
    variables = {k: (dims, v) for k, v in data.items() if k not in ("grad_mean", "grad_std", "reference_mean")}
    if param_labels:
        for k in ("grad_mean", "grad_std", "reference_mean"):
            variables[k] = ([*dims, N.PARAM], data[k])
    if N.N_SAMPLES in variables:
        variables[N.N_SAMPLES] = (dims, np.nan_to_num(data[N.N_SAMPLES]).astype(np.int64))
    coords = estimator_coords(labels, [e.name for e in ests], [e.hparams() for e in ests])
    coords[N.TARGET] = (N.ESTIMATOR, [e.target for e in ests])
    coords[N.SEED] = seeds
    for k, vals in axes.items():
        coords[k] = vals
    if param_labels:
        coords[N.PARAM] = param_labels
    problems = np.full([len(v) for v in axes.values()], "", dtype=object)
    for c in cells:
        problems[positions[tuple(c.point)]] = records[c.key].get("problem") or ""
    coords[N.PROBLEM] = (list(axes), problems.astype(str))
    attrs = provenance(
        sweep=cfg.name,
        master_seed=cfg.seed,
        n=str(cfg.sampling["n"]),
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
