"""Sampler on the multi-layer models (issue 9): vectorised (vmap over samples) against the per-sample loop a
user would write (one forward and one backward pass per sample, the estimator as a plug-in layer on every
draw), and peak memory against n.

Models: SigmoidBeliefNet(hidden=(32, 32)) and HierarchicalVAE(num_vars=4, num_classes=4), 20 digits each,
float64 and float32 (loop and vectorised in the same dtype), ZGR (the SBN's draws through the binary closed form
``est.plugin_sample_binary`` in both the loop and the sampler). The row ``sbn_categorical`` is the same network written
with ``draw((0, a))[..., 1]``, the 2-way categorical form, for comparison. The loop runs 300 samples and is
extrapolated to 10^4; the vectorised sampler runs 10^4; both take the best of 3 runs. Peak memory (float64): a
fresh process per n (resident set size, ru_maxrss).

Run: python benchmarks/bench_layered.py
"""

from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
import time

import torch

import gradlab as gl
from gradlab.core.distributions import binary_to_categorical


class CategoricalSBN(gl.problems.SigmoidBeliefNet):
    """The same network, its binary units drawn as 2-way categorical variables (0, a)."""

    def _forward(self, p, draw):
        h = self.x
        for i in range(len(self.hidden)):
            h = draw(binary_to_categorical(h @ p[f"w{i}"] + p[f"b{i}"]))[..., 1]
        logits = h @ p["w_out"] + p["b_out"]
        return torch.logsumexp(logits, -1) - logits.gather(-1, self.y.unsqueeze(-1)).squeeze(-1)


def make(name: str, dtype: torch.dtype = torch.float64):
    if name in ("sbn", "sbn_categorical"):
        cls = gl.problems.SigmoidBeliefNet if name == "sbn" else CategoricalSBN
        return cls(hidden=(32, 32), batch_size=20, dtype=dtype)
    return gl.problems.HierarchicalVAE(num_vars=4, num_classes=4, batch_size=20, dtype=dtype)


class PlugIn:
    """What a user's training loop passes as ``draw``: the estimator as a plug-in layer on every draw (its
    binary closed form for ``draw.bernoulli``, as gradlab uses), with the next slice of one sample's noise."""

    def __init__(self, est, parts):
        self.est, self.parts = est, iter(parts)

    def __call__(self, logits):
        return self.est.plugin_sample(logits, next(self.parts))

    def bernoulli(self, logit):
        return self.est.plugin_sample_binary(logit, next(self.parts))


def loop_seconds_per_sample(model, est, n: int = 300, repeats: int = 3) -> float:
    """The per-sample loop: uniforms for one sample, the plug-in layer on each draw, one backward pass
    (the best of ``repeats`` runs of ``n`` samples)."""
    g = torch.Generator().manual_seed(0)
    sizes = [est.num_uniforms(d.shape) for d in model.draws]
    params = {k: v.clone().requires_grad_() for k, v in model.param_values().items()}
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            draw = PlugIn(est, [torch.rand(s, generator=g, dtype=model.dtype) for s in sizes])
            loss = model.forward_fn(params, draw).sum()
            torch.autograd.grad(loss, list(params.values()))
        best = min(best, (time.perf_counter() - t0) / n)
    return best


def vectorised_seconds(model, est, n: int = 10_000, repeats: int = 3) -> float:
    """``sample_gradients`` of ``n`` samples, the best of ``repeats`` runs."""
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        gl.sample_gradients(model, est, n, seed=0)
        best = min(best, time.perf_counter() - t0)
    return best


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
        ("sbn_categorical", torch.float64),
        ("sbn_categorical", torch.float32),
        ("hvae", torch.float64),
        ("hvae", torch.float32),
    ):
        model = make(name, dtype)
        est = gl.estimator("zgr")
        gl.sample_gradients(model, est, 200, seed=1)  # warm-up
        vec = vectorised_seconds(model, est)
        loop = loop_seconds_per_sample(model, est) * 10_000
        measure_memory = dtype == torch.float64 and name != "sbn_categorical"
        mem = {n: peak_mb(name, n) for n in (2_000, 20_000)} if measure_memory else None
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
