"""Model snapshots: two files written atomically, ``epoch_NNNN.pt`` (the parameter state dict; load with
``torch.load(..., weights_only=True)``) and ``epoch_NNNN.json`` (architecture, dataset, estimator, training
settings and the loss history) for ``train_vae``; and the training snapshots of ``gradlab.training.train``
(any trainable model): ``epoch_NNNN.pt`` holds the parameters, the optimiser state and the generators' states
(so that a run resumed from it continues identically) and ``epoch_NNNN.json`` the problem's configuration, the
estimator, the training settings and the history. Here, below both the problems that read them and the training
that writes them, so neither imports the other.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch

from .._version import __version__
from ..io import atomic_write_text, atomic_write_with

__all__ = [
    "SNAPSHOT_FORMAT",
    "snapshot_paths",
    "save_snapshot",
    "load_snapshot",
    "CHECKPOINT_FORMAT",
    "checkpoint_paths",
    "save_checkpoint",
    "load_checkpoint",
]

SNAPSHOT_FORMAT = "gradlab-vae-snapshot/1"


def snapshot_paths(out_dir: str | Path, epoch: int) -> tuple[Path, Path]:
    stem = Path(out_dir) / f"epoch_{epoch:04d}"
    return stem.with_suffix(".pt"), stem.with_suffix(".json")


def save_snapshot(out_dir, epoch: int, params, arch, dataset, settings: dict, history) -> Path:
    """Write ``epoch_NNNN.pt`` and ``epoch_NNNN.json`` atomically; returns the ``.pt`` path."""
    pt, js = snapshot_paths(out_dir, epoch)
    state = {k: v.detach().cpu().clone() for k, v in params.items()}
    atomic_write_with(pt, lambda tmp: torch.save(state, tmp), suffix=".pt")
    cfg = {
        "format": SNAPSHOT_FORMAT,
        "epoch": epoch,
        "architecture": dataclasses.asdict(arch),
        "dataset": dataset.config(),
        **settings,
        "history": list(history),
        "gradlab_version": __version__,
        "torch_version": str(torch.__version__),
        "weights": pt.name,
    }
    atomic_write_text(js, json.dumps(cfg, indent=1, sort_keys=True))
    return pt


def load_snapshot(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """``(state dict, config)`` of a snapshot given its ``.pt``, ``.json`` or stem path."""
    return _read_pair(path, SNAPSHOT_FORMAT, "load_snapshot", "a snapshot")


def _read_pair(path: str | Path, fmt: str, who: str, what: str) -> tuple[dict, dict]:
    """Read ``stem.pt`` and ``stem.json`` (``path``: either, or the stem), checking the JSON's format."""
    p = Path(path)
    stem = p.with_suffix("") if p.suffix in (".pt", ".json") else p
    pt, js = stem.with_suffix(".pt"), stem.with_suffix(".json")
    for f in (pt, js):
        if not f.is_file():
            raise FileNotFoundError(f"{who}: expected {f} ({what} is {pt.name} + {js.name})")
    cfg = json.loads(js.read_text())
    if cfg.get("format") != fmt:
        raise ValueError(f"{who}: {js} is not a {fmt} file (format {cfg.get('format')!r})")
    return torch.load(pt, weights_only=True, map_location="cpu"), cfg


CHECKPOINT_FORMAT = "gradlab-training-snapshot/1"


def checkpoint_paths(out_dir: str | Path, epoch: int) -> tuple[Path, Path]:
    stem = Path(out_dir) / f"epoch_{epoch:04d}"
    return stem.with_suffix(".pt"), stem.with_suffix(".json")


def save_checkpoint(out_dir: str | Path, epoch: int, state: dict, config: dict) -> Path:
    """Write the tensors of ``state`` and the JSON ``config``; returns the ``.pt`` path."""
    pt, js = checkpoint_paths(out_dir, epoch)
    atomic_write_with(pt, lambda tmp: torch.save(state, tmp), suffix=".pt")
    cfg = {
        "format": CHECKPOINT_FORMAT,
        "epoch": epoch,
        **config,
        "gradlab_version": __version__,
        "torch_version": str(torch.__version__),
        "weights": pt.name,
    }
    atomic_write_text(js, json.dumps(cfg, indent=1, sort_keys=True, default=str))
    return pt


def load_checkpoint(path: str | Path) -> tuple[dict, dict]:
    """``(state, config)`` of a training snapshot given its ``.pt``, ``.json`` or stem path."""
    return _read_pair(path, CHECKPOINT_FORMAT, "load_checkpoint", "a training snapshot")
