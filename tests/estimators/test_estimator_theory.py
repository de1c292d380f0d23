"""Estimator properties against exact enumeration and statistical tests at fixed seeds.

Statistical tests state their false-failure rate: the probability that the assertion fails when the
property holds (seeds are fixed, so each test is deterministic; the rate says how unlucky a seed would
have to be).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

import gradlab as gl

from .test_estimator_formulas import quadratic

K = 5
DT = torch.float64


def forced_uniforms(est, eta: torch.Tensor, x: int) -> torch.Tensor:
    """Uniforms that make the forward of ``est`` pick category ``x`` for one variable with logits ``eta``.

    Inversion (one uniform): the middle of x's CDF interval. Gumbel-max (K uniforms first): a huge
    Gumbel for x and tiny ones elsewhere (valid for logits within +-20).
    """
    k = eta.shape[-1]
    if est.num_uniforms((k,)) == 1:
        cdf = torch.cumsum(torch.softmax(eta, -1), -1)
        lo = cdf[x - 1] if x > 0 else torch.zeros((), dtype=DT)
        return ((lo + cdf[x]) / 2 / cdf[-1]).reshape(1)
    u = est.draw_uniforms(eta, torch.Generator().manual_seed(x))
    u[:k] = 1e-300
    u[x] = 1 - 1e-15
    return u


def grad_at(est, eta: torch.Tensor, loss, u: torch.Tensor) -> torch.Tensor:
    e = eta.detach().clone().requires_grad_()
    (g,) = torch.autograd.grad(est.surrogate(e, loss, u).sum(), e)
    return g


def exact_mean_over_x(est, eta: torch.Tensor, loss) -> torch.Tensor:
    """E_x[estimate(x)] by enumeration, for estimators whose estimate is a function of x alone."""
    p_fwd = torch.softmax(est.forward_logits(eta), -1)
    return sum(p_fwd[x] * grad_at(est, eta, loss, forced_uniforms(est, eta, x)) for x in range(eta.shape[-1]))


def exact_gradient_single(eta: torch.Tensor, loss) -> torch.Tensor:
    """d/d eta sum_x softmax(eta)_x L(e_x) by autograd on the enumerated expectation."""
    e = eta.detach().clone().requires_grad_()
    values = loss(torch.eye(e.shape[-1], dtype=DT))
    (g,) = torch.autograd.grad((torch.softmax(e, -1) * values).sum(), e)
    return g


def random_quadratic(seed: int, k: int = K):
    return quadratic(seed, k)[0]


@pytest.mark.parametrize("seed", range(6))
def test_theorem2_zgr_unbiased_for_quadratic_losses(seed):
    """ZGR Theorem 2: E[ZGR] = exact gradient for any quadratic loss (exact enumeration over x)."""
    loss = random_quadratic(seed)
    eta = 1.5 * torch.randn(K, generator=torch.Generator().manual_seed(100 + seed), dtype=DT)
    exact = exact_gradient_single(eta, loss)
    mean_zgr = exact_mean_over_x(gl.estimator("zgr"), eta, loss)
    torch.testing.assert_close(mean_zgr, exact, rtol=1e-12, atol=1e-13)
    # ST and DARN(mean) are biased, with equal and opposite biases
    bias_st = exact_mean_over_x(gl.estimator("st"), eta, loss) - exact
    bias_darn = exact_mean_over_x(gl.estimator("darn", phi_bar="mean"), eta, loss) - exact
    assert bias_st.abs().max() > 1e-3  # the claim has teeth: each alone is biased
    torch.testing.assert_close(bias_st, -bias_darn, rtol=1e-12, atol=1e-13)


def test_zgr_biased_for_a_cubic_loss():
    """Theorem 2 is specific to quadratics: a non-quadratic function of the one-hot vector shows bias."""
    w = torch.randn(K, generator=torch.Generator().manual_seed(1), dtype=DT)

    def cubic(x):
        return ((x @ w) ** 3).reshape(x.shape[:-1])

    eta = torch.tensor([0.3, -1.0, 0.5, 1.2, -0.2], dtype=DT)
    bias = exact_mean_over_x(gl.estimator("zgr"), eta, cubic) - exact_gradient_single(eta, cubic)
    assert bias.abs().max() > 1e-2


def test_st_exact_for_linear_loss():
    """ZGR eq. (73): ST is exact (zero bias and zero variance) for a linear loss of one variable."""
    w = torch.randn(K, generator=torch.Generator().manual_seed(2), dtype=DT)
    eta = torch.randn(K, generator=torch.Generator().manual_seed(3), dtype=DT)
    exact = exact_gradient_single(eta, lambda x: x @ w)
    st = gl.estimator("st")
    for x in range(K):
        torch.testing.assert_close(
            grad_at(st, eta, lambda x: x @ w, forced_uniforms(st, eta, x)), exact, rtol=1e-12, atol=1e-14
        )


def test_binary_darn_uniform_equals_zgr():
    """Corollary 1: for a Bernoulli variable DARN(1/2) and ZGR coincide, for every x."""
    for a in [-3.0, -0.4, 0.0, 1.7]:
        eta = gl.distributions.binary_to_categorical(torch.tensor(a, dtype=DT))
        loss = random_quadratic(5, 2)
        for x in range(2):
            u = forced_uniforms(gl.estimator("zgr"), eta, x)
            torch.testing.assert_close(
                grad_at(gl.estimator("darn", phi_bar="uniform"), eta, loss, u),
                grad_at(gl.estimator("zgr"), eta, loss, u),
                rtol=1e-12,
                atol=1e-14,
            )
    # ... and differ for K > 2 (uniform phi_bar is not the mean embedding)
    eta = torch.tensor([0.2, -1.0, 0.7], dtype=DT)
    loss = random_quadratic(6, 3)
    u = forced_uniforms(gl.estimator("zgr"), eta, 1)
    d = grad_at(gl.estimator("darn", phi_bar="uniform"), eta, loss, u) - grad_at(gl.estimator("zgr"), eta, loss, u)
    assert d.abs().max() > 1e-3


@pytest.mark.parametrize("t", [0.3, 1.0, 2.0])
def test_decoupled_gumbel_sum_is_gs_st(t):
    """decoupled_st(tau_f=1, tau_b=t, "gumbel_sum") and gs_st(t): same sample and gradient, same generator."""
    eta = torch.randn(40, K, generator=torch.Generator().manual_seed(0), dtype=DT)
    w = torch.randn(40, K, generator=torch.Generator().manual_seed(1), dtype=DT)
    a = gl.estimator("decoupled_st", tau_f=1.0, tau_b=t, backward="gumbel_sum")
    b = gl.estimator("gs_st", t=t)
    e1, e2 = eta.clone().requires_grad_(), eta.clone().requires_grad_()
    x1 = a.sample(e1, generator=torch.Generator().manual_seed(9))
    x2 = b.sample(e2, generator=torch.Generator().manual_seed(9))
    assert torch.equal(x1, x2)
    (g1,) = torch.autograd.grad((x1 * w).sum(), e1)
    (g2,) = torch.autograd.grad((x2 * w).sum(), e2)
    torch.testing.assert_close(g1, g2, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("t", [0.5, 1.0, 3.0])
def test_decoupled_softmax_equals_st_in_expectation(t):
    """decoupled_st(tau_f=1, tau_b=t, "softmax") equals st(t) in expectation over x (exact enumeration),
    and for every fixed x; the gumbel_logits variant does not."""
    loss = random_quadratic(3)
    eta = torch.tensor([0.5, -0.3, 1.2, 0.0, -2.0], dtype=DT)
    dec = gl.estimator("decoupled_st", tau_f=1.0, tau_b=t, backward="softmax")
    st = gl.estimator("st", t=t)
    torch.testing.assert_close(
        exact_mean_over_x(dec, eta, loss), exact_mean_over_x(st, eta, loss), rtol=1e-12, atol=1e-13
    )
    for x in range(K):
        torch.testing.assert_close(
            grad_at(dec, eta, loss, forced_uniforms(dec, eta, x)),
            grad_at(st, eta, loss, forced_uniforms(st, eta, x)),
            rtol=1e-12,
            atol=1e-13,
        )
    other = gl.estimator("decoupled_st", tau_f=1.0, tau_b=t, backward="gumbel_logits")
    u = forced_uniforms(other, eta, 2)
    assert (grad_at(other, eta, loss, u) - grad_at(st, eta, loss, forced_uniforms(st, eta, 2))).abs().max() > 1e-6


@pytest.mark.parametrize("tau_f", [0.4, 2.5])
def test_decoupled_forward_follows_tempered_softmax(tau_f):
    """Chi-square goodness of fit of 40,000 forward samples to softmax(eta / tau_f).

    False-failure rate 1e-3 (p-value threshold). Power check: the same counts reject softmax(eta).
    """
    eta = torch.tensor([0.8, -0.5, 0.1, 1.5, -1.2], dtype=DT)
    est = gl.estimator("decoupled_st", tau_f=tau_f, tau_b=1.0)
    n = 40_000
    x = est.sample(eta.expand(n, K), generator=torch.Generator().manual_seed(12))
    counts = x.sum(0).numpy()
    expected = torch.softmax(eta / tau_f, -1).numpy() * n
    assert stats.chisquare(counts, expected).pvalue > 1e-3
    wrong = torch.softmax(eta, -1).numpy() * n
    assert stats.chisquare(counts, wrong).pvalue < 1e-3


def replicated_gradients(est, eta: torch.Tensor, loss, n: int, seed: int) -> np.ndarray:
    """n independent estimates (rows) through the replica axis."""
    e = eta.expand(n, *eta.shape).clone().requires_grad_()
    u = est.draw_uniforms(e, torch.Generator().manual_seed(seed), sample_ndim=1)
    (g,) = torch.autograd.grad(est.surrogate(e, loss, u).sum(), e)
    return g.numpy()


def bonferroni_z(k: int, alpha: float) -> float:
    return float(stats.norm.ppf(1 - alpha / (2 * k)))


def test_gs_st_and_gr_mc_same_mean_lower_variance():
    """Paulus et al. Prop. 2: E[GR-MC] = E[GS-ST]; Rao-Blackwellisation lowers the variance.

    Mean: two-sample z-test per coordinate, Bonferroni over K coordinates, family false-failure rate 1e-3.
    Variance: one-sided z-test on the difference of total variances (delta method), false-failure 1e-3.
    """
    loss = random_quadratic(8)
    eta = torch.tensor([0.4, -0.2, 1.0, -1.5, 0.3], dtype=DT)
    n = 40_000
    a = replicated_gradients(gl.estimator("gs_st", t=0.5), eta, loss, n, seed=1)
    b = replicated_gradients(gl.estimator("gr_mc", t=0.5, m=8), eta, loss, n, seed=2)
    se = np.sqrt(a.var(0, ddof=1) / n + b.var(0, ddof=1) / n)
    z = np.abs(a.mean(0) - b.mean(0)) / se
    assert z.max() < bonferroni_z(K, 1e-3), z
    va, vb = ((a - a.mean(0)) ** 2).sum(1), ((b - b.mean(0)) ** 2).sum(1)
    zv = (va.mean() - vb.mean()) / np.sqrt(va.var(ddof=1) / n + vb.var(ddof=1) / n)
    assert zv > stats.norm.ppf(1 - 1e-3), zv
    # and the shared mean is biased (the test above is not comparing two unbiased estimators)
    exact = exact_gradient_single(eta, loss).numpy()
    assert np.max(np.abs(a.mean(0) - exact) / np.sqrt(a.var(0, ddof=1) / n)) > 10


def test_gr_mc_approaches_zgr_as_t_to_zero():
    """ZGR Theorem 1: for each fixed x, GR-MC(t, m) -> ZGR(x) as t -> 0 (m = 5e5 conditional draws).

    Measured: the error, summed over x, roughly halves with t (first order) until the MC floor; we assert
    a monotone decrease and error(0.05) < error(0.4) / 4.
    """
    k = 4
    loss = random_quadratic(9, k)
    eta = torch.tensor([0.3, -0.7, 1.1, 0.0], dtype=DT)
    zgr = gl.estimator("zgr")
    errors = []
    for t in [0.4, 0.2, 0.1, 0.05]:
        est = gl.estimator("gr_mc", t=t, m=500_000)
        total = 0.0
        for x in range(k):
            u = forced_uniforms(est, eta, x)
            diff = grad_at(est, eta, loss, u) - grad_at(zgr, eta, loss, forced_uniforms(zgr, eta, x))
            total += float(diff.norm())
        errors.append(total)
    assert all(e2 < e1 for e1, e2 in zip(errors[:-1], errors[1:], strict=True)), errors
    assert errors[-1] < errors[0] / 4, errors


@pytest.mark.parametrize("m", [2, 4])
def test_reinforce_unbiased(m):
    """RF(m) mean vs the exact gradient: per-coordinate z-test, Bonferroni, family false-failure 1e-3.
    Power check: ST, which is biased for this loss, fails the same test."""
    loss = random_quadratic(10)
    eta = torch.tensor([0.4, -0.2, 1.0, -1.5, 0.3], dtype=DT)
    exact = exact_gradient_single(eta, loss).numpy()
    n = 50_000
    g = replicated_gradients(gl.estimator("reinforce", m=m), eta, loss, n, seed=m)
    z = np.abs(g.mean(0) - exact) / np.sqrt(g.var(0, ddof=1) / n)
    assert z.max() < bonferroni_z(K, 1e-3), z
    s = replicated_gradients(gl.estimator("st"), eta, loss, n, seed=1)
    zs = np.abs(s.mean(0) - exact) / np.sqrt(s.var(0, ddof=1) / n + 1e-300)
    assert zs.max() > bonferroni_z(K, 1e-3)


def test_reinforce_without_baseline_is_unbiased_and_noisier():
    """Single-sample REINFORCE without a baseline (m = 1): unbiased on a categorical variable (z-test per
    coordinate, Bonferroni, family false-failure 1e-3), and with a loss shifted by a constant its variance grows
    while RF(2)'s, whose leave-one-out baseline cancels the shift, does not change (exactly: same draws)."""
    loss = random_quadratic(10)
    eta = torch.tensor([0.4, -0.2, 1.0, -1.5, 0.3], dtype=DT)
    exact = exact_gradient_single(eta, loss).numpy()
    n = 50_000
    plain = gl.estimator("reinforce", m=1, baseline="none")
    g = replicated_gradients(plain, eta, loss, n, seed=7)
    z = np.abs(g.mean(0) - exact) / np.sqrt(g.var(0, ddof=1) / n)
    assert z.max() < bonferroni_z(K, 1e-3), z
    shifted = lambda x: loss(x) + 10.0  # noqa: E731
    g_shift = replicated_gradients(plain, eta, shifted, n, seed=7)
    assert g_shift.var(0).mean() > 10 * g.var(0).mean()  # a constant of 10 adds about 100 Var[score]
    rf2 = gl.estimator("reinforce", m=2)
    assert (plain.label, rf2.label) == ("reinforce(m=1,baseline=none)", "reinforce(m=2)")  # old labels unchanged
    np.testing.assert_allclose(
        replicated_gradients(rf2, eta, shifted, 2000, seed=3),
        replicated_gradients(rf2, eta, loss, 2000, seed=3),
        rtol=1e-9,
        atol=1e-9,
    )


def test_reinforce_without_baseline_on_a_binary_unit_and_a_two_layer_model():
    """Unbiased on the binary unit and on a two-layer sigmoid belief net, against their exact gradients
    (z-tests, Bonferroni over the coordinates, family false-failure 1e-3 each)."""
    plain = gl.estimator("reinforce", m=1, baseline="none")
    for problem in (
        gl.problems.build_problem({"kind": "binary", "logit": 0.7}),
        gl.problems.SigmoidBeliefNet(hidden=(2, 2), batch_size=2),
    ):
        exact = gl.exact_gradient(problem)
        s = gl.sample_gradients(problem, plain, 200_000, seed=5)
        z = ((s.mean - exact) / (s.var / s.n).sqrt().clamp_min(1e-300)).abs()
        assert float(z.max()) < bonferroni_z(exact.numel(), 1e-3), (problem.name, float(z.max()))


def test_reinforce_per_element_baseline_and_direct_gradient():
    """Loss with per-element values and a direct parameter: the surrogate's gradient in the parameter is
    the mean pathwise gradient over the m samples; in the logits it is per-element leave-one-out."""
    m, s = 3, 4
    est = gl.estimator("reinforce", m=m)
    gen = torch.Generator().manual_seed(0)
    eta = torch.randn(s, K, generator=gen, dtype=DT).requires_grad_()
    w = torch.randn(K, generator=gen, dtype=DT).requires_grad_()
    u = est.draw_uniforms(eta, gen)

    def loss(x):  # per variable: (x . w)^2, shape (..., s)
        return (x @ w) ** 2

    out = est.surrogate(eta, loss, u)
    assert out.shape == (s,)
    g_eta, g_w = torch.autograd.grad(out.sum(), (eta, w))
    cdf = torch.cumsum(torch.softmax(eta.detach(), -1), -1)  # (s, K)
    uu = u.reshape(m, s)  # draw i of variable v is u[i * s + v]
    idx = (cdf.unsqueeze(0) <= (uu * cdf[:, -1]).unsqueeze(-1)).sum(-1)  # (m, s): inversion
    wd = w.detach()
    vals = wd[idx] ** 2
    p = torch.softmax(eta.detach(), -1)
    want_eta = torch.zeros(s, K, dtype=DT)
    want_w = torch.zeros(K, dtype=DT)
    for i in range(m):
        onehot = torch.nn.functional.one_hot(idx[i], K).to(DT)
        want_eta += ((vals[i] - vals.mean(0)) / (m - 1)).unsqueeze(-1) * (onehot - p)
        want_w += (2 * wd[idx[i]]).unsqueeze(-1).mul(onehot).sum(0) / m
    torch.testing.assert_close(g_eta, want_eta, rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(g_w, want_w, rtol=1e-12, atol=1e-13)
