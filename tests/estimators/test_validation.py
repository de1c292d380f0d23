"""Invalid logits (NaN, +inf, a variable whose every logit is -inf) are a one-line ValueError naming the argument,
for every registered estimator, through every entry point; ``gradlab.set_validation(False)`` turns the check off."""

from __future__ import annotations

import math

import pytest
import torch

import gradlab as gl

BAD = {
    "nan": [0.0, math.nan],
    "+inf": [0.0, math.inf],
    "all -inf": [-math.inf, -math.inf],
}


@pytest.mark.parametrize("name", gl.available_estimators())
@pytest.mark.parametrize("case", list(BAD))
def test_every_estimator_rejects_logits_without_a_distribution(name, case):
    est = gl.estimator(name)
    k = est.categories or 3
    row = BAD[case] + [0.5] * (k - 2) if case != "all -inf" else [-math.inf] * k
    logits = torch.tensor([row], dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match=rf"^{name}: logits must ") as info:
        est.estimate(logits, lambda x: x.sum(-1), generator=g)
    assert "\n" not in str(info.value)
    if est.pathwise:
        with pytest.raises(ValueError, match=rf"^{name}: logits must "):
            est.sample(logits, generator=g)


def test_a_masked_category_is_allowed_and_the_switch_turns_the_check_off():
    g = torch.Generator().manual_seed(0)
    masked = torch.tensor([[0.0, -math.inf, 1.0]])
    x = gl.estimator("zgr").sample(masked, generator=g)
    assert float(x[0, 1]) == 0.0
    assert gl.validation_enabled()
    try:
        gl.set_validation(False)
        out = gl.estimator("zgr").sample(torch.tensor([[0.0, math.nan, 1.0]]), generator=g)
        assert torch.isnan(out).all()  # unchecked, the NaN flows through: the caller asked for speed
    finally:
        gl.set_validation(True)
    with pytest.raises(TypeError, match="enabled must be True or False"):
        gl.set_validation("no")


def test_one_check_per_public_call_and_every_public_entry_checks():
    """``sample`` and ``estimate`` check the logits once and their nested calls skip it; the skip ends with the
    call, so a direct ``plugin_sample`` or ``surrogate`` afterwards checks again; a sum that overflows to inf (finite
    logits of 3e38) is not mistaken for a bad logit."""
    est, g = gl.estimator("zgr"), torch.Generator().manual_seed(0)
    est.sample(torch.zeros(2, 3), generator=g)
    bad = torch.tensor([[0.0, math.nan, 1.0]])
    u = est.draw_uniforms(torch.zeros(1, 3), g)
    with pytest.raises(ValueError, match="^zgr: logits must be finite"):
        est.plugin_sample(bad, u)
    with pytest.raises(ValueError, match="^zgr: logits must be finite"):
        est.surrogate(bad, lambda x: x.sum((-1, -2)), u)
    huge = torch.full((4, 3), 3e38, dtype=torch.float32)
    assert torch.isinf(huge.sum())
    assert est.sample(huge, generator=g).shape == (4, 3)
