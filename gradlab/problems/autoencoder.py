"""Decoupled ST's categorical autoencoder (Fig. 3: 4 latents x 8 classes), on the embedded digits.

The encoder maps a binary image to the logits of ``num_vars`` categorical latents of ``num_classes`` classes, a
latent code is drawn (``draw``: the estimator is a plug-in), embedded one-hot and decoded to Bernoulli logits of
the pixels; the loss is the reconstruction negative log-likelihood per image (an autoencoder: no prior and no KL
term, unlike :class:`~gradlab.problems.CategoricalVAE`). The networks are the categorical VAE's own
(``VAEModel``: LeakyReLU MLPs, ``hidden`` widths, decoder mirrored), so the two models share their code.

:meth:`code_perplexity` measures how many codes are used: for each latent, the histogram over the validation
images of its most probable class, and ``exp(entropy)`` of it, averaged over the latents (``num_classes`` when
every class is used equally; Decoupled ST reports about 7.9 of 8 for its best setting).
"""

from __future__ import annotations

import math
from typing import Unpack

import torch

from gradlab.core import checks as _checks
from gradlab.problems.data_model import DataKeywords
from gradlab.problems.vae_data import VAEDataModel
from gradlab.problems.vae_net import bernoulli_nll

__all__ = ["CategoricalAutoencoder"]


class CategoricalAutoencoder(VAEDataModel):
    """The categorical autoencoder of the module docstring on a fixed minibatch of binarised digits: the VAE's
    model with one-hot latents and the reconstruction loss alone."""

    model_name = "CategoricalAutoencoder"

    def __init__(
        self,
        data=None,
        num_vars: int = 4,
        num_classes: int = 8,
        hidden: tuple[int, ...] = (128,),
        **spec: Unpack[DataKeywords],
    ):
        _checks.integer("CategoricalAutoencoder", "num_vars", num_vars, 1)
        super().__init__(data, num_vars, num_classes, "onehot", "nonlinear", hidden, **spec)

    def _forward(self, p, draw) -> torch.Tensor:
        return self._terms(p, draw)["loss"]

    def _terms(self, p, draw) -> dict[str, torch.Tensor]:
        z = draw(self.net.encode(p, self.x))  # (B, V, K)
        return {"loss": bernoulli_nll(self.x, self.net.decode(p, self.net.embed(z)))}

    def code_perplexity(self, params=None, split: str = "valid") -> float:
        """Mean over the latents of ``exp(entropy)`` of the histogram of their most probable class over ``split``."""
        params = self.param_values() if params is None else params
        with torch.no_grad():
            codes = self.net.encode(params, self.split(split)[0]).argmax(-1)  # (N, V)
        out = []
        for v in range(codes.shape[1]):
            q = torch.bincount(codes[:, v], minlength=self.arch.num_classes).to(torch.float64)
            q = q[q > 0] / q.sum()
            out.append(math.exp(-float((q * q.log()).sum())))
        return sum(out) / len(out)

    def summary_metrics(self, params) -> dict[str, float]:
        return {"code_perplexity": self.code_perplexity(params)} if "valid" in self.splits else {}
