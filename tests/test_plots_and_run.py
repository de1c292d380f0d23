"""Figures (smoke tests on tiny results) and the quick main job end to end."""

from __future__ import annotations

import dataclasses
import json
from typing import ClassVar  # at module level: dataclasses recognise a string ClassVar through the module's names

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
import xarray as xr

import gradlab as gl
from gradlab.cli import main as cli
from gradlab.core import names as N
from gradlab.core.results import read_netcdf
from gradlab.sweep import run_sweep
from gradlab.viz import figures, plots
from gradlab.viz.styles import varied_field


@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory):
    d = tmp_path_factory.mktemp("sweep")
    cfg = {
        "name": "tiny",
        "out": str(d / "tiny.nc"),
        "problem": {"kind": "single", "num_classes": 4},
        "sampling": {"n": 300, "seeds": [0], "bootstrap": 20},
        "estimators": [
            {"name": "gs_st", "t": [0.1, 0.5, 1.0]},
            {"name": "gr_mc", "t": [0.1, 1.0], "m": 5},
            {"name": "zgr"},
            {"name": "st", "t": [1.0, 2.0]},
            {"name": "reinforce", "m": 2},
        ],
    }
    return run_sweep(cfg, progress=False), d


def test_temperature_and_pareto_figures(tiny_sweep, tmp_path):
    ds, _ = tiny_sweep
    sub = ds.isel(seed=0)
    for fig in (plots.plot_vs_temperature(sub), plots.plot_pareto(sub)):
        path = plots.save_figure(fig, tmp_path / "f.png")
        assert path.stat().st_size > 5000


def test_gradlab_plot_cli(tiny_sweep, capsys):
    ds, d = tiny_sweep
    assert cli.main(["plot", str(d / "tiny.nc")]) == 0
    assert (d / "tiny_vs_temperature.png").is_file() and (d / "tiny_pareto.png").is_file()


def test_tau_grid_and_quantization_figures(tmp_path):
    cfg = {
        "name": "grid",
        "out": str(tmp_path / "grid.nc"),
        "problem": {"kind": "single", "num_classes": 3},
        "sampling": {"n": 200, "gradient_gap": True},
        "estimators": [{"name": "decoupled_st", "tau_f": [0.5, 1.0], "tau_b": [0.5, 2.0]}],
    }
    run_sweep(cfg, progress=False)
    written = figures.plot_results(tmp_path / "grid.nc")
    assert {p.name for p in written} == {"grid_bias_variance.png", "grid_gradient_gap.png"}
    qcfg = {
        "name": "q",
        "out": str(tmp_path / "q.nc"),
        "problem": {
            "kind": "quantization",
            "eta": {"linspace": [-0.5, 3.5, 5]},
            "loss": ["linear", "sigmoid"],
            "noise": ["logistic", "triangular"],
        },
        "sampling": {"n": 200},
        "estimators": [{"name": "zgr"}, {"name": "st"}],
    }
    ds = run_sweep(qcfg, progress=False)
    assert dict(ds["grad_mean"].sizes) == {"eta": 5, "loss": 2, "noise": 2, N.ESTIMATOR: 2, N.SEED: 1, N.PARAM: 1}
    assert [p.name for p in figures.plot_results(tmp_path / "q.nc")] == ["q_quantization.png"]


def test_convergence_figure(tmp_path):
    t = np.geomspace(0.1, 0.001, 6)
    fig = plots.plot_convergence([{"label": "t^2", "t": t, "error": t**2, "order": 2.0}])
    assert plots.save_figure(fig, tmp_path / "c.png").stat().st_size > 5000


@pytest.mark.slow
def test_run_quick_end_to_end(tmp_path, monkeypatch, capsys):
    """`gradlab run --quick`: snapshot, netCDF with the expected variables and no NaN, figures, summary."""
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", "--quick", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "Pareto-optimal (upper 95 % bounds of squared bias and variance):" in out
    assert "a negative value means the bias is below the sampling noise" in out
    ds = read_netcdf(tmp_path / "results" / "run_quick.nc")
    for var in (N.BIAS2, N.VARIANCE, N.MSE, N.BIAS2 + N.LO, N.BIAS2 + N.HI, N.COSINE):
        assert var in ds and not np.isnan(ds[var].values).any(), var
    fams = set(ds[N.FAMILY].values.tolist())
    papers = {"gs", "gs_st", "gr_mc", "st", "st_zgr", "zgr", "reinforce", "reinmax", "decoupled_st"}
    assert fams == papers | {"gapped_st", "rebar", "unordered_set"}  # and the peers' estimators of quick mode
    assert set(ds["m"].values[ds[N.FAMILY].values == "gr_mc"]) == {10.0, 100.0}
    assert ds.attrs["reference"] == '{"kind": "exact"}' and "snapshot" in ds.attrs["problem_config"]
    for name in ("run_quick_vs_temperature.png", "run_quick_pareto.png", "run_quick_decoupled.png"):
        assert (tmp_path / "results" / "figures" / name).stat().st_size > 5000
    assert not (tmp_path / "figures").exists()  # nothing beside a repository's tracked figures/ (issue 12, item 7)
    assert (ds[N.BIAS2 + N.LO] <= ds[N.BIAS2 + N.HI]).all() and (ds[N.VARIANCE] > 0).all()
    for var in (N.BIAS2, N.VARIANCE, N.MSE):  # the point estimate lies inside its own interval, every cell
        assert (ds[var + N.LO] <= ds[var]).all() and (ds[var] <= ds[var + N.HI]).all(), var
    for var in ds.data_vars:  # self-describing
        assert ds[var].attrs.get("long_name") and "units" in ds[var].attrs, var
    own = ds[N.TARGET].values != gl.estimators.base.TARGET_MODEL
    assert set(ds["tau_f"].values[own]) == {0.5, 2.0} and (ds[N.FAMILY].values[own] == "decoupled_st").all()
    assert json.loads(ds.attrs["config"])["sampling"]["n"] == 200
    assert "CategoricalVAE" in str(ds[N.PROBLEM].values)
    # resumable: a second run reuses the snapshot and every cell
    assert cli.main(["run", "--quick", "--no-progress"]) == 0
    again = read_netcdf(tmp_path / "results" / "run_quick.nc")
    timing = ["seconds", N.SECONDS_PER_SAMPLE]
    xr.testing.assert_allclose(again.drop_vars(timing), ds.drop_vars(timing))
    # `gradlab plot` draws the run's figures again from the netCDF alone, pixel for pixel (issue 12, item 6)
    assert cli.main(["plot", "results/run_quick.nc", "--out", "replot"]) == 0
    import matplotlib.image as mpimg

    for name in ("run_quick_vs_temperature.png", "run_quick_pareto.png", "run_quick_decoupled.png"):
        a, b = mpimg.imread(tmp_path / "results" / "figures" / name), mpimg.imread(tmp_path / "replot" / name)
        assert a.shape == b.shape and np.array_equal(a, b), name
    # a netCDF that is not a bias-variance result: one line naming the file and what it lacks
    xr.Dataset({"x": ("i", np.arange(3.0))}).to_netcdf(tmp_path / "other.nc")
    capsys.readouterr()
    assert cli.main(["plot", "other.nc"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "gradlab plot: error: plot: other.nc is not a gradlab result: it has no bias2, variance, family; gradlab "
        "plot draws the results of gradlab run, sweep and study, and training histories"
    )
    assert cli.main(["plot", "missing.nc"]) == 2 and "missing.nc does not exist" in capsys.readouterr().err


def test_demo_prints_intervals_that_contain_their_estimates(capsys):
    import re

    assert cli.main(["demo", "--n", "3000"]) == 0
    out = capsys.readouterr().out
    rows = re.findall(r"^(\S+)\s+(-?[\d.e+-]+)\s+\[(-?[\d.e+-]+), (-?[\d.e+-]+)\]\s+([\d.e+-]+)( +0)?$", out, re.M)
    assert len(rows) == 10, out
    for label, b2, lo, hi, _var, zero in rows:
        slack = 5e-3 * abs(float(b2))  # bounds print 3 significant digits, the estimate 4 (lo == b2 when b2 < 0)
        assert float(lo) - slack <= float(b2) <= float(hi) + slack, label
        assert bool(zero) == (float(lo) <= 0), label
    assert "A negative squared bias means the bias is below the sampling noise" in out


def test_run_reference_options_are_checked_before_any_work(tmp_path):
    from pathlib import Path

    from gradlab.jobs.main_job import RunSettings, run_config
    from gradlab.sweep import load_config, plan_cells

    s = RunSettings(out=tmp_path, reference="samples", reference_n=500).resolved()
    cfg = load_config(run_config(s, Path(tmp_path / "snap.pt")))
    assert cfg.reference == {"kind": "estimator", "name": "reinforce", "m": 4, "n": 500}
    decoupled = [c for c in plan_cells(cfg) if c.estimator_name == "decoupled_st"]
    assert decoupled and {dict(c.hparams)["tau_f"] for c in decoupled} == {1.0}  # own-target cells need exact
    assert RunSettings(num_vars=16, num_classes=16).resolved().reference == "samples"  # auto
    with pytest.raises(ValueError, match="reference='exact' needs an enumerable latent space"):
        RunSettings(num_vars=16, num_classes=16, reference="exact").resolved()
    with pytest.raises(ValueError, match="reference must be one of"):
        RunSettings(reference="rf4").resolved()
    assert not list(tmp_path.iterdir())  # nothing was trained or written


def test_figure_groups_ask_the_estimators_what_varies():
    """A family's curve runs along the hyper-parameter its estimator declares (varied_field: alpha for ST-ZGR,
    tau_b for decoupled ST, the temperature otherwise); defaults left out of labels stay out of legends."""
    from gradlab.core.results import estimator_coords

    ests = [gl.estimator("st_zgr", t=2.0, alpha=a) for a in (0.25, 0.75)] + [
        gl.estimator("reinforce", m=2),
        gl.estimator("reinforce", m=1, baseline="none"),
    ]
    ests += [gl.estimator("decoupled_st", tau_f=0.5, tau_b=b) for b in (1.0, 2.0)]
    coords = estimator_coords([e.label for e in ests], [e.name for e in ests], [e.hparams() for e in ests])
    ds = xr.Dataset({N.BIAS2: (N.ESTIMATOR, np.ones(len(ests)))}, coords=coords)
    groups = plots._groups(ds)
    assert groups == {
        "st_zgr(t=2)": [0, 1],
        "reinforce(m=2)": [2],
        "reinforce(m=1, baseline=none)": [3],
        "decoupled_st(tau_f=0.5, backward=gumbel_logits)": [4, 5],
    }
    assert [varied_field(gl.estimators.REGISTRY[n]) for n in ("st_zgr", "decoupled_st", "gr_mc", "zgr")] == [
        "alpha",
        "tau_b",
        "t",
        None,
    ]


def test_a_users_estimator_with_its_own_hyper_parameters_in_sweeps_and_figures(tmp_path):
    """A registered estimator whose temperature is ``tau`` and with a second hyper-parameter ``ratio`` (names
    gradlab has no table for): a sweep over both gathers them as coordinates, the figures draw one curve per
    ``ratio`` along ``tau`` (the x data are the tau values), and the vs-temperature figure includes it."""

    @dataclasses.dataclass(frozen=True)
    class Tempered(gl.PathwiseEstimator):
        tau: float = 1.0
        ratio: float = 2.0
        name: ClassVar[str] = "tempered_test"
        temperature_fields: ClassVar[tuple[str, ...]] = ("tau",)

        def _plugin_sample(self, logits, gumbel):
            z = torch.log_softmax(logits, -1) + gumbel
            hard = gl.estimators.one_hot(z.argmax(-1), logits.shape[-1], logits.dtype)
            return gl.straight_through(hard, torch.softmax(z / (self.ratio * self.tau), -1))

    gl.register_estimator(Tempered)
    try:
        cfg = {
            "name": "own",
            "out": str(tmp_path / "own.nc"),
            "problem": {"kind": "single", "num_classes": 4},
            "sampling": {"n": 200, "seeds": [0], "bootstrap": 10},
            "estimators": [{"name": "tempered_test", "tau": [0.5, 1.0, 2.0], "ratio": [1.0, 3.0]}, {"name": "zgr"}],
        }
        ds = run_sweep(cfg, progress=False)
        assert (
            list(ds["ratio"].values[:6]) == [1.0, 3.0] * 3
            and list(ds["tau"].values[:6]) == [0.5] * 2 + [1.0] * 2 + [2.0] * 2
        )
        groups = plots._groups(ds)
        assert groups == {"tempered_test(ratio=1)": [0, 2, 4], "tempered_test(ratio=3)": [1, 3, 5], "zgr": [6]}
        fig = plots.plot_vs_temperature(ds)
        curves = [line for line in fig.axes[1].get_lines() if line.get_label().startswith("tempered_test")]
        assert [list(line.get_xdata()) for line in curves] == [[0.5, 1.0, 2.0]] * 2
        assert fig.axes[0].get_xlabel() == "temperature tau"
        written = figures.result_figures(ds, tmp_path, "own")
        assert sorted(p.name for p in written) == ["own_pareto.png", "own_vs_temperature.png"]
    finally:
        gl.estimators.REGISTRY.pop("tempered_test")


def test_a_hyper_parameter_named_like_a_dimension_is_not_read_as_one():
    """RELAX's ``seed`` hyper-parameter beside a result's ``seed`` dimension: the figures group RELAX along
    ``steps`` with its other hyper-parameters (``gradlab plot`` of a RELAX sweep raised an IndexError)."""
    from gradlab.core.results import estimator_coords

    ests = [gl.estimator("relax", steps=s) for s in (5, 10)]
    coords = estimator_coords([e.label for e in ests], [e.name for e in ests], [e.hparams() for e in ests])
    coords[N.SEED] = [0]
    ds = xr.Dataset({N.BIAS2: ((N.ESTIMATOR, N.SEED), np.ones((2, 1)))}, coords=coords)
    assert plots._groups(ds) == {"relax(t=0.5, eta=1)": [0, 1]}


def test_a_sweep_over_problem_settings_gets_figures_per_grid_point(tmp_path):
    """``gradlab plot`` of a sweep with a problem axis drew the first grid point alone, without saying so; now one
    set of figures per point, the point in the file name and the title, the subject from the problem registry."""
    from gradlab.sweep import load_config, run_sweep

    cfg = {
        "out": str(tmp_path / "grid.nc"),
        "problem": {"kind": "single", "num_classes": 4, "logits_seed": [0, 1]},
        "sampling": {"n": 200, "seeds": [0], "bootstrap": 10},
        "estimators": [{"name": "gs_st", "t": [0.5, 1.0]}, {"name": "zgr"}],
    }
    ds = run_sweep(load_config(cfg), progress=False)
    written = figures.result_figures(ds, tmp_path, "grid")
    assert sorted(p.name for p in written) == [
        f"grid_logits_seed{i}_{kind}.png" for i in (0, 1) for kind in ("pareto", "vs_temperature")
    ]
    assert figures._subject(ds) == "one categorical variable"


def test_the_pareto_legend_names_the_marked_temperature_only_where_it_was_drawn():
    """The Pareto figure circles the settings at t = 2 and names that in its legend; a result with no setting at
    t = 2 had the legend entry all the same (seen on a REBAR / RELAX sweep)."""
    prob = gl.problems.build.build_problem({"kind": "single", "num_classes": 4})
    exact = gl.exact_gradient(prob)

    def legend(ts):
        stats = {e.label: gl.sample_gradients(prob, e, 200, seed=0) for e in [gl.estimator("st", t=t) for t in ts]}
        fig = plots.plot_pareto(gl.bias_variance(stats, exact))
        return [t.get_text() for t in fig.axes[0].get_legend().get_texts()]

    assert "t = 2" not in legend([0.5, 1.0])
    assert "t = 2" in legend([1.0, 2.0])
