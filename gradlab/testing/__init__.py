"""Contracts a user can run on an estimator or a problem of their own (issue 24): ``check_estimator(est)`` and
``check_problem(problem)``, installed with the package. gradlab's own tests run them over every registered
estimator and every registered problem kind (each kind registers a small example configuration), so a new
estimator or problem is covered by the same checks as the built-in ones.

Each check raises ``AssertionError`` with a one-line message naming what failed and by how much, and returns a
small report (a dict) when everything holds. The statistical checks are z-tests of a sample mean against an
exact gradient, the largest ``|z|`` over the parameters with a Bonferroni correction: false-failure rate ``alpha``
(default 1e-3) at a fixed seed, by the central limit theorem.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import numpy as np
import torch

from gradlab.estimators import Estimator
from gradlab.estimators import estimator as make_estimator
from gradlab.measure.exact import check_enumerable, exact_expectation, exact_gradient
from gradlab.measure.sampler import sample_gradients
from gradlab.problems.base import Problem

LAYER = 4  # this folder's layer, bottom up (tests/test_layers.py, docs/ARCHITECTURE.md)

__all__ = ["check_estimator", "check_problem"]

_SHAPES = [(7,), (3, 5), (2, 3, 4)]
_BINARY_LOGITS = [-100.0, -30.0, -3.0, -0.5, -1e-3, 0.0, 1e-3, 0.7, 4.0, 30.0, 100.0]


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _linear_loss(shape, dtype, seed=0):
    w = torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)
    n_event = len(shape)

    def loss(x):  # (*lead, *shape) -> (*lead,)
        return (x * w).sum(dim=tuple(range(x.ndim - n_event, x.ndim)))

    return loss


def _run(est: Estimator, logits: torch.Tensor, seed: int, loss):
    e = logits.detach().clone().requires_grad_()
    out = est.estimate(e, loss, generator=torch.Generator().manual_seed(seed))
    (g,) = torch.autograd.grad(out.sum(), e)
    return out.detach(), g


def _k(est: Estimator, k: int) -> int:
    """``k`` categories, or the number the estimator is defined for (``categories``: 2 for ARM)."""
    return est.categories or k


def _contract(est: Estimator, dtype: torch.dtype) -> None:
    """Shapes, dtypes, finiteness, one-hot forward samples, determinism under a seed, different seeds differ."""
    for shape in [(*s[:-1], _k(est, s[-1])) for s in _SHAPES]:
        logits = 2 * torch.randn(shape, generator=torch.Generator().manual_seed(1), dtype=dtype)
        loss = _linear_loss(shape, dtype)
        out, g = _run(est, logits, 3, loss)
        _require(out.shape == (), f"{est.label}: estimate of logits {shape} has shape {tuple(out.shape)}, not ()")
        _require(out.dtype == dtype and g.dtype == dtype, f"{est.label}: {dtype} logits gave {out.dtype}/{g.dtype}")
        _require(g.shape == logits.shape, f"{est.label}: gradient shape {tuple(g.shape)} != logits {shape}")
        _require(bool(torch.isfinite(out)) and bool(torch.isfinite(g).all()), f"{est.label}: NaN/Inf at {shape}")
        out2, g2 = _run(est, logits, 3, loss)
        _require(torch.equal(out, out2) and torch.equal(g, g2), f"{est.label}: the same seed gave different outputs")
        if est.pathwise:
            x = est.sample(logits, generator=torch.Generator().manual_seed(3))
            _require(x.shape == logits.shape and x.dtype == dtype, f"{est.label}: sample shape or dtype wrong")
            if not est.relaxed_forward:
                one_hot = set(torch.unique(x).tolist()) <= {0.0, 1.0} and torch.equal(
                    x.sum(-1), torch.ones_like(x[..., 0])
                )
                _require(one_hot, f"{est.label}: forward samples are not one-hot (declare relaxed_forward if intended)")
            else:
                _require(bool((x >= 0).all()), f"{est.label}: a relaxed sample has negative entries")
                torch.testing.assert_close(x.sum(-1), torch.ones_like(x[..., 0]))
    logits = torch.randn(64, _k(est, 5), generator=torch.Generator().manual_seed(1), dtype=dtype)
    loss = _linear_loss(tuple(logits.shape), dtype)
    o3, g3 = _run(est, logits, 3, loss)
    o4, g4 = _run(est, logits, 4, loss)
    _require(not (torch.equal(o3, o4) and torch.equal(g3, g4)), f"{est.label}: different seeds gave the same output")


def _replicas(est: Estimator, dtype: torch.dtype, r: int = 6) -> None:
    """Replica axes are independent estimates: one batched call equals ``r`` separate calls."""
    event = (3, _k(est, 4))
    gen = torch.Generator().manual_seed(2)
    logits = torch.randn(r, *event, generator=gen, dtype=dtype).requires_grad_()
    u = est.draw_uniforms(logits, gen, sample_ndim=1)
    _require(u.shape == (r, est.num_uniforms(event)), f"{est.label}: draw_uniforms shape {tuple(u.shape)}")
    loss = _linear_loss(event, dtype, seed=5)
    out = est.surrogate(logits, loss, u)
    _require(out.shape == (r,), f"{est.label}: surrogate of {r} replicas has shape {tuple(out.shape)}")
    (g,) = torch.autograd.grad(out.sum(), logits)
    tol = {"rtol": 1e-5, "atol": 1e-6}
    for i in range(r):
        li = logits[i].detach().clone().requires_grad_()
        oi = est.surrogate(li, loss, u[i])
        (gi,) = torch.autograd.grad(oi, li)
        torch.testing.assert_close(oi, out[i].detach(), **tol, msg=lambda m, i=i: f"{est.label} replica {i}: {m}")
        torch.testing.assert_close(gi, g[i], **tol, msg=lambda m, i=i: f"{est.label} replica {i} gradient: {m}")


def _binary(est: Estimator, dtype: torch.dtype, r: int = 64) -> None:
    """``plugin_sample_binary(a, u)`` is component 1 of ``plugin_sample((0, a), u)``: the same values and the
    same gradient in ``a`` for logits from -100 to 100 (float64 to 1e-12, float32 to its rounding)."""
    a = torch.tensor(_BINARY_LOGITS, dtype=dtype).expand(r, -1).contiguous()
    w = torch.randn(a.shape, generator=torch.Generator().manual_seed(7), dtype=dtype)
    u = torch.rand(r, est.num_uniforms((a.shape[1], 2)), generator=torch.Generator().manual_seed(8), dtype=dtype)
    if not est.pathwise:
        try:
            est.plugin_sample_binary(a, u)
        except TypeError as exc:
            _require("score-function" in str(exc), f"{est.label}: plugin_sample_binary raised {exc}")
            return
        raise AssertionError(f"{est.label}: plugin_sample_binary of a score-function estimator must raise TypeError")
    a1, a2 = a.clone().requires_grad_(), a.clone().requires_grad_()
    fast = est.plugin_sample_binary(a1, u)
    slow = Estimator.plugin_sample_binary(est, a2, u)  # the categorical form, by definition
    (g1,) = torch.autograd.grad((w * fast).sum(), a1)
    (g2,) = torch.autograd.grad((w * slow).sum(), a2)
    _require(fast.shape == a.shape and fast.dtype == dtype, f"{est.label}: binary sample shape or dtype wrong")
    _require(bool(torch.isfinite(fast).all() and torch.isfinite(g1).all()), f"{est.label}: binary NaN/Inf")
    tol = {"rtol": 1e-12, "atol": 1e-12} if dtype == torch.float64 else {"rtol": 1e-5, "atol": 1e-6}
    if est.relaxed_forward:
        torch.testing.assert_close(fast, slow, **tol, msg=lambda m: f"{est.label} binary sample: {m}")
    else:
        _require(torch.equal(fast.detach(), slow.detach()), f"{est.label}: binary and categorical samples differ")
    torch.testing.assert_close(g1, g2, **tol, msg=lambda m: f"{est.label} binary gradient: {m}")


def _unbiased_problem(est: Estimator) -> Problem:
    """A non-linear loss of two categorical variables (3 categories; 2 for binary-only estimators)."""
    from gradlab.problems import MultiCategorical

    w = torch.tensor([[0.5, -1.5, 1.0], [2.0, -0.3, 0.7]], dtype=torch.float64)
    logits = torch.tensor([[0.3, -1.0, 0.8], [1.2, 0.1, -0.5]], dtype=torch.float64)
    if est.categories == 2:
        w, logits = w[:, :2], logits[:, :2]

    def loss(x):  # non-linear, so no relaxation is exact
        return (x * w).sum((-2, -1)) ** 2 + torch.sin(2 * x[..., 0, 0] * x[..., 1, -1])

    return MultiCategorical(logits, loss)


def check_estimator(
    est: Estimator, *, statistical: bool = True, n: int = 20_000, seed: int = 31, alpha: float = 1e-3
) -> dict[str, Any]:
    """The contract every estimator satisfies (gradlab's tests hold every registered one to it), in float32 and
    float64: an estimate is a scalar with a finite gradient of the logits' shape and dtype; forward samples are
    one-hot (unless ``relaxed_forward``); the same seed gives the same output and different seeds different ones;
    a batch of replicas equals the replicas one by one; the binary form equals the categorical one on logits
    from -100 to 100; the global torch and NumPy random states are untouched. With ``statistical`` (the
    default), an estimator that declares ``unbiased`` is also held to it: ``n`` samples on a non-linear loss of
    two categorical variables against the exact gradient (:func:`check_problem`'s z-test, false-failure rate
    ``alpha``).

    Returns ``{"estimator": label, "unbiased": report or None}``; raises ``AssertionError`` naming what failed."""
    if not isinstance(est, Estimator):
        raise TypeError(f"check_estimator: est must be a gradlab Estimator, got {type(est).__name__}")
    torch_state = torch.get_rng_state()
    np_state = np.random.get_state()[1].copy()  # noqa: NPY002 (checking the legacy global state)
    for dtype in (torch.float32, torch.float64):
        _contract(est, dtype)
        _replicas(est, dtype)
        _binary(est, dtype)
    _require(torch.equal(torch.get_rng_state(), torch_state), f"{est.label}: touched the global torch RNG")
    _require(np.array_equal(np.random.get_state()[1], np_state), f"{est.label}: touched the global NumPy RNG")  # noqa: NPY002
    report = None
    if statistical and est.unbiased:
        report = check_problem(_unbiased_problem(est), estimator=est, n=n, seed=seed, alpha=alpha, fd_coordinates=0)
    return {"estimator": est.label, "unbiased": report}


def _z_test(mean: torch.Tensor, var: torch.Tensor, n: int, exact: torch.Tensor, alpha: float, what: str) -> dict:
    se = (var / n).sqrt()
    exact_where = se <= 1e-12 * (1 + exact.abs())  # no variance there: the estimate must be exact
    if bool(exact_where.any()):
        off = (mean - exact)[exact_where].abs() - (1e-12 + 1e-10 * exact[exact_where].abs())  # rtol 1e-10, atol 1e-12
        gap = float((mean - exact)[exact_where].abs().max())
        _require(bool((off <= 0).all()), f"{what}: zero variance but off the exact value by {gap:.3g}")
    z = ((mean - exact) / se)[~exact_where].abs()
    if not len(z):
        return {"max_abs_z": 0.0, "parameters": 0, "p_value": 1.0}
    p = min(1.0, len(z) * 2 * (1 - NormalDist().cdf(float(z.max()))))
    _require(
        p > alpha,
        f"{what}: max |z| = {float(z.max()):.2f} over {len(z)} parameters (Bonferroni p = {p:.2g} <= {alpha})",
    )
    return {"max_abs_z": float(z.max()), "parameters": len(z), "p_value": p}


def check_problem(
    problem: Problem,
    *,
    estimator: Estimator | None = None,
    n: int = 4000,
    seed: int = 0,
    alpha: float = 1e-3,
    fd_coordinates: int = 6,
    max_configurations: int = 2**16,
) -> dict[str, Any]:
    """What every problem satisfies (gradlab's tests run it on each registered kind's example), for a float64
    problem small enough to enumerate:

    1. the exact gradient has the size of ``problem.layout()`` and does not depend on the enumeration's chunk;
    2. it equals central finite differences of the exact expectation at ``fd_coordinates`` parameters (the
       largest components of the gradient and a few chosen at random), to 1e-6 relative;
    3. the sampler gives the same estimates whatever its chunk size (the noise is chunk-invariant);
    4. an unbiased ``estimator`` (default REINFORCE with 4 samples and its leave-one-out baseline) is unbiased
       against the exact gradient: ``n`` samples, the largest ``|z|`` over the parameters with a Bonferroni
       correction, false-failure rate ``alpha`` at the fixed ``seed``.

    A problem with more than ``max_configurations`` configurations (per element, for independent elements) has
    no exact gradient to check against: it gets the sampler's checks (3, the samples finite and of the layout's
    size), and the report says ``"enumerable": False``.

    Returns the measured numbers; raises ``AssertionError`` naming what failed, ``ValueError`` for an argument
    this check cannot take (a float32 problem, an estimator not declared unbiased)."""
    if not isinstance(problem, Problem):
        raise TypeError(f"check_problem: problem must be a gradlab Problem, got {type(problem).__name__}")
    if problem.dtype != torch.float64:
        raise ValueError(f"check_problem: problem must be float64 (finite differences need it), got {problem.dtype}")
    est = estimator if estimator is not None else _default_estimator()
    if not est.unbiased:
        raise ValueError(f"check_problem: estimator must declare unbiased (e.g. reinforce), got {est.label}")
    name = getattr(problem, "name", type(problem).__name__)
    size = problem.layout("all").size
    try:
        configurations = check_enumerable(problem, max_configurations)
    except ValueError:
        return {"problem": name, "enumerable": False, "parameters": size, **_sampler_checks(problem, est, seed, name)}
    exact = exact_gradient(problem)
    _require(exact.shape == (size,), f"{name}: exact gradient of {tuple(exact.shape)} for a layout of {size}")
    _require(bool(torch.isfinite(exact).all()), f"{name}: the exact gradient has NaN/Inf")

    # 1. chunk invariance of the enumeration
    chunk = max(1, math.ceil(configurations / 3))
    other = exact_gradient(problem, chunk_size=chunk)
    scale = 1 + float(exact.abs().max())
    gap = float((other - exact).abs().max())
    _require(gap <= 1e-10 * scale, f"{name}: the exact gradient changes with the chunk ({chunk}): by {gap:.3g}")

    # 2. finite differences of the exact expectation
    fd_error = 0.0
    if fd_coordinates:
        layout = problem.layout("all")
        order = torch.argsort(exact.abs(), descending=True).tolist()
        rng = np.random.default_rng(seed)
        picks = list(dict.fromkeys(order[: (fd_coordinates + 1) // 2] + rng.permutation(size).tolist()))[
            :fd_coordinates
        ]
        base = {k: v.detach().clone() for k, v in problem.params("all").items()}
        flat = layout.flatten(base)
        for j in picks:
            h = 1e-5 * max(1.0, abs(float(flat[j])))
            values = []
            for sign in (1, -1):
                moved = flat.clone()
                moved[j] += sign * h
                with torch.no_grad():
                    values.append(float(exact_expectation(problem, layout.unflatten(moved))))
            fd = (values[0] - values[1]) / (2 * h)
            err = abs(fd - float(exact[j])) / (1 + abs(fd))
            fd_error = max(fd_error, err)
            _require(
                err <= 1e-6,
                f"{name}: exact gradient {float(exact[j]):.10g} != finite difference {fd:.10g} at {layout.labels()[j]}",
            )

    # 3. chunk invariance of the sampler, 4. unbiasedness
    sampler = _sampler_checks(problem, est, seed, name)
    stats = sample_gradients(problem, est, n, seed=seed)
    z = _z_test(stats.mean, stats.var, stats.n, exact, alpha, f"{name}: {est.label} against the exact gradient")
    return {
        "problem": name,
        "enumerable": True,
        "configurations": configurations,
        "parameters": size,
        "finite_difference_error": fd_error,
        **sampler,
        "n": stats.n,
        **z,
    }


def _sampler_checks(problem: Problem, est: Estimator, seed: int, name: str) -> dict[str, Any]:
    """16 samples drawn in chunks of 16, 5 and 1: the same samples (chunk-invariant noise), finite, of the
    layout's size."""
    size = problem.layout("all").size
    whole = sample_gradients(problem, est, 16, seed=seed, chunk_size=16, keep_samples=16)
    _require(
        whole.samples.shape == (16, size), f"{name}: samples of shape {tuple(whole.samples.shape)}, not (16, {size})"
    )
    _require(bool(torch.isfinite(whole.samples).all()), f"{name}: {est.label}'s samples have NaN/Inf")
    worst = 0.0
    for c in (5, 1):
        again = sample_gradients(problem, est, 16, seed=seed, chunk_size=c, keep_samples=16)
        gap = float((again.samples - whole.samples).abs().max())
        worst = max(worst, gap)
        scale = 1 + float(whole.samples.abs().max())
        _require(
            gap <= 1e-9 * scale, f"{name}: {est.label}'s samples change with the chunk ({c} against 16): by {gap:.3g}"
        )
    return {"estimator": est.label, "sampler_chunk_gap": worst}


def _default_estimator() -> Estimator:
    """REINFORCE with 4 samples and the leave-one-out baseline: unbiased for every problem."""
    return make_estimator("reinforce", m=4)
