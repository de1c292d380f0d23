"""Shared helpers of the analysis scripts (run from the repository root: python analyses/<script>.py)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "figures"
RESULTS = ROOT / "results"


def ensure_snapshot(
    name: str, *, epochs: int, embedding: str = "bits", num_vars: int = 4, num_classes: int = 8
) -> Path:
    """An RF(4) snapshot of a categorical VAE on the embedded digits (trained once, then reused)."""
    import gradlab as gl
    from gradlab.training import snapshot_paths, train_vae

    directory = RESULTS / "snapshots" / name
    pt, js = snapshot_paths(directory, epochs)
    if not (pt.is_file() and js.is_file()):
        train_vae(
            gl.problems.digits(),
            gl.estimator("reinforce", m=4),
            num_vars=num_vars,
            num_classes=num_classes,
            embedding=embedding,
            epochs=epochs,
            snapshot_epochs=[epochs],
            out_dir=directory,
        )
    return pt


def layered_pareto(kind: str, problem: dict, stem: str, title: str, exact: bool, n: int = 1000) -> None:
    """Every estimator family on a multi-layer model: a sweep against RF(4) reference samples (10^4, the
    ZGR paper's reference) or, with ``exact``, against exact gradients; then the Pareto figure and the three
    frontiers. Decoupled ST is left out (with tau_f != 1 it estimates another target)."""
    import numpy as np

    import gradlab as gl
    from gradlab import names as N
    from gradlab.plots import plot_pareto, save_figure
    from gradlab.run import estimator_families
    from gradlab.sweep import run_sweep

    tag = f"{stem}_exact" if exact else stem
    reference = {"kind": "exact"} if exact else {"kind": "estimator", "name": "reinforce", "m": 4, "n": 10_000}
    ds = run_sweep(
        {
            "name": tag,
            "out": str(RESULTS / f"{tag}.nc"),
            "problem": {"kind": kind, **problem},
            "reference": reference,
            "sampling": {"n": n, "bootstrap": 100},
            "estimators": estimator_families(n=n, decoupled=False),
        }
    )
    sub = gl.results.one_seed(ds)
    sub = sub.isel({N.ESTIMATOR: np.flatnonzero(np.isfinite(sub[N.BIAS2].values))})
    what = "exact gradients" if exact else "10^4 RF(4) samples"
    print(save_figure(plot_pareto(sub, f"{title}, against {what}"), FIGURES / f"{tag}_pareto.png"))
    for method in ("upper", "confident", "plain"):
        front = gl.analysis.pareto_mask(sub, method=method)
        print(f"Pareto frontier ({method}):", ", ".join(sub[N.ESTIMATOR].values[front.values]))
