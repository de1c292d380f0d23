"""Shared helpers of the analysis scripts (run from the repository root: python analyses/<script>.py)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "figures"
RESULTS = ROOT / "results"
HISTORIES = ROOT / "histories"  # committed training histories, one folder per scale (what `gradlab verify` reads)


def history_path(stem: str, args) -> Path:
    """Where a study script writes its history: ``histories/<scale>/<stem>.nc`` (committed; ``gradlab verify`` reads
    them), or ``results/`` for a ``--quick`` smoke run and for a ``--config`` run (``tagged`` names)."""
    if getattr(args, "quick", False) or getattr(args, "config", None):
        return RESULTS / f"{tagged(stem, args)}.nc"
    return HISTORIES / getattr(args, "scale", "digits") / f"{stem}.nc"


def stamp(ds, started: float, args=None):
    """``ds`` with what a committed history must say of itself: the command that wrote it, the commit, the scale,
    the machine (processor, cores, load at the end) and the wall time of the whole study."""
    import os
    import platform
    import shlex
    import subprocess
    import sys
    import time

    def git(*a):
        try:
            return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    commit = git("rev-parse", "HEAD") or "unknown"
    if git("status", "--porcelain", "--untracked-files=no", "gradlab", "analyses"):
        commit += " (with uncommitted changes)"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    script = Path(sys.argv[0]).resolve()
    script = script.relative_to(ROOT) if script.is_relative_to(ROOT) else script
    scale = getattr(args, "scale", "digits")
    ds.attrs.update(
        command="python " + " ".join(shlex.quote(str(a)) for a in [script, *sys.argv[1:]]),
        git_commit=commit,
        scale=f"{scale}: {SCALES[scale]}",
        machine=f"{cpu}, {os.cpu_count()} cores, load average {load:.1f} at the end",
        wall_time_s=round(time.perf_counter() - started, 1),
    )
    return ds


def ensure_snapshot(
    name: str, *, epochs: int, embedding: str = "bits", num_vars: int = 4, num_classes: int = 8
) -> Path:
    """An RF(4) snapshot of a categorical VAE on the embedded digits (trained once, then reused)."""
    from gradlab.training import rf4_snapshot

    return rf4_snapshot(
        RESULTS / "snapshots" / name, epochs, num_vars=num_vars, num_classes=num_classes, embedding=embedding
    )


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
    """The common command line of the training-study scripts: --config, --dry-run, --quick, --seeds, --epochs,
    --n-jobs, the data set and the backend."""
    import argparse

    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--config",
        default=None,
        help="a TOML file of the experiment's settings over the script's defaults (the papers' scale: analyses/paper/)",
    )
    ap.add_argument("--dry-run", action="store_true", help="build every problem, print the plan, train nothing")
    ap.add_argument("--quick", action="store_true", help="one seed and a few epochs (a smoke run)")
    ap.add_argument("--seeds", type=int, default=None, help="number of seeds (default 3; quick 1)")
    ap.add_argument("--epochs", type=int, default=None, help="training epochs (default per script)")
    ap.add_argument("--n-jobs", type=int, default=2, help="parallel training runs (default 2)")
    ap.add_argument(
        "--dataset", default=None, help="digits (default), mnist5k (both built in), mnist, fashion_mnist, omniglot"
    )
    ap.add_argument("--data-path", default=None, help="the data set's files (for all but the embedded digits)")
    ap.add_argument("--backend", default="loky", help="loky (default) or dask (a dask.distributed cluster)")
    ap.add_argument("--scheduler", default=None, help="with --backend dask: the scheduler's address (tcp://...)")
    ap.add_argument(
        "--scale",
        choices=list(SCALES),
        default="digits",
        help="the scale of the ladder (default digits): " + "; ".join(f"{k}: {v}" for k, v in SCALES.items()),
    )
    return ap


# the ladder of scales the training claims are measured at (histories/<scale>/); each script says what a scale
# changes in its own SCALE_SETTINGS
SCALES = {
    "digits": "the embedded 8x8 digits, 12 latent bits per layer, laptop-size networks",
    "mnist5k-48": "mnist5k (4,500 real 28x28 MNIST training images), 48 latent bits, the papers' VAE networks",
    "mnist5k-paper": "mnist5k at the papers' sizes: 192 latent bits, the papers' networks, fewer epochs",
}


COMMON_KEYS = ("dataset", "data_path", "seeds", "epochs", "problem")


def experiment(args, script: str, defaults: dict, scales: dict | None = None) -> dict:
    """The experiment's settings: the script's laptop-scale ``defaults`` (which must hold ``seeds`` and
    ``epochs``), overridden by the TOML file of ``--config`` (a paper-scale configuration in ``analyses/paper/``)
    and then by ``--seeds``, ``--epochs``, ``--dataset`` and ``--data-path``. The TOML file's top-level keys are
    the defaults' names plus ``script`` (which script it is for), ``about`` (free text), ``dataset``,
    ``data_path`` and ``problem`` (a table of extra problem settings); anything else is an error naming the
    closest valid key. A data set other than the embedded digits needs its files (``--data-path``)."""
    import difflib

    import tomllib

    cfg = {"dataset": "digits", "data_path": None, "problem": {}, **defaults}
    scale = getattr(args, "scale", "digits")
    if scale != "digits":
        if not scales or scale not in scales:
            raise SystemExit(f"{script}: error: --scale {scale}: this study has no settings for that scale")
        cfg.update(scales[scale])
    if args.config:
        path = Path(args.config)
        try:
            text = tomllib.loads(path.read_text())
        except OSError as exc:
            raise SystemExit(f"{script}: error: --config {path}: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise SystemExit(f"{script}: error: --config {path}: not valid TOML ({exc})") from None
        meant = text.pop("script", script)
        if meant != script:
            raise SystemExit(f"{script}: error: --config {path} is for {meant}, not {script}")
        text.pop("about", None)
        for key in text:
            if key not in cfg:
                close = difflib.get_close_matches(key, list(cfg), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; accepted: {', '.join(sorted(cfg))}"
                raise SystemExit(f"{script}: error: --config {path}: unknown key {key!r}{hint}")
        cfg.update(text)
    for key in ("seeds", "epochs", "dataset", "data_path"):
        if getattr(args, key, None) is not None:
            cfg[key] = getattr(args, key)
    if cfg["dataset"] not in ("digits", "mnist5k") and not cfg["data_path"]:
        raise SystemExit(f"{script}: error: dataset {cfg['dataset']!r} needs its files: --data-path DIR")
    if args.quick:
        cfg["seeds"] = args.seeds or 1
    return cfg


def problem_settings(cfg: dict) -> dict:
    """The data-set keys and the ``problem`` table of an :func:`experiment`, as problem settings."""
    data = {"dataset": cfg["dataset"]} if cfg["dataset"] != "digits" else {}
    if cfg["data_path"]:
        data["data_path"] = str(Path(cfg["data_path"]).expanduser())
    return {**data, **cfg["problem"]}


def dry_run(problems: list[dict], methods: list, cfg: dict, runs_per_problem: int | None = None) -> None:
    """Build every problem of the plan (so the data, the sizes and the settings are checked) and print what a run
    would train: problems x estimator settings x seeds runs of ``epochs`` epochs."""
    import gradlab as gl

    settings = gl.training.estimator_settings(methods)
    for problem in problems:
        model = gl.problems.build_problem(problem)
        model = model.training_model() if hasattr(model, "training_model") else model
        size = sum(p.numel() for p in model.param_values().values())
        n_train = model.split("train")[0].shape[0]
        print(f"{model.name}: {size:,} parameters, {n_train} training examples; {problem}")
    runs = runs_per_problem or len(settings) * len(problems) * int(cfg["seeds"])
    print(f"plan: {runs} training runs of {cfg['epochs']} epochs ({len(settings)} estimator settings)")


def tagged(stem: str, args) -> str:
    """Output name of a study script: ``stem``, ``stem_<scale>`` at a scale of the ladder other than the digits,
    ``stem_<config>`` with ``--config <config>.toml`` and ``..._quick`` for a ``--quick`` smoke run (so none
    overwrites the laptop-scale figures the README shows)."""
    if getattr(args, "scale", "digits") != "digits":
        stem = f"{stem}_{args.scale}"
    if getattr(args, "config", None):
        stem = f"{stem}_{Path(args.config).stem}"
    return f"{stem}_quick" if getattr(args, "quick", False) else stem


def run_settings(args) -> dict:
    """The :func:`~gradlab.training.training_study` settings of where the runs go (workers, backend)."""
    return {"n_jobs": args.n_jobs, "backend": args.backend, "scheduler": args.scheduler}
