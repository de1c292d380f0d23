"""gl.train on trainable models: determinism, exact resumption, the expected SGD step of an unbiased estimator,
the logged quantities against independent computations, histories as labelled data, and bad input."""

from __future__ import annotations

import itertools
import math
import os
from pathlib import Path

import pytest
import torch
import xarray as xr
from scipy.stats import norm

import gradlab as gl
from gradlab.problems import HierarchicalVAE, SigmoidBeliefNet

DT = torch.float64


def small_sbn(**kw):
    return SigmoidBeliefNet(hidden=(3, 3), batch_size=4, **kw)


def test_training_is_deterministic_under_a_seed():
    m = small_sbn()
    a = gl.train(m, gl.estimator("zgr"), epochs=2, batch_size=64, seed=3)
    b = gl.train(m, gl.estimator("zgr"), epochs=2, batch_size=64, seed=3)
    c = gl.train(m, gl.estimator("zgr"), epochs=2, batch_size=64, seed=4)
    for k in a.params:
        assert torch.equal(a.params[k], b.params[k])
    assert [r["train_loss"] for r in a.history] == [r["train_loss"] for r in b.history]
    assert any(not torch.equal(a.params[k], c.params[k]) for k in a.params)


@pytest.mark.parametrize(
    ("name", "hp"),
    [("zgr", {}), ("reinforce", {"m": 3}), ("gs", {"t": 0.5}), ("reinforce", {"m": 1, "baseline": "ema"})],
)
def test_resumed_run_continues_identically(tmp_path, name, hp):
    """4 epochs straight against 2 epochs, a snapshot, and 2 more from it: the same parameters to the last bit
    (the snapshot holds the optimiser state and the generators' states) and the same history."""
    m, est = small_sbn(), gl.estimator(name, **hp)
    kw = dict(batch_size=128, seed=1, lr=1e-2, lr_milestones=[3], lr_gamma=0.5)
    full = gl.train(m, est, epochs=4, **kw)
    half = gl.train(m, est, epochs=4, snapshot_epochs=[2], out_dir=tmp_path, **kw)
    rest = gl.train(m, est, epochs=4, resume=tmp_path / "epoch_0002.pt", **kw)
    for k in full.params:
        assert torch.equal(full.params[k], rest.params[k]), k
        assert torch.equal(full.params[k], half.params[k]), k
    assert [r["train_loss"] for r in rest.history] == [r["train_loss"] for r in full.history]
    assert [r["lr"] for r in rest.history] == [1e-2, 1e-2, 1e-2, 5e-3]
    assert [r["epoch"] for r in rest.history] == [1, 2, 3, 4]


def test_one_sgd_step_of_reinforce_moves_by_the_expected_step():
    """One image, one step of plain SGD with RF(3) per seed: the mean step over 600 seeds is -lr times the
    exact gradient (enumeration). Per coordinate a z-test; Bonferroni over the coordinates that vary, so the
    false-failure rate of the whole test is 1e-3. ZGR's mean step over 4,000 seeds is measured to differ (its
    bias: z = 2.5 at 600 seeds on the largest coordinate, so about 6 at 4,000)."""
    base = SigmoidBeliefNet(hidden=(2, 2), batch_size=1)
    x, y = base.x, base.y
    m = SigmoidBeliefNet((x, y), hidden=(2, 2), params=base.param_values())
    exact = gl.exact_gradient(m)  # (d,) flattened over "all"
    layout = m.layout()
    lr, runs = 0.1, 600

    def steps(est, runs=runs):
        out = []
        for seed in range(runs):
            r = gl.train(m, est, epochs=1, batch_size=1, lr=lr, optimizer="sgd", seed=seed, evaluate=False)
            delta = {k: (r.params[k] - m.param_values()[k]) / -lr for k in r.params}
            out.append(layout.flatten(delta))
        return torch.stack(out)

    g = steps(gl.estimator("reinforce", m=3))
    mean, se = g.mean(0), g.std(0) / math.sqrt(runs)
    varying = se > 0
    assert torch.all(mean[~varying] == exact[~varying])  # coordinates no sample moves: exact is 0 there too
    z = ((mean - exact)[varying] / se[varying]).abs()
    limit = norm.ppf(1 - 1e-3 / (2 * int(varying.sum())))
    assert float(z.max()) < limit, (float(z.max()), limit)
    zg = steps(gl.estimator("zgr"), 4000)
    zmean, zse = zg.mean(0), zg.std(0) / math.sqrt(4000)
    assert float(((zmean - exact) / zse.clamp_min(1e-300)).abs().max()) > limit  # ZGR is biased here


def test_relaxed_forward_loss_is_logged_at_the_hard_sample():
    """gs trains on its relaxed sample; hard_losses is the loss at the argmax of that sample, which is gs_st's
    forward sample from the same noise (Gumbel-max), evaluated independently here."""
    m = small_sbn()
    p = m.param_values()
    gs, gs_st = gl.estimator("gs", t=0.7), gl.estimator("gs_st", t=0.7)
    u = torch.rand(m.uniforms_per_sample(gs), generator=torch.Generator().manual_seed(0), dtype=DT)
    hard = m.hard_losses(gs, p, u)
    with torch.no_grad():
        st_value = m.sample_surrogate(gs_st, p, u)  # forward value: the loss at gs_st's hard sample
        relaxed = m.sample_surrogate(gs, p, u)
    assert torch.allclose(hard.sum(), st_value, rtol=1e-12, atol=0)
    assert not torch.allclose(hard.sum(), relaxed)


def test_evaluate_is_an_unbiased_estimate_of_the_expected_validation_metrics():
    """Validation loss and accuracy with one discrete sample per image, averaged over 300 evaluation seeds,
    against the exact expectation by enumerating the 2^4 hidden configurations of every image (written here
    independently of the model). z-test per metric at false-failure rate 1e-3 together."""
    m = SigmoidBeliefNet(hidden=(2, 2), batch_size=4)
    p = m.param_values()
    x, y = m.split("valid")
    loss_exact, acc_exact = 0.0, 0.0
    for bits in itertools.product([0.0, 1.0], repeat=4):
        h1, h2 = torch.tensor(bits[:2], dtype=DT), torch.tensor(bits[2:], dtype=DT)
        p1 = torch.sigmoid(x @ p["w0"] + p["b0"])  # (N, 2)
        q1 = (p1 * h1 + (1 - p1) * (1 - h1)).prod(-1)
        p2 = torch.sigmoid(h1 @ p["w1"] + p["b1"]).expand(len(x), 2)
        q2 = (p2 * h2 + (1 - p2) * (1 - h2)).prod(-1)
        logits = (h2 @ p["w_out"] + p["b_out"]).expand(len(x), -1)
        ce = torch.logsumexp(logits, -1) - logits[torch.arange(len(x)), y]
        loss_exact += float((q1 * q2 * ce).mean())
        acc_exact += float((q1 * q2 * (logits.argmax(-1) == y)).mean())
    runs = [m.evaluate(p, "valid", torch.Generator().manual_seed(s)) for s in range(300)]
    limit = norm.ppf(1 - 1e-3 / 4)
    for key, truth in (("loss", loss_exact), ("accuracy", acc_exact)):
        v = torch.tensor([r[key] for r in runs], dtype=DT)
        z = (float(v.mean()) - truth) / (float(v.std()) / math.sqrt(len(v)))
        assert abs(z) < limit, (key, float(v.mean()), truth, z)


def test_history_dataset_and_netcdf_roundtrip(tmp_path):
    m = HierarchicalVAE(num_vars=2, num_classes=4, batch_size=4)
    runs = [gl.train(m, gl.estimator(name), epochs=2, batch_size=256, seed=s) for name in ("zgr", "st") for s in (0, 1)]
    ds = gl.history_dataset(runs)
    assert dict(ds.sizes) == {"estimator": 2, "seed": 2, "epoch": 2}
    assert list(ds["family"].values) == ["zgr", "st"]
    st, zgr = runs[3].settings["estimator"], runs[0].settings["estimator"]
    assert float(ds["train_loss"].sel(estimator=st, seed=1, epoch=2)) == runs[3].history[1]["train_loss"]
    assert float(ds["valid_loss"].sel(estimator=zgr, seed=0, epoch=1)) == runs[0].history[0]["valid_loss"]
    path = gl.results.write_netcdf(ds, tmp_path / "h.nc")
    back = gl.results.read_netcdf(path)
    assert back["train_loss"].equals(ds["train_loss"])
    assert "HierarchicalVAE" in back.attrs["problem"]


def test_every_problem_answers_training_model():
    """One interface: a trainable model is its own training model, the VAE problem gives its trainable twin at the
    same parameter values and minibatch (the same loss at the same draws), any other problem a one-line error."""
    m = small_sbn()
    assert m.training_model() is m
    vae = gl.problems.build_problem({"kind": "vae", "num_vars": 2, "num_classes": 4, "batch_size": 5})
    twin = vae.training_model()
    assert twin.trainable and not vae.trainable
    from gradlab.estimators.base import inverse_cdf_index, scatter_one_hot

    params = vae.param_values()
    logits = vae.logits(params)
    u = torch.rand((5, 2, 1), generator=torch.Generator().manual_seed(0), dtype=vae.dtype)
    x = scatter_one_hot(inverse_cdf_index(torch.softmax(logits, -1), u), logits)  # inversion, as evaluation draws
    want = vae.loss(x, params, logits) * 5  # the problem's per-image terms are divided by B (they sum to the mean)
    got = twin.discrete_losses(twin.param_values(), torch.Generator().manual_seed(0))
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    with pytest.raises(TypeError, match="train: problem must be a trainable model .* got SingleCategorical"):
        gl.problems.SingleCategorical(torch.zeros(3, dtype=DT), lambda x: x[..., 0]).training_model()


def test_bad_input_is_a_clear_error_before_any_work(tmp_path):
    m, est = small_sbn(), gl.estimator("zgr")
    with pytest.raises(TypeError, match="train: problem must be a trainable model"):
        gl.train(gl.problems.SingleCategorical(torch.zeros(3, dtype=DT), lambda x: x[..., 0]), est)
    with pytest.raises(TypeError, match="train: estimator must be a gradlab Estimator"):
        gl.train(m, "zgr")
    with pytest.raises(ValueError, match="epochs"):
        gl.train(m, est, epochs=0)
    with pytest.raises(ValueError, match="optimizer"):
        gl.train(m, est, optimizer="adamw")
    with pytest.raises(ValueError, match="snapshot_epochs needs out_dir"):
        gl.train(m, est, epochs=1, snapshot_epochs=[1])
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if not os.access(locked, os.W_OK):  # root may write anyway: then only this part is not checked
            with pytest.raises(PermissionError, match="out_dir .* is not writable"):
                gl.train(m, est, epochs=1, snapshot_epochs=[1], out_dir=locked / "sub")
    finally:
        locked.chmod(0o700)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(PermissionError, match="out_dir .* is not writable"):  # even for root: a file is in the way
        gl.train(m, est, epochs=1, snapshot_epochs=[1], out_dir=blocker / "sub")
    gl.train(m, est, epochs=1, batch_size=512, snapshot_epochs=[1], out_dir=tmp_path / "a")
    other = SigmoidBeliefNet(hidden=(3, 2), batch_size=4)
    with pytest.raises(ValueError, match=r"resume: the snapshot is of another model \(.SigmoidBeliefNet.; .*draws"):
        gl.train(other, est, epochs=2, batch_size=512, resume=tmp_path / "a" / "epoch_0001.pt")
    with pytest.raises(ValueError, match=r"resume: the snapshot was trained with other settings \(lr"):
        gl.train(m, est, epochs=2, batch_size=512, lr=0.5, resume=tmp_path / "a" / "epoch_0001.pt")
    with pytest.raises(FileNotFoundError, match="load_checkpoint: expected"):
        gl.train(m, est, epochs=2, resume=tmp_path / "nothing.pt")


def test_a_snapshot_is_a_problem_again(tmp_path):
    """build_problem(kind, snapshot=...) gives the model at the snapshot's parameters (for bias and variance
    along a training run); a snapshot of another kind of model is refused."""
    m = small_sbn()
    r = gl.train(m, gl.estimator("st"), epochs=2, batch_size=512, snapshot_epochs=[1, 2], out_dir=tmp_path)
    cfg = {"kind": "sbn", "hidden": [3, 3], "batch_size": 4}
    p = gl.problems.build_problem({**cfg, "snapshot": str(r.snapshots[-1])})
    for k, v in r.params.items():
        assert torch.equal(p.param_values()[k], v)
    assert not torch.equal(gl.problems.build_problem(cfg).param_values()["w0"], p.param_values()["w0"])
    with pytest.raises(ValueError, match="is of a SigmoidBeliefNet model, not of a HierarchicalVAE"):
        gl.problems.build_problem({"kind": "hvae", "snapshot": str(r.snapshots[-1])})


def test_categorical_vae_trains_through_its_trainable_twin(tmp_path):
    """CategoricalVAE.training_model() is the same objective (the sum over the batch of what the problem
    averages; exact expectation and gradient by enumeration agree to rounding); gl.train accepts the VAE
    itself, and its snapshot is a CategoricalVAE problem again through build_problem."""
    cfg = {"kind": "vae", "num_vars": 2, "num_classes": 4, "batch_size": 5, "hidden": [16]}
    vae = gl.problems.build_problem(cfg)
    twin = vae.training_model()
    assert math.isclose(float(gl.exact_expectation(vae)) * 5, float(gl.exact_expectation(twin)), rel_tol=1e-13)
    torch.testing.assert_close(gl.exact_gradient(vae) * 5, gl.exact_gradient(twin), rtol=1e-12, atol=1e-12)
    r = gl.train(vae, gl.estimator("st"), epochs=1, batch_size=400, snapshot_epochs=[1], out_dir=tmp_path)
    back = gl.problems.build_problem({**cfg, "snapshot": str(r.snapshots[0])})
    for k, v in r.params.items():
        assert torch.equal(back.param_values()[k], v)


def test_training_study_gathers_runs_and_is_the_same_in_parallel():
    """Two estimators x two seeds: one data set; each seed a fresh initialisation (different losses); the
    same numbers with two worker processes as in this process."""
    cfg = {"kind": "sbn", "hidden": [3, 3], "batch_size": 4}
    blocks = [{"name": "st"}, {"name": "gs_st", "t": [0.5]}]
    a = gl.training.training_study(cfg, blocks, seeds=[0, 1], epochs=2, batch_size=256)
    b = gl.training.training_study(cfg, blocks, seeds=[0, 1], epochs=2, batch_size=256, n_jobs=2)
    assert dict(a.sizes) == {"estimator": 2, "seed": 2, "epoch": 2}
    assert a["train_loss"].equals(b["train_loss"]) and a["valid_accuracy"].equals(b["valid_accuracy"])
    first = a["valid_loss"].isel(epoch=0, estimator=0).values
    assert first[0] != first[1]  # seeds 0 and 1: different initialisations


def test_trajectory_study_matches_a_sweep_at_the_snapshot(tmp_path):
    """At epoch 0 the trajectory's numbers are those of a plain sweep on the untrained model (same seed);
    at a later epoch the model has moved (the exact gradient changed)."""
    cfg = {"kind": "sbn", "hidden": [2, 2], "batch_size": 1}
    ds = gl.training.trajectory_study(
        cfg,
        gl.estimator("st"),
        [0, 2],
        [{"name": "zgr"}],
        out_dir=tmp_path,
        n=500,
        train_settings={"lr": 0.05, "batch_size": 400},
    )
    from gradlab.sweep import run_sweep

    plain = run_sweep(
        {
            "out": str(tmp_path / "plain.nc"),
            "problem": cfg,
            "sampling": {"n": 500},
            "estimators": [{"name": "zgr"}],
        },
        progress=False,
    )
    assert float(ds["bias2"].sel(epoch=0).squeeze()) == float(plain["bias2"].squeeze())
    assert float(ds["variance"].sel(epoch=0).squeeze()) == float(plain["variance"].squeeze())
    assert float(ds["variance"].sel(epoch=2).squeeze()) != float(ds["variance"].sel(epoch=0).squeeze())
    assert (tmp_path / "trajectory.nc").is_file()


def test_trajectory_study_resumes_where_it_stopped(tmp_path, monkeypatch):
    """An interrupted trajectory (its last snapshot and a sweep's file lost, as a killed call leaves them)
    resumes in the same folder: training continues from the last snapshot and the result is the uninterrupted
    one to the last bit; a third call trains nothing."""
    import shutil

    from gradlab.training import loop
    from gradlab.training import trajectory as traj

    cfg = {"kind": "sbn", "hidden": [2, 2], "batch_size": 1}
    args = (cfg, gl.estimator("st"), [0, 1, 3], [{"name": "zgr"}, {"name": "gs_st", "t": [0.5]}])
    kw = {"n": 300, "train_settings": {"lr": 0.05, "batch_size": 400}}
    whole = gl.training.trajectory_study(*args, out_dir=tmp_path / "cut", **kw)
    for f in ["snapshots/epoch_0003.pt", "snapshots/epoch_0003.json", "epoch_0003.nc", "trajectory.nc"]:
        (tmp_path / "cut" / f).unlink()
    cells = sorted((tmp_path / "cut").glob("epoch_0003*cells*"))
    assert cells  # the last snapshot's sweep cells: a killed call may have left some; remove them all
    for c in cells:
        shutil.rmtree(c)
    calls, trained = [], []
    real, one_epoch = traj.train, loop._one_epoch
    monkeypatch.setattr(traj, "train", lambda *a, **k: (calls.append(k.get("resume")), real(*a, **k))[1])
    monkeypatch.setattr(loop, "_one_epoch", lambda *a: (trained.append(1), one_epoch(*a))[1])
    resumed = gl.training.trajectory_study(*args, out_dir=tmp_path / "cut", **kw)
    assert Path(calls[0]).name == "epoch_0001.pt" and len(trained) == 2  # epochs 2 and 3 again
    same_numbers(resumed, whole)
    again = gl.training.trajectory_study(*args, out_dir=tmp_path / "cut", **kw)
    assert Path(calls[1]).name == "epoch_0003.pt" and len(trained) == 2  # nothing trained
    same_numbers(again, whole)
    other = {**kw, "train_settings": {"lr": 0.02, "batch_size": 400}}
    with pytest.raises(ValueError, match=r"trained with other settings \(lr: lr=0.05\)"):
        gl.training.trajectory_study(*args, out_dir=tmp_path / "cut", **other)  # not another run's snapshots


def same_numbers(a, b):
    """The same measurements and training history to the last bit, wall times aside."""
    import ast

    timing = ["seconds", "seconds_per_sample"]
    xr.testing.assert_identical(a.drop_vars(timing).drop_attrs(), b.drop_vars(timing).drop_attrs())

    def history(ds):
        return [
            {k: v for k, v in r.items() if k != "seconds"} for r in ast.literal_eval(ds.attrs["trajectory_history"])
        ]

    assert history(a) == history(b) and len(history(a)) == 3


def test_eq16_against_rf4_samples_is_unbiased_over_repetitions():
    """ZGR eq. (16) with RF(4) reference samples, repeated 150 times on an enumerable SBN: the mean of the
    estimates equals the mean of eq. (16) against the exact gradient on the same ST samples (both unbiased for
    the squared bias). z-test on the paired differences, false-failure rate 1e-3."""
    from gradlab.analysis.bias_variance import squared_bias

    m = SigmoidBeliefNet(hidden=(2, 2), batch_size=1)
    exact = gl.exact_gradient(m)
    diffs, b_exact = [], []
    for rep in range(150):
        st = gl.sample_gradients(m, gl.estimator("st"), 300, seed=2 * rep)
        ref = gl.sample_gradients(m, gl.estimator("reinforce", m=4), 600, seed=2 * rep + 1)
        a, b = squared_bias(st, ref), squared_bias(st, exact)
        diffs.append(a - b)
        b_exact.append(b)
    d = torch.tensor(diffs, dtype=DT)
    z = float(d.mean()) / (float(d.std()) / math.sqrt(len(d)))
    assert abs(z) < norm.ppf(1 - 1e-3 / 2), (z, float(d.mean()), sum(b_exact) / len(b_exact))
    assert sum(b_exact) / len(b_exact) > 0  # ST is biased here: the test compares non-trivial values


@pytest.mark.slow
def test_training_study_on_a_dask_cluster_of_worker_processes():
    """The same runs on a local dask.distributed cluster (2 worker processes on 127.0.0.1): the same numbers
    as in this process; results travel back to the client, nothing is written by the workers."""
    cfg = {"kind": "sbn", "hidden": [3, 3], "batch_size": 4}
    blocks = [{"name": "zgr"}]
    here = gl.training.training_study(cfg, blocks, seeds=[0, 1], epochs=2, batch_size=256)
    there = gl.training.training_study(cfg, blocks, seeds=[0, 1], epochs=2, batch_size=256, n_jobs=2, backend="dask")
    assert here["train_loss"].equals(there["train_loss"]) and here["valid_loss"].equals(there["valid_loss"])


def test_temperature_schedule_anneals_as_jang_et_al(tmp_path):
    """The estimator's temperature follows max(min, start * exp(-rate * s)), s the step rounded down to a
    multiple of `every` (Jang et al. 2017); rate 0 is constant-temperature training to the last bit; an
    annealed run differs from it, and resumes identically."""
    model = gl.problems.SigmoidBeliefNet(hidden=(3, 3), batch_size=4)
    n = model.split("train")[0].shape[0]
    steps = math.ceil(n / 400)
    sched = {"start": 2.0, "min": 0.3, "rate": 0.05, "every": 2}
    est = gl.estimator("gs_st", t=2.0)
    run = gl.train(model, est, epochs=4, batch_size=400, temperature_schedule=sched)
    want = [max(0.3, 2.0 * math.exp(-0.05 * ((e * steps - 1) // 2 * 2))) for e in range(1, 5)]
    assert [h["temperature"] for h in run.history] == pytest.approx(want, rel=1e-15)
    assert want[0] > want[-1] > 0.3  # the schedule moved and has not reached its floor
    flat = gl.train(model, est, epochs=2, batch_size=400, temperature_schedule={**sched, "rate": 0.0})
    plain = gl.train(model, est, epochs=2, batch_size=400)
    assert [h["train_loss"] for h in flat.history] == [h["train_loss"] for h in plain.history]
    assert run.history[1]["train_loss"] != plain.history[1]["train_loss"]
    part = gl.train(
        model, est, epochs=2, batch_size=400, temperature_schedule=sched, snapshot_epochs=[2], out_dir=tmp_path
    )
    rest = gl.train(model, est, epochs=4, batch_size=400, temperature_schedule=sched, resume=part.snapshots[0])
    assert [h["train_loss"] for h in rest.history] == [h["train_loss"] for h in run.history]
    assert gl.train(model, gl.estimator("decoupled_st"), epochs=1, batch_size=400, temperature_schedule=sched).history[
        0
    ]["temperature"] == pytest.approx(2.0 * math.exp(-0.05 * ((steps - 1) // 2 * 2)))  # tau_b by default
    with pytest.raises(ValueError, match="zgr has no temperature to anneal"):
        gl.train(model, gl.estimator("zgr"), epochs=1, temperature_schedule=sched)
    with pytest.raises(ValueError, match="unknown key\\(s\\) tmin"):
        gl.train(model, est, epochs=1, temperature_schedule={"tmin": 0.5})


@pytest.mark.parametrize(
    ("name", "hp", "reads"),
    [
        ("zgr", {}, 0),
        ("gs", {"t": 0.5}, 0),
        ("reinforce", {"m": 2}, 0),
        ("relax", {}, 0),
        ("reinforce", {"m": 1, "baseline": "ema"}, 1),
    ],
)
def test_the_loop_reads_the_loss_once_per_epoch(monkeypatch, name, hp, reads):
    """The steps' losses are summed on the device and read (a host synchronisation on a GPU) once per epoch; only
    an estimator whose state adapts to each step's loss (an EMA baseline) reads it every step."""
    calls = []
    real = torch.Tensor.__float__

    def counted(self):
        calls.append(1)
        return real(self)

    m, est = small_sbn(), gl.estimator(name, **hp)
    steps = math.ceil(m.split("train")[0].shape[0] / 64)
    assert steps >= 20
    monkeypatch.setattr(torch.Tensor, "__float__", counted)
    gl.train(m, est, epochs=1, batch_size=64, evaluate=False)
    assert len(calls) == 1 + reads * steps, (len(calls), steps)
