"""Exact engine on the hierarchical VAE (issue 9): configurations per second, the fraction of the matmul rate
measured in the same run, and peak memory against the number of configurations.

HierarchicalVAE on one digit image (every configuration of both layers of one image), float64, all
parameters, each case in a fresh process. FLOPs per configuration count the three per-configuration linear
maps (q(z2|z1), p(z1|z2), p(x|z1); q(z1|x) does not depend on the configuration), 2 per multiply-add, times 3
for forward and backward.

Run: python benchmarks/bench_exact_layered.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import torch

CASE = """
import json, resource, time, torch, gradlab as gl
m = gl.problems.HierarchicalVAE(num_vars={v}, num_classes={k}, batch_size=1)
gl.exact_gradient(gl.problems.HierarchicalVAE(num_vars=2, num_classes={k}, batch_size=1))  # warm-up
t0 = time.perf_counter(); gl.exact_gradient(m); dt = time.perf_counter() - t0
print(json.dumps({{"configurations": m.num_configurations(), "seconds": dt,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def matmul_gflops(n: int = 2048) -> float:
    a = torch.randn(n, n, dtype=torch.float64)
    a @ a
    t0 = time.perf_counter()
    for _ in range(3):
        a @ a
    return 3 * 2 * n**3 / (time.perf_counter() - t0) / 1e9


def main() -> None:
    rate = matmul_gflops()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, load {os.getloadavg()[0]:.2f}; "
        f"matmul 2048^2 float64: {rate:.1f} GFLOP/s"
    )
    for v, k in ((3, 4), (4, 4), (5, 4)):
        out = subprocess.run([sys.executable, "-c", CASE.format(v=v, k=k)], capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        bits = v * (k.bit_length() - 1)
        flops = 3 * 2 * (bits * v * k * 2 + bits * 64)
        gflops = r["configurations"] * flops / r["seconds"] / 1e9
        print(
            json.dumps(
                {
                    "num_vars": v,
                    "num_classes": k,
                    **r,
                    "configs_per_s": round(r["configurations"] / r["seconds"]),
                    "gflops": round(gflops, 3),
                    "of_matmul": f"{100 * gflops / rate:.2f}%",
                }
            )
        )


if __name__ == "__main__":
    main()
