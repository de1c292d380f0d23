"""The estimator protocol shared by every estimator.

An estimator is a small frozen dataclass holding validated hyper-parameters; all its methods are pure
functions of tensors. Randomness enters only as a tensor of ``U(0, 1)`` draws (``uniforms``), or through an
explicit ``torch.Generator`` that produces them, so a sampler can draw the noise of many samples at once,
reproducibly, and feed it to the same code the drop-in layer uses.

Shapes. ``logits`` has shape ``(*sample, *event)`` where ``event = (*S, K)`` is the shape of the logits of
one draw (``S`` independent categorical variables with ``K`` categories) and ``sample`` are leading
replica dimensions (independent draws of the whole estimator). ``uniforms`` has shape
``(*sample, n)`` with ``n = est.num_uniforms(event)``; its number of dimensions tells the estimator how
many leading dimensions are replicas.

Every estimator implements :meth:`Estimator.surrogate`: given logits, a loss and uniforms it returns a
tensor whose value is the (mean) loss at the forward sample and whose gradient, with respect to the logits
and to anything the loss depends on, is the estimate. This is how a sampler drives every estimator the
same way, pathwise or score-function. Pathwise estimators also implement :meth:`plugin_sample` (one-hot forward,
estimator backward) and so work as drop-in layers through :meth:`sample`.

Notation follows docs/ESTIMATORS.md: ``eta`` logits, ``p = softmax(eta)``, ``theta = log p``,
``J = dL/d(one-hot)``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import ClassVar

import torch

from gradlab.core import checks as _checks
from gradlab.core.distributions import binary_to_categorical
from gradlab.core.noise import as_generator
from gradlab.estimators.sampling import (  # noqa: F401  (re-exported: the estimator modules import them from here)
    _as_index,
    _axis,
    categorical_index,
    categorical_sample,
    check_precision,
    checked_losses,
    inverse_cdf_index,
    logistic_from_uniform,
    one_hot,
    scatter_one_hot,
    select,
    straight_through,
)

Loss = Callable[[torch.Tensor], torch.Tensor]

__all__ = ["Estimator", "straight_through", "select", "one_hot", "Loss"]


TARGET_MODEL = "objective under softmax(logits)"


@dataclasses.dataclass(frozen=True)
class Estimator:
    """Base class: an estimator of ``d/d eta E_{x ~ p(eta)}[L(e_x)]``.

    Subclasses set ``name`` (registry key), ``summary`` (one line for ``gradlab list``) and ``pathwise``,
    declare hyper-parameters as dataclass fields with defaults, validate them in ``__post_init__`` and
    implement :meth:`surrogate` (and :meth:`plugin_sample` when pathwise).
    """

    name: ClassVar[str] = "estimator"
    summary: ClassVar[str] = ""
    pathwise: ClassVar[bool] = True
    relaxed_forward: ClassVar[bool] = False  # True when the forward value is not a one-hot sample (gs)
    unbiased: ClassVar[bool] = False  # unbiased for every loss (tests/estimators/test_unbiased.py holds it to it)

    # ----------------------------------------------------------------- metadata
    def hparams(self) -> dict[str, object]:
        """Hyper-parameters by name, in declaration order."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    # hyper-parameters left out of the label at their default (added after labels were in use, so that the
    # labels of existing settings do not change)
    quiet_defaults: ClassVar[tuple[str, ...]] = ()

    @property
    def label(self) -> str:
        """A readable unique label, e.g. ``gs_st(t=0.5)``; bare name when there are no hyper-parameters."""
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        hp = {k: v for k, v in self.hparams().items() if not (k in self.quiet_defaults and v == defaults[k])}
        if not hp:
            return self.name
        return f"{self.name}(" + ",".join(f"{k}={_fmt(v)}" for k, v in hp.items()) + ")"

    def __str__(self) -> str:
        return self.label

    # ----------------------------------------------------------------- noise
    def num_uniforms(self, event_shape: tuple[int, ...]) -> int:
        """Number of ``U(0,1)`` draws one estimate needs for logits of shape ``event_shape``.

        Default: one Gumbel per logit.
        """
        return math.prod(event_shape)

    def draw_uniforms(
        self,
        logits: torch.Tensor,
        generator: torch.Generator | int,
        sample_ndim: int = 0,
    ) -> torch.Tensor:
        """Uniforms for ``logits`` whose first ``sample_ndim`` dimensions are replicas."""
        _checks.logits_tensor(self.name, logits)
        if not 0 <= sample_ndim < logits.ndim:
            raise ValueError(
                f"{self.name}: sample_ndim must be in [0, {logits.ndim - 1}] for logits of shape "
                f"{tuple(logits.shape)}, got {sample_ndim}"
            )
        g = as_generator(generator, logits.device)
        sample_shape = tuple(logits.shape[:sample_ndim])
        n = self.num_uniforms(tuple(logits.shape[sample_ndim:]))
        return torch.rand((*sample_shape, n), generator=g, dtype=logits.dtype, device=logits.device)

    # names of the hyper-parameters that divide the logits (declared by the estimators that have them)
    temperature_fields: ClassVar[tuple[str, ...]] = ()
    # the number of categories the estimator is defined for (None: any; 2: binary variables only, ARM / DisARM)
    categories: ClassVar[int | None] = None
    # how a multi-layer model applies the estimator (a strategy of :mod:`gradlab.estimators.multilayer`: whole
    # traces scored together, REINFORCE; one draw at a time with the later draws resampled, ARM, DisARM, ...; or with
    # them relaxed, REBAR, RELAX). None: a plug-in per draw for a pathwise estimator, else not applicable.
    draw_strategy: ClassVar[object | None] = None

    @property
    def loss_evaluations(self) -> int:
        """How many configurations one estimate evaluates the loss at (memory per sample): 1 for pathwise
        estimators; REINFORCE's ``m``, ARM's and DisARM's 2."""
        return 1

    @property
    def extra_logit_copies(self) -> int:
        """Further copies of the logits the backward builds per estimate (memory per sample): GR-MC's ``m``
        conditional draws; 0 for the others."""
        return 0

    def _split(self, logits: torch.Tensor, uniforms: torch.Tensor) -> tuple[int, tuple[int, ...]]:
        """Validate shapes; return (number of replica dims, event shape)."""
        _checks.logits_tensor(self.name, logits)
        check_precision(self, logits.dtype)
        if not isinstance(uniforms, torch.Tensor):
            raise TypeError(f"{self.name}: uniforms must be a torch.Tensor, got {type(uniforms).__name__}")
        sample_ndim = uniforms.ndim - 1
        if sample_ndim < 0 or sample_ndim >= logits.ndim:
            raise ValueError(
                f"{self.name}: uniforms must have shape (*sample, n) with fewer leading dims than logits "
                f"{tuple(logits.shape)}; got shape {tuple(uniforms.shape)}"
            )
        event = tuple(logits.shape[sample_ndim:])
        if self.categories is not None and event[-1] != self.categories:
            raise ValueError(
                f"{self.name}: defined for variables of {self.categories} categories (binary: logits (0, a)); got "
                f"logits with {event[-1]} categories on the last axis"
            )
        self._check_uniform_count(uniforms, logits.shape[:sample_ndim], event, f"logits of shape {tuple(logits.shape)}")
        return sample_ndim, event

    def _check_uniform_count(self, uniforms: torch.Tensor, lead, event: tuple[int, ...], what: str) -> None:
        want = (*lead, self.num_uniforms(event))
        if tuple(uniforms.shape) != want:
            raise ValueError(f"{self.name}: uniforms must have shape {want} for {what}, got {tuple(uniforms.shape)}")

    # ----------------------------------------------------------------- estimator
    def forward_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits of the distribution the forward samples follow (the target of the estimate).

        ``logits`` for every estimator except ``decoupled_st`` (``logits / tau_f``).
        """
        return logits

    @property
    def forward_distribution(self) -> str:
        """In words, the distribution the forward samples follow: ``softmax(logits)``, or what
        :meth:`forward_logits` makes of it (``softmax(logits / 0.1)`` for ``decoupled_st(tau_f=0.1)``)."""
        return "softmax(logits)"

    @property
    def target(self) -> str:
        """What the estimate estimates (recorded per result cell): the objective under the model's own
        distribution, unless :meth:`forward_logits` changes it (``decoupled_st`` with ``tau_f != 1``)."""
        if self.forward_distribution == "softmax(logits)":
            return TARGET_MODEL
        return f"objective under {self.forward_distribution} (the forward distribution)"

    @property
    def targets_model_objective(self) -> bool:
        """True when :attr:`target` is the model's objective (estimators that can be compared directly)."""
        return self.target == TARGET_MODEL

    def surrogate(self, logits: torch.Tensor, loss: Loss, uniforms: torch.Tensor) -> torch.Tensor:
        """Value: the loss at the forward sample; gradient: the estimate.

        ``loss`` maps a one-hot (or relaxed) tensor of shape ``(*lead, *S, K)`` to per-element losses of
        shape ``(*lead, *S')`` with ``S'`` a prefix of ``S`` (element ``s`` may depend only on the
        variables under ``s``); the objective is their sum. Returns shape ``(*sample, *S')``.
        """
        raise NotImplementedError

    def estimate(self, logits: torch.Tensor, loss: Loss, *, generator: torch.Generator | int) -> torch.Tensor:
        """:meth:`surrogate` with fresh noise from ``generator`` (no replica dimensions)."""
        _checks.logits_tensor(self.name, logits)
        with _checks.values_checked():
            return self.surrogate(logits, loss, self.draw_uniforms(logits, generator))

    def plugin_sample(self, logits: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
        """One-hot forward sample whose gradient is the estimator (pathwise estimators only)."""
        raise TypeError(
            f"{self.name} is a score-function estimator, not a drop-in layer: it needs the loss at several "
            f"samples. Use est.estimate(logits, loss, generator=g) or gradlab.sample_gradients(problem, est, ...)."
        )

    def sample(self, logits: torch.Tensor, *, generator: torch.Generator | int, dim: int = -1) -> torch.Tensor:
        """Drop-in layer: ``logits -> one-hot`` with this estimator in the backward; the categories are on axis
        ``dim`` (default the last, as ``torch.nn.functional.gumbel_softmax``)."""
        _checks.logits_tensor(self.name, logits)
        moved = logits.movedim(_axis(self.name, dim, logits.ndim), -1)
        with _checks.values_checked():
            return self.plugin_sample(moved, self.draw_uniforms(moved, generator)).movedim(-1, dim)

    def backward_at(
        self, logits: torch.Tensor, x: torch.Tensor, *, generator: torch.Generator | int | None = None, dim: int = -1
    ) -> torch.Tensor:
        """The estimator at a given sample: a tensor equal to the one-hot ``x`` whose gradient in ``logits`` is
        this estimator's backward given that the forward drew ``x`` (as the ZGR author's
        ``ZGR_Function(logits, x)`` and gumbel-rao's ``I=``). ``x``: one-hot (the shape of ``logits``) or category
        indices (without the category axis). Estimators whose backward uses noise draw it given ``x`` from
        ``generator``; the others need none. For analyses conditional on the sample."""
        _checks.logits_tensor(self.name, logits)
        axis = _axis(self.name, dim, logits.ndim)
        moved = logits.movedim(axis, -1)
        index = _as_index(self.name, x, moved, axis)
        return self._backward_at(moved, index, generator).movedim(-1, axis)

    def _backward_at(self, logits: torch.Tensor, index: torch.Tensor, generator) -> torch.Tensor:
        raise TypeError(f"{self.name} is a score-function estimator: it has no backward at one sample")

    def plugin_sample_binary(self, logit: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
        """Binary unit: Bernoulli logit ``a`` (shape ``(*sample, *S)``) -> its value ``x in {0, 1}`` (the relaxed
        value for relaxed estimators) with this estimator in the backward.

        The contract: component 1 of :meth:`plugin_sample` on the categorical logits ``(0, a)``, with the same uniforms
        (``num_uniforms((*S, 2))`` per replica), hence the same sample and the same gradient (to rounding). The
        ZGR paper treats a binary variable as this 2-way categorical one (Sec. 3.1). This default evaluates
        exactly that; estimators override it with a closed form on ``a`` alone (half the elements and no
        reduction over a 2-wide axis), which ``check_binary`` in ``tests/contract.py`` checks against this default.
        """
        return self.plugin_sample(binary_to_categorical(logit), uniforms)[..., 1]

    def _split_binary(self, logit: torch.Tensor, uniforms: torch.Tensor) -> tuple[int, tuple[int, ...]]:
        """:meth:`_split` for a Bernoulli logit without building the ``(0, a)`` tensor."""
        if not isinstance(logit, torch.Tensor) or not logit.is_floating_point():
            got = f"dtype {logit.dtype}" if isinstance(logit, torch.Tensor) else type(logit).__name__
            raise TypeError(f"{self.name}: logit must be a floating-point tensor, got {got}")
        if not isinstance(uniforms, torch.Tensor) or not 0 <= uniforms.ndim - 1 <= logit.ndim:
            got = tuple(uniforms.shape) if isinstance(uniforms, torch.Tensor) else type(uniforms).__name__
            raise ValueError(
                f"{self.name}: uniforms must have shape (*sample, n) for a logit of shape {tuple(logit.shape)}, "
                f"got {got}"
            )
        check_precision(self, logit.dtype)
        sample_ndim = uniforms.ndim - 1
        event = (*logit.shape[sample_ndim:], 2)
        self._check_uniform_count(uniforms, logit.shape[:sample_ndim], event, f"a logit of shape {tuple(logit.shape)}")
        return sample_ndim, event


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)
