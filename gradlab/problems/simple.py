"""Problems with a handful of variables: one categorical, one Bernoulli, several independent
categoricals, and the stochastic quantization unit (ZGR Sec. 4.3, App. B.5).

Their exact expectations are closed forms (sums over ``K`` outcomes, or ``K^V`` for
:class:`MultiCategorical`), computed by the exact engine's enumeration.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from gradlab.core import checks as _checks
from gradlab.core.distributions import (
    NOISES,
    binary_to_categorical,
    default_noise_std,
    quantization_levels,
    quantization_log_probs,
)
from gradlab.problems.base import Problem

__all__ = ["SingleCategorical", "Binary", "MultiCategorical", "QuantizationUnit", "QUANTIZATION_LOSSES"]

UserLoss = Callable[[torch.Tensor], torch.Tensor]


def _as_param(owner: str, name: str, value, dtype, device, ndim: int | None = None) -> torch.Tensor:
    t = torch.as_tensor(value, dtype=dtype, device=device).detach().clone()
    if not t.is_floating_point():
        raise TypeError(f"{owner}: {name} must be floating point, got {t.dtype}")
    if ndim is not None and t.ndim != ndim:
        raise ValueError(f"{owner}: {name} must have {ndim} dimension(s), got shape {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{owner}: {name} must be finite, got {t.tolist()}")
    return t


def _check_loss(owner: str, loss) -> None:
    if not callable(loss):
        raise TypeError(f"{owner}: loss must be callable, got {type(loss).__name__}")


def _loss_name(loss) -> str:
    return getattr(loss, "loss_name", None) or getattr(loss, "__qualname__", type(loss).__name__)


class _UserLossProblem(Problem):
    """A problem with one named parameter and a user loss (the simple problems below)."""

    param_name = "logits"

    def _setup(self, value, ndim: int, loss, dtype, device) -> None:
        self.dtype, self.device = dtype, torch.device(device)
        self._value = _as_param(self.name, self.param_name, value, dtype, self.device, ndim=ndim)
        if loss is not None:
            _check_loss(self.name, loss)
            self.user_loss = loss

    def param_groups(self):
        return {"all": (self.param_name,)}

    def param_values(self):
        return {self.param_name: self._value}


class SingleCategorical(_UserLossProblem):
    """``E_{x ~ Cat(softmax(logits))}[loss(e_x)]``; ``loss`` maps ``(..., K)`` one-hot or relaxed vectors to ``(...)``.

    Parameter: ``"logits"`` (K,). Event shape ``(V, K) = (1, K)``.
    """

    name = "SingleCategorical"

    def __init__(self, logits, loss: UserLoss, dtype: torch.dtype = torch.float64, device="cpu"):
        self._setup(logits, 1, loss, dtype, device)
        if self._value.shape[0] < 2:
            raise ValueError(f"{self.name}: logits must have K >= 2 entries, got {self._value.shape[0]}")

    def params(self, wrt: str = "all"):
        self.check_wrt(wrt)  # "all" and "logits" are the same parameter here
        return {"logits": self._value.clone()}

    def layout(self, wrt: str = "all"):
        self.check_wrt(wrt)
        from gradlab.problems.base import ParamLayout

        return ParamLayout(("logits",), (tuple(self._value.shape),))

    def logits(self, params):
        return params["logits"].unsqueeze(-2)

    def latent_logits(self, params):
        return self.logits(params)

    @property
    def event_shape(self):
        return (1, self._value.shape[0])

    def loss(self, x, params, logits):
        return self.user_loss(x.squeeze(-2))

    def config(self):
        return {"problem": self.name, "logits": self._value.tolist(), "loss": _loss_name(self.user_loss)}


class MultiCategorical(_UserLossProblem):
    """``V`` independent categoricals, ``loss`` of all of them: ``(..., V, K) -> (...)`` (ZGR Corollary 2).

    Parameter: ``"logits"`` (V, K).
    """

    name = "MultiCategorical"

    def __init__(self, logits, loss: UserLoss, dtype: torch.dtype = torch.float64, device="cpu"):
        self._setup(logits, 2, loss, dtype, device)
        if self._value.shape[-1] < 2:
            raise ValueError(f"{self.name}: logits must have shape (V, K) with K >= 2, got {tuple(self._value.shape)}")

    def logits(self, params):
        return params["logits"]

    @property
    def event_shape(self):
        return tuple(self._value.shape)

    def loss(self, x, params, logits):
        return self.user_loss(x)

    def config(self):
        return {"problem": self.name, "logits": self._value.tolist(), "loss": _loss_name(self.user_loss)}


class Binary(_UserLossProblem):
    """A Bernoulli variable ``b ~ Bern(sigmoid(logit))``, the categorical with logits ``(0, logit)``.

    ``loss`` maps the value ``b`` (``(...)``, 0/1 or relaxed in [0, 1]) to ``(...)``; the embedding is
    ``phi(x) = x`` (ZGR Sec. 3.1). Parameter: ``"logit"`` (scalar).
    """

    name = "Binary"
    param_name = "logit"

    def __init__(self, logit, loss: UserLoss, dtype: torch.dtype = torch.float64, device="cpu"):
        self._setup(logit, 0, loss, dtype, device)

    def logits(self, params):
        return binary_to_categorical(params["logit"]).unsqueeze(-2)

    @property
    def event_shape(self):
        return (1, 2)

    def loss(self, x, params, logits):
        return self.user_loss(x[..., 0, 1])

    def config(self):
        return {"problem": self.name, "logit": float(self._value), "loss": _loss_name(self.user_loss)}


def _linear(v, c):
    return v


def _quadratic(v, c):
    return 0.5 * (v - c) ** 2


def _sigmoid(v, c):
    return torch.sigmoid(2.0 * (v - c))


QUANTIZATION_LOSSES: dict[str, Callable] = {"linear": _linear, "quadratic": _quadratic, "sigmoid": _sigmoid}


class QuantizationUnit(_UserLossProblem):
    """Stochastic quantizer ``x = round(eta + z)`` over ``levels`` (ZGR Sec. 4.3, App. B.5).

    ``noise``: ``"triangular"`` (density ``max(0, 1-|z|)``), ``"logistic"`` (``std``, default 1/3) or
    ``"uniform"`` (unit width); ``std`` rescales any of them. ``loss``: a preset of ZGR App. B.5 —
    ``"linear"`` ``L(x) = x``, ``"quadratic"`` ``(x - c)^2 / 2``, ``"sigmoid"`` ``sigma(2 (x - c))`` with
    ``c = (l_0 + l_{K-1}) / 2`` (``(K - 1)/2`` for levels ``0..K-1``) — or a callable of the level value.
    The embedding is ``phi(x) = level(x)``. Parameter: ``"eta"`` (scalar).
    """

    name = "QuantizationUnit"
    param_name = "eta"

    def __init__(
        self,
        eta,
        levels: int | Sequence[float] = 4,
        noise: str = "triangular",
        loss: str | UserLoss = "quadratic",
        std: float | None = None,
        dtype: torch.dtype = torch.float64,
        device="cpu",
    ):
        self._setup(eta, 0, None, dtype, device)
        self.noise = _checks.choice(self.name, "noise", noise, NOISES)
        self.std = default_noise_std(noise) if std is None else _checks.positive_real(self.name, "std", std)
        self.levels = quantization_levels(levels, dtype=dtype, device=self.device)
        self.center = float(0.5 * (self.levels[0] + self.levels[-1]))
        if isinstance(loss, str):
            _checks.choice(self.name, "loss", loss, QUANTIZATION_LOSSES)
            self.loss_name = loss
            fn = QUANTIZATION_LOSSES[loss]
            self.user_loss = lambda v, c=self.center, fn=fn: fn(v, c)
        else:
            _check_loss(self.name, loss)
            self.loss_name = _loss_name(loss)
            self.user_loss = loss

    def logits(self, params):
        return quantization_log_probs(params["eta"], self.levels, self.noise, self.std).unsqueeze(-2)

    @property
    def event_shape(self):
        return (1, self.levels.numel())

    def loss(self, x, params, logits):
        return self.user_loss(x[..., 0, :] @ self.levels)

    def config(self):
        return {
            "problem": self.name,
            "eta": float(self._value),
            "levels": self.levels.tolist(),
            "noise": self.noise,
            "std": self.std,
            "loss": self.loss_name,
        }

    def expectation_closed_form(self, eta: torch.Tensor | float) -> torch.Tensor:
        """``sum_k P(x = k; eta) L(level_k)`` (differentiable in ``eta``)."""
        eta = torch.as_tensor(eta, dtype=self.dtype, device=self.device)
        probs = quantization_log_probs(eta, self.levels, self.noise, self.std).exp()
        return (probs * self.user_loss(self.levels)).sum(-1)
