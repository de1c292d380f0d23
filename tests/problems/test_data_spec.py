"""One data-model constructor (issue 24, item 3): every DataModel takes its data and its own settings, and the
shared keywords (``DataSpec``: batch_size, batch_seed, init_seed, params, dtype, device) mean the same in each; a
new model states only what is its own."""

from __future__ import annotations

from typing import Unpack

import pytest
import torch
from scipy.stats import norm

import gradlab as gl
from gradlab.problems.data_model import DataKeywords, DataModel, DataSpec
from gradlab.problems.vae_data import VAEDataModel

MODELS = {
    "SigmoidBeliefNet": lambda **kw: gl.problems.SigmoidBeliefNet(hidden=(3,), **kw),
    "HierarchicalVAE": lambda **kw: gl.problems.HierarchicalVAE(num_vars=1, num_classes=2, **kw),
    "VAEDataModel": lambda **kw: VAEDataModel(num_vars=1, num_classes=2, hidden=(4,), **kw),
    "CategoricalAutoencoder": lambda **kw: gl.problems.CategoricalAutoencoder(
        num_vars=1, num_classes=2, hidden=(4,), **kw
    ),
    "LogicGateNetwork": lambda **kw: gl.problems.LogicGateNetwork(widths=(10,), **kw),
    "QuantizedNetwork": lambda **kw: gl.problems.QuantizedNetwork(hidden=(2,), **kw),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_shared_keywords_mean_the_same_in_every_model(name):
    digits = gl.problems.load_dataset("digits")
    m = MODELS[name](batch_size=3, batch_seed=5, init_seed=2, dtype=torch.float32)
    assert m.config()["batch_size"] == 3 and m.config()["batch_seed"] == 5 and m.config()["init_seed"] == 2
    assert m.dtype == torch.float32 and all(v.dtype == torch.float32 for v in m.param_values().values())
    # the fixed minibatch is the data set's own fixed batch of that size and seed (grey for the quantized network)
    if name == "QuantizedNetwork":
        idx = torch.randperm(digits.grey("train").shape[0], generator=torch.Generator().manual_seed(5))[:3]
        want = digits.grey("train")[idx]
    else:
        want = digits.fixed_batch(3, 5)
    torch.testing.assert_close(m.x, want.to(torch.float32), rtol=0, atol=0)
    # params= replaces the initialisation; another init_seed gives another one
    again = MODELS[name](batch_size=3, batch_seed=5, params=m.param_values(), dtype=torch.float32)
    assert all(torch.equal(again.param_values()[k], v) for k, v in m.param_values().items())
    other = MODELS[name](batch_size=3, batch_seed=5, init_seed=3, dtype=torch.float32)
    assert any(not torch.equal(other.param_values()[k], v) for k, v in m.param_values().items())


@pytest.mark.parametrize("name", sorted(MODELS))
def test_an_unknown_keyword_is_a_one_line_error_naming_it(name):
    with pytest.raises(
        TypeError, match=r": got an unexpected keyword argument 'batchsize' \(the data keywords: batch_size"
    ):
        MODELS[name](batchsize=3)


class TinyClassifier(DataModel):
    """A new model written against DataSpec: its own settings (``units``) and nothing of the data's."""

    def __init__(self, data=None, units: int = 4, **spec: Unpack[DataKeywords]):
        s = DataSpec.of("TinyClassifier", data, spec)
        (x, y), splits, self.data_config = s.binary(labels=True)
        g = torch.Generator().manual_seed(s.init_seed)
        params = s.params or {"w": torch.randn(x.shape[1], units, generator=g, dtype=s.dtype) / 8}
        super().__init__(self._forward, params, batch=(x, y), splits=splits, dtype=s.dtype, device=s.device)

    def _forward(self, p, draw):
        h = draw.bernoulli(self.x @ p["w"])  # (B, units)
        return (h.sum(-1) - (self.y % 2) * 4.0) ** 2


def test_a_new_model_states_only_what_is_its_own():
    m = TinyClassifier(units=3, batch_size=2, batch_seed=1)
    assert m.x.shape == (2, 64) and m.data_config["batch_seed"] == 1
    exact = gl.exact_gradient(m)  # 2 images x 3 units: enumerable
    s = gl.sample_gradients(m, gl.estimator("reinforce", m=4), 20_000, seed=0)
    z = (s.mean - exact) / (s.var / 20_000).sqrt().clamp_min(1e-300)
    assert float(z.abs().max()) < norm.ppf(1 - 1e-3 / (2 * z.numel()))  # Bonferroni: false-failure rate 1e-3
    r = gl.train(m, gl.estimator("zgr"), epochs=1, batch_size=200, evaluate=False)
    assert r.history[-1]["train_loss"] > 0


def test_dynamic_binarisation_draws_fresh_training_images_at_every_step(monkeypatch):
    """Omniglot-28-D's rule: each training step's images are a Bernoulli draw of their grey levels. Over 400 draws
    the mean of every pixel matches its grey level (z-test, Bonferroni over the pixels: false-failure rate 1e-3);
    static data gives the split's rows and draws nothing; gl.train takes its minibatches from training_rows."""
    data = gl.problems.load_dataset("digits", binarize="dynamic")
    m = gl.problems.SigmoidBeliefNet(data, hidden=(3,), batch_size=2)
    idx = torch.arange(50)
    g = torch.Generator().manual_seed(0)
    rows = [m.training_rows(idx, g) for _ in range(400)]
    x = torch.stack([r[0] for r in rows])
    assert set(x.unique().tolist()) == {0.0, 1.0} and all(torch.equal(r[1], m.split("train")[1][idx]) for r in rows)
    p = data.grey("train")[idx].to(x.dtype)
    inner = (p > 0) & (p < 1)
    z = (x.mean(0)[inner] - p[inner]) / (p[inner] * (1 - p[inner]) / 400).sqrt()
    assert float(z.abs().max()) < norm.ppf(1 - 1e-3 / (2 * z.numel()))
    assert torch.equal(x.mean(0)[p == 0], p[p == 0]) and torch.equal(x.mean(0)[p == 1], p[p == 1])
    static = gl.problems.SigmoidBeliefNet(hidden=(3,), batch_size=2)
    g0 = torch.Generator().manual_seed(0)
    state = g0.get_state()
    assert all(
        torch.equal(a, b[idx]) for a, b in zip(static.training_rows(idx, g0), static.split("train"), strict=True)
    )
    assert torch.equal(g0.get_state(), state)
    calls = []
    original = DataModel.training_rows
    monkeypatch.setattr(DataModel, "training_rows", lambda self, i, gen: calls.append(len(i)) or original(self, i, gen))
    gl.train(m, gl.estimator("zgr"), epochs=1, batch_size=500, evaluate=False)
    assert calls == [500, 500, 500, 117]  # every step of the epoch (1,617 training images)
