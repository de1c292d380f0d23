"""A quantized classifier with stochastic weights and activations (ZGR Sec. 4.3, App. B.5/B.6), at laptop scale.

Every weight and every hidden activation is a stochastic quantization unit ``x = round_K(eta + z)`` (the
nearest of the levels ``K`` to ``eta`` plus injected noise ``z``; Louizos et al. 2019): a categorical variable
whose logits are :func:`~gradlab.distributions.quantization_log_probs` of its real input ``eta``, drawn with
``draw`` (so every estimator is a plug-in on every tensor of units, as ZGR App. B.2 says) and embedded as its
level value (``phi(x) = x``, ZGR Sec. 3).

Architecture (an MLP where the paper uses convolutions; the digits are 8 x 8): the grey image (not quantized,
as in the paper) -> ``hidden[0]`` units -> ... -> 10 classes. Layer ``l`` has real weight inputs ``w{l}`` (in
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

import torch

from .. import _checks
from ..distributions import quantization_log_probs
from .datamodel import DataModel, classifier_metrics, cross_entropy

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
    """The quantized MLP classifier of the module docstring, on a fixed minibatch of grey digits."""

    def __init__(
        self,
        data=None,
        hidden: tuple[int, ...] = (64, 64),
        *,
        weights: str = "ternary",
        activations: str = "ternary",
        noise: str = "triangular",
        batch_size: int = 20,
        batch_seed: int = 0,
        init_seed: int = 0,
        params: dict | None = None,
        dtype: torch.dtype = torch.float64,
        device="cpu",
    ):
        owner = "QuantizedNetwork"
        self.hidden = tuple(_checks.integer(owner, "hidden units", h, 1) for h in hidden)
        if not self.hidden:
            raise ValueError(f"{owner}: hidden must name at least one layer")
        self.weights = _checks.choice(owner, "weights", weights, LEVEL_SETS)
        self.activations = _checks.choice(owner, "activations", activations, LEVEL_SETS)
        self.noise = _checks.choice(owner, "noise", noise, ("triangular", "logistic"))
        batch, splits, self.data_config = _grey_data(data, batch_size, batch_seed, dtype, device)
        widths = [batch[0].shape[1], *self.hidden, 10]
        n = len(widths) - 1
        t = dict(dtype=dtype, device=device)
        self.levels = [torch.tensor(FOUR_BITS if i in (0, n - 1) else LEVEL_SETS[weights][0], **t) for i in range(n)]
        self.act_levels = torch.tensor(LEVEL_SETS[activations][1], **t)
        self.scales = [1.0 / math.sqrt(widths[i]) for i in range(n)]
        if params is None:
            g = torch.Generator().manual_seed(init_seed)
            params = {}
            for i in range(n):
                # real inputs spread over the levels: a weight's level * scale is about U(-1, 1) / sqrt(fan_in)
                lv = self.levels[i]
                params[f"w{i}"] = (torch.rand(widths[i], widths[i + 1], generator=g, dtype=dtype) * 2 - 1) * float(
                    lv[-1]
                )
                if i < n - 1:
                    params[f"bn{i}_g"] = torch.ones(widths[i + 1], dtype=dtype)
                    params[f"bn{i}_b"] = torch.zeros(widths[i + 1], dtype=dtype)
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
        h = self.x
        n = len(self.levels)
        for i in range(n):
            w = quantize(p[f"w{i}"], self.levels[i], self._std(p, f"log_std_w{i}")) * self.scales[i]
            pre = h @ w
            if i == n - 1:
                return pre + p["b_out"]
            mean, var = pre.mean(-2, keepdim=True), pre.var(-2, unbiased=False, keepdim=True)
            eta = (pre - mean) * torch.rsqrt(var + 1e-5) * p[f"bn{i}_g"] + p[f"bn{i}_b"]
            h = quantize(eta, self.act_levels, self._std(p, f"log_std_a{i}"))
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

    def config(self) -> dict:
        return {
            **super().config(),
            "hidden": list(self.hidden),
            "weights": self.weights,
            "activations": self.activations,
            "noise": self.noise,
            "init_seed": self.init_seed,
            **self.data_config,
        }


def _grey_data(data, batch_size: int, batch_seed: int, dtype, device):
    """Grey images in [0, 1] with labels: ``(fixed batch, splits, config)``."""
    if data is None:
        from .data import digits

        data = digits()

    def put(x, y):
        return x.to(dtype=dtype, device=device), y.to(dtype=torch.int64, device=device)

    if hasattr(data, "grey"):
        if data.labels_train is None:
            raise ValueError(f"QuantizedNetwork: the data set {data.name!r} has no labels")
        x, y = data.grey("train"), data.labels_train
        _checks.integer("QuantizedNetwork", "batch_size", batch_size, 1)
        if batch_size > x.shape[0]:
            raise ValueError(f"QuantizedNetwork: batch_size must be <= {x.shape[0]}, got {batch_size}")
        idx = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(batch_seed))[:batch_size]
        splits = {"train": put(x, y), "valid": put(data.grey("valid"), data.labels_valid)}
        cfg = {"dataset": data.config(), "batch_size": batch_size, "batch_seed": batch_seed}
        return put(x[idx], y[idx]), splits, cfg
    x, y = data
    return put(x, y), {"train": put(x, y)}, {"dataset": "user tensors"}
