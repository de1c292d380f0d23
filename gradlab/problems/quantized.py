"""A quantized classifier with stochastic weights and activations (ZGR Sec. 4.3, App. B.5/B.6), at laptop scale.

Every weight and every hidden activation is a stochastic quantization unit ``x = round_K(eta + z)`` (the
nearest of the levels ``K`` to ``eta`` plus injected noise ``z``; Louizos et al. 2019): a categorical variable
whose logits are :func:`~gradlab.core.distributions.quantization_log_probs` of its real input ``eta``, drawn with
``draw`` (so every estimator is a plug-in on every tensor of units, as ZGR App. B.2 says) and embedded as its
level value (``phi(x) = x``, ZGR Sec. 3).

Architecture: the grey image (not quantized, as in the paper) -> ``conv`` convolutional layers (default none)
-> ``hidden[0]`` units -> ... -> 10 classes. With ``conv = (32, 64)`` and ``hidden = (512,)`` on 28 x 28 images this
is the paper's 32C5-MP2-64C5-MP2-512FC-10FC (App. B.5); ``conv = (8, 16)``, ``hidden = (128,)`` is App. B.6's small
network. A convolutional layer has ``kernel x kernel`` filters (default 5) with zero padding that keeps the image
size (the paper does not say which padding; "same" also lets the 8 x 8 digits through two poolings), then batch
normalisation per channel, the activation quantizer, and 2 x 2 max pooling (of quantized values, so the pooled
values are levels too). Layer ``l`` has real weight inputs ``w{l}`` (in
level units; the weight used is ``level * scale_l`` with ``scale_l = 1 / sqrt(fan_in)``), then for hidden
layers batch normalisation (``bn{l}_g``, ``bn{l}_b``; statistics of the current minibatch, in training and in
evaluation alike: there are no running averages) and the activation quantizer; the output layer has a real bias
``b_out``. The first and last weight matrices use 4 bits (16 levels, as the paper), the inner ones ``weights``
and the activations ``activations``: ``"ternary"`` (levels -1, 0, 1), ``"2bit"`` (-2, -1, 0, 1) or ``"1bit"``
(-1, 1 for weights; 0, 1 for activations). Noise: ``"triangular"`` (density ``max(0, 1 - |z|)``) or
``"logistic"`` with a learnable standard deviation per quantizer (``log_std_*``, initialised to 1/3).

Evaluation (``evaluate``) is in the deterministic mode of the paper: every noise off, each unit at the level
nearest its input. The draws are shared by the examples of a minibatch (the weights), so REINFORCE scores all
draws together (``elements_independent=False``).
"""

from __future__ import annotations

import math
from typing import Unpack

import torch
import torch.nn.functional as F

from gradlab.core import checks as _checks
from gradlab.core.distributions import quantization_log_probs
from gradlab.problems.data_model import DataKeywords, DataModel, DataSpec, classifier_metrics, cross_entropy

__all__ = ["QuantizedNetwork", "LEVEL_SETS"]

LEVEL_SETS = {
    "ternary": ((-1.0, 0.0, 1.0), (-1.0, 0.0, 1.0)),
    "2bit": ((-2.0, -1.0, 0.0, 1.0), (-2.0, -1.0, 0.0, 1.0)),
    "1bit": ((-1.0, 1.0), (0.0, 1.0)),
}  # name -> (weight levels, activation levels)
FOUR_BITS = tuple(float(v) for v in range(-8, 8))


def nearest_level(eta: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """The level nearest ``eta`` (ties to the lower level): the deterministic quantizer, noise off."""
    mids = 0.5 * (levels[1:] + levels[:-1])
    return levels[torch.bucketize(eta, mids, right=False)]


class QuantizedNetwork(DataModel):
    """The quantized classifier of the module docstring (an MLP, or convolutions then an MLP with ``conv``), on a
    fixed minibatch of grey images."""

    def __init__(
        self,
        data=None,
        hidden: tuple[int, ...] = (64, 64),
        *,
        conv: tuple[int, ...] = (),
        kernel: int = 5,
        weights: str = "ternary",
        activations: str = "ternary",
        noise: str = "triangular",
        **spec: Unpack[DataKeywords],
    ):
        owner = "QuantizedNetwork"
        s = DataSpec.of(owner, data, spec)
        params, init_seed, dtype, device = s.params, s.init_seed, s.dtype, s.device
        self.hidden = tuple(_checks.integer(owner, "hidden units", h, 1) for h in hidden)
        if not self.hidden:
            raise ValueError(f"{owner}: hidden must name at least one layer")
        self.weights = _checks.choice(owner, "weights", weights, LEVEL_SETS)
        self.activations = _checks.choice(owner, "activations", activations, LEVEL_SETS)
        self.noise = _checks.choice(owner, "noise", noise, ("triangular", "logistic"))
        self.conv = tuple(_checks.integer(owner, "conv channels", c, 1) for c in conv)
        self.kernel = _checks.integer(owner, "kernel", kernel, 1)
        if self.conv and self.kernel % 2 == 0:
            raise ValueError(f"{owner}: kernel must be odd (same-size padding), got {kernel}")
        batch, splits, self.data_config, self.image_shape = s.grey(owner)
        h, w = self.image_shape
        if self.conv and h * w != batch[0].shape[1]:
            raise ValueError(f"{owner}: conv needs square images; got {batch[0].shape[1]} pixels per image")
        shapes = []  # the weight tensor of each layer
        channels = 1
        most = max(0, min(h, w).bit_length() - 1)  # 2 x 2 poolings a side of min(h, w) pixels allows
        for c in self.conv:
            if min(h, w) < 2:
                raise ValueError(
                    f"{owner}: conv has {len(self.conv)} layers, each followed by 2 x 2 max pooling, which leaves no "
                    f"pixel of {self.image_shape} images; give conv at most {most} layers"
                )
            shapes.append((c, channels, self.kernel, self.kernel))
            channels, h, w = c, h // 2, w // 2
        widths = [channels * h * w if self.conv else batch[0].shape[1], *self.hidden, 10]
        shapes += [(widths[i], widths[i + 1]) for i in range(len(widths) - 1)]
        n = len(shapes)
        t = dict(dtype=dtype, device=device)
        self.levels = [torch.tensor(FOUR_BITS if i in (0, n - 1) else LEVEL_SETS[weights][0], **t) for i in range(n)]
        self.act_levels = torch.tensor(LEVEL_SETS[activations][1], **t)
        self.scales = [1.0 / math.sqrt(math.prod(s[1:]) if len(s) == 4 else s[0]) for s in shapes]
        if params is None:
            g = torch.Generator().manual_seed(init_seed)
            params = {}
            for i, shape in enumerate(shapes):
                # real inputs spread over the levels: a weight's level * scale is about U(-1, 1) / sqrt(fan_in)
                lv = self.levels[i]
                params[f"w{i}"] = (torch.rand(shape, generator=g, dtype=dtype) * 2 - 1) * float(lv[-1])
                out = shape[0] if len(shape) == 4 else shape[1]
                if i < n - 1:
                    params[f"bn{i}_g"] = torch.ones(out, dtype=dtype)
                    params[f"bn{i}_b"] = torch.zeros(out, dtype=dtype)
            params["b_out"] = torch.zeros(10, dtype=dtype)
            if noise == "logistic":
                for i in range(n):
                    params[f"log_std_w{i}"] = torch.tensor(math.log(1 / 3), dtype=dtype)
                for i in range(n - 1):
                    params[f"log_std_a{i}"] = torch.tensor(math.log(1 / 3), dtype=dtype)
        self.init_seed = init_seed
        groups = {
            f"layer{i}": tuple(k for k in params if k.endswith((f"w{i}", f"bn{i}_g", f"bn{i}_b"))) for i in range(n)
        }
        super().__init__(
            self._forward,
            params,
            groups,
            batch=batch,
            splits=splits,
            dtype=dtype,
            device=device,
            name="QuantizedNetwork",
            elements_independent=False,
        )

    def _std(self, p, key: str):
        return torch.exp(p[key]) if self.noise == "logistic" else None

    def _outputs(self, p, quantize) -> torch.Tensor:
        """Class logits; ``quantize(eta, levels, std)`` returns the units' level values."""
        n, nc = len(self.levels), len(self.conv)
        h = self.x.unflatten(-1, (1, *self.image_shape)) if nc else self.x
        for i in range(n):
            w = quantize(p[f"w{i}"], self.levels[i], self._std(p, f"log_std_w{i}")) * self.scales[i]
            if i < nc:  # (B, C, H, W); batch normalisation per channel over the batch and the image
                pre, dims = F.conv2d(h, w, padding=self.kernel // 2), (-4, -2, -1)
                gain, shift = p[f"bn{i}_g"][:, None, None], p[f"bn{i}_b"][:, None, None]
            else:
                pre, dims = (h.flatten(-3) if i == nc and nc else h) @ w, (-2,)
                gain, shift = p.get(f"bn{i}_g"), p.get(f"bn{i}_b")
            if i == n - 1:
                return pre + p["b_out"]
            mean, var = pre.mean(dims, keepdim=True), pre.var(dims, unbiased=False, keepdim=True)
            eta = (pre - mean) * torch.rsqrt(var + 1e-5) * gain + shift
            h = quantize(eta, self.act_levels, self._std(p, f"log_std_a{i}"))
            if i < nc:
                h = F.max_pool2d(h, 2)
        raise AssertionError("unreachable")

    def _stochastic(self, draw):
        def quantize(eta, levels, std):
            return draw(quantization_log_probs(eta, levels, self.noise, std)) @ levels

        return quantize

    def _forward(self, p, draw) -> torch.Tensor:
        logits = self._outputs(p, self._stochastic(draw))
        return cross_entropy(logits, self.y)

    def deterministic_logits(self, params) -> torch.Tensor:
        """Class logits in the deterministic mode (every noise off: each unit at the level nearest its input)."""
        return self._outputs(params, lambda eta, levels, std: nearest_level(eta, levels))

    def batch_metrics(self, params, draw) -> dict[str, torch.Tensor]:
        """Cross-entropy and accuracy per image in the deterministic mode (``draw`` is not used)."""
        logits = self.deterministic_logits(params)
        return classifier_metrics(logits, self.y)

    def evaluation(self, estimator=None) -> str:
        return "deterministic: every unit at the level nearest its input (the paper's noise-free network)"

    def config(self) -> dict:
        return {
            **super().config(),
            "hidden": list(self.hidden),
            "conv": list(self.conv),
            "kernel": self.kernel,
            "weights": self.weights,
            "activations": self.activations,
            "noise": self.noise,
            "init_seed": self.init_seed,
            **self.data_config,
        }
