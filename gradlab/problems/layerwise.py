"""A ``layerwise`` estimator on a multi-layer model (a :class:`~gradlab.problems.model.StochasticModel`): one
draw at a time, the later draws resampled from a base trace's uniforms (ARM, DisARM, ARSM, RB-SF, the unordered
set and priority estimators)."""

from __future__ import annotations

import torch

from ..estimators.base import Estimator, inverse_cdf_index, scatter_one_hot

__all__ = ["layerwise_surrogate"]


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
    for layer, spec in enumerate(model.draws):

        def loss(x, layer=layer, spec=spec):  # x: (n, *S_l, K) configurations of draw l
            def one(x_l):
                def draw(i, logits):
                    if i == layer:
                        return x_l
                    index = base[i] if i < layer else inverse_cdf_index(torch.softmax(logits, -1), base_u[i])
                    return scatter_one_hot(index, logits)

                out = model._run(fixed, draw)
                return out if model.elements_independent else out.sum()

            lead = x.shape[: x.ndim - len(spec.shape)]
            flat = x.reshape(-1, *spec.shape)
            values = torch.func.vmap(one)(flat)
            return values.reshape(*lead, *values.shape[1:])

        out = est.surrogate(logits_of[layer], loss, own_u[layer])
        total = total + (out - out.detach()).sum()
    return total
