"""Linear temperature schedules over the run (Shah et al.'s App. B), several fields at once, against the formula."""

from __future__ import annotations

import math

import pytest

import gradlab as gl


def test_linear_schedules_of_two_fields_follow_the_formula_and_end_at_their_end():
    model = gl.problems.SigmoidBeliefNet(hidden=(3, 3), batch_size=4)
    n = model.split("train")[0].shape[0]
    per_epoch = math.ceil(n / 400)
    total = 3 * per_epoch
    sched = [{"field": "tau_f", "start": 1.0, "end": 0.3}, {"field": "tau_b", "start": 1.0, "end": 3.0}]
    est = gl.estimator("decoupled_st", tau_f=1.0, tau_b=1.0)
    run = gl.train(model, est, epochs=3, batch_size=400, temperature_schedule=sched)
    for e, rec in enumerate(run.history, start=1):
        step = e * per_epoch - 1  # the last step of the epoch
        assert rec["temperature_tau_f"] == pytest.approx(1.0 - 0.7 * step / (total - 1), rel=1e-14)
        assert rec["temperature_tau_b"] == pytest.approx(1.0 + 2.0 * step / (total - 1), rel=1e-14)
    assert run.history[-1]["temperature_tau_f"] == pytest.approx(0.3, rel=1e-14)
    assert run.settings["evaluation"].endswith("at each epoch's scheduled tau_f")
    assert run.settings["temperature_schedule"][0]["steps"] == total
    fixed = gl.train(model, est, epochs=3, batch_size=400)
    assert fixed.history[-1]["train_loss"] != run.history[-1]["train_loss"]
    with pytest.raises(ValueError, match="one schedule per field"):
        gl.train(model, est, epochs=1, temperature_schedule=[sched[0], sched[0]])
    with pytest.raises(ValueError, match="unknown key\\(s\\) rate"):
        gl.train(model, est, epochs=1, temperature_schedule={"start": 1.0, "end": 0.5, "rate": 1.0})
