"""gradlab: bias, variance and gradient gap of gradient estimators for discrete random variables.

See README.md for the tour; ``ESTIMATORS.md`` (shared) for the mathematics.
"""

from __future__ import annotations

from . import analysis, distributions, names, problems, random, results, training
from ._version import __version__  # noqa: E402
from .analysis import bias_variance
from .estimators import (
    Estimator,
    PathwiseEstimator,
    available_estimators,
    estimator,
    register_estimator,
    straight_through,
)
from .exact import exact_expectation, exact_gradient
from .sampler import sample_gradients
from .stats import GradientStats
from .training import history_dataset, train

__all__ = [
    "__version__",
    "Estimator",
    "PathwiseEstimator",
    "available_estimators",
    "estimator",
    "register_estimator",
    "straight_through",
    "distributions",
    "random",
    "problems",
    "exact_expectation",
    "exact_gradient",
    "sample_gradients",
    "GradientStats",
    "train",
    "history_dataset",
    "training",
    "bias_variance",
    "analysis",
    "results",
    "names",
    "plots",
]


def __getattr__(name: str):
    """``gl.plots`` is imported on first use (it imports matplotlib)."""
    if name == "plots":
        import importlib

        return importlib.import_module(".plots", __name__)
    raise AttributeError(f"module 'gradlab' has no attribute {name!r}")
