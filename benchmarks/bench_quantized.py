"""The quantized network's elementwise work on the CPU: two kernels against the alternative, then end to end.

1. ``gradlab.core.softmax.log_softmax`` and ``softmax`` against ``torch.log_softmax`` and ``torch.softmax`` over a
   short last axis (K = 2, 3, 4), forward and backward, on 3 x 10^6 logits.
2. The compact quantizer ``quantization_log_probs`` (triangular noise) with its own backward against autograd
   through the same formula (``_compact_log_probs``), forward and backward, on 10^6 inputs x K levels.
3. End to end: per-sample gradients of layer 0 of App. B.6's network (8C5-MP2-16C5-MP2-128FC-10FC, ternary, 20
   mnist5k images: Fig. 4 right at ``mnist5k-paper``) for RF(4), ZGR and ST, milliseconds per sample. Run it with
   ``PYTHONPATH`` at an older checkout to compare (``--end-to-end`` runs only this part).
4. ``--study-costs`` (only this part): what the two quantized studies cost at ``mnist5k-paper``: seconds per
   layer-0 sample of every setting of Fig. 4 right (and the hours for its 2 x 10^4 reference and 2,000 samples
   per setting at 4 epochs), seconds per training step (batch 50, every parameter) of every Table 3 estimator on
   the paper's 32C5-MP2-64C5-MP2-512FC network (and the hours for 108 runs of 450 steps).

Run: python benchmarks/bench_quantized.py [--threads 1] [--end-to-end | --study-costs]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

import torch


def best_ms(fn, repeats: int = 5) -> float:
    fn()
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1000


def kernels() -> dict:
    from gradlab.core import distributions as D
    from gradlab.core.softmax import log_softmax, softmax

    g = torch.Generator().manual_seed(0)
    out = {}
    for k in (2, 3, 4):
        x = torch.randn(3_000_000 // k, k, generator=g).requires_grad_()
        up = torch.randn(x.shape, generator=g)
        ours = best_ms(lambda x=x, up=up: torch.autograd.grad(log_softmax(x), x, up))
        plain = best_ms(lambda x=x, up=up: torch.autograd.grad(torch.log_softmax(x, -1), x, up))
        out[f"log_softmax K={k}"] = {"gradlab_ms": round(ours, 1), "torch_ms": round(plain, 1)}
        ours = best_ms(lambda x=x, up=up: torch.autograd.grad(softmax(x), x, up))
        plain = best_ms(lambda x=x, up=up: torch.autograd.grad(torch.softmax(x, -1), x, up))
        out[f"softmax K={k}"] = {"gradlab_ms": round(ours, 1), "torch_ms": round(plain, 1)}
    for k in (3, 16):
        eta = (torch.rand(1_000_000, generator=g) * k - 0.5).requires_grad_()
        up = torch.randn(1_000_000, k, generator=g)
        lv = D.quantization_levels(k, dtype=eta.dtype)
        inf = torch.tensor([math.inf])
        mids = 0.5 * (lv[1:] + lv[:-1])
        lower, upper = torch.cat([-inf, mids]), torch.cat([mids, inf])
        s = D.default_noise_std("triangular")

        def ours(eta=eta, up=up, k=k):
            lp = D.quantization_log_probs(eta, k, "triangular")
            return torch.autograd.grad(lp, eta, torch.where(torch.isfinite(lp), up, 0))

        def plain(eta=eta, up=up, lower=lower, upper=upper, s=s):
            lp = D._compact_log_probs(eta, lower, upper, "triangular", s)
            return torch.autograd.grad(lp, eta, torch.where(torch.isfinite(lp), up, 0))

        out[f"quantizer K={k}"] = {"gradlab_ms": round(best_ms(ours), 1), "autograd_ms": round(best_ms(plain), 1)}
    return out


def end_to_end(n: int = 40) -> dict:
    import gradlab as gl

    prob = gl.problems.build_problem(
        {"kind": "quantized", "dataset": "mnist5k", "conv": [8, 16], "hidden": [128], "batch_size": 20}
    )
    out = {}
    for name, hp in (("reinforce", {"m": 4}), ("zgr", {}), ("st", {"t": 1.0})):
        est = gl.estimator(name, **hp)
        gl.sample_gradients(prob, est, 8, seed=0, wrt="layer0")
        best = min(
            (lambda t0: (gl.sample_gradients(prob, est, n, seed=0, wrt="layer0"), time.perf_counter() - t0)[1])(
                time.perf_counter()
            )
            for _ in range(2)
        )
        out[est.label] = {"ms_per_sample": round(best / n * 1000, 1)}
    return out


def seconds_per_call(prob, est, n: int, **kw) -> float:
    import gradlab as gl

    gl.sample_gradients(prob, est, max(1, n // 4), seed=0, **kw)  # warm-up
    t0 = time.perf_counter()
    gl.sample_gradients(prob, est, n, seed=1, **kw)
    return (time.perf_counter() - t0) / n


def study_costs() -> dict:
    import gradlab as gl

    build = gl.problems.build_problem
    small = build({"kind": "quantized", "dataset": "mnist5k", "conv": [8, 16], "hidden": [128], "batch_size": 20})
    fig4 = [("reinforce", {"m": 4})]
    fig4 += [("st", {"t": t}) for t in (1.0, 2.0, 4.0, 8.0)]
    fig4 += [("st_zgr", {"t": 1.0, "alpha": a}) for a in (0.25, 0.5, 0.75)] + [("zgr", {})]
    fig4 += [("gs_st", {"t": t}) for t in (0.1, 0.3, 0.5, 1.0, 2.0)] + [
        ("gr_mc", {"t": t, "m": 10}) for t in (0.1, 0.5)
    ]
    fig4 += [("reinforce", {"m": 2})]
    per_sample = {}
    for name, hp in fig4:
        est = gl.estimator(name, **hp)
        per_sample[est.label] = seconds_per_call(small, est, 4 if name == "gr_mc" else 16, wrt="layer0")
    epoch = 20000 * per_sample["reinforce(m=4)"] + 2000 * sum(per_sample.values())
    paper = build({"kind": "quantized", "dataset": "mnist5k", "conv": [32, 64], "hidden": [512], "batch_size": 50})
    table3 = [("gs_st", {"t": t}) for t in (2.0, 1.0, 0.5)] + [("gr_mc", {"t": t, "m": 10}) for t in (0.5, 0.1)]
    table3 += [("zgr", {}), ("st", {"t": 1.0}), ("reinforce", {"m": 2}), ("reinforce", {"m": 4})]
    per_step = {}
    for name, hp in table3:
        est = gl.estimator(name, **hp)
        per_step[est.label] = seconds_per_call(paper, est, 1)
    steps, widths_seeds = 5 * 90, 4 * 3
    return {
        "fig4_s_per_sample": {k: round(v, 4) for k, v in per_sample.items()},
        "fig4_s_per_epoch": round(epoch),
        "fig4_h_4_epochs": round(4 * epoch / 3600, 1),
        "table3_s_per_step": {k: round(v, 2) for k, v in per_step.items()},
        "table3_h_per_width_and_seed": round(steps * sum(per_step.values()) / 3600, 1),
        "table3_h_108_runs": round(widths_seeds * steps * sum(per_step.values()) / 3600),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--end-to-end", action="store_true", help="only the end-to-end part")
    ap.add_argument("--study-costs", action="store_true", help="only the two quantized studies' costs")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(json.dumps({"threads": args.threads, "load_average": os.getloadavg()[0], "torch": torch.__version__}))
    if args.study_costs:
        print(json.dumps(study_costs(), indent=1))
        return
    if not args.end_to_end:
        print(json.dumps(kernels(), indent=1))
    print(json.dumps(end_to_end(), indent=1))


if __name__ == "__main__":
    main()
