"""Per-element exact enumeration (issue 25): the cost is linear in the number of independent elements.

The two-layer model of ``tests/problems/test_enumeration.py`` (per element: 2 variables of 3 categories, then 2 of 3
whose logits are a linear map of the first layer's sample; 81 configurations per element, ``3^(4E)`` jointly),
float64, the exact gradient of every parameter, for E = 2 to 2,000 elements: seconds (best of 3 after a warm-up),
element-configurations per second, and the chunk the engine chose at the default memory budget.

Run: python benchmarks/bench_per_element.py
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gradlab as gl  # noqa: E402
from gradlab.measure.exact import chunk_size_for  # noqa: E402
from tests.problems.test_enumeration import two_layer  # noqa: E402


def main() -> None:
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
    gl.exact_gradient(two_layer(2))  # warm-up (torch.func's set-up)
    for e in (2, 20, 200, 2000):
        model = two_layer(e)
        gl.exact_gradient(model)
        best = math.inf
        for _ in range(3):
            t0 = time.perf_counter()
            gl.exact_gradient(model)
            best = min(best, time.perf_counter() - t0)
        print(
            json.dumps(
                {
                    "elements": e,
                    "configurations_per_element": model.num_configurations(),
                    "chunk": chunk_size_for(model),
                    "seconds": round(best, 4),
                    "element_configurations_per_s": round(e * model.num_configurations() / best),
                }
            )
        )


if __name__ == "__main__":
    main()
