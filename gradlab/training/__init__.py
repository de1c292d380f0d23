"""Training any trainable model with any estimator (:func:`train`), its snapshots, its histories as labelled
data (:func:`history_dataset`), bias and variance along a trajectory (:func:`trajectory_study`), and the
categorical VAE's snapshot recipe (:func:`train_vae`, :func:`train` on the VAE, which writes the snapshots
``gradlab run`` uses)."""

from __future__ import annotations

from gradlab.problems.snapshots import CHECKPOINT_FORMAT, load_checkpoint, save_checkpoint
from gradlab.training.history import history_dataset
from gradlab.training.loop import OPTIMIZERS, TrainResult, temperature_at, train
from gradlab.training.study import estimator_settings, training_study
from gradlab.training.trajectory import trajectory_study
from gradlab.training.vae import load_snapshot, rf4_snapshot, snapshot_paths, train_rf4, train_vae

LAYER = 7  # this folder's layer, bottom up (tests/test_layers.py, docs/ARCHITECTURE.md)

__all__ = [
    "train",
    "temperature_at",
    "TrainResult",
    "OPTIMIZERS",
    "history_dataset",
    "trajectory_study",
    "training_study",
    "estimator_settings",
    "train_vae",
    "rf4_snapshot",
    "train_rf4",
    "snapshot_paths",
    "load_snapshot",
    "save_checkpoint",
    "load_checkpoint",
    "CHECKPOINT_FORMAT",
]
