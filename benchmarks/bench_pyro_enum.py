"""The exact expectation and its gradient on the hierarchical VAE (2 layers of 4 variables x 4 categories, bit
codes, 20 images: 65,536 configurations per image) by gradlab's per-element enumeration and by Pyro's
``TraceEnum_ELBO`` with guide-side parallel enumeration inside a plate over the images, in the same run, float64
(issue 25). Pyro is a benchmark-only peer (``pip install -e ".[bench]"``), never a dependency of the package.

Both compute the negative ELBO of ZGR eq. (87) exactly: gradlab enumerates each image's configurations for all 20
images at once (its entropy terms in closed form), Pyro sums over every guide configuration by tensor contraction
(the entropy as ``-E_q[log q]``). They must agree to 1e-10; the script prints both times, configurations per second
and the fraction of the matmul rate measured in the same run.

Run: python benchmarks/bench_pyro_enum.py [--images 20] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

import torch

import gradlab as gl

DT = torch.float64


def pyro_loss(hvae, params: dict, x: torch.Tensor):
    """Pyro's model and guide of the same HVAE; the negative ELBO summed over the images (TraceEnum_ELBO)."""
    import pyro
    import pyro.distributions as dist
    from pyro.infer import TraceEnum_ELBO

    v, k = hvae.num_vars, hvae.num_classes
    codes = hvae.codes  # (K, b)

    def embed(zs):
        parts = torch.broadcast_tensors(*[codes[z] for z in zs])  # each (..., B, b)
        return torch.cat(parts, -1)  # (..., B, V b)

    def model(x):
        with pyro.plate("images", x.shape[0]):
            z2 = [pyro.sample(f"z2_{i}", dist.Categorical(logits=torch.zeros(k, dtype=DT))) for i in range(v)]
            prior1 = (embed(z2) @ params["dec2_w"] + params["dec2_b"]).unflatten(-1, (v, k))
            z1 = [pyro.sample(f"z1_{i}", dist.Categorical(logits=prior1[..., i, :])) for i in range(v)]
            out = embed(z1) @ params["dec1_w"] + params["dec1_b"]
            pyro.sample("x", dist.Bernoulli(logits=out).to_event(1), obs=x)

    def guide(x):
        with pyro.plate("images", x.shape[0]):
            l1 = (x @ params["enc1_w"] + params["enc1_b"]).unflatten(-1, (v, k))
            enum = {"enumerate": "parallel"}
            z1 = [pyro.sample(f"z1_{i}", dist.Categorical(logits=l1[..., i, :]), infer=enum) for i in range(v)]
            l2 = (embed(z1) @ params["enc2_w"] + params["enc2_b"]).unflatten(-1, (v, k))
            for i in range(v):
                pyro.sample(f"z2_{i}", dist.Categorical(logits=l2[..., i, :]), infer=enum)

    pyro.clear_param_store()
    return TraceEnum_ELBO(max_plate_nesting=1).differentiable_loss(model, guide, x)


def matmul_rate(size: int = 1024) -> float:
    a, b = torch.randn(size, size, dtype=DT), torch.randn(size, size, dtype=DT)
    a @ b
    best = math.inf
    for _ in range(5):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return size**3 / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    print(
        json.dumps(
            {
                "cores": os.cpu_count(),
                "threads": torch.get_num_threads(),
                "torch": torch.__version__,
                "load_average_at_start": round(os.getloadavg()[0], 2),
            }
        )
    )
    hvae = gl.problems.HierarchicalVAE(num_vars=4, num_classes=4, batch_size=args.images)
    names = list(hvae.param_values())

    def gradlab_run():
        leaves = {k: v.clone().requires_grad_() for k, v in hvae.param_values().items()}
        value = gl.exact_expectation(hvae, leaves)
        return value, torch.autograd.grad(value, [leaves[k] for k in names])

    def pyro_run():
        leaves = {k: v.clone().requires_grad_() for k, v in hvae.param_values().items()}
        value = pyro_loss(hvae, leaves, hvae.x)
        return value, torch.autograd.grad(value, [leaves[k] for k in names])

    timings = {}
    values = {}
    for name, fn in (("gradlab", gradlab_run), ("pyro", pyro_run)):
        values[name] = fn()  # warm-up, and the numbers compared
        best = math.inf
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
        timings[name] = best
    (a, ga), (b, gb) = values["gradlab"], values["pyro"]
    value_gap = abs(float(a) - float(b)) / abs(float(b))
    grad_gap = max(float((x - y).abs().max() / y.abs().max()) for x, y in zip(ga, gb, strict=True))
    configs = hvae.num_configurations() * args.images
    # multiply-adds of one configuration for all images: the four linear maps of eq. (87)'s model and guide
    d, vk, bits = hvae.x.shape[1], 16, 8
    macs_per_config = args.images * (bits * vk * 2 + bits * d) * 3  # forward and backward; the encoder's x-map once
    rate = matmul_rate()
    for name, secs in timings.items():
        print(
            json.dumps(
                {
                    "engine": name,
                    "seconds": round(secs, 3),
                    "image_configurations_per_s": round(configs / secs),
                    "fraction_of_matmul_rate": round(macs_per_config * hvae.num_configurations() / secs / rate, 4),
                }
            )
        )
    print(
        json.dumps(
            {
                "negative_elbo": float(a),
                "relative_value_gap": value_gap,
                "relative_gradient_gap": grad_gap,
                "agree_to_1e-10": bool(value_gap < 1e-10 and grad_gap < 1e-10),
                "gradlab_over_pyro_time": round(timings["gradlab"] / timings["pyro"], 3),
            }
        )
    )


if __name__ == "__main__":
    main()
