"""Straight-through estimators: ST(t) and the identity STE.

* ``st`` — ZGR paper eq. (4) with a temperature (Sec. 4.2): ``J_eta = J d softmax(eta / t) / d eta``;
  ``t = 1`` is the Softmax STE of Shah et al.
* ``identity_st`` — Bengio et al. (2013): ``d e_x / d eta := I``, i.e. ``J_eta = J``.

Both draw the forward sample ``x ~ Cat(softmax(eta))`` by inversion (one uniform per variable).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import torch

from gradlab.core import checks as _checks
from gradlab.core.softmax import softmax
from gradlab.estimators.base import straight_through
from gradlab.estimators.pathwise import CategoricalForward


@dataclasses.dataclass(frozen=True)
class StraightThrough(CategoricalForward):
    """ST(t): forward ``x ~ Cat(p)``, backward through ``softmax(eta / t)`` (ZGR eq. 4, Sec. 4.2)."""

    temperature_fields = ("t",)

    t: float = 1.0

    name: ClassVar[str] = "st"
    summary: ClassVar[str] = "ST(t): x ~ Cat(p), backward through softmax(eta/t) (ZGR eq. 4); t=1: Softmax STE"

    def __post_init__(self) -> None:
        object.__setattr__(self, "t", _checks.positive_real(self.name, "t", self.t))

    def _backward(self, logits, probs, index, hard):
        soft = probs if self.t == 1.0 else softmax(logits / self.t, dim=-1)
        return straight_through(hard, soft)

    def _relaxed_sample(self, logits, gumbel):
        return softmax(logits / self.t, dim=-1)

    def _binary_slope(self, logit, p1, p0, x):
        # d sigmoid(a / t) / da
        if self.t == 1.0:
            return p1 * p0
        return torch.sigmoid(logit / self.t) * torch.sigmoid(-logit / self.t) / self.t


@dataclasses.dataclass(frozen=True)
class IdentityStraightThrough(CategoricalForward):
    """Identity STE (Bengio et al., 2013): forward ``x ~ Cat(p)``, backward ``d e_x / d eta := I``."""

    name: ClassVar[str] = "identity_st"
    summary: ClassVar[str] = "Identity STE: x ~ Cat(p), backward d e_x/d eta := I (Bengio et al. 2013)"

    def _backward(self, logits, probs, index, hard):
        # masked (-inf) logits get a zero gradient instead of inf - inf = nan
        soft = torch.where(torch.isfinite(logits), logits, torch.zeros_like(logits))
        return straight_through(hard, soft)

    def _binary_slope(self, logit, p1, p0, x):
        return torch.ones_like(logit)


@dataclasses.dataclass(frozen=True)
class GappedST(CategoricalForward):
    """Gapped Straight-Through, GST (Fan et al. 2022, "Training discrete deep generative models via gapped
    straight-through estimator"): forward ``x ~ Cat(p)``; backward through ``softmax((eta + m) / t)`` where the
    move ``m`` (no gradient) lifts ``eta_x`` to the largest logit and lowers every other logit to at least ``gap``
    below it: ``m = (max eta - eta_x) e_x - max(eta + gap - max eta, 0) (1 - e_x)``. The perturbed logits then have
    their argmax at ``x`` with a margin of ``gap``, the deterministic counterpart of GS-ST's conditional Gumbels.
    ``gap = 1`` is the paper's GST-1.0; the temperature default ``t = 1`` is gradlab's."""

    temperature_fields = ("t",)

    t: float = 1.0
    gap: float = 1.0

    name: ClassVar[str] = "gapped_st"
    summary: ClassVar[str] = "Gapped ST (Fan et al. 2022): x ~ Cat(p), backward softmax((eta + m)/t), argmax moved to x"

    def __post_init__(self) -> None:
        object.__setattr__(self, "t", _checks.positive_real(self.name, "t", self.t))
        object.__setattr__(self, "gap", _checks.positive_real(self.name, "gap", self.gap))

    def _backward(self, logits, probs, index, hard):
        eta = logits.detach()
        top = eta.max(dim=-1, keepdim=True).values
        lift = (top - eta.gather(-1, index)) * hard
        lower = torch.clamp(eta + self.gap - top, min=0.0) * (1 - hard)
        lower = torch.where(torch.isfinite(eta), lower, torch.zeros_like(eta))  # masked logits stay -inf
        return straight_through(hard, softmax((logits + lift - lower) / self.t, dim=-1))
