"""The same workloads at two commits of gradlab, each in a fresh process (issue 14: the restructuring must not make
the sampler, the gradient gap or the multi-layer path slower). Workloads use only the public API both commits share.

Run: python benchmarks/bench_before_after.py OLD_CHECKOUT [NEW_CHECKOUT] (default NEW: this checkout); prints a
markdown table, best of 3 runs per workload, the two commits alternated so that load drifts hit both alike.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, sys, time, torch, gradlab as gl
from gradlab.problems.build import build_problem
name = sys.argv[1]
torch.manual_seed(0)
if name.startswith("single"):
    prob = build_problem({"kind": "single", "num_classes": 16, "dtype": "float32"})
    est = {"single zgr": gl.estimator("zgr"), "single gr_mc": gl.estimator("gr_mc", t=0.1, m=10),
           "single reinforce": gl.estimator("reinforce", m=4)}[name]
    work = lambda: gl.sample_gradients(prob, est, 100_000, seed=0)
elif name == "gap gs_st":
    prob = build_problem({"kind": "single", "num_classes": 16, "dtype": "float32"})
    work = lambda: gl.analysis.gradient_gap(prob, gl.estimator("gs_st", t=0.5), 100_000, seed=0)
elif name == "sbn zgr":
    prob = gl.problems.SigmoidBeliefNet(hidden=(32, 32), batch_size=20)
    work = lambda: gl.sample_gradients(prob, gl.estimator("zgr"), 2_000, seed=0)
elif name == "sbn reinforce":
    prob = gl.problems.SigmoidBeliefNet(hidden=(32, 32), batch_size=20)
    work = lambda: gl.sample_gradients(prob, gl.estimator("reinforce", m=4), 2_000, seed=0)
elif name == "hvae zgr":
    prob = gl.problems.HierarchicalVAE(num_vars=4, num_classes=4, batch_size=20)
    work = lambda: gl.sample_gradients(prob, gl.estimator("zgr"), 2_000, seed=0)
work()  # warm-up (torch.func set-up)
t = time.perf_counter(); work(); print(json.dumps(time.perf_counter() - t))
"""

WORK = ["single zgr", "single gr_mc", "single reinforce", "gap gs_st", "sbn zgr", "sbn reinforce", "hvae zgr"]


def run(checkout: Path, name: str) -> float:
    env = {"PYTHONPATH": str(checkout), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", CHILD, name], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def commit(checkout: Path) -> str:
    return subprocess.run(
        ["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()


def main() -> None:
    old = Path(sys.argv[1]).resolve()
    new = Path(sys.argv[2] if len(sys.argv) > 2 else Path(__file__).resolve().parents[1]).resolve()
    print(f"| workload | {commit(old)} [s] | {commit(new)} [s] | new / old |")
    print("|---|---:|---:|---:|")
    for name in WORK:
        best = {old: float("inf"), new: float("inf")}
        for _ in range(3):
            for c in (old, new):
                best[c] = min(best[c], run(c, name))
        print(f"| {name} | {best[old]:.3f} | {best[new]:.3f} | {best[new] / best[old]:.2f} |", flush=True)


if __name__ == "__main__":
    main()
