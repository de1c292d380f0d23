"""Coverage study: do the nominal 95 % intervals of squared bias, variance and MSE cover the truth?

Design, fixed before measuring. Each setting is repeated ``R = 400`` times with independent seeds
(``n = 1000`` samples, 100 streaming bootstrap replicates, or kept samples); a repetition covers when the
truth lies in its interval. The truth is exact where an independent oracle exists (ST on a single categorical:
enumeration of ``J^T grad L(e_x)`` over the K outcomes; the squared bias of an unbiased estimator is 0) and
otherwise a 200x to 400x larger run of the same estimator (its error is at most 7 % of one repetition's
standard error). If the intervals had exactly 95 % coverage, the measured coverage would be binomial
``(R, 0.95)``; a check fails when it is more than ``Z`` binomial standard deviations from 0.95, with ``Z``
chosen by Bonferroni so that all checks of this file together fail with probability at most 1e-3:
``Z = 4.16`` (``CHECKS = 33`` checks, 3e-5 each): tolerance ``+-4.5`` points at ``R = 400`` (``+-5.2`` at 300).
The seeds are fixed, so the outcome is deterministic; the rate says how unlikely a failure of a correct
method is at a seed chosen without looking.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import pytest
import torch

import gradlab as gl
from gradlab.core import names as N
from gradlab.problems.build import build_problem

R, NSAMP, BOOT = 400, 1000, 100
CHECKS = 33  # 10 settings x 3 quantities + 3 one-sided checks of unbiased estimators
Z = NormalDist().inv_cdf(1 - 1e-3 / CHECKS / 2)
TOL = Z * math.sqrt(0.95 * 0.05 / R)
DT = torch.float64


def st_oracle(prob) -> tuple[torch.Tensor, float, float]:
    """Exact gradient, and ST(t=1)'s exact squared bias and variance, by enumeration (no gradlab estimator)."""
    eta = prob.param_values()["logits"].detach().to(DT)
    loss = prob.user_loss
    k = eta.numel()
    p = torch.softmax(eta, -1)
    jac = torch.diag(p) - torch.outer(p, p)  # d softmax / d eta (symmetric)
    eye = torch.eye(k, dtype=DT)
    values = torch.stack([loss(eye[x]) for x in range(k)])
    exact = jac @ values  # grad_eta sum_x p_x L(e_x)
    grads = torch.stack([jac @ ((loss.a + loss.a.T) @ eye[x] + loss.b) for x in range(k)])  # (K, d)
    mean = p @ grads
    var = p @ (grads - mean) ** 2
    return exact, float(((exact - mean) ** 2).mean()), float(var.mean())


def big_run_truth(prob, est, exact, n_big: int) -> tuple[float, float]:
    """Squared bias (eq. 16) and variance from one large run (seed outside the repetitions' range)."""
    s = gl.sample_gradients(prob, est, n_big, seed=10**6)
    return float(((exact - s.mean) ** 2).mean()) - s.avg_var / s.n, s.avg_var


def coverage(prob, est, truth_b2, truth_v, exact, *, keep=0, reference=None, reps=R):
    hits = {N.BIAS2: 0, N.VARIANCE: 0, N.MSE: 0}
    inside = excludes_zero = 0
    for r in range(reps):
        s = gl.sample_gradients(prob, est, NSAMP, seed=r, bootstrap=0 if keep else BOOT, keep_samples=keep)
        ref = exact if reference is None else reference(r)
        ds = gl.bias_variance({est.label: s}, ref)
        for name, truth in ((N.BIAS2, truth_b2), (N.VARIANCE, truth_v), (N.MSE, truth_b2 + truth_v)):
            lo, hi, point = (float(ds[name + x][0]) for x in (N.LO, N.HI, ""))
            hits[name] += lo <= truth <= hi
            inside += lo <= point <= hi
        excludes_zero += not bool(ds[N.BIAS2_ZERO][0])
    return {k: v / reps for k, v in hits.items()}, inside / (3 * reps), excludes_zero / reps


SINGLE = {"kind": "single", "num_classes": 4, "loss": "quadratic"}
# eta = 1.2, triangular noise: levels with probabilities 0.045, 0.71, 0.245 (none rare at n = 1000, and not the
# degenerate two-level 1/2-1/2 case at eta = 0.5, where the variance interval over-covers: intervals.py, Limits)
QUANT = {"kind": "quantization", "eta": 1.2, "levels": 4, "noise": "triangular", "loss": "quadratic"}
VAE = {"kind": "vae", "num_vars": 2, "num_classes": 4, "encoder": "linear", "batch_size": 10, "init_seed": 0}


def _setting(name):
    if name.startswith("single"):
        prob = build_problem(SINGLE)
        exact, st_b2, st_v = st_oracle(prob)
        if name == "single-st":
            return prob, gl.estimator("st", t=1.0), st_b2, st_v, exact, {}
        if name == "single-st-kept":
            return prob, gl.estimator("st", t=1.0), st_b2, st_v, exact, {"keep": NSAMP}
        if name == "single-st-kept-half":  # k < n: replicate deviations rescaled by sqrt(k / n)
            return prob, gl.estimator("st", t=1.0), st_b2, st_v, exact, {"keep": NSAMP // 2}
        if name == "single-st-vs-rf4-samples":  # eq. 16 two-sample form: reference = 2,000 RF(4) samples
            rf4 = gl.estimator("reinforce", m=4)

            def reference(r):
                return gl.sample_gradients(prob, rf4, 2000, seed=50_000 + r, bootstrap=BOOT)

            return prob, gl.estimator("st", t=1.0), st_b2, st_v, exact, {"reference": reference, "reps": 300}
        est = gl.estimator("reinforce", m=2) if name == "single-rf2" else gl.estimator("gs_st", t=0.5)
    elif name.startswith("quant"):
        prob = build_problem(QUANT)
        exact = gl.exact_gradient(prob)
        est = gl.estimator("reinforce", m=2) if name == "quant-rf2" else gl.estimator("gs_st", t=0.5)
    else:
        prob = build_problem(VAE)
        exact = gl.exact_gradient(prob)
        est = gl.estimator("reinforce", m=2) if name == "vae-rf2" else gl.estimator("st", t=1.0)
    b2, v = big_run_truth(prob, est, exact, 100_000 if name.startswith("vae") else 400_000)
    if est.name == "reinforce":
        b2 = 0.0  # unbiased: the truth is exactly zero
    return prob, est, b2, v, exact, {}


SETTINGS = [
    "single-rf2",
    "single-st",
    "single-gs_st",
    "single-st-kept",
    "single-st-kept-half",
    "single-st-vs-rf4-samples",
    "quant-rf2",
    "quant-gs_st",
    "vae-rf2",
    "vae-st",
]


@pytest.mark.parametrize("name", SETTINGS)
@pytest.mark.slow
def test_coverage_of_95_percent_intervals(name):
    prob, est, b2, v, exact, kw = _setting(name)
    cov, inside, excludes_zero = coverage(prob, est, b2, v, exact, **kw)
    reps = kw.get("reps", R)
    tol = Z * math.sqrt(0.95 * 0.05 / reps)
    print(f"{name}: coverage {cov}, truth b2 {b2:.3e}, V {v:.3e}, tolerance +-{tol:.3f}")
    assert inside == 1.0  # the point estimate lies inside its own interval, always
    for quantity, c in cov.items():
        assert abs(c - 0.95) <= tol, f"{name}: coverage of {quantity} is {c:.3f}, outside 0.95 +- {tol:.3f}"
    if b2 == 0.0:  # an unbiased estimator is reported biased at most at the nominal rate (one-sided)
        assert excludes_zero <= 0.05 + tol, f"{name}: reported biased in {excludes_zero:.3f} of repetitions"


def test_st_oracle_matches_the_sampler():
    """The enumeration oracle used as truth agrees with a large sampled run (guards the oracle itself)."""
    prob = build_problem(SINGLE)
    exact, b2, v = st_oracle(prob)
    torch.testing.assert_close(exact, gl.exact_gradient(prob), rtol=1e-12, atol=1e-12)
    s = gl.sample_gradients(prob, gl.estimator("st", t=1.0), 200_000, seed=7)
    assert abs(s.avg_var - v) < 0.05 * v  # sd of the estimate ~ V sqrt((kurtosis - 1) / n) < 1 % here
    b2_hat = float(((exact - s.mean) ** 2).mean()) - s.avg_var / s.n
    assert abs(b2_hat - b2) < 5 * math.sqrt(4 * b2 * v / s.n)
