"""Why gradlab's squared-bias interval is score-type: coverage of three candidate 95 % intervals for eq. 16
on Gaussian samples with a known truth (no estimator involved, so only the statistics are compared).

d dimensions with covariance diag(lam) (flat or decaying 1/j^2), bias beta scaled to `scale` noise units
(|beta|^2 = scale^2 tr(S) / n), n = 1000 samples, B = 100 Poisson replicates, 1,000 repetitions each:

* percentile: the 2.5 / 97.5 % percentiles of the replicates of eq. 16 (the method gradlab used before);
* basic: the basic (pivotal) bootstrap interval [2 b2 - q97.5, 2 b2 - q2.5];
* score: gradlab.measure.intervals.b2_interval (the default).

Run: python analyses/interval_methods.py   (about 1 min on 2 cores). Output: a table on stdout.
"""

from __future__ import annotations

import numpy as np
import torch

from gradlab.measure.intervals import b2_interval, z_value

Z = z_value(0.95)


def coverage(d: int, scale: float, decay: bool, rng, n: int = 1000, boots: int = 100, reps: int = 1000):
    lam = 1.0 / np.arange(1, d + 1) ** 2 if decay else np.ones(d)
    beta = rng.standard_normal(d)
    beta *= scale * np.sqrt(lam.sum() / n) / np.linalg.norm(beta)
    truth = beta @ beta / d
    hits = {"percentile": 0, "basic": 0, "score": 0}
    for _ in range(reps):
        y = rng.standard_normal((n, d)) * np.sqrt(lam) - beta  # the reference gradient is 0
        ybar, v = y.mean(0), y.var(0, ddof=1).mean()
        a = -ybar
        b2 = a @ a / d - v / n
        w = rng.poisson(1.0, (boots, n)).astype(float)
        tot = w.sum(1)
        means = (w @ y) / tot[:, None]
        ss = w @ (y**2).sum(1) - tot * (means**2).sum(1)
        reps_b2 = (means**2).sum(1) / d - ss / ((tot - 1) * d) / tot
        lo, hi = np.percentile(reps_b2, [2.5, 97.5])
        hits["percentile"] += lo <= truth <= hi
        hits["basic"] += 2 * b2 - hi <= truth <= 2 * b2 - lo
        lo, hi, _ = b2_interval(float(b2), torch.from_numpy(a), torch.from_numpy(-(means - ybar)), Z)
        hits["score"] += lo <= truth <= hi
    return {k: v / reps for k, v in hits.items()}


def main() -> None:
    rng = np.random.default_rng(0)
    print(f"{'d':>3} {'spectrum':>8} {'bias/noise':>10} {'percentile':>10} {'basic':>7} {'score':>7}")
    for d, decay in ((1, False), (4, False), (50, False), (20, True)):
        for scale in (0.0, 1.0, 3.0, 10.0):
            c = coverage(d, scale, decay, rng)
            spectrum = "1/j^2" if decay else "flat"
            print(f"{d:>3} {spectrum:>8} {scale:>10g} {c['percentile']:>10.3f} {c['basic']:>7.3f} {c['score']:>7.3f}")


if __name__ == "__main__":
    main()
