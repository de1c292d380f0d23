"""Analysis layer: squared bias (eq. 16) against closed forms, its unbiasedness, bootstrap intervals,
Pareto fronts, MSE of the mean, gradient gap, and the unbiasedness test."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import gradlab as gl
from gradlab import analysis as A
from gradlab.core import names as N
from gradlab.problems.build import build_problem

DT = torch.float64


def quad_problem():
    return build_problem({"kind": "single", "num_classes": 5, "logits_seed": 3, "loss_seed": 4})


def expected_estimate(prob, est):
    """E[estimate] by enumerating x (for estimators whose estimate depends on x only)."""
    eta = prob.params()["logits"]
    p = torch.softmax(est.forward_logits(eta), -1)
    k = eta.numel()
    total = torch.zeros(k, dtype=DT)
    cdf = torch.cumsum(torch.softmax(eta, -1), -1)
    for x in range(k):
        lo = cdf[x - 1] if x else torch.zeros((), dtype=DT)
        u = ((lo + cdf[x]) / 2).reshape(1)
        e = eta.clone().requires_grad_()
        (g,) = torch.autograd.grad(est.surrogate(e.unsqueeze(0), lambda y: prob.loss(y, {}, None), u).sum(), e)
        total += p[x] * g
    return total


@pytest.mark.parametrize(("name", "hp"), [("reinforce", {"m": 2}), ("zgr", {})])
def test_unbiased_estimators_have_zero_squared_bias(name, hp):
    """Squared bias of RF(2) and ZGR (quadratic loss) is 0 within a 99.9 % bootstrap interval
    (false-failure rate about 1e-3 each)."""
    prob = quad_problem()
    exact = gl.exact_gradient(prob)
    st = gl.sample_gradients(prob, gl.estimator(name, **hp), 40_000, seed=1, bootstrap=1000)
    ds = A.bias_variance({name: st}, exact, confidence=0.999)
    lo, hi = float(ds[N.BIAS2 + N.LO][0]), float(ds[N.BIAS2 + N.HI][0])
    assert lo <= 0.0 <= hi, (lo, hi)
    assert hi - lo < 0.02 * float(ds[N.VARIANCE][0])  # the interval is informative


def test_st_squared_bias_matches_closed_form():
    """ST's squared bias: the estimate (eq. 16) covers the closed form ||E[ST] - g||^2 / d (99.9 %)."""
    prob = quad_problem()
    exact = gl.exact_gradient(prob)
    est = gl.estimator("st", t=1.0)
    closed = float(((expected_estimate(prob, est) - exact) ** 2).mean())
    assert closed > 1e-3
    st = gl.sample_gradients(prob, est, 40_000, seed=2, bootstrap=1000)
    ds = A.bias_variance({"st": st}, exact, confidence=0.999)
    assert float(ds[N.BIAS2 + N.LO][0]) <= closed <= float(ds[N.BIAS2 + N.HI][0])
    assert abs(float(ds[N.BIAS2][0]) - closed) < 0.05 * closed


def test_eq16_is_unbiased_between_two_sample_sets():
    """Two independent sample sets of the same estimator: E[b^2 (eq. 16)] = 0. Over 300 repetitions the
    mean is within 4 standard errors of 0 (false-failure rate 6e-5); the uncorrected ||mean_1 - mean_2||^2/d
    is not (power check)."""
    prob = quad_problem()
    est = gl.estimator("zgr")
    corrected, naive = [], []
    for rep in range(300):
        a = gl.sample_gradients(prob, est, 200, seed=2 * rep)
        b = gl.sample_gradients(prob, est, 300, seed=2 * rep + 1)
        corrected.append(A.squared_bias(b, a))
        naive.append(float(((a.mean - b.mean) ** 2).mean()))
    c, nv = np.array(corrected), np.array(naive)
    se = c.std(ddof=1) / np.sqrt(len(c))
    assert abs(c.mean()) < 4 * se, (c.mean(), se)
    assert nv.mean() > 10 * nv.std(ddof=1) / np.sqrt(len(nv))


def test_bias_variance_dataset_and_bootstrap_from_samples():
    prob = quad_problem()
    exact = gl.exact_gradient(prob)
    stats = {
        e.label: gl.sample_gradients(prob, e, 2000, seed=0, keep_samples=2000)
        for e in [
            gl.estimator("gs_st", t=0.5),
            gl.estimator("st_zgr", t=2.0, alpha=0.3),
            gl.estimator("decoupled_st", tau_f=1.0, tau_b=2.0, backward="softmax"),
        ]
    }
    ds = A.bias_variance(stats, exact)
    assert list(ds[N.ESTIMATOR].values) == list(stats)
    assert ds[N.FAMILY].values.tolist() == ["gs_st", "st_zgr", "decoupled_st"]
    assert np.isnan(ds["tau_f"].values[0]) and ds["tau_f"].values[2] == 1.0 and ds["backward"].values[2] == "softmax"
    np.testing.assert_allclose(ds[N.MSE], ds[N.BIAS2] + ds[N.VARIANCE])
    for label, st in stats.items():  # direct formulas
        d = st.dim
        b2 = float(((exact - st.mean) ** 2).sum() / d - st.var.mean() / st.n)
        assert float(ds[N.BIAS2].sel(estimator=label)) == pytest.approx(b2, rel=1e-12)
        cos = float(st.mean @ exact / (st.mean.norm() * exact.norm()))
        assert float(ds[N.COSINE].sel(estimator=label)) == pytest.approx(cos, rel=1e-12)
    assert (ds[N.VARIANCE + N.LO] < ds[N.VARIANCE]).all() and (ds[N.VARIANCE] < ds[N.VARIANCE + N.HI]).all()
    assert ds.attrs["reference"] == "exact" and "gradlab_version" in ds.attrs


def test_reference_samples_eq16():
    """Against RF(4) reference samples (eq. 16), ZGR's squared bias for a quadratic loss is ~0 and agrees
    with the exact-reference value within the sampling error."""
    prob = quad_problem()
    ref = gl.sample_gradients(prob, gl.estimator("reinforce", m=4), 20_000, seed=9)
    st = gl.sample_gradients(prob, gl.estimator("gs_st", t=0.3), 20_000, seed=10)
    b_ref = A.squared_bias(st, ref)
    b_exact = A.squared_bias(st, gl.exact_gradient(prob))
    se = np.sqrt(2) * (ref.avg_var / ref.n + st.avg_var / st.n)  # sd of the noise terms, roughly
    assert abs(b_ref - b_exact) < 6 * se + 0.05 * abs(b_exact)


def test_pareto_front_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(20):
        x, y = rng.random(30), rng.random(30)
        x[3] = np.nan
        mask = A.pareto_front(x, y)
        for i in range(30):
            dominated = any(
                j != i and x[j] <= x[i] and y[j] <= y[i] and (x[j] < x[i] or y[j] < y[i]) for j in range(30)
            ) or not np.isfinite(x[i])
            assert mask[i] == (not dominated)
    assert A.pareto_front([1, 2, 3], [3, 2, 1]).all()
    assert A.pareto_front([1, 2], [1, 2]).tolist() == [True, False]


def test_mse_of_mean_and_samples_to_beat():
    import xarray as xr

    ds = xr.Dataset(
        {N.BIAS2: (N.ESTIMATOR, [0.0, 0.01]), N.VARIANCE: (N.ESTIMATOR, [1.0, 0.1])},
        coords={N.ESTIMATOR: ["unbiased", "biased"]},
    )
    curve = A.mse_of_mean(ds, 100)
    assert float(curve.sel(estimator="unbiased", M=10)) == pytest.approx(0.1)
    assert float(curve.sel(estimator="biased", M=10)) == pytest.approx(0.02)
    # unbiased needs M with 1/M < 0.11: M = 10
    assert A.samples_to_beat(ds, "unbiased", "biased") == 10
    assert A.samples_to_beat(ds, "biased", "unbiased", rival_m=1000) == float("inf")


def test_gradient_gap_matches_explicit_formula():
    """GS-ST on one categorical: gap = ||Jac_s (J(s) - J(x))||^2 with the same Gumbels (explicit Jacobian)."""
    from gradlab.problems.build import QuadraticLoss

    prob = quad_problem()
    loss: QuadraticLoss = prob.user_loss
    t = 0.5
    est = gl.estimator("gs_st", t=t)
    gap = A.gradient_gap(prob, est, 400, seed=3, chunk_size=64)
    from gradlab.measure.sampler import UniformStream

    eta = prob.params()["logits"]
    u, _ = UniformStream(est, (1, 5), 3, DT, torch.device("cpu")).take(0, 400)
    a = loss.a + loss.a.T
    vals = []
    for r in range(400):
        g = -torch.log(-torch.log(gl.random.open_uniform(u[r])))
        theta = torch.log_softmax(eta, -1)
        s = torch.softmax((theta + g) / t, -1)
        x = torch.nn.functional.one_hot((theta + g).argmax(), 5).to(DT)
        jac = (torch.diag(s) - torch.outer(s, s)) / t
        vals.append(float(((jac @ ((s - x) @ a)) ** 2).sum()))
    assert float(gap.mean[0]) == pytest.approx(np.mean(vals), rel=1e-10)
    with pytest.raises(TypeError, match="zgr: the backward does not go through a single relaxed sample"):
        A.gradient_gap(prob, gl.estimator("zgr"), 10)


def test_unbiasedness_test_verdicts():
    """RF(2) and ZGR (quadratic loss) are not rejected; ST and GS-ST are rejected (alpha = 0.01)."""
    prob = quad_problem()
    for name, hp, biased in [
        ("reinforce", {"m": 2}, False),
        ("zgr", {}, False),
        ("st", {}, True),
        ("gs_st", {"t": 0.5}, True),
    ]:
        res = A.unbiasedness_test(prob, gl.estimator(name, **hp), n=20_000, seed=7, alpha=0.01)
        assert res.rejected == biased, (name, str(res))
    # decoupled_st against its own target (tau_f != 1) uses the matching exact gradient
    dec = A.unbiasedness_test(prob, gl.estimator("decoupled_st", tau_f=0.5, tau_b=0.01, backward="gumbel_sum"), n=5000)
    assert dec.dim == 5


def test_normalized_bias_std_matches_direct_formula():
    """Shah et al. App. C per dimension: |g - mean| / |g| and the standard deviation over draws."""
    prob = quad_problem()
    exact = gl.exact_gradient(prob)
    st = gl.sample_gradients(prob, gl.estimator("gs_st", t=0.5), 1024, seed=4, keep_samples=1024)
    out = A.normalized_bias_std(st, exact)
    x = st.samples.to(DT)
    torch.testing.assert_close(out["normalized_bias"], (exact - x.mean(0)).abs() / exact.abs(), rtol=1e-10, atol=0)
    torch.testing.assert_close(out["std"], x.std(0), rtol=1e-10, atol=0)


def test_every_written_file_records_the_same_versions(tmp_path):
    """One place for the versions (gradlab.core.version.versions): results, sampler metadata, training snapshots
    and the verify report carry the same three."""
    from gradlab.core.version import versions
    from gradlab.problems.snapshots import save_checkpoint
    from gradlab.theory import write_json

    want = versions()
    assert set(want) == {"gradlab_version", "torch_version", "python_version"}
    assert want["gradlab_version"] == gl.__version__
    st = gl.sample_gradients(quad_problem(), gl.estimator("zgr"), 10, seed=0)
    assert {k: st.meta[k] for k in want} == want
    assert {k: gl.results.provenance()[k] for k in want} == want
    pt = save_checkpoint(tmp_path, 1, {"params": {}}, {"problem": {}})
    assert {k: json.loads(pt.with_suffix(".json").read_text())[k] for k in want} == want
    doc = json.loads(write_json([], tmp_path / "v.json", quick=True).read_text())
    assert {k: doc[k] for k in want} == want
