"""The categorical VAE's network, defined once (ZGR Sec. 4.1, App. B.3; Shah et al. App. A.2): its architecture,
initialisation, encoder, bit or one-hot embedding, decoder and negative ELBO. :class:`~gradlab.problems.vae.
CategoricalVAE` (the problem on a fixed minibatch, with its exact expectation) and :class:`~gradlab.problems.
vae_data.VAEDataModel` (the trainable model on a data set) are both built on it, and neither imports the other's
module to get it. The module docstring of :mod:`gradlab.problems.vae` says what ``kl`` chooses."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import torch
import torch.nn.functional as F

from gradlab.core import checks as _checks
from gradlab.core.distributions import bit_codes
from gradlab.core.noise import make_generator
from gradlab.core.softmax import log_softmax

__all__ = [
    "VAEArchitecture",
    "VAEModel",
    "init_vae_params",
    "mlp",
    "bernoulli_nll",
    "kl_to_uniform",
    "kl_logits",
    "EMBEDDINGS",
    "ENCODERS",
    "KL_OPTIONS",
]

EMBEDDINGS = ("bits", "onehot")
ENCODERS = ("linear", "nonlinear")
KL_OPTIONS = ("forward", "model")  # the KL of the distribution the draws follow, or of softmax(logits)


def kl_logits(kl: str, model_logits: torch.Tensor, forward_logits: torch.Tensor) -> torch.Tensor:
    """The logits whose distribution the analytic KL (or entropy) term is of: ``forward_logits`` (those of the
    distribution the draws follow, ``kl="forward"``) or the model's own ``model_logits`` (``kl="model"``)."""
    return forward_logits if kl == "forward" else model_logits


@dataclasses.dataclass(frozen=True)
class VAEArchitecture:
    """Sizes of a categorical VAE. ``hidden`` are the encoder's hidden widths (decoder: reversed)."""

    dim: int
    num_vars: int
    num_classes: int
    embedding: str = "bits"
    encoder: str = "nonlinear"
    hidden: tuple[int, ...] = (512, 256)
    slope: float = 0.2

    def __post_init__(self) -> None:
        owner = "CategoricalVAE"
        _checks.integer(owner, "dim", self.dim, 1)
        _checks.integer(owner, "num_vars", self.num_vars, 1)
        _checks.integer(owner, "num_classes", self.num_classes, 2)
        _checks.choice(owner, "embedding", self.embedding, EMBEDDINGS)
        _checks.choice(owner, "encoder", self.encoder, ENCODERS)
        if self.embedding == "bits" and self.num_classes & (self.num_classes - 1):
            raise ValueError(f"{owner}: embedding='bits' needs num_classes = 2^b, got {self.num_classes}")
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))

    @property
    def code_width(self) -> int:
        """Width of one variable's embedding: ``b`` bits or ``K``."""
        return self.num_classes.bit_length() - 1 if self.embedding == "bits" else self.num_classes

    @property
    def latent_width(self) -> int:
        return self.num_vars * self.code_width

    def widths(self, part: str) -> list[int]:
        hidden = list(self.hidden) if self.encoder == "nonlinear" else []
        if part == "encoder":
            return [self.dim, *hidden, self.num_vars * self.num_classes]
        return [self.latent_width, *reversed(hidden), self.dim]

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes = {}
        for part in ("encoder", "decoder"):
            w = self.widths(part)
            for i in range(len(w) - 1):
                shapes[f"{part}.{i}.weight"] = (w[i + 1], w[i])
                shapes[f"{part}.{i}.bias"] = (w[i + 1],)
        return shapes

    def n_layers(self, part: str) -> int:
        return len(self.widths(part)) - 1


def init_vae_params(arch: VAEArchitecture, seed: int = 0, dtype=torch.float32, device="cpu") -> dict[str, torch.Tensor]:
    """PyTorch's default ``Linear`` initialisation, ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, from an explicit seed."""
    g = make_generator(seed)
    params = {}
    for name, shape in arch.param_shapes().items():
        fan_in = shape[1] if len(shape) == 2 else arch.param_shapes()[name.replace("bias", "weight")][1]
        bound = fan_in**-0.5
        params[name] = ((torch.rand(shape, generator=g, dtype=torch.float64) * 2 - 1) * bound).to(dtype).to(device)
    return params


def mlp(params: Mapping[str, torch.Tensor], part: str, n_layers: int, h: torch.Tensor, slope: float) -> torch.Tensor:
    for i in range(n_layers):
        h = F.linear(h, params[f"{part}.{i}.weight"], params[f"{part}.{i}.bias"])
        if i < n_layers - 1:
            h = F.leaky_relu(h, slope)
    return h


def bernoulli_nll(data: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """``-log p(data | logits)`` summed over pixels: ``sum softplus(l) - data * l``."""
    return F.softplus(logits).sum(-1) - (data * logits).sum(-1)


def kl_to_uniform(logits: torch.Tensor) -> torch.Tensor:
    """``KL(Cat(softmax(logits)) || Uniform(K))`` summed over the variables: ``(*E, V, K) -> (*E)``."""
    log_q = log_softmax(logits, dim=-1)
    k = logits.shape[-1]
    return (log_q.exp() * (log_q + torch.log(torch.tensor(float(k), dtype=logits.dtype)))).sum((-1, -2))


class VAEModel:
    """The model functions of a categorical VAE (pure functions of a parameter dict and data)."""

    def __init__(self, arch: VAEArchitecture, dtype: torch.dtype = torch.float64, device="cpu"):
        self.arch = arch
        self.codes = bit_codes(arch.num_classes, dtype, device) if arch.embedding == "bits" else None

    def encode(self, params: Mapping[str, torch.Tensor], data: torch.Tensor) -> torch.Tensor:
        """``(..., D)`` binary images -> encoder logits ``(..., V, K)``."""
        h = mlp(params, "encoder", self.arch.n_layers("encoder"), data, self.arch.slope)
        return h.reshape(*h.shape[:-1], self.arch.num_vars, self.arch.num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., V, K)`` one-hot or relaxed -> ``(..., V e)`` decoder input."""
        z = x @ self.codes.to(x.dtype) if self.codes is not None else x
        return z.reshape(*z.shape[:-2], -1)

    def decode(self, params: Mapping[str, torch.Tensor], z: torch.Tensor) -> torch.Tensor:
        """Decoder input ``(..., V e)`` -> Bernoulli logits ``(..., D)``."""
        return mlp(params, "decoder", self.arch.n_layers("decoder"), z, self.arch.slope)

    def neg_elbo(self, params, data: torch.Tensor, x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """Per-image negative ELBO ``-log p(data | x) + KL(q || uniform)`` for latents ``x (*lead, B, V, K)``."""
        return bernoulli_nll(data, self.decode(params, self.embed(x))) + kl_to_uniform(logits)
