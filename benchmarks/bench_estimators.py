"""Forward+backward time of every estimator on logits of shape (200, 16, 16) vs plain softmax.

Run: python benchmarks/bench_estimators.py [--repeats 50] [--device cpu] [--dtype float32]
Prints a markdown table (median of repeated runs, after warm-up) for BENCHMARKS.md, each estimator with the
validation of its logits' values on (the default) and off (``gl.set_validation(False)``): the cost of the check.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

import gradlab as gl

CASES = [
    ("st", {}),
    ("identity_st", {}),
    ("darn", {}),
    ("zgr", {}),
    ("st_zgr", {"t": 2.0, "alpha": 0.5}),
    ("reinmax", {}),
    ("gs", {"t": 0.5}),
    ("gs_st", {"t": 0.5}),
    ("decoupled_st", {"tau_f": 0.5, "tau_b": 2.0}),
    ("gr_mc", {"t": 0.1, "m": 1}),
    ("gr_mc", {"t": 0.1, "m": 10}),
    ("gr_mc", {"t": 0.1, "m": 100}),
    ("reinforce", {"m": 2}),
    ("reinforce", {"m": 4}),
]


def timeit(fn, repeats: int, device: torch.device) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = ap.parse_args()
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    shape = (200, 16, 16)
    g = torch.Generator(device=device).manual_seed(0)
    logits = torch.randn(shape, generator=g, dtype=dtype, device=device).requires_grad_()
    w = torch.randn(shape, generator=g, dtype=dtype, device=device)

    def loss(x):
        return (x * w).sum(dim=(-1, -2, -3))

    def softmax_fb():
        torch.autograd.grad((torch.softmax(logits, -1) * w).sum(), logits)

    base = timeit(softmax_fb, args.repeats, device)
    print(
        f"logits {shape} {args.dtype} on {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{platform.processor() or platform.machine()}; median of {args.repeats}"
    )
    print()
    print("| estimator | forward+backward [ms] | x plain softmax | validation off [ms] | cost of validation |")
    print("|---|---:|---:|---:|---:|")
    print(f"| softmax (reference) | {base * 1e3:.3f} | 1.00 | | |")
    for name, hp in CASES:
        est = gl.estimator(name, **hp)
        if est.pathwise:

            def run(est=est):
                torch.autograd.grad((est.sample(logits, generator=g) * w).sum(), logits)
        else:

            def run(est=est):
                torch.autograd.grad(est.estimate(logits, loss, generator=g), logits)

        t = timeit(run, args.repeats, device)
        gl.set_validation(False)
        try:
            t_off = timeit(run, args.repeats, device)
        finally:
            gl.set_validation(True)
        print(f"| {est.label} | {t * 1e3:.3f} | {t / base:.2f} | {t_off * 1e3:.3f} | {100 * (t / t_off - 1):+.0f} % |")


if __name__ == "__main__":
    main()
