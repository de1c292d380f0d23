"""Running a sweep: the pending cells here, on joblib workers or on a Dask cluster, each record written by this
process as it arrives (resumable), then the gathered netCDF."""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path

import xarray as xr

from gradlab.core.atomic import check_writable
from gradlab.core.parallel import joblib_backend
from gradlab.core.results import write_netcdf
from gradlab.sweep.cells import Memo, cell_inputs, compute_cell, compute_cells, write_cell
from gradlab.sweep.config import SweepConfig, check_run, load_config
from gradlab.sweep.gather import gather
from gradlab.sweep.plan import Cell, plan_cells
from gradlab.sweep.remote import with_registrations

__all__ = ["run_sweep"]

CLIENT_ONLY = Path("/gradlab-client-only/sweep.nc")  # what workers see as the output path: nothing to write to


def _parallel(cfg: SweepConfig, todo: list[Cell], inputs: dict, n_jobs: int, backend: str, scheduler: str | None):
    """Records ``(key, record)`` of ``todo`` as they finish, computed by joblib workers (``backend``), or on a
    dask.distributed cluster (``backend="dask"``: the scheduler at ``scheduler``, else a local cluster of
    ``n_jobs`` worker processes). Workers get the configuration without the output path and the inputs by value;
    the records come back here. A worker that dies costs only its running cells: Dask runs them elsewhere."""
    import joblib

    remote = dataclasses.replace(cfg, out=CLIENT_ONLY)
    threads = max(1, (os.cpu_count() or 1) // max(1, n_jobs)) if n_jobs > 1 else None
    task = with_registrations(compute_cells)  # a user's own estimators and problem kinds travel with it
    tasks = (
        joblib.delayed(task)(remote, batch, {batch[0].point: inputs[batch[0].point]}, threads)
        for batch in _batches(todo, n_jobs)
    )
    with joblib_backend(backend, n_jobs, scheduler):
        for records in joblib.Parallel(return_as="generator_unordered")(tasks):
            yield from records


def _batches(todo: list[Cell], n_jobs: int) -> list[list[Cell]]:
    """Worker tasks: the cells of one problem point (which share a problem and a reference through the task's
    :class:`Memo`), split so that each point still gives every worker a task (at least ``n_jobs`` per point)."""
    by_point: dict[tuple, list[Cell]] = {}
    for c in todo:
        by_point.setdefault(c.point, []).append(c)
    out = []
    for cells in by_point.values():
        size = math.ceil(len(cells) / max(1, n_jobs))
        out.extend(cells[i : i + size] for i in range(0, len(cells), size))
    return out


def check_out(cfg: SweepConfig, overwrite: bool = False) -> None:
    """Refuse, in one line, to replace a file at ``cfg.out`` that is not a result of this configuration (another
    file, or a sweep with other settings; where it runs, ``[run]``, does not count), unless ``overwrite``."""
    if overwrite or not cfg.out.exists():
        return
    why = None
    if not cfg.out.is_file():
        why = "is not a file"
    else:
        try:
            with xr.open_dataset(cfg.out, engine="h5netcdf") as ds:
                theirs = json.loads(ds.attrs.get("config", "null"))
        except (OSError, ValueError, TypeError):
            theirs, why = None, "is not a gradlab result"
        if why is None:
            mine = json.loads(cfg.to_json())
            if not isinstance(theirs, dict):
                why = "is not a gradlab sweep result"
            else:
                differ = sorted(k for k in mine if k != "run" and theirs.get(k) != mine[k])
                why = f"is a result of other settings ({', '.join(differ)})" if differ else None
    if why:
        raise FileExistsError(
            f"sweep: out {cfg.out} exists and {why}; pass overwrite=True (--overwrite) to replace it, or choose "
            "another out"
        )


def run_sweep(
    config: SweepConfig | str | Path | Mapping,
    *,
    n_jobs: int | None = None,
    backend: str | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    max_cells: int | None = None,
    overwrite: bool = False,
) -> xr.Dataset | None:
    """Run (or resume) a sweep and write the gathered netCDF; returns the Dataset.

    Cells run in this process (``n_jobs = 1``), on joblib workers, or on a dask.distributed cluster
    (``backend="dask"``, ``scheduler="tcp://HOST:8786"`` or the file's ``[run] scheduler``; none: a local cluster
    of worker processes). Only this process reads the output folder and writes files: each record is written
    as it arrives, so an interrupted sweep loses only the cells still running. ``max_cells`` runs at most that
    many pending cells and returns ``None`` (a partial sweep, for tests and for spreading work over sessions).
    An existing ``out`` that is not a result of this configuration is an error unless ``overwrite``.
    """
    cfg = config if isinstance(config, SweepConfig) else load_config(config)
    check_out(cfg, overwrite)
    n_jobs = n_jobs if n_jobs is not None else cfg.run.get("n_jobs", 1)
    backend = backend or cfg.run.get("backend", "loky")
    scheduler = scheduler or cfg.run.get("scheduler") or None
    check_run(n_jobs, backend, scheduler)  # (the command line's values too, before any work)
    check_writable(cfg.out.parent, "sweep", "out's folder")
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
                memo = Memo()  # this sweep's cells share built problems and exact gradients
                records = (compute_cell(cfg, c, inputs[c.point], memo=memo) for c in todo)
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
