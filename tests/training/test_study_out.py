"""A study's output: a file that records no study configuration is not replaced without --overwrite, and every
committed history records the configuration of the shipped study that writes it, so that running that study (or
its analysis script) on a clone trains and replaces it instead of refusing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import xarray as xr

from gradlab.study import load_study
from gradlab.study.execute import _check_out
from gradlab.study.library import experiments

ROOT = Path(__file__).resolve().parents[2]


def test_a_file_without_a_study_configuration_is_not_replaced(tmp_path):
    out = tmp_path / "foreign.nc"
    xr.Dataset({"x": ("a", [1.0, 2.0])}).to_netcdf(out, engine="h5netcdf")
    cfg = load_study("decoupled-sbn")
    cfg.out = out
    with pytest.raises(
        FileExistsError,
        match=r"foreign.nc exists and records no study configuration \(not a gradlab study result\)",
    ):
        _check_out(cfg, overwrite=False)
    _check_out(cfg, overwrite=True)  # asked for: no error


def test_the_device_is_not_part_of_what_a_study_measures(tmp_path):
    cfg = load_study("decoupled-sbn")
    cfg.out = tmp_path / "sbn.nc"
    written = json.loads(cfg.to_json())
    written["problem"]["device"] = "cuda:0"  # the same study, trained on a GPU
    xr.Dataset(attrs={"config": json.dumps(written)}).to_netcdf(cfg.out, engine="h5netcdf")
    _check_out(cfg, overwrite=False)  # accepted: the history is this study's
    written["train"]["lr"] = 2 * written["train"]["lr"]
    xr.Dataset(attrs={"config": json.dumps(written)}).to_netcdf(cfg.out, engine="h5netcdf")
    with pytest.raises(FileExistsError, match="is not a result of this configuration"):
        _check_out(cfg, overwrite=False)


def test_a_runs_key_does_not_depend_on_the_device():
    from gradlab.study.runs import plan_runs

    keys = [r.key for r in plan_runs(load_study("decoupled-sbn"))]
    assert keys == [r.key for r in plan_runs(load_study("decoupled-sbn", device="cpu"))]
    assert keys != [r.key for r in plan_runs(load_study("decoupled-sbn", scale="mnist5k-48"))]


def test_every_committed_history_is_a_result_of_its_shipped_study(monkeypatch):
    monkeypatch.chdir(ROOT)
    checked = 0
    for name in experiments():
        for scale in ("digits", "mnist5k-48", "mnist5k-paper"):
            cfg = load_study(name, scale=scale)
            if not Path(cfg.out).exists():
                continue
            _check_out(cfg, overwrite=False)  # raises if the history is of another configuration
            with xr.open_dataset(cfg.out, engine="h5netcdf") as ds:
                origin = {k: ds.attrs.get(k, "") for k in ("command", "git_commit", "machine")}
                assert all(origin.values()) and ds.attrs.get("wall_time_s", 0) > 0, (cfg.out, origin)
                assert json.loads(ds.attrs["config"])["problem"].get("dataset", "digits") in cfg.out.parent.name
            checked += 1
    assert checked >= 14  # every digits history at least
