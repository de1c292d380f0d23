"""Sampler on the multi-layer models (issue 9): vectorised (vmap over samples) against the per-sample loop a
user would write (one forward and one backward pass per sample, the estimator as a plug-in layer on every
draw), and peak memory against n.

Models: SigmoidBeliefNet(hidden=(32, 32)) and HierarchicalVAE(num_vars=4, num_classes=4), 20 digits each,
float64 and float32 (loop and vectorised in the same dtype), ZGR. The loop runs 200 samples and is
extrapolated to 10^4; the vectorised sampler runs 10^4. Peak memory (float64): a fresh process per n
(resident set size, ru_maxrss).

Run: python benchmarks/bench_layered.py
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

import torch

import gradlab as gl


def make(name: str, dtype: torch.dtype = torch.float64):
    if name == "sbn":
        return gl.problems.SigmoidBeliefNet(hidden=(32, 32), batch_size=20, dtype=dtype)
    return gl.problems.HierarchicalVAE(num_vars=4, num_classes=4, batch_size=20, dtype=dtype)


def loop_seconds_per_sample(model, est, n: int = 200) -> float:
    """The per-sample loop: uniforms for one sample, the plug-in layer on each draw, one backward pass."""
    g = torch.Generator().manual_seed(0)
    sizes = [est.num_uniforms(d.shape) for d in model.draws]
    params = {k: v.clone().requires_grad_() for k, v in model.param_values().items()}
    t0 = time.perf_counter()
    for _ in range(n):
        parts = iter([torch.rand(s, generator=g, dtype=model.dtype) for s in sizes])
        loss = model.forward_fn(params, lambda logits, parts=parts: est.relax(logits, next(parts))).sum()
        torch.autograd.grad(loss, list(params.values()))
    return (time.perf_counter() - t0) / n


def peak_mb(name: str, n: int) -> float:
    code = (
        "import resource, gradlab as gl, sys; sys.path.insert(0, 'benchmarks'); from bench_layered import make;"
        f"m = make({name!r}); gl.sample_gradients(m, gl.estimator('zgr'), {n}, seed=0);"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.2f}")
    rows = []
    for name, dtype in (
        ("sbn", torch.float64),
        ("sbn", torch.float32),
        ("hvae", torch.float64),
        ("hvae", torch.float32),
    ):
        model = make(name, dtype)
        est = gl.estimator("zgr")
        gl.sample_gradients(model, est, 200, seed=1)  # warm-up
        t0 = time.perf_counter()
        gl.sample_gradients(model, est, 10_000, seed=0)
        vec = time.perf_counter() - t0
        loop = loop_seconds_per_sample(model, est) * 10_000
        mem = {n: peak_mb(name, n) for n in (2_000, 20_000)} if dtype == torch.float64 else None
        rows.append(
            {
                "model": name,
                "dtype": str(dtype).replace("torch.", ""),
                "parameters": model.layout().size,
                "vectorised_s": round(vec, 2),
                "loop_s_extrapolated": round(loop, 1),
                "speed_up": round(loop / vec, 1),
                "peak_mb": mem,
            }
        )
        print(json.dumps(rows[-1]))
    print(f"max RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
