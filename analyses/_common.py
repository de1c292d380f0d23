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


def final_table(ds, metric: str, rows: str = "estimator", cols: str | None = None, digits: int = 2) -> str:
    """A markdown table of the last epoch's ``metric``: mean over seeds +- (max - min) / 2 (the papers' notation);
    ``cols``: a dimension of ``ds`` for the columns (e.g. the split of latent bits)."""
    last = ds[metric].isel(epoch=-1)
    mean, half = last.mean("seed"), (last.max("seed") - last.min("seed")) / 2
    col_values = [None] if cols is None else list(ds[cols].values)
    head = "| " + rows + " | " + " | ".join(metric if c is None else str(c) for c in col_values) + " |"
    lines = [head, "|---|" + "---:|" * len(col_values)]
    for r in ds[rows].values:
        cells = []
        for c in col_values:
            sel = {rows: r} if c is None else {rows: r, cols: c}
            cells.append(f"{float(mean.sel(sel)):.{digits}f} ± {float(half.sel(sel)):.{digits}f}")
        lines.append(f"| {r} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def study_args(description: str):
    """The common command line of the training-study scripts: --quick, --seeds, --epochs, --n-jobs."""
    import argparse

    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--quick", action="store_true", help="one seed and a few epochs (a smoke run)")
    ap.add_argument("--seeds", type=int, default=None, help="number of seeds (default 3; quick 1)")
    ap.add_argument("--epochs", type=int, default=None, help="training epochs (default per script)")
    ap.add_argument("--n-jobs", type=int, default=2, help="parallel training runs (default 2)")
    ap.add_argument("--dataset", default=None, help="digits (default), mnist, fashion_mnist, omniglot")
    ap.add_argument("--data-path", default=None, help="the data set's files (for all but the embedded digits)")
    ap.add_argument("--backend", default="loky", help="loky (default) or dask (a dask.distributed cluster)")
    ap.add_argument("--scheduler", default=None, help="with --backend dask: the scheduler's address (tcp://...)")
    return ap


def tagged(stem: str, args) -> str:
    """Output name of a study script: ``stem``, or ``stem_quick`` for a ``--quick`` smoke run (so a smoke run
    never overwrites the figures the README shows)."""
    return f"{stem}_quick" if getattr(args, "quick", False) else stem


def study_settings(args) -> tuple[dict, dict]:
    """``(problem settings, training_study settings)`` from :func:`study_args`'s options: the data set (real
    data sets by path, e.g. ``--dataset mnist --data-path ~/data/mnist``) and where the runs go."""
    data = {k: v for k, v in (("dataset", args.dataset), ("data_path", args.data_path)) if v}
    return data, {"n_jobs": args.n_jobs, "backend": args.backend, "scheduler": args.scheduler}
