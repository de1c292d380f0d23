"""The estimator contract: what every registered estimator must satisfy (used by test_contract.py and by
the test of a user-registered estimator)."""

from __future__ import annotations

import numpy as np
import torch

import gradlab as gl

SHAPES = [(7,), (3, 5), (2, 3, 4)]


def linear_loss(shape, dtype, seed=0):
    w = torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)
    n_event = len(shape)

    def loss(x):
        # x: (*lead, *shape) -> per-sample loss over all variables (*lead,)
        return (x * w).sum(dim=tuple(range(x.ndim - n_event, x.ndim)))

    return loss


def run(est, logits, seed, loss):
    e = logits.detach().clone().requires_grad_()
    out = est.estimate(e, loss, generator=torch.Generator().manual_seed(seed))
    (g,) = torch.autograd.grad(out.sum(), e)
    return out.detach(), g


def check_contract(est: gl.Estimator) -> None:
    torch_state = torch.get_rng_state()
    np_state = np.random.get_state()[1].copy()  # noqa: NPY002 (checking the legacy global state)
    for dtype in (torch.float32, torch.float64):
        for shape in SHAPES:
            logits = 2 * torch.randn(shape, generator=torch.Generator().manual_seed(1), dtype=dtype)
            loss = linear_loss(shape, dtype)
            out, g = run(est, logits, 3, loss)
            assert out.shape == (), (est.label, shape, out.shape)
            assert out.dtype == dtype and g.dtype == dtype and g.shape == logits.shape
            assert torch.isfinite(out) and torch.isfinite(g).all(), (est.label, shape)
            out2, g2 = run(est, logits, 3, loss)
            assert torch.equal(out, out2) and torch.equal(g, g2), f"{est.label}: same seed, different output"
            if est.pathwise:
                x1 = est.sample(logits, generator=torch.Generator().manual_seed(3))
                assert x1.shape == logits.shape and x1.dtype == dtype
                if est.name != "gs":
                    assert set(torch.unique(x1).tolist()) <= {0.0, 1.0}, est.label
                    assert torch.equal(x1.sum(-1), torch.ones(shape[:-1], dtype=dtype)), est.label
                else:
                    assert (x1 >= 0).all()
                    torch.testing.assert_close(x1.sum(-1), torch.ones(shape[:-1], dtype=dtype))
        # different seeds give different outputs (64 variables: a coincidence has probability ~0)
        logits = torch.randn(64, 5, generator=torch.Generator().manual_seed(1), dtype=dtype)
        loss = linear_loss((64, 5), dtype)
        o3, g3 = run(est, logits, 3, loss)
        o4, g4 = run(est, logits, 4, loss)
        assert not (torch.equal(o3, o4) and torch.equal(g3, g4)), f"{est.label}: different seeds, same output"
        if est.pathwise:
            x3 = est.sample(logits, generator=torch.Generator().manual_seed(3))
            x4 = est.sample(logits, generator=torch.Generator().manual_seed(4))
            assert not torch.equal(x3, x4), f"{est.label}: different seeds, same sample"
        check_replicas(est, dtype)
    assert torch.equal(torch.get_rng_state(), torch_state), f"{est.label} touched the global torch RNG"
    assert np.array_equal(np.random.get_state()[1], np_state)  # noqa: NPY002, f"{est.label} touched the global numpy RNG"


def check_replicas(est: gl.Estimator, dtype, r: int = 6) -> None:
    """Replica axes are independent estimates: one batched call equals r separate calls."""
    event = (3, 4)
    gen = torch.Generator().manual_seed(2)
    logits = torch.randn(r, *event, generator=gen, dtype=dtype).requires_grad_()
    u = est.draw_uniforms(logits, gen, sample_ndim=1)
    assert u.shape == (r, est.num_uniforms(event))
    loss = linear_loss(event, dtype, seed=5)
    out = est.surrogate(logits, loss, u)
    assert out.shape == (r,)
    (g,) = torch.autograd.grad(out.sum(), logits)
    for i in range(r):
        li = logits[i].detach().clone().requires_grad_()
        oi = est.surrogate(li, loss, u[i])
        (gi,) = torch.autograd.grad(oi, li)
        torch.testing.assert_close(oi, out[i].detach(), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(gi, g[i], rtol=1e-5, atol=1e-6)
