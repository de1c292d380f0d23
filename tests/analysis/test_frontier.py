"""Pareto frontiers: brute force in any number of objectives, confidence rules, noise cannot make a setting
optimal, the cost axis, estimators of another target excluded."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import gradlab as gl
from gradlab.analysis import pareto as P
from gradlab.core import names as N
from gradlab.problems.build import build_problem

from .test_coverage import SINGLE


def brute_force(points: np.ndarray) -> np.ndarray:
    out = []
    for i, p in enumerate(points):
        dominated = any(
            (q <= p).all() and (q < p).any() for j, q in enumerate(points) if j != i and np.isfinite(q).all()
        )
        out.append(np.isfinite(p).all() and not dominated)
    return np.array(out)


@pytest.mark.parametrize("k", [2, 3])
def test_front_matches_brute_force(k):
    rng = np.random.default_rng(k)
    for _ in range(30):
        pts = rng.integers(0, 5, size=(12, k)).astype(float)  # ties on purpose
        pts[rng.integers(0, 12)] = np.nan
        np.testing.assert_array_equal(P.pareto_front(*pts.T), brute_force(pts))


def test_confident_front():
    lo = [np.array([1.0, 5.0, 1.2]), np.array([1.0, 5.0, 0.9])]
    hi = [np.array([2.0, 6.0, 1.4]), np.array([2.0, 6.0, 1.1])]
    # setting 1 is dominated with confidence by 0 (its lower bounds exceed 0's upper bounds); setting 2
    # overlaps 0 in both objectives and stays
    assert P.confident_front(lo, hi).tolist() == [True, False, True]
    assert P.confident_front(hi, hi).tolist() == P.pareto_front(*hi).tolist()


def _ds(b2, lo, hi, v, vlo, vhi, target=None, cost=None):
    n = len(b2)
    data = {
        N.BIAS2: (N.ESTIMATOR, np.array(b2, float)),
        N.BIAS2 + N.LO: (N.ESTIMATOR, np.array(lo, float)),
        N.BIAS2 + N.HI: (N.ESTIMATOR, np.array(hi, float)),
        N.VARIANCE: (N.ESTIMATOR, np.array(v, float)),
        N.VARIANCE + N.LO: (N.ESTIMATOR, np.array(vlo, float)),
        N.VARIANCE + N.HI: (N.ESTIMATOR, np.array(vhi, float)),
    }
    if cost is not None:
        data[N.SECONDS_PER_SAMPLE] = (N.ESTIMATOR, np.array(cost, float))
    coords = {N.ESTIMATOR: [f"e{i}" for i in range(n)]}
    if target is not None:
        coords[N.TARGET] = (N.ESTIMATOR, target)
    return xr.Dataset(data, coords=coords)


def test_pareto_mask_methods_targets_cost_and_errors():
    model = "objective under softmax(logits)"
    ds = _ds(
        b2=[-1e-9, 1e-9, 1e-6, 0.0],
        lo=[-5e-8, -1e-8, 0.9e-6, 0.0],
        hi=[5e-8, 1e-8, 1.1e-6, 0.0],
        v=[0.9, 1.0, 0.5, 0.1],
        vlo=[0.6, 0.95, 0.45, 0.09],
        vhi=[1.3, 1.05, 0.55, 0.11],
        target=[model, model, model, "objective under softmax(logits / 0.5) (the forward distribution)"],
        cost=[1.0, 1.0, 0.1, 0.1],
    )
    assert P.pareto_mask(ds, method="plain").values.tolist() == [True, False, True, False]  # noise wins
    assert P.pareto_mask(ds).values.tolist() == [False, True, True, False]  # auto = upper bounds
    assert P.pareto_mask(ds).name == "pareto_upper"
    assert P.pareto_mask(ds, method="confident").values.tolist() == [True, True, True, False]
    assert P.pareto_mask(ds, same_target=False, method="plain").values.tolist() == [False, False, False, True]
    cost = P.pareto_mask(ds, (N.BIAS2, N.VARIANCE, N.SECONDS_PER_SAMPLE))
    assert cost.values.tolist() == [False, True, True, False]
    with pytest.raises(ValueError, match="method must be one of"):
        P.pareto_mask(ds, method="best")
    with pytest.raises(ValueError, match="no variable 'mse'"):
        P.pareto_mask(ds, (N.BIAS2, N.MSE))
    bare = ds.drop_vars([N.BIAS2 + N.LO, N.BIAS2 + N.HI, N.VARIANCE + N.LO, N.VARIANCE + N.HI])
    assert P.pareto_mask(bare).name == "pareto_plain"
    with pytest.raises(ValueError, match="needs confidence bounds"):
        P.pareto_mask(bare, method="upper")


def test_noise_alone_rarely_makes_a_setting_optimal():
    """The same unbiased estimator (ZGR on a quadratic loss: b2 = 0) measured twice, precisely (n = 20,000) and
    noisily (n = 200): identical settings, so the noisy copy has no claim to optimality. On point estimates it
    is "optimal" whenever its noise lowers its variance estimate (about half the repetitions); on upper bounds
    only when its variance interval lies below the truth, a one-sided miss of rate (1 - 0.95) / 2 = 2.5 %.
    Over R = 100 repetitions the test asks for at most 2.5 % + 3.09 binomial sd (7.3 %; false-failure rate
    1e-3 if the rate is 2.5 %), and at least 30 % on point estimates."""
    prob = build_problem(SINGLE)
    exact = gl.exact_gradient(prob)
    zgr = gl.estimator("zgr")
    precise = gl.sample_gradients(prob, zgr, 20_000, seed=12345, bootstrap=100)
    reps, plain, upper = 100, 0, 0
    for r in range(reps):
        noisy = gl.sample_gradients(prob, zgr, 200, seed=r, bootstrap=100)
        ds = gl.bias_variance({"precise": precise, "noisy": noisy}, exact)
        plain += bool(P.pareto_mask(ds, method="plain").values[1])
        upper += bool(P.pareto_mask(ds, method="upper").values[1])
    print(f"noisy copy on the front: plain {plain}/{reps}, upper bounds {upper}/{reps}")
    assert upper / reps <= 0.025 + 3.09 * (0.025 * 0.975 / reps) ** 0.5
    assert plain / reps >= 0.3  # what the rule protects against actually happens here


def test_three_objective_front_matches_brute_force_on_results():
    rng = np.random.default_rng(0)
    for _ in range(10):
        vals = rng.random((8, 3))
        ds = _ds(vals[:, 0], vals[:, 0], vals[:, 0], vals[:, 1], vals[:, 1], vals[:, 1], cost=vals[:, 2])
        got = P.pareto_mask(ds, (N.BIAS2, N.VARIANCE, N.SECONDS_PER_SAMPLE), method="plain").values
        np.testing.assert_array_equal(got, brute_force(vals))
