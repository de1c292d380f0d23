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

The modules, in the order a sweep uses them: :mod:`~gradlab.sweep.config` (the schema, grid expansion,
validation), :mod:`~gradlab.sweep.plan` (the cells and their content hashes), :mod:`~gradlab.sweep.cells` (what a
cell needs by value, and computing it where it runs), :mod:`~gradlab.sweep.execute` (here, on joblib workers or on
a Dask cluster; resumable) and :mod:`~gradlab.sweep.gather` (the cell files into one Dataset). No module keeps
state between calls: what a process reuses across cells (a problem, an exact gradient) lives in a
:class:`~gradlab.sweep.cells.Memo` owned by the caller.
"""

from gradlab.sweep.cells import Memo, cell_inputs, compute_cell, compute_cells, run_cell, sample_reference, write_cell
from gradlab.sweep.config import SweepConfig, expand_values, load_config
from gradlab.sweep.execute import run_sweep
from gradlab.sweep.gather import gather
from gradlab.sweep.plan import Cell, plan_cells

LAYER = 6  # this folder's layer, bottom up (tests/test_layers.py, docs/ARCHITECTURE.md)

__all__ = [
    "SweepConfig",
    "load_config",
    "expand_values",
    "run_sweep",
    "plan_cells",
    "Cell",
    "Memo",
    "compute_cell",
    "compute_cells",
    "cell_inputs",
    "run_cell",
    "sample_reference",
    "write_cell",
    "gather",
]
