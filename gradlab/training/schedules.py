"""Temperature schedules for training: the estimator's temperature set per optimiser step.

Two forms, one per temperature field (several fields may each have one, e.g. decoupled ST's ``tau_f`` and ``tau_b``):

* exponential, Jang et al. (2017, Sec. 4): ``{"start", "min", "rate", "every"}``: ``max(min, start * exp(-rate * s))``
  with ``s`` the step rounded down to a multiple of ``every`` (updated every ``every`` steps);
* linear over the whole run, as Shah et al.'s App. B schedules ("from 1 to 0.3"): ``{"start", "end"}``: ``start +
  (end - start) * s / (S - 1)`` for step ``s`` of ``S`` (the temperature is ``start`` at the first step and ``end``
  at the last).

``field`` names the hyper-parameter (default: the estimator's last temperature, ``t``, or ``tau_b`` for decoupled
ST).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from gradlab.core import checks as _checks
from gradlab.estimators import Estimator

__all__ = ["temperature_at", "check_schedules"]

_EXPONENTIAL = ("start", "min", "rate", "every", "field")
_LINEAR = ("start", "end", "field")


def temperature_at(schedule: Mapping, step: int) -> float:
    """The temperature after ``step`` optimiser steps under one (checked) schedule."""
    if "end" in schedule:
        total = max(schedule["steps"] - 1, 1)
        return schedule["start"] + (schedule["end"] - schedule["start"]) * min(step, total) / total
    held = (step // schedule["every"]) * schedule["every"]
    return max(schedule["min"], schedule["start"] * math.exp(-schedule["rate"] * held))


def check_schedules(estimator: Estimator, schedule: Mapping | Sequence[Mapping] | None, steps: int) -> list[dict]:
    """The schedules of ``schedule`` (one mapping or a list of them) checked and completed (``steps``: the run's
    optimiser steps, for the linear form); ``[]`` for none."""
    if schedule is None:
        return []
    fields = estimator.temperature_fields
    if not fields:
        raise ValueError(f"train: temperature_schedule: {estimator.label} has no temperature to anneal")
    items = [schedule] if isinstance(schedule, Mapping) else list(schedule)
    out = []
    for item in items:
        if not isinstance(item, Mapping):
            raise TypeError(f"train: temperature_schedule must be a table or a list of tables, got {item!r}")
        out.append(_check_one(item, fields, steps))
    named = [s["field"] for s in out]
    if len(set(named)) != len(named):
        raise ValueError(f"train: temperature_schedule: one schedule per field, got fields {named}")
    return out


def _check_one(schedule: Mapping, fields: tuple[str, ...], steps: int) -> dict:
    accepted = _LINEAR if "end" in schedule else _EXPONENTIAL
    unknown = sorted(set(schedule) - set(accepted))
    if unknown:
        raise ValueError(f"train: temperature_schedule: unknown key(s) {', '.join(unknown)}; accepted: {accepted}")
    out = {"field": schedule.get("field", fields[-1])}
    _checks.choice("train", "temperature_schedule field", out["field"], fields)
    out["start"] = _checks.positive_real("train", "temperature_schedule start", schedule.get("start", 1.0))
    if "end" in schedule:
        out["end"] = _checks.positive_real("train", "temperature_schedule end", schedule["end"])
        out["steps"] = steps
        return out
    out["min"] = _checks.positive_real("train", "temperature_schedule min", schedule.get("min", 0.5))
    rate = schedule.get("rate", 1e-4)
    if not isinstance(rate, (int, float)) or not math.isfinite(rate) or rate < 0:
        raise ValueError(f"train: temperature_schedule rate must be a finite real number >= 0, got {rate!r}")
    out["rate"] = float(rate)
    out["every"] = _checks.integer("train", "temperature_schedule every", schedule.get("every", 500), 1)
    return out
