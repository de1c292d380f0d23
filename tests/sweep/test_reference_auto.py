"""Sweeps whose problem axis changes the number of parameters write their result (issue 24, item 6), and a
reference chosen automatically takes exact gradients where the problem is enumerable, per element where it declares
elements_independent (issue 25), and reference samples elsewhere, saying which per problem point."""

from __future__ import annotations

import numpy as np
import pytest

import gradlab as gl
from gradlab.core import names as N
from gradlab.core.noise import task_seed
from gradlab.sweep import load_config, run_sweep


def test_a_problem_axis_that_changes_the_gradients_size_writes_its_result(tmp_path):
    cfg = {
        "name": "sizes",
        "out": str(tmp_path / "sizes.nc"),
        "problem": {"kind": "single", "num_classes": [2, 3]},
        "sampling": {"n": 500, "seeds": [0]},
        "estimators": [{"name": "zgr"}, {"name": "st"}],
    }
    ds = run_sweep(load_config(cfg), progress=False)
    assert ds.sizes["num_classes"] == 2 and ds.sizes[N.PARAM] == 3
    two, three = ds.sel(num_classes=2), ds.sel(num_classes=3)
    assert np.isnan(two["grad_mean"].values[..., 2]).all() and np.isfinite(three["grad_mean"].values).all()
    assert list(two["param_label"].values[:2]) == ["logits[0]", "logits[1]"] and two["param_label"].values[2] == ""
    # each point's numbers are those of the problem measured on its own
    prob = gl.problems.build_problem({"kind": "single", "num_classes": 2})
    exact = gl.exact_gradient(prob)
    mean = two["grad_mean"].sel(estimator="zgr").squeeze().values[:2]
    assert np.abs(mean - exact.numpy()).max() < 0.5  # a sample mean of 500 estimates near the exact gradient
    assert float(two["bias2"].sel(estimator="st(t=1)").squeeze()) > 0


def test_auto_reference_is_exact_where_enumerable_per_element_and_samples_elsewhere(tmp_path):
    cfg = {
        "name": "auto",
        "out": str(tmp_path / "auto.nc"),
        "problem": {"kind": "hvae", "num_vars": [2, 3], "num_classes": 4, "batch_size": 5},
        "reference": {"kind": "auto", "max_configurations": 300, "n": 400},
        "sampling": {"n": 300, "seeds": [0]},
        "estimators": [{"name": "zgr"}],
    }
    ds = run_sweep(load_config(cfg), progress=False)
    # 2 x 4 per layer: 4^2 x 4^2 = 256 configurations per image (5 images: 256^5 jointly) -> exact; 3 x 4: 4096
    assert list(ds["reference_used"].values) == ["exact", "samples"]
    prob = gl.problems.build_problem({"kind": "hvae", "num_vars": 2, "num_classes": 4, "batch_size": 5})
    stats = gl.sample_gradients(prob, gl.estimator("zgr"), 300, seed=task_seed(0, 0))  # the sweep's seed rule
    want = float(gl.bias_variance({"zgr": stats}, gl.exact_gradient(prob))["bias2"].squeeze())
    assert float(ds["bias2"].sel(num_vars=2).squeeze()) == pytest.approx(want, rel=1e-9)
