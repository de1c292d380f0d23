"""Multi-layer stochastic models: ordinary torch code that draws its discrete variables in sequence.

``StochasticModel(forward, params)``: ``forward(params, draw)`` returns the per-element losses (shape
``(*E,)``; the objective is their sum) and calls ``draw(logits)`` for every tensor of categorical variables,
which returns a one-hot sample ``(..., K)`` of ``softmax(logits)``; later logits may depend on earlier
samples (a hierarchical VAE, a sigmoid belief net, a quantized network). ``draw.bernoulli(a)`` draws binary
units ``x in {0, 1}`` with ``P(x = 1) = sigmoid(a)`` and returns ``x`` itself (shape of ``a``): it is the draw
of the 2-way categorical logits ``(0, a)``, component 1, so everything below treats it as that draw, while
pathwise estimators evaluate it through their binary closed form (``est.plugin_sample_binary``, about 4x faster on
a sigmoid belief net). The same ``forward`` serves:

* every pathwise estimator as a plug-in (ZGR App. B.2: "for every tensor of categorical variables"): each
  draw is ``est.plugin_sample(logits, u_i)`` with its own slice ``u_i`` of the sample's uniforms;
* ``reinforce(m)`` over the whole trace: ``m`` traces per sample, the score of all draws together
  (``sum_i log p(x_i | x_<i)``), leave-one-out baselines per loss element, plus the pathwise gradient of the
  parameters the loss uses directly (the samples held fixed);
* the exact gradient, by enumerating the joint support of all draws (a configuration's probability is the
  product of the conditionals), chunked so that peak memory depends on the chunk only; with ``estimator=``
  every draw uses ``est.forward_logits`` (``decoupled_st``'s target).

Vectorisation without batch-aware user code: ``forward`` is written for one sample with plain parameters;
gradlab maps it over samples with ``torch.func.vmap(torch.func.grad(...))`` (one batched computation per
chunk, no Python loop over samples), over REINFORCE's ``m`` traces and over the configurations of the exact
engine. ``forward`` must therefore be ``vmap``-compatible (no ``.item()``, no Python branching on tensor
values, no in-place update of an input). The structure is traced once at construction: the number of draws,
each draw's logits shape ``(*S_i, K_i)`` and the loss shape ``E``; every later call is checked against it,
with an error naming what was expected and what arrived.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import torch

from gradlab.core.distributions import binary_to_categorical
from gradlab.estimators.base import Estimator, scatter_one_hot
from gradlab.estimators.multilayer import DrawStrategy, strategy_of
from gradlab.problems.base import ParamLayout, Problem
from gradlab.problems.enumeration import (
    check_elements_independent,
    chunk_alignment,
    chunk_bytes,
    configurations,
    exact_chunk,
    support_text,
)
from gradlab.problems.tracing import DrawSpec, _check_logit, _Drawer

__all__ = ["StochasticModel", "DrawSpec"]

Forward = Callable[[Mapping[str, torch.Tensor], Callable[[torch.Tensor], torch.Tensor]], torch.Tensor]


def _vmapped(model: StochasticModel, fn: Callable, *args):
    """Run a ``torch.func`` transform; a ``forward`` that ``vmap`` cannot trace gets a one-line error."""
    try:
        return fn(*args)
    except RuntimeError as exc:
        if "vmap" not in str(exc):
            raise
        first = str(exc).strip().splitlines()[0][:200]
        raise ValueError(
            f"{model.name}: forward must be vmap-compatible (write it for one sample: no .item(), no Python "
            f"if/while on tensor values, no in-place update of an input); torch.func.vmap said: {first}"
        ) from exc


class StochasticModel(Problem):
    """A stochastic computation graph given as ``forward(params, draw)`` (see the module docstring).

    ``params``: a dict of tensors (the parameters); ``groups``: extra parameter groups for ``wrt``
    (``{"encoder": ("w1", "b1")}``); ``"all"`` is every parameter. ``elements_independent``: loss element ``e``
    depends only on element ``e`` of every draw (the draws' shapes start with the loss shape ``E``, as the
    images of a minibatch); REINFORCE then scores each element with its own variables' log-probability
    (lower variance; the default, the score of all draws, is valid for any model).
    """

    name = "StochasticModel"

    def __init__(
        self,
        forward: Forward,
        params: Mapping[str, torch.Tensor],
        groups: Mapping[str, tuple[str, ...]] | None = None,
        *,
        dtype: torch.dtype = torch.float64,
        device="cpu",
        name: str | None = None,
        elements_independent: bool = False,
    ):
        if not callable(forward):
            raise TypeError(f"StochasticModel: forward must be callable, got {type(forward).__name__}")
        if not isinstance(params, Mapping) or not params:
            raise TypeError("StochasticModel: params must be a non-empty dict of tensors")
        for k, v in params.items():
            if not isinstance(v, torch.Tensor):
                raise TypeError(f"StochasticModel: params[{k!r}] must be a tensor, got {type(v).__name__}")
        self.forward_fn = forward
        self.dtype, self.device = dtype, torch.device(device)
        self._values = {k: v.detach().to(dtype=dtype, device=self.device).clone() for k, v in params.items()}
        self._groups = {"all": tuple(self._values)}
        for g, names in (groups or {}).items():
            unknown = [n for n in names if n not in self._values]
            if unknown:
                raise ValueError(f"StochasticModel: group {g!r} names unknown parameters {unknown}")
            self._groups[g] = tuple(names)
        if name:
            self.name = name
        self.draws, self.loss_shape = self._trace()
        self.elements_independent = bool(elements_independent)
        if self.elements_independent:
            e = self.loss_shape
            bad = [d.shape for d in self.draws if d.shape[: len(e)] != e or len(d.shape) < len(e) + 1]
            if not e or bad:
                raise ValueError(
                    f"{self.name}: elements_independent needs per-element losses (shape E) and draws whose shapes "
                    f"start with E = {e}; got draws {bad or [d.shape for d in self.draws]}"
                )
            check_elements_independent(self)

    # ------------------------------------------------------------------ structure
    def _trace(self) -> tuple[tuple[DrawSpec, ...], tuple[int, ...]]:
        specs: list[DrawSpec] = []

        def record(logits: torch.Tensor) -> torch.Tensor:
            if not isinstance(logits, torch.Tensor) or logits.ndim < 1 or logits.shape[-1] < 2:
                got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
                raise ValueError(
                    f"{self.name}: draw {len(specs)} expects logits (..., K) with K >= 2 categories, got {got}"
                )
            specs.append(DrawSpec(tuple(logits.shape)))
            return scatter_one_hot(logits.detach().argmax(-1, keepdim=True), logits.detach())

        record.forward_logits = lambda logits: logits  # the same interface as _Drawer

        def record_binary(logit: torch.Tensor) -> torch.Tensor:
            _check_logit(self.name, logit)
            return record(binary_to_categorical(logit))[..., 1]

        record.bernoulli = record_binary
        with torch.no_grad():
            out = self.forward_fn(self.param_values(), record)
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"{self.name}: forward must return a tensor of per-element losses, got {type(out)}")
        if not specs:
            raise ValueError(f"{self.name}: forward never called draw; there is nothing to estimate")
        return tuple(specs), tuple(out.shape)

    def run_forward(
        self, params, sample: Callable, estimator: Estimator | None = None, sample_binary: Callable | None = None
    ) -> torch.Tensor:
        """One call of ``forward`` (one sample): per-element losses of the traced shape."""
        drawer = _Drawer(self, sample, None if estimator is None else estimator.forward_logits, sample_binary)
        out = self.forward_fn(params, drawer)
        if drawer.calls != len(self.draws):
            raise ValueError(
                f"{self.name}: forward called draw {drawer.calls} times, the traced structure has {len(self.draws)}"
            )
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != self.loss_shape:
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(
                f"{self.name}: forward must return per-element losses of shape {self.loss_shape} as traced, got {got}"
            )
        return out

    # ------------------------------------------------------------------ the Problem protocol

    def param_groups(self) -> dict[str, tuple[str, ...]]:
        return dict(self._groups)

    def param_values(self) -> dict[str, torch.Tensor]:
        return dict(self._values)

    def check_wrt(self, wrt: str) -> tuple[str, ...]:
        if wrt not in self._groups:
            raise ValueError(f"{self.name}: wrt must be one of {', '.join(map(repr, self._groups))}; got {wrt!r}")
        return self._groups[wrt]

    def params(self, wrt: str = "all") -> dict[str, torch.Tensor]:
        return {n: self._values[n].clone() for n in self.check_wrt(wrt)}

    def layout(self, wrt: str = "all") -> ParamLayout:
        names = self.check_wrt(wrt)
        return ParamLayout(names, tuple(tuple(self._values[n].shape) for n in names))

    @property
    def event_shape(self) -> tuple[int, int]:
        """``(total variables, largest K)``: a summary only (draws may differ in ``K``)."""
        return sum(d.num_vars for d in self.draws), max(d.num_classes for d in self.draws)

    def num_configurations(self) -> int:
        """The configurations the exact engine enumerates: per element where ``elements_independent``, else of the
        joint support of every draw (:mod:`~gradlab.problems.enumeration`)."""
        return configurations(self)

    def support_text(self) -> str:
        return support_text(self)

    def chunk_alignment(self) -> int:
        return chunk_alignment(self)

    def probe_logits(self) -> torch.Tensor:
        return torch.zeros(self.draws[0].shape, dtype=self.dtype, device=self.device)

    def uniforms_per_sample(self, estimator: Estimator) -> int:
        return sum(self.uniforms_per_draw(estimator))

    def uniforms_per_draw(self, estimator: Estimator) -> list[int]:
        """The sample's uniforms per draw, as the estimator's strategy on a multi-layer model lays them out."""
        return self.strategy(estimator).uniforms_per_draw(self, estimator)

    def strategy(self, estimator: Estimator) -> DrawStrategy:
        """How ``estimator`` applies to this model (its ``draw_strategy``), or a one-line error saying it cannot."""
        strategy = strategy_of(estimator)
        if strategy is None:
            raise TypeError(
                f"{self.name}: {estimator.label} cannot be applied draw by draw; multi-layer models take pathwise "
                "estimators, REINFORCE, the layerwise score-function estimators (arm, disarm, arsm, rb_reinforce, "
                "unordered_set, priority_reinforce) and rebar / relax; it works on single-layer problems"
            )
        return strategy

    def vmapped(self, fn: Callable, *args):
        """``fn(*args)`` for a ``torch.func`` transform of ``forward``; one that ``vmap`` cannot trace gets a one-line
        error."""
        return _vmapped(self, fn, *args)

    def bytes_per_configuration(self) -> int:
        """Memory one configuration of the exact engine needs: the bytes that the forward and backward pass of one
        chunk create, per configuration (:func:`~gradlab.problems.enumeration.chunk_bytes`, measured op by op once,
        nested chunks sharing what the later draws do not change); sets the chunk size, so peak memory depends on the
        chunk, not on the number of configurations."""
        return chunk_bytes(self)

    def bytes_per_sample(self, estimator: Estimator, wrt: str) -> int:
        item = torch.finfo(self.dtype).bits // 8
        m = self.strategy(estimator).traces_per_sample(estimator)
        logits = sum(math.prod(d.shape) for d in self.draws)
        return item * (2 * self.uniforms_per_sample(estimator) + 16 * logits * m) + 3 * 8 * self.layout(wrt).size

    def config(self) -> dict:
        return {
            "problem": self.name,
            "forward": getattr(self.forward_fn, "__qualname__", None) or type(self.forward_fn).__name__,
            "draws": [list(d.shape) for d in self.draws],
            "loss_shape": list(self.loss_shape),
            "params": {k: list(v.shape) for k, v in self._values.items()},
            "elements_independent": self.elements_independent,  # REINFORCE scores by it: part of a cell key
            "dtype": str(self.dtype).replace("torch.", ""),
        }

    # ------------------------------------------------------------------ exact engine
    def exact_chunk(self, params, estimator: Estimator | None, start: int, stop: int) -> torch.Tensor:
        """``sum_c p(c) L(c)`` over configurations ``start..stop-1`` (per element where ``elements_independent``);
        differentiable in ``params`` (:func:`~gradlab.problems.enumeration.exact_chunk`)."""
        return exact_chunk(self, params, estimator, start, stop)

    def exact_gradient_chunks(self, leaves, estimator: Estimator | None, bounds) -> dict[str, torch.Tensor]:
        """``d E[L] / d leaves`` in float64: each :meth:`exact_chunk` differentiated on its own, straight to the
        parameters (the draws' logits depend on the earlier draws, so no one set of logits collects the chunks)."""
        full = self.full_params(leaves)
        names = list(leaves)
        acc = {k: torch.zeros(v.shape, dtype=torch.float64, device=v.device) for k, v in leaves.items()}
        with torch.enable_grad():
            for start, stop in bounds:
                term = self.exact_chunk(full, estimator, start, stop)
                grads = torch.autograd.grad(term, list(leaves.values()), allow_unused=True)
                for k, g in zip(names, grads, strict=True):
                    if g is not None:
                        acc[k] += g.to(torch.float64)
        return acc

    # ------------------------------------------------------------------ sampling
    def per_sample_gradients(self, estimator: Estimator, uniforms: torch.Tensor, wrt: str, workspace=None):
        """Gradients ``{name: (R, *shape)}`` of ``R`` independent samples (uniforms ``(R, n)``):
        ``vmap(grad(one sample's surrogate))``, so ``forward`` sees one sample and plain parameters."""
        r = uniforms.shape[0]
        want = self.uniforms_per_sample(estimator)
        if tuple(uniforms.shape) != (r, want):
            raise ValueError(f"{self.name}: uniforms must have shape (R, {want}), got {tuple(uniforms.shape)}")
        sizes = self.uniforms_per_draw(estimator)
        fixed = self.param_values()
        strategy = self.strategy(estimator)

        def one(chosen: dict, u: torch.Tensor) -> torch.Tensor:
            return strategy.surrogate(self, estimator, {**fixed, **chosen}, torch.split(u, sizes))

        return _vmapped(self, torch.func.vmap(torch.func.grad(one), in_dims=(None, 0)), self.params(wrt), uniforms)

    def control_variate_step(self, est: Estimator, params, uniforms: torch.Tensor) -> Estimator:
        """``est`` after one step of its control variate at this sample (``uniforms``, as for the surrogate): an
        estimator that ``trains_online`` (RELAX) in ``gl.train``."""
        parts = torch.split(uniforms, self.uniforms_per_draw(est))
        return self.strategy(est).control_variate_step(self, est, params, parts)

    def fitted(self, est: Estimator) -> Estimator:
        """``est`` with its state fitted at the parameter values before a measurement, as its strategy fits it
        (RELAX's control variate; REINFORCE's moving-average baseline over ``est.fit_draws`` whole traces)."""
        return self.strategy(est).fitted(self, est)
