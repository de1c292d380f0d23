"""ReinMax (Liu et al. 2023, *Bridging Discrete and Backpropagation: Straight-Through and Beyond*, Alg. 2).

With ``pi_1 = (e_x + softmax_t(eta)) / 2`` the backward goes through
``2 softmax(sg(log pi_1 - theta) + theta) - softmax(eta) / 2``, i.e.
``g = 2 (pi_1 * J - pi_1 (pi_1 . J)) - (p * J - p (p . J)) / 2``.
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
class ReinMax(CategoricalForward):
    """ReinMax(t): second-order (Heun) straight-through, Liu et al. (2023) Alg. 2.

    The Jacobian of ``softmax(sg(log pi_1 - theta) + theta)`` in ``eta`` is ``diag(pi_1) - pi_1 pi_1^T``
    (``pi_1`` held constant); the surrogate ``pi_1 * eta - pi_1 (pi_1 . eta)`` has exactly that Jacobian
    and needs no logarithm, so it is used instead (same gradient, fewer operations, no ``log 0``).
    """

    temperature_fields = ("t",)

    t: float = 1.0

    name: ClassVar[str] = "reinmax"
    summary: ClassVar[str] = "ReinMax (Liu et al. 2023, Alg. 2): Heun-style second-order ST with temperature t"

    def __post_init__(self) -> None:
        object.__setattr__(self, "t", _checks.positive_real(self.name, "t", self.t))

    def _backward(self, logits, probs, index, hard):
        soft_t = probs.detach() if self.t == 1.0 else softmax(logits.detach() / self.t, dim=-1)
        pi1 = 0.5 * (hard + soft_t)
        eta = torch.nan_to_num(logits, neginf=0.0)  # masked categories: pi_1 = 0 there, zero gradient
        linear = pi1 * (eta - (pi1 * eta).sum(-1, keepdim=True))
        return straight_through(hard, 2.0 * linear - 0.5 * probs)

    def _binary_slope(self, logit, p1, p0, x):
        # on (0, a): component 1 of the linear part is pi_1[1] pi_1[0] a (pi_1 held constant), and
        # d p1 / da = p1 p0; pi_1[0] = (1 - x + sigmoid(-a / t)) / 2 without cancellation
        s1, s0 = (p1, p0) if self.t == 1.0 else (torch.sigmoid(logit / self.t), torch.sigmoid(-logit / self.t))
        return 2.0 * (0.5 * (x + s1)) * (0.5 * (1.0 - x + s0)) - 0.5 * p1 * p0
