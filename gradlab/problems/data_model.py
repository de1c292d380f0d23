"""Models trained on a data set: a :class:`~gradlab.problems.stochastic_model.StochasticModel` whose losses are per
example of a minibatch, which can move to another minibatch and be trained (``gradlab.training.train``).

A :class:`DataModel` holds the splits of its data set (``splits``: ``{"train": (x, y), "valid": ...}``, each a
tuple of tensors whose first axis is the example) and one current minibatch (``batch``), on which it is a
problem like any other (exact gradients, the sampler, bias and variance). Its declared capability
``trainable`` tells the training loop what it may ask for:

* :meth:`with_batch` — the same model (the same parameter values) on another minibatch; the structure of the
  draws is traced once per minibatch size and shared between copies;
* :meth:`with_params` — the same model at other parameter values (a snapshot along a training run);
* :meth:`sample_surrogate` — one sample of an estimator's surrogate (the sampler's own per-sample code);
* :meth:`discrete_losses` — per-example losses at discrete samples (for logging a relaxed-forward estimator's
  training loss at its hard sample, and for evaluation);
* :meth:`evaluate` — metrics over a split with one discrete sample per example (``loss``, plus what a model adds
  through :meth:`batch_metrics`, such as a classifier's ``accuracy``), drawn from the distribution the estimator
  samples in training (``estimator.forward_logits``: ``softmax(logits / tau_f)`` under decoupled ST) when one is
  given, so that a model is validated as it was trained; :meth:`evaluation` says in words which distribution that
  is (the training loop records it in the history).

Subclasses write their ``forward`` for ``self.batch`` and may override :meth:`batch_metrics`. By default the
examples are independent (``elements_independent``: example ``e``'s loss depends only on example ``e``'s draws,
so REINFORCE scores each example with its own draws' log-probability); a model whose draws are shared between
examples (stochastic weights) passes ``elements_independent=False``.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import types
from collections.abc import Mapping
from typing import TypedDict

import torch

from gradlab.core import checks as _checks
from gradlab.core.noise import to_device
from gradlab.core.softmax import softmax
from gradlab.estimators.base import Estimator, inverse_cdf_index, one_hot, scatter_one_hot
from gradlab.problems.stochastic_model import StochasticModel
from gradlab.problems.tracing import _Drawer

__all__ = ["DataModel", "DataSpec", "DataKeywords", "cross_entropy", "classifier_metrics"]


class DataKeywords(TypedDict, total=False):
    """The keywords every :class:`DataModel` constructor takes beside its own settings (``**spec``)."""

    batch_size: int
    batch_seed: int
    init_seed: int
    params: Mapping[str, torch.Tensor] | None
    dtype: torch.dtype
    device: str | torch.device


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """What every data model is built from beside its own settings, stated once: the data (a
    :class:`~gradlab.problems.data.Dataset`, default the embedded digits, or user tensors), the fixed minibatch it
    is a problem on (``batch_size`` examples drawn with ``batch_seed``), the initialisation's seed or the
    parameter values, the number type and the device. A model's constructor takes ``data`` and its own settings
    and passes the rest (``**spec``, :class:`DataKeywords`) to :meth:`of`; :meth:`binary` and :meth:`grey` give
    the minibatch, the splits and the data's configuration (recorded in the model's ``config``)."""

    data: object = None
    batch_size: int = 20
    batch_seed: int = 0
    init_seed: int = 0
    params: Mapping[str, torch.Tensor] | None = None
    dtype: torch.dtype = torch.float64
    device: str | torch.device = "cpu"

    @classmethod
    def of(cls, owner: str, data: object, keywords: Mapping[str, object]) -> DataSpec:
        """The specification of ``owner``'s constructor call; an unknown keyword is a one-line ``TypeError``."""
        known = tuple(f.name for f in dataclasses.fields(cls) if f.name != "data")
        for key in keywords:
            if key not in known:
                raise TypeError(
                    f"{owner}: got an unexpected keyword argument {key!r} (the data keywords: {', '.join(known)})"
                )
        return cls(data, **keywords)

    def _dataset(self):
        if self.data is not None:
            return self.data
        from gradlab.problems.data import digits

        return digits()

    def binary(self, labels: bool) -> tuple[tuple[torch.Tensor, ...], dict, dict]:
        """``(fixed minibatch, splits, data config)`` of binarised images (with labels for a classifier): a
        Dataset's binarised train and valid splits, or user tensors (an ``(images, labels)`` tuple or an images
        tensor), which are both the minibatch and the only split."""
        data, dtype, device = self._dataset(), self.dtype, self.device

        def put(ts):
            return tuple(t.to(device=device, dtype=dtype if t.is_floating_point() else torch.int64) for t in ts)

        if hasattr(data, "fixed_batch"):
            cfg = {"dataset": data.config(), "batch_size": self.batch_size, "batch_seed": self.batch_seed}
            if labels:
                batch = data.fixed_labelled_batch(self.batch_size, self.batch_seed)
            else:
                batch = (data.fixed_batch(self.batch_size, self.batch_seed),)
            # dynamic binarisation: the splits are binarised once here, with a generator seeded from the data seed
            # (evaluation, the sampler); gl.train draws fresh training images at every step (training_rows)
            g = torch.Generator().manual_seed(data.seed + 104729)
            splits = {}
            for split in ("train", "valid"):
                ys = data.labels_train if split == "train" else data.labels_valid
                xs = data.binary(split, generator=g)
                splits[split] = put((xs, ys) if labels else (xs,))
            return put(batch), splits, cfg
        batch = tuple(data) if labels else (data,)
        return put(batch), {"train": put(batch)}, {"dataset": "user tensors"}

    def dynamic_grey(self) -> torch.Tensor | None:
        """The training split's grey levels when the data set binarises dynamically (``DataModel``'s
        ``grey_train``: each training step draws its images from them), else ``None``."""
        data = self._dataset()
        if getattr(data, "binarize", None) != "dynamic":
            return None
        return data.grey("train").to(dtype=self.dtype, device=self.device)

    def grey(self, owner: str) -> tuple[tuple[torch.Tensor, torch.Tensor], dict, dict, tuple[int, int]]:
        """``(fixed minibatch, splits, data config, image shape)`` of grey images in [0, 1] with labels (user
        tensors: an ``(images, labels)`` tuple of square images)."""
        data, dtype, device = self._dataset(), self.dtype, self.device

        def put(x, y):
            return x.to(dtype=dtype, device=device), y.to(dtype=torch.int64, device=device)

        if hasattr(data, "grey"):
            if data.labels_train is None:
                raise ValueError(f"{owner}: the data set {data.name!r} has no labels")
            x, y = data.grey("train"), data.labels_train
            _checks.integer(owner, "batch_size", self.batch_size, 1)
            if self.batch_size > x.shape[0]:
                raise ValueError(f"{owner}: batch_size must be <= {x.shape[0]}, got {self.batch_size}")
            g = torch.Generator().manual_seed(self.batch_seed)
            idx = torch.randperm(x.shape[0], generator=g)[: self.batch_size]
            splits = {"train": put(x, y), "valid": put(data.grey("valid"), data.labels_valid)}
            cfg = {"dataset": data.config(), "batch_size": self.batch_size, "batch_seed": self.batch_seed}
            return put(x[idx], y[idx]), splits, cfg, tuple(data.image_shape)
        x, y = data
        side = math.isqrt(x.shape[1])
        return put(x, y), {"train": put(x, y)}, {"dataset": "user tensors"}, (side, x.shape[1] // max(side, 1))


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``-log softmax(logits)[label]`` per example (logits ``(..., C)``, labels ``(...)``)."""
    return torch.logsumexp(logits, -1) - logits.gather(-1, labels.unsqueeze(-1)).squeeze(-1)


def classifier_metrics(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """The cross-entropy and the accuracy (the most probable class is the label) per example."""
    return {"loss": cross_entropy(logits, labels), "accuracy": (logits.argmax(-1) == labels).to(logits.dtype)}


class DataModel(StochasticModel):
    """A StochasticModel on a minibatch of a data set (module docstring)."""

    trainable = True

    def __init__(
        self,
        forward,
        params: Mapping[str, torch.Tensor],
        groups: Mapping[str, tuple[str, ...]] | None = None,
        *,
        batch: tuple[torch.Tensor, ...],
        splits: Mapping[str, tuple[torch.Tensor, ...]],
        dtype: torch.dtype = torch.float64,
        device="cpu",
        name: str | None = None,
        elements_independent: bool = True,
        grey_train: torch.Tensor | None = None,
        spec: DataSpec | None = None,
    ):
        if spec is not None:  # a model built from a DataSpec: its number type, device and dynamic grey levels
            dtype, device, grey_train = spec.dtype, spec.device, spec.dynamic_grey()
        self.batch = tuple(batch)
        self.splits = dict(splits)
        # the training split's grey levels where the data set binarises dynamically (see training_rows)
        self.grey_train = None if grey_train is None else grey_train.to(dtype=dtype, device=device)
        super().__init__(
            forward,
            params,
            groups,
            dtype=dtype,
            device=device,
            name=name,
            elements_independent=elements_independent,
        )
        self._traces = {self.batch_size: (self.draws, self.loss_shape)}

    @property
    def x(self) -> torch.Tensor:
        """The minibatch's inputs (``batch[0]``)."""
        return self.batch[0]

    @property
    def y(self) -> torch.Tensor:
        """The minibatch's labels (``batch[1]``), for classifiers."""
        return self.batch[1]

    @property
    def batch_size(self) -> int:
        return int(self.batch[0].shape[0])

    def split(self, name: str) -> tuple[torch.Tensor, ...]:
        """The tensors of split ``name`` (on the model's device)."""
        if name not in self.splits:
            raise ValueError(f"{self.name}: split must be one of {sorted(self.splits)}, got {name!r}")
        return self.splits[name]

    def training_rows(self, idx: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        """Rows ``idx`` of the training split as ``gl.train`` steps on them. With dynamic binarisation (a data set
        with ``binarize="dynamic"``, Omniglot-28-D's rule) the images are a fresh Bernoulli draw of their grey
        levels at every step, from ``generator`` (the loop's data generator, on the CPU); otherwise the split's
        rows, and ``generator`` is not drawn from."""
        rows = tuple(t[idx] for t in self.split("train"))
        if self.grey_train is None:
            return rows
        grey = self.grey_train[idx]
        fresh = torch.rand(grey.shape, generator=generator, dtype=grey.dtype, device=generator.device)
        return ((to_device(fresh, grey.device) < grey).to(grey.dtype), *rows[1:])

    # ------------------------------------------------------------------ copies
    def with_batch(self, batch: tuple[torch.Tensor, ...]) -> DataModel:
        """This model (the same parameter values) on the minibatch ``batch`` (a tuple shaped like ``self.batch``
        except for the number of examples)."""
        batch = tuple(batch)
        if len(batch) != len(self.batch) or any(
            tuple(b.shape[1:]) != tuple(a.shape[1:]) for a, b in zip(self.batch, batch, strict=False)
        ):
            want = [("n", *a.shape[1:]) for a in self.batch]
            got = [tuple(b.shape) for b in batch]
            raise ValueError(f"{self.name}: with_batch expects tensors shaped {want}, got {got}")
        new = self._copy()
        new.batch = tuple(b.to(device=self.device) for b in batch)
        size = new.batch_size
        if size not in self._traces:
            self._traces[size] = new._trace()
        new.draws, new.loss_shape = self._traces[size]
        return new

    def with_params(self, params: Mapping[str, torch.Tensor]) -> DataModel:
        """This model on its minibatch at the parameter values ``params`` (every parameter, the same shapes)."""
        missing = set(self._values) - set(params)
        if missing:
            raise ValueError(f"{self.name}: with_params is missing {sorted(missing)}")
        values = {}
        for k, v in self._values.items():
            t = params[k]
            if not isinstance(t, torch.Tensor) or tuple(t.shape) != tuple(v.shape):
                got = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
                raise ValueError(f"{self.name}: params[{k!r}] must have shape {tuple(v.shape)}, got {got}")
            values[k] = t.detach().to(dtype=self.dtype, device=self.device).clone()
        new = self._copy()
        new._values = values
        return new

    def _copy(self) -> DataModel:
        new = copy.copy(self)
        fn = self.forward_fn
        if getattr(fn, "__self__", None) is self:  # a method of this model: it must read the copy's batch
            new.forward_fn = types.MethodType(fn.__func__, new)
        return new

    # ------------------------------------------------------------------ one sample
    def sample_surrogate(self, estimator: Estimator, params, uniforms: torch.Tensor) -> torch.Tensor:
        """One sample of ``estimator``'s surrogate on this minibatch at ``params`` (tensors that may require
        gradients): the sum over examples; its gradient is the estimate and its value the loss at the discrete
        sample (the mean over REINFORCE's ``m`` traces; a relaxed-forward estimator's is at its relaxed sample).
        ``uniforms``: ``uniforms_per_sample(estimator)`` numbers."""
        want = self.uniforms_per_sample(estimator)
        if tuple(uniforms.shape) != (want,):
            raise ValueError(f"{self.name}: uniforms must have shape ({want},), got {tuple(uniforms.shape)}")
        parts = torch.split(uniforms, self.uniforms_per_draw(estimator))
        return self.strategy(estimator).surrogate(self, estimator, params, parts)

    def step_uniforms(self, estimator: Estimator) -> int:
        """How many uniforms one training step on this minibatch takes (:meth:`step_surrogate`)."""
        return self.uniforms_per_sample(estimator)

    def step_surrogate(self, estimator: Estimator, params, uniforms: torch.Tensor) -> torch.Tensor:
        """The surrogate ``gl.train`` steps on: one sample of the estimator's surrogate of the minibatch's mean
        loss per example (by default :meth:`sample_surrogate` divided by the number of examples; a model may form
        the mean otherwise, as :class:`~gradlab.problems.vae_data.VAEDataModel` with ``step="layer"`` does)."""
        return self.sample_surrogate(estimator, params, uniforms) / self.examples

    def hard_losses(self, estimator: Estimator, params, uniforms: torch.Tensor) -> torch.Tensor:
        """Per-example losses at the discrete samples of a pathwise estimator's noise: the argmax of its relaxed
        sample (for ``gs``, whose forward is relaxed: its training loss is logged there, as the ZGR paper does)."""
        parts = torch.split(uniforms, self.uniforms_per_draw(estimator))

        def sample(i, logits):
            return one_hot(estimator.plugin_sample(logits, parts[i]).argmax(-1), logits.shape[-1], logits.dtype)

        def sample_binary(i, logit):
            return (estimator.plugin_sample_binary(logit, parts[i]) > 0.5).to(logit.dtype)

        with torch.no_grad():
            return self.run_forward(params, sample, estimator, sample_binary)

    def discrete_losses(self, params, generator: torch.Generator, estimator: Estimator | None = None) -> torch.Tensor:
        """Per-example losses with one discrete sample of every draw (inversion with uniforms from
        ``generator``; no gradient), from ``estimator``'s forward distribution when given."""
        return self.batch_metrics(params, self._discrete_drawer(generator, estimator))["loss"]

    def _discrete_drawer(self, generator: torch.Generator, estimator: Estimator | None = None) -> _Drawer:
        """Draws by inversion of ``softmax(target(logits))``: the model's distribution, or ``estimator``'s forward
        distribution (``forward_logits``; also what ``draw.forward_logits`` returns, for an analytic KL)."""
        target = None if estimator is None else estimator.forward_logits

        def sample(i, logits):
            shape = (*logits.shape[:-1], 1)  # drawn where the generator is (training's live on the CPU), then moved
            u = torch.rand(shape, generator=generator, dtype=logits.dtype, device=generator.device).to(logits.device)
            law = logits if target is None else target(logits)
            return scatter_one_hot(inverse_cdf_index(softmax(law, -1), u), logits)

        return _Drawer(self, sample, target)

    # ------------------------------------------------------------------ evaluation
    def batch_metrics(self, params, draw) -> dict[str, torch.Tensor]:
        """Per-example metrics of one ``forward`` with ``draw``: ``{"loss": ...}``; models add their own (a
        classifier's ``accuracy``). Called without gradients by :meth:`evaluate`."""
        return {"loss": self.forward_fn(params, draw)}

    def evaluate(
        self,
        params,
        split: str = "valid",
        generator: torch.Generator | None = None,
        batch_size: int = 500,
        estimator: Estimator | None = None,
    ) -> dict[str, float]:
        """Mean per-example metrics over ``split`` with one discrete sample per example (noise from
        ``generator``, default seed 0): ``{"loss": ..., ...}``. With ``estimator``, every draw comes from the
        distribution that estimator samples in training, ``softmax(estimator.forward_logits(logits))`` (decoupled
        ST's ``softmax(logits / tau_f)``): the network it trained is the one evaluated. Without, from
        ``softmax(logits)``. :meth:`evaluation` names the distribution in words."""
        if estimator is not None and not isinstance(estimator, Estimator):
            got = type(estimator).__name__
            raise TypeError(f"{self.name}: evaluate: estimator must be a gradlab Estimator or None, got {got}")
        data = self.split(split)
        g = generator if generator is not None else torch.Generator().manual_seed(0)  # on the CPU: device-independent
        totals: dict[str, float] = {}
        n = int(data[0].shape[0])
        with torch.no_grad():
            for i in range(0, n, batch_size):
                part = self.with_batch(tuple(t[i : i + batch_size] for t in data))
                for key, value in part.batch_metrics(params, part._discrete_drawer(g, estimator)).items():
                    totals[key] = totals.get(key, 0.0) + float(value.sum())
        return {k: v / n for k, v in totals.items()}

    def evaluation(self, estimator: Estimator | None = None) -> str:
        """In words, the distribution :meth:`evaluate` draws from with ``estimator`` (recorded in histories)."""
        if estimator is None or estimator.targets_model_objective:
            return "one sample per example from softmax(logits)"
        return (
            f"one sample per example from {estimator.forward_distribution} ({estimator.label}'s forward distribution)"
        )

    def summary_metrics(self, params) -> dict[str, float]:
        """Metrics of the parameters themselves, logged with every epoch (a logic-gate network's gate perplexity,
        an autoencoder's code perplexity); none by default."""
        return {}

    @property
    def examples(self) -> int:
        """Loss elements per minibatch (the examples)."""
        return math.prod(self.loss_shape)
