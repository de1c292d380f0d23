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
    assert len(res.history) == 1 and res.history[0]["train_loss"] > 0


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
    assert cfg["epoch"] == 2 and cfg["settings"]["estimator"] == "gs(t=0.5)" and len(cfg["history"]) == 2
    assert cfg["format"] == gl.training.CHECKPOINT_FORMAT  # one snapshot format: the training loop's
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


def test_older_vae_snapshots_still_load(tmp_path):
    """A snapshot in the VAE-only format of earlier versions (``.pt`` the state dict alone, ``.json`` with the
    architecture and data set at its top) loads to the same problem as today's format of the same parameters."""
    from gradlab.core.version import versions
    from gradlab.problems.snapshots import SNAPSHOT_FORMAT

    ds = digits()
    arch_kw = {"num_vars": 2, "num_classes": 4, "hidden": (16, 8)}
    res = train_vae(
        ds, gl.estimator("zgr"), epochs=1, snapshot_epochs=[1], out_dir=tmp_path / "new", progress=False, **arch_kw
    )
    old = tmp_path / "old"
    old.mkdir()
    torch.save({k: v.clone() for k, v in res.params.items()}, old / "epoch_0001.pt")
    arch = {"dim": 64, "num_vars": 2, "num_classes": 4, "embedding": "bits", "encoder": "nonlinear", "hidden": [16, 8]}
    cfg = {"format": SNAPSHOT_FORMAT, "epoch": 1, "architecture": arch, "dataset": ds.config(), "estimator": "zgr"}
    (old / "epoch_0001.json").write_text(json.dumps({**cfg, "history": [], **versions(), "weights": "epoch_0001.pt"}))
    a = CategoricalVAE.from_snapshot(old / "epoch_0001.pt", batch_size=30)
    b = CategoricalVAE.from_snapshot(tmp_path / "new" / "epoch_0001.pt", batch_size=30)
    assert a.params_source["estimator"] == b.params_source["estimator"] == "zgr"
    assert {**a.config(), "params": None} == {**b.config(), "params": None}  # all but the snapshot's path
    for k, v in a.param_values().items():
        assert torch.equal(v, b.param_values()[k])
    built = gl.problems.build_problem({"kind": "vae", "snapshot": str(old / "epoch_0001.pt"), "batch_size": 30})
    assert torch.equal(built.logits(built.param_values()), a.logits(a.param_values()))
    other = gl.train(
        gl.problems.SigmoidBeliefNet(hidden=(3,), batch_size=5),
        gl.estimator("zgr"),
        epochs=1,
        batch_size=500,
        evaluate=False,
        snapshot_epochs=[1],
        out_dir=tmp_path / "sbn",
    )
    with pytest.raises(ValueError, match="not a CategoricalVAE"):
        CategoricalVAE.from_snapshot(other.snapshots[0])


@pytest.mark.parametrize(
    ("name", "hp"), [("zgr", {}), ("gs", {"t": 0.5}), ("reinforce", {"m": 4}), ("gr_mc", {"m": 3})]
)
def test_step_layer_is_the_traced_step_up_to_rounding(name, hp):
    """``step="layer"`` (the estimator's one-layer surrogate, loss / B inside) and ``step="traced"`` (the model's
    traced draws, sum / B after) are one estimate: in float64 one step's gradient agrees to 1e-12 relative, bit for
    bit for the pathwise estimators; REINFORCE's leave-one-out weights round differently."""
    from gradlab.problems.vae_data import VAEDataModel

    est = gl.estimator(name, **hp)
    grads = {}
    for step in ("layer", "traced"):
        m = VAEDataModel(digits(), 3, 4, hidden=(16,), step=step, batch_size=40)
        p = {k: v.clone().requires_grad_() for k, v in m.param_values().items()}
        u = torch.rand(m.step_uniforms(est), generator=torch.Generator().manual_seed(3), dtype=torch.float64)
        grads[step] = torch.autograd.grad(m.step_surrogate(est, p, u), list(p.values()))
    for a, b in zip(grads["layer"], grads["traced"], strict=True):
        assert torch.allclose(a, b, rtol=1e-12, atol=1e-12 * float(b.abs().max()))
    same = all(torch.equal(a, b) for a, b in zip(grads["layer"], grads["traced"], strict=True))
    assert same == (name != "reinforce"), (name, same)  # GR-MC is pathwise too


def test_an_estimator_that_trains_online_steps_on_the_traced_model():
    """RELAX fits its control variate on the traced model's noise layout: ``step="layer"`` refuses it in one line,
    and ``train_vae`` trains it on the traced step."""
    from gradlab.problems.vae_data import VAEDataModel

    est = gl.estimator("relax", steps=0)
    m = VAEDataModel(digits(), 2, 4, hidden=(16,), step="layer")
    with pytest.raises(ValueError, match="step='layer' takes no estimator that trains online"):
        m.step_surrogate(est, m.param_values(), torch.rand(m.step_uniforms(est), dtype=torch.float64))
    res = train_vae(digits(), est, num_vars=2, num_classes=4, hidden=(16,), epochs=1, progress=False)
    assert res.problem.get("step") is None and res.history[0]["train_loss"] > 0  # the default, traced step
