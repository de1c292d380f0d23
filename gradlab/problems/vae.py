"""Categorical VAE with ``V`` latent variables of ``K`` categories (ZGR Sec. 4.1, App. B.3; Shah et al. App. A.2).

* Latents embedded as ``{-1, +1}^b`` bit codes (``K = 2^b``, ZGR App. B.3) or one-hot (Shah et al.).
* Encoder ``linear`` (``D -> V K``) or ``nonlinear`` (``D -> 512 -> 256 -> V K``, LeakyReLU 0.2); the decoder
  mirrors it (``V e -> 256 -> 512 -> D``) and gives Bernoulli logits.
* Uniform prior; ``KL(q(z|x) || p(z))`` computed analytically, of the distribution chosen by ``kl`` (below).
* The loss is the negative ELBO averaged over a fixed minibatch ``X`` of ``B`` binary images; per-element
  losses are per image (``E = (B,)``), which RF(m) uses for per-image baselines.

Which distribution the KL is of (``kl``) matters only for an estimator whose samples follow another distribution
than the model's ``q = softmax(logits)``: decoupled ST with ``tau_f != 1`` draws from ``q_f = softmax(logits /
tau_f)`` (Shah et al. give no formula for the KL of their VAE):

* ``"forward"`` (default): ``KL(q_f || uniform)``. With the reconstruction term an expectation under ``q_f`` too,
  the objective is the negative ELBO of the model whose posterior is ``q_f``: a bound on ``-log p(x)``. Its
  KL gradient carries ``1 / tau_f`` while the estimator's backward carries ``1 / tau_b``, so relative to the
  reconstruction the KL is weighted about ``tau_b / tau_f`` times in training (3 to 20 on Shah et al.'s grid);
* ``"model"``: ``KL(q || uniform)`` of the model's own distribution, whatever the samples follow: the KL keeps the
  weight it has for every other estimator, and the objective mixes two distributions (no longer a bound).

At ``tau_f = 1``, and for every other estimator, the two are the same objective.

Exact expectation: the decoder runs once per latent configuration; the Bernoulli log-likelihoods of the
whole minibatch come from one ``(B, D) x (D, C)`` product, and ``log q(c | x_b)`` from one
``(B, V K) x (V K, C)`` product — never once per configuration and data point.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F

from gradlab.core import checks as _checks
from gradlab.core.softmax import log_softmax
from gradlab.estimators.multilayer import strategy_of
from gradlab.problems.base import Problem, config_indices
from gradlab.problems.vae_net import (  # the network, defined once; re-exported here as before
    EMBEDDINGS,
    ENCODERS,
    KL_OPTIONS,
    VAEArchitecture,
    VAEModel,
    init_vae_params,
    kl_logits,
    kl_to_uniform,
)

__all__ = [
    "VAEArchitecture",
    "VAEModel",
    "CategoricalVAE",
    "init_vae_params",
    "EMBEDDINGS",
    "ENCODERS",
    "KL_OPTIONS",
    "kl_logits",
]


class CategoricalVAE(Problem):
    """Negative ELBO of a fixed minibatch ``data`` (``B, D`` binary) under a categorical VAE.

    Parameters (``wrt``): ``"all"``, ``"encoder"``, ``"decoder"`` or ``"logits"`` (the encoder output,
    ``(B, V, K)``). ``params`` defaults to a fresh initialisation from ``seed``.
    """

    name = "CategoricalVAE"

    def __init__(
        self,
        data: torch.Tensor,
        num_vars: int = 4,
        num_classes: int = 8,
        embedding: str = "bits",
        encoder: str = "nonlinear",
        hidden: tuple[int, ...] = (512, 256),
        params: Mapping[str, torch.Tensor] | None = None,
        seed: int = 0,
        dtype: torch.dtype = torch.float64,
        device="cpu",
        data_config: dict | None = None,
        kl: str = "forward",
    ):
        self.kl = _checks.choice(self.name, "kl", kl, KL_OPTIONS)
        if not isinstance(data, torch.Tensor) or data.ndim != 2:
            got = tuple(data.shape) if isinstance(data, torch.Tensor) else type(data).__name__
            raise ValueError(f"{self.name}: data must be a (B, D) tensor of binary pixels, got {got}")
        self.dtype, self.device = dtype, torch.device(device)
        self.data = data.to(dtype=dtype, device=self.device)
        if not bool(((self.data == 0) | (self.data == 1)).all()):
            raise ValueError(f"{self.name}: data must be binary (0/1) pixels; binarise first (gradlab.problems.data)")
        self.arch = VAEArchitecture(data.shape[1], num_vars, num_classes, embedding, encoder, hidden)
        shapes = self.arch.param_shapes()
        if params is None:
            params = init_vae_params(self.arch, seed, dtype, self.device)
            self.params_source = {"init_seed": seed}
        else:
            self.params_source = {"given": True}
        missing = set(shapes) - set(params)
        if missing:
            raise ValueError(f"{self.name}: params is missing {', '.join(sorted(missing))}")
        self._params = {}
        for n, shape in shapes.items():
            t = params[n].detach().to(dtype=dtype, device=self.device)
            if tuple(t.shape) != shape:
                raise ValueError(f"{self.name}: params[{n!r}] has shape {tuple(t.shape)}, expected {shape}")
            self._params[n] = t
        self.model = VAEModel(self.arch, dtype, self.device)
        self.data_config = data_config or {"custom_data": True, "batch_size": int(data.shape[0])}

    # ---------------------------------------------------------------- constructors
    @classmethod
    def on_dataset(cls, dataset, batch_size: int = 200, batch_seed: int = 0, **kwargs) -> CategoricalVAE:
        """The VAE on a fixed random minibatch of ``dataset`` (a :class:`~gradlab.problems.data.Dataset`)."""
        data = dataset.fixed_batch(batch_size, batch_seed)
        cfg = {"dataset": dataset.config(), "batch_size": batch_size, "batch_seed": batch_seed}
        prob = cls(data, data_config=cfg, **kwargs)
        prob.dataset = dataset
        return prob

    def training_model(self):
        """This VAE (architecture, parameter values, data set and fixed minibatch) as a trainable
        :class:`~gradlab.problems.vae_data.VAEDataModel`: what ``gradlab.training.train`` trains when given this
        problem. Needs the data set (a problem built with :meth:`on_dataset` or :meth:`from_snapshot`)."""
        from gradlab.problems.vae_data import VAEDataModel

        dataset = getattr(self, "dataset", None)
        if dataset is None:
            raise TypeError(f"{self.name}: training needs the data set; build the problem with on_dataset(...)")
        a = self.arch
        return VAEDataModel(
            dataset,
            a.num_vars,
            a.num_classes,
            a.embedding,
            a.encoder,
            a.hidden,
            batch_size=self.data_config["batch_size"],
            batch_seed=self.data_config["batch_seed"],
            params=self.param_values(),
            dtype=self.dtype,
            device=self.device,
            kl=self.kl,
        )

    @classmethod
    def from_snapshot(
        cls,
        path: str | Path,
        dataset=None,
        batch_size: int = 200,
        batch_seed: int = 0,
        dtype=torch.float64,
        device="cpu",
        kl: str | None = None,
    ) -> CategoricalVAE:
        """Load a ``gradlab train`` snapshot of a categorical VAE (``gradlab.training.train``'s format, or the
        older VAE-only one) on a fixed minibatch of ``dataset`` (default: the data set the snapshot was trained
        on, if it is the embedded one). ``kl``: default the snapshot's own (``"forward"`` for the older format)."""
        from gradlab.problems.snapshots import load_snapshot

        params, cfg = load_snapshot(path)
        arch = cfg["architecture"]
        if dataset is None:
            from gradlab.problems.data import load_dataset

            ds = cfg["dataset"]
            if ds.get("name") != "digits":
                raise ValueError(
                    f"from_snapshot: the snapshot was trained on {ds.get('name')!r}; pass dataset=load_dataset(...)"
                )
            dataset = load_dataset("digits", binarize=ds["binarize"], seed=ds["seed"])
        prob = cls.on_dataset(
            dataset,
            batch_size,
            batch_seed,
            num_vars=arch["num_vars"],
            num_classes=arch["num_classes"],
            embedding=arch["embedding"],
            encoder=arch["encoder"],
            hidden=tuple(arch["hidden"]),
            params=params,
            dtype=dtype,
            device=device,
            kl=kl if kl is not None else cfg.get("problem", {}).get("kl", "forward"),
        )
        trained_with = cfg.get("settings", cfg).get("estimator")
        prob.params_source = {"snapshot": str(path), "epoch": cfg.get("epoch"), "estimator": trained_with}
        return prob

    # ---------------------------------------------------------------- parameters
    def param_groups(self):
        names = tuple(self._params)
        return {
            "all": names,
            "encoder": tuple(n for n in names if n.startswith("encoder.")),
            "decoder": tuple(n for n in names if n.startswith("decoder.")),
        }

    def param_values(self):
        return dict(self._params)

    @property
    def event_shape(self):
        return (self.arch.num_vars, self.arch.num_classes)

    # ---------------------------------------------------------------- model
    def logits(self, params):
        return self.model.encode(params, self.data)

    def loss(self, x, params, logits):
        """Per-image negative ELBO / B; ``logits``: those of the distribution the draws follow (the KL's, unless
        ``kl="model"``, which takes the model's own from ``params``)."""
        return self.model.neg_elbo(params, self.data, x, self._kl_logits(params, logits)) / self.data.shape[0]

    def _kl_logits(self, params, logits):
        return self.latent_logits(params) if self.kl == "model" else logits

    # ---------------------------------------------------------------- exact engine
    def constant_terms(self, params, logits):
        return kl_to_uniform(self._kl_logits(params, logits)).sum() / self.data.shape[0]

    def enumerated_terms(self, params, logits, start, stop):
        v, k = self.event_shape
        idx = config_indices(start, stop, v, k, self.device)  # (C, V)
        onehot = F.one_hot(idx, k).to(self.dtype)  # (C, V, K)
        dec_logits = self.model.decode(params, self.model.embed(onehot))  # (C, D): once per configuration
        nll = F.softplus(dec_logits).sum(-1) - self.data @ dec_logits.T  # (B, C)
        log_q = log_softmax(logits, dim=-1).reshape(logits.shape[0], v * k)
        log_qc = log_q @ onehot.reshape(-1, v * k).T  # (B, C): sum_v log q_v(c_v | x_b)
        return (torch.exp(log_qc) * nll).sum() / self.data.shape[0]

    def per_sample_gradients(self, estimator, uniforms, wrt="all", workspace=None):
        """The sampler's path: this problem's own ``logits`` and ``loss`` as a
        :class:`~gradlab.problems.stochastic_model.StochasticModel` (one draw, images independent), mapped over samples
        with ``vmap``; the analytic KL follows the draws' distribution (``softmax(logits / tau_f)`` under
        decoupled ST). Built once per ``sample_gradients`` call (kept in its ``workspace``). A score-function
        estimator other than REINFORCE (REBAR, RELAX, ARSM, ...) takes the generic per-sample loop instead, with the
        single-layer noise layout (``estimator.num_uniforms``)."""
        strategy = strategy_of(estimator)
        if strategy is None or not strategy.same_noise_as_one_layer:  # keep the estimator's single-layer noise
            return self.looped_gradients(estimator, uniforms, wrt)
        workspace = {} if workspace is None else workspace
        key = ("model", "logits" if wrt == "logits" else "params")
        if key not in workspace:
            workspace[key] = self.as_stochastic_model(wrt == "logits")
        return workspace[key].per_sample_gradients(estimator, uniforms, wrt, workspace)

    def as_stochastic_model(self, logits_as_parameter: bool = False):
        """This VAE as a StochasticModel (``logits_as_parameter``: the latent logits are the parameter, as for
        ``wrt="logits"``); the same numbers for the same seed."""
        from gradlab.problems.stochastic_model import StochasticModel

        values = self.param_values()
        groups = {g: names for g, names in self.param_groups().items() if g != "all"}
        if logits_as_parameter:
            values = {**values, "logits": self.logits(values)}
            groups = {"logits": ("logits",)}

        def forward(p, draw):
            logits = self.latent_logits(p)
            x = draw(logits)
            return self.loss(x, p, draw.forward_logits(logits))

        return StochasticModel(
            forward, values, groups, dtype=self.dtype, device=self.device, name=self.name, elements_independent=True
        )

    def bytes_per_sample(self, estimator, wrt="all") -> int:
        """Rough peak bytes per sample of :meth:`per_sample_gradients` (sets the sampler's chunk size)."""
        itemsize = torch.finfo(self.dtype).bits // 8
        b, v, k = self.data.shape[0], self.arch.num_vars, self.arch.num_classes
        rows = b * estimator.loss_evaluations
        acts = rows * (sum(self.arch.widths("decoder")) * 3 + self.arch.latent_width)
        est = b * v * k * (12 + 3 * estimator.extra_logit_copies)
        params = sum(math.prod(s) for s in self.arch.param_shapes().values())
        return itemsize * (acts + est + 2 * params)

    def bytes_per_configuration(self) -> int:
        """Rough peak bytes of :meth:`enumerated_terms` per configuration (for the chunk size)."""
        widths = sum(self.arch.widths("decoder")) + 4 * self.data.shape[0] + self.arch.num_vars * self.arch.num_classes
        return 3 * widths * torch.finfo(self.dtype).bits // 8

    # ---------------------------------------------------------------- description
    def config(self):
        cfg = {
            "problem": self.name,
            "architecture": dataclasses.asdict(self.arch),
            "data": self.data_config,
            "params": self.params_source,
            "dtype": str(self.dtype),
        }
        if self.kl != "forward":  # (the default is left out: configurations written before the option stay valid)
            cfg["kl"] = self.kl
        return cfg

    def to_json(self) -> str:
        return json.dumps(self.config(), sort_keys=True)
