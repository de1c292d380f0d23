"""REINFORCE with the leave-one-out baseline, RF(m) (Kool et al. 2019, eq. 8), or with none.

``1/(m-1) sum_i (L_i - mean_j L_j) grad log p(x_i)`` (``baseline="loo"``, the default, ``m >= 2``) or
``1/m sum_i L_i grad log p(x_i)`` (``baseline="none"``, the plain score function of Williams 1992, any ``m >= 1``),
plus the mean pathwise gradient of ``L`` in the parameters ``L`` depends on directly. Unbiased either way; needs
the loss at ``m`` samples, so it is not a layer. A moving-average baseline is not offered: it carries state from
earlier draws, so the draws of a bias-variance measurement would no longer be independent.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import torch

from .. import _checks
from .base import Estimator, Loss, checked_losses, inverse_cdf_index, scatter_one_hot


@dataclasses.dataclass(frozen=True)
class Reinforce(Estimator):
    """RF(m): score function with the leave-one-out baseline (Kool et al. 2019, eq. 8).

    The loss is evaluated once on all ``m`` samples stacked on a new leading axis (``(m, *sample, *S, K)``,
    so terms of the loss computed from the logits broadcast against it).
    When the loss returns per-element values (``S'`` a prefix of the variables' shape ``S``), the
    baseline is formed per element, which is valid because element ``s`` depends only on its own
    variables; ``log p(x_i)`` is summed over the variables of each element.
    """

    m: int = 2
    baseline: str = "loo"

    name: ClassVar[str] = "reinforce"
    summary: ClassVar[str] = (
        "RF(m): REINFORCE with leave-one-out baseline (Kool et al. 2019 eq. 8), or baseline='none' (m >= 1); unbiased"
    )
    pathwise: ClassVar[bool] = False
    quiet_defaults: ClassVar[tuple[str, ...]] = ("baseline",)
    BASELINES: ClassVar[tuple[str, ...]] = ("loo", "none")

    def __post_init__(self) -> None:
        object.__setattr__(self, "baseline", _checks.choice(self.name, "baseline", self.baseline, self.BASELINES))
        least = 2 if self.baseline == "loo" else 1
        object.__setattr__(self, "m", _checks.integer(self.name, "m", self.m, least))

    @property
    def loss_evaluations(self) -> int:
        return self.m

    def score_weights(self, values: torch.Tensor) -> torch.Tensor:
        """The (detached) weights of ``log p(x_i)`` for the losses ``values`` of the ``m`` draws (axis 0):
        ``(L_i - mean L) / (m - 1)`` with the leave-one-out baseline, ``L_i / m`` without one."""
        if self.baseline == "loo":
            return (values - values.mean(dim=0, keepdim=True)).detach() / (self.m - 1)
        return values.detach() / self.m

    def num_uniforms(self, event_shape: tuple[int, ...]) -> int:
        return self.m * math.prod(event_shape[:-1])  # one uniform per variable and sample (inversion)

    def surrogate(self, logits: torch.Tensor, loss: Loss, uniforms: torch.Tensor) -> torch.Tensor:
        sample_ndim, event = self._split(logits, uniforms)
        sample = tuple(logits.shape[:sample_ndim])
        lead = (self.m, *sample)  # the m draws go on a new leading axis, so per-element terms broadcast
        u = uniforms.reshape(*sample, self.m, *event[:-1], 1).movedim(sample_ndim, 0)
        log_p = torch.log_softmax(logits, dim=-1).unsqueeze(0).expand(*lead, *event)
        index = inverse_cdf_index(log_p.detach().exp(), u)
        x = scatter_one_hot(index, log_p.detach())  # (m, *sample, *S, K), no gradient
        values = loss(x)
        checked_losses(self.name, values, x, lead, event)
        log_px = log_p.gather(-1, index).squeeze(-1)  # (m, *sample, *S)
        if log_px.ndim > values.ndim:
            log_px = log_px.sum(dim=tuple(range(values.ndim, log_px.ndim)))
        score = (self.score_weights(values) * log_px).sum(dim=0)
        return values.mean(dim=0) + (score - score.detach())
