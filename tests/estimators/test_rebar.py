"""REBAR (Tucker et al. 2017) and RELAX (Grathwohl et al. 2018) (issue 13): per sample against an independent NumPy
implementation differentiated by central finite differences in float64, unbiased against enumeration and on the
binary unit (z-tests, Bonferroni, stated false-failure rates), their variance against single-sample REINFORCE
where the papers compare them, RELAX's fitting (reproducible, chunk-invariant through the sampler) and the errors."""

from __future__ import annotations

import itertools
from typing import ClassVar

import numpy as np
import pytest
import torch
from scipy.stats import norm

import gradlab as gl
from gradlab.estimators.stateful import needs_fit

DT = torch.float64
ETA = torch.tensor([[0.3, -1.0, 0.8], [1.2, 0.1, -0.5]], dtype=DT)
W = torch.tensor([[0.5, -1.5, 1.0], [2.0, -0.3, 0.7]], dtype=DT)


def loss(x):  # (..., 2, 3) one-hot or relaxed -> (...): non-linear, so no relaxation is exact
    return (x * W).sum((-2, -1)) ** 2 + torch.sin(2 * x[..., 0, 0] * x[..., 1, 2])


def loss_np(x: np.ndarray) -> float:
    return float((x * W.numpy()).sum() ** 2 + np.sin(2 * x[0, 0] * x[1, 2]))


def exact_gradient() -> torch.Tensor:
    e = ETA.clone().requires_grad_()
    p = torch.softmax(e, -1)
    total = 0.0
    for i, j in itertools.product(range(3), range(3)):
        x = torch.zeros(2, 3, dtype=DT)
        x[0, i], x[1, j] = 1.0, 1.0
        total = total + p[0, i] * p[1, j] * loss(x)
    (g,) = torch.autograd.grad(total, e)
    return g


def estimates(est, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    logits = ETA.expand(n, 2, 3).clone().requires_grad_()
    u = est.draw_uniforms(logits, seed, sample_ndim=1)
    (g,) = torch.autograd.grad(est.surrogate(logits, loss, u).sum(), logits)
    return g, u


def numpy_estimate(eta: np.ndarray, u: np.ndarray, t: float, c_eta: float, r=None) -> np.ndarray:
    """The estimate of Tucker et al. eq. 5 / Grathwohl et al. eq. 7 written independently: ``z``, ``z~`` as NumPy
    functions of the logits (the top-down construction), the control variate's gradient by central differences."""
    v, k = eta.shape
    gum = -np.log(-np.log(u))
    g_z, g_rest, g_top = gum[: v * k].reshape(v, k), gum[v * k : 2 * v * k].reshape(v, k), gum[2 * v * k :]

    def log_softmax(e):
        m = e.max(-1, keepdims=True)
        return e - m - np.log(np.exp(e - m).sum(-1, keepdims=True))

    b = (log_softmax(eta) + g_z).argmax(-1)

    def relaxed(e):
        theta = log_softmax(e)
        z = theta + g_z
        top = np.log(np.exp(theta).sum(-1)) + g_top  # logsumexp(theta), 0 up to rounding
        zt = -np.logaddexp(-top[:, None], -(theta + g_rest))
        zt[np.arange(v), b] = top
        soft = lambda a: np.exp(a / t) / np.exp(a / t).sum(-1, keepdims=True)  # noqa: E731
        return soft(z), soft(zt)

    def control(s):
        return c_eta * loss_np(s) + (0.0 if r is None else r(s))

    def cv(e):
        s, st = relaxed(e)
        return control(s) - control(st)

    hard = np.zeros((v, k))
    hard[np.arange(v), b] = 1.0
    p = np.exp(log_softmax(eta))
    grad = (loss_np(hard) - control(relaxed(eta)[1])) * (hard - p)
    h = 1e-6
    for i, j in itertools.product(range(v), range(k)):
        step = np.zeros_like(eta)
        step[i, j] = h
        grad[i, j] += (cv(eta + step) - cv(eta - step)) / (2 * h)
    return grad


@pytest.mark.parametrize("hp", [{}, {"t": 0.2, "eta": 0.7}, {"t": 2.0, "eta": -0.5}])
def test_rebar_per_sample_against_finite_differences(hp):
    est = gl.estimator("rebar", **hp)
    g, u = estimates(est, 20, 1)
    uo = gl.random.open_uniform(u).numpy()
    for i in range(20):
        want = numpy_estimate(ETA.numpy(), uo[i], est.t, est.eta)
        np.testing.assert_allclose(g[i].numpy(), want, rtol=1e-6, atol=1e-7)


def test_fitted_relax_per_sample_against_finite_differences():
    est = gl.estimator("relax", steps=30, hidden=5).fit(ETA, loss)
    s = {k: v.numpy() for k, v in est._fitted.items()}
    assert abs(float(s["eta"]) - 1.0) > 1e-3 and abs(float(np.exp(s["log_t"])) - 0.5) > 1e-3  # it moved
    g, u = estimates(est, 10, 2)
    uo = gl.random.open_uniform(u).numpy()

    def r(soft):
        return float(np.tanh(soft.reshape(-1) @ s["w1"] + s["b1"]) @ s["w2"])

    for i in range(10):
        want = numpy_estimate(ETA.numpy(), uo[i], float(np.exp(s["log_t"])), float(s["eta"]), r)
        np.testing.assert_allclose(g[i].numpy(), want, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    ("name", "hp"), [("rebar", {}), ("rebar", {"t": 0.1, "eta": 2.0}), ("relax", {"steps": 50, "hidden": 8})]
)
def test_unbiased_against_enumeration(name, hp):
    """z-test per coordinate, Bonferroni over the 6 logits, family false-failure rate 1e-3 per estimator."""
    est = gl.estimator(name, **hp)
    if needs_fit(est):
        est = est.fit(ETA, loss)
    n = 100_000
    g, _ = estimates(est, n, 3)
    z = ((g.mean(0) - exact_gradient()) / (g.var(0) / n).sqrt()).abs()
    assert float(z.max()) < norm.ppf(1 - 1e-3 / 12), z


@pytest.mark.slow
def test_unbiased_on_the_binary_unit_and_below_reinforce_where_the_papers_say():
    """The toy problems of both papers, ``E[(b - c)^2]`` with ``b ~ Bern(sigmoid(a))``, through the sampler
    (RELAX fitted there first): each estimator unbiased (z-test, false-failure rate 1e-3 per estimator). Tucker
    et al. Fig. 1 (c = 0.45) and Grathwohl et al. Fig. 1 (c = 0.499) show REBAR no worse than REINFORCE and RELAX
    far below both. Measured: RELAX's variance is 2.0e-3 (c = 0.45) and 1.7e-4 (c = 0.499) of REINFORCE's
    (asserted: below 1e-2), and REBAR with its ``eta`` and ``t`` tuned on the variance (``relax(hidden=0)``) within
    2 % of REINFORCE's (its own optimum: ``eta = 0`` is REINFORCE). At the fixed ``eta = 1, t = 0.5`` REBAR is worse
    here (about 1.4x), which is why the papers tune them; on the 2 x 3 categorical problem above it halves
    REINFORCE's variance (next test)."""
    n = 100_000
    for c in (0.45, 0.499):
        problem = gl.problems.Binary(0.0, loss=lambda b, c=c: (b - c) ** 2)
        exact = gl.exact_gradient(problem)
        var = {}
        for name, hp in [
            ("reinforce", {"m": 1, "baseline": "none"}),
            ("rebar", {}),
            ("relax", {"hidden": 0, "steps": 300}),
            ("relax", {"steps": 300}),
        ]:
            s = gl.sample_gradients(problem, gl.estimator(name, **hp), n, seed=4)
            z = float(((s.mean - exact) / (s.var / n).sqrt()).abs().max())
            assert z < norm.ppf(1 - 1e-3 / 2), (c, name, hp, z)
            var[(name, hp.get("hidden"))] = float(s.var.max())
        rf = var[("reinforce", None)]
        assert var[("relax", None)] < 1e-2 * rf, var
        assert abs(var[("relax", 0)] / rf - 1) < 0.02, var


def test_rebar_variance_below_reinforce_on_a_categorical_problem():
    """On the 2 x 3 non-linear problem: REBAR(0.5, 1) has 0.43 of single-sample REINFORCE's total variance
    (measured 9.3 against 21.5 at 10^5 samples); the test asserts a ratio below 0.7."""
    n = 100_000
    rebar, _ = estimates(gl.estimator("rebar"), n, 5)
    rf, _ = estimates(gl.estimator("reinforce", m=1, baseline="none"), n, 6)
    ratio = float(rebar.var(0).sum() / rf.var(0).sum())
    assert ratio < 0.7, ratio


def test_relax_fit_is_reproducible_and_the_sampler_fits_once():
    est = gl.estimator("relax", steps=20)
    assert est.needs_fit and not est.fit(ETA, loss).needs_fit
    a, b = est.fit(ETA, loss), est.fit(ETA, loss)
    for k in a._fitted:
        assert torch.equal(a._fitted[k], b._fitted[k]), k
    other = gl.estimator("relax", steps=20, seed=1).fit(ETA, loss)
    assert not torch.equal(a._fitted["w1"], other._fitted["w1"])
    # through the sampler: the fitted estimator is the same whatever the chunk size, so the statistics are too
    problem = gl.problems.MultiCategorical(ETA, loss)
    s1 = gl.sample_gradients(problem, est, 2000, seed=1, chunk_size=2000)
    s2 = gl.sample_gradients(problem, est, 2000, seed=1, chunk_size=300)
    torch.testing.assert_close(s1.mean, s2.mean, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(s1.var, s2.var, rtol=1e-10, atol=1e-14)
    # unfitted (steps=0) RELAX is REBAR: the MLP's output layer starts at zero
    g0, _ = estimates(gl.estimator("relax", steps=0), 50, 7)
    gr, _ = estimates(gl.estimator("rebar"), 50, 7)
    torch.testing.assert_close(g0, gr, rtol=0, atol=0)


def test_errors():
    with pytest.raises(ValueError, match=r"rebar: t must be a finite real number > 0, got 0"):
        gl.estimator("rebar", t=0)
    with pytest.raises(ValueError, match=r"rebar: eta must be a finite real number, got nan"):
        gl.estimator("rebar", eta=float("nan"))
    with pytest.raises(ValueError, match=r"relax: batch must be an integer >= 1, got 0"):
        gl.estimator("relax", batch=0)
    with pytest.raises(TypeError, match="rebar is a score-function estimator, not a drop-in layer"):
        gl.estimator("rebar").sample(torch.zeros(5, 3), generator=0)
    fitted = gl.estimator("relax", steps=2).fit(ETA, loss)
    with pytest.raises(ValueError, match="relax: fitted for loss elements of 6 relaxed values, got 12"):
        fitted.estimate(torch.zeros(2, 6, dtype=DT), lambda x: x.sum((-2, -1)), generator=0)
    sbn = gl.problems.build_problem({"kind": "sbn", "hidden": [4, 4], "batch_size": 2})

    class ScoreOnly(gl.Estimator):  # neither layerwise nor relaxing the later draws (REBAR is: test_rebar_layers)
        name: ClassVar[str] = "score_only"
        pathwise: ClassVar[bool] = False

    with pytest.raises(TypeError, match="score_only cannot be applied draw by draw; multi-layer models take"):
        gl.sample_gradients(sbn, ScoreOnly(), 10)


@pytest.mark.parametrize(
    ("name", "hp"),
    [("rebar", {}), ("arsm", {}), ("unordered_set", {"k": 2}), ("priority_reinforce", {"k": 2}), ("rb_reinforce", {})],
)
@pytest.mark.slow
def test_score_function_estimators_unbiased_on_the_vae(name, hp):
    """The categorical VAE (2 variables x 4 categories, 8 images, float64) takes every score-function estimator
    through its generic per-sample loop (Problem.looped_gradients): unbiased against the exact gradient over all
    parameters, max |z| with Bonferroni, false-failure rate 1e-3 per estimator."""
    problem = gl.problems.build_problem(
        {"kind": "vae", "num_vars": 2, "num_classes": 4, "batch_size": 8, "dtype": "float64"}
    )
    exact = gl.exact_gradient(problem)
    s = gl.sample_gradients(problem, gl.estimator(name, **hp), 1500, seed=3)
    z = ((s.mean - exact) / (s.var / s.n).sqrt()).abs()
    z = z[torch.isfinite(z) & (s.var > 0)]
    assert len(z) * 2 * norm.sf(float(z.max())) > 1e-3, (name, float(z.max()), len(z))
