"""REINFORCE with the leave-one-out baseline, RF(m) (Kool et al. 2019, eq. 8), with none, or with a moving average.

``1/(m-1) sum_i (L_i - mean_j L_j) grad log p(x_i)`` (``baseline="loo"``, the default, ``m >= 2``) or
``1/m sum_i L_i grad log p(x_i)`` (``baseline="none"``, the plain score function of Williams 1992, any ``m >= 1``)
or ``1/m sum_i (L_i - b) grad log p(x_i)`` (``baseline="ema"``, any ``m >= 1``: ``b`` an exponential moving
average of the loss with weight ``decay``, as in Williams 1992 and Mnih & Gregor 2014), plus the mean pathwise
gradient of ``L`` in the parameters ``L`` depends on directly. Unbiased in each case (``b`` never depends on the
current draws); needs the loss at ``m`` samples, so it is not a layer. The moving average is state: in training
it moves after every step (``adapted``, with the step's mean loss per example) and checkpoints keep it; a
measurement at a snapshot holds it fixed at the value the average reaches there (``fit``: ``sample_gradients``
calls it first), so the measurement's draws stay independent.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import torch

from gradlab.core import checks as _checks
from gradlab.core.noise import make_generator
from gradlab.core.softmax import log_softmax, softmax
from gradlab.estimators.base import Estimator, Loss, checked_losses, inverse_cdf_index, scatter_one_hot
from gradlab.estimators.multilayer import WHOLE_TRACE, DrawStrategy
from gradlab.estimators.stateful import Stateful


@dataclasses.dataclass(frozen=True)
class Reinforce(Estimator, Stateful):
    """RF(m): score function with the leave-one-out baseline (Kool et al. 2019, eq. 8).

    The loss is evaluated once on all ``m`` samples stacked on a new leading axis (``(m, *sample, *S, K)``,
    so terms of the loss computed from the logits broadcast against it).
    When the loss returns per-element values (``S'`` a prefix of the variables' shape ``S``), the
    baseline is formed per element, which is valid because element ``s`` depends only on its own
    variables; ``log p(x_i)`` is summed over the variables of each element.
    """

    m: int = 2
    baseline: str = "loo"
    decay: float = 0.9

    name: ClassVar[str] = "reinforce"
    summary: ClassVar[str] = (
        "RF(m): REINFORCE, leave-one-out baseline (Kool et al. 2019 eq. 8), or 'none' / 'ema' (m >= 1); unbiased"
    )
    pathwise: ClassVar[bool] = False
    draw_strategy: ClassVar[DrawStrategy] = WHOLE_TRACE  # on a multi-layer model (estimators.multilayer)
    unbiased: ClassVar[bool] = True
    quiet_defaults: ClassVar[tuple[str, ...]] = ("baseline", "decay")
    BASELINES: ClassVar[tuple[str, ...]] = ("loo", "none", "ema")

    def __post_init__(self) -> None:
        object.__setattr__(self, "baseline", _checks.choice(self.name, "baseline", self.baseline, self.BASELINES))
        least = 2 if self.baseline == "loo" else 1
        object.__setattr__(self, "m", _checks.integer(self.name, "m", self.m, least))
        decay = _checks.unit_interval(self.name, "decay", self.decay)
        if decay == 1.0:
            raise ValueError(f"{self.name}: decay must be a real number in [0, 1), got {self.decay!r}")
        object.__setattr__(self, "decay", decay)
        if not hasattr(self, "_ema"):
            object.__setattr__(self, "_ema", None)

    def hparams(self) -> dict[str, object]:
        """``decay`` belongs to the EMA baseline only (left out otherwise, so other settings' records are unchanged)."""
        hp = super().hparams()
        if self.baseline != "ema":
            hp.pop("decay")
        return hp

    # ------------------------------------------------------------ the moving-average baseline
    @property
    def needs_fit(self) -> bool:
        return self.baseline == "ema" and self._ema is None

    @property
    def fit_draws(self) -> int:
        """How many single draws the EMA baseline is fitted over: ``ceil(5 / (1 - decay))`` (its start has decayed
        to ``e^-5``)."""
        return math.ceil(5 / (1 - self.decay))

    def fit(self, logits: torch.Tensor, loss: Loss) -> Reinforce:
        """The EMA baseline at ``logits``: :meth:`fitted_to` the losses of :attr:`fit_draws` single draws (noise from
        seed 0). Per loss element."""
        n = self.fit_draws
        with torch.no_grad():
            rep = logits.detach().expand(n, *logits.shape)
            u = torch.rand(
                (n, math.prod(logits.shape[:-1]), 1),
                generator=make_generator(0, logits.device),
                dtype=logits.dtype,
                device=logits.device,
            ).reshape(n, *logits.shape[:-1], 1)
            x = scatter_one_hot(inverse_cdf_index(softmax(rep, -1), u), rep)
            return self.fitted_to(loss(x))  # (n, *E)

    def fitted_to(self, values: torch.Tensor) -> Reinforce:
        """The moving average ``b <- decay b + (1 - decay) L`` over the losses ``values`` (axis 0, in order),
        from ``b = L_1``; a model with several draws fits it on whole traces (``StochasticModel.fitted``)."""
        n = values.shape[0]
        with torch.no_grad():
            weights = (1 - self.decay) * self.decay ** torch.arange(n - 1, -1, -1, dtype=values.dtype)
            weights[0] = self.decay ** (n - 1)
            b = (weights.reshape(n, *([1] * (values.ndim - 1))).to(values.device) * values).sum(0)
        return self.with_state({"baseline": b})

    def state(self) -> dict[str, torch.Tensor] | None:
        return None if self._ema is None else {"baseline": self._ema}

    def with_state(self, state: dict[str, torch.Tensor] | None) -> Reinforce:
        new = dataclasses.replace(self)
        object.__setattr__(new, "_ema", None if state is None else state["baseline"])
        return new

    @property
    def adapts_to_loss(self) -> bool:
        return self.baseline == "ema"

    def adapted(self, loss: float) -> Reinforce:
        if not self.adapts_to_loss:
            return self
        value = torch.as_tensor(loss, dtype=torch.float64)
        b = value if self._ema is None else self.decay * self._ema + (1 - self.decay) * value
        return self.with_state({"baseline": b})

    @property
    def loss_evaluations(self) -> int:
        return self.m

    def score_weights(self, values: torch.Tensor) -> torch.Tensor:
        """The (detached) weights of ``log p(x_i)`` for the losses ``values`` of the ``m`` draws (axis 0):
        ``(L_i - mean L) / (m - 1)`` with the leave-one-out baseline, ``L_i / m`` without one, ``(L_i - b) / m``
        with the moving average ``b`` (0 until fitted or trained)."""
        if self.baseline == "loo":
            return (values - values.mean(dim=0, keepdim=True)).detach() / (self.m - 1)
        if self.baseline == "ema" and self._ema is not None:
            return (values.detach() - self._ema.to(values.dtype).to(values.device)) / self.m
        return values.detach() / self.m

    def num_uniforms(self, event_shape: tuple[int, ...]) -> int:
        return self.m * math.prod(event_shape[:-1])  # one uniform per variable and sample (inversion)

    def surrogate(self, logits: torch.Tensor, loss: Loss, uniforms: torch.Tensor) -> torch.Tensor:
        sample_ndim, event = self._split(logits, uniforms)
        sample = tuple(logits.shape[:sample_ndim])
        lead = (self.m, *sample)  # the m draws go on a new leading axis, so per-element terms broadcast
        u = uniforms.reshape(*sample, self.m, *event[:-1], 1).movedim(sample_ndim, 0)
        log_p = log_softmax(logits, dim=-1).unsqueeze(0).expand(*lead, *event)
        index = inverse_cdf_index(log_p.detach().exp(), u)
        x = scatter_one_hot(index, log_p.detach())  # (m, *sample, *S, K), no gradient
        values = loss(x)
        checked_losses(self.name, values, x, lead, event)
        log_px = log_p.gather(-1, index).squeeze(-1)  # (m, *sample, *S)
        if log_px.ndim > values.ndim:
            log_px = log_px.sum(dim=tuple(range(values.ndim, log_px.ndim)))
        score = (self.score_weights(values) * log_px).sum(dim=0)
        return values.mean(dim=0) + (score - score.detach())
