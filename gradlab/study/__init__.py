"""Training studies run by run (``gradlab study``): a grid of problems x estimator settings x seeds, each run's
record written as it finishes (resumable after Ctrl-C or SIGKILL), on one machine or a Dask cluster; the papers'
experiments ship as configurations at every scale of the ladder (:mod:`gradlab.study.library`)."""

from __future__ import annotations

from gradlab.study.config import StudyConfig, load_study
from gradlab.study.execute import dry_run, run_study
from gradlab.study.library import describe, experiment_source, experiments
from gradlab.study.runs import Run, compute_run, plan_runs

LAYER = 8  # this folder's layer, bottom up (tests/test_layers.py, docs/ARCHITECTURE.md)

__all__ = [
    "StudyConfig",
    "load_study",
    "run_study",
    "dry_run",
    "plan_runs",
    "compute_run",
    "Run",
    "experiments",
    "experiment_source",
    "describe",
]
