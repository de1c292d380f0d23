"""The training-study models: QuantizedNetwork (deterministic mode, quantizer logits, learnable noise),
LogicGateNetwork (the 16 relaxed gates against their truth tables), CategoricalAutoencoder (the VAE's networks,
code perplexity), each as a problem (exact gradients on an enumerable instance) and as a trainable model."""

from __future__ import annotations

import math

import pytest
import torch

import gradlab as gl
from gradlab.core.distributions import quantization_log_probs
from gradlab.problems import CategoricalAutoencoder, LogicGateNetwork, QuantizedNetwork
from gradlab.problems.logic_gates import GATE_NAMES

DT = torch.float64

TRUTH = {  # written out independently of the coefficient table: name -> f(a, b) on booleans
    "false": lambda a, b: False,
    "a and b": lambda a, b: a and b,
    "a and not b": lambda a, b: a and not b,
    "a": lambda a, b: a,
    "not a and b": lambda a, b: (not a) and b,
    "b": lambda a, b: b,
    "xor": lambda a, b: a != b,
    "or": lambda a, b: a or b,
    "nor": lambda a, b: not (a or b),
    "xnor": lambda a, b: a == b,
    "not b": lambda a, b: not b,
    "a or not b": lambda a, b: a or not b,
    "not a": lambda a, b: not a,
    "not a or b": lambda a, b: (not a) or b,
    "nand": lambda a, b: not (a and b),
    "true": lambda a, b: True,
}


def test_relaxed_gates_equal_their_truth_tables_and_probabilities():
    """A one-layer network of 16 neurons, neuron g forced to gate g: at inputs in {0, 1} each output is the truth
    table; at real inputs it is P(gate outputs 1) for independent Bernoulli inputs (computed by enumeration)."""
    net = LogicGateNetwork(widths=(10,), batch_size=4)
    coef = gl.problems.logic_gates.gate_coefficients(DT)
    for g, name in enumerate(GATE_NAMES):
        c = coef[g]
        for a in (0.0, 1.0):
            for b in (0.0, 1.0):
                value = c[0] + c[1] * a + c[2] * b + c[3] * a * b
                assert float(value) == float(TRUTH[name](bool(a), bool(b))), (name, a, b)
        pa, pb = 0.3, 0.8
        prob = sum(
            (pa if a else 1 - pa) * (pb if b else 1 - pb) * TRUTH[name](a, b)
            for a in (False, True)
            for b in (False, True)
        )
        assert math.isclose(float(c[0] + c[1] * pa + c[2] * pb + c[3] * pa * pb), prob, rel_tol=1e-12, abs_tol=1e-15)
    # the network computes exactly that: forced gates, binary inputs, outputs against a direct evaluation
    p = net.param_values()
    choice = torch.eye(16, dtype=DT)[torch.arange(10) % 16]
    out = net._outputs(p, lambda i, logits: choice)  # (B, 10): group sums of one neuron each, / tau
    ia, ib = net.wiring[0]
    for n in range(10):
        for e in range(net.x.shape[0]):
            a, b = bool(net.x[e, ia[n]]), bool(net.x[e, ib[n]])
            assert float(out[e, n]) * net.tau == float(TRUTH[GATE_NAMES[n]](a, b))


def test_gate_usage_and_perplexity():
    net = LogicGateNetwork(widths=(16, 20), batch_size=2)
    p = net.param_values()
    p["gates0"] = torch.eye(16, dtype=DT) * 5  # every gate once
    p["gates1"] = torch.zeros(20, 16, dtype=DT).index_fill_(1, torch.tensor([6]), 1.0)  # all xor
    counts, ppl = net.gate_usage(p)
    assert counts.tolist() == [1] * 6 + [21] + [1] * 9
    q = counts.double() / 36
    assert math.isclose(ppl, math.exp(-float((q * q.log()).sum())), rel_tol=1e-12)
    p["gates1"] = torch.eye(16, dtype=DT).repeat(2, 1)[:20]  # 16 + 20 neurons: gates 0..3 three times, others twice
    counts, ppl = net.gate_usage(p)
    assert counts.tolist() == [3] * 4 + [2] * 12
    assert math.isclose(ppl, math.exp(-(4 * 3 / 36 * math.log(3 / 36) + 12 * 2 / 36 * math.log(2 / 36))), rel_tol=1e-12)


def test_quantized_deterministic_mode_is_rounding_of_noise_free_inputs():
    """Deterministic logits against an independent forward pass: every weight and activation at the level
    nearest its input (argmin of the distance), batch normalisation with the batch's statistics."""
    net = QuantizedNetwork(hidden=(8, 6), weights="2bit", activations="ternary", batch_size=30)
    p = net.param_values()

    def nearest(eta, levels):
        return levels[(eta.unsqueeze(-1) - levels).abs().argmin(-1)]

    h = net.x
    for i in range(3):
        w = nearest(p[f"w{i}"], net.levels[i]) / math.sqrt(h.shape[1])
        pre = h @ w
        if i == 2:
            logits = pre + p["b_out"]
            break
        z = (pre - pre.mean(0)) / torch.sqrt(pre.var(0, unbiased=False) + 1e-5) * p[f"bn{i}_g"] + p[f"bn{i}_b"]
        h = nearest(z, net.act_levels)
    torch.testing.assert_close(net.deterministic_logits(p), logits, rtol=1e-12, atol=1e-12)
    assert net.levels[0].tolist() == list(range(-8, 8)) and net.levels[1].tolist() == [-2, -1, 0, 1]


def test_quantized_convolutional_deterministic_mode_against_unfolded_convolution():
    """The convolutional network (App. B.5 has 32C5-MP2-64C5-MP2-512FC-10FC; here 3C3-MP2-4C3-MP2-7FC-10FC) in the
    deterministic mode against an independent forward pass: convolution as a matrix product of unfolded patches
    with zero padding, batch normalisation per channel, 2 x 2 max pooling as the maximum of the four offsets."""
    net = QuantizedNetwork(hidden=(7,), conv=(3, 4), kernel=3, weights="ternary", activations="2bit", batch_size=12)
    p = net.param_values()
    assert [tuple(p[f"w{i}"].shape) for i in range(4)] == [(3, 1, 3, 3), (4, 3, 3, 3), (16, 7), (7, 10)]

    def nearest(eta, levels):
        return levels[(eta.unsqueeze(-1) - levels).abs().argmin(-1)]

    def bn(pre, i, dims):
        mean = pre.mean(dims, keepdim=True)
        var = ((pre - mean) ** 2).mean(dims, keepdim=True)
        shape = [1] * pre.dim()
        shape[1 if pre.dim() == 4 else -1] = -1
        g, b = p[f"bn{i}_g"].reshape(shape), p[f"bn{i}_b"].reshape(shape)
        return (pre - mean) / torch.sqrt(var + 1e-5) * g + b

    h = net.x.reshape(-1, 1, 8, 8)
    for i in range(2):
        w = nearest(p[f"w{i}"], net.levels[i]) / math.sqrt(w_in := p[f"w{i}"][0].numel())
        assert w_in == (1 if i == 0 else 3) * 9
        b, c, side = h.shape[0], h.shape[1], h.shape[2]
        padded = torch.zeros(b, c, side + 2, side + 2, dtype=DT)
        padded[:, :, 1:-1, 1:-1] = h
        patches = torch.stack(
            [padded[:, :, r : r + 3, s : s + 3].reshape(b, -1) for r in range(side) for s in range(side)], 1
        )  # (B, positions, C * 9)
        pre = (patches @ w.reshape(w.shape[0], -1).T).transpose(1, 2).reshape(b, -1, side, side)
        act = nearest(bn(pre, i, (0, 2, 3)), net.act_levels)
        h = torch.stack([act[:, :, r::2, s::2] for r in (0, 1) for s in (0, 1)]).amax(0)
    h = h.reshape(h.shape[0], -1)
    h = nearest(bn(h @ (nearest(p["w2"], net.levels[2]) / 4.0), 2, (0,)), net.act_levels)
    logits = h @ (nearest(p["w3"], net.levels[3]) / math.sqrt(7)) + p["b_out"]
    torch.testing.assert_close(net.deterministic_logits(p), logits, rtol=1e-12, atol=1e-12)
    assert net.levels[0].tolist() == list(range(-8, 8)) and net.levels[1].tolist() == [-1, 0, 1]
    assert net.levels[3].tolist() == list(range(-8, 8))
    with pytest.raises(ValueError, match="kernel must be odd"):
        QuantizedNetwork(hidden=(4,), conv=(2,), kernel=4)
    with pytest.raises(ValueError, match="leaves no pixel of .* images; give conv at most"):
        QuantizedNetwork(hidden=(4,), conv=(2, 2, 2, 2))


def test_quantized_draws_follow_the_quantizer():
    """The network's draws are quantization units: a draw's logits are quantization_log_probs of its input
    (checked for the first weight tensor), and the mean drawn weight over many samples is the exact mean."""
    net = QuantizedNetwork(hidden=(4,), batch_size=5, noise="triangular")
    p = net.param_values()
    logits0 = quantization_log_probs(p["w0"], net.levels[0], "triangular")
    seen = []
    net._outputs(p, lambda eta, levels, std: seen.append(eta) or torch.zeros_like(eta))
    assert torch.equal(seen[0], p["w0"])
    g = torch.Generator().manual_seed(0)
    draws = []
    for _ in range(2000):
        d = net._discrete_drawer(g)
        draws.append(d(logits0) @ net.levels[0])
        d.calls = len(net.draws)  # one draw used: skip the structure check for the rest
    mean = torch.stack(draws).mean(0)
    exact = (logits0.exp() @ net.levels[0]).reshape(mean.shape)
    sd = torch.stack(draws).std(0).clamp_min(1e-12)
    z = ((mean - exact) / (sd / math.sqrt(2000))).abs()
    assert float(z.max()) < 4.9  # about 1e-3 false-failure rate over the 256 weights (Bonferroni)


def test_logistic_noise_std_is_learned():
    net = QuantizedNetwork(hidden=(6,), batch_size=10, noise="logistic", dtype=torch.float32)
    assert math.isclose(float(net.param_values()["log_std_a0"].exp()), 1 / 3, rel_tol=1e-6)
    r = gl.train(net, gl.estimator("st"), epochs=2, batch_size=200, lr=0.05)
    assert float(r.params["log_std_a0"]) != float(net.param_values()["log_std_a0"])
    assert all(torch.isfinite(v).all() for v in r.params.values())


def test_autoencoder_uses_the_vae_networks_and_measures_code_usage():
    cae = CategoricalAutoencoder(num_vars=1, num_classes=4, hidden=(16,), batch_size=3)
    vae = gl.problems.CategoricalVAE(
        cae.x, num_vars=1, num_classes=4, embedding="onehot", hidden=(16,), params=cae.param_values()
    )
    # the autoencoder's objective is the VAE's minus its (analytic) KL term: exact expectations agree so
    kl = gl.problems.vae.kl_to_uniform(vae.logits(vae.param_values())).sum()
    assert math.isclose(
        float(gl.exact_expectation(cae)), float(gl.exact_expectation(vae)) * cae.x.shape[0] - float(kl), rel_tol=1e-12
    )
    p = cae.param_values()
    codes = cae.net.encode(p, cae.split("valid")[0]).argmax(-1)[:, 0]
    q = torch.bincount(codes, minlength=4).double()
    q = q[q > 0] / q.sum()
    assert math.isclose(cae.code_perplexity(p), math.exp(-float((q * q.log()).sum())), rel_tol=1e-12)


@pytest.mark.parametrize(
    ("kind", "settings"),
    [
        ("quantized", {"hidden": [3], "batch_size": 2}),
        ("quantized", {"hidden": [3], "conv": [2], "kernel": 3, "batch_size": 2}),
        ("logic_gates", {"widths": [10], "batch_size": 2}),
        ("cat_ae", {"num_vars": 2, "num_classes": 4, "hidden": [8], "batch_size": 2}),
    ],
)
def test_new_models_are_problems_and_trainable(kind, settings):
    """Each model through the registry: REINFORCE unbiased against the exact gradient where enumerable (the
    autoencoder), finite samples for the rest; every estimator trains one epoch without NaN."""
    m = gl.problems.build_problem({"kind": kind, **settings})
    if m.num_configurations() <= 4096:
        exact = gl.exact_gradient(m)
        s = gl.sample_gradients(m, gl.estimator("reinforce", m=4), 20_000, seed=1)
        z = ((s.mean - exact) / (s.var / s.n).sqrt().clamp_min(1e-300)).abs()
        assert float(z.max()) < 5.0  # Bonferroni over the coordinates: below 1e-3 false failures
    else:
        s = gl.sample_gradients(m, gl.estimator("zgr"), 64, seed=1)
        assert torch.isfinite(s.mean).all() and torch.isfinite(s.var).all()
    for name in ("zgr", "gs", "reinforce", "decoupled_st"):
        r = gl.train(m, gl.estimator(name), epochs=1, batch_size=400)
        assert math.isfinite(r.history[0]["train_loss"]) and math.isfinite(r.history[0]["valid_loss"])
