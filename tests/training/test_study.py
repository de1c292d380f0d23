"""``gradlab study`` (issue 26): a study killed with SIGKILL resumes training only its missing runs and gives the
uninterrupted study's netCDF; on a real Dask cluster with a worker killed mid-study every run is there with the
in-process numbers; every shipped experiment plans at every scale it offers; bad input is one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

import gradlab as gl
from gradlab.cli import main as cli
from gradlab.study import execute as EX
from gradlab.study import experiments, load_study, plan_runs, run_study

TINY = {
    "name": "tiny",
    "seeds": [0, 1],
    "problem": {"kind": "sbn", "hidden": [8, 8], "dtype": "float32"},
    "train": {"epochs": 3, "lr": 0.01, "batch_size": 200},
    "estimators": [{"name": "st"}, {"name": "zgr"}, {"name": "gs_st", "t": 1.0}],
}


def tiny(out: Path, **over) -> dict:
    return {**TINY, "out": str(out), **over}


def histories_equal(a: xr.Dataset, b: xr.Dataset) -> None:
    """The same histories to the last bit, wall times aside."""
    timing = [v for v in a.data_vars if v == "seconds"]
    xr.testing.assert_identical(a.drop_vars(timing).drop_attrs(), b.drop_vars(timing).drop_attrs())


def test_a_study_is_the_training_study_of_the_same_runs(tmp_path):
    ds = run_study(tiny(tmp_path / "a.nc"), progress=False)
    assert dict(ds.sizes) == {"estimator": 3, "seed": 2, "epoch": 3}
    old = gl.training.training_study(TINY["problem"], TINY["estimators"], seeds=[0, 1], **TINY["train"])
    histories_equal(ds[list(old.data_vars)], old)
    assert json.loads(ds.attrs["config"])["name"] == "tiny" and ds.attrs["kind"] == "training study"
    root = Path(gl.__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True).stdout.strip()
    except OSError:
        head = ""
    assert ds.attrs["git_commit"].split(" ")[0] == (head or "unknown")  # this checkout's commit, where there is one
    assert ds.attrs["command"] and " cores, load average " in ds.attrs["machine"]
    assert ds.attrs["wall_time_s"] == ds.attrs["study_seconds_this_call"] > 0  # a committed history must say it


_KILLED = textwrap.dedent(
    """
    import sys, time, json
    import gradlab.study.runs as R
    from gradlab.study import run_study
    slow = R.compute_run
    def one_at_a_time(cfg, run, on_epoch=None, **kw):
        out = slow(cfg, run, on_epoch, **kw)
        time.sleep(1.0)  # time for the test to kill this process between runs and within them
        return out
    import gradlab.study.execute as E
    E.compute_run = one_at_a_time
    run_study(json.loads(sys.argv[1]), progress=False)
    """
)


@pytest.mark.slow
def test_killed_with_sigkill_it_resumes_with_only_the_missing_runs(tmp_path, monkeypatch):
    out = tmp_path / "killed.nc"
    cfg = tiny(out)
    proc = subprocess.Popen([sys.executable, "-c", _KILLED, json.dumps(cfg)])
    runs_dir = Path(str(out) + ".runs")
    deadline = time.time() + 300
    while time.time() < deadline and len(list(runs_dir.glob("*.json"))) < 2:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    written = len(list(runs_dir.glob("*.json")))
    assert 2 <= written < 6 and not out.exists()
    calls = []
    real = EX.compute_run
    monkeypatch.setattr(
        EX, "compute_run", lambda c, r, on_epoch=None, **kw: calls.append(r.key) or real(c, r, on_epoch, **kw)
    )
    resumed = run_study(cfg, progress=False)
    assert len(calls) == 6 - written  # only the missing runs trained
    histories_equal(resumed, run_study(tiny(tmp_path / "straight.nc"), progress=False))


def test_a_changed_configuration_makes_a_runs_record_stale(tmp_path, monkeypatch):
    out = tmp_path / "s.nc"
    run_study(tiny(out), progress=False)
    calls = []
    real = EX.compute_run
    monkeypatch.setattr(
        EX, "compute_run", lambda c, r, on_epoch=None, **kw: calls.append(r.key) or real(c, r, on_epoch, **kw)
    )
    changed = tiny(out, train={**TINY["train"], "lr": 0.02})
    run_study(changed, progress=False, overwrite=True)
    assert len(calls) == 6  # none of the old records is reused for the new learning rate
    run_study(changed, progress=False)
    assert len(calls) == 6  # and the new ones are, the second time


@pytest.mark.slow
def test_on_a_dask_cluster_with_a_worker_killed_every_run_is_there_with_the_same_numbers(tmp_path):
    """Two worker processes; one is killed as soon as the first run's record is written (the others still
    training): Dask runs its run again elsewhere, and the histories equal the in-process study's."""
    import threading

    from tests.sweep.test_cluster import dask_cluster

    longer = {"train": {**TINY["train"], "epochs": 40, "batch_size": 50}}
    local = run_study(tiny(tmp_path / "local.nc", **longer), progress=False)
    with dask_cluster(tmp_path / "cluster") as (address, workers, _folders, threads):
        torch.set_num_threads(threads)
        killed = []
        runs_dir = tmp_path / "remote.nc.runs"

        def kill_one():
            deadline = time.time() + 600
            while time.time() < deadline and not list(runs_dir.glob("*.json")):
                time.sleep(0.05)
            os.kill(workers[0].pid, signal.SIGKILL)
            killed.append(len(list(runs_dir.glob("*.json"))))

        threading.Thread(target=kill_one, daemon=True).start()
        remote = run_study(tiny(tmp_path / "remote.nc", **longer), backend="dask", scheduler=address, progress=False)
    assert killed and killed[0] < 6  # killed mid-study
    histories_equal(remote, local)


@pytest.mark.parametrize("name", experiments())
def test_every_shipped_experiment_plans_at_every_scale(name, tmp_path, paper_files):
    import tomllib

    from gradlab.study import experiment_source

    scales = tomllib.loads(experiment_source(name))["scales"]
    assert {"digits", "mnist5k-48", "mnist5k-paper", "paper"} <= set(scales)
    for scale in scales:
        data = paper_files if scale.startswith("paper") else None
        cfg = load_study(name, scale=scale, data_path=data, out=tmp_path / f"{scale}.nc")
        assert plan_runs(cfg) and cfg.scale == scale


@pytest.fixture(scope="module")
def paper_files(tmp_path_factory):
    """Stand-in files in the papers' formats: an IDX pair (MNIST, Fashion-MNIST) and an Omniglot chardata.mat."""
    import gzip
    import struct

    root = tmp_path_factory.mktemp("paper_data")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (300, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 300, dtype=np.uint8)
    with gzip.open(root / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">IIII", 2051, 300, 28, 28) + images.tobytes())
    with gzip.open(root / "train-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">II", 2049, 300) + labels.tobytes())
    from scipy.io import savemat

    savemat(root / "chardata.mat", {"data": rng.random((784, 300))})  # Omniglot's layout: 784 x N grey levels
    return str(root)


def test_bad_input_is_one_line_naming_what_is_wrong(tmp_path, capsys):
    cases = [
        (tiny(tmp_path / "a.nc", problem={"kind": "single"}), "problem kind 'single' is not trainable"),
        (
            tiny(
                tmp_path / "a.nc",
                problem={"kind": "cat_ae", "num_vars": 2, "num_classes": 4},
                estimators=[{"name": "arm"}],
            ),
            "CategoricalAutoencoder cannot take arm",
        ),
        (tiny(tmp_path / "a.nc", train={"epochs": 0}), "train.epochs must be an integer >= 1, got 0"),
        (tiny("/etc/hostname/a.nc"), "out's folder '/etc/hostname' is a file"),
        (
            tiny(tmp_path / "a.nc", trajectory={"at_epochs": [0, 5], "estimators": [{"name": "st"}]}),
            "at_epochs must be <= train.epochs = 3, got 5",
        ),
        (tiny(tmp_path / "a.nc", trian={"epochs": 3}), "unknown key 'trian' in [study]; did you mean 'train'?"),
        (tiny(tmp_path / "a.nc", seeds=0), "seeds must be a list of integers >= 0"),
    ]
    for cfg, message in cases:
        with pytest.raises((ValueError, TypeError, PermissionError)) as info:
            run_study(cfg, progress=False)
        assert message in str(info.value) and "\n" not in str(info.value), (message, str(info.value))
    assert not (tmp_path / "a.nc.runs").exists()
    assert cli.main(["study", "no-such-study"]) == 2
    err = capsys.readouterr().err
    assert "neither a configuration file nor a shipped experiment" in err and len(err.strip().splitlines()) == 1
    assert cli.main(["study", "zgr-table1", "--scale", "huge"]) == 2
    assert "scale must be one of 'digits', 'mnist5k-48', 'mnist5k-paper', 'paper'" in capsys.readouterr().err


def test_the_command_line_lists_shows_plans_and_runs(tmp_path, capsys):
    assert cli.main(["study", "--list"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in experiments())
    assert cli.main(["study", "decoupled-sbn", "--show"]) == 0
    assert 'name = "decoupled-sbn"' in capsys.readouterr().out
    toml = tmp_path / "tiny.toml"
    toml.write_text(
        f'name = "tiny"\nout = "{tmp_path / "t.nc"}"\nseeds = [0]\n[problem]\nkind = "sbn"\nhidden = [4]\n'
        '[train]\nepochs = 2\nbatch_size = 400\n[[estimators]]\nname = "st"\n'
    )
    assert cli.main(["study", str(toml), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "1 runs" in out and "an epoch of the first run takes" in out and not (tmp_path / "t.nc").exists()
    assert cli.main(["study", str(toml), "--no-progress"]) == 0
    assert (tmp_path / "t.nc").is_file() and len(list((tmp_path / "t.nc.runs").glob("*.json"))) == 1


def test_plot_draws_what_a_study_supports(tmp_path):
    """A decoupled ST study: the final-metric table (the papers' notation, computed here again), the curves against
    epoch and wall time, and the (tau_f, tau_b) grid."""
    cfg = tiny(
        tmp_path / "grid.nc",
        estimators=[{"name": "decoupled_st", "tau_f": [0.3, 1.0], "tau_b": [1.0, 3.0]}, {"name": "st"}],
    )
    ds = run_study(cfg, progress=False)
    from gradlab.viz.figures import plot_results

    paths = plot_results(tmp_path / "grid.nc", tmp_path / "figs")
    assert sorted(p.name for p in paths) == ["grid_curves.png", "grid_final.md", "grid_tau_grid.png"]
    table = (tmp_path / "figs" / "grid_final.md").read_text()
    last = ds["valid_accuracy"].isel(epoch=-1).sel(estimator="st(t=1)")
    want = f"{float(last.mean()):.4g} ± {float((last.max() - last.min()) / 2):.2g}"
    assert f"| st(t=1) | {want} |" in table


def test_a_trajectory_run_keeps_its_work_until_its_record_is_written(tmp_path, monkeypatch):
    """A trajectory study in this process measures in ``<out>.runs/<key>.work/``: a call stopped after the run's
    measurements but before its record leaves them there, and the next call trains nothing and gives the same
    numbers; once the record is written the folder is gone."""
    from gradlab.training import loop

    cfg = tiny(
        tmp_path / "t.nc",
        estimators=[{"name": "st"}],
        seeds=[0],
        trajectory={"at_epochs": [0, 3], "estimators": [{"name": "zgr"}], "n": 200},
    )

    def stop(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(EX, "_finished", stop)
    with pytest.raises(KeyboardInterrupt):
        run_study(cfg, progress=False)
    runs = tmp_path / "t.nc.runs"
    (work,) = runs.glob("*.work")
    assert (work / "snapshots" / "epoch_0003.pt").is_file()
    monkeypatch.undo()
    monkeypatch.setattr(loop, "_one_epoch", lambda *a: pytest.fail("trained again"))
    ds = run_study(cfg, progress=False)
    assert not list(runs.glob("*.work")) and len(list(runs.glob("*.json"))) == 1
    monkeypatch.undo()
    fresh = run_study({**cfg, "out": str(tmp_path / "u.nc")}, progress=False)
    timing = [v for v in ds.data_vars if "seconds" in v]
    xr.testing.assert_identical(ds.drop_vars(timing).drop_attrs(), fresh.drop_vars(timing).drop_attrs())
