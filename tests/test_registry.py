"""Problem registry: built-in kinds, a user's kind in a sweep, typos rejected, multi-layer kinds in sweeps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import gradlab as gl
from gradlab.core import names as N
from gradlab.problems.build import PROBLEMS, build_problem, register_problem
from gradlab.sweep import load_config, run_sweep


def test_builtin_kinds_and_typos():
    assert {"single", "binary", "multi", "quantization", "vae", "sbn", "hvae"} <= set(gl.problems.available_problems())
    with pytest.raises(ValueError, match=r"unknown setting\(s\) \['lss'\] for kind 'single'; it accepts"):
        build_problem({"kind": "single", "lss": "linear"})
    with pytest.raises(ValueError, match="kind must be one of"):
        build_problem({"kind": "singel"})


def test_user_kind_in_a_sweep(tmp_path):
    def build(cfg, dtype, device):
        w = torch.full((3,), float(cfg.get("scale", 1.0)), dtype=dtype)

        def forward(p, draw):
            return (draw(p["logits"]) * w).sum() ** 2

        return gl.problems.StochasticModel(forward, {"logits": torch.tensor([0.1, -0.4, 0.7], dtype=dtype)})

    register_problem("toy", build, ("scale",), "a user's model")
    try:
        ds = run_sweep(
            {
                "out": str(tmp_path / "toy.nc"),
                "problem": {"kind": "toy", "scale": [1.0, 2.0]},
                "sampling": {"n": 500, "bootstrap": 20},
                "estimators": [{"name": "zgr"}, {"name": "reinforce", "m": 2}],
            },
            progress=False,
        )
        assert dict(ds.sizes)["scale"] == 2 and np.isfinite(ds[N.BIAS2].values).all()
    finally:
        PROBLEMS.pop("toy")


def test_multi_layer_kinds_against_reference_samples(tmp_path):
    """An HVAE too large to enumerate (20 images: 16^40 configurations), measured against RF(4) samples
    (eq. 16 two-sample form), the reference computed once per problem point."""
    cfg = load_config(
        {
            "out": str(tmp_path / "hvae.nc"),
            "problem": {"kind": "hvae", "batch_size": 20, "num_vars": 2, "num_classes": 4},
            "reference": {"kind": "estimator", "name": "reinforce", "m": 4, "n": 2000},
            "sampling": {"n": 300, "bootstrap": 20},
            "estimators": [{"name": "st", "t": [1.0, 2.0]}, {"name": "zgr"}],
        }
    )
    ds = run_sweep(cfg, progress=False)
    assert np.isfinite(ds[N.BIAS2 + N.HI].values).all()
    assert len(list(cfg.cells_dir.glob("reference-*.pt"))) == 1  # one reference for all three settings
    assert ds.attrs["reference"].startswith('{"kind": "estimator"')
