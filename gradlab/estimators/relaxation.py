"""The relaxed counterpart of a pathwise estimator (:class:`Relaxation`): the same noise, the loss evaluated at the
relaxed point its backward goes through (``relaxed_sample``), so its gradient is the relaxed gradient the
gradient gap compares the estimator's own with (:func:`gradlab.analysis.gradient_gap`). Not registered: it is
built from an estimator, ``Relaxation(est)``."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from gradlab.estimators.pathwise import PathwiseEstimator

__all__ = ["Relaxation"]


@dataclasses.dataclass(frozen=True)
class Relaxation(PathwiseEstimator):
    """The relaxed counterpart of a pathwise estimator: forward value and gradient of its relaxed sample."""

    base: PathwiseEstimator = None  # type: ignore[assignment]

    name: ClassVar[str] = "relaxation"
    relaxed_forward: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if not isinstance(self.base, PathwiseEstimator):
            raise TypeError(f"Relaxation: base must be a pathwise estimator, got {self.base!r}")

    @property
    def label(self) -> str:
        return f"relaxation[{self.base.label}]"

    def num_uniforms(self, event_shape):
        return self.base.num_uniforms(event_shape)

    def forward_logits(self, logits):
        return self.base.forward_logits(logits)

    def plugin_sample(self, logits, uniforms):
        return self.base.relaxed_sample(logits, uniforms)
