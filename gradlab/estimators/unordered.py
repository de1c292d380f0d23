"""The unordered set estimator (Kool, van Hoof & Welling 2020): REINFORCE over ``k`` samples drawn without
replacement, weighted as an unordered set.

For one categorical variable with probabilities ``p``, ``S`` is a set of ``k`` distinct categories drawn without
replacement, exactly, by Gumbel-top-k (the ``k`` largest of ``log p + G``; Kool et al. 2019, Sec. 3). With
``P(T)`` the probability of drawing the set ``T`` without replacement (a sum over its orderings) and ``P^{D\\A}`` the
same under ``p`` restricted to the categories outside ``A`` and renormalised, the leave-one-out ratio is
``R(S, s) = P^{D\\{s}}(S \\ {s}) / P(S)`` and the estimator (Kool et al. 2020, Thm. 1, eq. 11 / Sec. 4.2):

* ``baseline="none"``: ``sum_{s in S} p(s) R(S, s) f(s) grad log p(s)`` (any ``1 <= k <= K``; ``k = 1`` is
  single-sample REINFORCE);
* ``baseline="builtin"`` (the default; ``k >= 2``): ``sum_{s in S} p(s) R(S, s) grad log p(s) (f(s) - b(s))`` with
  ``b(s) = sum_{s' in S} p(s') R^{D\\{s}}(S, s') f(s')``, ``R^{D\\{s}}(S, s') = P^{D\\{s, s'}}(S \\ {s, s'}) /
  P^{D\\{s}}(S \\ {s})`` (``= 1`` at ``s' = s``).

Both unbiased. ``P(T)`` is evaluated exactly over the ``|T|!`` orderings (so ``k <= 6``), in log space, each
denominator a sum of probabilities (the mass outside ``S`` plus the members not yet drawn), so no ``1 - p``
cancels. With several variables, each variable is treated given the others at a draw ``x ~ p`` (as
``rb_reinforce``): the loss is evaluated at ``x`` and at ``x`` with that variable set to each member of its set.
Plus the pathwise gradient of ``f(x)`` in the parameters the loss uses directly.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import ClassVar

import torch

from gradlab.core import checks as _checks
from gradlab.core.noise import gumbel_from_uniform
from gradlab.core.softmax import log_softmax
from gradlab.estimators.base import Estimator, Loss, inverse_cdf_index
from gradlab.estimators.multilayer import RESAMPLED_LATER, DrawStrategy
from gradlab.estimators.rao_blackwell import candidate_losses

__all__ = ["UnorderedSet", "PriorityReinforce", "log_set_probability"]


def log_set_probability(log_p: torch.Tensor, log_outside: torch.Tensor) -> torch.Tensor:
    """``log P(T)``: the log-probability of drawing the members of ``T`` (log-probabilities ``log_p``, last axis
    ``m``) in some order without replacement, from a distribution whose other categories hold mass
    ``exp(log_outside)`` (shape ``log_p.shape[:-1]``). Sum over the ``m!`` orderings of ``prod_i p_i / (outside +
    the members not yet drawn)``; ``m = 0`` gives 0 (the empty set is drawn with probability 1)."""
    m = log_p.shape[-1]
    if m == 0:
        return torch.zeros(log_p.shape[:-1], dtype=log_p.dtype, device=log_p.device)
    perms = torch.tensor(list(itertools.permutations(range(m))), device=log_p.device)  # (m!, m)
    lp = (
        log_p.unsqueeze(-2)
        .expand(*log_p.shape[:-1], perms.shape[0], m)
        .gather(-1, perms.expand(*log_p.shape[:-1], -1, -1))
    )
    suffix = torch.logcumsumexp(lp.flip(-1), dim=-1).flip(-1)  # log of the members not yet drawn, at each step
    denominators = torch.logaddexp(log_outside[..., None, None].expand_as(suffix), suffix)
    return torch.logsumexp((lp - denominators).sum(-1), dim=-1)


@dataclasses.dataclass(frozen=True)
class UnorderedSet(Estimator):
    """The unordered set estimator US(k) of Kool et al. 2020, with the built-in baseline or none (module docstring)."""

    k: int = 2
    baseline: str = "builtin"

    name: ClassVar[str] = "unordered_set"
    summary: ClassVar[str] = (
        "Unordered set estimator (Kool et al. 2020): k samples without replacement, built-in baseline; unbiased"
    )
    pathwise: ClassVar[bool] = False
    curve_field: ClassVar[str | None] = "k"
    draw_strategy: ClassVar[DrawStrategy] = RESAMPLED_LATER  # on a multi-layer model (estimators.multilayer)
    unbiased: ClassVar[bool] = True
    BASELINES: ClassVar[tuple[str, ...]] = ("builtin", "none")
    MAX_K: ClassVar[int] = 6

    def __post_init__(self) -> None:
        object.__setattr__(self, "baseline", _checks.choice(self.name, "baseline", self.baseline, self.BASELINES))
        least = 2 if self.baseline == "builtin" else 1
        object.__setattr__(self, "k", _checks.integer(self.name, "k", self.k, least))
        if self.k > self.MAX_K:
            raise ValueError(
                f"{self.name}: k must be at most {self.MAX_K} (set probabilities sum over k! orderings), got {self.k}"
            )

    @property
    def loss_evaluations(self) -> int:
        return self.k + 1  # with one variable per loss element

    def num_uniforms(self, event_shape: tuple[int, ...]) -> int:
        return math.prod(event_shape) + math.prod(event_shape[:-1])  # Gumbels for the set, one uniform for x

    def surrogate(self, logits: torch.Tensor, loss: Loss, uniforms: torch.Tensor) -> torch.Tensor:
        sample_ndim, event = self._split(logits, uniforms)
        if self.k > event[-1]:
            raise ValueError(f"{self.name}: k = {self.k} distinct samples need at least k categories, got {event[-1]}")
        n = math.prod(event)
        u_set, u_x = torch.split(uniforms, [n, n // event[-1]], dim=-1)
        log_p = log_softmax(logits, dim=-1)
        lp = log_p.detach()
        x = inverse_cdf_index(lp.exp(), u_x.reshape(*logits.shape[:-1], 1)).squeeze(-1)
        cand = torch.topk(lp + gumbel_from_uniform(u_set).reshape(logits.shape), self.k, dim=-1).indices  # Gumbel-top-k
        base, values = candidate_losses(self.name, loss, x, cand, logits, sample_ndim, event)  # (*E, per, k)
        shape = values.shape[:-1]

        lp_set = lp.gather(-1, cand)  # (*sample, *S, k)
        outside = torch.logsumexp(lp.scatter(-1, cand, -math.inf), dim=-1)  # mass outside the set
        members = torch.arange(self.k, device=cand.device)
        leave_one = _without(lp_set, members)  # (*, k, k-1): the set without member s
        log_leave_one = log_set_probability(leave_one, outside.unsqueeze(-1))  # (*, k)
        log_weight = lp_set + log_leave_one - log_set_probability(lp_set, outside).unsqueeze(-1)  # log p(s) R(S, s)
        f = values.reshape(*lp_set.shape)
        if self.baseline == "builtin":
            # b(s) = sum_s' p(s') R^{D\s}(S, s') f(s'), R^{D\s}(S, s) = 1
            leave_two = _without(leave_one, members[:-1])  # (*, k, k-1, k-2): without s, then the j-th other
            log_r = log_set_probability(leave_two, outside[..., None, None]) - log_leave_one.unsqueeze(-1)
            others = _without(lp_set, members)  # p of the s' != s, in the same order as leave_two's removals
            f_others = _without(f, members)
            b = lp_set.exp() * f + (others + log_r).exp().mul(f_others).sum(-1)
            f = f - b
        coef = (log_weight.exp() * f).detach()
        log_p_set = log_p.gather(-1, cand)
        score = (coef * log_p_set).reshape(*shape, self.k).sum((-2, -1))
        return base + (score - score.detach())


@dataclasses.dataclass(frozen=True)
class PriorityReinforce(Estimator):
    """REINFORCE without replacement by priority sampling (Kool, van Hoof & Welling 2019, "Stochastic beams and
    where to find them", Sec. 4.2; Duffield et al. 2007): the ``k`` largest of ``log p + G`` form the sample ``S``
    and the ``(k+1)``-th largest is the threshold ``kappa``; each member is weighted by the inverse of its inclusion
    probability ``q(s) = P(log p(s) + G > kappa) = 1 - exp(-exp(log p(s) - kappa))``:
    ``sum_{s in S} p(s) / q(s) f(s) grad log p(s)`` (a Horvitz-Thompson estimate, unbiased; ``k = K`` has no
    threshold, ``q = 1``, and is exact). Several variables: one at a time given the others, as ``unordered_set``."""

    k: int = 2

    name: ClassVar[str] = "priority_reinforce"
    summary: ClassVar[str] = (
        "REINFORCE without replacement by priority sampling (Kool et al. 2019): k members, weights p/q; unbiased"
    )
    pathwise: ClassVar[bool] = False
    draw_strategy: ClassVar[DrawStrategy] = RESAMPLED_LATER  # on a multi-layer model (estimators.multilayer)
    unbiased: ClassVar[bool] = True
    curve_field: ClassVar[str | None] = "k"

    def __post_init__(self) -> None:
        object.__setattr__(self, "k", _checks.integer(self.name, "k", self.k, 1))

    @property
    def loss_evaluations(self) -> int:
        return self.k + 1

    def num_uniforms(self, event_shape: tuple[int, ...]) -> int:
        return math.prod(event_shape) + math.prod(event_shape[:-1])  # Gumbels for the set, one uniform for x

    def surrogate(self, logits: torch.Tensor, loss: Loss, uniforms: torch.Tensor) -> torch.Tensor:
        sample_ndim, event = self._split(logits, uniforms)
        big_k = event[-1]
        if self.k > big_k:
            raise ValueError(f"{self.name}: k = {self.k} distinct samples need at least k categories, got {big_k}")
        n = math.prod(event)
        u_set, u_x = torch.split(uniforms, [n, n // big_k], dim=-1)
        log_p = log_softmax(logits, dim=-1)
        lp = log_p.detach()
        x = inverse_cdf_index(lp.exp(), u_x.reshape(*logits.shape[:-1], 1)).squeeze(-1)
        top = torch.topk(lp + gumbel_from_uniform(u_set).reshape(logits.shape), min(self.k + 1, big_k), dim=-1)
        cand = top.indices[..., : self.k]
        base, values = candidate_losses(self.name, loss, x, cand, logits, sample_ndim, event)  # (*E, per, k)
        lp_set = lp.gather(-1, cand)
        if self.k < big_k:
            kappa = top.values[..., self.k :]  # the (k+1)-th largest perturbed log-probability
            log_q = _log_inclusion(lp_set - kappa)
            weight = (lp_set - log_q).exp()
        else:
            weight = lp_set.exp()
        coef = (weight * values.reshape(*lp_set.shape)).detach()
        score = (coef * log_p.gather(-1, cand)).reshape(*values.shape).sum((-2, -1))
        return base + (score - score.detach())


def _log_inclusion(d: torch.Tensor) -> torch.Tensor:
    """``log(1 - exp(-exp(d)))`` without cancellation or underflow: ``log(-expm1(-y))`` for ``d > 0`` (``y = e^d``),
    ``d + log(-expm1(-y) / y)`` below (which tends to ``d`` as ``y`` underflows)."""
    y = torch.exp(d)
    small = d + torch.log(torch.where(y > 0, -torch.expm1(-y) / torch.where(y > 0, y, 1.0), 1.0))
    return torch.where(d > 0, torch.log(-torch.expm1(-y)), small)


def _without(t: torch.Tensor, members: torch.Tensor) -> torch.Tensor:
    """``t`` (last axis ``m``) with member ``j`` removed, for each ``j`` in ``members``: shape ``(..., len, m - 1)``,
    the remaining entries in their order."""
    m = t.shape[-1]
    keep = torch.stack([torch.cat([torch.arange(j), torch.arange(j + 1, m)]) for j in members.tolist()])
    keep = keep.to(t.device)
    return t.unsqueeze(-2).expand(*t.shape[:-1], len(members), m).gather(-1, keep.expand(*t.shape[:-1], -1, -1))
