"""Quantization-unit probabilities, bit codes and binary <-> categorical helpers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate

from gradlab.core import distributions as D

DT = torch.float64
ETAS = [-100.0, -2.3, -0.5, 0.0, 0.25, 0.5, 1.0, 1.5, 2.9, 3.0, 3.5, 100.0]
CONFIGS = [
    (4, "triangular", None),
    (4, "logistic", 1 / 3),
    (4, "logistic", 1.5),
    (4, "uniform", None),
    (3, "triangular", 0.8),
    ([-1.0, 0.0, 0.5, 2.0], "logistic", 0.4),
    ([-1.0, 0.0, 0.5, 2.0], "triangular", None),
]


# the paper's unit shapes: triangle max(0, 1-|z|), uniform on [-1/2, 1/2], logistic with std 1/3
DEFAULT_STD = {"triangular": 1 / math.sqrt(6), "uniform": 1 / math.sqrt(12), "logistic": 1 / 3}


def kinks(noise, std):
    """Points where the density is not smooth (quadrature breakpoints)."""
    std = DEFAULT_STD[noise] if std is None else std
    if noise == "triangular":
        a = (std or 1 / math.sqrt(6)) * math.sqrt(6)
        return [-a, 0.0, a]
    if noise == "uniform":
        w = (std or 1 / math.sqrt(12)) * math.sqrt(12)
        return [-w / 2, w / 2]
    return [0.0]


def scipy_pdf(noise, std):
    std = DEFAULT_STD[noise] if std is None else std
    if noise == "logistic":
        s = std * math.sqrt(3) / math.pi
        return lambda z: math.exp(-abs(z) / s) / (s * (1 + math.exp(-abs(z) / s)) ** 2)
    if noise == "triangular":
        a = (std or 1 / math.sqrt(6)) * math.sqrt(6)
        return lambda z: max(0.0, 1 - abs(z) / a) / a
    w = (std or 1 / math.sqrt(12)) * math.sqrt(12)
    return lambda z: (1.0 / w) if abs(z) <= w / 2 else 0.0


@pytest.mark.parametrize(("levels", "noise", "std"), CONFIGS)
def test_probabilities_sum_to_one_and_match_quadrature(levels, noise, std):
    eta = torch.tensor(ETAS, dtype=DT)
    logp = D.quantization_log_probs(eta, levels, noise, std)
    torch.testing.assert_close(logp.exp().sum(-1), torch.ones(len(ETAS), dtype=DT), rtol=0, atol=1e-14)
    lv = D.quantization_levels(levels).numpy()
    mids = 0.5 * (lv[1:] + lv[:-1])
    edges = np.concatenate([[-np.inf], mids, [np.inf]])
    pdf = scipy_pdf(noise, std)
    for i, e in enumerate(ETAS):
        for k in range(len(lv)):
            a, b = edges[k] - e, edges[k + 1] - e
            a, b = max(a, -60.0), min(b, 60.0)  # the noise has no mass beyond |z| > 60 at these stds
            pts = [c for c in kinks(noise, std) if a < c < b] or None
            want = integrate.quad(pdf, a, b, points=pts, epsabs=1e-14, epsrel=1e-12, limit=200)[0] if a < b else 0.0
            got = float(logp[i, k].exp())
            assert abs(got - want) <= 1e-11 + 1e-9 * want, (e, k, got, want)


@pytest.mark.parametrize(("levels", "noise", "std"), [c for c in CONFIGS if c[1] == "logistic"])
def test_log_space_accuracy_in_tails(levels, noise, std):
    """Far tails keep relative accuracy in log space (logistic) rather than rounding to log 0."""
    eta = torch.tensor([-100.0, 100.0], dtype=DT)
    logp = D.quantization_log_probs(eta, levels, noise, std)
    assert torch.isfinite(logp).all()
    s = std * math.sqrt(3) / math.pi
    lv = D.quantization_levels(levels)
    # P(top level | eta=-100) = 1 - F(mid - eta) ~ exp(-(mid + 100)/s)
    mid = float(0.5 * (lv[-1] + lv[-2]))
    torch.testing.assert_close(logp[0, -1], torch.tensor(-(mid + 100) / s, dtype=DT), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(("levels", "noise", "std"), CONFIGS)
def test_gradients_finite_at_and_between_boundaries(levels, noise, std):
    lv = D.quantization_levels(levels)
    mids = 0.5 * (lv[1:] + lv[:-1])
    s = std if std is not None else D.default_noise_std(noise)
    edges = torch.cat([mids, lv, mids + 1e-9, mids - 1e-9, lv + s, lv - s, torch.tensor([-100.0, 100.0], dtype=DT)])
    eta = edges.clone().requires_grad_()
    logp = D.quantization_log_probs(eta, levels, noise, std)
    values = lv.to(DT)
    (g,) = torch.autograd.grad((logp.exp() * values).sum(), eta, retain_graph=True)
    assert torch.isfinite(g).all()
    (g2,) = torch.autograd.grad(torch.where(torch.isfinite(logp), logp, 0).sum(), eta)
    assert torch.isfinite(g2).all()


@pytest.mark.parametrize(("levels", "noise", "std"), CONFIGS)
def test_probability_gradient_matches_finite_differences(levels, noise, std):
    """d P_k / d eta by autograd vs central differences in float64, away from kinks."""
    eta = torch.tensor([-1.13, 0.37, 1.21, 2.66], dtype=DT, requires_grad=True)
    probs = D.quantization_log_probs(eta, levels, noise, std).exp()
    k = probs.shape[-1]
    h = 1e-6
    for j in range(k):
        (g,) = torch.autograd.grad(probs[:, j].sum(), eta, retain_graph=True)
        up = D.quantization_log_probs(eta.detach() + h, levels, noise, std).exp()[:, j]
        dn = D.quantization_log_probs(eta.detach() - h, levels, noise, std).exp()[:, j]
        torch.testing.assert_close(g, (up - dn) / (2 * h), rtol=1e-6, atol=1e-8)


def test_noise_cdf_pdf_consistent_and_std():
    z = torch.linspace(-3, 3, 2001, dtype=DT)
    for noise in D.NOISES:
        for std in [None, 0.7]:
            pdf = D.noise_pdf(z, noise, std)
            density = scipy_pdf(noise, std)
            var = float(
                integrate.quad(lambda v, f=density: v * v * f(v), -40, 40, points=kinks(noise, std), limit=200)[0]
            )
            want = (std if std is not None else DEFAULT_STD[noise]) ** 2
            assert abs(var - want) < 1e-8, (noise, std, var, want)
            cdf = D.noise_cdf(z, noise, std)
            assert torch.all(cdf[1:] >= cdf[:-1])
            np.testing.assert_allclose(pdf.numpy(), [scipy_pdf(noise, std)(float(v)) for v in z], atol=1e-12)


def test_levels_and_bad_arguments():
    torch.testing.assert_close(D.quantization_levels(3), torch.tensor([0.0, 1.0, 2.0], dtype=DT))
    with pytest.raises(ValueError, match="levels: values must be strictly increasing"):
        D.quantization_levels([0.0, 2.0, 1.0])
    with pytest.raises(ValueError, match="noise must be one of 'triangular', 'logistic', 'uniform'; got 'gauss'"):
        D.quantization_log_probs(torch.zeros(2, dtype=DT), 4, "gauss")
    with pytest.raises(ValueError, match="std must be a finite real number > 0, got -1"):
        D.quantization_log_probs(torch.zeros(2, dtype=DT), 4, "logistic", -1)


def test_bit_codes():
    c = D.bit_codes(8)
    assert c.shape == (8, 3)
    assert set(c.unique().tolist()) == {-1.0, 1.0}
    assert len({tuple(r) for r in c.tolist()}) == 8
    for k in range(8):
        assert [int(v > 0) for v in c[k].tolist()] == [(k >> i) & 1 for i in range(3)]
    with pytest.raises(ValueError, match="num_classes must be a power of two"):
        D.bit_codes(6)


def test_binary_categorical_roundtrip():
    a = torch.tensor([-2.0, 0.0, 3.5], dtype=DT)
    logits = D.binary_to_categorical(a)
    torch.testing.assert_close(torch.softmax(logits, -1)[:, 1], torch.sigmoid(a))
    torch.testing.assert_close(D.categorical_to_binary(logits), a)
    with pytest.raises(ValueError, match="K = 2"):
        D.categorical_to_binary(torch.zeros(2, 3))


COMPACT = [c for c in CONFIGS if c[1] != "logistic"]


def _finite(logp):
    return torch.where(torch.isfinite(logp), logp, torch.zeros_like(logp))


@pytest.mark.parametrize(("levels", "noise", "std"), COMPACT)
def test_compact_backward_equals_autograd_of_the_definition(levels, noise, std):
    """The compact quantizer's own backward ``(f(b_k - eta) - f(b_k+1 - eta)) / p_k`` against autograd through
    the CDF formula, and ``gradcheck`` / ``gradgradcheck`` (finite differences in float64) away from kinks."""
    g = torch.Generator().manual_seed(0)
    lv = D.quantization_levels(levels)
    eta = (torch.rand(400, generator=g, dtype=DT) * (float(lv[-1] - lv[0]) + 3) + float(lv[0]) - 1.5).requires_grad_()
    w = torch.randn(400, len(lv), generator=g, dtype=DT)
    logp = D.quantization_log_probs(eta, levels, noise, std)
    (got,) = torch.autograd.grad((_finite(logp) * w).sum(), eta)
    inf = torch.tensor([math.inf], dtype=DT)
    mids = 0.5 * (lv[1:] + lv[:-1])
    s = D.default_noise_std(noise) if std is None else std
    plain = D._compact_log_probs(eta, torch.cat([-inf, mids]), torch.cat([mids, inf]), noise, s)  # plain autograd
    (want,) = torch.autograd.grad((_finite(plain) * w).sum(), eta)
    assert torch.equal(logp, plain)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    x = torch.tensor([-1.13, 0.37, 1.21, 2.66], dtype=DT, requires_grad=True)
    assert torch.autograd.gradcheck(lambda e: _finite(D.quantization_log_probs(e, levels, noise, std)), (x,))
    if noise == "triangular":  # (the uniform density is piecewise constant: its second derivative is 0 a.e.)
        assert torch.autograd.gradgradcheck(lambda e: _finite(D.quantization_log_probs(e, levels, noise, std)), (x,))


def test_compact_backward_zero_for_impossible_levels_and_under_vmap():
    eta = torch.tensor([0.0, 1.0, 2.0], dtype=DT, requires_grad=True)  # at a level: the far levels are impossible
    logp = D.quantization_log_probs(eta, 4, "triangular")
    assert torch.isinf(logp).any()
    (g,) = torch.autograd.grad(_finite(logp).sum(), eta)
    assert torch.isfinite(g).all()

    def one(e, u):
        return _finite(D.quantization_log_probs(e * u, 3)).sum()

    gen = torch.Generator().manual_seed(1)
    e = torch.rand(7, generator=gen, dtype=DT) + 0.2
    u = torch.rand(5, 7, generator=gen, dtype=DT)
    batched = torch.func.vmap(torch.func.grad(one), in_dims=(None, 0))(e, u)
    looped = torch.stack([torch.func.grad(one)(e, row) for row in u])
    torch.testing.assert_close(batched, looped, rtol=0, atol=0)
