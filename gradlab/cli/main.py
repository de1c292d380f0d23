"""The ``gradlab`` command."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Sequence

from gradlab.core.version import __version__


def _hparam_text(cls) -> str:
    parts = []
    for f in dataclasses.fields(cls):
        default = f.default
        parts.append(f"{f.name}={default:g}" if isinstance(default, float) else f"{f.name}={default}")
    return ", ".join(parts) if parts else "-"


def cmd_list(args: argparse.Namespace) -> int:
    """One line per estimator: name, hyper-parameters with defaults, what it is."""
    from gradlab.estimators import REGISTRY, available_estimators

    rows = [("ESTIMATOR", "HYPER-PARAMETERS (DEFAULTS)", "KIND", "WHAT IT IS")]
    for name in available_estimators():
        cls = REGISTRY[name]
        kind = "pathwise" if cls.pathwise else "score-function"
        rows.append((name, _hparam_text(cls), kind, cls.summary))
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    w2 = max(len(r[2]) for r in rows)
    for r in rows:
        print(f"{r[0]:<{w0}}  {r[1]:<{w1}}  {r[2]:<{w2}}  {r[3]}")
    from gradlab.problems.build import PROBLEMS

    print("\nproblem kinds (the [problem] table of a sweep: kind = NAME plus these settings):")
    width = max(len(k) for k in [*PROBLEMS, "PROBLEM"])
    print(f"{'PROBLEM':<{width}}  WHAT IT IS: SETTINGS")
    for name in sorted(PROBLEMS):
        spec = PROBLEMS[name]
        print(f"{name:<{width}}  {spec.summary}: {', '.join(spec.keys)}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Squared bias and variance of every estimator on one categorical variable with a quadratic loss."""
    import torch

    from gradlab.core import checks as _checks
    from gradlab.estimators import estimator
    from gradlab.measure.intervals import intervals
    from gradlab.measure.stats import GradientStats

    k, n = 6, _checks.integer("demo", "--n", args.n, 2)
    gen = torch.Generator().manual_seed(args.seed)
    a = torch.randn(k, k, generator=gen, dtype=torch.float64)
    b = torch.randn(k, generator=gen, dtype=torch.float64)
    eta = torch.randn(k, generator=gen, dtype=torch.float64)

    def loss(x):
        return ((x @ a) * x).sum(-1) + x @ b

    e = eta.clone().requires_grad_()
    (exact,) = torch.autograd.grad((torch.softmax(e, -1) * loss(torch.eye(k, dtype=torch.float64))).sum(), e)
    print(
        f"one categorical variable, K={k}, quadratic loss, {n} estimates each (seed {args.seed}); common random "
        "numbers: every estimator draws its noise from the same seed, so estimators with the same noise layout see "
        "the same samples (ZGR and ReinMax(1) are one estimator: the same numbers)"
    )
    print(f"{'estimator':<34} {'squared bias':>13} {'95 % interval':>24} {'variance':>11}")
    for name, hp in [
        ("st", {}),
        ("st", {"t": 2.0}),
        ("gs", {"t": 0.5}),
        ("gs_st", {"t": 0.5}),
        ("gr_mc", {"t": 0.5, "m": 10}),
        ("darn", {}),
        ("zgr", {}),
        ("st_zgr", {"t": 2.0, "alpha": 0.5}),
        ("reinmax", {}),
        ("reinforce", {"m": 4}),
    ]:
        est = estimator(name, **hp)
        logits = eta.expand(n, k).clone().requires_grad_()
        noise = torch.Generator().manual_seed(args.seed + 1)  # the same stream for every estimator
        u = est.draw_uniforms(logits, noise, sample_ndim=1)
        (g,) = torch.autograd.grad(est.surrogate(logits, loss, u).sum(), logits)
        mean, var = g.mean(0), g.var(0).mean()
        bias2 = ((mean - exact) ** 2).mean() - var / n  # unbiased (ZGR eq. 16 against an exact reference)
        stats = GradientStats(n, mean, ((g - mean) ** 2).sum(0), samples=g)  # the samples give the interval
        iv = intervals(stats, exact, b2=float(bias2))
        zero = "  0" if iv.b2_consistent_with_zero else ""
        print(
            f"{est.label:<34} {float(bias2):>13.3e} {f'[{iv.b2_lo:.2e}, {iv.b2_hi:.2e}]':>24} {float(var):>11.3e}{zero}"
        )
    print(
        "A negative squared bias means the bias is below the sampling noise; 0: the interval contains zero "
        "(consistent with unbiased). Intervals: gradlab.analysis.intervals."
    )
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Train a model with any estimator (``gradlab/cli/train.py``)."""
    from gradlab.cli.train import train_command

    return train_command(args)


def cmd_sweep(args: argparse.Namespace) -> int:
    """Run or resume a sweep from a TOML configuration."""
    from gradlab.sweep import load_config, run_sweep

    cfg = load_config(args.config, out=args.out, device=args.device)
    ds = run_sweep(
        cfg,
        n_jobs=args.n_jobs,
        backend=args.backend,
        scheduler=args.scheduler,
        progress=not args.no_progress,
        overwrite=args.overwrite,
    )
    print(f"wrote {cfg.out} ({', '.join(f'{k}={v}' for k, v in ds.sizes.items())}); cells in {cfg.cells_dir}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Numerical checks of the papers' claims: a table, optional JSON and convergence plots."""
    from gradlab.theory import exit_status, format_table, list_claims, run_checks, write_json

    if args.list:
        print(list_claims())
        return 0
    only = [g for g in (args.only or "").split(",") if g]
    results = run_checks(
        quick=args.quick,
        only=only or None,
        progress=not args.no_progress,
        log=None if args.no_progress else lambda m: print(m, file=sys.stderr),
        results_dir=args.results,
    )
    print(format_table(results))
    if args.json:
        write_json(results, args.json, args.quick)
        print(f"wrote {args.json}")
    if args.figures and args.figures.lower() != "none":
        from gradlab.viz.plots import save_verify_figures

        for p in save_verify_figures(results, args.figures):
            print(f"wrote {p}")
    return exit_status(results, strict=args.strict)


def cmd_run(args: argparse.Namespace) -> int:
    """The main job: train (or reuse) a snapshot, measure every estimator, write results and figures."""
    from gradlab.jobs.main_job import RunSettings, run_main_job

    run_main_job(
        RunSettings(
            out=args.out,
            figures=args.figures,
            quick=args.quick,
            num_vars=args.num_vars,
            num_classes=args.num_classes,
            data=args.data,
            data_path=args.data_path,
            epochs=args.epochs,
            n=args.n,
            n_jobs=args.n_jobs,
            seed=args.seed,
            progress=not args.no_progress,
            reference=args.reference,
            reference_n=args.reference_n,
            overwrite=args.overwrite,
            device=args.device or "cpu",
        )
    )
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from gradlab.viz.figures import plot_results

    for p in plot_results(args.results, args.out):
        print(f"wrote {p}")
    return 0


class _Parser(argparse.ArgumentParser):
    """A sub-command parser whose help names the registered trainable kinds (read, with torch, only when the help is
    shown, so that ``gradlab --help`` stays fast)."""

    def format_help(self) -> str:
        problem = next((a for a in self._actions if a.dest == "problem" and "{kinds}" in (a.help or "")), None)
        if problem is not None:
            from gradlab.problems.build import trainable_problems

            problem.help = problem.help.replace("{kinds}", ", ".join(trainable_problems()))
        return super().format_help()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gradlab",
        description="Bias, variance and gradient gap of gradient estimators for discrete random variables.",
    )
    parser.add_argument("--version", action="version", version=f"gradlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    p = sub.add_parser("list", help="estimators and their hyper-parameters, one line each")
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("run", help="the main job: a complete study on the embedded digits (netCDF, figures, summary)")
    p.add_argument("--quick", action="store_true", help="fewer settings and samples (digits: about 1.5 min)")
    p.add_argument("--out", default="results", help="directory for the snapshot, cells and netCDF (default results/)")
    p.add_argument("--figures", default=None, help="directory for the figures (default: OUT/figures)")
    p.add_argument(
        "--data",
        default="digits",
        help="digits (default, 8x8) or mnist5k (5,000 real MNIST images, the ZGR paper's 16 x 16 VAE), both built in; "
        "mnist, fashion_mnist, omniglot with --data-path",
    )
    p.add_argument("--data-path", default=None, help="the data set's files, for the data sets that are not built in")
    p.add_argument("--device", default=None, help="torch device: cpu (default) or cuda (a GPU), cuda:1, ...")
    p.add_argument("--num-vars", type=int, default=None, help="latent variables of the VAE (default 4; mnist5k 16)")
    p.add_argument("--num-classes", type=int, default=None, help="categories per variable (default 8; mnist5k 16)")
    p.add_argument(
        "--epochs", type=int, default=None, help="RF(4) training epochs of the snapshot (default 10; quick 3)"
    )
    p.add_argument("--n", type=int, default=None, help="samples per setting (default 1000; quick 200)")
    p.add_argument("--n-jobs", type=int, default=1, help="settings measured in parallel processes (default 1)")
    p.add_argument("--seed", type=int, default=0, help="master seed of the snapshot and the samples (default 0)")
    p.add_argument(
        "--reference",
        choices=("auto", "exact", "samples"),
        default="auto",
        help="bias against exact gradients or RF(4) samples (default: exact when enumerable)",
    )
    p.add_argument("--reference-n", type=int, default=10_000, help="RF(4) reference samples (default 10000)")
    p.add_argument(
        "--overwrite", action="store_true", help="replace an earlier result of other settings in OUT (e.g. another --n)"
    )
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("plot", help="figures from a result netCDF (chosen by its contents)")
    p.add_argument("results", help="a netCDF written by gradlab run / sweep")
    p.add_argument("--out", default=None, help="directory for the figures (default: beside the file)")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("demo", help="a 5-second tour: bias and variance on one categorical variable")
    p.add_argument("--n", type=int, default=20_000, help="estimates per estimator (default 20000)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("train", help="train a model (--help lists the kinds) with any estimator; snapshots, history")
    p.add_argument("--problem", default="vae", help="model kind, one of: {kinds} (default vae)")
    p.add_argument("--set", nargs="*", default=None, metavar="KEY=VALUE", help="model settings (hidden=64,64)")
    p.add_argument("--estimator", default="reinforce", help="estimator name (default reinforce)")
    p.add_argument(
        "--hp", nargs="*", default=None, metavar="KEY=VALUE", help="hyper-parameters (default: m=4 for reinforce)"
    )
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--lr-milestones", default="", help="comma-separated epochs after which lr *= --lr-gamma")
    p.add_argument("--lr-gamma", type=float, default=0.1)
    p.add_argument("--optimizer", default="adam", choices=["adam", "sgd"])
    p.add_argument(
        "--anneal",
        default=None,
        metavar="START,MIN,RATE,EVERY",
        help="anneal the estimator's temperature: max(MIN, START exp(-RATE step)), updated every EVERY steps",
    )
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--snapshot-epochs", default="", help="comma-separated epochs to save (default: the last)")
    p.add_argument(
        "--out", default=None, help="directory for epoch_NNNN.pt/.json (default snapshots/, or --resume's directory)"
    )
    p.add_argument("--resume", default=None, help="a snapshot of the same model and settings to continue from")
    p.add_argument("--history", default=None, metavar="PATH.nc", help="write the per-epoch history as netCDF")
    p.add_argument(
        "--data", default="digits", help="digits, mnist5k (both built in), mnist, fashion_mnist, omniglot (--data-path)"
    )
    p.add_argument("--data-path", default=None, help="file or directory of a data set that is not built in")
    p.add_argument("--binarize", default=None, help="static | threshold | dynamic (default per data set)")
    p.add_argument("--data-seed", type=int, default=0)
    p.add_argument("--device", default=None, help="torch device: cpu (default) or cuda (a GPU), cuda:1, ...")
    p.add_argument("--num-vars", type=int, default=4, help="(vae) latent variables")
    p.add_argument("--num-classes", type=int, default=8, help="(vae) categories per variable")
    p.add_argument("--embedding", default="bits", choices=["bits", "onehot"])
    p.add_argument("--encoder", default="nonlinear", choices=["linear", "nonlinear"])
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sweep", help="run (or resume) a grid of estimator settings from a TOML file; writes netCDF")
    p.add_argument("config", help="sweep configuration (see analyses/*.toml)")
    p.add_argument("--n-jobs", type=int, default=None, help="workers (default: the file's [run] n_jobs, else 1)")
    p.add_argument("--backend", default=None, help="joblib backend: loky (default), threading, dask")
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="tcp://HOST:PORT",
        help="with --backend dask: a running scheduler (default: the file's [run] scheduler, else a local cluster)",
    )
    p.add_argument("--out", default=None, help="override the output netCDF path")
    p.add_argument("--device", default=None, help="torch device: cpu (default) or cuda (a GPU), cuda:1, ...")
    p.add_argument(
        "--overwrite", action="store_true", help="replace an existing out that is not a result of this configuration"
    )
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser(
        "verify",
        help="check the papers' claims numerically (exit 0: all ran; 2: a check could not run; 1 with --strict: "
        "a claim is refuted)",
    )
    p.add_argument("--quick", action="store_true", help="fewer temperatures and samples (a few minutes on 2 cores)")
    p.add_argument("--json", default=None, metavar="PATH", help="also write the results as JSON")
    p.add_argument(
        "--figures", default="results/figures", help="directory for convergence plots (default results/figures; 'none')"
    )
    p.add_argument(
        "--only",
        default="",
        help="comma-separated claim ids (see --list) and/or check groups (prop1, corA1, asymptotics, thm1, exact, "
        "estimators, cor3, gs, footnote, quantization, quantization_gr, quantization_variance, timing, vae, shah, "
        "shah_gap, reinmax, training)",
    )
    p.add_argument(
        "--results",
        default=None,
        metavar="DIR",
        help="the training studies' histories that the training claims are checked on, one folder per scale "
        "(default: $GRADLAB_RESULTS, else histories/ here, else the repository's committed histories/)",
    )
    p.add_argument("--list", action="store_true", help="list every claim (id, paper, location, quote) and exit")
    p.add_argument("--strict", action="store_true", help="exit with 1 if any claim is refuted")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_verify)
    from gradlab.cli.study import add_parser as add_study

    add_study(sub)
    for command in sub.choices.values():
        command.add_argument("--debug", action="store_true", help="show the Python traceback of an error")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("MPLBACKEND", "Agg")  # figures go to files; no window, even with a display
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # the reader went away (`gradlab verify --list | head`): not an error of ours
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print(f"gradlab {args.command}: interrupted", file=sys.stderr)
        return 130
    except (ValueError, TypeError, OSError, FloatingPointError) as exc:
        # bad input: the library's errors name the argument, what was expected and what arrived; one line,
        # no traceback (--debug or GRADLAB_TRACEBACK=1 shows it)
        if args.debug or os.environ.get("GRADLAB_TRACEBACK"):
            raise
        print(f"gradlab {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
