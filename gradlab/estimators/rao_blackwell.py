"""The Rao-Blackwellized score function (Liu, Regier, Tripuraneni, Jordan & McAuliffe 2019).

For one categorical variable ``z ~ q``, with ``C_k`` its ``k`` most probable categories (Liu et al. Sec. 3, eq. 6):

    ``E_q[g(z)] = sum_{c in C_k} q(c) g(c) + q(not C_k) E_{q | not C_k}[g(z)]``,

so summing the top ``k`` exactly and sampling the rest from ``q`` restricted to the complement is unbiased, with
a variance never above the single sample's (a conditional expectation). gradlab takes ``g(z) = f(z) grad log q(z)``
(the plain score function; ``k = 0`` is single-sample REINFORCE without a baseline, exactly).

With several variables, each variable ``i`` is Rao-Blackwellized given the others: one configuration ``x ~ q`` is
drawn (one uniform per variable, by inversion), and the estimate for the logits of variable ``i`` is the formula
above with ``f(., x_{-i})``; the complement sample of variable ``i`` is drawn with the same uniform as ``x_i`` (it
is independent of ``x_{-i}``, which is all unbiasedness needs, and makes ``k = 0`` equal to REINFORCE at ``x``).
For one variable per loss element this is Liu et al.'s estimator; the loss is evaluated at ``x`` and at
``k + 1`` configurations per variable of an element (``k`` when ``k >= K``: the exact gradient), all elements
changed at once. Plus the pathwise gradient of ``f(x)`` in the parameters the loss uses directly.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import torch

from gradlab.core import checks as _checks
from gradlab.core.softmax import log_softmax
from gradlab.estimators.base import Estimator, Loss, checked_losses, inverse_cdf_index
from gradlab.estimators.multilayer import RESAMPLED_LATER, DrawStrategy

__all__ = ["RaoBlackwellReinforce"]


@dataclasses.dataclass(frozen=True)
class RaoBlackwellReinforce(Estimator):
    """RB-SF(k): the score function with the ``k`` most probable categories of each variable summed exactly and one
    sample from the rest (Liu et al. 2019, eq. 6; module docstring)."""

    k: int = 1

    name: ClassVar[str] = "rb_reinforce"
    summary: ClassVar[str] = (
        "Rao-Blackwellized score function (Liu et al. 2019): top-k categories summed, the rest sampled; unbiased"
    )
    pathwise: ClassVar[bool] = False
    curve_field: ClassVar[str | None] = "k"
    draw_strategy: ClassVar[DrawStrategy] = RESAMPLED_LATER  # on a multi-layer model (estimators.multilayer)
    unbiased: ClassVar[bool] = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "k", _checks.integer(self.name, "k", self.k, 0))

    @property
    def loss_evaluations(self) -> int:
        return self.k + 2  # with one variable per loss element (else 1 + (k + 1) per variable of an element)

    def num_uniforms(self, event_shape: tuple[int, ...]) -> int:
        return math.prod(event_shape[:-1])  # one per variable

    def surrogate(self, logits: torch.Tensor, loss: Loss, uniforms: torch.Tensor) -> torch.Tensor:
        sample_ndim, event = self._split(logits, uniforms)
        big_k = event[-1]
        log_q = log_softmax(logits, dim=-1)
        q = log_q.detach().exp()
        u = uniforms.reshape(*logits.shape[:-1], 1)
        x = inverse_cdf_index(q, u).squeeze(-1)  # (*sample, *S)
        kk = min(self.k, big_k)
        order = torch.sort(q, dim=-1, descending=True, stable=True).indices
        cand = order[..., :kk]  # (*sample, *S, kk)
        weights = q.gather(-1, cand)
        if kk < big_k:  # one draw from q restricted to the complement of the top k, weight q(complement)
            rest = q.scatter(-1, cand, 0.0)
            mass = rest.sum(-1, keepdim=True)
            z = inverse_cdf_index(rest, u).clamp(max=big_k - 1)  # mass 0 (underflow): weight 0
            cand, weights = torch.cat([cand, z], -1), torch.cat([weights, mass], -1)

        base, values = candidate_losses(self.name, loss, x, cand, logits, sample_ndim, event)
        shape = values.shape[:-1]  # (*E, per)
        n_cand = cand.shape[-1]
        log_qc = log_q.gather(-1, cand)
        log_qc = torch.where(weights > 0, log_qc, torch.zeros_like(log_qc)).reshape(*shape, n_cand)  # q = 0: no term
        w = (weights.reshape(*shape, n_cand) * values).detach()
        score = (w * log_qc).sum((-2, -1))  # (*E)
        return base + (score - score.detach())


def loss_at(owner: str, loss: Loss, index: torch.Tensor, logits, sample_ndim: int, event) -> torch.Tensor:
    """The loss at the configurations ``index`` (``(n, *sample, *S)`` category indices), shape-checked:
    ``(n, *sample, *S')``."""
    x = (index.unsqueeze(-1) == torch.arange(event[-1], device=index.device)).to(logits.dtype)
    values = loss(x)
    lead = (index.shape[0], *logits.shape[:sample_ndim])
    checked_losses(owner, values, x, lead, event)
    return values


def candidate_losses(
    owner: str, loss: Loss, x: torch.Tensor, cand: torch.Tensor, logits: torch.Tensor, sample_ndim: int, event
) -> tuple[torch.Tensor, torch.Tensor]:
    """The loss at the draw ``x`` (``(*sample, *S)`` indices) and, for every variable ``i`` and candidate ``c`` in
    ``cand`` (``(*sample, *S, C)``), at ``x`` with variable ``i`` set to ``c`` (all loss elements changed at once:
    element ``e`` depends only on its own variables). Returns ``f(x)`` (``(*E,)``, ``E`` the sample and element
    axes) and ``(*E, per, C)`` with ``per`` the variables per element."""
    base = loss_at(owner, loss, x.unsqueeze(0), logits, sample_ndim, event)[0]
    n_elem, n_cand = base.ndim, cand.shape[-1]
    per = math.prod(logits.shape[n_elem:-1])
    shape = (*logits.shape[:n_elem], per)
    xs, cs = x.reshape(shape), cand.reshape(*shape, n_cand).movedim(-1, 0)  # (*E, per), (C, *E, per)
    eye = torch.eye(per, dtype=torch.bool, device=x.device).reshape(per, 1, *([1] * n_elem), per)
    configs = torch.where(eye, cs.unsqueeze(0), xs).reshape(per * n_cand, *logits.shape[:-1])
    values = loss_at(owner, loss, configs, logits, sample_ndim, event)  # (per * C, *E)
    return base, values.reshape(per, n_cand, *values.shape[1:]).movedim((0, 1), (-2, -1))
