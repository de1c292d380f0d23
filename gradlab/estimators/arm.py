"""Antithetic estimators for binary variables: ARM (Yin & Zhou 2019) and DisARM (Dong, Mnih & Tucker 2020).

A binary variable is the 2-way categorical with logits ``(l0, l1)``, Bernoulli logit ``a = l1 - l0``. One uniform
``u`` per variable gives two antithetic configurations of all the variables at once, ``b = 1[u < sigma(a)]`` and
``b~ = 1[u > sigma(-a)]`` (``b~`` is ``b`` at ``1 - u``; each is a draw from the model), and the loss is evaluated
at both. The estimates of ``d E[f] / d a_i``:

* ARM (Yin & Zhou 2019, eq. 5 / Thm. 1): ``(f(b~) - f(b)) (u_i - 1/2)``;
* DisARM (Dong et al. 2020, eq. 5): ``1/2 (f(b) - f(b~)) (-1)^{b~_i} 1[b_i != b~_i] sigma(|a_i|)``, ARM with
  ``u_i`` integrated out given the pair (its variance is never larger, Dong et al. Sec. 3).

Both are unbiased, need the loss at 2 configurations (so they are not layers) and, like ``reinforce``, add the
mean pathwise gradient of the loss in the parameters it uses directly. The gradient in ``(l0, l1)`` is
``(-g, g)``. Losses with per-element values (``S'`` a prefix of the variables' shape) pair each element's
variables with that element's losses, valid when element ``e`` depends only on its own variables.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import torch

from gradlab.core.noise import open_uniform
from gradlab.estimators.base import Estimator, Loss, checked_losses
from gradlab.estimators.multilayer import RESAMPLED_LATER, DrawStrategy

__all__ = ["ARM", "DisARM"]


@dataclasses.dataclass(frozen=True)
class _Antithetic(Estimator):
    """The common part of ARM and DisARM: the antithetic pair, the two loss values, the surrogate."""

    pathwise: ClassVar[bool] = False
    categories: ClassVar[int | None] = 2
    draw_strategy: ClassVar[DrawStrategy] = RESAMPLED_LATER  # on a multi-layer model (estimators.multilayer)
    unbiased: ClassVar[bool] = True

    @property
    def loss_evaluations(self) -> int:
        return 2

    def num_uniforms(self, event_shape: tuple[int, ...]) -> int:
        return math.prod(event_shape[:-1])  # one per binary variable

    def _coefficient(self, diff, a, u, b, b_anti) -> torch.Tensor:
        """``d E[f] / d a`` per variable from ``diff = f(b) - f(b~)`` (broadcast to the variables)."""
        raise NotImplementedError

    def surrogate(self, logits: torch.Tensor, loss: Loss, uniforms: torch.Tensor) -> torch.Tensor:
        sample_ndim, event = self._split(logits, uniforms)
        a = logits[..., 1] - logits[..., 0]  # (*sample, *S)
        u = open_uniform(uniforms).reshape(a.shape)
        ad = a.detach()
        b = u < torch.sigmoid(ad)
        b_anti = u > torch.sigmoid(-ad)
        pair = torch.stack([b, b_anti]).to(logits.dtype)  # (2, *sample, *S)
        x = torch.stack([1 - pair, pair], dim=-1)  # one-hot, (2, *sample, *S, 2), no gradient
        values = loss(x)
        lead = (2, *logits.shape[:sample_ndim])
        checked_losses(self.name, values, x, lead, event)
        diff = (values[0] - values[1]).detach()  # (*sample, *E)
        per_var = diff.reshape(tuple(diff.shape) + (1,) * (a.ndim - diff.ndim))  # broadcast to (*sample, *S)
        g = self._coefficient(per_var, ad, u, b, b_anti)
        # value 0, gradient g; a masked category (a = +-inf) gets 0, not 0 * inf
        delta = torch.where(torch.isfinite(ad), a - ad, torch.zeros_like(ad))
        score = g * delta
        if score.ndim > values.ndim - 1:
            score = score.sum(dim=tuple(range(values.ndim - 1, score.ndim)))
        return values.mean(dim=0) + score


@dataclasses.dataclass(frozen=True)
class ARM(_Antithetic):
    """ARM (Yin & Zhou 2019): ``(f(b~) - f(b)) (u - 1/2)`` per binary variable (module docstring)."""

    name: ClassVar[str] = "arm"
    summary: ClassVar[str] = "ARM (Yin & Zhou 2019): antithetic pair b, b~; (f(b~) - f(b))(u - 1/2); binary, unbiased"

    def _coefficient(self, diff, a, u, b, b_anti) -> torch.Tensor:
        return -diff * (u - 0.5)


@dataclasses.dataclass(frozen=True)
class DisARM(_Antithetic):
    """DisARM (Dong et al. 2020): ARM with ``u`` integrated out given the pair (module docstring)."""

    name: ClassVar[str] = "disarm"
    summary: ClassVar[str] = (
        "DisARM (Dong et al. 2020): 1/2 (f(b) - f(b~)) (-1)^b~ 1[b != b~] sigma(|a|); binary, unbiased"
    )

    def _coefficient(self, diff, a, u, b, b_anti) -> torch.Tensor:
        sign = 1.0 - 2.0 * b_anti.to(a.dtype)  # (-1)^{b~}
        return 0.5 * diff * sign * (b != b_anti).to(a.dtype) * torch.sigmoid(a.abs())
