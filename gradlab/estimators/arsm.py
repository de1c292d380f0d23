"""ARSM, the augment-REINFORCE-swap-merge estimator (Yin, Yue & Zhou 2019) for categorical variables.

For each variable draw ``pi ~ Dir(1_K)`` (from ``K`` uniforms: ``E_i = -log u_i``, ``pi = E / sum E``); the sample is
``z = argmin_i (log pi_i - eta_i)``, a draw from ``softmax(eta)`` (``-log E_i`` are standard Gumbels). For every pair
``(m, j)`` the pseudo action ``z^{m<->j}`` is the same rule applied to ``pi`` with its entries ``m`` and ``j`` swapped,
in every variable at once; ``z^{m<->m} = z``. The estimate of ``d E[f] / d eta_{v,c}`` (Yin et al. eq. 11 and the
multivariate form of Sec. 2.3):

    ``sum_j (f(z^{c<->j}) - 1/K sum_m f(z^{m<->j})) (1/K - pi_{v,j})``

Unbiased; the loss is evaluated at the ``K^2`` pseudo actions (at most ``K (K - 1) / 2 + 1`` distinct), and, like
REINFORCE, the pathwise gradient of ``f(z)`` in the parameters the loss uses directly is added. With ``K = 2`` it
is ARM's estimator in the categorical parameterisation. Per-element losses pair each element's variables with its
own losses (the swaps are shared by all elements).
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import torch

from gradlab.core.noise import open_uniform
from gradlab.estimators.base import Estimator, Loss, checked_losses
from gradlab.estimators.multilayer import RESAMPLED_LATER, DrawStrategy

__all__ = ["ARSM"]


@dataclasses.dataclass(frozen=True)
class ARSM(Estimator):
    """ARSM (Yin et al. 2019, eq. 11): Dirichlet augmentation, swaps of ``pi``'s entries, merged (module docstring)."""

    name: ClassVar[str] = "arsm"
    summary: ClassVar[str] = (
        "ARSM (Yin et al. 2019): Dirichlet-augmented REINFORCE, K^2 swapped pseudo actions; unbiased"
    )
    pathwise: ClassVar[bool] = False
    draw_strategy: ClassVar[DrawStrategy] = RESAMPLED_LATER  # on a multi-layer model (estimators.multilayer)
    unbiased: ClassVar[bool] = True

    @property
    def loss_evaluations(self) -> int:
        return 16  # K^2 for K = 4; it grows with K (64 at K = 8)

    def num_uniforms(self, event_shape: tuple[int, ...]) -> int:
        return math.prod(event_shape)  # one Dirichlet(1) draw per variable: K exponentials

    def surrogate(self, logits: torch.Tensor, loss: Loss, uniforms: torch.Tensor) -> torch.Tensor:
        sample_ndim, event = self._split(logits, uniforms)
        k = event[-1]
        eta = logits.detach()
        e = -torch.log(open_uniform(uniforms)).reshape(logits.shape)
        pi = e / e.sum(-1, keepdim=True)
        log_pi = torch.log(e) - torch.log(e.sum(-1, keepdim=True))
        # log pi with entries m and j swapped, for every (m, j): (K, K, *sample, *S, K)
        idx = torch.arange(k, device=logits.device)
        perm = idx.expand(k, k, k).clone()  # perm[m, j] = the identity with m and j exchanged
        perm[idx[:, None], idx[None, :], idx[:, None].expand(k, k)] = idx[None, :].expand(k, k)
        perm[idx[:, None], idx[None, :], idx[None, :].expand(k, k)] = idx[:, None].expand(k, k)
        swapped = log_pi[..., perm]  # (*sample, *S, K, K, K): entry i of the (m, j) swap
        swapped = swapped.movedim((-3, -2), (0, 1))  # (K, K, *sample, *S, K)
        z = torch.argmin(swapped - torch.where(torch.isfinite(eta), eta, torch.full_like(eta, -1e30)), dim=-1)
        x = (z.unsqueeze(-1) == idx).to(logits.dtype).reshape(k * k, *logits.shape)
        lead = (k * k, *logits.shape[:sample_ndim])
        values = checked_losses(self.name, loss(x), x, lead, event)
        f = values.reshape(k, k, *values.shape[1:]).detach()  # f[m, j] = f(z^{m<->j}), (K, K, *E)
        centred = f - f.mean(dim=0, keepdim=True)  # f(z^{c<->j}) - 1/K sum_m f(z^{m<->j})
        n_vars = logits.ndim - 1 - (values.ndim - 1)  # variable axes beyond the elements
        centred = centred.reshape(*centred.shape, *([1] * n_vars)).movedim((0, 1), (-2, -1))  # (*E, 1.., K_c, K_j)
        weight = (1.0 / k - pi).unsqueeze(-2)  # (*sample, *S, 1, K_j)
        g = (centred * weight).sum(-1)  # (*sample, *S, K_c)
        delta = torch.where(torch.isfinite(eta), logits - eta, torch.zeros_like(eta))
        score = g * delta
        score = score.sum(dim=tuple(range(values.ndim - 1, score.ndim)))
        return values[0] + score
