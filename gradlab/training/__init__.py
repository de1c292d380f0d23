"""Training any trainable model with any estimator (:func:`train`), its snapshots and its histories as
labelled data (:func:`history_dataset`)."""

from __future__ import annotations

from .checkpoint import CHECKPOINT_FORMAT, load_checkpoint, save_checkpoint
from .history import history_dataset
from .loop import OPTIMIZERS, TrainResult, train

__all__ = [
    "train",
    "TrainResult",
    "OPTIMIZERS",
    "history_dataset",
    "save_checkpoint",
    "load_checkpoint",
    "CHECKPOINT_FORMAT",
]
