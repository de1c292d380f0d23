"""Running a study run by run: the pending runs here, on joblib workers or on a Dask cluster; each finished run's
record written atomically by this process as it arrives (``<out>.runs/<key>.json``), so an interrupted study (Ctrl-C,
SIGKILL, a lost client) loses only the runs in flight and the next call trains only the missing ones; then the
gathered netCDF."""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Mapping
from pathlib import Path

import xarray as xr

from gradlab.core.results import origin
from gradlab.study.config import StudyConfig, load_study
from gradlab.study.gather import gather
from gradlab.study.runs import Run, compute_run, plan_runs

__all__ = ["run_study", "dry_run"]


def _pending(cfg: StudyConfig, runs: list[Run]) -> list[Run]:
    return [r for r in runs if not (cfg.runs_dir / f"{r.key}.json").is_file()]


def _write(cfg: StudyConfig, record: dict) -> Path:
    from gradlab.core.atomic import atomic_write_text

    return atomic_write_text(cfg.runs_dir / f"{record['key']}.json", json.dumps(record))


def _parallel(cfg: StudyConfig, todo: list[Run], n_jobs: int, backend: str, scheduler: str | None):
    """Records of ``todo`` as they finish, on joblib workers (``backend``) or a dask.distributed cluster; the
    configuration and the run travel by value (no file of the client's is read there), a user's own estimators and
    problem kinds with them; a worker that dies costs only its run (Dask runs it elsewhere)."""
    import joblib

    from gradlab.core.parallel import joblib_backend
    from gradlab.sweep.remote import with_registrations

    task = with_registrations(compute_run)
    with joblib_backend(backend, n_jobs, scheduler):
        yield from joblib.Parallel(return_as="generator_unordered")(joblib.delayed(task)(cfg, run) for run in todo)


def _check_out(cfg: StudyConfig, overwrite: bool) -> None:
    """Refuse to replace a file at ``out`` that is not this study's result (unless ``overwrite``); check that its
    folder is writable, before any training."""
    from gradlab.core.atomic import check_writable

    check_writable(cfg.out.parent, "study", "out's folder")
    if overwrite or not cfg.out.exists():
        return
    try:
        with xr.open_dataset(cfg.out, engine="h5netcdf") as ds:
            theirs = json.loads(ds.attrs.get("config", "null"))
    except (OSError, ValueError, TypeError):
        theirs = None
    mine, theirs = _measured(json.loads(cfg.to_json())), _measured(theirs)
    keep = ("run", "out", "about")
    if not isinstance(theirs, dict):
        raise FileExistsError(
            f"study: out {cfg.out} exists and records no study configuration (not a gradlab study result); pass "
            "overwrite=True (--overwrite) to replace it, or choose another out"
        )
    if any(theirs.get(k) != mine[k] for k in mine if k not in keep):
        raise FileExistsError(
            f"study: out {cfg.out} exists and is not a result of this configuration; pass overwrite=True "
            "(--overwrite) to replace it, or choose another out"
        )


def _measured(config: object) -> object:
    """A study's configuration without the device its models ran on: training draws its noise on the CPU, so the
    device changes no number beyond float rounding, and a study may be resumed or rerun on another one."""
    if isinstance(config, dict) and isinstance(config.get("problem"), dict):
        return {**config, "problem": {k: v for k, v in config["problem"].items() if k != "device"}}
    return config


def run_study(
    config: StudyConfig | str | Path | Mapping,
    *,
    n_jobs: int | None = None,
    backend: str | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    overwrite: bool = False,
    max_runs: int | None = None,
) -> xr.Dataset | None:
    """Run (or resume) a study and write the gathered netCDF; returns the Dataset (``None`` when ``max_runs`` left
    runs undone). Runs in this process (``n_jobs = 1``, or a single run left), on joblib workers, or on a
    dask.distributed cluster (``backend="dask"``, ``scheduler`` its address, else a local cluster)."""
    from gradlab.core.results import write_netcdf
    from gradlab.sweep.config import check_run

    cfg = config if isinstance(config, StudyConfig) else load_study(config)
    n_jobs = n_jobs if n_jobs is not None else cfg.run.get("n_jobs", 1)
    backend = backend or cfg.run.get("backend", "loky")
    scheduler = scheduler or cfg.run.get("scheduler") or None
    check_run(n_jobs, backend, scheduler)
    _check_out(cfg, overwrite)
    runs = plan_runs(cfg)
    cfg.runs_dir.mkdir(parents=True, exist_ok=True)
    for stale in cfg.runs_dir.glob(".*.part"):  # temporaries of a killed study (never a finished run)
        stale.unlink(missing_ok=True)
    todo = _pending(cfg, runs)
    if max_runs is not None:
        todo = todo[:max_runs]
    done = len(runs) - len(_pending(cfg, runs))
    bar = _bar(cfg, len(runs), done, progress)
    t0 = time.perf_counter()
    try:
        if (n_jobs == 1 or len(todo) == 1) and backend != "dask":
            for run in todo:
                work = cfg.runs_dir / f"{run.key}.work" if cfg.trajectory is not None else None
                record = compute_run(cfg, run, on_epoch=_epoch_hook(bar, run, cfg), work_dir=work)
                _finished(cfg, record, bar)
                if work is not None:
                    shutil.rmtree(work, ignore_errors=True)  # the record holds what it measured
        else:
            for record in _parallel(cfg, todo, n_jobs, backend, scheduler):
                _finished(cfg, record, bar)
    finally:
        if bar is not None:
            bar.close()
    if _pending(cfg, runs):
        return None
    ds = gather(cfg, runs)
    ds.attrs["study_seconds_this_call"] = round(time.perf_counter() - t0, 1)
    ds.attrs["wall_time_s"] = ds.attrs["study_seconds_this_call"]  # as the analyses' scripts stamp it
    ds.attrs.update(origin(cfg.problem.get("device")))  # the command, the commit, the machine
    write_netcdf(ds, cfg.out)
    return ds


def _bar(cfg: StudyConfig, total: int, done: int, progress: bool):
    if not progress:
        return None
    from tqdm.auto import tqdm

    desc = f"study {cfg.name}" + (f" ({done} of {total} runs reused)" if done else "")
    return tqdm(total=total, initial=done, desc=desc, unit="run")


def _epoch_hook(bar, run: Run, cfg: StudyConfig):
    if bar is None:
        return None
    epochs = cfg.at(dict(zip(cfg.grid_axes(), run.point, strict=True)))[1]["epochs"]

    def hook(record: dict, params) -> None:
        bar.set_postfix_str(f"{run.label} seed {run.seed}: epoch {record['epoch']}/{epochs}")

    return hook


def _finished(cfg: StudyConfig, record: dict, bar) -> None:
    """Write the record (the client alone writes), then one line: the run and its final metric."""
    _write(cfg, record)
    if bar is None:
        return
    bar.update(1)
    last = (record.get("history") or [{}])[-1]
    metric = next((k for k in ("valid_accuracy", "valid_loss", "train_loss") if k in last), None)
    value = f"{metric} {last[metric]:.4g}" if metric else f"{record['seconds']:.0f} s"
    point = ", ".join(str(v) for v in record["point"])
    bar.write(f"{record['estimator']} seed {record['seed']}{f' [{point}]' if point else ''}: {value}")


def dry_run(cfg: StudyConfig, measure: bool = True) -> dict:
    """The plan without training: every problem is built (the configuration was checked when loaded), the runs are
    counted, and one epoch of the first run is timed for an estimate of the whole study's time (the first estimator's
    cost for every run: GR-MC and RF(m) cost more): its second epoch, the first paying the set-up."""
    runs = plan_runs(cfg)
    todo = _pending(cfg, runs)
    out = {"runs": len(runs), "pending": len(todo), "points": len(cfg.points())}
    if measure and todo:
        from gradlab.estimators import estimator
        from gradlab.problems.build import build_problem
        from gradlab.training import train

        first = todo[0]
        problem, settings = cfg.at(dict(zip(cfg.grid_axes(), first.point, strict=True)))
        model = build_problem({"init_seed": first.seed, **problem})
        t0 = time.perf_counter()
        result = train(model, estimator(first.estimator_name, **dict(first.hparams)), **{**settings, "epochs": 2})
        wall = time.perf_counter() - t0
        # the second epoch (the first pays the set-up), with its share of the evaluation
        trained = [r["seconds"] for r in result.history]
        epoch = (trained[1] - trained[0]) * wall / max(trained[1], 1e-9)
        epochs = settings["epochs"] * (1 if cfg.trajectory is None else 1.5)
        out["seconds_per_epoch"] = epoch
        out["estimate_seconds"] = epoch * epochs * len(todo) / max(1, math.floor(cfg.run.get("n_jobs", 1)))
    return out
