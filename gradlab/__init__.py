"""gradlab: bias, variance and gradient gap of gradient estimators for discrete random variables.

See README.md for the tour and docs/ for the estimators and the papers.
"""

from __future__ import annotations

from gradlab.core.version import __version__

# Everything else is imported on first use (PEP 562), so `gradlab --help` and `import gradlab` cost no torch import:
# name -> (submodule, attribute or None for the submodule itself)
_LAZY = {
    **{m: (m, None) for m in ("analysis", "estimators", "problems", "training")},
    **{m: (f"core.{m}", None) for m in ("distributions", "names", "results")},
    "random": ("core.noise", None),
    "plots": ("viz.plots", None),
    "bias_variance": ("analysis", "bias_variance"),
    **{
        k: ("estimators", k)
        for k in ("Estimator", "PathwiseEstimator", "available_estimators", "estimator", "register_estimator")
    },
    "straight_through": ("estimators", "straight_through"),
    "set_validation": ("core.checks", "set_validation"),
    "validation_enabled": ("core.checks", "validation_enabled"),
    "exact_expectation": ("measure.exact", "exact_expectation"),
    "exact_gradient": ("measure.exact", "exact_gradient"),
    "sample_gradients": ("measure.sampler", "sample_gradients"),
    "GradientStats": ("measure.stats", "GradientStats"),
    "history_dataset": ("training", "history_dataset"),
    "train": ("training", "train"),
}

__all__ = [
    "__version__",
    "Estimator",
    "PathwiseEstimator",
    "available_estimators",
    "estimator",
    "register_estimator",
    "straight_through",
    "set_validation",
    "validation_enabled",
    "distributions",
    "estimators",
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
    """Import a public name's module on first use and cache the name in the package."""
    if name not in _LAZY:
        raise AttributeError(f"module 'gradlab' has no attribute {name!r}")
    import importlib

    module, attr = _LAZY[name]
    mod = importlib.import_module(f".{module}", __name__)
    value = mod if attr is None else getattr(mod, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
