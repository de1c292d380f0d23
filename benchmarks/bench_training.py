"""Training throughput per estimator (issue 11): images per second of ``gl.train`` on the categorical VAE
(C8 V4, the 512-256 MLPs) and on the quantized network (QuantizedNetwork(hidden=(64, 64)), ternary), batch 50,
float32, and the overhead over plain softmax training (the same loop with ``softmax(logits)`` in place of every
draw: no noise, no discrete sample; the floor any estimator pays).

Each case trains 3 epochs (99 updates of 50 of the 1,617 digits; evaluation off) after a 1-epoch warm-up, the best
of 2 runs.

Run: python benchmarks/bench_training.py
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import ClassVar

import torch

import gradlab as gl


@dataclasses.dataclass(frozen=True)
class SoftmaxOnly(gl.PathwiseEstimator):
    """Not an estimator of the discrete objective: the deterministic network with softmax(logits) as the
    'sample' (the cost floor of training)."""

    name: ClassVar[str] = "softmax_only"
    summary: ClassVar[str] = "softmax(logits) in place of a sample (benchmark floor)"

    def _plugin_sample(self, logits, gumbel):
        return torch.softmax(logits, -1)


MODELS = {
    "vae C8 V4": {"kind": "vae", "num_vars": 4, "num_classes": 8, "dtype": "float32"},
    "quantized T/T (64, 64)": {"kind": "quantized", "hidden": [64, 64], "dtype": "float32"},
}
ESTIMATORS = [
    SoftmaxOnly(),
    gl.estimator("st"),
    gl.estimator("zgr"),
    gl.estimator("gs", t=1.0),
    gl.estimator("gs_st", t=1.0),
    gl.estimator("reinmax"),
    gl.estimator("gr_mc", t=0.1, m=10),
    gl.estimator("reinforce", m=2),
    gl.estimator("reinforce", m=4),
]


def images_per_second(problem, est, epochs: int = 3, repeats: int = 2) -> float:
    gl.train(problem, est, epochs=1, evaluate=False)  # warm-up
    n = problem.training_model().split("train")[0].shape[0] if hasattr(problem, "training_model") else None
    n = n or problem.split("train")[0].shape[0]
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        gl.train(problem, est, epochs=epochs, evaluate=False)
        best = min(best, time.perf_counter() - t0)
    return epochs * n / best


def main() -> None:
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.2f}")
    for model, cfg in MODELS.items():
        problem = gl.problems.build_problem(cfg)
        floor = None
        for est in ESTIMATORS:
            rate = images_per_second(problem, est)
            floor = floor or rate
            print(
                json.dumps(
                    {
                        "model": model,
                        "estimator": est.label,
                        "images_per_s": round(rate),
                        "overhead": round(floor / rate, 2),
                    }
                )
            )


if __name__ == "__main__":
    main()
