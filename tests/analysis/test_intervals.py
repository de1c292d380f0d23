"""Intervals (point inside, errors), precision on request (``n="auto"``) and self-describing results."""

from __future__ import annotations

import math
from statistics import NormalDist

import pytest
import torch

import gradlab as gl
from gradlab.core import names as N
from gradlab.measure.intervals import intervals
from gradlab.problems.build import build_problem

from .test_coverage import SINGLE, st_oracle

ESTS = [gl.estimator("st", t=1.0), gl.estimator("zgr"), gl.estimator("reinforce", m=2), gl.estimator("gs", t=0.3)]


@pytest.mark.parametrize("seed", range(6))
def test_point_estimate_inside_its_interval(seed):
    """Every bound from the same samples contains the point estimate, also when eq. 16 is negative, for an
    exact reference, a sampled reference and kept samples."""
    prob = build_problem({**SINGLE, "logits_seed": seed})
    exact = gl.exact_gradient(prob)
    ref = gl.sample_gradients(prob, gl.estimator("reinforce", m=4), 300, seed=99 + seed, bootstrap=50)
    negative = 0
    for est in ESTS:
        for kw in ({"bootstrap": 50}, {"keep_samples": 200}):
            s = gl.sample_gradients(prob, est, 200, seed=seed, **kw)
            for reference in (exact, ref):
                iv = intervals(s, reference)
                negative += iv.b2 < 0
                assert iv.b2_lo <= iv.b2 <= iv.b2_hi
                assert iv.variance_lo <= iv.variance <= iv.variance_hi
                assert iv.mse_lo <= iv.mse <= iv.mse_hi
                assert iv.b2_consistent_with_zero == (iv.b2_lo <= 0)
    if seed == 0:
        assert negative > 0  # the negative-estimate branch was exercised


def test_interval_errors():
    prob = build_problem(SINGLE)
    s = gl.sample_gradients(prob, gl.estimator("zgr"), 100, seed=0, bootstrap=20)
    bare_ref = gl.sample_gradients(prob, gl.estimator("reinforce", m=2), 100, seed=1)
    with pytest.raises(ValueError, match="reference is a set of samples without bootstrap replicates"):
        intervals(s, bare_ref)
    with pytest.raises(ValueError, match="at least 10 are needed"):
        intervals(gl.sample_gradients(prob, gl.estimator("zgr"), 100, seed=0, bootstrap=5), gl.exact_gradient(prob))
    with pytest.raises(ValueError, match=r"confidence must be in \(0, 1\), got 1.5"):
        intervals(s, gl.exact_gradient(prob), confidence=1.5)
    assert intervals(gl.sample_gradients(prob, gl.estimator("zgr"), 100, seed=0), gl.exact_gradient(prob)) is None


def _needed_n(rtol: float, confidence: float = 0.95) -> float:
    """ST(t=1) on SINGLE: the n at which the variance interval's relative half-width is rtol, from the exact
    distribution (K outcomes): the delta-method sd of V_hat is sd_x(mean_j (g_xj - mu_j)^2) / sqrt(n)."""
    prob = build_problem(SINGLE)
    eta = prob.param_values()["logits"].to(torch.float64)
    p = torch.softmax(eta, -1)
    jac = torch.diag(p) - torch.outer(p, p)
    eye = torch.eye(len(p), dtype=torch.float64)
    loss = prob.user_loss
    grads = torch.stack([jac @ ((loss.a + loss.a.T) @ e + loss.b) for e in eye])
    dev2 = ((grads - p @ grads) ** 2).mean(-1)  # per outcome: average squared deviation
    v = float(p @ dev2)
    sd = math.sqrt(float(p @ (dev2 - v) ** 2))
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    return (z * sd / (v * rtol)) ** 2


def test_auto_n_reaches_requested_width_at_the_predicted_checkpoint():
    """rtol is chosen so that the needed n (computed exactly) lies at 1.4x a checkpoint: the width must be
    missed there (by 18 %) and reached at the next one (0.84 of the target)."""
    prob = build_problem(SINGLE)
    assert st_oracle(prob)[2] > 0
    min_n = 500
    rtol = math.sqrt(_needed_n(1.0) / (1.4 * 4 * min_n))  # needed n = 1.4 x 2,000
    s = gl.sample_gradients(prob, gl.estimator("st", t=1.0), "auto", seed=3, rtol=rtol, min_n=min_n, max_n=64_000)
    assert s.meta["stopped"] == "rtol" and s.meta["rel_halfwidth"] <= rtol
    assert s.n == s.meta["n_reached"] == 8 * min_n, (s.n, _needed_n(rtol))
    ds = gl.bias_variance({"st": s}, gl.exact_gradient(prob))
    half = float(ds[N.VARIANCE + N.HI][0] - ds[N.VARIANCE + N.LO][0]) / 2
    assert half / float(ds[N.VARIANCE][0]) <= rtol


def test_auto_n_stops_at_the_cap_and_is_chunk_invariant():
    prob = build_problem(SINGLE)
    exact = gl.exact_gradient(prob)
    kw = {"rtol": 0.05, "precision_of": "bias2", "reference": exact, "min_n": 1000, "max_n": 6000}
    a = gl.sample_gradients(prob, gl.estimator("zgr"), "auto", seed=1, **kw)  # unbiased: b2 = 0 has no rel. width
    assert a.n == 6000 and a.meta["stopped"] == "max_n" and a.meta["rel_halfwidth"] > 0.05
    b = gl.sample_gradients(prob, gl.estimator("zgr"), "auto", seed=1, chunk_size=777, **kw)
    assert b.n == a.n
    torch.testing.assert_close(a.mean, b.mean, rtol=1e-12, atol=1e-14)
    # a biased estimator reaches a relative width on its squared bias
    c = gl.sample_gradients(prob, gl.estimator("st", t=1.0), "auto", seed=1, **{**kw, "rtol": 0.5})
    assert c.meta["stopped"] == "rtol" and c.n < 6000


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"n": "many"}, "n must be a positive integer or 'auto', got 'many'"),
        ({"n": "auto"}, "n='auto' needs rtol"),
        ({"n": "auto", "rtol": 0.1, "precision_of": "bias2"}, "precision_of='bias2' needs reference="),
        ({"n": "auto", "rtol": 0.1, "precision_of": "mse"}, "precision_of must be one of"),
        ({"n": "auto", "rtol": -1}, "rtol must be"),
        ({"n": "auto", "rtol": 0.1, "min_n": 100, "max_n": 50}, "max_n must be an integer >= 100"),
        ({"n": 100, "rtol": 0.1}, "rtol applies to n='auto' only"),
    ],
)
def test_auto_n_errors(kw, match):
    prob = build_problem(SINGLE)
    with pytest.raises((ValueError, TypeError), match=match):
        gl.sample_gradients(prob, gl.estimator("zgr"), seed=0, **kw)


def test_results_describe_themselves_and_record_targets():
    prob = build_problem(SINGLE)
    ests = [gl.estimator("zgr"), gl.estimator("decoupled_st", tau_f=0.5, tau_b=2.0)]
    stats = {e.label: gl.sample_gradients(prob, e, 300, seed=0, bootstrap=20) for e in ests}
    refs = {e.label: gl.exact_gradient(prob, estimator=e) for e in ests}
    ds = gl.bias_variance(stats, refs)
    for var in ds.data_vars:
        assert ds[var].attrs["long_name"] and "units" in ds[var].attrs and ds[var].attrs["definition"], var
    assert "95 % confidence" in ds[N.BIAS2 + N.LO].attrs["definition"]
    assert ds[N.TARGET].values.tolist() == [
        "objective under softmax(logits)",
        "objective under softmax(logits / 0.5) (the forward distribution)",
    ]
    assert ds[N.BIAS2_ZERO].dtype == bool and (ds[N.SECONDS_PER_SAMPLE] > 0).all()
    assert not gl.estimator("decoupled_st", tau_f=0.5).targets_model_objective
    assert gl.estimator("decoupled_st", tau_f=1.0, tau_b=3.0).targets_model_objective


def test_problem_recorded_per_row_when_the_problems_differ():
    a, b = build_problem(SINGLE), build_problem({**SINGLE, "logits_seed": 5})
    zgr = gl.estimator("zgr")
    stats = {"a": gl.sample_gradients(a, zgr, 100, seed=0), "b": gl.sample_gradients(b, zgr, 100, seed=0)}
    ds = gl.bias_variance(stats, {"a": gl.exact_gradient(a), "b": gl.exact_gradient(b)})
    assert "problem" not in ds.attrs and ds[N.PROBLEM].values.tolist() == [a.config_json(), b.config_json()]
    same = gl.bias_variance({"a": stats["a"]}, gl.exact_gradient(a))
    assert same.attrs["problem"] == a.config_json() and N.PROBLEM not in same.coords
