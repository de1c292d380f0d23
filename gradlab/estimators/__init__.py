"""Estimator registry: names -> classes.

``estimator(name, **hparams)`` builds one (hyper-parameters validated at construction);
``available_estimators()`` lists the names; ``register_estimator`` adds your own.
"""

from __future__ import annotations

import dataclasses

from gradlab.estimators.arm import ARM, DisARM
from gradlab.estimators.arsm import ARSM
from gradlab.estimators.base import Estimator, categorical_sample, one_hot, straight_through
from gradlab.estimators.gumbel import DecoupledST, GumbelRao, GumbelSoftmax, GumbelSoftmaxST
from gradlab.estimators.pathwise import CategoricalForward, PathwiseEstimator
from gradlab.estimators.rao_blackwell import RaoBlackwellReinforce
from gradlab.estimators.rebar import REBAR, RELAX
from gradlab.estimators.reinforce import Reinforce
from gradlab.estimators.reinmax import ReinMax
from gradlab.estimators.sparsemax import GumbelEntmax, GumbelSparsemax, HardConcrete
from gradlab.estimators.ste import GappedST, IdentityStraightThrough, StraightThrough
from gradlab.estimators.unordered import PriorityReinforce, UnorderedSet
from gradlab.estimators.zgr import DARN, STZGR, ZGR

LAYER = 1  # this folder's layer, bottom up (tests/test_layers.py, docs/ARCHITECTURE.md)

__all__ = [
    "Estimator",
    "PathwiseEstimator",
    "CategoricalForward",
    "REGISTRY",
    "available_estimators",
    "estimator",
    "register_estimator",
    "estimator_class",
    "straight_through",
    "one_hot",
    "categorical_sample",
]

BUILTIN: tuple[type[Estimator], ...] = (
    StraightThrough,
    IdentityStraightThrough,
    GumbelSoftmax,
    GumbelSoftmaxST,
    DecoupledST,
    GumbelRao,
    DARN,
    ZGR,
    STZGR,
    ReinMax,
    Reinforce,
    ARM,
    DisARM,
    ARSM,
    REBAR,
    RELAX,
    RaoBlackwellReinforce,
    UnorderedSet,
    PriorityReinforce,
    GumbelSparsemax,
    GumbelEntmax,
    HardConcrete,
    GappedST,
)

REGISTRY: dict[str, type[Estimator]] = {cls.name: cls for cls in BUILTIN}


def register_estimator(cls: type[Estimator] | None = None, *, name: str | None = None, replace: bool = False):
    """Register an :class:`Estimator` subclass under ``name`` (default: ``cls.name``).

    Usable as a decorator (``@register_estimator``) or a call (``register_estimator(MyEst)``). Raises if
    the name is taken, unless ``replace=True``.
    """

    def _register(c: type[Estimator]) -> type[Estimator]:
        if not (isinstance(c, type) and issubclass(c, Estimator)):
            raise TypeError(f"register_estimator: expected a subclass of gradlab.Estimator, got {c!r}")
        key = name or c.name
        if not isinstance(key, str) or not key.isidentifier():
            raise ValueError(f"register_estimator: name must be an identifier-like string, got {key!r}")
        if key in REGISTRY and REGISTRY[key] is not c and not replace:
            raise ValueError(
                f"register_estimator: name {key!r} is already registered to {REGISTRY[key].__name__}; "
                "pass replace=True to override"
            )
        if c.name != key:
            c.name = key  # the label and error messages use the registered name
        REGISTRY[key] = c
        return c

    return _register if cls is None else _register(cls)


def available_estimators() -> list[str]:
    """Registered estimator names, sorted."""
    return sorted(REGISTRY)


def estimator_class(name: str) -> type[Estimator]:
    if name not in REGISTRY:
        raise ValueError(f"unknown estimator {name!r}; known estimators: {', '.join(available_estimators())}")
    return REGISTRY[name]


def estimator(name: str, **hparams: object) -> Estimator:
    """Build the estimator registered as ``name`` with validated hyper-parameters."""
    cls = estimator_class(name)

    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(hparams) - known
    if unknown:
        import difflib

        close = {u: difflib.get_close_matches(u, sorted(known), n=1) for u in sorted(unknown)}
        hints = "".join(f"; did you mean {c[0]!r} for {u!r}?" for u, c in close.items() if c)
        raise TypeError(
            f"{name}: unknown hyper-parameter(s) {', '.join(sorted(unknown))}; "
            f"accepted: {', '.join(sorted(known)) or 'none'}{hints}"
        )
    return cls(**hparams)
