"""What the training checks share: the registry of checks on training histories (each names the files it reads and
the claims it decides), the files and the commands that write them, and the papers' interval notation.

A check is a function ``fn(data, setting) -> [CheckResult]`` registered with :func:`training_check`, where ``data``
maps each file it reads to its ``xarray.Dataset``; ``gradlab.theory.training_group`` runs every registered check on
every scale whose histories hold its files, and reports its claims ``not checked`` (naming the command that
writes the missing file) where they are missing.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

import numpy as np

from gradlab.theory.core import CheckResult

__all__ = ["TrainingCheck", "TRAINING_CHECKS", "TRAINING_FILES", "training_check"]

_TABLES = "python analyses/zgr_training_tables.py"
_GRIDS = "python analyses/decoupled_training_grids.py --task"
# file in a scale's folder of histories -> the command that writes it (at the digits scale; --scale names others)
TRAINING_FILES = {
    "zgr_table_vae.nc": f"{_TABLES} --model vae",
    "zgr_table_hvae.nc": f"{_TABLES} --model hvae",
    "zgr_fig2.nc": "python analyses/zgr_fig2_temperature.py",
    "zgr_table3.nc": "python analyses/zgr_table3_quantized.py",
    "zgr_fig4_quantized.nc": "python analyses/zgr_fig4_quantized.py",
    "zgr_figB4_hvae.nc": "python analyses/zgr_figB4_trajectory.py --model hvae",
    "decoupled_shah_recon.nc": f"{_GRIDS} shah_recon",
    "decoupled_shah_schedules.nc": f"{_GRIDS} shah_schedules",
    "decoupled_shah_gen.nc": f"{_GRIDS} shah_gen",
    "decoupled_shah_gen_kl_model.nc": f"{_GRIDS} shah_gen --kl model",
    "decoupled_sbn.nc": f"{_GRIDS} sbn",
    "decoupled_cae.nc": f"{_GRIDS} cae",
    "decoupled_logic.nc": f"{_GRIDS} logic",
}


@dataclasses.dataclass(frozen=True)
class TrainingCheck:
    """One check on training histories: the claim ids it decides, the files it reads, the function."""

    claims: tuple[str, ...]
    files: tuple[str, ...]
    fn: Callable


TRAINING_CHECKS: list[TrainingCheck] = []


def training_check(*files: str, claims: tuple[str, ...]):
    """Register ``fn(data, setting)`` as the check of ``claims`` on the histories ``files`` (names in
    :data:`TRAINING_FILES`)."""
    unknown = [f for f in files if f not in TRAINING_FILES]
    if unknown:
        raise ValueError(f"training_check: files must be among TRAINING_FILES, got {unknown}")

    def register(fn):
        TRAINING_CHECKS.append(TrainingCheck(tuple(claims), tuple(files), fn))
        return fn

    return register


# ----------------------------------------------------------------------------------------- intervals
class _Iv:
    """A setting's final value: mean over seeds +- (max - min) / 2 (the papers' notation)."""

    def __init__(self, values: np.ndarray):
        v = np.asarray(values, float)
        self.mean, self.half = float(v.mean()), float((v.max() - v.min()) / 2)

    def above(self, other: _Iv) -> bool:
        return self.mean - self.half > other.mean + other.half

    def below(self, other: _Iv) -> bool:
        return self.mean + self.half < other.mean - other.half

    def __str__(self) -> str:
        return f"{self.mean:.4g} ± {self.half:.2g}"


def _final(ds, metric: str, label) -> _Iv:
    return _Iv(ds[metric].sel(estimator=label).isel(epoch=-1).values)


def _labels(ds, family: str, **hp) -> list[str]:
    """The estimator labels of ``family`` whose hyper-parameter coordinates equal ``hp``."""
    keep = ds["family"].values == family
    for k, v in hp.items():
        keep &= np.isclose(ds[k].values.astype(float), v)
    return [str(x) for x in ds["estimator"].values[keep]]


def _better(a: _Iv, b: _Iv, higher: bool) -> bool:
    return a.above(b) if higher else a.below(b)


def _spearman(x, y) -> float:
    from scipy import stats

    return float(stats.spearmanr(x, y)[0])


def _setting(name: str, ds) -> str:
    """What a verdict rests on: the file, its data set, seeds, epochs and when it was written."""
    try:
        data = json.loads(ds.attrs.get("problem", "{}")).get("dataset", "digits")
    except (TypeError, ValueError):
        data = "?"
    data = data.get("name", "?") if isinstance(data, dict) else data
    written = f", written {ds.attrs['created']}" if "created" in ds.attrs else ""
    epochs = f"{int(ds['epoch'].values[-1])} epochs" if "epoch" in ds.dims else "no epoch axis"
    return f"{name}: {data}, {ds.sizes.get('seed', 1)} seed(s), {epochs}{written}"


def _result(cid: str, measured: str, claimed: str, ok: bool | str, setting: str, method: str) -> CheckResult:
    """A verdict: ``ok`` True / False for confirmed / refuted, or a verdict's name."""
    verdict = ok if isinstance(ok, str) else ("confirmed" if ok else "refuted")
    return CheckResult(cid, "", "", method, measured, claimed, verdict, setting=setting)


def _every_column(cid: str, rows: list, claimed: str, setting: str, method: str, extra: str = "") -> CheckResult:
    """A claim that must hold in every column of a table: ``rows`` of ``(holds, text)``, one per column."""
    measured = "; ".join(text for _, text in rows) + extra
    return _result(cid, measured, claimed, all(ok for ok, _ in rows), setting, method)
