"""``gradlab train``: any trainable model with any estimator (``gradlab.training.train``); ``--problem vae`` (the
default) is the categorical VAE's snapshot recipe (``train_vae``, the same loop)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from gradlab.cli.args import int_list, parse_hparams


def _train_hparams(args: argparse.Namespace) -> dict:
    """``--hp`` as given; without it, RF(4) for ``reinforce`` (the ZGR paper's snapshot estimator) and the
    registry defaults for every other estimator."""
    if args.hp is not None:
        return parse_hparams(args.hp)
    return {"m": 4} if args.estimator == "reinforce" else {}


def _problem_settings(items: Sequence[str] | None) -> dict:
    """``--set key=value``: numbers become numbers, ``a,b`` a list (``hidden=32,32``)."""
    out = {}
    for key, value in parse_hparams(items).items():
        if isinstance(value, str) and "," in value:
            value = [v for v in (parse_hparams([f"v={x}"])["v"] for x in value.split(",") if x)]
        out[key] = value
    return out


def _anneal(text: str | None) -> dict | None:
    """``--anneal START,MIN,RATE,EVERY`` as a ``temperature_schedule``."""
    if text is None:
        return None
    parts = text.split(",")
    try:
        start, low, rate, every = float(parts[0]), float(parts[1]), float(parts[2]), int(parts[3])
        if len(parts) != 4:
            raise ValueError
    except (ValueError, IndexError):
        raise ValueError(f"--anneal expects START,MIN,RATE,EVERY (e.g. 1.0,0.5,1e-4,500), got {text!r}") from None
    return {"start": start, "min": low, "rate": rate, "every": every}


def train_command(args: argparse.Namespace) -> int:
    """Train a model with any estimator, log per-epoch losses, save snapshots and the history."""
    from gradlab.core import checks as _checks
    from gradlab.core.atomic import check_writable
    from gradlab.estimators import estimator

    device = _checks.device("train", args.device or "cpu")  # before any data is read
    est = estimator(args.estimator, **_train_hparams(args))
    snaps = int_list(args.snapshot_epochs) or [args.epochs]
    if args.history:  # before any training: a result that cannot be written is an error now, not at the end
        check_writable(Path(args.history).parent, "train", "--history's folder")
    if args.out is None:
        args.out = str(Path(args.resume).parent) if args.resume else "snapshots"
    loop = dict(
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        lr_milestones=int_list(args.lr_milestones),
        lr_gamma=args.lr_gamma,
        optimizer=args.optimizer,
        temperature_schedule=_anneal(args.anneal),
        seed=args.seed,
        snapshot_epochs=snaps,
        out_dir=args.out,
        resume=args.resume,
        progress=not args.no_progress,
    )
    result = _train_vae(args, est, loop, device) if args.problem == "vae" else _train_model(args, est, loop, device)
    keys = [k for k in result.history[-1] if k not in ("epoch", "lr")]
    print("epoch  " + "  ".join(f"{k:>14}" for k in keys))
    for rec in result.history[-3:]:
        print(f"{rec['epoch']:>5}  " + "  ".join(f"{rec[k]:>14.4f}" for k in keys))
    for p in result.snapshots:
        print(f"snapshot: {p}")
    if args.history:
        from gradlab.core.results import write_netcdf
        from gradlab.training import history_dataset

        print(f"history: {write_netcdf(history_dataset([result]), args.history)}")
    return 0


def _train_model(args: argparse.Namespace, est, loop: dict, device: str):
    """Any trainable model (``--problem``, ``--set``) with :func:`gradlab.training.train`."""
    from gradlab.problems.build import build_problem
    from gradlab.training import train

    settings = _problem_settings(args.set)
    settings.setdefault("dtype", "float32")
    if device != "cpu":
        settings.setdefault("device", device)
    if args.data != "digits":  # --data for every model (a --set dataset=... wins)
        settings.setdefault("dataset", args.data)
    for key in ("data_path", "binarize"):
        if getattr(args, key) is not None:
            settings.setdefault(key, getattr(args, key))
    return train(build_problem({"kind": args.problem, **settings}), est, **loop)


def _train_vae(args: argparse.Namespace, est, loop: dict, device: str):
    """The categorical VAE's snapshot recipe (:func:`gradlab.training.train_vae`: the same loop)."""
    from gradlab.problems.data import load_dataset
    from gradlab.training import train_vae

    if args.set:
        raise ValueError(
            "--set: not available for --problem vae; use --num-vars, --num-classes, --embedding, --encoder"
        )
    dataset = load_dataset(args.data, args.data_path, args.binarize, seed=args.data_seed)
    return train_vae(
        dataset,
        est,
        num_vars=args.num_vars,
        num_classes=args.num_classes,
        embedding=args.embedding,
        encoder=args.encoder,
        device=device,
        **loop,
    )
