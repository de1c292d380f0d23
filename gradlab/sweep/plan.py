"""The cells of a sweep: one per (problem point, estimator setting, replicate), each named by a content hash of
everything that determines its result, so a finished cell is found again by a resumed sweep."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json

from gradlab.sweep.config import SweepConfig

__all__ = ["Cell", "content_hash", "plan_cells", "problem_config"]


@dataclasses.dataclass(frozen=True)
class Cell:
    point: tuple  # problem-axis values, in problem_axes() order
    estimator_name: str
    hparams: tuple  # sorted (key, value) pairs
    seed: int
    key: str  # content hash: the cell file's name

    @property
    def label(self) -> str:
        from gradlab.estimators import estimator

        return estimator(self.estimator_name, **dict(self.hparams)).label


def content_hash(obj) -> str:
    """A short stable hash of a JSON-able object (a cell's file name, a reference's)."""
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:20]


def plan_cells(cfg: SweepConfig) -> list[Cell]:
    """Every cell of the sweep (problem point x estimator setting x replicate), each with its content hash."""
    axes = cfg.problem_axes()
    points = list(itertools.product(*axes.values())) if axes else [()]
    fixed = {"problem": cfg.problem, "reference": cfg.reference, "sampling": cfg.sampling, "seed": cfg.seed}
    cells = []
    for point in points:
        for est in cfg.estimator_grid():
            hp = tuple(sorted(est.hparams().items()))
            for s in cfg.sampling["seeds"]:
                spec = {
                    **fixed,
                    "point": list(point),
                    "estimator": est.name,
                    "hparams": hp,
                    "replicate": s,
                    "n": cfg.n_for(est.label),
                }
                cells.append(Cell(tuple(point), est.name, hp, s, content_hash(spec)))
    return cells


def problem_config(cfg: SweepConfig, point: tuple) -> dict:
    """The problem's configuration at grid point ``point`` (the fixed keys and the point's axis values)."""
    out = dict(cfg.problem)
    out.update(dict(zip(cfg.problem_axes(), point, strict=True)))
    return out
