"""Cost of the statistics of issue 8: intervals, streaming bootstrap replicates, and n="auto".

1. The main job's VAE (4 x 8, bit embedding, non-linear 64-512-256-32 network: 340,576 parameters, a batch of
   200 digits, float32, fresh initialisation), n = 1000 of GS-ST(t=0.5): sampling without replicates, with
   100 streaming replicates, and the interval computation itself (``bias_variance`` against the exact
   gradient), each the best of 3.
2. ``n="auto"`` (rtol = 0.02 on the variance of ST(t=1), single categorical K = 6) against sampling the same
   final n directly: the overhead of the checkpoints.

Run: python benchmarks/bench_intervals.py
"""

from __future__ import annotations

import os
import time

import torch

import gradlab as gl
from gradlab.problems.build import build_problem


def best(f, repeats: int = 3) -> float:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        out.append(time.perf_counter() - t0)
    return min(out)


def main() -> None:
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.2f}")
    vae = build_problem(
        {
            "kind": "vae",
            "num_vars": 4,
            "num_classes": 8,
            "embedding": "bits",
            "encoder": "nonlinear",
            "batch_size": 200,
            "dtype": "float32",
            "init_seed": 0,
        }
    )
    est = gl.estimator("gs_st", t=0.5)
    exact = gl.exact_gradient(vae)
    d = vae.layout("all").size
    t_plain = best(lambda: gl.sample_gradients(vae, est, 1000, seed=0))
    stats = {}
    t_boot = best(lambda: stats.update(s=gl.sample_gradients(vae, est, 1000, seed=0, bootstrap=100)))
    t_iv = best(lambda: gl.bias_variance({"gs_st": stats["s"]}, exact))
    print(f"VAE d = {d:,}, n = 1000, {est.label}")
    print(f"  sampling, no replicates      {t_plain:7.2f} s")
    print(f"  sampling, 100 replicates     {t_boot:7.2f} s  ({t_boot / t_plain:.2f}x)")
    print(f"  bias_variance with intervals {t_iv:7.3f} s  ({100 * t_iv / t_boot:.1f} % of the sampling)")

    single = build_problem({"kind": "single", "num_classes": 6, "loss": "quadratic"})
    st = gl.estimator("st", t=1.0)
    got = {}
    t_auto = best(lambda: got.update(s=gl.sample_gradients(single, st, "auto", seed=0, rtol=0.02, max_n=200_000)))
    n = got["s"].n
    t_fixed = best(lambda: gl.sample_gradients(single, st, n, seed=0, bootstrap=100))
    print(
        f"n='auto' (rtol 0.02) reached n = {n:,}: {t_auto:.3f} s; the same n directly: {t_fixed:.3f} s "
        f"({t_auto / t_fixed:.2f}x)"
    )


if __name__ == "__main__":
    main()
