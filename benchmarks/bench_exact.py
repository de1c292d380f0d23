"""Exact gradient of all parameters of the non-linear VAE (784-512-256-VK, mirror decoder, bit embedding)
on a 200-image batch of synthetic 784-dim binary data, each case in a fresh process (for its peak memory).

Run: python benchmarks/bench_exact.py [--dtype float32] [--cases 8x4,16x4,2x20]
Prints a markdown table for BENCHMARKS.md: time, peak resident memory, FLOP rate and its ratio to a large
matmul timed in the same run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import torch

CHILD = r"""
import json, sys, time, torch, gradlab as gl
from gradlab.problems import CategoricalVAE
k, v, dtype, reps = int(sys.argv[1]), int(sys.argv[2]), getattr(torch, sys.argv[3]), int(sys.argv[4])
data = (torch.rand(200, 784, generator=torch.Generator().manual_seed(0)) < 0.3).to(dtype)
prob = CategoricalVAE(data, v, k, "bits", "nonlinear", dtype=dtype, seed=0)
times = []
for _ in range(reps):
    t0 = time.perf_counter()
    g = gl.exact_gradient(prob)
    times.append(time.perf_counter() - t0)
assert torch.isfinite(g).all()
peak = [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")][0]
print(json.dumps({"times": times, "peak_kib": peak, "params": g.numel()}))
"""


def matmul_rate(dtype: torch.dtype, n: int = 4096, reps: int = 5) -> float:
    a = torch.randn(n, n, dtype=dtype)
    b = torch.randn(n, n, dtype=dtype)
    for _ in range(2):
        a @ b
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - t0)


def flops(k: int, v: int, batch: int = 200, dim: int = 784) -> float:
    """Forward + backward FLOPs of the enumeration: decoder per configuration, two (B x C) products."""
    bits = k.bit_length() - 1
    dec = v * bits * 256 + 256 * 512 + 512 * dim
    per_config = 2 * dec + 2 * batch * dim + 2 * batch * v * k
    return 3.0 * per_config * k**v  # backward ~ 2x forward


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--cases", default="8x4,16x4,2x20")
    args = ap.parse_args()
    dtype = getattr(torch, args.dtype)
    rate = matmul_rate(dtype)
    print(f"matmul 4096x4096 {args.dtype}: {rate / 1e9:.1f} GFLOP/s ({torch.get_num_threads()} threads)")
    print()
    print("| K | V | configurations | time [s] | peak memory [GB] | GFLOP/s | of matmul rate |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for case in args.cases.split(","):
        k, v = (int(s) for s in case.split("x"))
        reps = 3 if k**v <= 100_000 else 1
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(k), str(v), args.dtype, str(reps)],
            capture_output=True,
            text=True,
            check=True,
        )
        res = json.loads(out.stdout.strip().splitlines()[-1])
        t = min(res["times"][1:] or res["times"])  # first run includes one-time warm-up
        f = flops(k, v)
        print(
            f"| {k} | {v} | {k**v:,} | {t:.3f} | {res['peak_kib'] / 2**20:.2f} | {f / t / 1e9:.1f} | "
            f"{f / t / rate:.0%} |"
        )


if __name__ == "__main__":
    main()
