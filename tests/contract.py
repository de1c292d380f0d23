"""The estimator contract, as installed with the package (``gradlab.testing.check_estimator``; used by
test_contract.py and by the test of a user-registered estimator), and a per-element check used by the estimators'
tests."""

from __future__ import annotations

import torch

import gradlab as gl
from gradlab.testing import _binary, check_estimator


def check_contract(est: gl.Estimator) -> None:
    """The contract without the z-test of unbiasedness (``tests/estimators/test_unbiased.py`` runs that on four
    problem kinds)."""
    check_estimator(est, statistical=False)


def check_binary(est: gl.Estimator, dtype) -> None:
    """The binary form's part of the contract alone."""
    _binary(est, dtype)


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
