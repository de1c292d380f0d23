"""The exact engine against central finite differences (float64), an independent brute-force loop, and
chunk-size invariance; the enumeration limit error."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

import gradlab as gl
from gradlab.problems import Binary, CategoricalVAE, MultiCategorical, QuantizationUnit, SingleCategorical

DT = torch.float64


def quad_loss(seed, k):
    g = torch.Generator().manual_seed(seed)
    a, b = torch.randn(k, k, generator=g, dtype=DT), torch.randn(k, generator=g, dtype=DT)
    return lambda x: ((x @ a) * x).sum(-1) + x @ b + torch.sin((x @ b) * 3)


def tiny_data(b=5, seed=0):
    return gl.problems.digits().fixed_batch(b, seed).to(DT)


def problems():
    yield "single", SingleCategorical(torch.tensor([0.3, -1.2, 0.8, 0.1, 2.0]), quad_loss(0, 5))
    yield "binary", Binary(0.7, lambda b: (b - 0.3) ** 2 + torch.exp(b))
    w = torch.randn(3, 4, generator=torch.Generator().manual_seed(1), dtype=DT)
    yield (
        "multi",
        MultiCategorical(
            torch.randn(3, 4, dtype=DT, generator=torch.Generator().manual_seed(2)),
            lambda x: torch.tanh((x * w).sum((-1, -2))) + (x[..., 0, :] * x[..., 1, :]).sum(-1),
        ),
    )
    for noise, loss in [("triangular", "quadratic"), ("logistic", "sigmoid"), ("uniform", "linear")]:
        yield f"quant-{noise}", QuantizationUnit(0.37, 4, noise, loss)
    for emb, enc in [("bits", "nonlinear"), ("onehot", "linear")]:
        yield f"vae-{emb}-{enc}", CategoricalVAE(tiny_data(), 2, 4, emb, enc, hidden=(12, 7), seed=3)


PROBLEMS = list(problems())


def fd_directional(prob, wrt, direction, h=1e-3):
    """Five-point central difference (error O(h^4)) of E[L] along ``direction``, in float64."""
    base = prob.params(wrt)
    layout = prob.layout(wrt)
    d = layout.unflatten(direction)

    def f(s):
        return float(gl.exact_expectation(prob, {k: base[k] + s * d[k] for k in base}))

    return (f(-2 * h) - 8 * f(-h) + 8 * f(h) - f(2 * h)) / (12 * h)


@pytest.mark.parametrize(("name", "prob"), PROBLEMS, ids=[n for n, _ in PROBLEMS])
def test_exact_gradient_matches_central_differences(name, prob):
    wrts = ["all", "logits"] + (["encoder", "decoder"] if name.startswith("vae") else [])
    for wrt in wrts:
        g = gl.exact_gradient(prob, wrt)
        assert g.dtype == torch.float64 and g.shape == (prob.layout(wrt).size,)
        gen = torch.Generator().manual_seed(0)
        # along the gradient and random unit directions (which involve every entry): relative error < 1e-6
        for d in [g / g.norm(), *(torch.randn(g.shape, generator=gen, dtype=DT) for _ in range(2))]:
            d = d / d.norm()
            fd = fd_directional(prob, wrt, d)
            assert abs(float(g @ d) - fd) <= 1e-6 * float(g.norm()), (wrt, float(g @ d), fd)
        # single coordinates: the largest entries, relative to themselves
        for i in torch.argsort(g.abs(), descending=True)[:3].tolist():
            if abs(float(g[i])) < 1e-2 * float(g.norm()):
                continue  # (a near-zero entry: its FD is roundoff; covered by the directions above)
            e = torch.zeros_like(g)
            e[i] = 1
            fd = fd_directional(prob, wrt, e)
            assert abs(float(g[i]) - fd) <= 1e-6 * abs(fd), (wrt, i, float(g[i]), fd)


def brute_force_vae(prob: CategoricalVAE, params):
    """E[-ELBO] one configuration and one data point at a time, written from the model's definition."""
    arch = prob.arch
    v, k = arch.num_vars, arch.num_classes
    b = k.bit_length() - 1

    def layers(part, h):
        n = len([p for p in params if p.startswith(part) and p.endswith("weight")])
        for i in range(n):
            h = params[f"{part}.{i}.weight"] @ h + params[f"{part}.{i}.bias"]
            if i < n - 1:
                h = torch.where(h > 0, h, 0.2 * h)
        return h

    total = 0.0
    data = prob.data
    for xb in data:
        logits = layers("encoder", xb).reshape(v, k)
        q = torch.softmax(logits, -1)
        kl = (q * torch.log(q * k)).sum()
        expected_nll = 0.0
        for config in itertools.product(range(k), repeat=v):
            if arch.embedding == "bits":
                z = torch.tensor([[1.0 if (c >> i) & 1 else -1.0 for i in range(b)] for c in config], dtype=DT).reshape(
                    -1
                )
            else:
                z = torch.nn.functional.one_hot(torch.tensor(config), k).to(DT).reshape(-1)
            d = layers("decoder", z)
            p_bern = torch.sigmoid(d)
            nll = -(xb * torch.log(p_bern) + (1 - xb) * torch.log(1 - p_bern)).sum()
            qc = math.prod(q[i, c] for i, c in enumerate(config))
            expected_nll = expected_nll + qc * nll
        total = total + expected_nll + kl
    return total / data.shape[0]


@pytest.mark.parametrize(("emb", "enc"), [("bits", "nonlinear"), ("onehot", "nonlinear"), ("bits", "linear")])
def test_vae_engine_equals_brute_force_loop(emb, enc):
    prob = CategoricalVAE(tiny_data(4, 1), 2, 4, emb, enc, hidden=(9, 6), seed=5)
    leaves = {k: v.clone().requires_grad_() for k, v in prob.param_values().items()}
    want = brute_force_vae(prob, leaves)
    grads = torch.autograd.grad(want, list(leaves.values()))
    want_grad = prob.layout("all").flatten(dict(zip(leaves, grads, strict=True)))
    got = gl.exact_expectation(prob)
    torch.testing.assert_close(got, want.detach(), rtol=1e-12, atol=0)
    for chunk in [1, 3, 7, 16]:
        torch.testing.assert_close(gl.exact_gradient(prob, chunk_size=chunk), want_grad, rtol=1e-11, atol=1e-14)


@pytest.mark.parametrize(("name", "prob"), PROBLEMS, ids=[n for n, _ in PROBLEMS])
def test_chunk_size_invariance(name, prob):
    ref = gl.exact_gradient(prob, chunk_size=10**6)
    for chunk in [1, 2, 5]:
        torch.testing.assert_close(gl.exact_gradient(prob, chunk_size=chunk), ref, rtol=1e-12, atol=1e-15)


def noise_density(noise: str, std: float):
    """The injected noise density, written independently of gradlab (unit shapes rescaled to ``std``)."""
    if noise == "triangular":
        a = std * math.sqrt(6)
        return lambda z: max(0.0, 1 - abs(z) / a) / a
    if noise == "uniform":
        w = std * math.sqrt(12)
        return lambda z: (1.0 / w) if abs(z) <= w / 2 else 0.0
    sc = std * math.sqrt(3) / math.pi
    return lambda z: math.exp(-abs(z) / sc) / (sc * (1 + math.exp(-abs(z) / sc)) ** 2)


def quadrature_expectation(prob: QuantizationUnit, eta: float) -> float:
    """E[L(round(eta + z))] = sum_k L(l_k) * integral of the density over level k's cell (scipy quad)."""
    from scipy import integrate

    pdf = noise_density(prob.noise, prob.std)
    lv = prob.levels.numpy()
    edges = np.concatenate([[-60.0], 0.5 * (lv[1:] + lv[:-1]), [60.0]])
    total = 0.0
    for k in range(lv.size):
        a, b = edges[k] - eta, edges[k + 1] - eta
        pts = [c for c in (-1.0, -0.5, 0.0, 0.5, 1.0) if a < c < b] or None
        mass = integrate.quad(pdf, a, b, points=pts, epsabs=1e-14, epsrel=1e-13, limit=200)[0]
        total += mass * float(prob.user_loss(torch.tensor(lv[k], dtype=DT)))
    return total


def test_quantization_gradient_closed_form_and_quadrature():
    """QuantizationUnit: engine = derivative of the closed form = d/d eta of a quadrature of L(round(eta+z))p(z)."""
    for noise, std in [("triangular", None), ("logistic", 1 / 3), ("uniform", None), ("logistic", 0.8)]:
        for loss in ["linear", "quadratic", "sigmoid"]:
            for eta in [-0.8, 0.37, 1.3, 2.9]:  # away from the kinks of the densities (FD is O(h) there)
                prob = QuantizationUnit(eta, 4, noise, loss, std)
                g = float(gl.exact_gradient(prob))
                e = torch.tensor(eta, dtype=DT, requires_grad=True)
                (g_closed,) = torch.autograd.grad(prob.expectation_closed_form(e), e)
                assert abs(g - float(g_closed)) < 1e-13
                h = 1e-4
                g_quad = (quadrature_expectation(prob, eta + h) - quadrature_expectation(prob, eta - h)) / (2 * h)
                assert abs(g - g_quad) < 1e-7 + 1e-6 * abs(g), (noise, loss, eta, g, g_quad)


def test_decoupled_target_uses_forward_temperature():
    """exact_gradient(problem, estimator=decoupled_st(tau_f)) = gradient of E under softmax(eta/tau_f)."""
    loss = quad_loss(3, 5)
    eta = torch.tensor([0.3, -1.2, 0.8, 0.1, 2.0], dtype=DT)
    prob = SingleCategorical(eta, loss)
    est = gl.estimator("decoupled_st", tau_f=0.5, tau_b=1.0)
    e = eta.clone().requires_grad_()
    (want,) = torch.autograd.grad((torch.softmax(e / 0.5, -1) * loss(torch.eye(5, dtype=DT))).sum(), e)
    torch.testing.assert_close(gl.exact_gradient(prob, estimator=est), want)
    assert (gl.exact_gradient(prob) - want).abs().max() > 1e-3
    torch.testing.assert_close(
        gl.exact_gradient(prob, estimator=gl.estimator("decoupled_st", tau_f=1.0)), gl.exact_gradient(prob)
    )


def test_support_too_large_is_a_clear_error():
    prob = MultiCategorical(torch.zeros(12, 16, dtype=DT), lambda x: x.sum((-1, -2)))
    with pytest.raises(
        ValueError, match=r"281,474,976,710,656 configurations \(K\^V = 16\^12\), above max_configurations=4,194,304"
    ):
        gl.exact_gradient(prob)
    with pytest.raises(ValueError, match="above max_configurations=100"):
        gl.exact_expectation(
            MultiCategorical(torch.zeros(3, 5, dtype=DT), lambda x: x.sum((-1, -2))), max_configurations=100
        )


def test_layout_maps_back_to_names():
    prob = CategoricalVAE(tiny_data(), 2, 4, hidden=(5, 3), seed=1)
    g = gl.exact_gradient(prob, "decoder")
    parts = prob.layout("decoder").unflatten(g)
    assert set(parts) == set(prob.param_groups()["decoder"])
    assert parts["decoder.0.weight"].shape == prob.param_values()["decoder.0.weight"].shape
    labels = prob.layout("decoder").labels()
    assert len(labels) == g.numel() and labels[0] == "decoder.0.weight[0,0]"
    with pytest.raises(ValueError, match="wrt must be one of 'all', 'encoder', 'decoder', 'logits'; got 'enc'"):
        gl.exact_gradient(prob, "enc")


PEAK_SCRIPT = """
import sys, torch, gradlab as gl
from gradlab.problems import CategoricalVAE
v = int(sys.argv[1])
data = (torch.rand(200, 784, generator=torch.Generator().manual_seed(0)) < 0.3).float()
prob = CategoricalVAE(data, v, 2, "bits", "nonlinear", hidden=(64, 32), dtype=torch.float32)
g = gl.exact_gradient(prob, chunk_size=2048)
assert torch.isfinite(g).all()
print([int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")][0])
"""


@pytest.mark.skipif(not __import__("pathlib").Path("/proc/self/status").exists(), reason="needs Linux /proc")
@pytest.mark.slow
def test_peak_memory_bounded_by_chunk_not_support():
    """4,096 vs 262,144 configurations at the same chunk size: the peak resident memory barely moves (the
    decoder outputs alone of an unchunked 2^18 pass would need 822 MB)."""
    import subprocess
    import sys

    def peak_kib(v):
        out = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, str(v)], capture_output=True, text=True, check=True)
        return int(out.stdout.strip().splitlines()[-1])

    small, large = peak_kib(12), peak_kib(18)
    assert large - small < 64 * 1024, (small, large)
