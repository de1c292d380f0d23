"""ZGR Fig. 5: the time of one forward-backward pass per batch. Left: the categorical VAE (C16 V16, 200 images):
ZGR faster than GR-MC and RF(2). Right: the quantized network (2 bits per weight and activation, batch 128), where
"the gain in speed is more substantial than in VAE".

Every estimator is timed in turn, repeatedly (interleaved, so that a slow spell of the machine hits all of them),
and each keeps its best round. The paper times a GPU (Tesla P100, CUDA graphs); this is the CPU that runs the check,
float32: what is compared is the ordering and the ratios, not the milliseconds.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable

import torch

from gradlab.theory.core import ZGR, CheckResult, check_group

__all__ = ["check_timing", "speed_gain_verdict"]


def _best_times(steps: dict[str, Callable[[], object]], reps: int, calls: dict[str, int]) -> dict[str, float]:
    for step in steps.values():
        step()  # warm-up
    best = {k: math.inf for k in steps}
    for _ in range(reps):
        for k, step in steps.items():
            t0 = time.perf_counter()
            for _ in range(calls[k]):
                step()
            best[k] = min(best[k], (time.perf_counter() - t0) / calls[k])
    return best


def _vae_steps(ests) -> dict[str, Callable]:
    from gradlab.problems.build import build_problem

    prob = build_problem({"kind": "vae", "num_vars": 16, "num_classes": 16, "batch_size": 200, "dtype": "float32"})
    params = {k: v.clone().requires_grad_() for k, v in prob.params("all").items()}
    g = torch.Generator().manual_seed(0)
    logits = prob.latent_logits(prob.full_params(params)).detach()

    def step(est, u):
        full = prob.full_params(params)
        lg = prob.latent_logits(full)
        out = est.surrogate(lg, lambda x: prob.loss(x, full, lg), u)
        return torch.autograd.grad(out.sum(), list(params.values()))

    noise = {e.label: e.draw_uniforms(logits, g) for e in ests}
    return {e.label: functools.partial(step, e, noise[e.label]) for e in ests}


def _quantized_steps(ests) -> dict[str, Callable]:
    """The paper's network of Table 3 (32C5-MP2-64C5-MP2-512FC-10FC) on the embedded digits, 2 bits per inner
    weight and activation, one minibatch of 128 images: the gradient of every parameter through the model's own
    surrogate (the estimator a plug-in on every tensor of units)."""
    from gradlab.problems import QuantizedNetwork

    net = QuantizedNetwork(
        conv=(32, 64), hidden=(512,), weights="2bit", activations="2bit", batch_size=128, dtype=torch.float32
    )
    params = {k: v.clone().requires_grad_() for k, v in net.param_values().items()}
    g = torch.Generator().manual_seed(0)

    def step(est, u):
        out = net.sample_surrogate(est, params, u)
        return torch.autograd.grad(out, list(params.values()), allow_unused=True)

    noise = {e.label: torch.rand(net.uniforms_per_sample(e), generator=g, dtype=torch.float32) for e in ests}
    return {e.label: functools.partial(step, e, noise[e.label]) for e in ests}


def speed_gain_verdict(vae: dict[str, float], quantized: dict[str, float], slow: str, fast: str) -> tuple[bool, str]:
    """Whether ``fast``'s speed-up over ``slow`` is larger on the quantized network than on the VAE, and the text."""
    on_vae, on_quantized = vae[slow] / vae[fast], quantized[slow] / quantized[fast]
    text = f"{slow} / {fast} time: VAE {on_vae:.2f}x, quantized network {on_quantized:.2f}x"
    return on_quantized > on_vae, text


@check_group("timing")
def check_timing(quick: bool) -> list[CheckResult]:
    from gradlab.estimators import estimator

    zgr, gr10, rf2 = estimator("zgr"), estimator("gr_mc", t=0.5, m=10), estimator("reinforce", m=2)
    gr100 = estimator("gr_mc", t=0.5, m=100)
    reps, calls = (3, 3) if quick else (5, 6)
    vae = _best_times(
        _vae_steps([zgr, gr100, gr10, rf2]),
        reps,
        {zgr.label: calls, gr100.label: max(2, calls // 3), gr10.label: calls, rf2.label: calls},
    )
    quantized = _best_times(_quantized_steps([zgr, gr10]), reps, {zgr.label: calls, gr10.label: calls})
    z = vae[zgr.label]
    threads = torch.get_num_threads()
    ok_left = all(z < v for k, v in vae.items() if k in (gr100.label, gr10.label, rf2.label))
    ok_right, gain = speed_gain_verdict(vae, quantized, gr10.label, zgr.label)
    return [
        CheckResult(
            "fig5.zgr-faster",
            "ZGR is faster than both GR-MC and RF(2) (forward-backward time per batch, VAE C16 V16)",
            f"{ZGR}, Sec. 4.2 item 4), Fig. 5 (left)",
            f"one forward-backward pass of 200 images (gradient of every parameter), best of {reps} interleaved "
            f"rounds of {calls} passes (GR-MC(100) {max(2, calls // 3)}), {threads} CPU threads, float32",
            ", ".join(f"{k}: {v * 1e3:.2f} ms" for k, v in vae.items())
            + f"; ZGR is {vae[gr100.label] / z:.1f}x faster than GR-MC(100), {vae[gr10.label] / z:.1f}x than "
            f"GR-MC(10), {vae[rf2.label] / z:.2f}x than RF(2)",
            "ZGR fastest of them",
            "confirmed" if ok_left else "refuted",
            details="The paper times a GPU (Tesla P100, CUDA graphs, batch 200); this is the CPU here, float32, "
            "untrained. The claim compared is the ordering, not the milliseconds.",
            setting="CategoricalVAE(16 x 16, bits, embedded digits, 200 images), untrained, float32",
        ),
        CheckResult(
            "fig5.quantized-speed-gain",
            "ZGR's speed-up over GR-MC is larger on the quantized network than on the VAE",
            f"{ZGR}, Sec. 4.3, Fig. 5 (right)",
            f"one forward-backward pass, best of {reps} interleaved rounds of {calls}: the VAE as in fig5.zgr-faster; "
            "the quantized network of Table 3 (32C5-MP2-64C5-MP2-512FC-10FC, 2-bit weights and activations, "
            f"triangular noise) on 128 embedded digits; {threads} CPU threads, float32",
            gain + "; quantized: " + ", ".join(f"{k}: {v * 1e3:.1f} ms" for k, v in quantized.items()),
            "the ratio larger on the quantized network",
            "confirmed" if ok_right else "refuted",
            details="GR-MC(t=0.5, m=10) on both (Table 3's GR-MC); on the 8x8 digits the convolutions keep the "
            "image size, so the network has the paper's layers on fewer pixels.",
            setting="QuantizedNetwork(conv=(32, 64), hidden=(512,), 2bit/2bit, 128 digits) and CategoricalVAE(16 x 16)",
        ),
    ]
