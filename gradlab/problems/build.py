"""Problems from plain configuration dictionaries (TOML sweeps, the command line).

``kind`` selects the problem; the other keys are its settings:

* ``single``: ``logits`` (list) or ``num_classes`` + ``logits_seed``; ``loss = "quadratic"`` (random
  ``x^T A x + b^T x`` from ``loss_seed``) or ``"linear"``;
* ``binary``: ``logit``; ``loss = "quadratic"`` (``(b - c)^2``, ``c`` from ``loss_seed``) or ``"linear"``;
* ``multi``: ``num_vars``, ``num_classes``, ``logits_seed``, ``loss_seed``: a random loss whose restriction to
  every variable is quadratic (ZGR Corollary 2);
* ``quantization``: ``eta``, ``levels``, ``noise``, ``std``, ``loss`` (``linear`` / ``quadratic`` / ``sigmoid``);
* ``vae``: ``dataset`` (``digits``; others need ``data_path``), ``binarize``, ``num_vars``, ``num_classes``,
  ``embedding``, ``encoder``, ``batch_size``, ``batch_seed``, ``kl`` (``"forward"`` or ``"model"``: the
  distribution of the analytic KL, see :mod:`gradlab.problems.vae`), and the parameters from ``snapshot`` (a
  ``gradlab train`` file) or a fresh initialisation from ``init_seed``;
* ``sbn``: :class:`~gradlab.problems.hierarchical.SigmoidBeliefNet` (``hidden``, ``batch_size``, ``init_seed``, data);
* ``hvae``: :class:`~gradlab.problems.hierarchical.HierarchicalVAE` (``num_vars``, ``num_classes``,
  ``batch_size``, data).

Kinds live in a registry (:func:`register_problem`); each declares the settings it reads, and any other key is
an error naming the kind and what it accepts (a typo is never silently a default).

Common keys: ``dtype`` (``float64`` default), ``device``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

import torch

from gradlab.core import checks as _checks
from gradlab.problems.base import Problem
from gradlab.problems.simple import Binary, MultiCategorical, QuantizationUnit, SingleCategorical
from gradlab.problems.snapshots import load_checkpoint

__all__ = [
    "build_problem",
    "register_problem",
    "available_problems",
    "ProblemKind",
    "PROBLEMS",
    "QuadraticLoss",
    "PairwiseQuadraticLoss",
    "PROBLEM_KINDS",
]


@dataclasses.dataclass(frozen=True)
class QuadraticLoss:
    """``L(x) = x^T A x + b^T x`` on the last axis (picklable, with a readable name in configs)."""

    a: torch.Tensor
    b: torch.Tensor

    @classmethod
    def random(cls, k: int, seed: int, dtype=torch.float64) -> QuadraticLoss:
        g = torch.Generator().manual_seed(seed)
        return cls(torch.randn(k, k, generator=g, dtype=dtype), torch.randn(k, generator=g, dtype=dtype))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.a.to(x), self.b.to(x)
        return ((x @ a) * x).sum(-1) + x @ b

    loss_name = "quadratic"  # (class attribute) how problem configs name this loss


@dataclasses.dataclass(frozen=True)
class PairwiseQuadraticLoss:
    """``sum_v x_v^T A_v x_v + b_v^T x_v + sum_{v<w} x_v^T C_vw x_w``: quadratic in every single variable
    (the hypothesis of ZGR Corollary 2) but with interactions."""

    a: torch.Tensor  # (V, K, K)
    b: torch.Tensor  # (V, K)
    c: torch.Tensor  # (V, V, K, K), used for v < w

    @classmethod
    def random(cls, v: int, k: int, seed: int, dtype=torch.float64) -> PairwiseQuadraticLoss:
        g = torch.Generator().manual_seed(seed)
        return cls(
            torch.randn(v, k, k, generator=g, dtype=dtype),
            torch.randn(v, k, generator=g, dtype=dtype),
            torch.randn(v, v, k, k, generator=g, dtype=dtype),
        )

    def __call__(self, x: torch.Tensor) -> torch.Tensor:  # x (..., V, K)
        a, b, c = self.a.to(x), self.b.to(x), self.c.to(x)
        own = torch.einsum("...vi,vij,...vj->...", x, a, x) + torch.einsum("...vi,vi->...", x, b)
        v = x.shape[-2]
        mask = torch.triu(torch.ones(v, v, dtype=x.dtype, device=x.device), diagonal=1)
        cross = torch.einsum("...vi,vwij,...wj,vw->...", x, c, x, mask)
        return own + cross

    loss_name = "pairwise_quadratic"


def _dtype(cfg: Mapping) -> torch.dtype:
    name = cfg.get("dtype", "float64")
    _checks.choice("problem", "dtype", name, ("float32", "float64"))
    return getattr(torch, name)


@dataclasses.dataclass(frozen=True)
class ProblemKind:
    """A registered kind of problem: ``build(cfg, dtype, device)``, the settings it accepts and, of those,
    ``sequences``: the settings whose one value is a list (layer widths, logits), so that a sweep reads a list of
    them as one value and a list of lists as a grid axis."""

    name: str
    build: Callable[[Mapping, torch.dtype, str], Problem]
    keys: tuple[str, ...]
    summary: str = ""
    sequences: tuple[str, ...] = ()
    trainable: bool = False  # gl.train, gradlab train and gradlab study take it
    example: Mapping | None = None  # a small configuration (float64) that gradlab.testing.check_problem runs


PROBLEMS: dict[str, ProblemKind] = {}
COMMON_KEYS = ("kind", "dtype", "device")


def register_problem(
    name: str,
    build: Callable[[Mapping, torch.dtype, str], Problem],
    keys: tuple[str, ...],
    summary: str = "",
    sequences: tuple[str, ...] = (),
    trainable: bool = False,
    example: Mapping | None = None,
) -> None:
    """Make ``kind = name`` usable in :func:`build_problem`, sweep configurations and the command line.
    ``keys``: the settings ``build`` reads (others are rejected, so a typo is an error, not a default);
    ``sequences``: those of them whose value is a list (:class:`ProblemKind`); ``trainable``: a model that
    ``gl.train`` trains (``problem.training_model()`` works: a ``DataModel``, or one with a trainable twin);
    ``example``: a small configuration of it (without ``kind``) that :func:`gradlab.testing.check_problem` runs
    (gradlab's tests run every registered kind's). ``build(cfg, dtype, device)`` gets the configuration (a
    mapping of the settings given), the torch dtype and the device, and returns the problem."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"register_problem: name must be a non-empty string, got {name!r}")
    if not callable(build):
        raise TypeError(f"register_problem: build must be callable, got {type(build).__name__}")
    if not set(sequences) <= set(keys):
        raise ValueError(f"register_problem: sequences must be among keys, got {sorted(set(sequences) - set(keys))}")
    if example is not None:
        if not isinstance(example, Mapping):
            raise TypeError(f"register_problem: example must be a mapping of settings, got {type(example).__name__}")
        if not set(example) <= set(keys) | set(COMMON_KEYS):
            raise ValueError(
                f"register_problem: example has settings not among keys: {sorted(set(example) - set(keys))}"
            )
    example = None if example is None else dict(example)
    PROBLEMS[name] = ProblemKind(name, build, tuple(keys), summary, tuple(sequences), bool(trainable), example)


def available_problems() -> list[str]:
    return sorted(PROBLEMS)


def trainable_problems() -> list[str]:
    """The registered kinds that declare themselves trainable (models on a data set)."""
    return sorted(k for k, v in PROBLEMS.items() if v.trainable)


def build_problem(cfg: Mapping) -> Problem:
    """A problem from a configuration dictionary (see the module docstring)."""
    spec = check_problem_keys(cfg)
    return spec.build(cfg, _dtype(cfg), cfg.get("device", "cpu"))


def check_problem_keys(cfg: Mapping) -> ProblemKind:
    """The registered kind of ``cfg``, after checking that it names one and no setting it does not accept (a
    typo is an error naming the closest valid key); cheap, so sweeps call it before any work."""
    if not isinstance(cfg, Mapping):
        raise TypeError(f"problem: expected a table of settings, got {type(cfg).__name__}")
    kind = _checks.choice("problem", "kind", cfg.get("kind"), PROBLEMS)
    spec = PROBLEMS[kind]
    unknown = set(cfg) - set(COMMON_KEYS) - set(spec.keys)
    if unknown:
        import difflib

        valid = sorted(set(spec.keys) | set(COMMON_KEYS))
        close = {u: difflib.get_close_matches(str(u), valid, n=1) for u in sorted(unknown)}
        hints = "; ".join(f"{u!r}: did you mean {c[0]!r}?" for u, c in close.items() if c)
        raise ValueError(
            f"problem: unknown setting(s) {sorted(unknown)} for kind {kind!r}; it accepts {valid}"
            + (f"; {hints}" if hints else "")
        )
    return spec


def _single(cfg: Mapping, dtype, device) -> Problem:
    loss = cfg.get("loss", "quadratic")
    if "logits" in cfg:
        logits = torch.tensor(cfg["logits"], dtype=dtype)
    else:
        k = _checks.integer("problem", "num_classes", cfg.get("num_classes", 8), 2)
        logits = torch.randn(k, generator=torch.Generator().manual_seed(cfg.get("logits_seed", 0)), dtype=dtype)
    k = logits.numel()
    _checks.choice("problem", "loss", loss, ("quadratic", "linear"))
    fn = QuadraticLoss.random(k, cfg.get("loss_seed", 0), dtype)
    if loss == "linear":
        fn = QuadraticLoss(torch.zeros(k, k, dtype=dtype), fn.b)
    return SingleCategorical(logits, fn, dtype, device)


def _binary(cfg: Mapping, dtype, device) -> Problem:
    loss = cfg.get("loss", "quadratic")
    _checks.choice("problem", "loss", loss, ("quadratic", "linear"))
    c = float(torch.rand((), generator=torch.Generator().manual_seed(cfg.get("loss_seed", 0))))
    fn = QuadraticLoss(torch.tensor([[0.0, 0.0], [0.0, 1.0]], dtype=dtype), torch.tensor([0.0, -2 * c], dtype=dtype))
    if loss == "linear":
        fn = QuadraticLoss(torch.zeros(2, 2, dtype=dtype), torch.tensor([0.0, 1.0], dtype=dtype))
    return Binary(cfg.get("logit", 0.0), lambda b, fn=fn: fn(torch.stack([1 - b, b], -1)), dtype, device)


def _multi(cfg: Mapping, dtype, device) -> Problem:
    v = _checks.integer("problem", "num_vars", cfg.get("num_vars", 3), 1)
    k = _checks.integer("problem", "num_classes", cfg.get("num_classes", 4), 2)
    logits = torch.randn(v, k, generator=torch.Generator().manual_seed(cfg.get("logits_seed", 0)), dtype=dtype)
    return MultiCategorical(logits, PairwiseQuadraticLoss.random(v, k, cfg.get("loss_seed", 0), dtype), dtype, device)


def _quantization(cfg: Mapping, dtype, device) -> Problem:
    return QuantizationUnit(
        cfg.get("eta", 0.0),
        cfg.get("levels", 4),
        cfg.get("noise", "triangular"),
        cfg.get("loss", "quadratic"),
        cfg.get("std"),
        dtype,
        device,
    )


DATA_KEYS = ("dataset", "data_path", "binarize", "data_seed", "batch_size", "batch_seed")


def _dataset(cfg: Mapping):
    from gradlab.problems.data import load_dataset

    return load_dataset(
        cfg.get("dataset", "digits"), cfg.get("data_path"), cfg.get("binarize"), cfg.get("data_seed", 0)
    )


def _vae(cfg: Mapping, dtype, device) -> Problem:
    from gradlab.problems.vae import CategoricalVAE

    dataset = _dataset(cfg)
    kw = dict(batch_size=cfg.get("batch_size", 200), batch_seed=cfg.get("batch_seed", 0), dtype=dtype, device=device)
    if cfg.get("snapshot"):  # gradlab.training.train's format, or the older VAE-only one
        return CategoricalVAE.from_snapshot(cfg["snapshot"], dataset=dataset, kl=cfg.get("kl"), **kw)
    return CategoricalVAE.on_dataset(
        dataset,
        num_vars=cfg.get("num_vars", 4),
        num_classes=cfg.get("num_classes", 8),
        embedding=cfg.get("embedding", "bits"),
        encoder=cfg.get("encoder", "nonlinear"),
        hidden=_as_tuple(cfg.get("hidden", (512, 256))),
        seed=cfg.get("init_seed", 0),
        kl=cfg.get("kl", "forward"),
        **kw,
    )


def _at_snapshot(problem, cfg: Mapping):
    """``problem`` at the parameters of the training snapshot ``cfg["snapshot"]`` (``gradlab train``), which
    must be of the same kind of model with the same parameter shapes."""
    if not cfg.get("snapshot"):
        return problem
    state, meta = load_checkpoint(cfg["snapshot"])
    theirs = meta.get("problem", {}).get("problem")
    if theirs != problem.name:
        raise ValueError(f"problem: snapshot {cfg['snapshot']} is of a {theirs} model, not of a {problem.name}")
    trained_on = meta.get("problem", {}).get("dataset", {})
    trained_on = trained_on if isinstance(trained_on, dict) else {}
    if trained_on.get("dim") not in (None, problem.x.shape[-1]):
        raise ValueError(
            f"problem: snapshot {cfg['snapshot']} was trained on {trained_on.get('name')!r} images of "
            f"{trained_on['dim']} pixels, and dataset {cfg.get('dataset', 'digits')!r} has {problem.x.shape[-1]}: "
            f"set dataset = {trained_on.get('name')!r} or drop snapshot"
        )
    return problem.with_params(state["params"])


def _as_tuple(value) -> tuple:
    """A list setting given as one value (``--set hidden=64``) is a one-element list."""
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


def _model_builder(module: str, cls: str, keys: tuple[str, ...], tuples: tuple[str, ...] = ()):
    """A builder for a DataModel class that takes ``data`` and keyword settings (``tuples``: list settings)."""

    def build(cfg: Mapping, dtype, device) -> Problem:
        import importlib

        model = getattr(importlib.import_module(f".{module}", __package__), cls)
        kw = {k: (_as_tuple(cfg[k]) if k in tuples else cfg[k]) for k in keys if k in cfg}
        common = {k: cfg[k] for k in ("batch_size", "batch_seed") if k in cfg}
        return _at_snapshot(model(_dataset(cfg), **kw, **common, dtype=dtype, device=device), cfg)

    return build


_SBN_KEYS = ("hidden", "init_seed")
_HVAE_KEYS = ("num_vars", "num_classes", "init_seed", "kl")
_QUANTIZED_KEYS = ("hidden", "conv", "kernel", "weights", "activations", "noise", "init_seed")
_LOGIC_KEYS = ("widths", "tau", "init_seed", "wiring_seed")
_CAE_KEYS = ("num_vars", "num_classes", "hidden", "init_seed")

register_problem(
    "single",
    _single,
    ("logits", "num_classes", "logits_seed", "loss", "loss_seed"),
    "one categorical variable",
    sequences=("logits",),
    example={"num_classes": 4},
)
register_problem("binary", _binary, ("logit", "loss", "loss_seed"), "one binary variable", example={"logit": 0.3})
register_problem(
    "multi",
    _multi,
    ("num_vars", "num_classes", "logits_seed", "loss_seed"),
    "independent categoricals",
    example={"num_vars": 2, "num_classes": 3},
)
register_problem(
    "quantization",
    _quantization,
    ("eta", "levels", "noise", "loss", "std"),
    "a quantization unit",
    ("levels",),
    example={"eta": 0.3, "loss": "sigmoid"},
)
register_problem(
    "vae",
    _vae,
    (*DATA_KEYS, "num_vars", "num_classes", "embedding", "encoder", "hidden", "init_seed", "snapshot", "kl"),
    "categorical VAE",
    ("hidden",),
    trainable=True,
    example={"num_vars": 2, "num_classes": 4, "hidden": [8], "batch_size": 3},
)
register_problem(
    "sbn",
    _model_builder("hierarchical", "SigmoidBeliefNet", _SBN_KEYS, ("hidden",)),
    (*DATA_KEYS, *_SBN_KEYS, "snapshot"),
    "sigmoid belief net classifier (StochasticModel)",
    ("hidden",),
    trainable=True,
    example={"hidden": [2, 2], "batch_size": 2},
)
register_problem(
    "hvae",
    _model_builder("hierarchical", "HierarchicalVAE", _HVAE_KEYS),
    (*DATA_KEYS, *_HVAE_KEYS, "snapshot"),
    "two-layer categorical VAE (ZGR App. B.3.1)",
    trainable=True,
    example={"num_vars": 1, "num_classes": 4, "batch_size": 2},
)
register_problem(
    "quantized",
    _model_builder("quantized", "QuantizedNetwork", _QUANTIZED_KEYS, ("hidden", "conv")),
    (*DATA_KEYS, *_QUANTIZED_KEYS, "snapshot"),
    "quantized MLP with stochastic weights and activations (ZGR App. B.5)",
    ("hidden", "conv"),
    trainable=True,
    example={"hidden": [1], "batch_size": 2},  # 4-bit weights of 64 inputs: not enumerable (the sampler's checks)
)
register_problem(
    "logic_gates",
    _model_builder("logic_gates", "LogicGateNetwork", _LOGIC_KEYS, ("widths",)),
    (*DATA_KEYS, *_LOGIC_KEYS, "snapshot"),
    "differentiable logic-gate network (Decoupled ST Figs. 4-5)",
    ("widths",),
    trainable=True,
    example={"widths": [10], "batch_size": 2},  # 16^10 gate choices: not enumerable (the sampler's checks)
)
register_problem(
    "cat_ae",
    _model_builder("autoencoder", "CategoricalAutoencoder", _CAE_KEYS, ("hidden",)),
    (*DATA_KEYS, *_CAE_KEYS, "snapshot"),
    "categorical autoencoder, 4 latents x 8 classes (Decoupled ST Fig. 3)",
    ("hidden",),
    trainable=True,
    example={"num_vars": 2, "num_classes": 3, "hidden": [8], "batch_size": 2},
)
PROBLEM_KINDS = tuple(PROBLEMS)  # the built-in kinds (register_problem adds more)
