"""Speed at the papers' scale on mnist5k (issue 23), in one run:

1. Training throughput (images per second) of ``gl.train`` on the ZGR paper's VAE (784-512-256, 192 latent bits as
   C16 V48, bit embedding, batch 50, Adam, float32) for each estimator, against the loop a user would write in
   plain PyTorch with ``torch.nn.functional.gumbel_softmax(hard=True)`` (ST-GS), the same network and the same
   loss (Bernoulli likelihood plus the analytic KL). Target: the ST-like estimators at least as fast as the plain
   loop; none slower than it by more than its extra work (GR-MC's m conditional draws, RF's m loss evaluations).
2. The sampler on the paper-size VAE (C16 V16, 200 images, every parameter's gradient, float32) as a fraction of the
   matmul rate measured in the same run (the decoder's work per sample counted in multiply-adds): target 80 %.

Each timing is the best of ``--repeats`` after a warm-up. ``--device cuda`` runs on a GPU.
Run: python benchmarks/bench_mnist5k.py [--epochs 2] [--repeats 2] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time

import torch
import torch.nn.functional as F

import gradlab as gl

ESTIMATORS = [
    ("gs_st", {"t": 1.0}, 1),
    ("st", {}, 1),
    ("zgr", {}, 1),
    ("reinmax", {"t": 1.0}, 1),
    ("gs", {"t": 1.0}, 1),
    ("gr_mc", {"t": 0.1, "m": 10}, 10),  # extra work: m conditional draws in the backward
    ("reinforce", {"m": 2}, 2),  # extra work: m loss evaluations
    ("reinforce", {"m": 4}, 4),
]


def plain_loop_rate(x: torch.Tensor, v: int, k: int, epochs: int, device) -> float:
    """Images per second of the loop a PyTorch user writes: nn.Sequential networks, F.gumbel_softmax(hard=True)."""
    bits = k.bit_length() - 1
    codes = gl.distributions.bit_codes(k, torch.float32, device)

    def mlp(widths):
        layers = []
        for i in range(len(widths) - 1):
            layers.append(torch.nn.Linear(widths[i], widths[i + 1]))
            if i < len(widths) - 2:
                layers.append(torch.nn.LeakyReLU(0.2))
        return torch.nn.Sequential(*layers)

    torch.manual_seed(0)  # (a user's loop; gradlab itself never touches the global generator)
    enc, dec = mlp([784, 512, 256, v * k]).to(device), mlp([v * bits, 256, 512, 784]).to(device)
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=1e-3)
    n = x.shape[0]
    t0 = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(n, device=device)
        for i in range(0, n, 50):
            batch = x[perm[i : i + 50]]
            logits = enc(batch).view(-1, v, k)
            z = F.gumbel_softmax(logits, tau=1.0, hard=True)
            out = dec((z @ codes).flatten(1))
            nll = F.binary_cross_entropy_with_logits(out, batch, reduction="none").sum(-1)
            logq = torch.log_softmax(logits, -1)
            kl = (logq.exp() * (logq + math.log(k))).sum((-1, -2))
            loss = (nll + kl).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return epochs * n / (time.perf_counter() - t0)


def gradlab_rate(problem, est, epochs: int) -> float:
    t0 = time.perf_counter()
    gl.train(problem, est, epochs=epochs, batch_size=50, lr=1e-3, evaluate=False)
    if problem.device.type == "cuda":
        torch.cuda.synchronize()
    return epochs * problem.split("train")[0].shape[0] / (time.perf_counter() - t0)


def matmul_rate(device, size: int = 1024, dtype=torch.float32) -> float:
    """Multiply-adds per second of a square matmul on this machine, now."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    a @ b
    best = math.inf
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(10):
            a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, (time.perf_counter() - t0) / 10)
    return size**3 / best


def sampler_fraction(device, repeats: int) -> dict:
    """The sampler's multiply-adds per second on the C16 V16 VAE over the matmul rate: per sample and image the
    decoder's forward and backward (3 x its forward's multiply-adds) and the encoder's backward (2 x: the gradient
    of every parameter is per sample); the encoder's forward once per chunk (it does not depend on the sample)."""
    prob = gl.problems.build_problem(
        {
            "kind": "vae",
            "dataset": "mnist5k",
            "num_vars": 16,
            "num_classes": 16,
            "batch_size": 200,
            "dtype": "float32",
            "device": str(device),
        }
    )
    widths = prob.arch.widths("decoder")
    per_image = sum(widths[i] * widths[i + 1] for i in range(len(widths) - 1))
    enc = prob.arch.widths("encoder")
    per_image_enc = sum(enc[i] * enc[i + 1] for i in range(len(enc) - 1))
    est, n = gl.estimator("zgr"), 400
    gl.sample_gradients(prob, est, 50, seed=0, device=device)  # warm-up
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        gl.sample_gradients(prob, est, n, seed=0, device=device)
        best = min(best, time.perf_counter() - t0)
    macs = n * 200 * (3 * per_image + 2 * per_image_enc) + 200 * per_image_enc  # encoder forward: once per chunk
    rate = matmul_rate(device)
    return {
        "samples_per_s": round(n / best, 1),
        "macs_per_s": macs / best,
        "matmul_macs_per_s": rate,
        "fraction": round(macs / best / rate, 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    device = torch.device(args.device)
    print(
        json.dumps(
            {
                "machine": platform.processor() or platform.machine(),
                "cores": os.cpu_count(),
                "threads": torch.get_num_threads(),
                "torch": torch.__version__,
                "device": str(device),
                "load_average_at_start": round(os.getloadavg()[0], 2),
            }
        )
    )
    v, k = 48, 16
    problem = gl.problems.build_problem(
        {
            "kind": "vae",
            "dataset": "mnist5k",
            "num_vars": v,
            "num_classes": k,
            "dtype": "float32",
            "device": str(device),
        }
    ).training_model()
    x = problem.split("train")[0].to(device=device, dtype=torch.float32)
    plain_loop_rate(x, v, k, 1, device)  # warm-up
    plain = max(plain_loop_rate(x, v, k, args.epochs, device) for _ in range(args.repeats))
    print(json.dumps({"loop": "plain PyTorch, F.gumbel_softmax(hard=True)", "images_per_s": round(plain)}))
    for name, hp, work in ESTIMATORS:
        est = gl.estimator(name, **hp)
        gl.train(problem, est, epochs=1, batch_size=50, evaluate=False)  # warm-up
        rate = max(gradlab_rate(problem, est, args.epochs) for _ in range(args.repeats))
        slowdown = plain / rate
        print(
            json.dumps(
                {
                    "estimator": est.label,
                    "images_per_s": round(rate),
                    "plain_over_gradlab": round(slowdown, 2),
                    "extra_work": work,
                    "within_target": bool(slowdown <= max(1.0, work) * 1.0),
                }
            )
        )
    print(json.dumps({"sampler C16 V16, 200 images": sampler_fraction(device, args.repeats)}))


if __name__ == "__main__":
    main()
