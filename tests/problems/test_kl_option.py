"""The distribution of the VAE's analytic KL (issue 22, item 2): ``kl="forward"`` (of the distribution the draws
follow, ``softmax(logits / tau_f)`` under decoupled ST) or ``kl="model"`` (of ``softmax(logits)``). Each against an
independent NumPy computation of its definition by enumeration on a small VAE, its gradient against central finite
differences of that computation, and the two equal where they should be (tau_f = 1, any other estimator)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import gradlab as gl
from gradlab.problems import CategoricalVAE, HierarchicalVAE
from gradlab.problems.vae_data import VAEDataModel

DT = torch.float64


def _small_vae(kl: str, images: int = 3) -> CategoricalVAE:
    data = gl.problems.digits()
    return CategoricalVAE.on_dataset(
        data, batch_size=images, num_vars=2, num_classes=4, embedding="bits", encoder="linear", kl=kl, seed=2
    )


def _softmax(z):
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def _neg_elbo_numpy(vae: CategoricalVAE, logits: np.ndarray, tau_f: float, kl: str) -> float:
    """(1/B) sum_b [ E_{z ~ softmax(logits_b / tau_f)} -log p(x_b | z) + KL(q_kl || uniform) ] by enumerating the
    16 configurations of 2 variables x 4 categories; the decoder (linear, bit codes) written out here."""
    p = {k: v.numpy() for k, v in vae.param_values().items()}
    x = vae.data.numpy()
    codes = np.array([[-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0], [1.0, 1.0]])  # bit codes of 0..3, least bit first
    q_f = _softmax(logits / tau_f)  # (B, V, K)
    q_kl = q_f if kl == "forward" else _softmax(logits)
    total = 0.0
    for b in range(x.shape[0]):
        for c in itertools.product(range(4), repeat=2):
            z = np.concatenate([codes[c[0]], codes[c[1]]])
            out = p["decoder.0.weight"] @ z + p["decoder.0.bias"]
            nll = np.sum(np.logaddexp(0.0, out) - x[b] * out)
            total += q_f[b, 0, c[0]] * q_f[b, 1, c[1]] * nll
        total += np.sum(q_kl[b] * np.log(q_kl[b] * 4))
    return total / x.shape[0]


def test_bit_codes_are_those_written_in_the_test():
    assert np.array_equal(gl.distributions.bit_codes(4).numpy(), [[-1, -1], [1, -1], [-1, 1], [1, 1]])


@pytest.mark.parametrize("kl", ["forward", "model"])
def test_each_kl_option_is_its_definition(kl):
    vae = _small_vae(kl)
    logits = vae.logits(vae.param_values()).numpy()
    est = gl.estimator("decoupled_st", tau_f=0.5, tau_b=2.0)
    got = float(gl.exact_expectation(vae, estimator=est))
    assert got == pytest.approx(_neg_elbo_numpy(vae, logits, 0.5, kl), rel=1e-12)
    # the gradient in the logits against central differences of the NumPy definition
    g = gl.exact_gradient(vae, "logits", estimator=est).numpy()
    h, fd = 1e-6, np.zeros_like(logits)
    for idx in np.ndindex(logits.shape):
        up, down = logits.copy(), logits.copy()
        up[idx] += h
        down[idx] -= h
        fd[idx] = (_neg_elbo_numpy(vae, up, 0.5, kl) - _neg_elbo_numpy(vae, down, 0.5, kl)) / (2 * h)
    assert np.allclose(g, fd.reshape(-1), rtol=1e-6, atol=1e-8)


def test_the_two_options_differ_at_tau_f_below_one_and_agree_at_one():
    fwd, mod = _small_vae("forward"), _small_vae("model")
    cold = gl.estimator("decoupled_st", tau_f=0.3, tau_b=1.0)
    a, b = (float(gl.exact_expectation(v, estimator=cold)) for v in (fwd, mod))
    assert abs(a - b) > 1e-2
    for est in (gl.estimator("decoupled_st", tau_f=1.0, tau_b=3.0), gl.estimator("zgr"), None):
        a, b = (float(gl.exact_expectation(v, estimator=est)) for v in (fwd, mod))
        assert a == pytest.approx(b, rel=1e-14)
        ga, gb = (gl.exact_gradient(v, "all", estimator=est) for v in (fwd, mod))
        assert torch.allclose(ga, gb, rtol=1e-12, atol=1e-14)  # the same up to rounding (two paths to the KL)


@pytest.mark.parametrize("kl", ["forward", "model"])
def test_the_trainable_vae_and_the_sampler_use_the_same_kl(kl):
    """VAEDataModel (what training optimises) has CategoricalVAE's objective times B on the same images, for the
    same KL option; a configuration names the option where it is not the default."""
    vae = _small_vae(kl, images=2)
    model = vae.training_model()
    assert isinstance(model, VAEDataModel) and model.kl == kl
    est = gl.estimator("decoupled_st", tau_f=0.5, tau_b=2.0)
    whole = float(gl.exact_expectation(model, estimator=est))
    assert whole == pytest.approx(2 * float(gl.exact_expectation(vae, estimator=est)), rel=1e-12)
    assert vae.config().get("kl", "forward") == kl and ("kl" in vae.config()) == (kl == "model")


def test_hierarchical_vae_entropies_follow_the_option():
    """HVAE's closed-form entropies: of softmax(l / tau_f) with kl="forward", of softmax(l) with "model"; the
    difference of the two objectives is the difference of the entropies' expectations, computed here."""
    est = gl.estimator("decoupled_st", tau_f=0.5, tau_b=1.0)
    fwd = HierarchicalVAE(num_vars=1, num_classes=4, batch_size=1, kl="forward")
    mod = HierarchicalVAE(num_vars=1, num_classes=4, batch_size=1, kl="model", params=fwd.param_values())
    p, x = fwd.param_values(), fwd.x
    l1 = (x @ p["enc1_w"] + p["enc1_b"]).reshape(1, 4)
    q1f = torch.softmax(l1 / 0.5, -1)

    def entropy(logits):
        return float(-(torch.softmax(logits, -1) * torch.log_softmax(logits, -1)).sum())

    codes = gl.distributions.bit_codes(4, DT)
    diff = entropy(l1 / 0.5) - entropy(l1)  # layer 1: the entropy term differs by this for every z1
    for k in range(4):  # layer 2: the logits of q(z2 | z1 = k), weighted by q_f(z1 = k)
        l2 = codes[k] @ p["enc2_w"] + p["enc2_b"]
        diff += float(q1f[0, k]) * (entropy(l2 / 0.5) - entropy(l2))
    a, b = (float(gl.exact_expectation(v, estimator=est)) for v in (fwd, mod))
    assert b - a == pytest.approx(diff, rel=1e-10)
    assert float(gl.exact_expectation(fwd)) == float(gl.exact_expectation(mod))


def test_bad_kl_names_the_argument():
    with pytest.raises(ValueError, match="kl must be one of"):
        _small_vae("posterior")
    with pytest.raises(ValueError, match="kl"):
        gl.problems.build_problem({"kind": "vae", "num_vars": 2, "num_classes": 4, "kl": "both"})
