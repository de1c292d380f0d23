"""Sweeps: grids, parallel backends give identical numbers, interrupted sweeps resume to the same result,
netCDF round trips."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import gradlab as gl
from gradlab.core import names as N
from gradlab.core.results import read_netcdf, write_netcdf
from gradlab.sweep import expand_values, load_config, plan_cells, run_sweep

CONFIG = """
name = "test"
seed = 11
out = "{out}"

[problem]
kind = "quantization"
eta = [0.3, 1.7]
noise = "logistic"
std = 0.5
loss = "sigmoid"

[sampling]
n = {n}
seeds = [0, 1]
bootstrap = 10
gradient_gap = true

[[estimators]]
name = "gs_st"
t = {{logspace = [0.2, 1.0, 2]}}

[[estimators]]
name = "reinforce"
m = 3
"""


def write_config(tmp_path: Path, name: str, n: int = 400) -> Path:
    p = tmp_path / f"{name}.toml"
    p.write_text(CONFIG.format(out=(tmp_path / f"{name}.nc").as_posix(), n=n))
    return p


def test_expand_values():
    assert expand_values(3) == [3]
    assert expand_values([1, 2]) == [1, 2]
    np.testing.assert_allclose(expand_values({"logspace": [0.01, 1.0, 3]}), [0.01, 0.1, 1.0])
    np.testing.assert_allclose(expand_values({"linspace": [0, 1, 3]}), [0, 0.5, 1])
    with pytest.raises(ValueError, match="logspace end values must be > 0"):
        expand_values({"logspace": [0, 1, 3]})
    with pytest.raises(ValueError, match="unknown range kind 'geom'"):
        expand_values({"geom": [1, 2, 3]})


def test_config_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown top-level key"):
        load_config({"problem": {"kind": "single"}, "estimators": [{"name": "zgr"}], "sampler": {}})
    with pytest.raises(ValueError, match="unknown estimator 'zgrr'"):
        load_config({"problem": {"kind": "single"}, "estimators": [{"name": "zgrr"}]})
    with pytest.raises(ValueError, match="gs: t must be a finite real number > 0, got -1"):
        load_config({"problem": {"kind": "single"}, "estimators": [{"name": "gs", "t": [1.0, -1]}]})
    with pytest.raises(FileNotFoundError, match="no configuration file"):
        load_config(tmp_path / "missing.toml")


def test_grid_and_values(tmp_path):
    cfg = load_config(write_config(tmp_path, "grid"))
    cells = plan_cells(cfg)
    assert len(cells) == 2 * 3 * 2 and len({c.key for c in cells}) == len(cells)
    ds = run_sweep(cfg, progress=False)
    assert dict(ds.sizes) == {"eta": 2, N.ESTIMATOR: 3, N.SEED: 2, N.PARAM: 1}
    assert ds[N.FAMILY].values.tolist() == ["gs_st", "gs_st", "reinforce"]
    assert np.isfinite(ds[N.BIAS2].values).all() and np.isfinite(ds[N.VARIANCE].values).all()
    assert np.isnan(ds[N.GAP].sel(estimator="reinforce(m=3)")).all()  # no relaxed sample: recorded as NaN
    # a cell equals a direct computation with the cell's seed
    from gradlab.core.noise import task_seed
    from gradlab.problems.build import build_problem

    prob = build_problem({**cfg.problem, "eta": 1.7})
    st = gl.sample_gradients(prob, gl.estimator("gs_st", t=0.2), 400, seed=task_seed(11, 1), bootstrap=10)
    b2 = gl.analysis.squared_bias(st, gl.exact_gradient(prob))
    assert float(ds[N.BIAS2].sel(eta=1.7, estimator="gs_st(t=0.2)", seed=1)) == pytest.approx(b2, rel=1e-12)
    again = read_netcdf(cfg.out)
    xr.testing.assert_identical(again, read_netcdf(cfg.out))
    xr.testing.assert_allclose(again, ds)


def test_sweep_records_problem_per_cell_target_config_and_auto_n(tmp_path):
    cfg = {
        "name": "auto",
        "out": str(tmp_path / "auto.nc"),
        "problem": {"kind": "single", "num_classes": 4, "logits_seed": [0, 1]},
        "sampling": {"n": "auto", "rtol": 0.1, "min_n": 500, "max_n": 4000},
        "estimators": [{"name": "st", "t": 1.0}, {"name": "decoupled_st", "tau_f": 0.5}],
    }
    ds = run_sweep(load_config(cfg), progress=False)
    direct = gl.sample_gradients(
        gl.problems.build.build_problem({"kind": "single", "num_classes": 4, "logits_seed": 1}),
        gl.estimator("st", t=1.0),
        "auto",
        seed=gl.random.task_seed(0, 0),
        rtol=0.1,
        min_n=500,
        max_n=4000,
        bootstrap=100,
    )
    assert int(ds[N.N_SAMPLES].sel(logits_seed=1, estimator="st(t=1)", seed=0)) == direct.n
    assert set(np.unique(ds[N.N_SAMPLES].values)) <= {500, 1000, 2000, 4000}
    problems = ds[N.PROBLEM].values
    assert problems.shape == (2,) and problems[0] != problems[1]  # one per grid point, not the first one's
    assert ds[N.TARGET].values.tolist()[1].startswith("objective under softmax(logits / 0.5)")
    assert json.loads(ds.attrs["config"])["sampling"]["rtol"] == 0.1
    assert json.loads(read_netcdf(cfg["out"]).attrs["config"]) == json.loads(ds.attrs["config"])
    for var in ds.data_vars:
        assert ds[var].attrs.get("long_name"), var
    with pytest.raises(ValueError, match='n = "auto" needs rtol'):
        load_config({**cfg, "sampling": {"n": "auto"}})


@pytest.mark.slow
def test_n_jobs_and_dask_give_identical_sweeps(tmp_path):
    one = run_sweep(load_config(write_config(tmp_path, "one")), n_jobs=1, progress=False)
    two = run_sweep(load_config(write_config(tmp_path, "two")), n_jobs=2, backend="loky", progress=False)
    import dask.distributed  # noqa: F401  (part of the [test] extra)

    dask = run_sweep(load_config(write_config(tmp_path, "dask")), n_jobs=2, backend="dask", progress=False)
    for other in (two, dask):
        for var in one.data_vars:
            if var in ("seconds", "seconds_per_sample"):
                continue
            np.testing.assert_array_equal(one[var].values, other[var].values, err_msg=var)


def test_partial_then_resume_equals_full(tmp_path):
    full = run_sweep(load_config(write_config(tmp_path, "full")), progress=False)
    cfg = load_config(write_config(tmp_path, "part"))
    assert run_sweep(cfg, progress=False, max_cells=5) is None
    assert len(list(cfg.cells_dir.glob("*.json"))) == 5
    resumed = run_sweep(cfg, progress=False)
    for var in full.data_vars:
        if var not in ("seconds", "seconds_per_sample"):
            np.testing.assert_array_equal(full[var].values, resumed[var].values, err_msg=var)


def test_killed_sweep_resumes(tmp_path):
    """A `gradlab sweep` process killed (SIGKILL) after some cells resumes without recomputing finished
    cells and ends with the same numbers as an uninterrupted sweep."""
    cfg_path = write_config(tmp_path, "killed", n=20_000)
    cfg = load_config(cfg_path)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gradlab.cli.main", "sweep", str(cfg_path), "--no-progress"], env=env
    )
    deadline = time.time() + 120
    while time.time() < deadline and len(list(cfg.cells_dir.glob("*.json"))) < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = {p.name: p.stat().st_mtime_ns for p in cfg.cells_dir.glob("*.json")}
    assert 3 <= len(done) < 12, len(done)
    assert not cfg.out.exists()
    resumed = run_sweep(cfg, progress=False)
    for name, mtime in done.items():  # finished cells were not recomputed
        assert (cfg.cells_dir / name).stat().st_mtime_ns == mtime
    assert not list(cfg.cells_dir.glob(".*.part"))
    full = run_sweep(load_config(write_config(tmp_path, "uninterrupted", n=20_000)), progress=False)
    for var in full.data_vars:
        if var not in ("seconds", "seconds_per_sample"):
            np.testing.assert_allclose(full[var].values, resumed[var].values, rtol=1e-12, err_msg=var)


def test_netcdf_roundtrip(tmp_path):
    prob = gl.problems.build.build_problem({"kind": "single", "num_classes": 4})
    stats = {
        e.label: gl.sample_gradients(prob, e, 500, seed=1, bootstrap=20)
        for e in [gl.estimator("zgr"), gl.estimator("decoupled_st", tau_f=0.5, tau_b=2.0, backward="softmax")]
    }
    ds = gl.analysis.bias_variance(stats, gl.exact_gradient(prob), attrs={"note": "round trip", "count": 3})
    path = write_netcdf(ds, tmp_path / "r.nc")
    back = read_netcdf(path)
    xr.testing.assert_identical(back, ds)
    assert back.attrs["problem"] == ds.attrs["problem"] and back.attrs["count"] == 3
    assert not list(tmp_path.glob(".*.part"))


@pytest.mark.parametrize(
    "name", sorted(p.name for p in (Path(__file__).resolve().parents[2] / "analyses").glob("*.toml"))
)
def test_example_configs_load(name):
    """Every example configuration in analyses/ is valid and plans its grid."""
    cfg = load_config(Path(__file__).resolve().parents[2] / "analyses" / name)
    cells = plan_cells(cfg)
    assert len(cells) >= 2 and len({c.key for c in cells}) == len(cells)


def test_typos_in_every_section_are_errors_naming_the_closest_key():
    """A misspelt key inside [problem], [sampling], [reference] or [run] fails before any work, naming the
    section, the key and the closest valid key (it would otherwise run silently with the default)."""
    from gradlab.sweep import load_config

    base = {"problem": {"kind": "single"}, "estimators": [{"name": "zgr"}]}
    cases = [
        (
            {"problem": {"kind": "single", "lss": "linear"}},
            r"unknown setting\(s\) \['lss'\] for kind 'single'; it accepts .*'lss': did you mean 'loss'",
        ),
        ({"sampling": {"seed": [0, 1]}}, r"unknown key 'seed' in \[sampling\]; did you mean 'seeds'"),
        ({"sampling": {"bootstrp": 100}}, r"'bootstrp' in \[sampling\]; did you mean 'bootstrap'"),
        ({"sampling": {"sampels": 5}}, r"unknown key 'sampels' in \[sampling\]"),
        ({"run": {"n_jobz": 2}}, r"'n_jobz' in \[run\]; did you mean 'n_jobs'"),
        ({"reference": {"kind": "exact", "n": 5}}, r"unknown key 'n' in \[reference\]"),
        ({"reference": {"kind": "estimator", "name": "reinforce", "mm": 4}}, "reinforce: unknown hyper-parameter"),
    ]
    for extra, message in cases:
        with pytest.raises((ValueError, TypeError), match=message):
            load_config({**base, **extra})


def test_list_valued_settings_one_value_or_an_axis(tmp_path):
    """A setting the problem kind declares a sequence (``ProblemKind.sequences``: logits, layer widths) takes a list
    as one value and a list of lists as an axis; each cell equals the problem built directly (seed rule of the
    module: cell seed = task_seed(master seed, replicate))."""
    base = {"sampling": {"n": 300, "seeds": [0]}, "estimators": [{"name": "zgr"}]}
    logits = [0.4, -1.0, 2.0]
    one = {**base, "out": str(tmp_path / "one.nc"), "problem": {"kind": "single", "logits": logits}}
    assert load_config(one).problem_axes() == {}
    ds = run_sweep(load_config(one), progress=False)
    direct = gl.sample_gradients(
        gl.problems.build.build_problem({"kind": "single", "logits": logits}),
        gl.estimator("zgr"),
        300,
        seed=gl.random.task_seed(0, 0),
    )
    np.testing.assert_allclose(ds["grad_mean"].squeeze().values, direct.mean.numpy(), rtol=1e-12)

    problem = {"kind": "sbn", "hidden": [[2, 3], [3, 2]], "batch_size": 1}
    grid = {**base, "out": str(tmp_path / "grid.nc"), "problem": problem}
    assert load_config(grid).problem_axes() == {"hidden": [(2, 3), (3, 2)]}
    ds = run_sweep(load_config(grid), progress=False)
    assert ds["hidden"].values.tolist() == ["[2, 3]", "[3, 2]"]
    sbn = gl.problems.build.build_problem({"kind": "sbn", "hidden": [3, 2], "batch_size": 1})
    direct = gl.sample_gradients(sbn, gl.estimator("zgr"), 300, seed=gl.random.task_seed(0, 0))
    want = gl.bias_variance({"zgr": direct}, gl.exact_gradient(sbn))  # too many parameters for grad_mean
    for var in ("bias2", "variance"):
        got = float(ds[var].sel(hidden="[3, 2]").squeeze())
        assert abs(got / float(want[var].squeeze()) - 1) < 1e-10, var
    assert ds[N.PROBLEM].values[0] != ds[N.PROBLEM].values[1]

    with pytest.raises(ValueError, match=r"problem.hidden: .* a mix of both"):
        load_config({**grid, "problem": {**problem, "hidden": [[2, 3], 4]}}).problem_axes()
