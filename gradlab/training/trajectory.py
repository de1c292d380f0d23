"""Bias and variance along a training trajectory (ZGR Fig. B.3: the first layer's variance along ZGR's run on the
quantized network; Fig. B.4: Pareto diagrams at several epochs of the VAE).

:func:`trajectory_study` trains once (with the estimator ``train_estimator``), writes a snapshot at each epoch
of ``at_epochs``, and runs a sweep at every snapshot: the estimator grid of ``estimators`` (the sweep format)
against ``reference`` (exact gradients where the model is enumerable, else samples of a reference estimator,
ZGR eq. 16), for the parameter group ``wrt`` (e.g. ``"layer0"``). The sweeps are ordinary sweeps (the reference
computed once per snapshot, resumable cell files) and the result is their concatenation along ``epoch``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import xarray as xr

from gradlab.core import checks as _checks
from gradlab.core.results import write_netcdf
from gradlab.estimators import Estimator
from gradlab.problems.snapshots import checkpoint_paths
from gradlab.training.loop import train

__all__ = ["trajectory_study"]


def trajectory_study(
    problem: Mapping,
    train_estimator: Estimator,
    at_epochs: Iterable[int],
    estimators: Sequence[Mapping],
    *,
    out_dir: str | Path,
    reference: Mapping | None = None,
    n: int = 1000,
    wrt: str = "all",
    bootstrap: int = 0,
    seed: int = 0,
    train_settings: Mapping | None = None,
    progress: bool = False,
) -> xr.Dataset:
    """Train ``problem`` (a registry configuration, ``{"kind": ..., ...}``) with ``train_estimator`` and measure
    ``estimators`` at the snapshots ``at_epochs`` (0 = the initialisation); writes ``out_dir/trajectory.nc``
    and returns the data set (dimension ``epoch`` added to the sweep's).

    Resumable in ``out_dir``: a second call with the same arguments trains only from the last snapshot written
    (none when all are there), reuses each snapshot's reference samples and the finished sweep cells."""
    from gradlab.problems.build import build_problem
    from gradlab.sweep import run_sweep

    epochs = sorted({_checks.integer("trajectory_study", "at_epochs", e, 0) for e in at_epochs})
    if not epochs:
        raise ValueError("trajectory_study: at_epochs must name at least one epoch, got none")
    if "snapshot" in problem:
        raise ValueError("trajectory_study: problem must be a fresh model configuration (no snapshot key)")
    out_dir = Path(out_dir)
    model = build_problem(problem)  # fails here, before training, on a bad configuration
    settings = {"epochs": max(max(epochs), 1), "seed": seed, **(train_settings or {})}
    snap_dir = out_dir / "snapshots"
    paths = [checkpoint_paths(snap_dir, e)[0] for e in epochs]
    have = [p for p in paths if p.is_file() and p.with_suffix(".json").is_file()]
    # from the last snapshot an interrupted call left (training continues identically; from the last of all, a
    # finished run, nothing is trained), which train checks is of this model and these settings
    history = train(
        model,
        train_estimator,
        snapshot_epochs=epochs,
        out_dir=snap_dir,
        progress=progress,
        resume=have[-1] if have else None,
        **settings,
    ).history
    parts = []
    for epoch, path in zip(epochs, paths, strict=True):
        ds = run_sweep(
            {
                "name": f"trajectory_epoch_{epoch}",
                "out": str(out_dir / f"epoch_{epoch:04d}.nc"),
                "problem": {**problem, "snapshot": str(path)},
                "reference": dict(reference or {"kind": "exact"}),
                "sampling": {"n": n, "wrt": wrt, "bootstrap": bootstrap},
                "estimators": [dict(e) for e in estimators],
            },
            progress=progress,
        )
        parts.append(ds.expand_dims(epoch=[epoch]))
    out = xr.concat(parts, dim="epoch", combine_attrs="drop_conflicts")
    out.attrs.update(
        trajectory_estimator=train_estimator.label,
        trajectory_history=str([{k: v for k, v in r.items()} for r in history]),
    )
    write_netcdf(out, out_dir / "trajectory.nc")
    return out
