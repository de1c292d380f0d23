"""The Monte Carlo sampler: reproducibility across chunk sizes, vectorised = per-sample loop, statistics
equal to direct computation, every estimator on every problem, flat memory."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

import gradlab as gl
from gradlab.measure.sampler import per_sample_gradients
from gradlab.problems import CategoricalVAE, digits
from gradlab.problems.build import build_problem

DT = torch.float64


def single():
    return build_problem({"kind": "single", "num_classes": 5, "logits_seed": 1, "loss_seed": 2})


def tiny_vae(**kw):
    return CategoricalVAE.on_dataset(digits(), batch_size=6, num_vars=2, num_classes=4, hidden=(10, 7), **kw)


PROBLEMS = {
    "single": single,
    "binary": lambda: build_problem({"kind": "binary", "logit": 0.4}),
    "multi": lambda: build_problem({"kind": "multi", "num_vars": 3, "num_classes": 3}),
    "quantization": lambda: build_problem({"kind": "quantization", "eta": 1.2, "noise": "logistic", "std": 0.5}),
    "vae": tiny_vae,
}


@pytest.mark.parametrize("problem", ["single", "vae"])
@pytest.mark.parametrize(("name", "hp"), [("zgr", {}), ("gr_mc", {"t": 0.5, "m": 3}), ("reinforce", {"m": 3})])
def test_same_seed_any_chunk_size(problem, name, hp):
    prob = PROBLEMS[problem]()
    est = gl.estimator(name, **hp)
    n = 37
    ref = gl.sample_gradients(prob, est, n, seed=5, keep_samples=n, chunk_size=n)
    for chunk in [1, 4, 16]:
        other = gl.sample_gradients(prob, est, n, seed=5, keep_samples=n, chunk_size=chunk)
        torch.testing.assert_close(other.samples, ref.samples, rtol=1e-12, atol=1e-15)  # the same samples
        torch.testing.assert_close(other.mean, ref.mean, rtol=1e-12, atol=1e-15)
        torch.testing.assert_close(other.m2, ref.m2, rtol=1e-12, atol=1e-15)
    different = gl.sample_gradients(prob, est, n, seed=6, keep_samples=n)
    assert not torch.allclose(different.samples, ref.samples)


@pytest.mark.parametrize("problem", list(PROBLEMS))
def test_statistics_equal_direct_computation(problem):
    prob = PROBLEMS[problem]()
    st = gl.sample_gradients(prob, gl.estimator("st", t=2.0), 50, seed=0, keep_samples=50, chunk_size=7)
    x = st.samples.to(DT)
    torch.testing.assert_close(st.mean, x.mean(0), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(st.var, x.var(0), rtol=1e-10, atol=1e-14)
    assert st.layout.size == x.shape[1] and st.meta["estimator"] == "st(t=2)"


def loop_gradient(prob, est, uniforms, wrt):
    """One sample per backward pass, unreplicated parameters: how reference scripts do it."""
    leaves = {k: v.clone().requires_grad_() for k, v in prob.params(wrt).items()}
    full = prob.full_params(leaves)
    logits = prob.latent_logits(full)
    fwd = est.forward_logits(logits)
    out = est.surrogate(logits, lambda x: prob.loss(x, full, fwd), uniforms)
    grads = torch.autograd.grad(out.sum(), list(leaves.values()), allow_unused=True)
    grads = {k: torch.zeros_like(leaves[k]) if g is None else g for k, g in zip(leaves, grads, strict=True)}
    return prob.layout(wrt).flatten(grads)


ALL = [(n, {}) for n in gl.available_estimators()] + [("decoupled_st", {"tau_f": 0.5, "tau_b": 2.0})]


@pytest.mark.parametrize("problem", list(PROBLEMS))
@pytest.mark.parametrize(("name", "hp"), ALL, ids=[f"{n}{h}" for n, h in ALL])
def test_every_estimator_on_every_problem(problem, name, hp):
    """Vectorised per-sample gradients equal the one-at-a-time loop, for every wrt."""
    prob = PROBLEMS[problem]()
    est = gl.estimator(name, **hp)
    wrts = ["all", "logits"] + (["encoder", "decoder"] if problem == "vae" else [])
    logits_shape = prob.latent_logits(prob.param_values()).shape
    if est.categories not in (None, logits_shape[-1]):  # e.g. ARM on a 5-way variable: a one-line error
        u = est.draw_uniforms(torch.zeros(2, *logits_shape, dtype=DT), torch.Generator().manual_seed(1), sample_ndim=1)
        with pytest.raises((ValueError, TypeError), match=f"{name}: defined for variables of 2|{name} is neither"):
            per_sample_gradients(prob, est, u, "all", {})
        return
    for wrt in wrts:
        u = est.draw_uniforms(torch.zeros(4, *logits_shape, dtype=DT), torch.Generator().manual_seed(1), sample_ndim=1)
        got = prob.layout(wrt).flatten(per_sample_gradients(prob, est, u, wrt, {}), sample_ndim=1)
        assert torch.isfinite(got).all()
        for r in range(4):
            torch.testing.assert_close(got[r], loop_gradient(prob, est, u[r], wrt), rtol=1e-10, atol=1e-13)


def test_float32_vae_fast_path_matches_float64():
    """The same uniforms through the float32 and float64 problems: float32 rounding only; statistics are
    accumulated in float64 either way."""
    prob64, prob32 = tiny_vae(), tiny_vae(dtype=torch.float32)
    est = gl.estimator("zgr")
    shape = prob64.latent_logits(prob64.param_values()).shape
    u = est.draw_uniforms(torch.zeros(8, *shape, dtype=DT), torch.Generator().manual_seed(3), sample_ndim=1)
    a = prob64.layout().flatten(per_sample_gradients(prob64, est, u, "all", {}), sample_ndim=1)
    b = prob32.layout().flatten(per_sample_gradients(prob32, est, u.float(), "all", {}), sample_ndim=1)
    assert b.dtype == torch.float32
    torch.testing.assert_close(b.to(DT), a, rtol=1e-4, atol=1e-6)
    st = gl.sample_gradients(prob32, est, 16, seed=0)
    assert st.mean.dtype == torch.float64 and st.m2.dtype == torch.float64


def test_merge_equals_union():
    prob = single()
    est = gl.estimator("reinforce", m=2)
    a = gl.sample_gradients(prob, est, 30, seed=1, keep_samples=30)
    b = gl.sample_gradients(prob, est, 50, seed=2, keep_samples=50)
    x = torch.cat([a.samples, b.samples]).to(DT)
    m = a.merge(b)
    assert m.n == 80
    torch.testing.assert_close(m.mean, x.mean(0), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(m.var, x.var(0), rtol=1e-10, atol=1e-14)


def test_argument_errors():
    prob = single()
    with pytest.raises(ValueError, match="sample_gradients: n must be an integer >= 1, got 0"):
        gl.sample_gradients(prob, gl.estimator("zgr"), 0)
    with pytest.raises(TypeError, match="estimator must be a gradlab Estimator"):
        gl.sample_gradients(prob, "zgr", 10)
    with pytest.raises(ValueError, match="wrt must be one of 'all', 'logits'; got 'decoder'"):
        gl.sample_gradients(prob, gl.estimator("zgr"), 10, wrt="decoder")


MEMORY_SCRIPT = """
import sys, torch, gradlab as gl
from gradlab.problems.build import build_problem
prob = build_problem({"kind": "vae", "num_vars": 2, "num_classes": 4, "hidden": [64, 32], "batch_size": 50})
gl.sample_gradients(prob, gl.estimator("zgr"), int(sys.argv[1]), seed=0, chunk_size=64)
print([int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")][0])
"""


@pytest.mark.slow
def test_peak_memory_flat_in_n():
    """Peak resident memory for n = 10^2 and 10^4 samples (~39,000 entries each): no samples are stored."""

    def peak(n):
        out = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, str(n)], capture_output=True, text=True, check=True)
        return int(out.stdout.strip().splitlines()[-1])

    small, large = peak(100), peak(10_000)
    assert large - small < 32 * 1024, (small, large)  # storing the samples would need 1.5 GB (float32: 0.8)
