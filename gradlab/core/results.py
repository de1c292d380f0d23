"""Results as labelled data: estimator coordinates, provenance attributes and atomic netCDF files.

Every study is an ``xarray.Dataset`` whose ``estimator`` dimension holds labels such as ``gs_st(t=0.5)``,
with non-dimension coordinates for the family and each hyper-parameter (``NaN`` or ``""`` where one does
not apply), and attributes recording the gradlab and torch versions, seeds, ``n``, dtype, device and the
problem's configuration as JSON, so that every cell can be rerun.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from gradlab.core import names as N
from gradlab.core.atomic import atomic_write_with
from gradlab.core.version import versions

__all__ = [
    "estimator_coords",
    "provenance",
    "origin",
    "describe",
    "one_seed",
    "write_netcdf",
    "read_netcdf",
    "NETCDF_ENGINE",
]

NETCDF_ENGINE = "h5netcdf"


def estimator_coords(labels: Sequence[str], families: Sequence[str], hparams: Sequence[Mapping]) -> dict:
    """Coordinates along the estimator axis: family and every hyper-parameter in :data:`names.HPARAMS`
    (plus any other a registered estimator declares)."""
    keys = list(N.HPARAMS) + sorted({k for hp in hparams for k in hp} - set(N.HPARAMS))
    coords: dict = {N.ESTIMATOR: list(labels), N.FAMILY: (N.ESTIMATOR, list(families))}
    for key in keys:
        values = [hp.get(key) for hp in hparams]
        if key in N.STRING_HPARAMS or any(isinstance(v, str) for v in values if v is not None):
            coords[key] = (N.ESTIMATOR, ["" if v is None else str(v) for v in values])
        else:
            coords[key] = (N.ESTIMATOR, np.array([np.nan if v is None else float(v) for v in values]))
    return coords


def describe(ds: xr.Dataset, confidence: float | None = None) -> xr.Dataset:
    """Add ``long_name``, ``units`` and ``definition`` attributes (:data:`names.DESCRIPTIONS`) to every known
    variable, and the boolean ``bias2_consistent_with_zero`` where the squared bias has an interval."""
    if N.BIAS2 + N.LO in ds and N.BIAS2_ZERO not in ds:
        lo = ds[N.BIAS2 + N.LO]
        ds[N.BIAS2_ZERO] = (lo <= 0).where(lo.notnull(), False).astype(bool)
    level = "" if confidence is None else f" ({100 * confidence:g} % confidence)"
    for name, (long_name, units, definition) in N.DESCRIPTIONS.items():
        if name in ds:
            if name.endswith((N.LO, N.HI)):
                definition += level + "; method: analysis.intervals"
            ds[name].attrs.update(long_name=long_name, units=units, definition=definition)
    describe_coords(ds)
    return ds


def describe_coords(ds: xr.Dataset) -> xr.Dataset:
    """``long_name`` and ``definition`` of every coordinate (:data:`names.COORD_DESCRIPTIONS`; a hyper-parameter
    of a user's estimator gets a generic one), in place."""
    for name in ds.coords:
        long_name, definition = N.COORD_DESCRIPTIONS.get(
            str(name),
            (
                str(name),
                "a problem setting of this axis"
                if name in ds.dims
                else "a hyper-parameter of the families that declare it (NaN or empty for the others)",
            ),
        )
        ds[name].attrs.setdefault("long_name", long_name)
        ds[name].attrs.setdefault("definition", definition)
    return ds


def one_seed(ds: xr.Dataset) -> xr.Dataset:
    """The result of a single replicate (its intervals stay valid), or the average over several seeds (the
    bounds are then averages of bounds, not intervals of the average)."""
    if N.SEED not in ds.dims:
        return ds
    return ds.isel({N.SEED: 0}) if ds.sizes[N.SEED] == 1 else ds.mean(N.SEED)


def provenance(**extra) -> dict:
    """Attributes that make a result reproducible: versions, platform, time, plus ``extra`` (JSON-encoded
    when not a plain string or number)."""
    attrs = {
        **versions(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    for k, v in extra.items():
        if v is None:
            continue
        attrs[k] = v if isinstance(v, (str, int, float, np.integer, np.floating)) else json.dumps(v, default=str)
    return attrs


def origin(device: str | None = None) -> dict:
    """Where a result came from, as a committed history records it: the command line that wrote it, the commit
    of the code (``git rev-parse HEAD`` of the checkout gradlab runs from, marked when ``gradlab/`` has
    uncommitted changes; ``unknown`` outside a checkout) and the machine (processor, cores, load average; the
    GPU's name when ``device`` is a CUDA device)."""
    import os
    import platform
    import shlex
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]

    def git(*a: str) -> str:
        try:
            return subprocess.run(["git", *a], cwd=root, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    commit = git("rev-parse", "HEAD") or "unknown"
    if commit != "unknown" and git("status", "--porcelain", "--untracked-files=no", "gradlab", "analyses"):
        commit += " (with uncommitted changes)"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    machine = f"{cpu}, {os.cpu_count()} cores, load average {load:.1f} at the end"
    if device is not None and str(device).startswith("cuda"):
        import torch

        machine += f"; {torch.cuda.get_device_name(torch.device(device))} (CUDA {torch.version.cuda})"
    argv = [Path(sys.argv[0]).name if sys.argv and sys.argv[0].endswith("gradlab") else sys.argv[0], *sys.argv[1:]]
    return {"command": " ".join(shlex.quote(str(a)) for a in argv), "git_commit": commit, "machine": machine}


def _encodable(ds: xr.Dataset) -> xr.Dataset:
    ds = ds.copy()
    for k, v in list(ds.attrs.items()):
        if isinstance(v, str):
            ds.attrs[k] = str(v)  # plain str (h5py refuses str subclasses such as TorchVersion)
        elif isinstance(v, bool):
            ds.attrs[k] = int(v)
        elif not isinstance(v, (str, int, float, np.integer, np.floating, np.ndarray, list, tuple)):
            ds.attrs[k] = json.dumps(v, default=str)
    return ds


def write_netcdf(ds: xr.Dataset, path: str | Path) -> Path:
    """Write ``ds`` to ``path`` atomically (a temporary file renamed into place)."""
    ds = _encodable(ds)
    return atomic_write_with(path, lambda tmp: ds.to_netcdf(tmp, engine=NETCDF_ENGINE), suffix=".nc")


def read_netcdf(path: str | Path) -> xr.Dataset:
    """Read a result written by :func:`write_netcdf` (fully loaded; the file is closed)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"read_netcdf: no result file at {path}")
    with xr.open_dataset(path, engine=NETCDF_ENGINE) as ds:
        return ds.load()
