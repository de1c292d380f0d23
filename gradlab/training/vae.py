"""The categorical VAE's snapshot recipe: :func:`train_vae` (``gradlab train --problem vae``), :func:`train_rf4`
and :func:`rf4_snapshot` (the RF(4) snapshots ``gradlab run``, the analyses and the theory checks measure on).

There is one training loop, :func:`gradlab.training.train`; :func:`train_vae` is that loop on a
:class:`~gradlab.problems.vae_data.VAEDataModel` with ``step="layer"`` (the encoder's logits given to the
estimator's one-layer surrogate, the loss per image divided by the batch size inside it: the arithmetic every
RF(4) snapshot of this project was made with, so they stay what they were to the last bit).

Defaults follow ZGR App. B.3 (Adam, batch size 50, the correct ELBO with discrete samples logged), scaled
to the embedded 8x8 digits: ZGR's bias-variance snapshot is 10 MNIST epochs of RF(4) at learning rate 1e-4
(12,000 updates); the digits have 1,617 training images (33 updates per epoch), so the default learning
rate is 1e-3 and 50 epochs (1,650 updates) give a comparable ``lr x updates``.

A snapshot is the training loop's: ``epoch_NNNN.pt`` (parameters, optimiser and generator states) and
``epoch_NNNN.json`` (the model's configuration with its architecture and data set, the estimator, the settings,
the history), written atomically; ``CategoricalVAE.from_snapshot`` reads it, and the older VAE-only format
(``gradlab-vae-snapshot/1``) as well.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import torch

from gradlab.estimators import Estimator
from gradlab.problems.data import Dataset
from gradlab.problems.snapshots import load_snapshot, snapshot_paths
from gradlab.training.loop import TrainResult, train

__all__ = ["train_vae", "train_rf4", "rf4_snapshot", "load_snapshot", "snapshot_paths"]


def train_vae(
    dataset: Dataset,
    estimator: Estimator,
    *,
    num_vars: int = 4,
    num_classes: int = 8,
    embedding: str = "bits",
    encoder: str = "nonlinear",
    hidden: tuple[int, ...] = (512, 256),
    epochs: int = 50,
    lr: float = 1e-3,
    batch_size: int = 50,
    seed: int = 0,
    snapshot_epochs: Iterable[int] = (),
    out_dir: str | Path | None = None,
    progress: bool = True,
    dtype: torch.dtype = torch.float32,
    device: str = "cpu",
    init_params: Mapping[str, torch.Tensor] | None = None,
    kl: str = "forward",
    evaluate: bool = False,
    **train_settings,
) -> TrainResult:
    """Train a categorical VAE on ``dataset``'s training split with ``estimator`` (Adam): :func:`train` on a
    ``VAEDataModel(..., step="layer")`` initialised with ``seed`` (or at ``init_params``; ``step="traced"`` for
    an estimator that trains online, such as RELAX).

    Logs per epoch the mean training negative ELBO with discrete samples (``train_loss``; ``gs`` trains on relaxed
    samples and is logged at the argmax of its relaxed sample). Snapshots are written to ``out_dir`` after the
    epochs listed in ``snapshot_epochs`` (epoch 0 = the initialisation). ``evaluate``: the validation split's
    metrics every epoch (off by default: the snapshot recipe needs none); ``train_settings``: any other argument
    of :func:`train` (``lr_milestones``, ``resume``, ``temperature_schedule``, ...)."""
    from gradlab.estimators import stateful
    from gradlab.problems.vae_data import VAEDataModel

    # an estimator that trains online (RELAX's control variate) steps on the traced model, whose noise layout the
    # control variate's own step shares; every other one on the one-layer step
    step = "traced" if stateful.trains_online(estimator) else "layer"
    model = VAEDataModel(
        dataset,
        num_vars,
        num_classes,
        embedding,
        encoder,
        tuple(hidden),
        kl=kl,
        step=step,
        init_seed=seed,
        params=init_params,
        dtype=dtype,
        device=device,
    )
    return train(
        model,
        estimator,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        snapshot_epochs=snapshot_epochs,
        out_dir=out_dir,
        progress=progress,
        evaluate=evaluate,
        **train_settings,
    )


def train_rf4(epochs: int, *, data: Dataset | None = None, progress: bool = False, **settings) -> TrainResult:
    """A categorical VAE trained with RF(4) (the ZGR paper's snapshot estimator) for ``epochs`` on ``data``
    (default: the embedded digits): the one recipe behind every snapshot (``gradlab run``, the analysis scripts,
    the theory checks). ``settings``: any other argument of :func:`train_vae` (``num_vars``, ``lr``, ``dtype``,
    ``seed``, ``snapshot_epochs``, ``out_dir``, ...), at its defaults there."""
    from gradlab.estimators import estimator
    from gradlab.problems.data import digits

    data = digits() if data is None else data
    return train_vae(data, estimator("reinforce", m=4), epochs=epochs, progress=progress, **settings)


def rf4_snapshot(directory: str | Path, epochs: int, **settings) -> Path:
    """The ``.pt`` path of :func:`train_rf4`'s VAE after ``epochs`` (``settings`` as there), trained into
    ``directory`` once and reused afterwards (``gradlab run`` and the analysis scripts; a snapshot an older
    version wrote there is read as it is)."""
    pt, js = snapshot_paths(directory, epochs)
    if not (pt.is_file() and js.is_file()):
        train_rf4(epochs, snapshot_epochs=[epochs], out_dir=directory, **settings)
    return pt
