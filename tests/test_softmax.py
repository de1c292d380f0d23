"""``gradlab.core.softmax.log_softmax`` is ``torch.log_softmax`` (values and gradients), on both of its paths."""

from __future__ import annotations

import pytest
import torch

from gradlab.core.softmax import log_softmax


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("k", [2, 3, 4, 5, 16])
@pytest.mark.parametrize("shape", [(3, 5), (9000,), (20, 3, 7, 11)])
def test_log_softmax_is_torch_log_softmax(dtype, k, shape):
    g = torch.Generator().manual_seed(k)
    x = (torch.randn(*shape, k, generator=g, dtype=dtype) * 30).requires_grad_()
    x.data[..., 0, 0] = float("-inf")  # a category with zero probability
    up = torch.randn(*shape, k, generator=g, dtype=dtype)
    got = log_softmax(x)
    want = torch.log_softmax(x, -1)
    assert got.shape == want.shape and got.is_contiguous()
    torch.testing.assert_close(got, want, rtol=0, atol=4 * torch.finfo(dtype).eps * 100)  # within 4 ulp of |x| <~ 100
    (gx,) = torch.autograd.grad(got, x, up)
    (wx,) = torch.autograd.grad(want, x, up)
    torch.testing.assert_close(gx, wx, rtol=4 * torch.finfo(dtype).eps, atol=4 * torch.finfo(dtype).eps * 100)


def test_log_softmax_other_axis_and_vmap():
    x = torch.randn(6, 4, 3, dtype=torch.float64)
    torch.testing.assert_close(log_softmax(x, 1), torch.log_softmax(x, 1), rtol=0, atol=0)
    big = torch.randn(5, 2000, 3, dtype=torch.float64)
    batched = torch.func.vmap(log_softmax)(big)
    torch.testing.assert_close(batched, torch.log_softmax(big, -1), rtol=1e-15, atol=1e-13)
