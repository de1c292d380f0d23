"""Monte Carlo sampler throughput against two anchors measured in the same run: a per-sample loop (the same
estimator, one sample per backward pass, as reference scripts do it) and the machine's float32 matmul rate.

Run: python benchmarks/bench_sampler.py [--vae-n 10000] [--device cpu]
Prints markdown tables for BENCHMARKS.md. Each measurement runs in a fresh process (for its peak memory).
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
from gradlab.problems.build import build_problem
from gradlab.problems import CategoricalVAE
from gradlab.measure.sampler import UniformStream, per_sample_gradients
kind, name, n, mode, device = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
fixed_chunk = int(sys.argv[6]) if len(sys.argv) > 6 else None
hp = {"gr_mc": {"t": 0.1, "m": 10}, "reinforce": {"m": 4}}.get(name, {})
est = gl.estimator(name, **hp)
if kind == "single":
    prob = build_problem({"kind": "single", "num_classes": 16, "dtype": "float32"})
elif kind == "quantization":
    prob = build_problem({"kind": "quantization", "eta": 1.3, "noise": "logistic", "std": 1/3, "loss": "sigmoid",
                          "dtype": "float32"})
else:
    data = (torch.rand(200, 784, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    prob = CategoricalVAE(data, 16, 16, "bits", "nonlinear", dtype=torch.float32)
if device != "cpu":
    prob = prob.to(device)
def sync():
    if device != "cpu":
        torch.cuda.synchronize()
if mode == "vectorised":
    gl.sample_gradients(prob, est, min(n, 64), seed=1)  # warm-up
    sync(); t0 = time.perf_counter()
    st = gl.sample_gradients(prob, est, n, seed=0, chunk_size=fixed_chunk)
    sync(); dt = time.perf_counter() - t0
    chunk = st.meta["chunk_size"]
else:  # per-sample loop: one sample per backward pass, plain autograd, unreplicated parameters
    shape = prob.latent_logits(prob.param_values()).shape
    stream = UniformStream(est, shape, 0, prob.dtype, torch.device(device))
    def one(i):
        leaves = {k: v.clone().requires_grad_() for k, v in prob.params("all").items()}
        full = prob.full_params(leaves)
        logits = prob.latent_logits(full)
        out = est.surrogate(logits, lambda x: prob.loss(x, full, logits), stream.take(i, i + 1)[0][0])
        return torch.autograd.grad(out.sum(), list(leaves.values()))
    for i in range(3):
        one(i)
    sync(); t0 = time.perf_counter()
    for i in range(n):
        one(i)
    sync(); dt = time.perf_counter() - t0
    chunk = 1
peak = [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")][0]
params = prob.layout("all").size
print(json.dumps({"seconds": dt, "n": n, "peak_kib": peak, "params": params, "chunk": chunk}))
"""


def child(*args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def matmul_rate(device: str, n: int = 4096, reps: int = 5) -> float:
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    for _ in range(2):
        a @ b
    if device != "cpu":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    if device != "cpu":
        torch.cuda.synchronize()
    return 2 * n**3 * reps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--single-n", type=int, default=100_000)
    ap.add_argument("--loop-n", type=int, default=2000)
    ap.add_argument("--vae-n", type=int, default=10_000)
    ap.add_argument("--vae-loop-n", type=int, default=100)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    dev = args.device
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {dev}")
    print()
    print("### Single-variable problems (float32), 1e5 samples")
    print()
    print("| problem | estimator | vectorised [s] | per-sample loop [ms/sample] | speed-up | peak [MB] |")
    print("|---|---|---:|---:|---:|---:|")
    for kind in ("single", "quantization"):
        for name in ("zgr", "gs_st", "gr_mc", "reinforce"):
            v = child(kind, name, str(args.single_n), "vectorised", dev)
            lp = child(kind, name, str(args.loop_n), "loop", dev)
            per_v, per_l = v["seconds"] / v["n"], lp["seconds"] / lp["n"]
            row = [kind, name, f"{v['seconds']:.3f}", f"{per_l * 1e3:.3f}", f"{per_l / per_v:.0f}x"]
            print("| " + " | ".join(row + [f"{v['peak_kib'] / 1024:.0f}"]) + " |")
    rate = matmul_rate(dev)
    print()
    print(
        f"### VAE 784-512-256-256 (K=16, V=16, bits, batch 200), full parameter gradient, float32; "
        f"matmul {rate / 1e9:.1f} GFLOP/s in the same run"
    )
    print()
    cols = ["estimator", "mode", "samples", "time [s]", "samples/s", "effective GFLOP/s (6 B P n / t)", "of matmul"]
    print("| " + " | ".join(cols + ["peak [MB]", "chunk"]) + " |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, n, mode in (
        ("zgr", args.vae_n, "vectorised"),
        ("zgr", args.vae_loop_n, "loop"),
        ("zgr", 1000, "vectorised"),
    ):
        r = child("vae", name, str(n), mode, dev)
        eff = 6 * 200 * r["params"] * r["n"] / r["seconds"]
        print(
            f"| {name} | {mode} | {r['n']} | {r['seconds']:.1f} | {r['n'] / r['seconds']:.1f} | {eff / 1e9:.1f} | "
            f"{eff / rate:.0%} | {r['peak_kib'] / 1024:.0f} | {r['chunk']} |"
        )
    print()
    print("### Peak memory against n (single categorical K=16, zgr, float32)")
    print()
    for chunk in (None, 4096):
        for n in (1000, 100_000, 1_000_000):
            r = child("single", "zgr", str(n), "vectorised", dev, *([str(chunk)] if chunk else []))
            print(f"- n = {n:,}: peak {r['peak_kib'] / 1024:.0f} MB (chunks of {r['chunk']:,} samples)")


if __name__ == "__main__":
    main()
