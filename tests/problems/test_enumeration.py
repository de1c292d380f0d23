"""Exact gradients of whole minibatches (issue 25): a model that declares ``elements_independent`` is enumerated over
each element's own configurations, for all elements at once, at a cost linear in the elements. Checked against a
brute-force loop written here, central finite differences of the exact expectation, the joint engine, and RF(4)."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

import gradlab as gl
from gradlab.measure.exact import chunk_size_for
from gradlab.problems import StochasticModel

DT = torch.float64


def two_layer(elements: int, independent: bool = True, seed: int = 0) -> StochasticModel:
    """E elements, each: 2 variables of 3 categories, then 2 of 3 whose logits are a linear map of the first
    layer's sample; the loss of element e is a quadratic form of its own second-layer sample and first logits."""
    g = torch.Generator().manual_seed(seed)
    params = {
        "a": torch.randn(elements, 2, 3, generator=g, dtype=DT),
        "W": torch.randn(6, 6, generator=g, dtype=DT),
        "c": torch.randn(6, generator=g, dtype=DT),
    }

    def forward(p, draw):
        x1 = draw(p["a"])  # (E, 2, 3)
        x2 = draw((x1.reshape(elements, 6) @ p["W"]).reshape(elements, 2, 3))
        h = x2.reshape(elements, 6)
        return (h @ p["c"]) ** 2 + (h * p["a"].reshape(elements, 6)).sum(-1)

    return StochasticModel(forward, params, elements_independent=independent)


def brute_force(model: StochasticModel, params: dict) -> torch.Tensor:
    """sum_e sum over element e's 81 configurations of p_e(c) L_e(c), element by element, configuration by
    configuration, written without the model's engine (float64 NumPy-style loops in torch)."""
    a, w, c = params["a"], params["W"], params["c"]
    total = torch.zeros((), dtype=DT)
    for e in range(a.shape[0]):
        p1 = torch.softmax(a[e], -1)
        for i in itertools.product(range(3), repeat=2):
            x1 = torch.zeros(2, 3, dtype=DT)
            x1[0, i[0]], x1[1, i[1]] = 1.0, 1.0
            p2 = torch.softmax((x1.reshape(6) @ w).reshape(2, 3), -1)
            for j in itertools.product(range(3), repeat=2):
                x2 = torch.zeros(2, 3, dtype=DT)
                x2[0, j[0]], x2[1, j[1]] = 1.0, 1.0
                h = x2.reshape(6)
                loss = (h @ c) ** 2 + (h * a[e].reshape(6)).sum()
                total = total + p1[0, i[0]] * p1[1, i[1]] * p2[0, j[0]] * p2[1, j[1]] * loss
    return total


def test_per_element_exact_gradient_against_brute_force_and_finite_differences():
    model = two_layer(6)  # 3^24 joint configurations; 81 per element
    assert model.num_configurations() == 81
    assert "81 configurations per element, for each of its 6 independent elements" in model.support_text()
    leaves = {k: v.clone().requires_grad_() for k, v in model.param_values().items()}
    truth = brute_force(model, leaves)
    want = torch.cat([g.reshape(-1) for g in torch.autograd.grad(truth, list(leaves.values()))])
    got = gl.exact_gradient(model)
    assert torch.allclose(got, want, rtol=1e-10, atol=1e-12)
    assert float(gl.exact_expectation(model)) == pytest.approx(float(truth.detach()), rel=1e-12)
    # central differences of the exact expectation, a few coordinates of each parameter
    h, layout = 1e-6, model.layout("all")
    flat = layout.flatten(model.param_values())
    for i in [0, 7, 35, 36, 50, 71, flat.numel() - 1]:
        up, down = flat.clone(), flat.clone()
        up[i] += h
        down[i] -= h
        f_up = float(gl.exact_expectation(model, layout.unflatten(up)))
        f_down = float(gl.exact_expectation(model, layout.unflatten(down)))
        assert (f_up - f_down) / (2 * h) == pytest.approx(float(got[i]), rel=1e-6, abs=1e-8)


def test_two_elements_equal_the_joint_engine_and_chunks_do_not_matter():
    per, joint = two_layer(2), two_layer(2, independent=False)
    assert (per.num_configurations(), joint.num_configurations()) == (81, 81**2)
    a = gl.exact_gradient(per)
    assert torch.allclose(a, gl.exact_gradient(joint), rtol=1e-12, atol=1e-13)
    assert torch.allclose(a, gl.exact_gradient(per, chunk_size=7), rtol=1e-13, atol=1e-14)


def test_the_limit_applies_per_element_and_the_error_says_so():
    model = two_layer(6)
    with pytest.raises(
        ValueError,
        match="81 configurations per element, for each of its 6 independent elements, above max_configurations=50",
    ):
        gl.exact_gradient(model, max_configurations=50)


def test_a_false_declaration_of_independence_is_caught():
    g = torch.Generator().manual_seed(1)
    params = {"a": torch.randn(4, 3, generator=g, dtype=DT), "w": torch.randn(3, generator=g, dtype=DT)}

    def mixes(p, draw):
        x = draw(p["a"])  # (4, 3)
        return x @ p["w"] + x.roll(1, 0) @ p["w"]  # element e reads element e - 1's draw

    with pytest.raises(
        ValueError,
        match=r"elements_independent=True, but the loss of element 1 changed when only "
        r"the draws of element 0 changed",
    ):
        StochasticModel(mixes, params, elements_independent=True)
    StochasticModel(mixes, params)  # declared as shared: fine, enumerated jointly


def test_chunks_shrink_with_the_elements_so_memory_is_set_by_the_budget():
    """At a fixed memory budget a chunk holds as many configurations as the budget allows for the whole minibatch
    (between half the budget and the budget, whole configurations of the later draws where they fit): the chunk
    shrinks as the elements grow."""
    budget = 1 << 20
    chunks = []
    for e in (50, 100, 200):
        model = two_layer(e)
        chunk = chunk_size_for(model, budget)
        assert budget / 2 < chunk * model.bytes_per_configuration() <= budget, (e, chunk)
        assert chunk % model.chunk_alignment() == 0 and chunk < model.num_configurations()
        chunks.append(chunk)
    assert chunks[0] > chunks[1] > chunks[2], chunks


_PEAK = """
import resource, sys, torch
sys.path.insert(0, {root!r})
from tests.problems.test_enumeration import two_layer
import gradlab as gl
torch.set_num_threads(1)
m = two_layer({e})
gl.exact_gradient(m, memory_budget=1 << 24)  # warm-up (vmap's set-up)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
gl.exact_gradient(m, memory_budget=1 << 24)
m2 = two_layer({e}, seed=1)
gl.exact_gradient(m2, memory_budget=1 << 24)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


@pytest.mark.slow
def test_peak_memory_is_flat_in_the_number_of_elements():
    """The process's peak resident memory after enumerating 100 and 1,600 elements at the same 16 MiB budget: within
    60 MB of each other (the 1,600-element model's own parameters are 0.3 MB; a chunk of whole configurations would
    be 16 times larger)."""
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[2])
    peaks = {}
    for e in (100, 1600):
        out = subprocess.run(
            [sys.executable, "-c", _PEAK.format(root=root, e=e)],
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        )
        peaks[e] = int(out.stdout.strip().splitlines()[-1]) / 1024  # MB (ru_maxrss is in kB on Linux)
    assert abs(peaks[1600] - peaks[100]) < 60, peaks


@pytest.mark.slow
def test_rf4_on_the_20_image_hierarchical_vae_is_unbiased_against_the_per_element_exact_gradient():
    """HierarchicalVAE, 2 variables of 4 categories per layer, 20 images: 256 configurations per image (the joint
    support has 256^20). RF(4) through sample_gradients, 3,000 samples: a Bonferroni z-test over every parameter,
    false-failure rate 1e-3 at this seed; ST, biased, is rejected by the same test."""
    hvae = gl.problems.HierarchicalVAE(num_vars=2, num_classes=4, batch_size=20)
    assert hvae.num_configurations() == 256
    exact = gl.exact_gradient(hvae)
    rf = gl.sample_gradients(hvae, gl.estimator("reinforce", m=4), 3000, seed=0)
    result = gl.analysis.unbiasedness_from_stats(rf, exact, alpha=1e-3)
    assert not result.rejected, str(result)
    st = gl.sample_gradients(hvae, gl.estimator("st"), 3000, seed=0)
    assert gl.analysis.unbiasedness_from_stats(st, exact, alpha=1e-3).rejected
    assert math.isfinite(float(np.abs(exact.numpy()).max()))
