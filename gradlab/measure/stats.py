"""Streaming statistics of gradient samples: count, mean and per-dimension variance in float64.

Chunks of samples are reduced where they are computed (one ``var_mean`` pass in the compute dtype) and
merged into float64 accumulators with Chan et al.'s pairwise update, so no sample is stored unless asked:

    n = n_a + n_b,   delta = mean_b - mean_a,
    mean = mean_a + delta n_b / n,   M2 = M2_a + M2_b + delta^2 n_a n_b / n.

Optional extras, both bounded in memory:

* ``keep``: the first ``keep`` raw samples (for the user's own analyses, or an exact bootstrap);
* ``bootstrap``: ``B`` Poisson(1) bootstrap replicates accumulated on the fly (the streaming bootstrap of
  Hanley & MacGibbon 2006; Chamandy et al. 2012): per replicate, the weighted sum of the centred samples
  (``B x d``), of their squared norms and of the weights. That is all the average variance and the squared
  bias need, so confidence intervals come without storing samples. These replicate sums are kept in the
  compute dtype on the compute device (a ``B x d`` float64 update per chunk would cost more than the
  gradients of a small model) and converted to float64 at the end: they only set interval bounds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch

from gradlab.problems.base import ParamLayout

__all__ = ["GradientStats", "StatsAccumulator"]

F64 = torch.float64


@dataclasses.dataclass
class GradientStats:
    """Statistics of ``n`` independent gradient samples of dimension ``d``.

    ``mean`` and ``m2`` (sum of squared deviations) are float64 ``(d,)`` tensors on the CPU. ``samples`` holds
    kept raw samples ``(k, d)``; ``boot_*`` the streaming bootstrap replicates (``center`` is subtracted from
    every sample before they are summed).
    """

    n: int
    mean: torch.Tensor
    m2: torch.Tensor
    layout: ParamLayout | None = None
    meta: dict = dataclasses.field(default_factory=dict)
    samples: torch.Tensor | None = None
    center: torch.Tensor | None = None
    boot_sum: torch.Tensor | None = None  # (B, d): sum_i w_bi (g_i - center)
    boot_sq: torch.Tensor | None = None  # (B,): sum_i w_bi ||g_i - center||^2
    boot_w: torch.Tensor | None = None  # (B,): sum_i w_bi

    @property
    def dim(self) -> int:
        return int(self.mean.numel())

    @property
    def var(self) -> torch.Tensor:
        """Per-dimension sample variance (``ddof = 1``)."""
        if self.n < 2:
            raise ValueError(f"GradientStats: the variance needs n >= 2 samples, got n = {self.n}")
        return self.m2 / (self.n - 1)

    @property
    def avg_var(self) -> float:
        """Average over dimensions of the per-dimension sample variance (ZGR Sec. 4.1.1)."""
        return float(self.var.mean())

    @property
    def std(self) -> torch.Tensor:
        return self.var.sqrt()

    @property
    def n_bootstrap(self) -> int:
        return 0 if self.boot_sum is None else int(self.boot_sum.shape[0])

    def bootstrap_means_and_avg_vars(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per replicate: the mean ``(B, d)``, the average variance ``(B,)`` and the weight ``(B,)``."""
        if self.boot_sum is None:
            raise ValueError("GradientStats: no bootstrap replicates (sample_gradients(..., bootstrap=B))")
        w = self.boot_w
        mean_c = self.boot_sum / w.unsqueeze(-1)
        ss = self.boot_sq - (self.boot_sum**2).sum(-1) / w  # sum of squared deviations over all dims
        return self.center + mean_c, ss / ((w - 1) * self.dim), w

    def merge(self, other: GradientStats) -> GradientStats:
        """Statistics of the union of two independent sets of samples (Chan et al.)."""
        if self.dim != other.dim:
            raise ValueError(f"merge: dimensions differ ({self.dim} vs {other.dim})")
        n = self.n + other.n
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.n / n)
        m2 = self.m2 + other.m2 + delta**2 * (self.n * other.n / n)
        return GradientStats(n, mean, m2, self.layout, dict(self.meta))

    def to_dict(self) -> dict[str, torch.Tensor]:
        """Tensors and counts for ``torch.save`` (``weights_only``-loadable)."""
        out = {"n": torch.tensor(self.n), "mean": self.mean, "m2": self.m2}
        for k in ("samples", "center", "boot_sum", "boot_sq", "boot_w"):
            v = getattr(self, k)
            if v is not None:
                out[k] = v
        return out

    @classmethod
    def from_dict(cls, d: dict, layout: ParamLayout | None = None, meta: dict | None = None) -> GradientStats:
        return cls(
            int(d["n"]),
            d["mean"],
            d["m2"],
            layout,
            meta or {},
            **{k: d.get(k) for k in ("samples", "center", "boot_sum", "boot_sq", "boot_w")},
        )


class StatsAccumulator:
    """Merges chunks of samples ``(R, d)`` (any dtype/device) into float64 CPU statistics."""

    def __init__(self, dim: int, keep: int = 0, bootstrap: int = 0, device="cpu"):
        self.dim = dim
        self.n = 0
        self.device = torch.device(device)
        self.mean = torch.zeros(dim, dtype=F64, device=self.device)
        self.m2 = torch.zeros(dim, dtype=F64, device=self.device)
        self.keep = keep
        self.samples: torch.Tensor | None = None
        self.kept = 0
        self.bootstrap = bootstrap
        self.center: torch.Tensor | None = None
        self._work: torch.Tensor | None = None
        self.boot_sum = self.boot_sq = self.boot_w = None  # allocated on the first chunk (its dtype/device)

    def add_block_center(self, center: torch.Tensor) -> None:
        """Fix the bootstrap centre (the mean of the first block: independent of the chunk size)."""
        if self.center is None:
            self.center = center.to(F64)

    def add(self, chunk: torch.Tensor | Sequence[torch.Tensor], weights: torch.Tensor | None = None) -> None:
        """Merge a chunk of ``R`` samples: a tensor ``(R, d)`` or its column blocks ``[(R, d_1), ...]`` in
        order (no concatenation needed). ``weights`` ``(B, R)``: the chunk's Poisson bootstrap weights."""
        blocks = [chunk] if isinstance(chunk, torch.Tensor) else list(chunk)
        r = blocks[0].shape[0]
        if r == 0:
            return
        if sum(b.shape[1] for b in blocks) != self.dim:
            raise ValueError(
                f"StatsAccumulator: chunk has {sum(b.shape[1] for b in blocks)} columns, expected {self.dim}"
            )
        n = self.n + r
        if self.bootstrap and (weights is None or self.center is None):
            raise ValueError("StatsAccumulator: bootstrap needs weights and a centre")
        sq = torch.zeros(r, dtype=blocks[0].dtype, device=blocks[0].device) if self.bootstrap else None
        start = 0
        for blk in blocks:
            width = blk.shape[1]
            cols = slice(start, start + width)
            start += width
            # two-pass centred chunk statistics in the compute dtype, into one reusable buffer
            mean_c = blk.mean(0)
            buf = self._buffer(blk)
            centred = torch.sub(blk, mean_c, out=buf)
            m2_c = torch.mul(centred, centred, out=buf).sum(0)
            mean_c, m2_c = mean_c.to(self.device, F64), m2_c.to(self.device, F64)
            delta = mean_c - self.mean[cols]
            self.mean[cols] += delta * (r / n)
            self.m2[cols] += m2_c + delta**2 * (self.n * r / n)
            if self.keep and self.kept < self.keep:
                take = min(r, self.keep - self.kept)
                if self.samples is None:
                    self.samples = torch.empty(self.keep, self.dim, dtype=blk.dtype, device=self.device)
                self.samples[self.kept : self.kept + take, cols] = blk[:take].to(self.device)
            if self.bootstrap:
                if self.boot_sum is None:
                    self.boot_sum = {}  # column block start -> contiguous (B, width) sums
                    self.boot_sq = torch.zeros(self.bootstrap, dtype=F64, device=blk.device)
                    self.boot_w = torch.zeros(self.bootstrap, dtype=F64, device=blk.device)
                part = self.boot_sum.get(cols.start)
                if part is None or part.shape[1] != width:
                    part = self.boot_sum[cols.start] = torch.zeros(
                        self.bootstrap, width, dtype=blk.dtype, device=blk.device
                    )
                centred = torch.sub(blk, self.center[cols].to(blk.device, blk.dtype), out=buf)
                w = weights.to(device=blk.device, dtype=blk.dtype)
                part.addmm_(w, centred)
                sq += torch.mul(centred, centred, out=buf).sum(-1)
        if self.keep and self.kept < self.keep:
            self.kept += min(r, self.keep - self.kept)
        if self.bootstrap:
            w = weights.to(device=sq.device, dtype=sq.dtype)
            self.boot_sq += (w @ sq).to(F64)
            self.boot_w += w.sum(-1).to(F64)
        self.n = n

    def _buffer(self, like: torch.Tensor) -> torch.Tensor:
        need = like.numel()
        buf = self._work
        if buf is None or buf.numel() < need or buf.dtype != like.dtype or buf.device != like.device:
            buf = self._work = torch.empty(max(need, 1), dtype=like.dtype, device=like.device)
        return buf[:need].view(like.shape)

    def result(self, layout: ParamLayout | None = None, meta: dict | None = None) -> GradientStats:
        stats = GradientStats(self.n, self.mean.cpu(), self.m2.cpu(), layout, meta or {})
        if self.samples is not None:
            stats.samples = self.samples[: self.kept].cpu()
        if self.bootstrap and self.boot_sum is not None:
            stats.center = self.center.cpu()
            stats.boot_sum = torch.cat([self.boot_sum[k].to("cpu", F64) for k in sorted(self.boot_sum)], dim=1)
            stats.boot_sq, stats.boot_w = self.boot_sq.cpu(), self.boot_w.cpu()
        return stats
