"""What a sweep cell needs by value (:func:`cell_inputs`: snapshot bytes, reference samples drawn once on the
client) and computing it where it runs (:func:`compute_cell`, no file of the client's read or written;
:func:`run_cell` runs one here and writes it). A :class:`Memo`, owned by the caller, keeps what several cells of
one process share (the problem, the exact gradient); no state is kept between calls otherwise."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from gradlab.core import names as N
from gradlab.core.atomic import atomic_write_text
from gradlab.core.noise import task_seed
from gradlab.sweep.config import SweepConfig
from gradlab.sweep.plan import Cell, content_hash, problem_config

__all__ = ["Memo", "cell_inputs", "compute_cell", "compute_cells", "run_cell", "sample_reference", "write_cell"]

PARAM_STATS_MAX_DIM = 64  # keep per-parameter means/stds when the gradient has at most this many entries


class Memo:
    """Values several cells in one process share (a built problem, an exact gradient, reference samples), by key;
    at most ``size`` of them (cleared when full). Owned by whoever runs the cells: :func:`run_sweep` keeps one per
    sweep, a worker's task one per batch of cells."""

    def __init__(self, size: int = 16):
        self.size, self._values = size, {}

    def get(self, key: Hashable, make: Callable):
        """The value under ``key``, made by ``make()`` the first time."""
        if key not in self._values:
            if len(self._values) >= self.size:
                self._values.clear()
            self._values[key] = make()
        return self._values[key]


def _reference_path(cfg: SweepConfig, point: tuple) -> Path:
    wrt = cfg.sampling["wrt"]
    return cfg.cells_dir / f"reference-{content_hash([problem_config(cfg, point), cfg.reference, wrt, cfg.seed])}.pt"


def sample_reference(cfg: SweepConfig, point: tuple, problem) -> dict:
    """The reference estimator's samples at ``point`` (``[reference] kind = "estimator"``), as the tensors of a
    :class:`~gradlab.measure.stats.GradientStats`: drawn once with seed ``task_seed(master seed, 10^6)`` and kept in the
    cells folder, so a resumed sweep reuses them. Runs on the client."""
    from gradlab.core.atomic import atomic_write_with
    from gradlab.estimators import estimator
    from gradlab.measure.sampler import sample_gradients

    path = _reference_path(cfg, point)
    if path.is_file():
        return torch.load(path, weights_only=True)
    ref = cfg.reference
    hp = {k: v for k, v in ref.items() if k not in ("kind", "name", "n", "max_configurations")}
    stats = sample_gradients(
        problem,
        estimator(ref.get("name", "reinforce"), **(hp or {"m": 4})),
        int(ref.get("n", 10_000)),
        task_seed(cfg.seed, 10**6),
        wrt=cfg.sampling["wrt"],
        bootstrap=int(cfg.sampling.get("bootstrap", 0)),
    )
    state = stats.to_dict()
    atomic_write_with(path, lambda tmp: torch.save(state, tmp), suffix=".pt")
    return state


def cell_inputs(cfg: SweepConfig, points: Sequence[tuple]) -> dict[tuple, dict]:
    """What the cells of each problem point need besides the configuration, by value, so that a worker needs no
    file of the client's: the snapshot files the problem reads (``files``) and, for a reference estimator, its
    samples (``reference``, computed here once per point). Data sets by path are read where the cell runs."""
    from gradlab.problems.build import build_problem
    from gradlab.problems.snapshots import snapshot_files, snapshots_in_memory

    out = {}
    for point in dict.fromkeys(points):
        pcfg = problem_config(cfg, point)
        files = snapshot_files(pcfg["snapshot"]) if pcfg.get("snapshot") else {}
        inputs = {"files": files, "exact": cfg.reference["kind"] == "exact"}
        if cfg.reference["kind"] != "exact":
            with snapshots_in_memory(files):
                problem = build_problem(pcfg)
            inputs["exact"] = cfg.reference["kind"] == "auto" and enumerable(problem, cfg.reference)
            if not inputs["exact"]:
                inputs["reference"] = sample_reference(cfg, point, problem)
        out[point] = inputs
    return out


def enumerable(problem, reference: Mapping) -> bool:
    """Whether ``reference = {"kind": "auto", ...}`` takes exact gradients for ``problem``: its configurations (per
    element where it declares ``elements_independent``) within ``max_configurations`` (default: the exact
    engine's)."""
    from gradlab.measure.exact import DEFAULT_MAX_CONFIGURATIONS

    return problem.num_configurations() <= int(reference.get("max_configurations", DEFAULT_MAX_CONFIGURATIONS))


def _reference(cfg: SweepConfig, point: tuple, problem, est, inputs: Mapping, memo: Memo):
    """The exact gradient of the estimator's own target, or the reference estimator's samples (from ``inputs``)."""
    from gradlab.measure.exact import exact_gradient
    from gradlab.measure.stats import GradientStats

    wrt = cfg.sampling["wrt"]
    own_target = not est.targets_model_objective  # decoupled_st with tau_f != 1
    if inputs.get("exact", cfg.reference["kind"] == "exact"):
        tag = est.target if own_target else None
        key = ("exact", content_hash(problem_config(cfg, point)), wrt, tag)
        return memo.get(key, lambda: exact_gradient(problem, wrt, estimator=est if own_target else None))
    if own_target:
        raise ValueError(
            "sweep: decoupled_st with tau_f != 1 targets softmax(logits/tau_f); measure it against an exact "
            'reference ([reference] kind = "exact")'
        )
    key = ("samples", content_hash(problem_config(cfg, point)), wrt, content_hash(cfg.reference), cfg.seed)
    return memo.get(key, lambda: GradientStats.from_dict(inputs["reference"]))


def compute_cell(
    cfg: SweepConfig, cell: Cell, inputs: Mapping | None = None, threads: int | None = None, memo: Memo | None = None
):
    """Compute one cell where it runs (this process, a joblib worker or a Dask worker) and return
    ``(cell key, record)``. It reads no file of the client's and writes none: the snapshot files and the
    reference samples come in ``inputs`` (:func:`cell_inputs`), and the client writes the record. ``memo``: what
    earlier cells of this process built (default: nothing)."""
    from gradlab.analysis.bias_variance import summaries
    from gradlab.estimators import estimator
    from gradlab.measure.sampler import sample_gradients
    from gradlab.problems.build import build_problem
    from gradlab.problems.snapshots import snapshots_in_memory

    inputs = inputs if inputs is not None else cell_inputs(cfg, [cell.point])[cell.point]
    memo = memo if memo is not None else Memo()
    if threads:
        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    pcfg = problem_config(cfg, cell.point)
    with snapshots_in_memory(inputs.get("files", {})):
        problem = memo.get(("problem", content_hash(pcfg)), lambda: build_problem(pcfg))
    est = estimator(cell.estimator_name, **dict(cell.hparams))
    sp = cfg.sampling
    ref = _reference(cfg, cell.point, problem, est, inputs, memo)
    n = cfg.n_for(est.label)
    auto = {}
    if n == "auto":
        auto = {k: sp[k] for k in ("rtol", "min_n", "max_n", "precision_of")}
        auto["reference"] = ref
    stats = sample_gradients(
        problem,
        est,
        n,
        task_seed(cfg.seed, cell.seed),
        wrt=sp["wrt"],
        bootstrap=int(sp.get("bootstrap", 0)),
        chunk_size=sp.get("chunk_size") or None,
        **auto,
    )
    if n == "auto":
        n = stats.n
    record = {
        k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in summaries(stats, ref, 0.95).items()
    }
    if stats.dim <= PARAM_STATS_MAX_DIM:
        ref_mean = ref.mean if hasattr(ref, "mean") and not isinstance(ref, torch.Tensor) else ref
        record["grad_mean"] = stats.mean.tolist()
        record["grad_std"] = stats.std.tolist()
        record["reference_mean"] = ref_mean.to(torch.float64).cpu().tolist()
    if sp.get("gradient_gap") and est.pathwise:
        from gradlab.analysis.gradient_gap import gradient_gap

        record[N.GAP] = record[N.GAP_SE] = None  # defined only where the backward goes through a relaxed point
        if est.has_relaxed_sample:
            gap = gradient_gap(problem, est, n, task_seed(cfg.seed, cell.seed), wrt=sp["wrt"])
            record[N.GAP], record[N.GAP_SE] = float(gap.mean[0]), float((gap.var[0] / gap.n) ** 0.5)
    record[N.SECONDS] = time.perf_counter() - t0
    record["cell"] = {
        "point": list(cell.point),
        "estimator": cell.estimator_name,
        "hparams": dict(cell.hparams),
        "seed": cell.seed,
        "label": est.label,
    }
    record["param_labels"] = stats.layout.labels() if stats.dim <= PARAM_STATS_MAX_DIM else None
    record["problem"] = problem.config_json()
    record["target"] = est.target
    record["reference_used"] = "exact" if inputs.get("exact", cfg.reference["kind"] == "exact") else "samples"
    return cell.key, record


def compute_cells(
    cfg: SweepConfig, cells: Sequence[Cell], inputs: Mapping, threads: int | None = None
) -> list[tuple[str, dict]]:
    """:func:`compute_cell` for several cells (one worker task), sharing one :class:`Memo`; their records."""
    memo = Memo()
    return [compute_cell(cfg, c, inputs[c.point], threads, memo) for c in cells]


def run_cell(cfg: SweepConfig, cell: Cell, threads: int | None = None) -> dict:
    """Run one cell in this process and write its file (or read it back if it is already done); its record."""
    path = cfg.cells_dir / f"{cell.key}.json"
    if path.is_file():
        return json.loads(path.read_text())
    _, record = compute_cell(cfg, cell, threads=threads)
    write_cell(cfg, cell.key, record)
    return record


def write_cell(cfg: SweepConfig, key: str, record: dict) -> None:
    """Write a cell's record atomically (by the client only)."""
    atomic_write_text(cfg.cells_dir / f"{key}.json", json.dumps(record, default=float))
