"""Training a categorical VAE with any estimator, and model snapshots (``gradlab train``).

Defaults follow ZGR App. B.3 (Adam, batch size 50, the correct ELBO with discrete samples logged), scaled
to the embedded 8x8 digits: ZGR's bias-variance snapshot is 10 MNIST epochs of RF(4) at learning rate 1e-4
(12,000 updates); the digits have 1,617 training images (33 updates per epoch), so the default learning
rate is 1e-3 and 50 epochs (1,650 updates) give a comparable ``lr x updates``.

A snapshot is two files written atomically: ``epoch_NNNN.pt`` (the parameter state dict; load with
``torch.load(..., weights_only=True)``) and ``epoch_NNNN.json`` (architecture, dataset, estimator, training
settings and the loss history) — everything ``CategoricalVAE.from_snapshot`` needs.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch

from gradlab.core import checks as _checks
from gradlab.core.noise import make_generator, task_seed
from gradlab.estimators import Estimator
from gradlab.problems.data import Dataset
from gradlab.problems.snapshots import SNAPSHOT_FORMAT, load_snapshot, save_snapshot, snapshot_paths
from gradlab.problems.vae_net import VAEArchitecture, VAEModel, init_vae_params

__all__ = ["VAETrainResult", "train_vae", "save_snapshot", "load_snapshot", "snapshot_paths", "SNAPSHOT_FORMAT"]


@dataclasses.dataclass
class VAETrainResult:
    params: dict[str, torch.Tensor]
    history: list[dict]
    snapshots: list[Path]
    architecture: VAEArchitecture


def _one_hot_argmax(y: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.one_hot(y.argmax(-1), y.shape[-1]).to(y.dtype)


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
) -> VAETrainResult:
    """Train a categorical VAE on ``dataset``'s training split with ``estimator`` (Adam).

    Logs per epoch the mean training negative ELBO with discrete samples (``gs`` trains on relaxed
    samples but is logged at the argmax of its relaxed sample). Snapshots are written to ``out_dir`` after
    the epochs listed in ``snapshot_epochs`` (epoch 0 = the initialisation).
    """
    _checks.integer("train_vae", "epochs", epochs, 0)
    _checks.integer("train_vae", "batch_size", batch_size, 1)
    lr = _checks.positive_real("train_vae", "lr", lr)
    snapshot_epochs = sorted({_checks.integer("train_vae", "snapshot_epochs", e, 0) for e in snapshot_epochs})
    if snapshot_epochs and out_dir is None:
        raise ValueError("train_vae: snapshot_epochs needs out_dir")
    if snapshot_epochs:
        from gradlab.core.atomic import check_writable

        check_writable(out_dir, "train_vae", "out_dir")
    if snapshot_epochs and snapshot_epochs[-1] > epochs:
        raise ValueError(f"train_vae: snapshot_epochs must be <= epochs={epochs}, got {snapshot_epochs[-1]}")
    arch = VAEArchitecture(dataset.dim, num_vars, num_classes, embedding, encoder, tuple(hidden))
    model = VAEModel(arch, dtype, device)
    start = init_params if init_params is not None else init_vae_params(arch, seed, dtype, device)
    params = {k: v.detach().to(dtype=dtype, device=device).clone().requires_grad_() for k, v in start.items()}
    opt = torch.optim.Adam(params.values(), lr=lr)
    g_data = make_generator(task_seed(seed, 1))  # on the CPU whatever the device: the same run on every device
    g_noise = make_generator(task_seed(seed, 2))
    grey = dataset.grey("train").to(dtype=dtype, device=device)
    static = None if dataset.binarize == "dynamic" else dataset.binary("train").to(dtype=dtype, device=device)
    n = grey.shape[0]
    settings = {
        "estimator": estimator.label,
        "estimator_name": estimator.name,
        "hparams": estimator.hparams(),
        "lr": lr,
        "batch_size": batch_size,
        "seed": seed,
        "epochs": epochs,
    }
    history: list[dict] = []
    snapshots: list[Path] = []

    def snap(epoch: int) -> None:
        if epoch in snapshot_epochs:
            snapshots.append(save_snapshot(out_dir, epoch, params, arch, dataset, settings, history))

    snap(0)
    iterator = range(1, epochs + 1)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(iterator, desc=f"train {estimator.label}", unit="epoch")
        iterator = bar
    for epoch in iterator:
        perm = torch.randperm(n, generator=g_data).to(device)
        total, count = 0.0, 0
        for i in range(0, n, batch_size):
            idx = perm[i : i + batch_size]
            if static is None:
                fresh = torch.rand(grey[idx].shape, generator=g_data, dtype=dtype).to(device)
                data = (fresh < grey[idx]).to(dtype)
            else:
                data = static[idx]
            b = data.shape[0]
            logits = model.encode(params, data)

            def loss(x, data=data, logits=logits, b=b):
                return model.neg_elbo(params, data, x, logits) / b

            u = torch.rand(estimator.num_uniforms(tuple(logits.shape)), generator=g_noise, dtype=dtype).to(device)
            sur = estimator.surrogate(logits, loss, u).sum()
            opt.zero_grad(set_to_none=True)
            sur.backward()
            opt.step()
            with torch.no_grad():
                if estimator.relaxed_forward:
                    value = float(loss(_one_hot_argmax(estimator.plugin_sample(logits, u))).sum())
                else:
                    value = float(sur)
            total += value * b
            count += b
        record = {"epoch": epoch, "train_neg_elbo": total / count}
        if not math.isfinite(record["train_neg_elbo"]):
            raise FloatingPointError(f"train_vae: the loss became {record['train_neg_elbo']} at epoch {epoch}")
        history.append(record)
        if bar is not None:
            bar.set_postfix(neg_elbo=f"{record['train_neg_elbo']:.3f}")
        snap(epoch)
    return VAETrainResult({k: v.detach() for k, v in params.items()}, history, snapshots, arch)


def train_rf4(epochs: int, *, data: Dataset | None = None, progress: bool = False, **settings) -> VAETrainResult:
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
    ``directory`` once and reused afterwards (``gradlab run`` and the analysis scripts)."""
    pt, js = snapshot_paths(directory, epochs)
    if not (pt.is_file() and js.is_file()):
        train_rf4(epochs, snapshot_epochs=[epochs], out_dir=directory, **settings)
    return pt
