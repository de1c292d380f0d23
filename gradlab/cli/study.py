"""``gradlab study CONFIG.toml | NAME``: a training study run by run (resumable), on this machine or a Dask cluster;
the papers' experiments ship as named configurations (``--list``) at every scale of the ladder (``--scale``)."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser(
        "study",
        help="training studies run by run (resumable, local or Dask); the papers' experiments by name (--list)",
        description="Run a training study: a TOML configuration, or a shipped experiment by name (--list). Each "
        "finished run is written under OUT.runs/ as it arrives; run the same command again after an interruption "
        "and only the missing runs train.",
    )
    p.add_argument("study", nargs="?", default=None, help="a configuration file, or a shipped experiment's name")
    p.add_argument("--list", action="store_true", help="the shipped experiments, one line each, and exit")
    p.add_argument("--show", action="store_true", help="print the study's configuration (TOML) and exit")
    p.add_argument(
        "--scale",
        default=None,
        help="digits (default for the shipped experiments), mnist5k-48, mnist5k-paper, paper (needs --data-path)",
    )
    p.add_argument("--data-path", default=None, help="the data set's files (the paper scale: MNIST, Omniglot, ...)")
    p.add_argument("--out", default=None, help="the output netCDF (default: the configuration's out)")
    p.add_argument("--n-jobs", type=int, default=None, help="runs at a time (default: the file's [run] n_jobs, 1)")
    p.add_argument("--device", default=None, help="torch device of every run: cpu (default) or cuda, cuda:1, ...")
    p.add_argument("--backend", default=None, help="loky (default), threading or dask")
    p.add_argument("--scheduler", default=None, help="with --backend dask: the scheduler's address (tcp://HOST:PORT)")
    p.add_argument("--dry-run", action="store_true", help="build every problem, print the runs and a time estimate")
    p.add_argument("--overwrite", action="store_true", help="replace an existing out of another configuration")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=study_command)


def study_command(args: argparse.Namespace) -> int:
    from gradlab.study import describe, dry_run, experiment_source, experiments, load_study, run_study

    if args.list:
        print(describe())
        return 0
    if args.study is None:
        raise ValueError(
            f"study: name a configuration file or one of the shipped experiments: {', '.join(experiments())}"
        )
    if args.show:
        text = experiment_source(args.study)
        print(text if text is not None else open(args.study).read())
        return 0
    scale = args.scale or ("digits" if experiment_source(args.study) is not None else None)
    cfg = load_study(args.study, scale=scale, data_path=args.data_path, out=args.out, device=args.device)
    if args.dry_run:
        plan = dry_run(cfg)
        axes = cfg.grid_axes()
        print(
            f"study {cfg.name}{f' at scale {cfg.scale}' if cfg.scale else ''}: {plan['runs']} runs "
            f"({len(cfg.estimator_grid())} estimator settings x {len(cfg.seeds)} seeds x {plan['points']} points"
            + (f" of {', '.join(f'{k} ({len(v)})' for k, v in axes.items())}" if axes else "")
            + f"), "
            f"{plan['pending']} still to train; out {cfg.out}"
        )
        if "estimate_seconds" in plan:
            print(
                f"an epoch of the first run takes {plan['seconds_per_epoch']:.1f} s: about "
                f"{plan['estimate_seconds'] / 60:.0f} min for the runs still to train (at that run's cost)"
            )
        return 0
    ds = run_study(
        cfg,
        n_jobs=args.n_jobs,
        backend=args.backend,
        scheduler=args.scheduler,
        progress=not args.no_progress,
        overwrite=args.overwrite,
    )
    print(f"wrote {cfg.out} ({', '.join(f'{k}={v}' for k, v in ds.sizes.items())}); runs in {cfg.runs_dir}")
    return 0
