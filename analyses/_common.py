"""Shared helpers of the analysis scripts (run from anywhere: python analyses/<script>.py). Every training study
is a shipped experiment (``gradlab study --list``) run by ``gradlab.study.run_study``, one way for the command and
the scripts; a script adds the tables and figures its paper shows."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "figures"
RESULTS = ROOT / "results"
HISTORIES = ROOT / "histories"  # committed training histories, one folder per scale (what `gradlab verify` reads)
SCALES = ("digits", "mnist5k-48", "mnist5k-paper", "paper", "paper-omniglot")


def ensure_snapshot(
    name: str, *, epochs: int, embedding: str = "bits", num_vars: int = 4, num_classes: int = 8
) -> Path:
    """An RF(4) snapshot of a categorical VAE on the embedded digits (trained once, then reused)."""
    from gradlab.training import rf4_snapshot

    return rf4_snapshot(
        RESULTS / "snapshots" / name, epochs, num_vars=num_vars, num_classes=num_classes, embedding=embedding
    )


def layered_pareto(kind: str, problem: dict, stem: str, title: str, exact: bool, n: int = 1000) -> None:
    """Every estimator family on a multi-layer model: a sweep against exact gradients where the model is enumerable
    (per element where its elements are independent), else against 10^4 RF(4) samples (the ZGR paper's reference);
    then the Pareto figure and the three frontiers. Decoupled ST is left out (with tau_f != 1 it estimates another
    target). ``exact`` False forces the samples."""
    import numpy as np

    import gradlab as gl
    from gradlab.core import names as N
    from gradlab.jobs.main_job import estimator_families
    from gradlab.sweep import run_sweep
    from gradlab.viz.plots import plot_pareto, save_figure

    reference = {"kind": "auto" if exact else "estimator", "name": "reinforce", "m": 4, "n": 10_000}
    ds = run_sweep(
        {
            "name": stem,
            "out": str(RESULTS / f"{stem}.nc"),
            "problem": {"kind": kind, **problem},
            "reference": reference,
            "sampling": {"n": n, "bootstrap": 100},
            "estimators": estimator_families(n=n, decoupled=False),
        },
        overwrite=True,
    )
    sub = gl.results.one_seed(ds)
    sub = sub.isel({N.ESTIMATOR: np.flatnonzero(np.isfinite(sub[N.BIAS2].values))})
    what = "exact gradients" if str(ds["reference_used"].values) == "exact" else "10^4 RF(4) samples"
    print(save_figure(plot_pareto(sub, f"{title}, against {what}"), FIGURES / f"{stem}_pareto.png"))
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
            cells.append(f"{float(mean.sel(sel).squeeze()):.{digits}f} ± {float(half.sel(sel).squeeze()):.{digits}f}")
        lines.append(f"| {r} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def study_args(description: str):
    """The common command line of the study scripts: the scale, a study file of one's own, --dry-run, --quick,
    --seeds, --epochs, --data-path, the workers."""
    import argparse

    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", choices=SCALES, default="digits", help="the scale of the ladder (default digits)")
    ap.add_argument("--config", default=None, help="a study TOML file of your own instead of the shipped one")
    ap.add_argument("--dry-run", action="store_true", help="build every problem, print the plan, train nothing")
    ap.add_argument("--quick", action="store_true", help="one seed, 3 epochs, fewer settings (a smoke run)")
    ap.add_argument("--seeds", type=int, default=None, help="number of seeds (default: the study's)")
    ap.add_argument("--epochs", type=int, default=None, help="training epochs (default: the study's)")
    ap.add_argument("--data-path", default=None, help="the data set's files (the paper scales)")
    ap.add_argument("--n-jobs", type=int, default=2, help="runs at a time (default 2)")
    ap.add_argument("--backend", default="loky", help="loky (default) or dask (a dask.distributed cluster)")
    ap.add_argument("--scheduler", default=None, help="with --backend dask: the scheduler's address (tcp://...)")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing history of another configuration")
    return ap


def study(name: str, args, quick_estimators: int | None = 3):
    """The study ``name`` (or ``--config``'s) at ``--scale``, with the script's overrides: ``--quick`` (seed 0, 3
    epochs, the first ``quick_estimators`` estimator tables, out in results/), ``--seeds``, ``--epochs``; its out
    anchored at the repository (``histories/<scale>/`` is what ``gradlab verify`` reads)."""
    from gradlab.study import load_study

    scale = None if args.config else args.scale
    cfg = load_study(args.config or name, scale=scale, data_path=args.data_path)
    if args.quick:
        cfg.seeds, cfg.train["epochs"] = [0], args.epochs or 3
        if quick_estimators:
            cfg.estimators = cfg.estimators[:quick_estimators]
        if cfg.trajectory is not None:
            cfg.trajectory = {**cfg.trajectory, "at_epochs": [0, cfg.train["epochs"]], "n": 300}
            ref = cfg.trajectory.get("reference")
            if ref and "n" in ref:
                cfg.trajectory["reference"] = {**ref, "n": 2000}
        cfg.out = RESULTS / f"{cfg.out.stem}_quick{cfg.out.suffix}"
    else:
        if args.seeds is not None:
            cfg.seeds = list(range(args.seeds))
        if args.epochs is not None:
            cfg.train["epochs"] = args.epochs
        if not args.config:
            cfg.out = (ROOT / cfg.out.relative_to(Path.cwd())) if cfg.out.is_relative_to(Path.cwd()) else cfg.out
    return cfg


def run(cfg, args):
    """Run the study (resumable: an interrupted script trains only the missing runs when run again), stamp the
    result with its provenance and return it; ``--dry-run`` prints the plan and returns ``None``."""
    import time

    from gradlab.core.results import write_netcdf
    from gradlab.study import dry_run, run_study

    if args.dry_run:
        plan = dry_run(cfg, measure=False)
        print(
            f"{cfg.name} at {cfg.scale or 'its own scale'}: {plan['runs']} runs ({plan['pending']} to train) of "
            f"{cfg.train['epochs']} epochs; grid {cfg.grid_axes() or 'none'}; out {cfg.out}"
        )
        return None
    started = time.perf_counter()
    ds = run_study(
        cfg, n_jobs=args.n_jobs, backend=args.backend, scheduler=args.scheduler, overwrite=args.quick or args.overwrite
    )
    print(write_netcdf(stamp(ds, started, args), cfg.out))
    return ds


def stamp(ds, started: float, args=None):
    """``ds`` with what a committed history must say of itself: the command that wrote it, the commit, the scale,
    the machine (processor, cores, load at the end) and the wall time of the whole study."""
    import shlex
    import sys
    import time

    from gradlab.core.results import origin

    script = Path(sys.argv[0]).resolve()
    script = script.relative_to(ROOT) if script.is_relative_to(ROOT) else script
    ds.attrs.update(
        origin(getattr(args, "device", None)),
        command="python " + " ".join(shlex.quote(str(a)) for a in [script, *sys.argv[1:]]),
        scale=getattr(args, "scale", "digits"),
        wall_time_s=round(time.perf_counter() - started, 1),
    )
    return ds


def tagged(stem: str, args) -> str:
    """A figure's name: ``stem``, ``stem_<scale>`` beyond the digits, ``..._quick`` for a smoke run (so none
    overwrites the figures the README shows)."""
    if getattr(args, "scale", "digits") != "digits":
        stem = f"{stem}_{args.scale}"
    if getattr(args, "config", None):
        stem = f"{stem}_{Path(args.config).stem}"
    return f"{stem}_quick" if getattr(args, "quick", False) else stem
