"""Gumbel-Sparsemax and the Hard Concrete gate (issue 13): sparsemax is the Euclidean projection onto the simplex
(its optimality conditions) with the Jacobian diag(s) - s s^T/|s|; the gate's exact zeros and ones have the
probabilities of Louizos et al. (2018); gradients equal finite differences in float64 at fixed noise."""

from __future__ import annotations

import math

import pytest
import torch
from scipy.stats import norm

import gradlab as gl
from gradlab.estimators.sparsemax import entmax15, sparsemax

DT = torch.float64


def test_sparsemax_is_the_projection_onto_the_simplex():
    """Optimality (KKT) of min ||p - z||^2 on the simplex: p >= 0, sum p = 1, z - p constant (= tau) on the
    support and z <= tau off it; exactly sparse for spread-out z."""
    z = 2 * torch.randn(500, 6, generator=torch.Generator().manual_seed(0), dtype=DT)
    p = sparsemax(z)
    assert bool((p >= 0).all()) and torch.allclose(p.sum(-1), torch.ones(500, dtype=DT), atol=1e-14)
    on = p > 0
    tau = torch.where(on, z - p, torch.nan).nanmean(-1, keepdim=True)
    assert float(torch.where(on, (z - p - tau).abs(), torch.zeros_like(z)).max()) < 1e-13
    assert bool((torch.where(on, torch.full_like(z, -math.inf), z) <= tau + 1e-13).all())
    assert int((~on).sum()) > 500  # it is sparse


def test_sparsemax_jacobian_and_masked_categories():
    z = torch.tensor([1.2, 0.9, -0.4, 0.7, -2.0], dtype=DT, requires_grad=True)
    jac = torch.autograd.functional.jacobian(sparsemax, z)
    s = (sparsemax(z) > 0).to(DT)
    torch.testing.assert_close(jac, torch.diag(s) - torch.outer(s, s) / s.sum(), rtol=0, atol=1e-15)
    masked = torch.tensor([0.3, -math.inf, 0.1], dtype=DT, requires_grad=True)
    out = sparsemax(masked)
    (g,) = torch.autograd.grad((out * torch.tensor([1.0, 2.0, 3.0], dtype=DT)).sum(), masked)
    assert out[1] == 0 and torch.isfinite(g).all() and g[1] == 0


def test_entmax15_satisfies_its_optimality_conditions_and_jacobian():
    """1.5-entmax is argmax_p p.z + 4 (1 - sum p^(3/2)) / 3 on the simplex (Peters et al. 2019); its KKT conditions:
    p >= 0, sum p = 1, sqrt(p) - z / 2 constant (= -tau) on the support and z / 2 <= tau off it. Jacobian
    diag(s) - s s^T / sum s with s = sqrt(p) (Peters et al. Prop. 2), against autograd; masked entries get 0 and a
    zero, finite gradient in float32 too."""
    z = 3 * torch.randn(500, 6, generator=torch.Generator().manual_seed(0), dtype=DT)
    p = entmax15(z)
    assert bool((p >= 0).all()) and torch.allclose(p.sum(-1), torch.ones(500, dtype=DT), atol=1e-13)
    on = p > 0
    tau = torch.where(on, z / 2 - p.sqrt(), torch.nan).nanmean(-1, keepdim=True)
    assert float(torch.where(on, (z / 2 - p.sqrt() - tau).abs(), torch.zeros_like(z)).max()) < 1e-12
    assert bool((torch.where(on, torch.full_like(z, -math.inf), z / 2) <= tau + 1e-12).all())
    assert int((~on).sum()) > 500  # sparse
    for v in (
        torch.tensor([1.2, 0.9, -0.4, 0.7, -2.0], dtype=DT),
        torch.tensor([0.0, 0.0, -2.0, -2.0, -10.0], dtype=DT),
    ):
        # (the second: (1 - ss_k) / k is exactly 0 at k = 4, x = z / 2 = (0, 0, -1, -1); differentiating tau's
        # formula gave NaN there)
        jac = torch.autograd.functional.jacobian(entmax15, v)
        s = entmax15(v).sqrt()
        torch.testing.assert_close(jac, torch.diag(s) - torch.outer(s, s) / s.sum(), rtol=0, atol=1e-14)
        h = 1e-6  # the value's own derivative, by central differences in float64
        fd = torch.stack([(entmax15(v + h * e) - entmax15(v - h * e)) / (2 * h) for e in torch.eye(5, dtype=DT)], 1)
        torch.testing.assert_close(jac, fd, rtol=0, atol=1e-8)
    for dtype in (torch.float32, DT):
        masked = torch.tensor([0.3, -math.inf, 0.1, -40.0], dtype=dtype, requires_grad=True)
        out = entmax15(masked)
        (g,) = torch.autograd.grad((out * torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=dtype)).sum(), masked)
        assert out[1] == 0 and out[3] == 0 and torch.isfinite(g).all() and g[1] == 0, (out, g)


@pytest.mark.parametrize(
    ("name", "hp", "k"), [("gs_sparsemax", {"t": 0.5}, 4), ("gs_entmax", {"t": 0.7}, 4), ("hard_concrete", {}, 2)]
)
def test_gradient_is_the_derivative_of_the_loss_at_the_relaxed_point(name, hp, k):
    """At fixed noise the estimator is d L(y(eta)) / d eta: torch.autograd.gradcheck (float64 finite
    differences) over random logits, away from the kinks of the clipping."""
    est = gl.estimator(name, **hp)
    w = torch.randn(k, generator=torch.Generator().manual_seed(1), dtype=DT)
    for seed in range(5):
        logits = torch.randn(3, k, generator=torch.Generator().manual_seed(seed), dtype=DT)
        u = est.draw_uniforms(logits, seed)

        def f(x, u=u):
            return (est.plugin_sample(x, u) @ w).sin().sum()

        assert torch.autograd.gradcheck(f, (logits.requires_grad_(),), eps=1e-7, atol=1e-6)


def test_hard_concrete_has_exact_zeros_and_ones_with_the_papers_probabilities():
    """P(z = 0) = sigmoid(beta log(-gamma / zeta) - a) and P(z = 1) = sigmoid(a - beta log((1 - gamma) /
    (zeta - 1))) (from the logistic law of the gate's input), z-tests at a 1e-3 family false-failure rate."""
    est = gl.estimator("hard_concrete")
    n, a = 200_000, 0.8
    logits = torch.tensor([0.0, a], dtype=DT).expand(n, 2)
    z = est.plugin_sample(logits, est.draw_uniforms(logits, 2, sample_ndim=1))[:, 1]
    beta, gamma, zeta = 2 / 3, -0.1, 1.1
    for observed, p in (
        ((z == 0).double().mean(), 1 / (1 + math.exp(-(beta * math.log(-gamma / zeta) - a)))),
        ((z == 1).double().mean(), 1 / (1 + math.exp(-(a - beta * math.log((1 - gamma) / (zeta - 1)))))),
    ):
        assert abs(float(observed) - p) / math.sqrt(p * (1 - p) / n) < norm.ppf(1 - 1e-3 / 4)
    assert 0 < float(((z > 0) & (z < 1)).double().mean()) < 1


def test_relaxed_estimators_errors():
    with pytest.raises(ValueError, match="hard_concrete: gamma must be a finite real number < 0, got 0.1"):
        gl.estimator("hard_concrete", gamma=0.1)
    with pytest.raises(ValueError, match="hard_concrete: defined for variables of 2 categories"):
        gl.estimator("hard_concrete").sample(torch.zeros(3, 4), generator=0)
    with pytest.raises(TypeError, match="gs_sparsemax: its forward is the relaxed point"):
        gl.estimator("gs_sparsemax").backward_at(torch.zeros(3, 4), torch.zeros(3, dtype=torch.int64))
