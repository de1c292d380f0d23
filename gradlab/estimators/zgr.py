"""DARN, ZGR and the interpolated ST-ZGR family (Shekhovtsov, ZGR paper).

* ``darn`` — Gregor et al. (2014), ZGR eq. (5): ``J (e_x - phi_bar) d log p(x) / d eta``.
* ``zgr`` — ZGR eq. (13) / Fig. B.1: ``(ST + DARN(p)) / 2``, equal to the cold limit eq. (12).
* ``st_zgr`` — ZGR eq. (17): ``(1 - alpha) ST(t) + alpha ZGR``.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import torch

from gradlab.core import checks as _checks
from gradlab.core.softmax import softmax
from gradlab.estimators.base import select, straight_through
from gradlab.estimators.pathwise import CategoricalForward

PHI_BARS = ("mean", "uniform")


def log_prob_of(probs: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``log p(x)`` from the differentiable probabilities at the sampled index (shape ``(..., 1)``).

    A sampled category has ``p(x) > 0`` (inversion never selects a zero-probability one), so the
    logarithm is finite; only the ``V`` sampled entries are logged, not all ``V K``.
    """
    return torch.log(probs.gather(-1, index))


def zgr_binary_slope(p1: torch.Tensor, p0: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """dx/da of binary ZGR: the derivative of component 1 of :func:`zgr_surrogate` on ``(0, a)``,
    ``(p0 p1 + (x - p1)^2) / 2 = (x - 1/2)(x - p1)``: ``p0 / 2`` at ``x = 1``, ``p1 / 2`` at ``x = 0``. This is
    binary DARN(1/2), as ZGR Cor. 1 states."""
    return 0.5 * select(x, p0, p1)


def zgr_surrogate(hard: torch.Tensor, probs: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Differentiable part of ZGR (Fig. B.1): ``(p + (e_x - sg(p)) log p(x)) / 2``."""
    return 0.5 * (probs + (hard - probs.detach()) * log_prob_of(probs, index))


@dataclasses.dataclass(frozen=True)
class DARN(CategoricalForward):
    """DARN(phi_bar), ZGR eq. (5); ``phi_bar="mean"``: ``p``; ``"uniform"``: ``1/K`` (binary DARN(1/2))."""

    phi_bar: str = "mean"

    name: ClassVar[str] = "darn"
    summary: ClassVar[str] = "DARN: J(e_x - phi_bar) dlog p(x)/deta (eq. 5); phi_bar = p ('mean') or 1/K ('uniform')"

    def __post_init__(self) -> None:
        _checks.choice(self.name, "phi_bar", self.phi_bar, PHI_BARS)

    def _backward(self, logits, probs, index, hard):
        phi_bar = probs.detach() if self.phi_bar == "mean" else 1.0 / logits.shape[-1]
        return straight_through(hard, (hard - phi_bar) * log_prob_of(probs, index))

    def _binary_slope(self, logit, p1, p0, x):
        # (x - phi_bar) d log p(x) / da with d log p(x) / da = x - p1 (p0 at x = 1, -p1 at x = 0)
        if self.phi_bar == "uniform":
            return zgr_binary_slope(p1, p0, x)
        return select(x, p0, p1).square()


@dataclasses.dataclass(frozen=True)
class ZGR(CategoricalForward):
    """ZGR, the zero-temperature limit of Gumbel-Rao: ``(ST + DARN(p)) / 2`` (ZGR Thm. 1, eq. 13)."""

    name: ClassVar[str] = "zgr"
    summary: ClassVar[str] = "ZGR: (ST + DARN(mean))/2, the t->0 limit of Gumbel-Rao (eqs. 12-13)"

    def _backward(self, logits, probs, index, hard):
        return straight_through(hard, zgr_surrogate(hard, probs, index))

    def _binary_slope(self, logit, p1, p0, x):
        return zgr_binary_slope(p1, p0, x)


@dataclasses.dataclass(frozen=True)
class STZGR(CategoricalForward):
    """ST(t)-ZGR(alpha): ``(1 - alpha) ST(t) + alpha ZGR`` (ZGR eq. 17)."""

    temperature_fields = ("t",)
    curve_field = "alpha"

    t: float = 1.0
    alpha: float = 0.5

    name: ClassVar[str] = "st_zgr"
    summary: ClassVar[str] = "ST(t)-ZGR interpolation: (1-alpha) ST(t) + alpha ZGR (eq. 17)"

    def __post_init__(self) -> None:
        object.__setattr__(self, "t", _checks.positive_real(self.name, "t", self.t))
        object.__setattr__(self, "alpha", _checks.unit_interval(self.name, "alpha", self.alpha))

    def _backward(self, logits, probs, index, hard):
        st = probs if self.t == 1.0 else softmax(logits / self.t, dim=-1)
        return straight_through(hard, (1.0 - self.alpha) * st + self.alpha * zgr_surrogate(hard, probs, index))

    def _binary_slope(self, logit, p1, p0, x):
        st = p1 * p0 if self.t == 1.0 else torch.sigmoid(logit / self.t) * torch.sigmoid(-logit / self.t) / self.t
        return (1.0 - self.alpha) * st + self.alpha * zgr_binary_slope(p1, p0, x)
