"""The problem protocol: a stochastic objective ``F(theta) = E_{x ~ p(x; theta)}[L(x; theta)]``.

A problem holds named parameters ``theta`` and three pure functions of them:

* ``logits(params)`` -> the latent logits of shape ``(*E, V, K)``: ``E`` element axes (e.g. the data points
  of a minibatch; possibly none), ``V`` independent categorical variables per element, ``K`` categories;
* ``loss(x, params, logits)`` -> per-element losses of shape ``(*lead, *E)`` for a one-hot (or relaxed)
  ``x`` of shape ``(*lead, *E, V, K)``; the objective is their sum. Element ``e`` may depend only on the
  variables of element ``e`` (this is what lets RF(m) form per-element baselines). ``logits`` is passed so
  terms that depend on the distribution itself (an analytic KL) need not recompute it;
* the exact engine's hooks, :meth:`Problem.enumerated_terms` and :meth:`Problem.constant_terms`.

What the estimators differentiate. For every estimator the target is ``d F / d theta`` with ``x`` drawn
from ``softmax(logits)``; for ``decoupled_st`` it is the objective under its forward distribution
``softmax(logits / tau_f)``: every function then receives ``est.forward_logits(logits)`` as the logits of the
latent distribution (so an analytic KL is the KL of that distribution too). ``exact_gradient(problem,
estimator=est)`` computes that target.

Parameters are addressed by group (``wrt``): ``"all"``, problem-specific groups (``"encoder"``,
``"decoder"``) and ``"logits"``, which makes the latent logits themselves the parameter (the gradient with
respect to the encoder output, as in Shah et al. App. C).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Mapping

import torch

from gradlab.core.softmax import log_softmax

__all__ = ["Problem", "ParamLayout", "config_indices", "one_hot_configurations"]


@dataclasses.dataclass(frozen=True)
class ParamLayout:
    """Names, shapes and offsets of parameters flattened into one vector (in this order)."""

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(math.prod(s) for s in self.shapes)

    @property
    def size(self) -> int:
        return sum(self.sizes)

    def slices(self) -> dict[str, slice]:
        out, start = {}, 0
        for name, n in zip(self.names, self.sizes, strict=True):
            out[name] = slice(start, start + n)
            start += n
        return out

    def flatten(self, tensors: Mapping[str, torch.Tensor], sample_ndim: int = 0) -> torch.Tensor:
        """Concatenate named tensors (each with ``sample_ndim`` leading sample axes) into ``(*sample, size)``."""
        parts = []
        for name, shape in zip(self.names, self.shapes, strict=True):
            t = tensors[name]
            lead = tuple(t.shape[:sample_ndim])
            if tuple(t.shape[sample_ndim:]) != shape:
                raise ValueError(f"flatten: {name} has shape {tuple(t.shape)}, expected {lead + shape}")
            parts.append(t.reshape(lead + (-1,)))
        return torch.cat(parts, dim=-1)

    def unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Inverse of :meth:`flatten` on the last axis."""
        if flat.shape[-1] != self.size:
            raise ValueError(f"unflatten: expected a last axis of {self.size} entries, got {flat.shape[-1]}")
        lead = tuple(flat.shape[:-1])
        return {
            n: flat[..., s].reshape(lead + shape)
            for (n, s), shape in zip(self.slices().items(), self.shapes, strict=True)
        }

    def labels(self) -> list[str]:
        """A label per flat entry, e.g. ``decoder.0.weight[3,7]`` (for ``param`` coordinates)."""
        out = []
        for name, shape in zip(self.names, self.shapes, strict=True):
            for idx in (torch.arange(math.prod(shape)).reshape(shape) if shape else torch.tensor(0)).flatten():
                sub = torch.unravel_index(idx, shape) if shape else ()
                out.append(f"{name}[{','.join(str(int(i)) for i in sub)}]" if shape else name)
        return out


def config_indices(start: int, stop: int, num_vars: int, num_classes: int, device=None) -> torch.Tensor:
    """Configurations ``start..stop-1`` of ``V`` variables with ``K`` categories as an index tensor
    ``(C, V)``; configuration ``c`` has ``x_v = (c // K^v) % K``."""
    c = torch.arange(start, stop, device=device, dtype=torch.int64).unsqueeze(-1)
    powers = num_classes ** torch.arange(num_vars, device=device, dtype=torch.int64)
    return (c // powers) % num_classes


def one_hot_configurations(start: int, stop: int, num_vars: int, num_classes: int, dtype, device=None):
    """One-hot ``(C, V, K)`` configurations ``start..stop-1``."""
    idx = config_indices(start, stop, num_vars, num_classes, device)
    return torch.nn.functional.one_hot(idx, num_classes).to(dtype)


class Problem:
    """Base class of problems. Subclasses set ``name`` and implement the methods below."""

    name = "problem"
    dtype: torch.dtype = torch.float64
    device: torch.device = torch.device("cpu")
    trainable: bool = False  # declared by the models gl.train trains (DataModel); see training_model

    def training_model(self) -> Problem:
        """What ``gl.train`` trains for this problem: the problem itself when it declares ``trainable``; a problem
        with a trainable twin overrides this (``CategoricalVAE`` returns its ``VAEDataModel``); any other problem
        is a one-line ``TypeError``."""
        if self.trainable:
            return self
        raise TypeError(
            f"train: problem must be a trainable model (one that declares trainable, such as SigmoidBeliefNet), "
            f"got {self.name}"
        )

    # ------------------------------------------------------------------ what the engines call (every problem)
    def per_sample_gradients(self, estimator, uniforms: torch.Tensor, wrt: str = "all", workspace=None):
        """Gradients ``{name: (R, *shape)}`` of ``R`` independent samples of ``estimator`` (``uniforms``: ``(R,
        uniforms_per_sample)``), the sampler's one call per chunk. Here: the parameters replicated on a leading
        axis (stride-0 views) and one backward pass, which needs ``logits`` and ``loss`` to broadcast over that
        replica axis (the simple problems do: parameters enter through element-wise and ``matmul`` operations);
        a problem with a faster path of its own overrides this (``workspace``: a dict it may keep state in for
        the duration of one ``sample_gradients`` call)."""
        r = uniforms.shape[0]
        chosen = self.params(wrt)
        leaves = {k: v.unsqueeze(0).expand(r, *v.shape).requires_grad_() for k, v in chosen.items()}
        full = self.full_params(leaves)
        with torch.enable_grad():
            logits = self.latent_logits(full)
            want = (r, *self.latent_logits(self.full_params(chosen)).shape)
            if tuple(logits.shape) != want:
                raise ValueError(
                    f"{self.name}: logits(params) must broadcast a leading replica axis: expected shape {want}, "
                    f"got {tuple(logits.shape)}; implement per_sample_gradients for this problem"
                )
            fwd = estimator.forward_logits(logits)
            out = estimator.surrogate(logits, lambda x: self.loss(x, full, fwd), uniforms)
            grads = torch.autograd.grad(out.sum(), list(leaves.values()), allow_unused=True)
        return {k: (g if g is not None else torch.zeros_like(leaves[k])) for k, g in zip(leaves, grads, strict=True)}

    def fitted(self, estimator):
        """``estimator`` with its state fitted at the problem's parameter values and loss before a measurement
        (an estimator that ``needs_fit``: RELAX's control variate, REINFORCE's moving-average baseline)."""
        full = self.full_params(self.params("all"))
        logits = self.latent_logits(full).detach()
        fwd = estimator.forward_logits(logits)
        return estimator.fit(logits, lambda x: self.loss(x, full, fwd))

    def exact_chunk(self, params: Mapping[str, torch.Tensor], estimator, start: int, stop: int) -> torch.Tensor:
        """The objective's share of configurations ``start..stop-1``, differentiable in ``params`` (the first
        chunk carries the terms that do not depend on ``x``); summed over the chunks it is ``E[L]`` under the
        latent distribution (``estimator.forward_logits`` of it when an estimator is given)."""
        logits = self.latent_logits(params)
        logits = estimator.forward_logits(logits) if estimator is not None else logits
        terms = self.enumerated_terms(params, logits, start, stop)
        const = self.constant_terms(params, logits) if start == 0 else None
        return terms if const is None else const + terms

    def exact_gradient_chunks(
        self, leaves: Mapping[str, torch.Tensor], estimator, bounds: Iterable[tuple[int, int]]
    ) -> dict[str, torch.Tensor]:
        """``d E[L] / d leaves`` in float64, enumerated over the chunks ``bounds`` (``(start, stop)`` pairs that
        cover the configurations): the exact engine's one call. Here the chunks are differentiated in the latent
        logits and their sum taken back through ``logits(params)`` once (with the constant terms); a problem
        whose configurations are not those of one set of logits (a multi-layer model) differentiates each
        :meth:`exact_chunk` straight to the parameters."""
        full = self.full_params(leaves)
        names = list(leaves)
        with torch.enable_grad():
            logits = self.latent_logits(full)
            logits = estimator.forward_logits(logits) if estimator is not None else logits
            logits_leaf = logits.detach().requires_grad_()
            acc_logits = torch.zeros(logits.shape, dtype=torch.float64, device=logits.device)
            acc = {k: torch.zeros(v.shape, dtype=torch.float64, device=v.device) for k, v in leaves.items()}
            for start, stop in bounds:
                term = self.enumerated_terms(full, logits_leaf, start, stop)
                grads = torch.autograd.grad(term, [logits_leaf, *leaves.values()], allow_unused=True)
                acc_logits += grads[0].to(torch.float64)
                for k, g in zip(names, grads[1:], strict=True):
                    if g is not None:
                        acc[k] += g.to(torch.float64)
            # the logits' total gradient through the encoder (or the logits themselves), plus constant terms
            outputs, grad_outputs = [logits], [acc_logits.to(logits.dtype)]
            const = self.constant_terms(full, logits)
            if const is not None:
                outputs.append(const)
                grad_outputs.append(torch.ones_like(const))
            if logits.requires_grad:
                grads = torch.autograd.grad(outputs, list(leaves.values()), grad_outputs, allow_unused=True)
                for k, g in zip(names, grads, strict=True):
                    if g is not None:
                        acc[k] += g.to(torch.float64)
        return acc

    def looped_gradients(self, estimator, uniforms: torch.Tensor, wrt: str = "all") -> dict[str, torch.Tensor]:
        """Gradients ``{name: (R, *shape)}`` of ``R`` samples, one surrogate and one backward per sample: the path
        for an estimator that a problem's own vectorised path does not take (a score-function estimator other than
        REINFORCE on the VAE). Needs only ``latent_logits`` and a ``loss`` that broadcasts over leading axes of
        ``x``; slower than a batched path by the Python loop."""
        chosen = self.params(wrt)
        out: dict[str, list[torch.Tensor]] = {k: [] for k in chosen}
        for r in range(uniforms.shape[0]):
            leaves = {k: v.detach().clone().requires_grad_() for k, v in chosen.items()}
            with torch.enable_grad():
                full = self.full_params(leaves)
                logits = self.latent_logits(full)
                fwd = estimator.forward_logits(logits)
                value = estimator.surrogate(logits, lambda x, full=full, fwd=fwd: self.loss(x, full, fwd), uniforms[r])
                grads = torch.autograd.grad(value.sum(), list(leaves.values()), allow_unused=True)
            for (k, leaf), g in zip(leaves.items(), grads, strict=True):
                out[k].append(torch.zeros_like(leaf) if g is None else g)
        return {k: torch.stack(v) for k, v in out.items()}

    def bytes_per_sample(self, estimator, wrt: str = "all") -> int:
        """Memory one gradient sample needs in the sampler (sets the chunk size)."""
        itemsize = torch.finfo(self.dtype).bits // 8
        v, k = self.event_shape
        e = math.prod(self.latent_logits(self.param_values()).shape[:-2]) or 1
        m = max(estimator.loss_evaluations, estimator.extra_logit_copies, 1)
        logits = e * v * k
        uniforms = estimator.num_uniforms((*([e] if e > 1 else []), v, k))
        return itemsize * (uniforms * 2 + 12 * logits * m) + 3 * 8 * self.layout(wrt).size

    def bytes_per_configuration(self) -> int:
        """Memory one configuration needs in the exact engine (sets its chunk size)."""
        v, k = self.event_shape
        return 8 * v * k * 4

    def probe_logits(self) -> torch.Tensor:
        """Logits of the shape the estimators see (to check early what an estimator can do)."""
        return self.latent_logits(self.param_values())

    def uniforms_per_sample(self, estimator) -> int:
        """``U(0,1)`` draws one gradient sample of ``estimator`` needs (the sampler's noise stream width)."""
        return estimator.num_uniforms(tuple(self.latent_logits(self.param_values()).shape))

    # ------------------------------------------------------------------ parameters
    def param_groups(self) -> dict[str, tuple[str, ...]]:
        """Group name -> parameter names (``"all"`` included). ``"logits"`` is handled by the base."""
        raise NotImplementedError

    def param_values(self) -> dict[str, torch.Tensor]:
        """Current values of every model parameter (not ``logits``), detached."""
        raise NotImplementedError

    def check_wrt(self, wrt: str) -> tuple[str, ...]:
        groups = {**self.param_groups(), "logits": ("logits",)}
        if wrt not in groups:
            raise ValueError(f"{self.name}: wrt must be one of {', '.join(map(repr, groups))}; got {wrt!r}")
        return groups[wrt]

    def params(self, wrt: str = "all") -> dict[str, torch.Tensor]:
        """Detached copies of the parameters selected by ``wrt`` (for ``"logits"``: the latent logits)."""
        names = self.check_wrt(wrt)
        if names == ("logits",):
            return {"logits": self.logits(self.param_values()).detach().clone()}
        values = self.param_values()
        return {n: values[n].detach().clone() for n in names}

    def layout(self, wrt: str = "all") -> ParamLayout:
        """How ``exact_gradient`` / ``sample_gradients`` flatten the parameters selected by ``wrt``."""
        p = self.params(wrt)
        return ParamLayout(tuple(p), tuple(tuple(v.shape) for v in p.values()))

    def full_params(self, chosen: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``chosen`` completed with the stored values of the other parameters (a ``"logits"`` entry
        overrides the logits the parameters would give)."""
        return {**self.param_values(), **chosen}

    # ------------------------------------------------------------------ the objective
    def logits(self, params: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Latent logits ``(*E, V, K)``; ``params`` may hold ``"logits"`` directly."""
        raise NotImplementedError

    def latent_logits(self, params: Mapping[str, torch.Tensor]) -> torch.Tensor:
        if "logits" in params:
            return params["logits"]
        return self.logits(params)

    def loss(self, x: torch.Tensor, params: Mapping[str, torch.Tensor], logits: torch.Tensor) -> torch.Tensor:
        """Per-element losses ``(*lead, *E)`` for ``x`` of shape ``(*lead, *E, V, K)``."""
        raise NotImplementedError

    @property
    def event_shape(self) -> tuple[int, int]:
        """``(V, K)``: variables per element and categories."""
        raise NotImplementedError

    def num_configurations(self) -> int:
        v, k = self.event_shape
        return k**v

    def chunk_alignment(self) -> int:
        """Chunks of the exact engine are best whole multiples of this many configurations (1: any size)."""
        return 1

    def support_text(self) -> str:
        """What :meth:`num_configurations` counts, in words (for the exact engine's error)."""
        v, k = self.event_shape
        return f"{self.num_configurations():,} configurations (K^V = {k}^{v})"

    # ------------------------------------------------------------------ exact engine hooks
    def constant_terms(self, params: Mapping[str, torch.Tensor], logits: torch.Tensor) -> torch.Tensor | None:
        """Terms of the objective that do not depend on ``x`` (e.g. an analytic KL), or ``None``."""
        return None

    def enumerated_terms(
        self, params: Mapping[str, torch.Tensor], logits: torch.Tensor, start: int, stop: int
    ) -> torch.Tensor:
        """Contribution of configurations ``start..stop-1`` (of every element) to the objective:
        ``sum_e sum_c p_e(c) L_e(c)`` minus :meth:`constant_terms`. Default: evaluate the loss on the
        one-hot configurations, broadcast over elements."""
        v, k = self.event_shape
        idx = config_indices(start, stop, v, k, logits.device)  # (C, V)
        n, e_shape = idx.shape[0], tuple(logits.shape[:-2])
        idx_e = idx.reshape(n, *([1] * len(e_shape)), v, 1).expand(n, *e_shape, v, 1)
        log_p = log_softmax(logits, dim=-1).unsqueeze(0).expand(n, *logits.shape)
        log_pc = log_p.gather(-1, idx_e).squeeze(-1).sum(-1)  # (C, *E); gather: no -inf * 0
        xe = torch.zeros_like(log_p).scatter_(-1, idx_e, 1.0)  # (C, *E, V, K)
        values = self.loss(xe, params, logits)
        const = self.constant_terms(params, logits)
        if const is not None:
            values = values - const  # per element, constant in x
        return (torch.exp(log_pc) * values).sum()

    def to(self, device) -> Problem:
        """A copy of the problem with every tensor attribute on ``device`` (user loss closures that hold
        tensors must be written for that device themselves)."""
        import copy

        device = torch.device(device)
        new = copy.copy(self)

        def move(v):
            if isinstance(v, torch.Tensor):
                return v.to(device)
            if isinstance(v, dict):
                return {k: move(x) for k, x in v.items()}
            if hasattr(v, "__dict__") and type(v).__module__.startswith("gradlab.") and not isinstance(v, type):
                c = copy.copy(v)
                c.__dict__.update({k: move(x) for k, x in vars(v).items()})
                return c
            return v

        new.__dict__.update({k: move(v) for k, v in vars(self).items()})
        new.device = device
        return new

    # ------------------------------------------------------------------ description
    def config(self) -> dict:
        """JSON-serialisable description (recorded in results so every cell can be rerun)."""
        raise NotImplementedError

    def config_json(self) -> str:
        return json.dumps(self.config(), sort_keys=True, default=_json_default)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config_json()})"


def _json_default(o):
    if isinstance(o, torch.Tensor):
        return o.tolist()
    if isinstance(o, torch.dtype):
        return str(o)
    if isinstance(o, Iterable):
        return list(o)
    return str(o)
