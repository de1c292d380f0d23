"""Bad values in a sweep configuration are one-line errors naming the setting, before any work (issue 27, item 4);
none is accepted silently."""

from __future__ import annotations

import copy
import sys

import pytest

import gradlab as gl
from gradlab.sweep import load_config, run_sweep

BASE = {
    "name": "b",
    "problem": {"kind": "single", "num_classes": 3},
    "sampling": {"n": 100, "seeds": [0]},
    "estimators": [{"name": "zgr"}],
}
CASES = [
    (("sampling", "seeds", [-1]), ValueError, "sampling: seeds must be an integer >= 0, got -1"),
    (("sampling", "seeds", 0), ValueError, "sampling: seeds must be a list of integers >= 0 (e.g. [0, 1]), got 0"),
    (("sampling", "gradient_gap", "yes"), ValueError, "sampling: gradient_gap must be true or false, got 'yes'"),
    (("run", "n_jobs", "two"), TypeError, "run: n_jobs must be an integer >= 1, got str 'two'"),
    (("run", "n_jobs", 0), ValueError, "run: n_jobs must be an integer >= 1, got 0"),
    (
        ("run", "backend", "lokyy"),
        ValueError,
        "run: backend must be one of 'loky', 'threading', 'multiprocessing', 'dask'; got 'lokyy'",
    ),
    ((None, "name", 5), ValueError, "sweep: name must be a string, got 5"),
    (
        (None, "out", "/etc/hostname/x.nc"),
        PermissionError,
        "sweep: out's folder '/etc/hostname' is a file, not a folder",
    ),
    ((None, "out", "/proc/gradlab/y.nc"), PermissionError, "sweep: out's folder '/proc/gradlab' is not writable"),
    (
        ("estimators", None, [{"name": "gs", "tt": 1.0}]),
        TypeError,
        "gs: unknown hyper-parameter(s) tt; accepted: t; did you mean 't' for 'tt'?",
    ),
]


@pytest.mark.parametrize(("where", "error", "message"), CASES, ids=[c[2][:40] for c in CASES])
def test_bad_value_is_a_one_line_error_naming_it(tmp_path, where, error, message):
    section, key, value = where
    cfg = copy.deepcopy(BASE)
    cfg["out"] = str(tmp_path / "b.nc")
    if section is None:
        cfg[key] = value
    elif key is None:
        cfg[section] = value
    else:
        cfg.setdefault(section, {})[key] = value
    with pytest.raises(error) as info:
        run_sweep(load_config(cfg), progress=False)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)
    assert not (tmp_path / "b.nc.cells").exists()


def test_a_backend_given_on_the_command_line_is_checked_even_with_one_job(tmp_path):
    cfg = {**BASE, "out": str(tmp_path / "b.nc")}
    with pytest.raises(ValueError, match="run: backend must be one of .*; got 'nonsense'"):
        run_sweep(load_config(cfg), backend="nonsense", progress=False)


def test_dask_missing_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "dask.distributed", None)  # as if dask were not installed
    cfg = {**BASE, "out": str(tmp_path / "b.nc")}
    with pytest.raises(ModuleNotFoundError, match=r'pip install "gradlab\[dask\]"'):
        run_sweep(load_config(cfg), backend="dask", n_jobs=2, progress=False)
    with pytest.raises(ValueError, match="training_study: seeds must be an integer >= 0, got -1"):
        gl.training.training_study({"kind": "sbn", "hidden": [2]}, [{"name": "st"}], seeds=[-1])
