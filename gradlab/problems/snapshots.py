"""Model snapshots: the training snapshots of ``gradlab.training.train`` (any trainable model, the categorical
VAE included), two files written atomically: ``epoch_NNNN.pt`` holds the parameters, the optimiser state and the
generators' states (so that a run resumed from it continues identically) and ``epoch_NNNN.json`` the problem's
configuration, the estimator, the training settings and the history. :func:`load_snapshot` also reads the
categorical VAE's older format (``epoch_NNNN.pt`` the parameter state dict alone, ``epoch_NNNN.json`` its
architecture, data set, estimator, settings and history). Here, below both the problems that read them and the training
that writes them, so neither imports the other.

A snapshot can travel by value: :func:`snapshot_files` reads a pair's bytes (where the files are), and inside
:func:`snapshots_in_memory` every read of that path uses those bytes instead of the disk (where the files are
not: a worker of a cluster).
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import json
from collections.abc import Iterator, Mapping
from pathlib import Path

import torch

from gradlab.core.atomic import atomic_write_text, atomic_write_with
from gradlab.core.version import versions

__all__ = [
    "SNAPSHOT_FORMAT",
    "snapshot_paths",
    "load_snapshot",
    "CHECKPOINT_FORMAT",
    "checkpoint_paths",
    "save_checkpoint",
    "load_checkpoint",
    "snapshot_files",
    "snapshots_in_memory",
    "snapshot_format",
]

# stem path (as the configuration names it) -> {"pt": bytes, "json": str}, set by snapshots_in_memory
_IN_MEMORY: contextvars.ContextVar[Mapping[str, dict] | None] = contextvars.ContextVar("snapshots", default=None)


def _stem(path: str | Path) -> Path:
    p = Path(path)
    return p.with_suffix("") if p.suffix in (".pt", ".json") else p


def snapshot_files(path: str | Path) -> dict[str, dict]:
    """The bytes of the snapshot pair at ``path`` (its ``.pt``, ``.json`` or stem), keyed as
    :func:`snapshots_in_memory` expects."""
    stem = _stem(path)
    pt, js = stem.with_suffix(".pt"), stem.with_suffix(".json")
    for f in (pt, js):
        if not f.is_file():
            raise FileNotFoundError(f"snapshot: expected {f} (a snapshot is {pt.name} + {js.name})")
    return {str(stem): {"pt": pt.read_bytes(), "json": js.read_text()}}


@contextlib.contextmanager
def snapshots_in_memory(files: Mapping[str, dict]) -> Iterator[None]:
    """Within the block, snapshots named in ``files`` (from :func:`snapshot_files`) are read from memory."""
    token = _IN_MEMORY.set({**(_IN_MEMORY.get() or {}), **files})
    try:
        yield
    finally:
        _IN_MEMORY.reset(token)


def _read_bytes(path: str | Path) -> tuple[bytes, str] | None:
    found = (_IN_MEMORY.get() or {}).get(str(_stem(path)))
    return None if found is None else (found["pt"], found["json"])


def snapshot_format(path: str | Path) -> str | None:
    """The ``format`` field of a snapshot's JSON (``None`` if it cannot be read)."""
    found = _read_bytes(path)
    try:
        text = found[1] if found else _stem(path).with_suffix(".json").read_text()
        return json.loads(text).get("format")
    except (OSError, ValueError):
        return None


# the categorical VAE's own snapshots before 2026-12 (read, no longer written)
SNAPSHOT_FORMAT = "gradlab-vae-snapshot/1"


def snapshot_paths(out_dir: str | Path, epoch: int) -> tuple[Path, Path]:
    stem = Path(out_dir) / f"epoch_{epoch:04d}"
    return stem.with_suffix(".pt"), stem.with_suffix(".json")


def load_snapshot(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """``(parameters, config)`` of a categorical VAE's snapshot given its ``.pt``, ``.json`` or stem path: a
    training snapshot (``gradlab.training.train``, :data:`CHECKPOINT_FORMAT`) or the older VAE-only format
    (:data:`SNAPSHOT_FORMAT`, whose ``.pt`` is the parameters alone). ``config`` is the JSON as written, with
    ``architecture`` and ``dataset`` at its top in both formats."""
    if snapshot_format(path) == CHECKPOINT_FORMAT:
        state, cfg = load_checkpoint(path)
        model = cfg.get("problem", {})
        if model.get("problem") != "CategoricalVAE" or "architecture" not in model:
            kind = model.get("problem")
            raise ValueError(f"load_snapshot: {_stem(path)} is a training snapshot of a {kind}, not a CategoricalVAE")
        return state["params"], {**cfg, "architecture": model["architecture"], "dataset": model.get("dataset", {})}
    return _read_pair(path, SNAPSHOT_FORMAT, "load_snapshot", "a snapshot")


def _read_pair(path: str | Path, fmt: str, who: str, what: str) -> tuple[dict, dict]:
    """Read ``stem.pt`` and ``stem.json`` (``path``: either, or the stem; from memory inside
    :func:`snapshots_in_memory`), checking the JSON's format."""
    stem = _stem(path)
    pt, js = stem.with_suffix(".pt"), stem.with_suffix(".json")
    found = _read_bytes(path)
    if found is None:
        for f in (pt, js):
            if not f.is_file():
                raise FileNotFoundError(f"{who}: expected {f} ({what} is {pt.name} + {js.name})")
        found = (pt.read_bytes(), js.read_text())
    cfg = json.loads(found[1])
    if cfg.get("format") != fmt:
        raise ValueError(f"{who}: {js} is not a {fmt} file (format {cfg.get('format')!r})")
    return torch.load(io.BytesIO(found[0]), weights_only=True, map_location="cpu"), cfg


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
        **versions(),
        "weights": pt.name,
    }
    atomic_write_text(js, json.dumps(cfg, indent=1, sort_keys=True, default=str))
    return pt


def load_checkpoint(path: str | Path) -> tuple[dict, dict]:
    """``(state, config)`` of a training snapshot given its ``.pt``, ``.json`` or stem path."""
    return _read_pair(path, CHECKPOINT_FORMAT, "load_checkpoint", "a training snapshot")
