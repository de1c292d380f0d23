"""Training studies: every estimator setting of a grid trained with every seed on one model, the histories
gathered into one labelled data set (``estimator x seed x epoch``), as the papers' training tables and curves
need (ZGR Tables 1-3, Figs. 2-3; Decoupled ST Figs. 2-5).

Runs are independent processes' work (``n_jobs`` > 1: joblib's loky workers, one run each; ``backend="dask"``:
a ``dask.distributed`` scheduler, local or at ``scheduler``); the results come back to the calling process and
the data set is written atomically to ``out`` when given.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import xarray as xr

from gradlab.training.history import history_dataset
from gradlab.training.loop import TrainResult, train

__all__ = ["training_study", "estimator_settings"]


def estimator_settings(blocks: Sequence[Mapping]):
    """The estimators of sweep-style blocks (``{"name": "gs", "t": [0.5, 1]}`` is two settings)."""
    from gradlab.estimators import estimator
    from gradlab.sweep.config import expand_values

    out = []
    for i, block in enumerate(blocks):
        if "name" not in block:
            raise ValueError(f"estimators[{i}]: missing 'name'")
        keys = [k for k in block if k != "name"]
        values = [expand_values(block[k], f"estimators[{i}].{k}") for k in keys]
        out += [estimator(block["name"], **dict(zip(keys, combo, strict=True))) for combo in itertools.product(*values)]
    return out


def _one_run(problem: Mapping, est, seed: int, settings: Mapping) -> TrainResult:
    from gradlab.problems.build import build_problem

    # a fresh initialisation per seed (the papers' "random initializations"), unless the problem fixes it
    model = build_problem({"init_seed": seed, **problem})
    return train(model, est, seed=seed, **settings)


def training_study(
    problem: Mapping,
    estimators: Sequence[Mapping],
    *,
    seeds: Iterable[int] = (0, 1, 2),
    out: str | Path | None = None,
    n_jobs: int = 1,
    backend: str = "loky",
    scheduler: str | None = None,
    **train_settings,
) -> xr.Dataset:
    """Train ``problem`` (a registry configuration) with every setting of ``estimators`` and every seed (the
    seed sets both the initialisation, unless ``problem`` fixes ``init_seed``, and the training noise); returns
    :func:`history_dataset` of all runs. ``train_settings``: :func:`gradlab.training.train`'s keywords."""
    from gradlab.core import checks as _checks
    from gradlab.problems.build import build_problem
    from gradlab.sweep.config import check_run

    check_run(n_jobs, backend, scheduler)
    ests = estimator_settings(estimators)
    seeds = [_checks.integer("training_study", "seeds", s, 0) for s in seeds]
    if not ests or not seeds:
        raise ValueError("training_study: needs at least one estimator setting and one seed")
    build_problem(problem)  # a bad configuration fails here, before any training
    jobs = [(est, s) for est in ests for s in seeds]
    if n_jobs == 1 and backend != "dask":
        results = [_one_run(problem, est, s, train_settings) for est, s in jobs]
    else:
        results = _parallel(problem, jobs, train_settings, n_jobs, backend, scheduler)
    ds = history_dataset(results)
    if out is not None:
        from gradlab.core.results import write_netcdf

        write_netcdf(ds, out)
    return ds


def _parallel(problem, jobs, settings, n_jobs: int, backend: str, scheduler: str | None) -> list[TrainResult]:
    """The runs on joblib workers; ``backend="dask"``: on a ``dask.distributed`` scheduler (``scheduler``: its
    address, else a local cluster of ``n_jobs`` worker processes). Each run's result travels back to this
    process: workers need the data set (by path for the real ones), not a shared file system."""
    import joblib

    from gradlab.core.parallel import joblib_backend
    from gradlab.sweep.remote import with_registrations

    task = with_registrations(_one_run)  # a user's own estimators and problem kinds travel with it
    with joblib_backend(backend, n_jobs, scheduler):
        return joblib.Parallel()(joblib.delayed(task)(problem, est, s, settings) for est, s in jobs)
