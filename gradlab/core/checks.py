"""Argument validation with errors that name the argument, what was expected and what arrived."""

from __future__ import annotations

import contextlib
import contextvars
import math
import numbers
from collections.abc import Iterable, Iterator

import torch


def positive_real(owner: str, name: str, value: object) -> float:
    """A finite real number > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: {name} must be a real number > 0, got {type(value).__name__} {value!r}")
    v = float(value)
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{owner}: {name} must be a finite real number > 0, got {value!r}")
    return v


def real(owner: str, name: str, value: object) -> float:
    """A finite real number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: {name} must be a real number, got {type(value).__name__} {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{owner}: {name} must be a finite real number, got {value!r}")
    return v


def integer(owner: str, name: str, value: object, minimum: int) -> int:
    """An integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{owner}: {name} must be an integer >= {minimum}, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{owner}: {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def unit_interval(owner: str, name: str, value: object) -> float:
    """A real number in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: {name} must be a real number in [0, 1], got {type(value).__name__} {value!r}")
    v = float(value)
    if not (0.0 <= v <= 1.0):
        raise ValueError(f"{owner}: {name} must be a real number in [0, 1], got {value!r}")
    return v


def choice(owner: str, name: str, value: object, allowed: Iterable[str]) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{owner}: {name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")
    return str(value)


def device(owner: str, value: object) -> str:
    """A torch device name that this machine has (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``), as a string; a
    one-line error for a malformed name or a device that is not available here."""
    import torch

    try:
        dev = torch.device(value)
    except (RuntimeError, TypeError):
        raise ValueError(f"{owner}: device must be a torch device such as 'cpu' or 'cuda'; got {value!r}") from None
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available() and (dev.index is None or dev.index < torch.cuda.device_count()),
        "mps": bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available(),
    }.get(dev.type, False)
    if not available:
        raise ValueError(f"{owner}: device {value!r} is not available on this machine (torch {torch.__version__})")
    return str(value)


_VALIDATE = {"values": True}
_CHECKED = contextvars.ContextVar("gradlab_logits_checked", default=False)


@contextlib.contextmanager
def values_checked() -> Iterator[None]:
    """Inside: the logits' values were checked by the caller (a public method that calls others on the same
    logits, e.g. ``sample`` -> ``draw_uniforms`` -> ``plugin_sample``), so the nested calls skip the check."""
    token = _CHECKED.set(True)
    try:
        yield
    finally:
        _CHECKED.reset(token)


def set_validation(enabled: bool) -> None:
    """Check the values of logits given to an estimator (NaN, ``+inf``, a variable whose every logit is ``-inf``):
    on by default, as ``torch.distributions``' ``validate_args``; ``gradlab.set_validation(False)`` turns it off
    for speed (the check reads every logit once; BENCHMARKS.md measures its cost)."""
    if not isinstance(enabled, bool):
        raise TypeError(f"set_validation: enabled must be True or False, got {type(enabled).__name__} {enabled!r}")
    _VALIDATE["values"] = enabled


def validation_enabled() -> bool:
    """Whether logits' values are checked (:func:`set_validation`)."""
    return _VALIDATE["values"]


def logits_values(owner: str, logits: torch.Tensor, name: str = "logits") -> None:
    """A one-line error for logits no distribution has: NaN, ``+inf``, or a variable whose every logit is ``-inf``
    (``-inf`` alone masks a category and is allowed). Skipped when validation is off, and inside ``torch.func``
    transforms (the sampler's vectorised path, whose inputs were checked before)."""
    if not _VALIDATE["values"] or _CHECKED.get() or torch._C._functorch.is_functorch_wrapped_tensor(logits):
        return
    with torch.no_grad():
        if bool(torch.isfinite(logits.sum())):  # one reduction: a finite sum has no NaN, +inf or -inf in it
            return
    bad = torch.isnan(logits) | (logits == math.inf)
    if bool(bad.any()):
        at = [int(i) for i in torch.nonzero(bad)[0]]
        value = float(logits[tuple(at)])
        raise ValueError(
            f"{owner}: {name} must be finite (or -inf to mask a category), got {value} at index {at} (NaN and +inf "
            "have no distribution; gradlab.set_validation(False) skips this check)"
        )
    if logits.numel() and bool((logits.amax(-1) == -math.inf).any()):
        at = [int(i) for i in torch.nonzero(logits.amax(-1) == -math.inf)[0]]
        raise ValueError(
            f"{owner}: {name} must leave each variable a category above -inf, got every logit -inf at index {at}"
        )


def logits_tensor(owner: str, logits: object, name: str = "logits") -> torch.Tensor:
    """A floating tensor of shape ``(..., K)`` with ``K >= 2`` (and, with validation on, values that define a
    distribution: :func:`logits_values`)."""
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"{owner}: {name} must be a torch.Tensor of shape (..., K), got {type(logits).__name__}")
    if not logits.is_floating_point():
        raise TypeError(f"{owner}: {name} must be a floating-point tensor (float32 or float64), got {logits.dtype}")
    if logits.ndim < 1 or logits.shape[-1] < 2:
        raise ValueError(
            f"{owner}: {name} must have shape (..., K) with K >= 2 categories on the last axis, "
            f"got shape {tuple(logits.shape)}"
        )
    logits_values(owner, logits, name)
    return logits
