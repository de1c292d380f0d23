"""Every registered estimator at its default hyper-parameters on the main job's problem: family, squared bias
against the exact gradient (ZGR eq. 16, with its 95 % interval), variance and milliseconds per sample.

The problem is `gradlab run`'s: the categorical VAE (4 variables x 8 categories, bits, 64-512-256-32) at its RF(4)
snapshot after 10 epochs (trained here, or reused from results/snapshots/), the negative ELBO of 200 fixed digits,
float32; 1,000 samples per estimator (the main job's count), seed 0. Estimators defined only for binary variables
(`categories == 2`) do not apply to 8-way variables and are listed as such.

Run: python analyses/estimator_table.py   (--n N to change the samples per estimator)
Output: the markdown table on stdout (quoted in the README).
"""

from __future__ import annotations

import argparse

from _common import RESULTS


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="samples per estimator (default 1000)")
    args = ap.parse_args()
    import gradlab as gl
    from gradlab.core import names as N
    from gradlab.jobs.main_job import RunSettings, ensure_snapshot
    from gradlab.problems.build import build_problem

    settings = RunSettings(out=RESULTS, progress=False).resolved()
    snapshot = ensure_snapshot(settings)
    cfg = {"kind": "vae", "num_vars": 4, "num_classes": 8, "batch_size": 200, "snapshot": str(snapshot)}
    problem = build_problem({**cfg, "dtype": "float32"})
    exact = gl.exact_gradient(problem)
    k = problem.latent_logits(problem.param_values()).shape[-1]
    print("| estimator | kind | squared bias [95 % interval] | variance | ms / sample |")
    print("|---|---|---:|---:|---:|")
    for name in gl.available_estimators():
        est = gl.estimator(name)
        kind = "score function" if not est.pathwise else ("relaxed forward" if est.relaxed_forward else "pathwise")
        if est.categories not in (None, k):
            print(f"| `{est.label}` | {kind} | not applicable: binary variables only | | |")
            continue
        stats = gl.sample_gradients(problem, est, args.n, seed=0, bootstrap=100)
        row = gl.bias_variance({est.label: stats}, exact).isel({N.ESTIMATOR: 0})
        b2, lo, hi = (float(row[v]) for v in (N.BIAS2, N.BIAS2 + N.LO, N.BIAS2 + N.HI))
        ms = 1e3 * float(row[N.SECONDS_PER_SAMPLE]) if N.SECONDS_PER_SAMPLE in row else float("nan")
        print(f"| `{est.label}` | {kind} | {b2:.3g} [{lo:.2g}, {hi:.2g}] | {float(row[N.VARIANCE]):.3g} | {ms:.2f} |")


if __name__ == "__main__":
    main()
