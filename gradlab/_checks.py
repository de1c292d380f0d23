"""Argument validation with errors that name the argument, what was expected and what arrived."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

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


def logits_tensor(owner: str, logits: object, name: str = "logits") -> torch.Tensor:
    """A floating tensor of shape ``(..., K)`` with ``K >= 2``."""
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"{owner}: {name} must be a torch.Tensor of shape (..., K), got {type(logits).__name__}")
    if not logits.is_floating_point():
        raise TypeError(f"{owner}: {name} must be a floating-point tensor (float32 or float64), got {logits.dtype}")
    if logits.ndim < 1 or logits.shape[-1] < 2:
        raise ValueError(
            f"{owner}: {name} must have shape (..., K) with K >= 2 categories on the last axis, "
            f"got shape {tuple(logits.shape)}"
        )
    return logits
