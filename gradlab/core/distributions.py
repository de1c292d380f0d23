"""Discrete distributions and embeddings used by the problems.

* Bernoulli <-> categorical logits (docs/ESTIMATORS.md, "Other variables": logit ``a`` is the categorical ``(0, a)``).
* ``{-1, +1}^b`` bit embedding of a ``K = 2^b`` categorical (ZGR App. B.3).
* Stochastic quantization unit (ZGR Sec. 4.3, App. B.5): ``x = round_K(eta + z)`` with injected noise
  ``z``; ``P(x = k) = F(b_{k+1} - eta) - F(b_k - eta)`` where ``b`` are the mid-points between levels and
  the end levels take the tails. Computed in log space, differentiable in ``eta``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from gradlab.core import checks as _checks

__all__ = [
    "binary_to_categorical",
    "categorical_to_binary",
    "bit_codes",
    "quantization_levels",
    "quantization_log_probs",
    "NOISES",
    "noise_cdf",
    "noise_pdf",
    "default_noise_std",
]

NOISES = ("triangular", "logistic", "uniform")


def binary_to_categorical(logit: torch.Tensor) -> torch.Tensor:
    """Bernoulli logit ``a`` (shape ``(...)``) -> categorical logits ``(0, a)`` of shape ``(..., 2)``."""
    if not isinstance(logit, torch.Tensor) or not logit.is_floating_point():
        got = f"dtype {logit.dtype}" if isinstance(logit, torch.Tensor) else type(logit).__name__
        raise TypeError(f"binary_to_categorical: logit must be a floating-point tensor, got {got}")
    return torch.stack([torch.zeros_like(logit), logit], dim=-1)


def categorical_to_binary(logits: torch.Tensor) -> torch.Tensor:
    """Categorical logits of shape ``(..., 2)`` -> Bernoulli logit ``l_1 - l_0`` of shape ``(...)``."""
    _checks.logits_tensor("categorical_to_binary", logits)
    if logits.shape[-1] != 2:
        raise ValueError(f"categorical_to_binary: logits must have K = 2 on the last axis, got {tuple(logits.shape)}")
    return logits[..., 1] - logits[..., 0]


def bit_codes(num_classes: int, dtype: torch.dtype = torch.float64, device=None) -> torch.Tensor:
    """The ``(K, b)`` matrix of ``{-1, +1}`` codes of ``K = 2^b`` categories: row ``k`` holds the bits
    of ``k``, least significant first (``+1`` for a set bit). ``one_hot @ codes`` embeds a sample."""
    k = _checks.integer("bit_codes", "num_classes", num_classes, 2)
    b = k.bit_length() - 1
    if 1 << b != k:
        raise ValueError(f"bit_codes: num_classes must be a power of two (K = 2^b), got {k}")
    idx = torch.arange(k, device=device).unsqueeze(-1)
    bits = (idx >> torch.arange(b, device=device)) & 1
    return (2 * bits - 1).to(dtype)


def quantization_levels(
    levels: int | Sequence[float] | torch.Tensor, dtype: torch.dtype = torch.float64, device=None
) -> torch.Tensor:
    """Level values: ``0..K-1`` for an integer ``K``, else the given strictly increasing values."""
    if isinstance(levels, bool):
        raise TypeError("levels: expected an integer K >= 2 or a sequence of >= 2 increasing values, got bool")
    if isinstance(levels, int):
        k = _checks.integer("quantization", "levels", levels, 2)
        return torch.arange(k, dtype=dtype, device=device)
    values = torch.as_tensor(levels, dtype=dtype, device=device)
    if values.ndim != 1 or values.numel() < 2:
        raise ValueError(f"levels: expected a 1-D sequence of >= 2 values, got shape {tuple(values.shape)}")
    if not bool(torch.all(values[1:] > values[:-1])):
        raise ValueError(f"levels: values must be strictly increasing, got {values.tolist()}")
    return values


def default_noise_std(noise: str) -> float:
    """Default noise std: unit triangle ``max(0, 1-|z|)`` (1/sqrt 6), unit-width uniform (1/sqrt 12),
    logistic with std 1/3 (Louizos et al. 2019, as in ZGR App. B.5)."""
    return {"triangular": 1 / math.sqrt(6), "uniform": 1 / math.sqrt(12), "logistic": 1 / 3}[noise]


def _noise_scale(noise: str, std: float) -> float:
    """Scale ``s`` such that ``z = s * z0`` with ``z0`` the unit-scale density below."""
    unit_std = {"triangular": 1 / math.sqrt(6), "uniform": 1 / math.sqrt(12), "logistic": math.pi / math.sqrt(3)}
    return std / unit_std[noise]


def noise_cdf(u: torch.Tensor, noise: str, std: float | None = None) -> torch.Tensor:
    """CDF of the injected noise at ``u`` (unit-scale shapes: triangle on [-1, 1], uniform on
    [-1/2, 1/2], standard logistic; scaled to the given std)."""
    _checks.choice("noise_cdf", "noise", noise, NOISES)
    std = default_noise_std(noise) if std is None else _checks.positive_real("noise_cdf", "std", std)
    v = u / _noise_scale(noise, std)
    if noise == "logistic":
        return torch.sigmoid(v)
    if noise == "uniform":
        return (v + 0.5).clamp(0.0, 1.0)
    w = v.clamp(-1.0, 1.0)
    return torch.where(w <= 0, 0.5 * (1 + w) ** 2, 1 - 0.5 * (1 - w) ** 2)


def noise_pdf(u: torch.Tensor, noise: str, std: float | None = None) -> torch.Tensor:
    """Density of the injected noise at ``u``."""
    _checks.choice("noise_pdf", "noise", noise, NOISES)
    std = default_noise_std(noise) if std is None else _checks.positive_real("noise_pdf", "std", std)
    s = _noise_scale(noise, std)
    v = u / s
    if noise == "logistic":
        d = torch.sigmoid(v) * torch.sigmoid(-v)
    elif noise == "uniform":
        d = ((v >= -0.5) & (v <= 0.5)).to(u.dtype)
    else:
        d = (1 - v.abs()).clamp(min=0.0)
    return d / s


def _log1mexp(x: torch.Tensor) -> torch.Tensor:
    """``log(1 - exp(x))`` for ``x <= 0``, accurate everywhere (Maechler 2012)."""
    return torch.where(x > -math.log(2.0), torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x)))


def quantization_log_probs(
    eta: torch.Tensor,
    levels: int | Sequence[float] | torch.Tensor = 4,
    noise: str = "triangular",
    std: float | None = None,
) -> torch.Tensor:
    """``log P(x = k; eta)`` of the stochastic quantizer ``x = round(eta + z)`` over the levels.

    Returns a tensor of shape ``(*eta.shape, K)``; these are the logits fed to every estimator. Impossible
    levels (compact noise) get ``-inf`` with a zero (not NaN) gradient. For logistic noise ``std`` may be a
    (positive, differentiable) tensor that broadcasts with ``eta``: a learnable noise scale.
    """
    if not isinstance(eta, torch.Tensor) or not eta.is_floating_point():
        raise TypeError(f"quantization_log_probs: eta must be a floating-point tensor, got {type(eta).__name__}")
    _checks.choice("quantization_log_probs", "noise", noise, NOISES)
    if isinstance(std, torch.Tensor):  # a learnable std (logistic noise, ZGR App. B.5): positive by construction
        if noise != "logistic":
            raise TypeError(f"quantization_log_probs: a tensor std is for logistic noise only, got noise={noise!r}")
    else:
        std = default_noise_std(noise) if std is None else _checks.positive_real("quantization_log_probs", "std", std)
    lv = quantization_levels(levels, dtype=eta.dtype, device=eta.device)
    inf = torch.tensor([math.inf], dtype=eta.dtype, device=eta.device)
    mids = 0.5 * (lv[1:] + lv[:-1])
    lower = torch.cat([-inf, mids])  # (K,)
    upper = torch.cat([mids, inf])
    lo = lower - eta.unsqueeze(-1)  # (..., K)
    hi = upper - eta.unsqueeze(-1)
    s = _noise_scale(noise, std)
    if noise == "logistic":
        # log(sigma(b) - sigma(a)) = log sigma(b) + log sigma(-a) + log(1 - e^(a - b)), a = lo / s, b = hi / s;
        # at the infinite ends each term is exactly 0: masked, so that a learnable s gets no inf * 0 = NaN
        # gradient from them
        lo_end, hi_end = torch.isinf(lower), torch.isinf(upper)
        zero = torch.zeros((), dtype=eta.dtype, device=eta.device)
        a = torch.where(lo_end, zero, lo) / s
        b = torch.where(hi_end, zero, hi) / s
        ends = lo_end | hi_end
        width = torch.where(ends, -1.0, lower - upper) / s  # a - b, independent of eta
        logsig = torch.nn.functional.logsigmoid
        return (
            torch.where(hi_end, zero, logsig(b))
            + torch.where(lo_end, zero, logsig(-a))
            + torch.where(ends, zero, _log1mexp(width))
        )
    # compact noise: a function with its own backward (ZGR App. B.5's quantizer is elementwise-bound: autograd's
    # tape of the ~20 elementwise passes below costs about twice their forward; the analytic derivative is 8)
    return _CompactLogProbs.apply(eta, lower, upper, noise, std)


def _compact_log_probs(eta, lower, upper, noise, std):
    """``log P(x = k)`` for compact noise: a difference of CDFs from the nearer tail to avoid cancellation (the tail
    chosen before the CDFs are evaluated: two evaluations per level instead of four)."""
    lo = lower - eta.unsqueeze(-1)  # (..., K)
    hi = upper - eta.unsqueeze(-1)
    right = (lo + hi) > 0
    prob = noise_cdf(torch.where(right, -lo, hi), noise, std) - noise_cdf(torch.where(right, -hi, lo), noise, std)
    positive = prob > 0
    safe = torch.where(positive, prob, torch.ones_like(prob))
    return torch.where(positive, torch.log(safe), torch.full_like(prob, -math.inf))


def _compact_log_probs_inplace(eta, lower, upper, noise, std):
    """``_compact_log_probs`` without a tape: the same operations in the same order (so the same numbers, tested),
    in three buffers instead of some twenty temporaries. Uses that the lower CDF argument is never positive (the
    nearer tail is chosen), so its CDF takes one branch."""
    e = eta.unsqueeze(-1)
    lo = lower - e
    hi = upper - e
    x = torch.add(lo, hi)
    right = x > 0
    torch.where(right, torch.neg(lo, out=x), hi, out=x)  # the upper CDF argument
    torch.where(right, hi.neg_(), lo, out=hi)  # the lower one (<= 0)
    y, buf = hi, lo
    scale = _noise_scale(noise, std)
    if scale != 1.0:
        x.div_(scale)
        y.div_(scale)
    if noise == "uniform":
        x.add_(0.5).clamp_(0.0, 1.0)
        y.add_(0.5).clamp_(0.0, 1.0)
    else:  # triangular: F(w) = (1 + w)^2 / 2 for w <= 0, 1 - (1 - w)^2 / 2 above, w = clamp(v, -1, 1)
        x.clamp_(-1.0, 1.0)
        left = x <= 0
        torch.abs(x, out=buf).neg_().add_(1.0)  # 1 + w on the left, 1 - w on the right
        buf.mul_(buf).mul_(0.5)
        torch.where(left, buf, torch.neg(buf, out=x).add_(1.0), out=x)
        y.clamp_(-1.0, 1.0).add_(1.0)
        y.mul_(y).mul_(0.5)
    return x.sub_(y).clamp_(min=0.0).log_()  # log 0 = -inf: an impossible level


class _CompactLogProbs(torch.autograd.Function):
    """``_compact_log_probs`` with the analytic derivative ``d log p_k / d eta = (f(b_k - eta) - f(b_{k+1} - eta))
    / p_k`` (``f`` the noise density; ``0`` for an impossible level). The backward is made of differentiable
    operations on the saved input and output, so second derivatives, ``torch.func.grad`` and ``vmap`` work."""

    @staticmethod
    def forward(eta, lower, upper, noise, std):
        return _compact_log_probs_inplace(eta, lower, upper, noise, std)

    @staticmethod
    def vmap(info, in_dims, eta, lower, upper, noise, std):
        """Elementwise in ``eta``: the batch axis in front, the same function on the whole tensor (the in-place
        forward cannot run on vmap's batched tensors). The levels are the quantizer's constants, never batched."""
        if in_dims[1] is not None or in_dims[2] is not None:
            raise NotImplementedError("quantization_log_probs: vmap over the levels is not supported")
        if in_dims[0] is None:
            return _CompactLogProbs.apply(eta, lower, upper, noise, std), None
        return _CompactLogProbs.apply(eta.movedim(in_dims[0], 0), lower, upper, noise, std), 0

    @staticmethod
    def setup_context(ctx, inputs, output):
        eta, lower, upper, noise, std = inputs
        ctx.noise, ctx.std = noise, std
        ctx.save_for_backward(eta, lower, upper, output)

    @staticmethod
    def backward(ctx, grad):
        eta, lower, upper, log_p = ctx.saved_tensors
        e = eta.unsqueeze(-1)
        slope = noise_pdf(lower - e, ctx.noise, ctx.std) - noise_pdf(upper - e, ctx.noise, ctx.std)  # d p / d eta
        positive = log_p > -math.inf
        p = torch.where(positive, log_p, torch.zeros_like(log_p)).exp()
        terms = torch.where(positive, grad * slope / p, torch.zeros_like(p))
        return terms.sum(-1), None, None, None, None
