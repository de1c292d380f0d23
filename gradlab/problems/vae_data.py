"""The categorical VAE as a trainable model: :class:`CategoricalVAE`'s networks and loss on minibatches of a data
set (what ``gradlab.training.train`` trains, and what ``CategoricalVAE.training_model()`` returns).

The loss per image is the negative ELBO of ZGR App. B.3: ``-log p(x | z) + KL(q(z | x) || uniform)`` with the KL
in closed form, of the distribution the draws follow (``draw.forward_logits``: ``softmax(logits / tau_f)`` under
decoupled ST) or, with ``kl="model"``, of the model's ``softmax(logits)``, as :class:`CategoricalVAE` does (its
module docstring says what each means). The networks are ``VAEModel``'s, shared with
:class:`CategoricalVAE` and :class:`~gradlab.problems.CategoricalAutoencoder`.

A training step (``step``) forms the same estimate in one of two ways, equal but for float rounding:

* ``"traced"`` (the default): the estimator's strategy on the traced model, as for every
  :class:`~gradlab.problems.data_model.DataModel` (REINFORCE's ``m`` traces under ``vmap``), the sum over the
  minibatch divided by its size afterwards;
* ``"layer"``: the encoder's logits given to the estimator's one-layer surrogate (the estimator's own code, as on
  a single categorical layer), with the loss per image divided by the batch size inside it: the recipe of the RF(4)
  snapshots ``gradlab run`` and the theory checks measure on (:func:`gradlab.training.train_vae`), kept so that they
  stay what they were to the last bit. Pathwise estimators give bit-identical parameters either way; REINFORCE's
  leave-one-out weights round differently, so runs drift apart at float precision.
"""

from __future__ import annotations

from typing import Unpack

import torch

from gradlab.core import checks as _checks
from gradlab.estimators import Estimator, stateful
from gradlab.problems.data_model import DataKeywords, DataModel, DataSpec
from gradlab.problems.vae_net import (
    KL_OPTIONS,
    VAEArchitecture,
    VAEModel,
    bernoulli_nll,
    init_vae_params,
    kl_logits,
    kl_to_uniform,
)

__all__ = ["VAEDataModel", "STEPS"]

STEPS = ("traced", "layer")


class VAEDataModel(DataModel):
    """A categorical VAE on a fixed minibatch of binarised images (default: the embedded digits), trainable."""

    model_name = "CategoricalVAE"

    def __init__(
        self,
        data=None,
        num_vars: int = 4,
        num_classes: int = 8,
        embedding: str = "bits",
        encoder: str = "nonlinear",
        hidden: tuple[int, ...] = (512, 256),
        *,
        kl: str = "forward",
        step: str = "traced",
        **spec: Unpack[DataKeywords],
    ):
        s = DataSpec.of(self.model_name, data, spec)
        params, init_seed, dtype, device = s.params, s.init_seed, s.dtype, s.device
        self.kl = _checks.choice(self.model_name, "kl", kl, KL_OPTIONS)
        self.step = _checks.choice(self.model_name, "step", step, STEPS)
        (x,), splits, self.data_config = s.binary(labels=False)
        self.arch = VAEArchitecture(x.shape[1], num_vars, num_classes, embedding, encoder, tuple(hidden))
        self.net = VAEModel(self.arch, dtype, device)
        if params is None:
            params = init_vae_params(self.arch, init_seed, dtype, device)
        self.init_seed = init_seed
        names = tuple(params)
        groups = {part: tuple(n for n in names if n.startswith(part + ".")) for part in ("encoder", "decoder")}
        super().__init__(
            self._forward,
            params,
            groups,
            batch=(x,),
            splits=splits,
            name=self.model_name,
            spec=s,
        )

    def _forward(self, p, draw) -> torch.Tensor:
        return self._terms(p, draw)["loss"]

    def _terms(self, p, draw) -> dict[str, torch.Tensor]:
        logits = self.net.encode(p, self.x)  # (B, V, K)
        z = draw(logits)
        nll = bernoulli_nll(self.x, self.net.decode(p, self.net.embed(z)))
        forward = draw.forward_logits(logits)
        out = {"loss": nll + kl_to_uniform(kl_logits(self.kl, logits, forward))}
        if self.kl == "model":  # the loss is then no bound; the negative ELBO of the distribution the draws follow is
            out["neg_elbo"] = nll + kl_to_uniform(forward)
        return out

    def step_uniforms(self, estimator: Estimator) -> int:
        if self.step == "traced":
            return super().step_uniforms(estimator)
        return estimator.num_uniforms((self.batch_size, self.arch.num_vars, self.arch.num_classes))

    def step_surrogate(self, estimator: Estimator, params, uniforms: torch.Tensor) -> torch.Tensor:
        """With ``step="layer"``: ``estimator.surrogate(logits, loss / B, u)`` summed (module docstring)."""
        if self.step == "traced":
            return super().step_surrogate(estimator, params, uniforms)
        if stateful.trains_online(estimator):
            raise ValueError(
                f"{self.model_name}: step='layer' takes no estimator that trains online ({estimator.label}); "
                "use step='traced'"
            )
        x, b, net = self.x, self.batch_size, self.net
        logits = net.encode(params, x)
        kl = kl_to_uniform(kl_logits(self.kl, logits, estimator.forward_logits(logits)))

        def loss(z: torch.Tensor) -> torch.Tensor:
            return (bernoulli_nll(x, net.decode(params, net.embed(z))) + kl) / b

        return estimator.surrogate(logits, loss, uniforms).sum()

    def batch_metrics(self, params, draw) -> dict[str, torch.Tensor]:
        """The loss per image and, with ``kl="model"`` (whose loss mixes two distributions and is no bound on
        ``-log p(x)``), ``neg_elbo``: the negative ELBO of the distribution the draws follow, a bound."""
        return self._terms(params, draw)

    def config(self) -> dict:
        return {
            **super().config(),
            "architecture": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(self.arch).items()},
            "init_seed": self.init_seed,
            **self.data_config,
            **({"kl": self.kl} if self.kl != "forward" else {}),
            **({"step": self.step} if self.step != "traced" else {}),
        }
