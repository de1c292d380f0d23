"""The two bases of the pathwise estimators (one-hot forward sample, estimator backward, usable as drop-in layers):
:class:`PathwiseEstimator` (the forward from Gumbel noise, ``argmax(theta + G)`` or a relaxation of it) and
:class:`CategoricalForward` (the forward a plain draw ``x ~ Cat(softmax(eta))`` by inversion, the backward a
function of ``x`` alone). The protocol they implement is :class:`gradlab.estimators.base.Estimator`'s."""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import torch

from gradlab.core.noise import as_generator, conditional_gumbel, gumbel_from_uniform, open_uniform
from gradlab.core.softmax import log_softmax, softmax
from gradlab.estimators.base import Estimator, Loss
from gradlab.estimators.sampling import inverse_cdf_index, scatter_one_hot

__all__ = ["PathwiseEstimator", "CategoricalForward"]


@dataclasses.dataclass(frozen=True)
class PathwiseEstimator(Estimator):
    """An estimator linear in ``J``: hard (or relaxed) forward sample, surrogate backward."""

    pathwise: ClassVar[bool] = True

    def surrogate(self, logits: torch.Tensor, loss: Loss, uniforms: torch.Tensor) -> torch.Tensor:
        return loss(self.plugin_sample(logits, uniforms))

    def plugin_sample(self, logits: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
        self._split(logits, uniforms)
        gumbel = gumbel_from_uniform(uniforms).reshape(logits.shape)
        return self._plugin_sample(logits, gumbel)

    def _plugin_sample(self, logits: torch.Tensor, gumbel: torch.Tensor) -> torch.Tensor:
        """Subclasses: the forward/backward from logits and standard Gumbel noise of the same shape."""
        raise NotImplementedError

    def _backward_at(self, logits: torch.Tensor, index: torch.Tensor, generator) -> torch.Tensor:
        """Gumbel-perturbed forwards: the noise drawn given ``argmax(forward_logits + G) = x``."""
        if generator is None:
            raise TypeError(f"{self.name}: backward_at needs a generator (its backward uses Gumbel noise given x)")
        g = as_generator(generator, logits.device)
        gumbel = conditional_gumbel(log_softmax(self.forward_logits(logits.detach()), -1), index, g)
        return self._plugin_sample(logits, gumbel)

    @property
    def has_relaxed_sample(self) -> bool:
        """Whether the backward goes through one relaxed point (:meth:`relaxed_sample`; the gradient gap is defined):
        the estimators that write ``_relaxed_sample`` (gs, gs_st, decoupled_st, st, gs_sparsemax, hard_concrete)."""
        return type(self)._relaxed_sample is not PathwiseEstimator._relaxed_sample

    def relaxed_sample(self, logits: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
        """The relaxed point whose Jacobian the backward uses (for the gradient gap), with its gradient."""
        self._split(logits, uniforms)
        if not self.has_relaxed_sample:
            return self._relaxed_sample(logits, None)  # the TypeError that says why there is none
        return self._relaxed_sample(logits, gumbel_from_uniform(uniforms).reshape(logits.shape))

    def _relaxed_sample(self, logits: torch.Tensor, gumbel: torch.Tensor) -> torch.Tensor:
        raise TypeError(
            f"{self.name}: the backward does not go through a single relaxed sample, so the gradient gap is "
            "not defined (it is for gs, gs_st, decoupled_st and st)"
        )


@dataclasses.dataclass(frozen=True)
class CategoricalForward(PathwiseEstimator):
    """Pathwise estimators whose forward is a plain draw ``x ~ Cat(softmax(eta))``.

    The draw uses one uniform per variable (inverse CDF), ``K`` times less noise than Gumbel-max; the
    backward depends on ``x`` only. Subclasses implement :meth:`_backward`.
    """

    def num_uniforms(self, event_shape: tuple[int, ...]) -> int:
        return math.prod(event_shape[:-1])

    def plugin_sample(self, logits: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
        self._split(logits, uniforms)
        probs = softmax(logits, dim=-1)
        index = inverse_cdf_index(probs.detach(), uniforms.reshape(*logits.shape[:-1], 1))
        hard = scatter_one_hot(index, probs)
        return self._backward(logits, probs, index, hard)

    def relaxed_sample(self, logits: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
        self._split(logits, uniforms)
        return self._relaxed_sample(logits, None)

    def _backward_at(self, logits: torch.Tensor, index: torch.Tensor, generator) -> torch.Tensor:
        """``x ~ Cat(p)`` forwards: the backward depends on ``x`` alone (no noise)."""
        probs = softmax(logits, dim=-1)
        index = index.unsqueeze(-1)
        return self._backward(logits, probs, index, scatter_one_hot(index, probs))

    def _backward(
        self, logits: torch.Tensor, probs: torch.Tensor, index: torch.Tensor, hard: torch.Tensor
    ) -> torch.Tensor:
        """Return ``straight_through(hard, soft)``; ``probs = softmax(logits)`` carries gradient,
        ``index`` has shape ``(..., 1)``."""
        raise NotImplementedError

    def plugin_sample_binary(self, logit: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
        # the draw of the categorical form on (0, a), by inversion: x = 1 iff p_0 <= u (p_0 + p_1), where
        # p_0 + p_1 = 1 (to rounding: the categorical form's own p_0 differs from sigmoid(-a) by as much); the
        # backward is the closed-form slope dx/da
        self._split_binary(logit, uniforms)
        a = logit.detach()
        p1, p0 = torch.sigmoid(a), torch.sigmoid(-a)
        x = (p0 <= open_uniform(uniforms.reshape(logit.shape))).to(logit.dtype)
        slope = self._binary_slope(a, p1, p0, x)
        if slope is None:
            return super().plugin_sample_binary(logit, uniforms)
        # x + slope (a - sg(a)): the value x to the last bit (the bracket is exactly 0), the gradient slope;
        # one fused pass where straight_through(x, slope * a) takes three
        return torch.addcmul(x, slope, logit - a)

    def _binary_slope(
        self, logit: torch.Tensor, p1: torch.Tensor, p0: torch.Tensor, x: torch.Tensor
    ) -> torch.Tensor | None:
        """The derivative in ``a`` of component 1 of :meth:`_backward` on the logits ``(0, a)``, in closed form
        (no gradient): ``p1 = sigmoid(a)``, ``p0 = sigmoid(-a)`` (both exact, no ``1 - p`` cancellation), ``x``
        the sample (0 or 1, in the logit's dtype). ``None`` (the default): evaluate the categorical form instead."""
        return None
