"""Analysis: bias and variance, gradient gap, Pareto frontiers, unbiasedness tests."""

from __future__ import annotations

from .bias_variance import bias_variance, mse_of_mean, normalized_bias_std, samples_to_beat, squared_bias
from .gradient_gap import Relaxation, gradient_gap
from .pareto import pareto_front, pareto_mask
from .unbiasedness import UnbiasednessResult, unbiasedness_test

__all__ = [
    "bias_variance",
    "squared_bias",
    "mse_of_mean",
    "samples_to_beat",
    "normalized_bias_std",
    "gradient_gap",
    "Relaxation",
    "pareto_front",
    "pareto_mask",
    "unbiasedness_test",
    "UnbiasednessResult",
]
