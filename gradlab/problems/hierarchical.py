"""Multi-layer models written with :class:`~gradlab.problems.stochastic_model.StochasticModel`.

* :class:`SigmoidBeliefNet`: a classifier with ``L`` layers of stochastic binary units: layer ``l`` draws
  ``h_l ~ Bernoulli(sigmoid(h_{l-1} W_l + b_l))`` (``h_0`` the image; each unit a 2-way categorical with logits
  ``(0, a)``), the output is a softmax over the classes; the loss is the cross-entropy per image.
* :class:`HierarchicalVAE`: the two-layer categorical VAE of ZGR App. B.3.1 (after Grathwohl et al. 2018):
  ``q(z1|x) q(z2|z1)`` and ``p(x|z1) p(z1|z2) p(z2)``, every map linear, categorical variables embedded as
  ``{-1, +1}^b`` bit codes, ``p(z2)`` uniform and not learned; the loss is the negative ELBO of eq. (87) per
  image, with the entropy terms ``-sum_z q log q`` in closed form (as the paper says), of the distribution the
  draws follow (``kl="forward"``, default: ``softmax(logits / tau_f)`` under decoupled ST) or of the model's own
  ``softmax(logits)`` (``kl="model"``), as :class:`~gradlab.problems.CategoricalVAE`'s ``kl`` says.

Both take a fixed batch of the embedded digits by default (``batch_size`` images from ``batch_seed``) and a
fresh initialisation from ``init_seed``; small instances (one image, 2 layers of 4 binary units; 2 variables of
4 categories per layer) are enumerable, larger ones are studied by sampling against a reference estimator.
"""

from __future__ import annotations

import math
from typing import Unpack

import torch

from gradlab.core import checks as _checks
from gradlab.core.distributions import bit_codes
from gradlab.core.softmax import log_softmax, softmax
from gradlab.problems.data_model import DataKeywords, DataModel, DataSpec, classifier_metrics, cross_entropy

__all__ = ["SigmoidBeliefNet", "HierarchicalVAE"]


def _linear(g: torch.Generator, fan_in: int, fan_out: int, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) weights, zero biases (torch.nn.Linear's weight rule)."""
    bound = 1.0 / math.sqrt(fan_in)
    w = (torch.rand(fan_in, fan_out, generator=g, dtype=dtype) * 2 - 1) * bound
    return w, torch.zeros(fan_out, dtype=dtype)


class SigmoidBeliefNet(DataModel):
    """A classifier with stochastic binary hidden layers (module docstring). ``data``: a
    :class:`~gradlab.problems.data.Dataset` with labels (default: the embedded digits) or a tuple
    ``(images (B, D), labels (B,))``; ``hidden``: units per stochastic layer."""

    def __init__(
        self,
        data=None,
        hidden: tuple[int, ...] = (32, 32),
        **spec: Unpack[DataKeywords],
    ):
        s = DataSpec.of("SigmoidBeliefNet", data, spec)
        params, init_seed, dtype = s.params, s.init_seed, s.dtype
        (x, y), splits, self.data_config = s.binary(labels=True)
        self.hidden = tuple(_checks.integer("SigmoidBeliefNet", "hidden units", h, 1) for h in hidden)
        if not self.hidden:
            raise ValueError("SigmoidBeliefNet: hidden must name at least one stochastic layer")
        self.num_outputs = int(y.max()) + 1 if params is None else params["w_out"].shape[1]
        if params is None:
            g = torch.Generator().manual_seed(init_seed)
            params = {}
            widths = [x.shape[1], *self.hidden]
            for i in range(len(self.hidden)):
                params[f"w{i}"], params[f"b{i}"] = _linear(g, widths[i], widths[i + 1], dtype)
            params["w_out"], params["b_out"] = _linear(g, widths[-1], max(self.num_outputs, 10), dtype)
            self.num_outputs = params["w_out"].shape[1]
        self.init_seed = init_seed
        layers = {f"layer{i}": (f"w{i}", f"b{i}") for i in range(len(self.hidden))}
        super().__init__(
            self._forward,
            params,
            {**layers, "output": ("w_out", "b_out")},
            batch=(x, y),
            splits=splits,
            name="SigmoidBeliefNet",
            spec=s,
        )

    def _outputs(self, p, draw) -> torch.Tensor:
        h = self.x
        for i in range(len(self.hidden)):
            # the units' values in {0, 1} (relaxed values for relaxed estimators): the draw of logits (0, a)
            h = draw.bernoulli(h @ p[f"w{i}"] + p[f"b{i}"])  # (B, H)
        return h @ p["w_out"] + p["b_out"]  # class logits

    def _forward(self, p, draw) -> torch.Tensor:
        logits = self._outputs(p, draw)
        return cross_entropy(logits, self.y)

    def batch_metrics(self, params, draw) -> dict[str, torch.Tensor]:
        """The cross-entropy and the accuracy (the most probable class is the label) per image."""
        logits = self._outputs(params, draw)
        return classifier_metrics(logits, self.y)

    def config(self) -> dict:
        return {**super().config(), "hidden": list(self.hidden), "init_seed": self.init_seed, **self.data_config}


class HierarchicalVAE(DataModel):
    """ZGR App. B.3.1's two-layer categorical VAE (module docstring): ``num_vars`` variables of ``num_classes``
    (a power of two) categories in each latent layer. ``data``: a Dataset (default: the embedded digits) or a
    ``(B, D)`` tensor of binary images."""

    def __init__(
        self,
        data=None,
        num_vars: int = 4,
        num_classes: int = 4,
        *,
        kl: str = "forward",
        **spec: Unpack[DataKeywords],
    ):
        from gradlab.problems.vae_net import KL_OPTIONS

        s = DataSpec.of("HierarchicalVAE", data, spec)
        params, init_seed, dtype, device = s.params, s.init_seed, s.dtype, s.device
        self.kl = _checks.choice("HierarchicalVAE", "kl", kl, KL_OPTIONS)
        (x,), splits, self.data_config = s.binary(labels=False)
        self.num_vars = _checks.integer("HierarchicalVAE", "num_vars", num_vars, 1)
        self.num_classes = _checks.integer("HierarchicalVAE", "num_classes", num_classes, 2)
        self.codes = bit_codes(self.num_classes, dtype, device)  # (K, b); errors if K is not 2^b
        width = self.num_vars * self.codes.shape[1]  # latent bits per layer
        vk, d = self.num_vars * self.num_classes, x.shape[1]
        if params is None:
            g = torch.Generator().manual_seed(init_seed)
            params = {}
            for name, fan_in, fan_out in (
                ("enc1", d, vk),
                ("enc2", width, vk),
                ("dec2", width, vk),
                ("dec1", width, d),
            ):
                params[f"{name}_w"], params[f"{name}_b"] = _linear(g, fan_in, fan_out, dtype)
        self.init_seed = init_seed
        groups = {
            "encoder": ("enc1_w", "enc1_b", "enc2_w", "enc2_b"),
            "decoder": ("dec2_w", "dec2_b", "dec1_w", "dec1_b"),
        }
        super().__init__(
            self._forward,
            params,
            groups,
            batch=(x,),
            splits=splits,
            name="HierarchicalVAE",
            spec=s,
        )

    def _embed(self, z: torch.Tensor) -> torch.Tensor:
        return (z @ self.codes).flatten(-2)  # (B, V, K) -> (B, V * b)

    def _forward(self, p, draw) -> torch.Tensor:
        v, k = self.num_vars, self.num_classes
        l1 = (self.x @ p["enc1_w"] + p["enc1_b"]).unflatten(-1, (v, k))  # q(z1 | x)
        z1 = draw(l1)
        e1 = self._embed(z1)
        l2 = (e1 @ p["enc2_w"] + p["enc2_b"]).unflatten(-1, (v, k))  # q(z2 | z1)
        z2 = draw(l2)
        e2 = self._embed(z2)
        prior1 = log_softmax((e2 @ p["dec2_w"] + p["dec2_b"]).unflatten(-1, (v, k)), -1)  # p(z1 | z2)
        out = e1 @ p["dec1_w"] + p["dec1_b"]  # Bernoulli logits of p(x | z1)
        nll_x = (torch.nn.functional.softplus(out) - self.x * out).sum(-1)
        log_p_z1 = (z1 * prior1).sum((-2, -1))
        laws = (l1, l2) if self.kl == "model" else (draw.forward_logits(l1), draw.forward_logits(l2))
        entropy = sum(-(softmax(lg, -1) * log_softmax(lg, -1)).sum((-2, -1)) for lg in laws)
        return nll_x - log_p_z1 + v * math.log(k) - entropy  # negative ELBO (eq. 87) per image

    def config(self) -> dict:
        return {
            **super().config(),
            "num_vars": self.num_vars,
            "num_classes": self.num_classes,
            "init_seed": self.init_seed,
            **self.data_config,
            **({"kl": self.kl} if self.kl != "forward" else {}),
        }
