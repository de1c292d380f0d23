"""A ``layerwise`` estimator on a multi-layer model (a :class:`~gradlab.problems.stochastic_model.StochasticModel`): one
draw at a time, the later draws resampled from a base trace's uniforms (ARM, DisARM, ARSM, RB-SF, the unordered
set and priority estimators), or with the later draws relaxed from the same noise (REBAR, RELAX)."""

from __future__ import annotations

import math

import torch

from gradlab.core.noise import make_generator
from gradlab.estimators.base import Estimator, inverse_cdf_index, scatter_one_hot

__all__ = ["control_variate_step", "fitted_control_variate", "layerwise_surrogate", "relaxed_layers_surrogate"]


def layerwise_surrogate(model, est: Estimator, params, parts) -> torch.Tensor:
    """A ``layerwise`` estimator one draw at a time: a base trace ``x ~ p`` (inversion); for draw ``l`` the
    estimator's surrogate on its logits (given the earlier draws of the base trace, with their gradient in the
    parameters) and the loss ``g(x_l) = f(x_<l, x_l, x_>l)`` with the later draws resampled given ``x_l`` from
    the base trace's uniforms (common random numbers, independent of the estimator's own noise, so
    ``E[g(x_l)] = E[f | x_<l, x_l]`` and each draw's estimate is unbiased); the parameters are held fixed in
    ``g``. Plus the pathwise gradient of the parameters the loss uses directly, at the base trace."""
    base_u, own_u, base, logits_of = [], [], [], []
    for p, d in zip(parts, model.draws, strict=True):
        base_u.append(p[: d.num_vars].reshape(*d.shape[:-1], 1))
        own_u.append(p[d.num_vars :])

    def draw_base(i, logits):
        index = inverse_cdf_index(torch.softmax(logits.detach(), -1), base_u[i])
        base.append(index)
        logits_of.append(logits)
        return scatter_one_hot(index, logits.detach())

    total = model._run(params, draw_base).sum()  # the samples held fixed: the direct pathwise gradient
    fixed = {k: v.detach() for k, v in params.items()}
    for layer in range(len(model.draws)):
        out = est.surrogate(logits_of[layer], _ResampledLater(model, fixed, base, layer, base_u), own_u[layer])
        total = total + (out - out.detach()).sum()
    return total


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

            out = self.model._run(self.fixed, draw)
            return out if self.model.elements_independent else out.sum()

        lead = x.shape[: x.ndim - len(spec.shape)]
        values = torch.func.vmap(one)(x.reshape(-1, *spec.shape))
        return values.reshape(*lead, *values.shape[1:])

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self._values(x)


class _ResampledLater(_DrawLoss):
    """The later draws resampled by inversion from the base trace's uniforms (``noise``)."""

    def _later(self, i, logits, t):
        return scatter_one_hot(inverse_cdf_index(torch.softmax(logits, -1), self.noise[i]), logits)


class _RelaxedLater(_DrawLoss):
    """The later draws from their Gumbels ``G`` (``noise``) at the base trace's noise: ``argmax(theta + G)`` when
    called (so ``f(b)`` is the base trace's loss), relaxed ``softmax((theta + G) / t)`` by :meth:`relaxed` (the
    control variate of REBAR / RELAX, continuous in ``x``)."""

    def _later(self, i, logits, t):
        z = torch.log_softmax(logits, -1) + self.noise[i]
        return scatter_one_hot(z.argmax(-1, keepdim=True), logits) if t is None else torch.softmax(z / t, -1)

    def relaxed(self, x: torch.Tensor, t) -> torch.Tensor:
        return self._values(x, t)


def _relaxed_layers(model, est: Estimator, params, parts):
    """The base trace ``b_i = argmax(theta_i + G_i)`` from each draw's own Gumbels (the estimator's ``z`` noise),
    its per-element losses (the direct pathwise gradient of the parameters) and, per draw, the logits (given the
    earlier draws of the base trace, with their gradient in ``params``) and its :class:`_RelaxedLater` loss."""
    gumbels = [est.gumbels(p, d.shape) for p, d in zip(parts, model.draws, strict=True)]
    base, logits_of = [], []

    def draw_base(i, logits):
        index = (torch.log_softmax(logits.detach(), -1) + gumbels[i]).argmax(-1, keepdim=True)
        base.append(index)
        logits_of.append(logits)
        return scatter_one_hot(index, logits.detach())

    total = model._run(params, draw_base)
    fixed = {k: v.detach() for k, v in params.items()}
    return total, [(logits_of[i], _RelaxedLater(model, fixed, base, i, gumbels)) for i in range(len(model.draws))]


def relaxed_layers_surrogate(model, est: Estimator, params, parts) -> torch.Tensor:
    """REBAR / RELAX on a multi-layer model (gradlab's construction after Tucker et al. 2017's multi-layer SBNs):
    per draw ``l`` the estimator on its logits given the earlier draws, with ``f(b)`` the base trace's loss and
    the control variate ``c(z_l)`` the loss with draw ``l`` relaxed and every later draw relaxed from its own
    Gumbels at the same temperature (the earlier ones fixed). ``c`` is a continuous function of ``z_l`` and of
    noise independent of draw ``l``'s, so each draw's estimate is unbiased for ``d/d theta_l E[f | b_<l]``; the
    parameters are fixed in ``c`` (its pathwise terms act on ``theta_l``). Plus the direct pathwise gradient at the
    base trace."""
    total, layers = _relaxed_layers(model, est, params, parts)
    total = total.sum()
    for (logits, loss), u in zip(layers, parts, strict=True):
        out = est.surrogate(logits, loss, u)
        total = total + (out - out.detach()).sum()
    return total


def _objective(model, est: Estimator, params, parts):
    """``state -> sum_l |g_l|^2`` at one sample (``g_l`` the estimate in draw ``l``'s logits), the parameters
    fixed: the objective of RELAX's control variate (Grathwohl et al. Alg. 2)."""
    with torch.no_grad():
        _, layers = _relaxed_layers(model, est, {k: v.detach() for k, v in params.items()}, parts)

    def objective(state):
        return sum(est.squared_norm(logits, loss, u, state) for (logits, loss), u in zip(layers, parts, strict=True))

    return objective


def control_variate_step(model, est: Estimator, params, parts) -> Estimator:
    """RELAX in training: one Adam step of its control variate on this sample's objective."""
    return est.stepped(_objective(model, est, params, parts), element_widths(model), model.dtype, model.device)


def fitted_control_variate(model, est: Estimator) -> Estimator:
    """RELAX fitted at the model's parameter values before a measurement: ``steps`` Adam steps, each on the mean
    objective of ``batch`` samples (noise from ``seed + 1``, as on a single-layer problem)."""
    gen = make_generator(est.seed + 1, model.device)
    sizes = model._uniforms_per_draw(est)
    fixed = model.param_values()

    def objective(state):  # the per-sample objective mapped over the batch (vmap), differentiable in state
        u = torch.rand((est.batch, sum(sizes)), generator=gen, dtype=model.dtype, device=model.device)
        one = torch.func.vmap(lambda row: _objective(model, est, fixed, torch.split(row, sizes))(state))
        return one(u).sum() / est.batch

    return est.fit_objective(objective, element_widths(model), model.dtype, model.device)


def element_widths(model) -> list[int]:
    """Relaxed values per loss element of each draw (the width of RELAX's network per draw)."""
    e = len(model.loss_shape) if model.elements_independent else 0
    return [math.prod(d.shape[e:]) for d in model.draws]
