"""The runs of a study (grid point x estimator setting x seed), each named by a hash of everything that decides
its numbers, and what one run computes where it runs (this process, a loky worker, a Dask worker): a training run
(its history), or a training run measured along the way (``[trajectory]``). A run on a worker reads no file of the
client's and writes none; its record comes back by value. A trajectory run in the client's own process keeps its
snapshots and sweep cells in ``<out>.runs/<key>.work/`` until its record is written, so an interrupted call resumes
it there."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from gradlab.study.config import StudyConfig

__all__ = ["Run", "plan_runs", "compute_run"]


@dataclasses.dataclass(frozen=True)
class Run:
    point: tuple  # the grid point's values, in the order of StudyConfig.grid_axes()
    estimator_name: str
    hparams: tuple
    seed: int
    key: str  # a content hash: the record's file name; another configuration of the run gets another key

    @property
    def label(self) -> str:
        from gradlab.estimators import estimator

        return estimator(self.estimator_name, **dict(self.hparams)).label


def _hash(obj) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:20]


def plan_runs(cfg: StudyConfig) -> list[Run]:
    """Every run of the study, keyed by what decides its numbers: the problem and the training settings at its
    point, the estimator, the seed and the trajectory's settings (not the study's name, output, workers or device:
    training draws its noise on the CPU, so a run's numbers do not depend on where it ran)."""
    runs = []
    axes = cfg.grid_axes()
    for point in cfg.points():
        problem, train = cfg.at(point)
        measured = {k: v for k, v in problem.items() if k != "device"}  # the device changes no number it records
        for est in cfg.estimator_grid():
            hp = tuple(sorted(est.hparams().items()))
            for seed in cfg.seeds:
                what = {"problem": measured, "train": train, "estimator": est.name, "hparams": hp, "seed": seed}
                if cfg.trajectory is not None:
                    what["trajectory"] = cfg.trajectory
                values = tuple(point[a] for a in axes)
                runs.append(Run(values, est.name, hp, seed, _hash(what)))
    return runs


def compute_run(cfg: StudyConfig, run: Run, on_epoch=None, work_dir: Path | None = None) -> dict:
    """One run where it runs: ``{"key", "point", "estimator", ..., "history", "initial", "settings", "problem",
    "seconds"}``, and ``"trajectory"`` (a Dataset as a dict) for a study with ``[trajectory]``. ``work_dir``: a
    folder of the trajectory's snapshots and sweep cells that outlives an interrupted call (the client's own
    runs; a temporary folder otherwise)."""
    from gradlab.estimators import estimator
    from gradlab.problems.build import build_problem
    from gradlab.training import train

    t0 = time.perf_counter()
    problem, settings = cfg.at(dict(zip(cfg.grid_axes(), run.point, strict=True)))
    est = estimator(run.estimator_name, **dict(run.hparams))
    record = {
        "key": run.key,
        "point": [list(v) if isinstance(v, tuple) else v for v in run.point],
        "estimator": est.label,
        "estimator_name": run.estimator_name,
        "hparams": dict(run.hparams),
        "seed": run.seed,
    }
    # a fresh initialisation per seed (the papers' "random initializations"), unless the problem fixes it
    config = {"init_seed": run.seed, **problem}
    if cfg.trajectory is None:
        result = train(build_problem(config), est, seed=run.seed, on_epoch=on_epoch, **settings)
        record.update(history=result.history, initial=result.initial, settings=result.settings, problem=result.problem)
    else:
        record["trajectory"] = _trajectory(cfg.trajectory, config, est, run.seed, settings, work_dir)
    record["seconds"] = time.perf_counter() - t0
    return json.loads(json.dumps(record, default=_plain))


def _trajectory(spec: Mapping, problem: Mapping, est, seed: int, settings: Mapping, work_dir=None) -> dict:
    """``trajectory_study`` of one training run, its snapshots and cells in ``work_dir`` (resumable), else in a
    folder of this process's own (removed after)."""
    from gradlab.training import trajectory_study

    with contextlib.ExitStack() as stack:
        if work_dir is None:
            work_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="gradlab-trajectory-"))
        ds = trajectory_study(
            dict(problem),
            est,
            spec["at_epochs"],
            spec["estimators"],
            out_dir=work_dir,
            reference=spec.get("reference"),
            n=int(spec.get("n", 1000)),
            wrt=spec.get("wrt", "all"),
            bootstrap=int(spec.get("bootstrap", 0)),
            seed=seed,
            train_settings=dict(settings),
        )
        return ds.to_dict()


def _plain(o):
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)
