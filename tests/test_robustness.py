"""No NaN or Inf for logits in [-100, 100] and temperatures down to 1e-3 (dense grid and property-based),
including extreme uniform draws (exactly 0, and the largest value below 1) and masked (-inf) logits."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import gradlab as gl

GRID_VALUES = [-100.0, -37.5, -1.0, 0.0, 2.0, 100.0]
TEMPERATURES = [1e-3, 0.1, 1.0, 10.0]


def configurations():
    for name in gl.available_estimators():
        cls = gl.estimators.REGISTRY[name]
        fields = {f.name for f in dataclasses.fields(cls)}
        if name == "decoupled_st":
            for tf, tb, bw in itertools.product([1e-3, 10.0], [1e-3, 10.0], ["gumbel_logits", "gumbel_sum", "softmax"]):
                yield name, {"tau_f": tf, "tau_b": tb, "backward": bw}
        elif "t" in fields:
            for t in TEMPERATURES:
                yield name, {"t": t, **({"m": 5} if "m" in fields else {})}
        else:
            yield name, {}


def extreme_uniforms(est, logits, seed):
    u = est.draw_uniforms(logits, torch.Generator().manual_seed(seed), sample_ndim=1)
    u[::3, ::2] = 0.0
    u[1::3, 1::2] = 1.0 - torch.finfo(u.dtype).eps / 2
    return u


def quadratic(x):
    w = torch.linspace(-1, 1, x.shape[-1], dtype=x.dtype)
    return (x * w).sum(-1) ** 2 + (x * w.flip(0)).sum(-1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(("name", "hp"), list(configurations()), ids=lambda v: str(v))
def test_dense_grid_finite(name, hp, dtype):
    est = gl.estimator(name, **hp)
    k = est.categories or 3  # binary-only estimators (ARM, DisARM) get pairs
    grid = torch.tensor(list(itertools.product(GRID_VALUES, repeat=k)), dtype=dtype)  # (6^k, k)
    logits = grid.clone().requires_grad_()
    u = extreme_uniforms(est, logits, 0)
    out = est.surrogate(logits, quadratic, u)
    (g,) = torch.autograd.grad(out.sum(), logits)
    assert torch.isfinite(out).all() and torch.isfinite(g).all(), (name, hp)


@pytest.mark.parametrize(("name", "hp"), list(configurations()), ids=lambda v: str(v))
def test_masked_logits_finite(name, hp):
    """A category with logit -inf is never sampled and gets a zero gradient, never NaN."""
    est = gl.estimator(name, **hp)
    row = [0.3, -float("inf"), 1.0, -2.0][: est.categories or 4]
    logits = torch.tensor([row] * 64, dtype=torch.float64, requires_grad=True)
    u = est.draw_uniforms(logits, torch.Generator().manual_seed(1), sample_ndim=1)
    out = est.surrogate(logits, quadratic, u)
    (g,) = torch.autograd.grad(out.sum(), logits)
    assert torch.isfinite(out).all() and torch.isfinite(g).all(), (name, hp)
    assert (g[:, 1] == 0).all()
    if est.pathwise:
        assert (est.plugin_sample(logits, u)[:, 1] == 0).all()


NAMES = [n for n in gl.available_estimators()]


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(NAMES),
    k=st.integers(2, 6),
    data=st.data(),
    log_t=st.floats(-3, 1),
    dtype=st.sampled_from([torch.float32, torch.float64]),
)
def test_property_finite(name, k, data, log_t, dtype):
    cls = gl.estimators.REGISTRY[name]
    k = cls.categories or k
    values = data.draw(st.lists(st.floats(-100, 100), min_size=k, max_size=k))
    fields = {f.name for f in dataclasses.fields(cls)}
    t = 10.0**log_t
    hp = {}
    if "t" in fields:
        hp["t"] = t
    if name == "decoupled_st":
        hp = {"tau_f": t, "tau_b": 10.0 ** data.draw(st.floats(-3, 1))}
    est = gl.estimator(name, **hp)
    logits = torch.tensor([values] * 8, dtype=dtype, requires_grad=True)
    u = est.draw_uniforms(logits, torch.Generator().manual_seed(0), sample_ndim=1)
    out = est.surrogate(logits, quadratic, u)
    (g,) = torch.autograd.grad(out.sum(), logits)
    assert torch.isfinite(out).all() and torch.isfinite(g).all()


def test_atomic_writes_keep_ordinary_permissions(tmp_path):
    """A new file gets 0666 & ~umask (as open() gives), a replaced file keeps its mode; never mkstemp's 0600."""
    import os
    import stat

    from gradlab.core.atomic import atomic_write_text

    old = os.umask(0o022)
    try:
        new = atomic_write_text(tmp_path / "a.txt", "x")
        assert stat.S_IMODE(new.stat().st_mode) == 0o644
        os.chmod(new, 0o640)
        atomic_write_text(new, "y")
        assert stat.S_IMODE(new.stat().st_mode) == 0o640 and new.read_text() == "y"
        os.umask(0o077)
        assert stat.S_IMODE(atomic_write_text(tmp_path / "b.txt", "x").stat().st_mode) == 0o600
    finally:
        os.umask(old)


def test_bad_numbers_fail_before_any_work_and_a_failed_sweep_leaves_no_empty_folder(tmp_path, capsys):
    """gradlab demo/run with n <= 1 (or epochs, n_jobs <= 0) fail with one line before training anything; a sweep
    whose first cell fails leaves no empty <out>.cells folder."""
    from gradlab.cli.main import main
    from gradlab.sweep import run_sweep

    for argv, message in (
        (["demo", "--n", "0"], "demo: --n must be an integer >= 2, got 0"),
        (["demo", "--n", "-5"], "demo: --n must be an integer >= 2, got -5"),
        (["run", "--n", "0", "--out", str(tmp_path / "r")], "run: n must be an integer >= 2, got 0"),
        (["run", "--epochs", "0", "--out", str(tmp_path / "r")], "run: epochs must be an integer >= 1, got 0"),
    ):
        assert main(argv) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()  # nothing trained, nothing written
    out = tmp_path / "s.nc"
    cfg = {
        "out": str(out),
        "problem": {"kind": "single", "num_classes": 3},
        "reference": {"kind": "exact"},
        "sampling": {"n": 100, "wrt": "encoder"},  # not a group of this problem: the first cell fails
        "estimators": [{"name": "zgr"}],
    }
    with pytest.raises(ValueError, match="wrt"):
        run_sweep(cfg, progress=False)
    assert not (tmp_path / "s.nc.cells").exists()


@pytest.mark.parametrize("name", ["gs", "gs_st", "gr_mc", "st", "reinmax", "st_zgr", "decoupled_st"])
def test_half_precision_temperature_that_overflows_is_a_warning(name):
    """float16 at t = 1e-6: logits / t overflows (65504 t = 0.066), and the gradient is NaN, as the warning says;
    float32 at the same temperature and float16 at t = 1 stay silent (issue 12, item 10)."""
    import warnings

    hp = {"tau_b": 1e-6} if name == "decoupled_st" else {"t": 1e-6}
    est = gl.estimator(name, **hp)
    logits = torch.tensor([[0.5, -1.0, 2.0]], dtype=torch.float16, requires_grad=True)
    u = est.draw_uniforms(logits, 0)
    with pytest.warns(
        RuntimeWarning, match=rf"{name}: temperature 1e-06 in float16: logits / t overflows for \|logits\| > 0.0655"
    ):
        value = est.surrogate(logits, lambda x: (x * torch.arange(3.0, dtype=x.dtype)).sum(-1), u).sum()
    (g,) = torch.autograd.grad(value, logits)
    assert not torch.isfinite(g).all()  # what the warning announces
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for dtype, t in ((torch.float32, 1e-6), (torch.float16, 1.0)):
            e = gl.estimator(name, **({"tau_b": t} if name == "decoupled_st" else {"t": t}))
            x = logits.detach().to(dtype)
            e.surrogate(x, lambda y: y.sum(-1), e.draw_uniforms(x, 0))
