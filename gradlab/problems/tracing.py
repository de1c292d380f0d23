"""The ``draw`` callable a :class:`~gradlab.problems.stochastic_model.StochasticModel`'s ``forward`` receives: one call
per tensor of categorical variables (``draw.bernoulli`` for binary units), checked against the traced structure."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from gradlab.core.distributions import binary_to_categorical

if TYPE_CHECKING:
    from gradlab.problems.stochastic_model import StochasticModel

__all__ = ["DrawSpec"]


@dataclasses.dataclass(frozen=True)
class DrawSpec:
    """One call of ``draw``: the logits' shape without leading replica axes, ``(*S, K)``."""

    shape: tuple[int, ...]

    @property
    def num_classes(self) -> int:
        return self.shape[-1]

    @property
    def num_vars(self) -> int:
        return math.prod(self.shape[:-1])


class _Drawer:
    """The ``draw`` callable of one ``forward`` call (one sample, one configuration or one trace): checks
    every call against the trace and delegates the sample to ``sample(i, logits)``; ``draw.bernoulli(a)`` to
    ``sample_binary(i, a)`` where given, else to the categorical draw of ``(0, a)``."""

    def __init__(
        self,
        model: StochasticModel,
        sample: Callable,
        target: Callable | None = None,
        sample_binary: Callable | None = None,
    ):
        self.model, self.sample, self.calls = model, sample, 0
        self._target, self._sample_binary = target, sample_binary

    def bernoulli(self, logit: torch.Tensor) -> torch.Tensor:
        """Binary units ``x in {0, 1}``, ``P(x = 1) = sigmoid(logit)``, shape of ``logit``: the draw of the
        categorical logits ``(0, logit)``, component 1."""
        _check_logit(self.model.name, logit)
        if self._sample_binary is None:
            return self(binary_to_categorical(logit))[..., 1]
        self._check(self.calls, (*logit.shape, 2))
        self.calls += 1
        return self._sample_binary(self.calls - 1, logit)

    def forward_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits of the distribution the draws follow: ``softmax(logits / tau_f)`` under decoupled ST, else
        ``logits`` (for analytic terms of the objective, such as a KL, that should follow the draws' target)."""
        return logits if self._target is None else self._target(logits)

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        i = self.calls
        if not isinstance(logits, torch.Tensor):
            raise TypeError(f"{self.model.name}: draw {i} expects a logits tensor, got {type(logits).__name__}")
        self._check(i, tuple(logits.shape))
        self.calls += 1
        return self.sample(i, logits)

    def _check(self, i: int, shape: tuple[int, ...]) -> None:
        specs = self.model.draws
        if i >= len(specs):
            raise ValueError(
                f"{self.model.name}: forward called draw {i + 1} times; the traced structure has {len(specs)} "
                "draws (the number of draws must not depend on the samples)"
            )
        want = specs[i].shape
        if shape != want:
            raise ValueError(
                f"{self.model.name}: draw {i} expects logits of shape {want} as traced (last axis: K = "
                f"{want[-1]} categories; a bernoulli draw counts as K = 2), got {shape}"
            )


def _check_logit(name: str, logit) -> None:
    if not isinstance(logit, torch.Tensor) or not logit.is_floating_point():
        got = f"dtype {logit.dtype}" if isinstance(logit, torch.Tensor) else type(logit).__name__
        raise TypeError(f"{name}: draw.bernoulli expects a floating-point logit tensor, got {got}")
