"""StochasticModel: a two-layer model (2 variables x 3 categories, then 2 x 3 whose logits are a linear map of
the first layer's one-hot), checked against oracles written independently here."""

from __future__ import annotations

import itertools
import math
from statistics import NormalDist

import pytest
import torch

import gradlab as gl
from gradlab.problems import StochasticModel

DT = torch.float64
ALPHA = 1e-3  # false-failure rate of every statistical test in this file (Bonferroni over dimensions)


def make_params(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "a": torch.randn(2, 3, generator=g, dtype=DT),
        "W": 0.7 * torch.randn(6, 6, generator=g, dtype=DT),
        "T": torch.randn(2, 3, generator=g, dtype=DT),
        "U": 0.5 * torch.randn(6, 6, generator=g, dtype=DT),
    }


def forward(p, draw):
    x1 = draw(p["a"])  # (2, 3)
    flat = x1.reshape(6)
    x2 = draw((flat @ p["W"]).reshape(2, 3))  # logits of layer 2: a linear map of layer 1's one-hot
    f2 = x2.reshape(6)
    return (f2 @ p["U"]) @ flat + (x2 * p["T"]).sum() + (f2 * f2.roll(1)).sum() * p["T"][0, 0]


def brute_force_objective(p) -> torch.Tensor:
    """E[L] by an explicit loop over the 81 configurations (no gradlab code)."""
    eye = torch.eye(3, dtype=DT)
    total = torch.zeros((), dtype=DT)
    lp1 = torch.log_softmax(p["a"], -1)
    for c1 in itertools.product(range(3), repeat=2):
        x1 = torch.stack([eye[c] for c in c1])
        logit2 = (x1.reshape(6) @ p["W"]).reshape(2, 3)
        lp2 = torch.log_softmax(logit2, -1)
        for c2 in itertools.product(range(3), repeat=2):
            x2 = torch.stack([eye[c] for c in c2])
            logp = lp1[0, c1[0]] + lp1[1, c1[1]] + lp2[0, c2[0]] + lp2[1, c2[1]]
            f1, f2 = x1.reshape(6), x2.reshape(6)
            loss = (f2 @ p["U"]) @ f1 + (x2 * p["T"]).sum() + (f2 * f2.roll(1)).sum() * p["T"][0, 0]
            total = total + logp.exp() * loss
    return total


@pytest.fixture(scope="module")
def model():
    return StochasticModel(forward, make_params(), groups={"layer1": ("a",), "loss": ("T", "U")})


def test_structure_traced(model):
    assert [d.shape for d in model.draws] == [(2, 3), (2, 3)] and model.loss_shape == ()
    assert model.num_configurations() == 81 and model.layout().size == 6 + 36 + 6 + 36


def test_exact_gradient_equals_brute_force_and_finite_differences(model):
    p = {k: v.clone().requires_grad_() for k, v in make_params().items()}
    obj = brute_force_objective(p)
    grads = torch.autograd.grad(obj, list(p.values()))
    want = torch.cat([g.reshape(-1) for g in grads])
    got = gl.exact_gradient(model, chunk_size=7)  # several chunks
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(gl.exact_expectation(model), obj.detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(gl.exact_gradient(model, "layer1"), want[:6], rtol=1e-12, atol=1e-12)
    # central finite differences of the exact expectation, float64
    base = make_params()
    h = 1e-6
    for name, idx in (("a", (0, 1)), ("W", (2, 4)), ("U", (5, 0))):
        up, dn = {k: v.clone() for k, v in base.items()}, {k: v.clone() for k, v in base.items()}
        up[name][idx] += h
        dn[name][idx] -= h
        fd = (gl.exact_expectation(model, up) - gl.exact_expectation(model, dn)) / (2 * h)
        exact = model.layout().unflatten(got)[name][idx]
        assert abs(float(fd - exact)) <= 1e-6 * max(1.0, abs(float(exact))), name


def _max_z_pvalue(stats, target) -> float:
    z = ((stats.mean - target) / (stats.var / stats.n).sqrt()).abs()
    z = z[torch.isfinite(z)]
    return min(1.0, len(z) * 2 * (1 - NormalDist().cdf(float(z.max()))))


def test_reinforce_unbiased_zgr_biased_on_the_trace(model):
    g = gl.exact_gradient(model)
    rf = gl.sample_gradients(model, gl.estimator("reinforce", m=4), 20_000, seed=1)
    assert _max_z_pvalue(rf, g) > ALPHA  # unbiased: not rejected (fails with probability <= 1e-3)
    zgr = gl.sample_gradients(model, gl.estimator("zgr"), 20_000, seed=2)
    p_zgr = _max_z_pvalue(zgr, g)
    print(f"RF(4) Bonferroni p = {_max_z_pvalue(rf, g):.3f}; ZGR p = {p_zgr:.2e}")
    assert p_zgr < ALPHA  # ZGR is biased here: layer 2's logits depend on layer 1 (measured, not assumed)


def st_layer(logits, gen):
    p = torch.softmax(logits, -1)
    x = torch.nn.functional.one_hot(torch.multinomial(p.reshape(-1, 3), 1, generator=gen).reshape(p.shape[:-1]), 3)
    return x.to(DT) + p - p.detach()


def zgr_layer(logits, gen):
    """The ZGR paper's Fig. B.1 plug-in layer, written out here."""
    p = torch.softmax(logits, -1)
    index = torch.multinomial(p.reshape(-1, 3), 1, generator=gen).reshape(*p.shape[:-1], 1)
    x = torch.zeros_like(p).scatter(-1, index, 1.0)
    logpx = torch.log_softmax(logits, -1).gather(-1, index)
    dx = ((x - p.detach()) * logpx + p) / 2
    return x + dx - dx.detach()


@pytest.mark.parametrize("name, layer", [("st", st_layer), ("zgr", zgr_layer)])
def test_pathwise_mean_equals_an_independent_plug_in_layer(model, name, layer):
    """Mean gradient of the plug-in layers, batch by batch (params shared: the batch mean of the per-sample
    estimates is the gradient of the batch-mean loss), against gradlab's samples: a two-sample z-test."""
    gen = torch.Generator().manual_seed(123)
    n2, batch = 20_000, 2_000
    total = None
    for _ in range(n2 // batch):
        p = {k: v.clone().requires_grad_() for k, v in make_params().items()}
        x1 = layer(p["a"].expand(batch, 2, 3), gen)
        flat = x1.reshape(batch, 6)
        x2 = layer((flat @ p["W"]).reshape(batch, 2, 3), gen)
        f2 = x2.reshape(batch, 6)
        loss = ((f2 @ p["U"]) * flat).sum(-1) + (x2 * p["T"]).sum((-2, -1))
        loss = loss + (f2 * f2.roll(1, -1)).sum(-1) * p["T"][0, 0]
        grads = torch.autograd.grad(loss.mean(), list(p.values()))
        flat_g = torch.cat([g.reshape(-1) for g in grads]) / (n2 // batch)
        total = flat_g if total is None else total + flat_g
    s = gl.sample_gradients(model, gl.estimator(name), 20_000, seed=3)
    z = ((s.mean - total) / (s.var * (1 / s.n + 1 / n2)).sqrt()).abs()
    z = z[torch.isfinite(z)]
    assert len(z) * 2 * (1 - NormalDist().cdf(float(z.max()))) > ALPHA


def test_chunk_invariance_and_decoupled_target(model):
    est = gl.estimator("decoupled_st", tau_f=0.5, tau_b=2.0)
    a = gl.sample_gradients(model, est, 3000, seed=4)
    b = gl.sample_gradients(model, est, 3000, seed=4, chunk_size=77)
    torch.testing.assert_close(a.mean, b.mean, rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(a.m2, b.m2, rtol=1e-10, atol=1e-12)
    # the target of decoupled ST is the objective under softmax(logits / tau_f) at every draw
    tempered = {k: v.clone() for k, v in make_params().items()}
    tempered["a"] = tempered["a"] / 0.5
    tempered["W"] = tempered["W"] / 0.5
    p = {k: v.requires_grad_() for k, v in tempered.items()}
    obj = brute_force_objective(p)
    (ga, gw) = torch.autograd.grad(obj, [p["a"], p["W"]])
    g = gl.exact_gradient(model, estimator=est)
    lay = model.layout().unflatten(g)
    torch.testing.assert_close(lay["a"], ga / 0.5, rtol=1e-12, atol=1e-12)  # chain rule through logits / tau_f
    torch.testing.assert_close(lay["W"], gw / 0.5, rtol=1e-12, atol=1e-12)


def test_eq16_against_reference_samples_agrees_with_exact(model):
    st = gl.sample_gradients(model, gl.estimator("st"), 4000, seed=5, bootstrap=100)
    ref = gl.sample_gradients(model, gl.estimator("reinforce", m=4), 20_000, seed=6, bootstrap=100)
    exact = gl.bias_variance({"st": st}, gl.exact_gradient(model))
    sampled = gl.bias_variance({"st": st}, ref)
    b2 = float(exact["bias2"][0])
    assert float(sampled["bias2_lo"][0]) <= b2 <= float(sampled["bias2_hi"][0])


def test_bad_input():
    params = make_params()
    calls = {"n": 0}

    def changing(p, draw):
        calls["n"] += 1
        x = draw(p["a"] if calls["n"] == 1 else p["a"][:1])
        return (x * p["T"][: x.shape[0]]).sum()

    m = StochasticModel(changing, params)
    with pytest.raises(ValueError, match=r"draw 0 expects logits of shape \(2, 3\) as traced .* got \(1, 3\)"):
        gl.sample_gradients(m, gl.estimator("st"), 10, seed=0)
    with pytest.raises(ValueError, match=r"expects logits \(\.\.\., K\) with K >= 2 categories, got \(2, 1\)"):
        StochasticModel(lambda p, draw: draw(p["a"][:, :1]).sum(), params)
    shapes = {"n": 0}

    def bad_loss(p, draw):
        shapes["n"] += 1
        x = draw(p["a"])
        return (x * p["T"]).sum() if shapes["n"] == 1 else (x * p["T"]).sum(-1)

    m = StochasticModel(bad_loss, params)
    with pytest.raises(ValueError, match=r"per-element losses of shape \(\) as traced, got \(2,\)"):
        gl.exact_gradient(m)
    with pytest.raises(ValueError, match="forward never called draw"):
        StochasticModel(lambda p, draw: p["a"].sum(), params)
    with pytest.raises(TypeError, match=r"params\['a'\] must be a tensor"):
        StochasticModel(forward, {"a": [1.0]})
    with pytest.raises(ValueError, match="wrt must be one of 'all'"):
        gl.exact_gradient(StochasticModel(forward, params), "encoder")
    with pytest.raises(ValueError, match=r"6,561 configurations of the joint support, above max_configurations=100"):
        gl.exact_gradient(StochasticModel(lambda p, d: forward(p, d) + forward(p, d), params), max_configurations=100)
    assert math.isfinite(float(gl.exact_expectation(StochasticModel(forward, params))))


def test_gradient_gap_of_one_sample_by_hand(model):
    """GS-ST(t) through both layers: the relaxed forward (softmax_t(logits + G) at every draw) against the
    straight-through one (one-hot argmax forward, the same softmax backward), with the sampler's uniforms for
    sample 0 turned into Gumbel noise here (-log(-log(u + eps/4)))."""
    from gradlab.measure.sampler import UniformStream

    t = 0.7
    est = gl.estimator("gs_st", t=t)
    u, _ = UniformStream(est, None, 9, DT, "cpu", n_uniforms=model.uniforms_per_sample(est)).take(0, 1)
    eps = torch.finfo(DT).eps
    gumbel = (-torch.log(-torch.log(u[0] + eps / 4))).split([6, 6])

    def grads(hard: bool):
        p = {k: v.clone().requires_grad_() for k, v in make_params().items()}
        noise = iter(gumbel)

        def draw(logits):
            soft = torch.softmax((logits + next(noise).reshape(2, 3)) / t, -1)
            if not hard:
                return soft
            onehot = torch.nn.functional.one_hot(soft.argmax(-1), 3).to(DT)
            return onehot + soft - soft.detach()

        return torch.cat([g.reshape(-1) for g in torch.autograd.grad(forward(p, draw), list(p.values()))])

    want = float(((grads(False) - grads(True)) ** 2).sum())
    got = gl.analysis.gradient_gap(model, est, 1, seed=9)
    assert float(got.mean[0]) == pytest.approx(want, rel=1e-10)
    with pytest.raises(TypeError, match="gradient gap is not defined"):
        gl.analysis.gradient_gap(model, gl.estimator("zgr"), 10)


def test_existing_problems_written_as_stochastic_models_give_the_same_numbers():
    """The single-layer problems share the engine: the same problem written with StochasticModel (reusing its
    own logits and loss code) gives the same exact gradient and, for the same seed, the same samples."""
    from gradlab.problems.build import build_problem

    single = build_problem({"kind": "single", "num_classes": 5, "loss": "quadratic"})
    loss = single.user_loss
    as_model = StochasticModel(lambda p, draw: loss(draw(p["logits"])), single.param_values())
    assert torch.equal(gl.exact_gradient(as_model), gl.exact_gradient(single))
    for est in (gl.estimator("zgr"), gl.estimator("gs_st", t=0.5), gl.estimator("reinforce", m=3)):
        a, b = gl.sample_gradients(as_model, est, 2000, seed=1), gl.sample_gradients(single, est, 2000, seed=1)
        torch.testing.assert_close(a.mean, b.mean, rtol=1e-12, atol=1e-14)

    vae = build_problem({"kind": "vae", "num_vars": 2, "num_classes": 4, "batch_size": 3, "hidden": [16, 8]})

    def forward(p, draw):
        logits = vae.logits(p)
        return vae.loss(draw(logits), p, logits)

    joint = StochasticModel(forward, vae.param_values())  # 4^(2 x 3) joint configurations of the 3 images
    torch.testing.assert_close(gl.exact_gradient(joint), gl.exact_gradient(vae), rtol=1e-12, atol=1e-13)
    per_element = StochasticModel(forward, vae.param_values(), elements_independent=True)
    for est in (gl.estimator("zgr"), gl.estimator("reinforce", m=3)):  # the VAE's RF scores each image alone
        a, b = gl.sample_gradients(per_element, est, 2000, seed=2), gl.sample_gradients(vae, est, 2000, seed=2)
        torch.testing.assert_close(a.mean, b.mean, rtol=1e-10, atol=1e-14)
        torch.testing.assert_close(a.m2, b.m2, rtol=1e-10, atol=1e-14)
    # the default whole-trace score is also unbiased, with more variance than per-element scores
    whole = gl.sample_gradients(joint, gl.estimator("reinforce", m=3), 2000, seed=2)
    assert whole.avg_var > gl.sample_gradients(vae, gl.estimator("reinforce", m=3), 2000, seed=2).avg_var
    with pytest.raises(ValueError, match="elements_independent needs per-element losses"):
        StochasticModel(lambda p, draw: draw(p["a"]).sum(), make_params(), elements_independent=True)


@pytest.mark.parametrize("wrt", ["all", "logits"])
def test_vae_vectorised_path_equals_a_per_sample_loop(wrt):
    """The VAE's sampler path (its own code under vmap) against a plain loop: one sample at a time, plain
    autograd, the KL given the forward distribution's logits explicitly (decoupled ST's target)."""
    from gradlab.problems.build import build_problem

    vae = build_problem({"kind": "vae", "num_vars": 2, "num_classes": 4, "batch_size": 5, "hidden": [16, 8]})
    for est in (
        gl.estimator("decoupled_st", tau_f=0.5, tau_b=2.0),
        gl.estimator("gs", t=0.5),
        gl.estimator("reinforce", m=3),
    ):
        u = torch.rand(4, vae.uniforms_per_sample(est), generator=torch.Generator().manual_seed(0), dtype=DT)
        got = vae.per_sample_gradients(est, u, wrt)
        for r in range(4):
            leaves = {k: v.clone().requires_grad_() for k, v in vae.params(wrt).items()}
            full = vae.full_params(leaves)
            logits = vae.latent_logits(full)
            if est.pathwise:
                out = vae.loss(est.plugin_sample(logits, u[r]), full, est.forward_logits(logits)).sum()
            else:
                out = est.surrogate(logits, lambda x, full=full, logits=logits: vae.loss(x, full, logits), u[r]).sum()
            grads = torch.autograd.grad(out, list(leaves.values()), allow_unused=True)
            for k, g in zip(leaves, grads, strict=True):
                want = torch.zeros_like(leaves[k]) if g is None else g
                torch.testing.assert_close(got[k][r], want, rtol=1e-10, atol=1e-12)


def test_a_forward_that_vmap_cannot_trace_gets_a_one_line_error():
    def branching(p, draw):
        x = draw(p["a"])
        return (x * 2).sum() if x[0, 0] > 0.5 else x.sum()  # Python control flow on a sample

    m = StochasticModel(branching, make_params())
    with pytest.raises(ValueError, match=r"forward must be vmap-compatible .* torch.func.vmap said: vmap: It looks"):
        gl.sample_gradients(m, gl.estimator("st"), 10, seed=0)
    with pytest.raises(ValueError, match="forward must be vmap-compatible"):
        gl.exact_gradient(m)
