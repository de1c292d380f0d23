"""Relaxed forwards found in peer libraries: Gumbel-Sparsemax and the Hard Concrete gate.

Like ``gs``, their forward value is a relaxed point, not a one-hot sample, and the gradient is the exact derivative
of the loss there; as estimators of the discrete objective they are biased.

* ``gs_sparsemax`` (Martins & Astudillo 2016's sparsemax in place of the softmax of Gumbel-Softmax, as in
  relaxit): ``y = sparsemax((theta + G) / t)``, the Euclidean projection onto the simplex, which is exactly sparse.
  Sparsemax of ``z``: sort ``z`` decreasingly, the support size is ``k = max{j: 1 + j z_(j) > sum_{i<=j} z_(i)}``,
  ``tau = (sum_{i<=k} z_(i) - 1) / k``, ``y = max(z - tau, 0)``; its Jacobian is ``diag(s) - s s^T / |s|`` with
  ``s`` the support's indicator.
* ``gs_entmax`` (Peters, Niculae & Martins 2019's 1.5-entmax in place of the softmax): ``y = entmax15((theta + G)
  / t)``, ``entmax15(z)_i = max(z_i / 2 - tau, 0)^2`` with ``tau`` making ``y`` sum to 1 (exact, by sorting:
  Peters et al. Alg. 2); sparse like sparsemax, smooth like softmax on its support; its Jacobian is
  ``diag(s) - s s^T / sum(s)`` with ``s = sqrt(y)``.
* ``hard_concrete`` (Louizos, Welling & Kingma 2018, Sec. 4): a binary gate with Bernoulli logit ``a`` (logits
  ``(0, a)``, so ``categories = 2``): ``s = sigmoid((L + a) / beta)`` with ``L`` standard logistic, stretched to
  ``(gamma, zeta)`` and clipped to ``[0, 1]``: ``z = min(1, max(0, s (zeta - gamma) + gamma))``, which is exactly 0
  with probability ``sigmoid(beta log(-gamma / zeta) - a)`` and exactly 1 with probability
  ``sigmoid(a - beta log((1 - gamma) / (zeta - 1)))``. The forward value is ``(1 - z, z)``. Defaults
  ``beta = 2/3, gamma = -0.1, zeta = 1.1`` (the paper's).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import ClassVar

import torch

from gradlab.core import checks as _checks
from gradlab.core.softmax import log_softmax
from gradlab.estimators.gumbel import GumbelSoftmax
from gradlab.estimators.pathwise import PathwiseEstimator

__all__ = ["GumbelSparsemax", "GumbelEntmax", "HardConcrete", "sparsemax", "entmax15"]


def sparsemax(z: torch.Tensor) -> torch.Tensor:
    """Sparsemax on the last axis (differentiable by autograd; ``-inf`` entries get 0)."""
    zs = torch.sort(z, dim=-1, descending=True).values
    k = torch.arange(1, z.shape[-1] + 1, dtype=z.dtype, device=z.device)
    cs = zs.cumsum(-1)
    support = (1 + k * zs > cs).sum(-1, keepdim=True)  # at least 1: the largest entry is always in
    tau = (cs.gather(-1, support - 1) - 1) / support.to(z.dtype)
    return torch.clamp(z - tau, min=0)


def entmax15(z: torch.Tensor) -> torch.Tensor:
    """1.5-entmax on the last axis (Peters et al. 2019, Alg. 2; ``-inf`` entries get 0), with its exact Jacobian.

    Value: with ``x = z / 2`` sorted decreasingly, for each support size ``k``: ``tau_k = mean_k - sqrt(max(0, (1 -
    ss_k) / k))`` (``mean_k`` and ``ss_k`` the mean and the sum of squared deviations of the ``k`` largest); the
    support is the largest ``k`` with ``tau_k <= x_(k)``, and ``y = max(x - tau, 0)^2``, computed without gradient.
    Gradient: the closed form ``J = diag(s) - s s^T / sum(s)``, ``s = sqrt(y)`` (Peters et al. Prop. 2), attached
    as ``h(z) - sg(h(z))`` with ``h(z) = s z - s (s . z) / sum(s)`` (``s`` constant). Differentiating the sort-based
    ``tau`` instead meets ``sqrt'(0) = inf`` wherever some ``(1 - ss_k) / k`` is exactly 0 (``z = (0, 0, -2, -2)``
    has it at ``k = 4``), and the gradient is NaN: it was, on the main job's VAE at ``t = 2`` in float32."""
    with torch.no_grad():
        x = z / 2
        finite = torch.isfinite(x)
        x = x - torch.where(finite, x, torch.full_like(x, -math.inf)).amax(-1, keepdim=True)  # shift: max 0
        # a masked entry sorts as -2, below every tau (tau >= max x - 1 = -1): never in the support, and finite
        xs = torch.sort(torch.where(finite, x, torch.full_like(x, -2.0)), dim=-1, descending=True).values
        k = torch.arange(1, z.shape[-1] + 1, dtype=z.dtype, device=z.device)
        mean = xs.cumsum(-1) / k
        mean_sq = (xs * xs).cumsum(-1) / k
        delta = (1 - k * (mean_sq - mean * mean)) / k
        tau = mean - torch.sqrt(delta.clamp(min=0))
        support = (tau <= xs).sum(-1, keepdim=True)  # at least 1
        tau_star = tau.gather(-1, support - 1)
        y = torch.where(finite, torch.clamp(x - tau_star, min=0) ** 2, torch.zeros_like(x))
        s = y.sqrt()
        weights = s / s.sum(-1, keepdim=True)
    zf = torch.where(torch.isfinite(z), z, torch.zeros_like(z))  # masked entries: s = 0, no gradient
    h = s * zf - s * (weights * zf).sum(-1, keepdim=True)
    return y + (h - h.detach())


@dataclasses.dataclass(frozen=True)
class _GumbelMap(GumbelSoftmax):
    """GS with another map onto the simplex in place of the softmax (``_map``); everything else is GS's."""

    _map: ClassVar[Callable[[torch.Tensor], torch.Tensor]]

    def _relaxed_sample(self, logits: torch.Tensor, gumbel: torch.Tensor) -> torch.Tensor:
        return type(self)._map((log_softmax(logits, dim=-1) + gumbel) / self.t)

    def plugin_sample_binary(self, logit: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
        # GS's closed form is a sigmoid; these maps' binary forms are the categorical one on (0, a)
        return PathwiseEstimator.plugin_sample_binary(self, logit, uniforms)


@dataclasses.dataclass(frozen=True)
class GumbelSparsemax(_GumbelMap):
    """Gumbel-Sparsemax(t): ``sparsemax((theta + G) / t)`` (module docstring)."""

    name: ClassVar[str] = "gs_sparsemax"
    summary: ClassVar[str] = "Gumbel-Sparsemax: relaxed y = sparsemax((theta+G)/t), exactly sparse, loss at y"
    _map = staticmethod(sparsemax)


@dataclasses.dataclass(frozen=True)
class GumbelEntmax(_GumbelMap):
    """Gumbel-Entmax(t): ``entmax15((theta + G) / t)`` (module docstring)."""

    name: ClassVar[str] = "gs_entmax"
    summary: ClassVar[str] = "Gumbel-Entmax: relaxed y = 1.5-entmax((theta+G)/t), sparse and smooth, loss at y"
    _map = staticmethod(entmax15)


@dataclasses.dataclass(frozen=True)
class HardConcrete(PathwiseEstimator):
    """Hard Concrete gate (Louizos et al. 2018) for binary variables (module docstring)."""

    temperature_fields = ("beta",)
    categories: ClassVar[int | None] = 2

    beta: float = 2.0 / 3.0
    gamma: float = -0.1
    zeta: float = 1.1

    name: ClassVar[str] = "hard_concrete"
    summary: ClassVar[str] = "Hard Concrete (Louizos et al. 2018): stretched, clipped binary concrete gate in [0, 1]"
    relaxed_forward: ClassVar[bool] = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "beta", _checks.positive_real(self.name, "beta", self.beta))
        for key, value, ok, what in (
            ("gamma", self.gamma, lambda v: v < 0, "< 0"),
            ("zeta", self.zeta, lambda v: v > 1, "> 1"),
        ):
            if not isinstance(value, (int, float)) or not math.isfinite(value) or not ok(value):
                raise ValueError(f"{self.name}: {key} must be a finite real number {what}, got {value!r}")
            object.__setattr__(self, key, float(value))

    def _gate(self, a: torch.Tensor, logistic: torch.Tensor) -> torch.Tensor:
        s = torch.sigmoid((logistic + a) / self.beta)
        return torch.clamp(s * (self.zeta - self.gamma) + self.gamma, 0.0, 1.0)

    def _plugin_sample(self, logits: torch.Tensor, gumbel: torch.Tensor) -> torch.Tensor:
        return self._relaxed_sample(logits, gumbel)

    def _relaxed_sample(self, logits: torch.Tensor, gumbel: torch.Tensor) -> torch.Tensor:
        # G_1 - G_0 of two standard Gumbels is standard logistic; a = l_1 - l_0 is the Bernoulli logit
        z = self._gate(logits[..., 1] - logits[..., 0], gumbel[..., 1] - gumbel[..., 0])
        return torch.stack([1 - z, z], dim=-1)

    def _backward_at(self, logits, index, generator):
        raise TypeError(f"{self.name}: its forward is the relaxed point, not a sample: there is no x to condition on")
