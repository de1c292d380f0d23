"""The trained categorical VAE snapshots the VAE checks measure on (Shah et al. Sec. 5.2, ZGR Figs. 1, B.2, 4,
the footnote), and the description every such result carries: epochs, posterior entropy, KL."""

from __future__ import annotations

import functools
import math

import torch


@functools.lru_cache(maxsize=8)
def rf4_snapshot(epochs: int, images: int, num_vars: int = 4, num_classes: int = 8, embedding: str = "bits"):
    """A categorical VAE trained with RF(4) for ``epochs`` on the embedded digits (seed 0), as a float64 problem
    on ``images`` fixed images; returns ``(problem, description)``. Trained in float64: in float32 the rounding of
    the CPU's kernels (AVX2 or AVX-512, one BLAS or another) flips some of RF(4)'s sampled categories and the
    trained snapshot, and with it the verdict of a trend claim on a 5-point grid, differed between machines; in
    float64 a flip needs a uniform within 1e-16 of a category boundary."""
    from gradlab.problems import CategoricalVAE, digits
    from gradlab.training import train_rf4

    arch = {"num_vars": num_vars, "num_classes": num_classes, "embedding": embedding}
    ds = digits()
    res = train_rf4(epochs, data=ds, seed=0, dtype=torch.float64, **arch)
    prob = CategoricalVAE.on_dataset(ds, images, 0, params=res.params, dtype=torch.float64, **arch)
    log_q = torch.log_softmax(prob.latent_logits(prob.param_values()), -1)
    entropy = float(-(log_q.exp() * log_q).sum(-1).mean()) / math.log(num_classes)
    kl = float((log_q.exp() * (log_q + math.log(num_classes))).sum((-2, -1)).mean())
    plural = "s" if epochs != 1 else ""
    return prob, (
        f"snapshot after {epochs} epoch{plural} of RF(4); posterior entropy {100 * entropy:.1f} % of the uniform one; "
        f"KL to the uniform prior {kl:.2f} nats per image"
    )
