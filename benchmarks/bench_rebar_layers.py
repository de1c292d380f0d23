"""REBAR and RELAX on a multi-layer model (issue 13): the vectorised sampler (``torch.func.vmap`` over samples of
the per-draw construction, ``gradlab.estimators.multilayer.RELAXED_LATER``) against the per-sample loop a
user would write (the same surrogate, one backward pass per sample), beside ZGR, REINFORCE and DisARM on the same
model, and the cost of RELAX's training-time step (one Adam step of its networks per training step).

Model: SigmoidBeliefNet(hidden=(32, 32)), 20 digits, float64. The vectorised sampler runs 2,000 samples after a
warm-up, the loop 100 (extrapolated to 2,000); best of 3 runs each.

Run: python benchmarks/bench_rebar_layers.py
"""

from __future__ import annotations

import os
import time

import torch

import gradlab as gl


def best(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    model = gl.problems.SigmoidBeliefNet(hidden=(32, 32), batch_size=20, batch_seed=0)
    n, n_loop = 2000, 100
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load {os.getloadavg()[0]:.2f}")
    print("| estimator | vectorised, ms per sample | loop, ms per sample | speed-up |")
    print("|---|---:|---:|---:|")
    for est in [
        gl.estimator("zgr"),
        gl.estimator("reinforce", m=1, baseline="none"),
        gl.estimator("disarm"),
        gl.estimator("rebar"),
        gl.estimator("relax", steps=0),
    ]:
        gl.sample_gradients(model, est, 50, seed=0)  # warm-up
        vec = best(lambda est=est: gl.sample_gradients(model, est, n, seed=0)) / n
        loop = "" if est.pathwise else f"{1e3 * best(lambda est=est: loop_gradients(model, est, n_loop)) / n_loop:.2f}"
        ratio = "" if not loop else f"{float(loop) / (1e3 * vec):.1f}x"
        print(f"| {est.label} | {1e3 * vec:.2f} | {loop} | {ratio} |")
    est = gl.estimator("relax")
    u = torch.rand(model.uniforms_per_sample(est), generator=torch.Generator().manual_seed(0), dtype=model.dtype)
    params = model.param_values()
    step = best(lambda: model.control_variate_step(est, params, u))
    print(f"RELAX's online step (one Adam step of its networks at one sample): {1e3 * step:.1f} ms")


def loop_gradients(model, est, n: int) -> None:
    """One surrogate and one backward pass per sample (what a user without vmap would write)."""
    sizes = model.uniforms_per_draw(est)
    surrogate = model._surrogate_of(est)
    g = torch.Generator().manual_seed(1)
    for _ in range(n):
        u = torch.rand(sum(sizes), generator=g, dtype=model.dtype)
        params = {k: v.clone().requires_grad_() for k, v in model.param_values().items()}
        out = surrogate(est, params, torch.split(u, sizes))
        torch.autograd.grad(out, list(params.values()))


if __name__ == "__main__":
    main()
