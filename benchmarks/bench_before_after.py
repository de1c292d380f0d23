"""The same workloads at two commits of gradlab, each in a fresh process: their time and a digest of their numbers
(issue 14: a restructuring must not make the sampler, the gradient gap or the multi-layer path slower; issue 24: it
must not change a single number). Workloads use only the public API both commits share: the sampler (single-layer
and multi-layer problems, every kind of multi-layer strategy: plug-in, whole trace, later draws resampled, later
draws relaxed, RELAX fitted first), the exact engine (single-layer, joint and per-element enumeration), training
(``gl.train``, its parameters and history) and a sweep (the gathered netCDF's numbers).

Run: python benchmarks/bench_before_after.py OLD_CHECKOUT [NEW_CHECKOUT] (default NEW: this checkout); prints a
markdown table, best of 3 runs per workload (``--runs N``), the two commits alternated so that load drifts hit both
alike, and whether the digests (sha256 of every number's bytes) are identical; exits 1 if any differs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import hashlib, json, sys, tempfile, time, numpy as np, torch, gradlab as gl
from gradlab.problems.build import build_problem
name = sys.argv[1]
torch.manual_seed(0)
single = lambda: build_problem({"kind": "single", "num_classes": 16, "dtype": "float32"})
sbn = lambda: gl.problems.SigmoidBeliefNet(hidden=(32, 32), batch_size=20)
hvae = lambda: gl.problems.HierarchicalVAE(num_vars=4, num_classes=4, batch_size=20)
def stats(s):
    return [s.mean, s.var] if hasattr(s, "var") else [s.mean, s.variance]
def sweep():
    out = tempfile.mkdtemp() + "/s.nc"
    from gradlab.sweep import run_sweep

    ds = run_sweep({"name": "s", "out": out, "problem": {"kind": "single", "num_classes": [2, 4]},
        "sampling": {"n": 2000, "seeds": [0, 1], "bootstrap": 20},
        "estimators": [{"name": "gs_st", "t": [0.5, 1.0]}, {"name": "zgr"}, {"name": "reinforce", "m": 2}]},
        progress=False)
    return [ds[v].values for v in sorted(ds.data_vars) if not v.startswith("seconds")]
def train(problem, est):
    r = gl.train(problem, est, epochs=2, batch_size=20, seed=0, evaluate=True)
    hist = [[v for k, v in sorted(h.items()) if isinstance(v, float) and k != "seconds"] for h in r.history]
    return [*r.params.values(), np.array(hist)]
def gap():
    g = gl.analysis.gradient_gap(single(), gl.estimator("gs_st", t=0.5), 100_000, seed=0)
    items = vars(g).items() if hasattr(g, "__dict__") else g.items()
    return [v for k, v in sorted(items) if isinstance(v, (torch.Tensor, float))]
def vae_loop(binarize, est):
    data = gl.problems.load_dataset("digits", binarize=binarize)
    r = gl.training.train_vae(data, est, num_vars=2, num_classes=4, epochs=2, seed=0, progress=False)
    return [*r.params.values(), np.array([h.get("train_loss", h.get("train_neg_elbo")) for h in r.history])]
quantized = lambda: build_problem({"kind": "quantized", "hidden": [16, 16], "batch_size": 20, "dtype": "float32"})
vae_model = lambda: build_problem({"kind": "vae", "num_vars": 2, "num_classes": 4}).training_model()
sample = lambda p, e, n: lambda: stats(gl.sample_gradients(p, gl.estimator(*e[:1], **e[1]), n, seed=0))
WORK = {
    "single zgr": sample(single(), ("zgr", {}), 100_000),
    "single gr_mc": sample(single(), ("gr_mc", {"t": 0.1, "m": 10}), 100_000),
    "single reinforce": sample(single(), ("reinforce", {"m": 4}), 100_000),
    "single relax": sample(build_problem({"kind": "single", "num_classes": 4}), ("relax", {}), 2_000),
    "gap gs_st": lambda: gap(),
    "sbn zgr": sample(sbn(), ("zgr", {}), 2_000),
    "sbn reinforce": sample(sbn(), ("reinforce", {"m": 4}), 2_000),
    "sbn disarm": sample(sbn(), ("disarm", {}), 1_000),
    "sbn rebar": sample(sbn(), ("rebar", {}), 500),
    "sbn relax": sample(gl.problems.SigmoidBeliefNet(hidden=(8,), batch_size=4), ("relax", {}), 200),
    "hvae zgr": sample(hvae(), ("zgr", {}), 2_000),
    "exact single": lambda: [gl.exact_gradient(build_problem({"kind": "multi", "num_vars": 8, "num_classes": 4}))],
    "exact hvae": lambda: [gl.exact_gradient(gl.problems.HierarchicalVAE(num_vars=2, num_classes=4, batch_size=20))],
    "exact vae": lambda: [gl.exact_gradient(build_problem({"kind": "vae", "num_vars": 3, "num_classes": 8}))],
    "train sbn st": lambda: train(sbn(), gl.estimator("st")),
    "train hvae reinforce": lambda: train(hvae(), gl.estimator("reinforce", m=2)),
    "train sbn gs": lambda: train(sbn(), gl.estimator("gs", t=0.5)),
    "train quantized st": lambda: train(quantized(), gl.estimator("st")),
    "quantized reinforce": sample(quantized(), ("reinforce", {"m": 4}), 2000),
    "train sbn ema": lambda: train(sbn(), gl.estimator("reinforce", m=1, baseline="ema")),
    "sweep": sweep,
    "train_vae rf4": lambda: vae_loop("static", gl.estimator("reinforce", m=4)),
    "train_vae dynamic zgr": lambda: vae_loop("dynamic", gl.estimator("zgr")),
    "train vae gr_mc": lambda: train(vae_model(), gl.estimator("gr_mc", t=0.5, m=4)),
}
work = WORK[name]
work()  # warm-up (torch.func set-up)
t = time.perf_counter(); out = work(); dt = time.perf_counter() - t
h = hashlib.sha256()
for a in out:
    a = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    h.update(str(a.dtype).encode() + str(a.shape).encode() + np.ascontiguousarray(a).tobytes())
print(json.dumps([dt, h.hexdigest()]))
"""

WORK = [
    "single zgr",
    "single gr_mc",
    "single reinforce",
    "single relax",
    "gap gs_st",
    "sbn zgr",
    "sbn reinforce",
    "sbn disarm",
    "sbn rebar",
    "sbn relax",
    "hvae zgr",
    "exact single",
    "exact hvae",
    "exact vae",
    "train sbn st",
    "train hvae reinforce",
    "train sbn gs",
    "train quantized st",
    "quantized reinforce",
    "train sbn ema",
    "train_vae rf4",
    "train_vae dynamic zgr",
    "train vae gr_mc",
    "sweep",
]


def run(checkout: Path, name: str) -> tuple[float, str]:
    env = {"PYTHONPATH": str(checkout), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "2"}
    out = subprocess.run([sys.executable, "-c", CHILD, name], env=env, capture_output=True, text=True, cwd=checkout)
    if out.returncode:
        raise SystemExit(f"{name} at {checkout}: {out.stderr.strip().splitlines()[-1]}")
    seconds, digest = json.loads(out.stdout.strip().splitlines()[-1])
    return seconds, digest


def commit(checkout: Path) -> str:
    return subprocess.run(
        ["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("old")
    ap.add_argument("new", nargs="?", default=str(Path(__file__).resolve().parents[1]))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", nargs="*", default=None, help="workload names (default all)")
    args = ap.parse_args()
    old, new = Path(args.old).resolve(), Path(args.new).resolve()
    print(f"| workload | {commit(old)} [s] | {commit(new)} [s] | new / old | numbers |")
    print("|---|---:|---:|---:|---|")
    differ = []
    for name in args.only or WORK:
        best = {old: float("inf"), new: float("inf")}
        digest = {}
        for _ in range(args.runs):
            for c in (old, new):
                seconds, digest[c] = run(c, name)
                best[c] = min(best[c], seconds)
        same = "identical" if digest[old] == digest[new] else "DIFFER"
        if digest[old] != digest[new]:
            differ.append(name)
        print(f"| {name} | {best[old]:.3f} | {best[new]:.3f} | {best[new] / best[old]:.2f} | {same} |", flush=True)
    if differ:
        print(f"numbers differ: {', '.join(differ)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
