"""Training lowers the exact loss; snapshots reload (weights_only=True) to identical outputs."""

from __future__ import annotations

import json

import pytest
import torch

import gradlab as gl
from gradlab.problems import CategoricalVAE, digits
from gradlab.problems.vae import init_vae_params
from gradlab.training import load_snapshot, train_vae


def exact_train_loss(params, ds, arch_kw):
    """Exact negative ELBO averaged over the whole training split (enumerating all K^V configurations)."""
    prob = CategoricalVAE(ds.binary("train"), params=params, dtype=torch.float64, **arch_kw)
    return float(gl.exact_expectation(prob))


@pytest.mark.parametrize("name", ["zgr", "reinforce"])
def test_one_epoch_lowers_the_exact_loss(tmp_path, name):
    ds = digits()
    arch_kw = {"num_vars": 2, "num_classes": 4, "hidden": (64, 32)}
    est = gl.estimator(name, **({"m": 4} if name == "reinforce" else {}))
    from gradlab.problems.vae import VAEArchitecture

    start = init_vae_params(VAEArchitecture(64, 2, 4, hidden=(64, 32)), seed=0)
    before = exact_train_loss(start, ds, arch_kw)
    res = train_vae(ds, est, epochs=1, lr=3e-3, seed=0, progress=False, init_params=start, **arch_kw)
    after = exact_train_loss(res.params, ds, arch_kw)
    assert after < before - 1.0, (before, after)  # measured: 44.9 -> 28.4 nats (both estimators)
    assert len(res.history) == 1 and res.history[0]["train_neg_elbo"] > 0


def test_snapshot_roundtrip_identical(tmp_path):
    ds = digits()
    res = train_vae(
        ds,
        gl.estimator("gs", t=0.5),
        epochs=2,
        num_vars=2,
        num_classes=4,
        hidden=(16, 8),
        snapshot_epochs=[0, 2],
        out_dir=tmp_path,
        progress=False,
    )
    assert [p.name for p in res.snapshots] == ["epoch_0000.pt", "epoch_0002.pt"]
    state, cfg = load_snapshot(tmp_path / "epoch_0002.pt")  # torch.load(..., weights_only=True) inside
    assert cfg["epoch"] == 2 and cfg["estimator"] == "gs(t=0.5)" and len(cfg["history"]) == 2
    for k, v in res.params.items():
        assert torch.equal(state[k], v)
    prob = CategoricalVAE.from_snapshot(tmp_path / "epoch_0002.json", batch_size=50, dtype=torch.float32)
    direct = CategoricalVAE.on_dataset(
        ds, 50, 0, num_vars=2, num_classes=4, hidden=(16, 8), params=res.params, dtype=torch.float32
    )
    assert torch.equal(prob.logits(prob.param_values()), direct.logits(direct.param_values()))
    x = torch.nn.functional.one_hot(torch.zeros(50, 2, dtype=torch.long), 4).float()
    assert torch.equal(
        prob.loss(x, prob.param_values(), prob.logits(prob.param_values())),
        direct.loss(x, direct.param_values(), direct.logits(direct.param_values())),
    )
    assert json.loads((tmp_path / "epoch_0000.json").read_text())["history"] == []
    assert not list(tmp_path.glob("*.part"))  # nothing half-written left behind


def test_train_argument_errors(tmp_path):
    ds = digits()
    with pytest.raises(ValueError, match="snapshot_epochs needs out_dir"):
        train_vae(ds, gl.estimator("zgr"), epochs=1, snapshot_epochs=[1], progress=False)
    with pytest.raises(ValueError, match="lr must be a finite real number > 0"):
        train_vae(ds, gl.estimator("zgr"), epochs=1, lr=0.0, progress=False)
    with pytest.raises(FileNotFoundError, match="a snapshot is epoch_0003.pt"):
        load_snapshot(tmp_path / "epoch_0003")
