"""Contract test over every registered estimator (built-in or registered by a user)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import pytest
import torch

import gradlab as gl
from gradlab.estimators import REGISTRY

from ..contract import check_binary, check_contract


@pytest.mark.parametrize("name", gl.available_estimators())
def test_contract_default_hparams(name):
    check_contract(gl.estimator(name))


@pytest.mark.parametrize(
    ("name", "hp"),
    [
        ("gr_mc", {"t": 0.5, "m": 1}),
        ("decoupled_st", {"tau_f": 0.3, "tau_b": 2.0, "backward": "gumbel_sum"}),
        ("decoupled_st", {"tau_f": 3.0, "tau_b": 0.5, "backward": "softmax"}),
        ("darn", {"phi_bar": "uniform"}),
        ("reinforce", {"m": 4}),
        ("reinforce", {"m": 1, "baseline": "none"}),
        ("reinforce", {"m": 1, "baseline": "ema"}),
        ("st_zgr", {"t": 2.0, "alpha": 0.0}),
        ("gs_entmax", {"t": 2.0}),
        ("gs_sparsemax", {"t": 3.0}),
    ],
)
def test_contract_other_hparams(name, hp):
    check_contract(gl.estimator(name, **hp))


def test_every_builtin_is_registered_and_listed():
    names = gl.available_estimators()
    for want in [
        "st",
        "identity_st",
        "gs",
        "gs_st",
        "decoupled_st",
        "gr_mc",
        "darn",
        "zgr",
        "st_zgr",
        "reinmax",
        "reinforce",
        "arm",
        "disarm",
    ]:
        assert want in names
    assert names == sorted(names)


def test_unknown_name_lists_known_ones():
    with pytest.raises(ValueError, match="known estimators: arm, arsm, darn, decoupled_st, disarm"):
        gl.estimator("gumbel")


@pytest.mark.parametrize(
    ("name", "hp", "pattern"),
    [
        ("st", {"t": 0.0}, r"st: t must be a finite real number > 0, got 0.0"),
        ("gs", {"t": -1}, r"gs: t must be a finite real number > 0, got -1"),
        ("gs_st", {"t": float("nan")}, r"gs_st: t must be a finite real number > 0"),
        ("gr_mc", {"m": 0}, r"gr_mc: m must be an integer >= 1, got 0"),
        ("gr_mc", {"m": 2.5}, r"gr_mc: m must be an integer >= 1, got float 2.5"),
        ("reinforce", {"m": 1}, r"reinforce: m must be an integer >= 2, got 1"),
        ("reinforce", {"m": 0, "baseline": "none"}, r"reinforce: m must be an integer >= 1, got 0"),
        ("reinforce", {"baseline": "mean"}, r"reinforce: baseline must be one of 'loo', 'none', 'ema'"),
        ("st_zgr", {"alpha": 1.5}, r"st_zgr: alpha must be a real number in \[0, 1\], got 1.5"),
        ("decoupled_st", {"tau_b": 0}, r"decoupled_st: tau_b must be a finite real number > 0, got 0"),
        ("decoupled_st", {"backward": "gumbel"}, r"decoupled_st: backward must be one of 'gumbel_logits'"),
        ("darn", {"phi_bar": "half"}, r"darn: phi_bar must be one of 'mean', 'uniform'; got 'half'"),
        ("zgr", {"t": 1.0}, r"zgr: unknown hyper-parameter\(s\) t; accepted: none"),
    ],
)
def test_hparams_validated_at_construction(name, hp, pattern):
    with pytest.raises((ValueError, TypeError), match=pattern):
        gl.estimator(name, **hp)


def test_bad_logits_and_generator_errors():
    est = gl.estimator("zgr")
    with pytest.raises(ValueError, match=r"zgr: logits must have shape \(..., K\) with K >= 2"):
        est.sample(torch.zeros(3, 1), generator=torch.Generator())
    with pytest.raises(TypeError, match="zgr: logits must be a floating-point tensor"):
        est.sample(torch.zeros(3, 2, dtype=torch.long), generator=torch.Generator())
    with pytest.raises(TypeError, match="generator: expected a torch.Generator or an integer seed; got None"):
        est.sample(torch.zeros(3, 2), generator=None)
    msg = r"zgr: uniforms must have shape \(2, 3\) for logits of shape \(2, 3, 2\), got \(2, 5\)"
    with pytest.raises(ValueError, match=msg):
        est.plugin_sample(torch.zeros(2, 3, 2), torch.rand(2, 5))
    with pytest.raises(TypeError, match="reinforce is a score-function estimator, not a drop-in layer"):
        gl.estimator("reinforce").sample(torch.zeros(3, 2), generator=torch.Generator())


def test_labels_and_hparams():
    est = gl.estimator("gr_mc", t=0.1, m=100)
    assert est.label == "gr_mc(t=0.1,m=100)"
    assert est.hparams() == {"t": 0.1, "m": 100}
    assert gl.estimator("zgr").label == "zgr"
    assert gl.estimator("gr_mc", t=0.1, m=100) == gl.estimator("gr_mc", m=100, t=0.1)  # hashable value objects
    with pytest.raises(dataclasses.FrozenInstanceError):
        est.t = 2.0  # type: ignore[misc]


def test_user_registered_estimator_is_covered_by_the_contract():
    """The README example: a user estimator registered in a few lines satisfies the contract."""

    @gl.register_estimator
    @dataclasses.dataclass(frozen=True)
    class HalfST(gl.PathwiseEstimator):
        """ST with the backward halved (a toy)."""

        scale: float = 0.5
        name: ClassVar[str] = "half_st"
        summary: ClassVar[str] = "toy: ST backward times scale"

        def _plugin_sample(self, logits, gumbel):
            hard = gl.estimators.categorical_sample(logits, gumbel)
            return gl.straight_through(hard, self.scale * torch.softmax(logits, -1))

    try:
        assert "half_st" in gl.available_estimators()
        est = gl.estimator("half_st", scale=0.25)
        check_contract(est)
        with pytest.raises(ValueError, match="already registered"):
            gl.register_estimator(HalfST, name="st")
    finally:
        REGISTRY.pop("half_st", None)


@pytest.mark.parametrize(
    ("name", "hp"),
    [
        ("st", {"t": 1e-3}),
        ("gs", {"t": 1e-3}),
        ("gs_st", {"t": 1e-3}),
        ("st_zgr", {"t": 1e-3, "alpha": 0.3}),
        ("reinmax", {"t": 0.5}),
        ("decoupled_st", {"tau_f": 1e-3, "tau_b": 1e-3}),
        ("decoupled_st", {"tau_f": 2.0, "tau_b": 1e-3, "backward": "gumbel_sum"}),
    ],
)
def test_binary_form_at_low_temperatures(name, hp):
    """The binary closed forms at t = 1e-3 (float64: in float32 the categorical form's own rounding of
    theta + G, divided by t, reaches 1e-5 relative, so the two forms are compared in float64 only)."""
    check_binary(gl.estimator(name, **hp), torch.float64)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_select_is_exactly_where(dtype):
    """``select`` (torch.lerp with weights 0 and 1) returns an operand bit for bit, as ``torch.where``, for
    non-negative operands whose difference is finite (its use: probabilities), from 0 and subnormals to
    half the largest number."""
    from gradlab.estimators.base import select

    g = torch.Generator().manual_seed(0)
    fi = torch.finfo(dtype)
    special = torch.tensor([0.0, fi.tiny / 8, fi.tiny, 1e-30, 0.5, 1.0 - fi.eps / 2, 1.0, fi.max / 2], dtype=dtype)
    a = torch.cat([special, special.flip(0), torch.rand(4096, generator=g, dtype=dtype)])
    b = torch.cat([special.flip(0), special, torch.rand(4096, generator=g, dtype=dtype) * 1e-12])
    x = torch.rand(a.shape, generator=g) < 0.5
    bits = torch.int64 if dtype == torch.float64 else torch.int32
    assert torch.equal(select(x.to(dtype), a, b).view(bits), torch.where(x, a, b).view(bits))


def test_declared_memory_costs_set_the_problems_memory_estimate():
    """Problems ask an estimator what one estimate costs instead of testing its name: loss evaluations
    (REINFORCE's m, ARM's 2) and further copies of the logits (GR-MC's m)."""
    assert [
        gl.estimator(n, **hp).loss_evaluations for n, hp in [("zgr", {}), ("reinforce", {"m": 5}), ("arm", {})]
    ] == [
        1,
        5,
        2,
    ]
    assert (gl.estimator("gr_mc", m=7).extra_logit_copies, gl.estimator("gs_st").extra_logit_copies) == (7, 0)
    vae = gl.problems.CategoricalVAE.on_dataset(gl.problems.digits(), batch_size=8, num_vars=2, num_classes=4)
    base = vae.bytes_per_sample(gl.estimator("zgr"))
    assert vae.bytes_per_sample(gl.estimator("reinforce", m=4)) > base
    assert vae.bytes_per_sample(gl.estimator("gr_mc", m=10)) > vae.bytes_per_sample(gl.estimator("gr_mc", m=1)) > base


def test_has_relaxed_sample_says_where_the_gradient_gap_is_defined():
    """The declared capability agrees with what relaxed_sample does, for every pathwise estimator."""
    for name in gl.available_estimators():
        est = gl.estimator(name)
        if not est.pathwise:
            continue
        logits = torch.zeros(3, est.categories or 4)
        try:
            est.relaxed_sample(logits, est.draw_uniforms(logits, 0))
            works = True
        except TypeError:
            works = False
        assert est.has_relaxed_sample == works, name
