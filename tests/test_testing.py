"""gradlab.testing: the contracts a user can run (issue 24). ``check_problem`` on every registered problem kind's
example, and each check failing where it should: a wrong exact gradient (finite differences), an enumeration that
depends on its chunk, a biased estimator that declares itself unbiased (the z-test, whose false-failure rate is
1e-3 at the fixed seed), an estimator that touches the global RNG."""

from __future__ import annotations

import pytest
import torch

import gradlab as gl
from gradlab.problems.build import PROBLEM_KINDS, PROBLEMS, build_problem
from gradlab.testing import check_estimator, check_problem

NOT_ENUMERABLE = {"quantized", "logic_gates"}  # draws shared by the minibatch: 16-level weights, 16-way gates


@pytest.mark.parametrize("kind", sorted(PROBLEMS))
def test_check_problem_on_every_registered_kind(kind):
    example = PROBLEMS[kind].example
    assert example is not None, f"problem kind {kind!r} registers no example for gradlab.testing.check_problem"
    report = check_problem(build_problem({"kind": kind, **example}))
    assert report["enumerable"] == (kind not in NOT_ENUMERABLE)
    assert report["sampler_chunk_gap"] <= 1e-9
    if report["enumerable"]:
        assert report["finite_difference_error"] <= 1e-6 and report["p_value"] > 1e-3


def test_every_built_in_kind_is_checked():
    assert set(PROBLEM_KINDS) <= {k for k, v in PROBLEMS.items() if v.example is not None}


class _HalfGradient(gl.problems.SingleCategorical):
    """The forward value of the built-in problem, half its gradient: the exact gradient is wrong."""

    def latent_logits(self, params):
        logits = super().latent_logits(params)
        return logits.detach() + 0.5 * (logits - logits.detach())


class _ChunkDependent(gl.problems.SingleCategorical):
    """Adds a term that depends on how the configurations are chunked."""

    def enumerated_terms(self, params, logits, start, stop):
        return super().enumerated_terms(params, logits, start, stop) + 1e-3 * (stop - start) ** 2 * logits.sum()


def _single(cls=gl.problems.SingleCategorical):
    base = build_problem({"kind": "single", "num_classes": 4})
    return cls(base.param_values()["logits"], base.user_loss, torch.float64, "cpu")


def test_check_problem_fails_on_a_wrong_exact_gradient():
    assert check_problem(_single())["finite_difference_error"] < 1e-8
    with pytest.raises(AssertionError, match="finite difference"):
        check_problem(_single(_HalfGradient))


def test_check_problem_fails_on_a_chunk_dependent_enumeration():
    with pytest.raises(AssertionError, match="changes with the chunk"):
        check_problem(_single(_ChunkDependent))


class _BiasedST(gl.estimators.REGISTRY["st"]):
    unbiased = True  # it is not: ST is biased for a non-linear loss


class _GlobalRNG(gl.estimators.REGISTRY["st"]):
    def draw_uniforms(self, logits, generator, sample_ndim=0):
        torch.rand(1)  # the global generator: forbidden
        return super().draw_uniforms(logits, generator, sample_ndim)


def test_the_z_test_catches_a_biased_estimator_that_declares_unbiased():
    with pytest.raises(AssertionError, match=r"max \|z\|"):
        check_estimator(_BiasedST())
    with pytest.raises(ValueError, match="estimator must declare unbiased"):
        check_problem(_single(), estimator=gl.estimator("st"))


def test_check_estimator_catches_the_global_rng_and_passes_a_good_estimator():
    with pytest.raises(AssertionError, match="global torch RNG"):
        check_estimator(_GlobalRNG(), statistical=False)
    report = check_estimator(gl.estimator("reinforce", m=2))
    assert report["unbiased"]["p_value"] > 1e-3 and report["unbiased"]["n"] == 20_000


def test_bad_arguments_are_one_line_errors():
    with pytest.raises(ValueError, match="problem must be float64"):
        check_problem(build_problem({"kind": "single", "num_classes": 3, "dtype": "float32"}))
    with pytest.raises(TypeError, match="problem must be a gradlab Problem"):
        check_problem("single")
    with pytest.raises(TypeError, match="est must be a gradlab Estimator"):
        check_estimator("zgr")
    with pytest.raises(ValueError, match="example has settings not among keys"):
        gl.problems.register_problem("bad_example", lambda c, d, dev: None, ("a",), example={"b": 1})


def _chain_model(cfg, dtype, device):
    """A two-layer model written only for this test: ``h ~ Cat(softmax(a))`` (``V`` variables, ``K`` categories),
    then ``y ~ Cat(softmax(h W))`` per variable, loss ``sum (y - c)^2``."""
    v, k = int(cfg.get("num_vars", 2)), int(cfg.get("num_classes", 3))
    g = torch.Generator().manual_seed(int(cfg.get("seed", 0)))
    params = {"a": torch.randn(v, k, generator=g, dtype=dtype), "w": torch.randn(k, k, generator=g, dtype=dtype)}
    target = torch.linspace(0.0, 1.0, k, dtype=dtype)

    def forward(p, draw):
        h = draw(p["a"])
        y = draw(h @ p["w"])
        return ((y - target) ** 2).sum().reshape(1)

    return gl.problems.StochasticModel(forward, params, dtype=dtype, device=device, name="chain")


def test_a_new_problem_kind_is_covered_by_its_registration_and_example():
    """The cost of a new problem kind: one build function and one ``register_problem`` call with an example. The
    contract (exact gradient against finite differences and chunking, the sampler's chunk invariance, REINFORCE
    unbiased against it) then runs on it, and the engines take it through the one problem interface, with
    estimators of every multi-layer strategy (plug-in, whole trace, later draws resampled, relaxed)."""
    gl.problems.register_problem("chain_test", _chain_model, ("num_vars", "num_classes", "seed"), example={"seed": 3})
    try:
        prob = build_problem({"kind": "chain_test", **PROBLEMS["chain_test"].example})
        report = check_problem(prob)
        assert report["enumerable"] and report["finite_difference_error"] <= 1e-6 and report["p_value"] > 1e-3
        exact = gl.exact_gradient(prob)
        assert exact.shape == (prob.layout().size,) and torch.isfinite(exact).all()
        for name, hp in [("zgr", {}), ("reinforce", {"m": 2}), ("rb_reinforce", {}), ("rebar", {})]:
            stats = gl.sample_gradients(prob, gl.estimator(name, **hp), 200, seed=0)
            assert stats.mean.shape == exact.shape and torch.isfinite(stats.mean).all(), name
    finally:
        PROBLEMS.pop("chain_test", None)
