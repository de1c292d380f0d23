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


def _k(est: gl.Estimator, k: int) -> int:
    """``k`` categories, or the number the estimator is defined for (``categories``, e.g. 2 for ARM)."""
    return est.categories or k


def check_contract(est: gl.Estimator) -> None:
    torch_state = torch.get_rng_state()
    np_state = np.random.get_state()[1].copy()  # noqa: NPY002 (checking the legacy global state)
    for dtype in (torch.float32, torch.float64):
        for shape in [(*s[:-1], _k(est, s[-1])) for s in SHAPES]:
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
                if not est.relaxed_forward:
                    assert set(torch.unique(x1).tolist()) <= {0.0, 1.0}, est.label
                    assert torch.equal(x1.sum(-1), torch.ones(shape[:-1], dtype=dtype)), est.label
                else:
                    assert (x1 >= 0).all()
                    torch.testing.assert_close(x1.sum(-1), torch.ones(shape[:-1], dtype=dtype))
        # different seeds give different outputs (64 variables: a coincidence has probability ~0)
        logits = torch.randn(64, _k(est, 5), generator=torch.Generator().manual_seed(1), dtype=dtype)
        loss = linear_loss((64, _k(est, 5)), dtype)
        o3, g3 = run(est, logits, 3, loss)
        o4, g4 = run(est, logits, 4, loss)
        assert not (torch.equal(o3, o4) and torch.equal(g3, g4)), f"{est.label}: different seeds, same output"
        if est.pathwise:
            x3 = est.sample(logits, generator=torch.Generator().manual_seed(3))
            x4 = est.sample(logits, generator=torch.Generator().manual_seed(4))
            assert not torch.equal(x3, x4), f"{est.label}: different seeds, same sample"
        check_replicas(est, dtype)
        check_binary(est, dtype)
    assert torch.equal(torch.get_rng_state(), torch_state), f"{est.label} touched the global torch RNG"
    assert np.array_equal(np.random.get_state()[1], np_state)  # noqa: NPY002, f"{est.label} touched the global numpy RNG"


def check_replicas(est: gl.Estimator, dtype, r: int = 6) -> None:
    """Replica axes are independent estimates: one batched call equals r separate calls."""
    event = (3, _k(est, 4))
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


BINARY_LOGITS = [-100.0, -30.0, -3.0, -0.5, -1e-3, 0.0, 1e-3, 0.7, 4.0, 30.0, 100.0]


def check_binary(est: gl.Estimator, dtype, r: int = 64) -> None:
    """``plugin_sample_binary(a, u)`` is component 1 of ``plugin_sample((0, a), u)`` (its contract): the same
    values and the same gradient in ``a``, for ``r`` replicas of logits from -100 to 100 (both forms
    evaluated on the same uniforms; float64 to 1e-12, float32 to its rounding)."""
    a = torch.tensor(BINARY_LOGITS, dtype=dtype).expand(r, -1).contiguous()
    w = torch.randn(a.shape, generator=torch.Generator().manual_seed(7), dtype=dtype)
    u = torch.rand(r, est.num_uniforms((a.shape[1], 2)), generator=torch.Generator().manual_seed(8), dtype=dtype)
    if not est.pathwise:
        try:
            est.plugin_sample_binary(a, u)
        except TypeError as exc:
            assert "score-function" in str(exc)
            return
        raise AssertionError(f"{est.label}: plugin_sample_binary of a score-function estimator must raise")
    a1, a2 = a.clone().requires_grad_(), a.clone().requires_grad_()
    fast = est.plugin_sample_binary(a1, u)
    slow = gl.estimators.Estimator.plugin_sample_binary(est, a2, u)  # the categorical form, by definition
    (g1,) = torch.autograd.grad((w * fast).sum(), a1)
    (g2,) = torch.autograd.grad((w * slow).sum(), a2)
    assert fast.shape == a.shape and fast.dtype == dtype
    assert torch.isfinite(fast).all() and torch.isfinite(g1).all(), est.label
    tol = {"rtol": 1e-12, "atol": 1e-12} if dtype == torch.float64 else {"rtol": 1e-5, "atol": 1e-6}
    if est.relaxed_forward:
        torch.testing.assert_close(fast, slow, **tol)
    else:
        assert torch.equal(fast.detach(), slow.detach()), f"{est.label}: binary and categorical samples differ"
    torch.testing.assert_close(g1, g2, **tol, msg=lambda m: f"{est.label} binary gradient: {m}")


def check_per_element(est: gl.Estimator, logits: torch.Tensor, loss, u: torch.Tensor, parts) -> None:
    """A loss with one value per element (the first axis of ``logits``): the batched estimate with uniforms ``u``
    equals each element's estimate alone with its uniforms ``parts[e]`` (element ``e``'s variables are paired with
    element ``e``'s losses only), to 1e-12."""
    logits = logits.detach().clone().requires_grad_()
    out = est.surrogate(logits, loss, u)
    assert out.shape == (logits.shape[0],), (est.label, out.shape)
    (g,) = torch.autograd.grad(out.sum(), logits)
    for e in range(logits.shape[0]):
        le = logits[e].detach().clone().requires_grad_()
        (ge,) = torch.autograd.grad(est.surrogate(le, loss, parts[e]), le)
        torch.testing.assert_close(g[e], ge, rtol=1e-12, atol=1e-14)
