"""Gumbel-Softmax family: GS, GS-ST, Decoupled ST-GS and Gumbel-Rao (GR-MC).

References (equations as numbered in the ZGR paper; docs/PAPERS.md):

* ``gs`` — Jang et al. (2017), eq. (7): relaxed ``y = softmax_t(theta + G)``, exact derivative of ``L(y)``.
* ``gs_st`` — eq. (8): hard ``x = argmax(theta + G)``, backward through ``softmax_t(theta + G)``.
* ``decoupled_st`` — Shah et al., eqs. (12)-(16) and footnote 1: forward ``argmax(eta / tau_f + G)``,
  backward through a relaxation with temperature ``tau_b`` (three placements, see the class).
* ``gr_mc`` — Paulus et al. (2021), eq. (9): mean over ``m`` conditional draws ``G' ~ G | x`` of the
  GS-ST backward, conditional Gumbels by the top-down construction of Maddison et al. (2014).
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import torch

from gradlab.core import checks as _checks
from gradlab.core.noise import as_generator, conditional_gumbel, gumbel_from_uniform
from gradlab.core.softmax import log_softmax, softmax
from gradlab.estimators.base import categorical_index, logistic_from_uniform, one_hot, straight_through
from gradlab.estimators.pathwise import PathwiseEstimator


@dataclasses.dataclass(frozen=True)
class GumbelSoftmax(PathwiseEstimator):
    """GS(t): the relaxed sample ``softmax_t(theta + G)`` itself (NOT discrete), ZGR eq. (7)."""

    temperature_fields = ("t",)

    t: float = 1.0

    name: ClassVar[str] = "gs"
    summary: ClassVar[str] = "Gumbel-Softmax: relaxed y = softmax_t(theta+G), loss at y (ZGR eq. 7)"
    relaxed_forward: ClassVar[bool] = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "t", _checks.positive_real(self.name, "t", self.t))

    def _plugin_sample(self, logits: torch.Tensor, gumbel: torch.Tensor) -> torch.Tensor:
        return self._relaxed_sample(logits, gumbel)

    def _relaxed_sample(self, logits: torch.Tensor, gumbel: torch.Tensor) -> torch.Tensor:
        theta = log_softmax(logits, dim=-1)
        return softmax((theta + gumbel) / self.t, dim=-1)

    def _backward_at(self, logits: torch.Tensor, index: torch.Tensor, generator) -> torch.Tensor:
        raise TypeError(f"{self.name}: its forward is the relaxed point, not a sample: there is no x to condition on")

    def plugin_sample_binary(self, logit: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
        # softmax_t(theta + G)[1] = sigmoid((a + G_1 - G_0) / t), as theta_1 - theta_0 = a
        self._split_binary(logit, uniforms)
        return torch.sigmoid((logit + logistic_from_uniform(uniforms, logit.shape)) / self.t)


@dataclasses.dataclass(frozen=True)
class GumbelSoftmaxST(PathwiseEstimator):
    """GS-ST(t): ``x = argmax(theta + G)``, backward through ``softmax_t(theta + G)``, ZGR eq. (8)."""

    temperature_fields = ("t",)

    t: float = 1.0

    name: ClassVar[str] = "gs_st"
    summary: ClassVar[str] = "Straight-through Gumbel-Softmax: x = argmax(theta+G), backward softmax_t(theta+G) (eq. 8)"

    def __post_init__(self) -> None:
        object.__setattr__(self, "t", _checks.positive_real(self.name, "t", self.t))

    def _plugin_sample(self, logits: torch.Tensor, gumbel: torch.Tensor) -> torch.Tensor:
        theta = log_softmax(logits, dim=-1)
        perturbed = theta + gumbel
        hard = one_hot(torch.argmax(perturbed.detach(), dim=-1), logits.shape[-1], logits.dtype)
        return straight_through(hard, softmax(perturbed / self.t, dim=-1))

    def _relaxed_sample(self, logits: torch.Tensor, gumbel: torch.Tensor) -> torch.Tensor:
        return softmax((log_softmax(logits, dim=-1) + gumbel) / self.t, dim=-1)

    def plugin_sample_binary(self, logit: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
        # argmax(theta + G) = 1 iff a + G_1 - G_0 > 0 (a tie picks 0, as argmax does)
        self._split_binary(logit, uniforms)
        perturbed = logit + logistic_from_uniform(uniforms, logit.shape)
        return straight_through((perturbed.detach() > 0).to(logit.dtype), torch.sigmoid(perturbed / self.t))


DECOUPLED_BACKWARDS = ("gumbel_logits", "gumbel_sum", "softmax")


@dataclasses.dataclass(frozen=True)
class DecoupledST(PathwiseEstimator):
    """Decoupled ST-GS (Shah et al.): separate forward and backward temperatures.

    Forward: ``x = argmax(eta / tau_f + G)``, i.e. ``x ~ Cat(softmax(eta / tau_f))`` (temperature on the
    logits, Shah et al. footnote 1). The estimate targets the objective under that forward distribution
    (:meth:`forward_logits`). Backward, by ``backward``:

    * ``"gumbel_logits"`` (default, Shah et al. eq. 14): through ``softmax(eta / tau_b + G)``, same ``G``;
    * ``"gumbel_sum"``: through ``softmax_{tau_b}(eta / tau_f + G)`` (Jang et al.'s placement applied to
      the forward's perturbed logits); with ``tau_f = 1`` this is exactly ``gs_st(t=tau_b)``;
    * ``"softmax"``: through ``softmax(eta / tau_b)`` (no noise); with ``tau_f = 1`` this is ``st(t=tau_b)``.
    """

    temperature_fields = ("tau_f", "tau_b")

    tau_f: float = 1.0
    tau_b: float = 1.0
    backward: str = "gumbel_logits"

    name: ClassVar[str] = "decoupled_st"
    summary: ClassVar[str] = (
        "Decoupled ST-GS (Shah et al.): x = argmax(eta/tau_f+G); backward softmax(eta/tau_b+G) | "
        "softmax_tau_b(eta/tau_f+G) | softmax(eta/tau_b)"
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "tau_f", _checks.positive_real(self.name, "tau_f", self.tau_f))
        object.__setattr__(self, "tau_b", _checks.positive_real(self.name, "tau_b", self.tau_b))
        _checks.choice(self.name, "backward", self.backward, DECOUPLED_BACKWARDS)

    def forward_logits(self, logits: torch.Tensor) -> torch.Tensor:
        return logits / self.tau_f

    @property
    def forward_distribution(self) -> str:
        return "softmax(logits)" if self.tau_f == 1.0 else f"softmax(logits / {self.tau_f:g})"

    def _plugin_sample(self, logits: torch.Tensor, gumbel: torch.Tensor) -> torch.Tensor:
        perturbed = logits / self.tau_f + gumbel
        hard = one_hot(torch.argmax(perturbed.detach(), dim=-1), logits.shape[-1], logits.dtype)
        return straight_through(hard, self._relaxed_sample(logits, gumbel))

    def _relaxed_sample(self, logits: torch.Tensor, gumbel: torch.Tensor) -> torch.Tensor:
        if self.backward == "gumbel_logits":
            return softmax(logits / self.tau_b + gumbel, dim=-1)
        if self.backward == "gumbel_sum":
            return softmax((logits / self.tau_f + gumbel) / self.tau_b, dim=-1)
        return softmax(logits / self.tau_b, dim=-1)

    def plugin_sample_binary(self, logit: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
        self._split_binary(logit, uniforms)
        noise = logistic_from_uniform(uniforms, logit.shape)  # G_1 - G_0
        hard = (logit.detach() / self.tau_f + noise > 0).to(logit.dtype)
        if self.backward == "gumbel_logits":
            soft = torch.sigmoid(logit / self.tau_b + noise)
        elif self.backward == "gumbel_sum":
            soft = torch.sigmoid((logit / self.tau_f + noise) / self.tau_b)
        else:
            soft = torch.sigmoid(logit / self.tau_b)
        return straight_through(hard, soft)


@dataclasses.dataclass(frozen=True)
class GumbelRao(PathwiseEstimator):
    """GR-MC(t, m): Gumbel-Rao with ``m`` Monte Carlo conditional draws (Paulus et al. 2021; ZGR eq. 9).

    Forward ``x = argmax(theta + G)``; backward through ``mean_j softmax_t(theta + G'_j)`` with
    ``G'_j ~ G | x`` drawn top-down (Maddison et al. 2014): with ``Z = logsumexp(theta)``,
    ``T = Z + Gumbel``, ``theta_x + G'_x = T`` and, for ``k != x``,
    ``theta_k + G'_k = -logaddexp(-T, -(theta_k + Ghat_k))``. ``G'`` is a constant for differentiation,
    which keeps ``E[GR-MC] = E[GS-ST]`` (Paulus et al. Prop. 2). All ``m`` draws are one batched tensor.

    Uniforms layout for event shape ``(*S, K)``: ``[G (S,K) | Ghat (m,S,K) | T (m,S)]``.
    """

    temperature_fields = ("t",)

    t: float = 0.1
    m: int = 10

    name: ClassVar[str] = "gr_mc"
    summary: ClassVar[str] = "Gumbel-Rao MC: GS-ST backward averaged over m conditional draws G'|x (eq. 9)"

    def __post_init__(self) -> None:
        object.__setattr__(self, "t", _checks.positive_real(self.name, "t", self.t))
        object.__setattr__(self, "m", _checks.integer(self.name, "m", self.m, 1))

    @property
    def extra_logit_copies(self) -> int:
        return self.m

    def num_uniforms(self, event_shape: tuple[int, ...]) -> int:
        n = math.prod(event_shape)
        return n * (1 + self.m) + (n // event_shape[-1]) * self.m

    def plugin_sample(self, logits: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
        sample_ndim, event = self._split(logits, uniforms)
        sample = tuple(logits.shape[:sample_ndim])
        n = math.prod(event)
        n_vars = n // event[-1]
        u_hard, u_cond, u_top = torch.split(uniforms, [n, n * self.m, n_vars * self.m], dim=-1)
        gumbel = gumbel_from_uniform(u_hard).reshape(logits.shape)
        gumbel_cond = gumbel_from_uniform(u_cond).reshape(*sample, self.m, *event)
        gumbel_top = gumbel_from_uniform(u_top).reshape(*sample, self.m, *event[:-1], 1)
        return self._relax_with(logits, gumbel, gumbel_cond, gumbel_top, sample_ndim)

    def _backward_at(self, logits: torch.Tensor, index: torch.Tensor, generator) -> torch.Tensor:
        """Given ``x``, GR-MC's backward needs only its ``m`` conditional draws (the forward noise is any ``G``
        with argmax ``x``)."""
        if generator is None:
            raise TypeError(f"{self.name}: backward_at needs a generator (its backward draws G' given x)")
        g = as_generator(generator, logits.device)
        theta = log_softmax(logits.detach(), -1)
        gumbel = conditional_gumbel(theta, index, g)
        shape = (self.m, *logits.shape)

        def draw(s):
            return gumbel_from_uniform(torch.rand(s, generator=g, dtype=logits.dtype, device=logits.device))

        return self._relax_with(logits, gumbel, draw(shape), draw((*shape[:-1], 1)), 0)

    def _relax_with(self, logits, gumbel, gumbel_cond, gumbel_top, sample_ndim: int) -> torch.Tensor:
        """The forward ``argmax(theta + gumbel)`` and the backward over the conditional draws built from
        ``gumbel_cond`` (``(*sample, m, *S, K)``) and ``gumbel_top`` (``(*sample, m, *S, 1)``)."""
        event = logits.shape[-1]
        theta = log_softmax(logits, dim=-1)
        index = categorical_index(theta, gumbel)
        hard = one_hot(index, event, logits.dtype)

        # conditional perturbed logits theta + G' given the argmax x (top-down construction). Setting the
        # fresh Gumbel of x to +inf makes the same formula return T at x: -logaddexp(-T, -inf) = T.
        th = theta.detach().masked_fill(hard.bool(), math.inf).unsqueeze(sample_ndim)  # (*sample, 1, *S, K)
        shifted = -(th + gumbel_cond)
        top = torch.logsumexp(theta.detach(), dim=-1, keepdim=True).unsqueeze(sample_ndim) + gumbel_top
        # (a contiguous first argument: torch's broadcasting logaddexp is ~8x slower on the CPU)
        perturbed = torch.logaddexp((-top).expand_as(shifted).contiguous(), shifted).neg_()
        # G' = perturbed - theta is a constant: the gradient flows through theta - sg(theta), whose value
        # is exactly 0 (masked categories, -inf logits, keep G' = 0 and get a zero gradient)
        delta = theta - theta.detach()
        # unconditional (no branch on the values, so it traces under torch.func.vmap); the same values
        delta = torch.where(torch.isfinite(theta.detach()), delta, torch.zeros_like(delta))
        soft = softmax((perturbed + delta.unsqueeze(sample_ndim)) * (1.0 / self.t), dim=-1)
        return straight_through(hard, soft.mean(dim=sample_ndim))
