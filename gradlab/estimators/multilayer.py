"""How an estimator applies to a multi-layer model: one declared strategy per estimator (its ``draw_strategy``).

A multi-layer model (:class:`~gradlab.problems.stochastic_model.StochasticModel`) draws its categorical variables
in sequence; an estimator of one draw becomes an estimator of the model by one of four constructions, each an
object here that knows the noise it needs per draw, its surrogate on the model, and its fit:

* :data:`PLUG_IN` (every pathwise estimator): each draw is ``est.plugin_sample(logits, u_i)`` with its own slice of
  the sample's uniforms (ZGR App. B.2: "for every tensor of categorical variables");
* :data:`WHOLE_TRACE` (REINFORCE): ``m`` whole traces scored together (``sum_i log p(x_i | x_<i)``), leave-one-out
  baselines per loss element, plus the pathwise gradient of the parameters the loss uses directly;
* :data:`RESAMPLED_LATER` (ARM, DisARM, ARSM, RB-SF, the unordered set and priority estimators): one draw at a
  time, the later draws resampled from a base trace's uniforms;
* :data:`RELAXED_LATER` (REBAR, RELAX): one draw at a time, the later draws relaxed from the same Gumbels.

The strategies use only what a model exposes (:class:`DrawModel`): its traced ``draws``, ``loss_shape``,
``elements_independent``, ``run_forward(params, sample, estimator, sample_binary)``, ``vmapped(fn, *args)``,
``param_values()``, ``name``, ``dtype`` and ``device``. A new estimator picks one (or writes its own subclass of
:class:`DrawStrategy`) and sets it as the class attribute ``draw_strategy``; a pathwise estimator needs nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import torch

from gradlab.core.noise import make_generator
from gradlab.core.softmax import log_softmax, softmax
from gradlab.estimators.sampling import inverse_cdf_index, scatter_one_hot

__all__ = [
    "DrawModel",
    "DrawStrategy",
    "PLUG_IN",
    "WHOLE_TRACE",
    "RESAMPLED_LATER",
    "RELAXED_LATER",
    "strategy_of",
]


class DrawModel(Protocol):
    """What a strategy needs of a multi-layer model."""

    name: str
    draws: Sequence[Any]  # each with ``shape``, ``num_vars``, ``num_classes``
    loss_shape: tuple[int, ...]
    elements_independent: bool
    dtype: torch.dtype
    device: torch.device

    def run_forward(self, params, sample: Callable, estimator=None, sample_binary: Callable | None = None): ...
    def vmapped(self, fn: Callable, *args): ...
    def param_values(self) -> dict[str, torch.Tensor]: ...


class DrawStrategy:
    """How a multi-layer model applies an estimator (subclass and override :meth:`surrogate`)."""

    name = "strategy"
    same_noise_as_one_layer = False  # on a model of one draw, the estimator's own single-layer noise and numbers

    def uniforms_per_draw(self, model: DrawModel, est) -> list[int]:
        """``U(0,1)`` draws per draw of one sample (default: the estimator's own noise for the draw's shape)."""
        return [est.num_uniforms(d.shape) for d in model.draws]

    def traces_per_sample(self, est) -> int:
        """Whole forward passes one sample runs (memory per sample)."""
        return 1

    def surrogate(self, model: DrawModel, est, params, parts) -> torch.Tensor:
        """The scalar whose gradient in ``params`` is one sample's estimate (``parts``: its uniforms per draw)."""
        raise NotImplementedError(f"{type(self).__name__} must implement surrogate")

    def fitted(self, model: DrawModel, est):
        """``est`` with its state fitted at the model's parameter values before a measurement."""
        raise ValueError(f"sample_gradients: {est.label} has state to fit that {model.name} cannot fit")

    def control_variate_step(self, model: DrawModel, est, params, parts):
        """``est`` after one step of its control variate at this sample (estimators that ``trains_online``)."""
        raise ValueError(f"train: {est.label} has no control variate to step on {model.name}")

    def __repr__(self) -> str:
        return self.name


class _PlugIn(DrawStrategy):
    name = "plug-in per draw"
    same_noise_as_one_layer = True

    def surrogate(self, model, est, params, parts):
        return model.run_forward(
            params,
            lambda i, logits: est.plugin_sample(logits, parts[i]),
            est,
            lambda i, logit: est.plugin_sample_binary(logit, parts[i]),
        ).sum()


class _WholeTrace(DrawStrategy):
    name = "whole trace"
    same_noise_as_one_layer = True

    def uniforms_per_draw(self, model, est):
        return [est.m * d.num_vars for d in model.draws]

    def traces_per_sample(self, est) -> int:
        return est.m

    def surrogate(self, model, est, params, parts):
        """RF(m) over the whole trace: ``m`` traces (``vmap``), the score of all draws together (per element where
        ``elements_independent``), leave-one-out baselines per loss element, plus the pathwise gradient of the
        parameters the loss uses directly."""
        m = est.m

        def trace(u: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, torch.Tensor]:
            log_p = []

            def sample(i, logits):
                lp = log_softmax(logits, dim=-1)
                index = inverse_cdf_index(lp.detach().exp(), u[i])
                picked = lp.gather(-1, index)
                log_p.append(picked.reshape(*elements, -1).sum(-1))  # per element, or the whole draw
                return scatter_one_hot(index, lp.detach())

            return model.run_forward(params, sample), torch.stack(log_p).sum(0)

        elements = model.loss_shape if model.elements_independent else ()
        us = tuple(p.reshape(m, *d.shape[:-1], 1) for p, d in zip(parts, model.draws, strict=True))
        values, log_p = torch.func.vmap(trace)(us)  # (m, *E), (m,) or (m, *E)
        log_p = log_p.reshape(m, *elements, *([1] * (len(model.loss_shape) - len(elements))))
        score = (est.score_weights(values) * log_p).sum(dim=0)
        return (values.mean(dim=0) + (score - score.detach())).sum()

    def fitted(self, model, est):
        """REINFORCE's moving-average baseline over ``est.fit_draws`` whole traces (inversion, noise from seed 0)."""
        sizes = [d.num_vars for d in model.draws]
        u = torch.rand((est.fit_draws, sum(sizes)), generator=make_generator(0, model.device), dtype=model.dtype)

        def trace(row):
            parts = torch.split(row.to(model.device), sizes)

            def sample(i, logits):
                index = inverse_cdf_index(softmax(logits, -1), parts[i].reshape(*model.draws[i].shape[:-1], 1))
                return scatter_one_hot(index, logits)

            return model.run_forward(model.param_values(), sample)

        with torch.no_grad():
            return est.fitted_to(model.vmapped(torch.func.vmap(trace), u))


class _ResampledLater(DrawStrategy):
    name = "per draw, later draws resampled"

    def uniforms_per_draw(self, model, est):
        """A base draw (inversion) and the estimator's own noise, per draw."""
        return [d.num_vars + est.num_uniforms(d.shape) for d in model.draws]

    def surrogate(self, model, est, params, parts):
        """A base trace ``x ~ p`` (inversion); for draw ``l`` the estimator's surrogate on its logits (given the
        earlier draws of the base trace, with their gradient in the parameters) and the loss ``g(x_l) = f(x_<l,
        x_l, x_>l)`` with the later draws resampled given ``x_l`` from the base trace's uniforms (common random
        numbers, independent of the estimator's own noise, so ``E[g(x_l)] = E[f | x_<l, x_l]`` and each draw's
        estimate is unbiased); the parameters are held fixed in ``g``. Plus the pathwise gradient of the
        parameters the loss uses directly, at the base trace."""
        base_u, own_u, base, logits_of = [], [], [], []
        for p, d in zip(parts, model.draws, strict=True):
            base_u.append(p[: d.num_vars].reshape(*d.shape[:-1], 1))
            own_u.append(p[d.num_vars :])

        def draw_base(i, logits):
            index = inverse_cdf_index(softmax(logits.detach(), -1), base_u[i])
            base.append(index)
            logits_of.append(logits)
            return scatter_one_hot(index, logits.detach())

        total = model.run_forward(params, draw_base).sum()  # the samples held fixed: the direct pathwise gradient
        fixed = {k: v.detach() for k, v in params.items()}
        for layer in range(len(model.draws)):
            out = est.surrogate(logits_of[layer], _Resampled(model, fixed, base, layer, base_u), own_u[layer])
            total = total + (out - out.detach()).sum()
        return total


class _RelaxedLater(DrawStrategy):
    name = "per draw, later draws relaxed"

    def surrogate(self, model, est, params, parts):
        """REBAR / RELAX on a multi-layer model (gradlab's construction after Tucker et al. 2017's multi-layer
        SBNs): per draw ``l`` the estimator on its logits given the earlier draws, with ``f(b)`` the base trace's
        loss and the control variate ``c(z_l)`` the loss with draw ``l`` relaxed and every later draw relaxed from
        its own Gumbels at the same temperature (the earlier ones fixed). ``c`` is a continuous function of ``z_l``
        and of noise independent of draw ``l``'s, so each draw's estimate is unbiased for ``d/d theta_l E[f |
        b_<l]``; the parameters are fixed in ``c``. Plus the direct pathwise gradient at the base trace."""
        total, layers = _relaxed_layers(model, est, params, parts)
        total = total.sum()
        for (logits, loss), u in zip(layers, parts, strict=True):
            out = est.surrogate(logits, loss, u)
            total = total + (out - out.detach()).sum()
        return total

    def fitted(self, model, est):
        """RELAX fitted at the model's parameter values: ``steps`` Adam steps, each on the mean objective of
        ``batch`` samples (noise from ``seed + 1``, as on a single-layer problem)."""
        gen = make_generator(est.seed + 1, model.device)
        sizes = self.uniforms_per_draw(model, est)
        fixed = model.param_values()

        def objective(state):  # the per-sample objective mapped over the batch (vmap), differentiable in state
            u = torch.rand((est.batch, sum(sizes)), generator=gen, dtype=model.dtype, device=model.device)
            one = torch.func.vmap(lambda row: _objective(model, est, fixed, torch.split(row, sizes))(state))
            return one(u).sum() / est.batch

        return est.fit_objective(objective, _element_widths(model), model.dtype, model.device)

    def control_variate_step(self, model, est, params, parts):
        """RELAX in training: one Adam step of its control variate on this sample's objective."""
        return est.stepped(_objective(model, est, params, parts), _element_widths(model), model.dtype, model.device)


PLUG_IN: DrawStrategy = _PlugIn()
WHOLE_TRACE: DrawStrategy = _WholeTrace()
RESAMPLED_LATER: DrawStrategy = _ResampledLater()
RELAXED_LATER: DrawStrategy = _RelaxedLater()


def strategy_of(est) -> DrawStrategy | None:
    """The strategy ``est`` declares (``draw_strategy``); undeclared: a plug-in per draw for a pathwise estimator,
    else ``None`` (it cannot be applied draw by draw)."""
    declared = getattr(type(est), "draw_strategy", None)
    if declared is not None:
        return declared
    return PLUG_IN if est.pathwise else None


# ------------------------------------------------------------------------------------- the losses of one draw
class _DrawLoss:
    """The loss of draw ``draw`` of a multi-layer model as a function of its configurations ``x`` (``(n, *S_l,
    K)``, mapped with ``vmap``): the earlier draws at the base trace ``base``, the parameters fixed, each later
    draw as :meth:`_later` gives it."""

    def __init__(self, model, fixed, base, draw: int, noise):
        self.model, self.fixed, self.base, self.draw, self.noise = model, fixed, base, draw, noise

    def _later(self, i: int, logits: torch.Tensor, t) -> torch.Tensor:
        raise NotImplementedError

    def _values(self, x: torch.Tensor, t=None) -> torch.Tensor:
        spec = self.model.draws[self.draw]

        def one(x_l):
            def draw(i, logits):
                if i == self.draw:
                    return x_l
                if i < self.draw:
                    return scatter_one_hot(self.base[i], logits)
                return self._later(i, logits, t)

            out = self.model.run_forward(self.fixed, draw)
            return out if self.model.elements_independent else out.sum()

        lead = x.shape[: x.ndim - len(spec.shape)]
        values = torch.func.vmap(one)(x.reshape(-1, *spec.shape))
        return values.reshape(*lead, *values.shape[1:])

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self._values(x)


class _Resampled(_DrawLoss):
    """The later draws resampled by inversion from the base trace's uniforms (``noise``)."""

    def _later(self, i, logits, t):
        return scatter_one_hot(inverse_cdf_index(softmax(logits, -1), self.noise[i]), logits)


class _Relaxed(_DrawLoss):
    """The later draws from their Gumbels ``G`` (``noise``) at the base trace's noise: ``argmax(theta + G)`` when
    called (so ``f(b)`` is the base trace's loss), relaxed ``softmax((theta + G) / t)`` by :meth:`relaxed` (the
    control variate of REBAR / RELAX, continuous in ``x``)."""

    def _later(self, i, logits, t):
        z = log_softmax(logits, -1) + self.noise[i]
        return scatter_one_hot(z.argmax(-1, keepdim=True), logits) if t is None else softmax(z / t, -1)

    def relaxed(self, x: torch.Tensor, t) -> torch.Tensor:
        return self._values(x, t)


def _relaxed_layers(model, est, params, parts):
    """The base trace ``b_i = argmax(theta_i + G_i)`` from each draw's own Gumbels (the estimator's ``z`` noise),
    its per-element losses (the direct pathwise gradient of the parameters) and, per draw, the logits (given the
    earlier draws of the base trace, with their gradient in ``params``) and its :class:`_Relaxed` loss."""
    gumbels = [est.gumbels(p, d.shape) for p, d in zip(parts, model.draws, strict=True)]
    base, logits_of = [], []

    def draw_base(i, logits):
        index = (log_softmax(logits.detach(), -1) + gumbels[i]).argmax(-1, keepdim=True)
        base.append(index)
        logits_of.append(logits)
        return scatter_one_hot(index, logits.detach())

    total = model.run_forward(params, draw_base)
    fixed = {k: v.detach() for k, v in params.items()}
    return total, [(logits_of[i], _Relaxed(model, fixed, base, i, gumbels)) for i in range(len(model.draws))]


def _objective(model, est, params, parts):
    """``state -> sum_l |g_l|^2`` at one sample (``g_l`` the estimate in draw ``l``'s logits), the parameters
    fixed: the objective of RELAX's control variate (Grathwohl et al. Alg. 2)."""
    with torch.no_grad():
        _, layers = _relaxed_layers(model, est, {k: v.detach() for k, v in params.items()}, parts)

    def objective(state):
        return sum(est.squared_norm(logits, loss, u, state) for (logits, loss), u in zip(layers, parts, strict=True))

    return objective


def _element_widths(model) -> list[int]:
    """Relaxed values per loss element of each draw (the width of RELAX's network per draw)."""
    e = len(model.loss_shape) if model.elements_independent else 0
    return [math.prod(d.shape[e:]) for d in model.draws]
