"""Drop-in conveniences of the peers (issue 13): categories on any axis (``dim=``, as
``torch.nn.functional.gumbel_softmax``) and an estimator evaluated at a given sample (``backward_at``, as the ZGR
author's ``ZGR_Function(logits, x)`` and gumbel-rao's ``I=``)."""

from __future__ import annotations

import math

import pytest
import torch
from scipy.stats import norm

import gradlab as gl
from gradlab.core.noise import conditional_gumbel

DT = torch.float64
PATHWISE = [n for n, c in gl.estimators.REGISTRY.items() if c.pathwise and not c.relaxed_forward]
NOISY = {"gs_st", "gr_mc", "decoupled_st"}  # backward uses Gumbel noise given x
HP = {"decoupled_st": {"tau_f": 0.5, "tau_b": 2.0}, "gr_mc": {"t": 0.5, "m": 4}, "gs_st": {"t": 0.7}}


def est_of(name):
    return gl.estimator(name, **HP.get(name, {}))


@pytest.mark.parametrize("name", PATHWISE)
def test_backward_at_returns_x_on_any_axis(name):
    est = est_of(name)
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 4, 3, generator=g, dtype=DT)  # categories on axis 1 (dim=1)
    index = torch.randint(0, 4, (5, 3), generator=g)
    onehot = torch.nn.functional.one_hot(index, 4).to(DT).movedim(-1, 1)
    for x in (index, onehot):
        out = est.backward_at(logits, x, generator=1, dim=1)
        assert torch.equal(out, onehot)
    # the same numbers as with the categories last
    a = est.backward_at(logits.requires_grad_(), index, generator=7, dim=1)
    last = logits.detach().movedim(1, -1).requires_grad_()
    b = est.backward_at(last, index, generator=7)
    w = torch.randn(5, 4, 3, generator=g, dtype=DT)
    (ga,) = torch.autograd.grad((a * w).sum(), logits)
    (gb,) = torch.autograd.grad((b * w.movedim(1, -1)).sum(), last)
    torch.testing.assert_close(ga, gb.movedim(-1, 1), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", sorted(set(PATHWISE) - NOISY))
def test_backward_at_equals_the_estimator_at_forced_noise(name):
    """Estimators with an ``x ~ Cat(p)`` forward: ``backward_at(x)`` is the estimator's backward at any noise
    that draws ``x`` (a uniform in the middle of ``x``'s interval of the CDF), to rounding."""
    est = est_of(name)
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(200, 5, generator=g, dtype=DT, requires_grad=True)
    index = torch.randint(0, 5, (200,), generator=g)
    cdf = torch.cumsum(torch.softmax(logits.detach(), -1), -1)
    lo = torch.where(index > 0, cdf.gather(-1, (index - 1).clamp_min(0)[:, None])[:, 0], torch.zeros(200, dtype=DT))
    u = ((lo + cdf.gather(-1, index[:, None])[:, 0]) / 2)[:, None]
    w = torch.randn(200, 5, generator=g, dtype=DT)
    (want,) = torch.autograd.grad((est.plugin_sample(logits, u) * w).sum(), logits)
    (got,) = torch.autograd.grad((est.backward_at(logits, index) * w).sum(), logits)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", sorted(NOISY))
def test_noisy_backward_at_is_the_estimator_given_x(name):
    """GS-ST, decoupled ST and GR-MC draw their noise given ``x``: the mean of ``backward_at(x)`` equals the mean
    of the estimator over unconditional draws whose forward is ``x`` (rejection sampling, an independent route).
    Welch z-tests over 3 categories x 3 coordinates, Bonferroni, family false-failure rate 1e-3."""
    est = est_of(name)
    eta = torch.tensor([0.3, -0.5, 0.9], dtype=DT)
    w = torch.tensor([1.0, -2.0, 0.5], dtype=DT)  # linear loss w . x
    n = 60_000
    logits = eta.expand(n, 3).clone().requires_grad_()
    u = est.draw_uniforms(logits, 2, sample_ndim=1)
    out = est.plugin_sample(logits, u)
    (g_all,) = torch.autograd.grad((out * w).sum(), logits)
    forward = out.detach().argmax(-1)
    crit = norm.ppf(1 - 1e-3 / 18)
    for x in range(3):
        pick = g_all[forward == x]
        logits_x = eta.expand(n // 3, 3).clone().requires_grad_()
        at = est.backward_at(logits_x, torch.full((n // 3,), x), generator=10 + x)
        (g_at,) = torch.autograd.grad((at * w).sum(), logits_x)
        se = torch.sqrt(pick.var(0) / len(pick) + g_at.var(0) / len(g_at))
        z = ((pick.mean(0) - g_at.mean(0)) / se).abs()
        assert float(z.max()) < crit, (x, z)
        assert float(g_at.var(0).max()) > 0  # a real draw, not a constant


def test_conditional_gumbel_has_the_right_argmax_and_law():
    """argmax(phi + G) is the index every time, and the maximum minus logsumexp(phi) is standard Gumbel
    whatever the index (Kolmogorov-Smirnov, false-failure rate 1e-3)."""
    from scipy.stats import kstest

    g = torch.Generator().manual_seed(4)
    phi = torch.tensor([[0.5, -1.0, 2.0, -math.inf]], dtype=DT).expand(20_000, 4)
    index = torch.randint(0, 3, (20_000,), generator=g)
    gumbel = conditional_gumbel(phi, index, g)
    assert torch.equal((phi + gumbel).argmax(-1), index) and torch.equal(gumbel[:, 3], torch.zeros(20_000, dtype=DT))
    top = ((phi + gumbel).max(-1).values - torch.logsumexp(phi[0], -1)).numpy()
    assert kstest(top, "gumbel_r").pvalue > 1e-3


def test_backward_at_errors():
    logits = torch.zeros(2, 3, dtype=DT)
    with pytest.raises(TypeError, match="gs: its forward is the relaxed point"):
        gl.estimator("gs").backward_at(logits, torch.tensor([0, 1]), generator=0)
    with pytest.raises(TypeError, match="reinforce is a score-function estimator"):
        gl.estimator("reinforce").backward_at(logits, torch.tensor([0, 1]))
    with pytest.raises(TypeError, match="gs_st: backward_at needs a generator"):
        gl.estimator("gs_st").backward_at(logits, torch.tensor([0, 1]))
    with pytest.raises(
        ValueError, match=r"zgr: x must be one-hot of shape \(2, 3\) or integer indices of shape \(2,\)"
    ):
        gl.estimator("zgr").backward_at(logits, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match=r"zgr: category indices in x must be in \[0, 2\]"):
        gl.estimator("zgr").backward_at(logits, torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="one-hot along the category axis"):
        gl.estimator("zgr").backward_at(logits, torch.ones(2, 3, dtype=DT))
    with pytest.raises(ValueError, match=r"zgr: dim must be an axis of the logits, an integer in \[-2, 1\]; got 2"):
        gl.estimator("zgr").sample(logits, generator=0, dim=2)


def test_sample_on_another_axis_is_the_last_axis_moved():
    logits = torch.randn(4, 6, 2, generator=torch.Generator().manual_seed(5), dtype=DT)
    for name in ("zgr", "gs_st", "gs"):
        est = gl.estimator(name)
        a = est.sample(logits, generator=3, dim=1)
        b = est.sample(logits.movedim(1, -1), generator=3)
        torch.testing.assert_close(a, b.movedim(-1, 1), rtol=0, atol=0)
