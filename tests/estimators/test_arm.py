"""ARM (Yin & Zhou 2019) and DisARM (Dong et al. 2020) for binary variables (issue 13): per sample against an
independent NumPy implementation, unbiased against enumeration (z-tests at a stated false-failure rate), DisARM's
variance below ARM's (it is ARM with u integrated out), per-element losses, and the errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from scipy.stats import norm

import gradlab as gl

from ..contract import check_per_element

DT = torch.float64
A = torch.tensor([0.7, -1.2, 2.0, 0.0], dtype=DT)
W = torch.tensor([1.0, -2.0, 0.5, 1.5], dtype=DT)


def loss_of_bits(b):  # a non-linear function of 4 bits (so neither estimator is trivially exact)
    return (b * W).sum(-1) ** 2 + torch.sin(3 * b[..., 0] * b[..., 1])


def loss(x):  # one-hot (..., 4, 2) -> (...)
    return loss_of_bits(x[..., 1])


def exact_gradient() -> torch.Tensor:
    p, g = torch.sigmoid(A), torch.zeros(4, dtype=DT)
    for bits in itertools.product([0.0, 1.0], repeat=4):
        b = torch.tensor(bits, dtype=DT)
        g += loss_of_bits(b) * torch.prod(torch.where(b == 1, p, 1 - p)) * (b - p)  # f(b) d p(b) / d a
    return g


def numpy_estimate(name: str, a: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Independent formulas (Yin & Zhou 2019 eq. 5; Dong et al. 2020 eq. 5) on the Bernoulli logits."""
    sig = 1 / (1 + np.exp(-a))
    b, bt = (u < sig).astype(float), (u > 1 - sig).astype(float)

    def f(bits):
        w = W.numpy()
        return (bits * w).sum() ** 2 + np.sin(3 * bits[0] * bits[1])

    if name == "arm":
        return (f(bt) - f(b)) * (u - 0.5)
    return 0.5 * (f(b) - f(bt)) * (-1.0) ** bt * (b != bt) * (1 / (1 + np.exp(-np.abs(a))))


def gradients(name: str, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    est = gl.estimator(name)
    logits = torch.stack([torch.zeros(4, dtype=DT), A], -1).expand(n, 4, 2).clone().requires_grad_()
    u = est.draw_uniforms(logits, seed, sample_ndim=1)
    (g,) = torch.autograd.grad(est.surrogate(logits, loss, u).sum(), logits)
    return g, u


@pytest.mark.parametrize("name", ["arm", "disarm"])
def test_per_sample_against_independent_formulas(name):
    g, u = gradients(name, 50, 1)
    torch.testing.assert_close(g[..., 0], -g[..., 1], rtol=0, atol=0)  # d/dl0 = -d/da, d/dl1 = d/da
    uo = gl.random.open_uniform(u).numpy()
    for r in range(50):
        want = numpy_estimate(name, A.numpy(), uo[r])
        np.testing.assert_allclose(g[r, :, 1].numpy(), want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ["arm", "disarm"])
def test_unbiased_against_enumeration(name):
    """z-test per coordinate (Bonferroni over 4, family false-failure rate 1e-3); ST, biased here, fails it."""
    exact = exact_gradient()
    n = 200_000
    g, _ = gradients(name, n, 2)
    ga = g[..., 1]
    z = ((ga.mean(0) - exact) / (ga.var(0) / n).sqrt()).abs()
    assert float(z.max()) < norm.ppf(1 - 1e-3 / 8), z
    st = gl.estimator("st")
    logits = torch.stack([torch.zeros(4, dtype=DT), A], -1).expand(n, 4, 2).clone().requires_grad_()
    (gs,) = torch.autograd.grad(st.surrogate(logits, loss, st.draw_uniforms(logits, 3, sample_ndim=1)).sum(), logits)
    gsa = gs[..., 1] - gs[..., 0]
    assert float(((gsa.mean(0) - exact) / (gsa.var(0) / n).sqrt()).abs().max()) > norm.ppf(1 - 1e-3 / 8)


def test_disarm_variance_below_arm_and_the_binary_problem():
    """DisARM is ARM with u integrated out given the pair, so its variance is at most ARM's: measured per
    coordinate on the same draws' count (each ratio < 1; the differences are many standard errors). And both
    are unbiased on gradlab's binary unit problem (through the sampler)."""
    ga, _ = gradients("arm", 100_000, 4)
    gd, _ = gradients("disarm", 100_000, 4)
    ratio = gd[..., 1].var(0) / ga[..., 1].var(0)
    assert bool((ratio < 0.95).all()), ratio
    problem = gl.problems.build_problem({"kind": "binary", "logit": 0.7})
    exact = gl.exact_gradient(problem)
    for name in ("arm", "disarm"):
        s = gl.sample_gradients(problem, gl.estimator(name), 100_000, seed=6)
        z = ((s.mean - exact) / (s.var / s.n).sqrt().clamp_min(1e-300)).abs()
        assert float(z.max()) < norm.ppf(1 - 1e-3 / (2 * exact.numel())), (name, z)


def test_per_element_losses_pair_each_element_with_its_own_variables():
    """A loss with one value per element (3 elements x 4 variables): the estimate of element e's variables uses
    element e's pair of losses only, i.e. the same as estimating each element alone."""
    est = gl.estimator("disarm")
    logits = torch.randn(3, 4, 2, generator=torch.Generator().manual_seed(5), dtype=DT)
    u = est.draw_uniforms(logits, 9)
    check_per_element(est, logits, lambda x: loss_of_bits(x[..., 1]), u, u.reshape(3, 4))


def test_errors_and_what_they_are():
    assert not gl.estimator("arm").pathwise and gl.estimator("arm").categories == 2
    with pytest.raises(ValueError, match=r"arm: defined for variables of 2 categories .* got logits with 3"):
        gl.estimator("arm").estimate(torch.zeros(5, 3), lambda x: x.sum((-2, -1)), generator=0)
    with pytest.raises(TypeError, match="disarm is a score-function estimator, not a drop-in layer"):
        gl.estimator("disarm").sample(torch.zeros(5, 2), generator=0)
