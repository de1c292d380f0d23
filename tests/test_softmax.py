"""``gradlab.core.softmax.log_softmax`` and ``softmax`` are ``torch.log_softmax`` and ``torch.softmax`` (values and
gradients), on both of their paths."""

from __future__ import annotations

import pytest
import torch

from gradlab.core.softmax import log_softmax, softmax

PAIRS = {"log_softmax": (log_softmax, torch.log_softmax), "softmax": (softmax, torch.softmax)}


@pytest.mark.parametrize("which", sorted(PAIRS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("k", [2, 3, 4, 5, 16])
@pytest.mark.parametrize("shape", [(3, 5), (9000,), (20, 3, 7, 11)])
def test_is_torch_function(which, dtype, k, shape):
    ours, theirs = PAIRS[which]
    g = torch.Generator().manual_seed(k)
    x = (torch.randn(*shape, k, generator=g, dtype=dtype) * 30).requires_grad_()
    x.data[..., 0, 0] = float("-inf")  # a category with zero probability
    up = torch.randn(*shape, k, generator=g, dtype=dtype)
    got = ours(x)
    want = theirs(x, -1)
    assert got.shape == want.shape and got.is_contiguous()
    size = 100 if which == "log_softmax" else 1  # the values' magnitude: |log p| <~ 100 here, p <= 1
    torch.testing.assert_close(got, want, rtol=0, atol=4 * torch.finfo(dtype).eps * size)  # within 4 ulp
    (gx,) = torch.autograd.grad(got, x, up)
    (wx,) = torch.autograd.grad(want, x, up)
    torch.testing.assert_close(gx, wx, rtol=4 * torch.finfo(dtype).eps, atol=4 * torch.finfo(dtype).eps * 100)


@pytest.mark.parametrize("which", sorted(PAIRS))
def test_other_axis_and_vmap(which):
    ours, theirs = PAIRS[which]
    g = torch.Generator().manual_seed(1)
    x = torch.randn(6, 4, 3, dtype=torch.float64, generator=g)
    torch.testing.assert_close(ours(x, 1), theirs(x, 1), rtol=0, atol=0)
    big = torch.randn(5, 2000, 3, dtype=torch.float64, generator=g)
    batched = torch.func.vmap(ours)(big)
    torch.testing.assert_close(batched, theirs(big, -1), rtol=1e-15, atol=1e-13)
