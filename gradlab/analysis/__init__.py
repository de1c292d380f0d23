"""Analysis: bias and variance with intervals, gradient gap, Pareto frontiers, unbiasedness tests."""

from __future__ import annotations

from gradlab.analysis.bias_variance import (
    bias_variance,
    mse_of_mean,
    normalized_bias_std,
    samples_to_beat,
    squared_bias,
    summaries,
)
from gradlab.analysis.gradient_gap import gradient_gap
from gradlab.analysis.pareto import confident_front, pareto_front, pareto_mask
from gradlab.analysis.unbiasedness import UnbiasednessResult, unbiasedness_from_stats, unbiasedness_test
from gradlab.estimators.relaxation import Relaxation
from gradlab.measure.intervals import Intervals, intervals

LAYER = 5  # this folder's layer, bottom up (tests/test_layers.py, docs/ARCHITECTURE.md)

__all__ = [
    "bias_variance",
    "summaries",
    "squared_bias",
    "intervals",
    "Intervals",
    "mse_of_mean",
    "samples_to_beat",
    "normalized_bias_std",
    "gradient_gap",
    "Relaxation",
    "pareto_front",
    "confident_front",
    "pareto_mask",
    "unbiasedness_test",
    "unbiasedness_from_stats",
    "UnbiasednessResult",
]
