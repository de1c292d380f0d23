"""A differentiable logic-gate network (Petersen et al. 2022; the third task of Decoupled ST, Figs. 4-5).

Each neuron of layer ``l`` reads two inputs of the layer before, fixed at random at construction (``wiring_seed``),
and applies one of the 16 Boolean functions of two inputs, a categorical choice with logits ``gates{l}`` (one row of
16 per neuron): the estimator is a plug-in on that choice (``draw``), for the whole minibatch at once (the gates
are shared by the examples, so REINFORCE scores all draws together). A gate is evaluated through its real-valued
probabilistic form, the multilinear extension of its truth table,
``f(a, b) = t00 (1-a)(1-b) + t01 (1-a) b + t10 a (1-b) + t11 a b``, which is the truth table at ``a, b in {0, 1}``
and the probability that the gate outputs 1 when its inputs are independent Bernoulli(``a``), Bernoulli(``b``).
A one-hot choice gives one gate; a relaxed choice (``gs``) the mixture of the 16 forms.

Gate ``g`` has truth table bits ``t11 = bit 0, t10 = bit 1, t01 = bit 2, t00 = bit 3`` of ``g`` (Petersen et al.'s
order: 0 false, 1 and, 2 a and not b, 3 a, 4 not a and b, 5 b, 6 xor, 7 or, 8 nor, 9 xnor, 10 not b, 11 a or not b,
12 not a, 13 not a or b, 14 nand, 15 true). The input is the binarised image; the last layer's neurons are split
into 10 equal groups, and a class's logit is its group's sum divided by ``tau`` (the group-sum output of the
paper); the loss is the cross-entropy per image. Evaluation uses the most probable gate of every neuron (the
discrete network to be deployed), and :meth:`gate_usage` gives the histogram of those gates and its perplexity
(Decoupled ST Fig. 5).
"""

from __future__ import annotations

import math
from typing import Unpack

import torch

from gradlab.core import checks as _checks
from gradlab.problems.data_model import DataKeywords, DataModel, DataSpec, classifier_metrics, cross_entropy

__all__ = ["LogicGateNetwork", "GATE_NAMES", "gate_coefficients"]

GATE_NAMES = (
    "false",
    "a and b",
    "a and not b",
    "a",
    "not a and b",
    "b",
    "xor",
    "or",
    "nor",
    "xnor",
    "not b",
    "a or not b",
    "not a",
    "not a or b",
    "nand",
    "true",
)


def gate_coefficients(dtype=torch.float64, device=None) -> torch.Tensor:
    """``(16, 4)``: gate ``g`` is ``c0 + c1 a + c2 b + c3 a b`` (its multilinear extension)."""
    g = torch.arange(16, device=device)
    t11, t10, t01, t00 = ((g >> k) & 1 for k in range(4))
    t00, t01, t10, t11 = (t.to(dtype) for t in (t00, t01, t10, t11))
    return torch.stack([t00, t10 - t00, t01 - t00, t11 - t10 - t01 + t00], -1)


class LogicGateNetwork(DataModel):
    """The logic-gate network of the module docstring on a fixed minibatch of binarised digits; ``widths``:
    neurons per layer (the last a multiple of 10)."""

    def __init__(
        self,
        data=None,
        widths: tuple[int, ...] = (240, 240, 240),
        *,
        tau: float = 3.0,
        wiring_seed: int = 0,
        **spec: Unpack[DataKeywords],
    ):
        owner = "LogicGateNetwork"
        s = DataSpec.of(owner, data, spec)
        params, init_seed, dtype, device = s.params, s.init_seed, s.dtype, s.device
        self.widths = tuple(_checks.integer(owner, "widths", w, 1) for w in widths)
        if not self.widths or self.widths[-1] % 10:
            raise ValueError(f"{owner}: widths must end with a multiple of 10 neurons (10 class groups), got {widths}")
        self.tau = _checks.positive_real(owner, "tau", tau)
        batch, splits, self.data_config = s.binary(labels=True)
        g = torch.Generator().manual_seed(wiring_seed)
        fan = [batch[0].shape[1], *self.widths]
        # two distinct random inputs per neuron (fixed, not learned)
        self.wiring = []
        for i, w in enumerate(self.widths):
            a = torch.randint(fan[i], (w,), generator=g)
            b = (a + 1 + torch.randint(fan[i] - 1, (w,), generator=g)) % fan[i] if fan[i] > 1 else a
            self.wiring.append((a.to(device), b.to(device)))
        self.coefficients = gate_coefficients(dtype, device)
        if params is None:
            gi = torch.Generator().manual_seed(init_seed)
            params = {f"gates{i}": torch.randn(w, 16, generator=gi, dtype=dtype) for i, w in enumerate(self.widths)}
        self.init_seed, self.wiring_seed = init_seed, wiring_seed
        super().__init__(
            self._forward,
            params,
            {f"layer{i}": (f"gates{i}",) for i in range(len(self.widths))},
            batch=batch,
            splits=splits,
            name="LogicGateNetwork",
            elements_independent=False,
            spec=s,
        )

    def _outputs(self, p, choose) -> torch.Tensor:
        """Class logits; ``choose(i, logits)`` gives layer ``i``'s gate choice ``(W, 16)`` (one-hot or relaxed)."""
        h = self.x
        for i, (ia, ib) in enumerate(self.wiring):
            c = choose(i, p[f"gates{i}"]) @ self.coefficients  # (W, 4)
            a, b = h[..., ia], h[..., ib]
            h = c[:, 0] + c[:, 1] * a + c[:, 2] * b + c[:, 3] * a * b
        return h.unflatten(-1, (10, -1)).sum(-1) / self.tau

    def _forward(self, p, draw) -> torch.Tensor:
        logits = self._outputs(p, lambda i, gate_logits: draw(gate_logits))
        return cross_entropy(logits, self.y)

    def _most_probable(self, i: int, gate_logits: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.one_hot(gate_logits.argmax(-1), 16).to(gate_logits.dtype)

    def batch_metrics(self, params, draw) -> dict[str, torch.Tensor]:
        """Cross-entropy and accuracy per image of the discrete network: each neuron's most probable gate."""
        logits = self._outputs(params, self._most_probable)
        return classifier_metrics(logits, self.y)

    def evaluation(self, estimator=None) -> str:
        return "deterministic: each neuron's most probable gate (the discrete network to be deployed)"

    def top_gate_probability(self, params=None) -> float:
        """The median over neurons of the probability of each neuron's most probable gate under
        ``softmax(gate logits)`` (1/16 for uniform logits; 1 for a network that has settled on its gates): how far
        training moved the gates, which the gate perplexity alone cannot tell (it is near 16 at initialisation)."""
        params = self.param_values() if params is None else params
        top = torch.cat([torch.softmax(params[f"gates{i}"], -1).amax(-1) for i in range(len(self.widths))])
        return float(top.to(torch.float64).quantile(0.5))

    def gate_usage(self, params=None) -> tuple[torch.Tensor, float]:
        """``(counts (16,), perplexity)``: how many neurons use each gate as their most probable one, over all
        layers, and ``exp(entropy)`` of that histogram (16 when every gate is used equally, 1 for one gate)."""
        params = self.param_values() if params is None else params
        counts = sum(torch.bincount(params[f"gates{i}"].argmax(-1), minlength=16) for i in range(len(self.widths)))
        q = counts.to(torch.float64) / counts.sum()
        entropy = -float((q[q > 0] * q[q > 0].log()).sum())
        return counts, math.exp(entropy)

    def summary_metrics(self, params) -> dict[str, float]:
        return {
            "gate_perplexity": self.gate_usage(params)[1],
            "top_gate_probability": self.top_gate_probability(params),
        }

    def config(self) -> dict:
        return {
            **super().config(),
            "widths": list(self.widths),
            "tau": self.tau,
            "init_seed": self.init_seed,
            "wiring_seed": self.wiring_seed,
            **self.data_config,
        }
