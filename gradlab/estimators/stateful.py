"""Estimators with trained state: the small protocol :class:`Stateful` (RELAX's control variate, REINFORCE's
moving-average baseline), and the functions through which the sampler and training use it. Every other estimator
is stateless, and these functions give it the stateless answers (nothing to fit, no state, unchanged by a step),
so the estimator base carries none of it."""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "Stateful",
    "is_stateful",
    "needs_fit",
    "state_of",
    "with_state",
    "adapts_to_loss",
    "adapted",
    "trains_online",
]


class Stateful:
    """Mixin of an estimator that carries trained state beside its hyper-parameters. It implements ``needs_fit``
    (whether ``fit`` must train the state before a measurement; ``gl.sample_gradients`` then calls the problem's
    ``fitted``), ``fit(logits, loss)``, ``state()`` and ``with_state(state)`` (kept by training checkpoints), and
    may implement ``adapted(loss)`` (the estimator for the next training step: an EMA baseline moves; it then says
    so with ``adapts_to_loss``, and training reads every step's loss for it) and set ``trains_online`` (its state
    takes a step with every training step: RELAX's network)."""

    trains_online: ClassVar[bool] = False

    @property
    def adapts_to_loss(self) -> bool:
        """Whether :meth:`adapted` changes the estimator (training then reads each step's loss; default False)."""
        return False

    @property
    def needs_fit(self) -> bool:
        raise NotImplementedError(f"{type(self).__name__} must say whether it needs a fit (needs_fit)")

    def fit(self, logits, loss):
        raise NotImplementedError(f"{type(self).__name__} must implement fit(logits, loss)")

    def state(self) -> dict | None:
        """The trained state (for checkpoints), or ``None`` before any."""
        return None

    def with_state(self, state: dict | None):
        """A copy holding ``state`` (as returned by :meth:`state`)."""
        return self

    def adapted(self, loss: float):
        """The estimator for the next training step after one whose mean loss per example was ``loss``."""
        return self


def is_stateful(est) -> bool:
    """Whether ``est`` carries a state (fitted, adapted or trained online); a stateless estimator is itself after
    every step."""
    return isinstance(est, Stateful)


def needs_fit(est) -> bool:
    """Whether ``est`` must be fitted before a measurement (False for a stateless estimator)."""
    return isinstance(est, Stateful) and bool(est.needs_fit)


def state_of(est) -> dict | None:
    """``est``'s trained state, ``None`` for a stateless estimator."""
    return est.state() if isinstance(est, Stateful) else None


def with_state(est, state: dict | None):
    """``est`` holding ``state`` (a stateless estimator is returned as it is)."""
    return est.with_state(state) if isinstance(est, Stateful) else est


def adapts_to_loss(est) -> bool:
    """Whether ``est`` changes with each training step's loss (:meth:`Stateful.adapted`; an EMA baseline)."""
    return isinstance(est, Stateful) and bool(est.adapts_to_loss)


def adapted(est, loss: float):
    """``est`` after a training step of mean loss ``loss`` per example (a stateless estimator: itself)."""
    return est.adapted(loss) if isinstance(est, Stateful) else est


def trains_online(est) -> bool:
    """Whether ``est``'s state takes a step with every training step (RELAX)."""
    return isinstance(est, Stateful) and bool(est.trains_online)
