"""``log_softmax`` and ``softmax`` over the last axis, fast for few categories on the CPU.

PyTorch's CPU kernels for a (log-)softmax over a short last axis (``K <= 4``: the quantizers' ternary and 2-bit
levels, Bernoulli units as two categories) run about three times slower, forward and backward, than the same
operation over a long first axis: the functions here move the categories to the first axis for such tensors. They
are the same functions: ``tests/test_softmax.py`` holds values and gradients to ``torch.log_softmax``'s and
``torch.softmax``'s within a few units in the last place (float32 and float64, ``K = 2`` to 5 and 16). On the
tensors checked while writing them ``log_softmax`` came out bit for bit the same; ``softmax`` differs by up to one
unit in the last place (2 x 10^4 rows, K = 2 to 4, both dtypes). ``benchmarks/bench_quantized.py`` measures them.
"""

from __future__ import annotations

import torch

__all__ = ["log_softmax", "softmax"]

_SHORT = 4  # categories up to which the first-axis path is taken
_LARGE = 4096  # elements from which it pays (below: the copy's fixed cost)


def _short_last_axis(x: torch.Tensor, dim: int) -> bool:
    """Whether ``x`` over ``dim`` takes the first-axis path: the last axis of a large CPU tensor, <= 4 long."""
    return (
        x.device.type == "cpu"
        and x.ndim > 1
        and dim in (-1, x.ndim - 1)
        and x.shape[-1] <= _SHORT
        and x.numel() >= _LARGE
    )


def log_softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``torch.log_softmax(x, dim)``; over the last axis of a large CPU tensor with at most 4 categories it is
    computed over the first axis of a transposed copy (the result is laid out as ``x``'s contiguous copy
    would be)."""
    if _short_last_axis(x, dim):
        return torch.log_softmax(x.movedim(-1, 0).contiguous(), 0).movedim(0, -1).contiguous()
    return torch.log_softmax(x, dim)


def softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``torch.softmax(x, dim)``, over a short last axis of a large CPU tensor computed as :func:`log_softmax`
    is (over the first axis of a transposed copy)."""
    if _short_last_axis(x, dim):
        return torch.softmax(x.movedim(-1, 0).contiguous(), 0).movedim(0, -1).contiguous()
    return torch.softmax(x, dim)
