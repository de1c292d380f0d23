"""ZGR Fig. B.4: bias-variance diagrams of the VAE (``--model vae``, left: the study zgr-figB4-vae) and the
hierarchical VAE (``--model hvae``, right: zgr-figB4-hvae) at several stages of their training with RF(4).

On the digits (20 fixed images as the problem's minibatch) against exact gradients: the VAE's 4,096 and the HVAE's
65,536 configurations per image are enumerated for all images at once (the images are independent); on mnist5k the
latent spaces are too large, and 2 x 10^4 RF(4) samples are the reference.

Run: python analyses/zgr_figB4_trajectory.py --model vae   (--quick: epochs 0 and 3, fewer settings)
Output: histories/<scale>/zgr_figB4_<model>.nc (what `gradlab verify` reads), figures/zgr_figB4_<model>.png; the
fronts on stdout.
"""

from __future__ import annotations

import numpy as np
from _common import FIGURES, run, study, study_args, tagged


def main() -> None:
    ap = study_args(__doc__)
    ap.add_argument("--model", choices=["vae", "hvae"], default="vae", help="vae (default) or hvae")
    args = ap.parse_args()
    ds = run(study(f"zgr-figB4-{args.model}", args), args)
    if ds is None:
        return
    import matplotlib.pyplot as plt

    import gradlab as gl
    from gradlab.core import names as N
    from gradlab.viz.plots import save_figure

    epochs = [int(e) for e in ds["epoch"].values]
    fig, axes = plt.subplots(1, len(epochs), figsize=(4.5 * len(epochs), 4), squeeze=False)
    for ax, epoch in zip(axes[0], epochs, strict=True):
        sub = gl.results.one_seed(ds.sel(epoch=epoch))
        b2, var = np.clip(sub[N.BIAS2].values, 1e-12, None), sub[N.VARIANCE].values
        front = gl.analysis.pareto_mask(sub, method="upper").values
        for i, est in enumerate(sub[N.ESTIMATOR].values):
            ax.scatter(var[i], b2[i], s=30 if front[i] else 12, marker="o" if front[i] else ".")
            ax.annotate(str(est), (var[i], b2[i]), fontsize=5)
        ax.set(xscale="log", yscale="log", xlabel="variance", ylabel="squared bias", title=f"epoch {epoch}")
        print(f"epoch {epoch}: upper-bound front: {', '.join(map(str, sub[N.ESTIMATOR].values[front]))}")
        zgr = sub.sel({N.ESTIMATOR: "zgr"})
        print(f"  zgr: bias2 {float(zgr[N.BIAS2]):.3e}, variance {float(zgr[N.VARIANCE]):.3e}")
    against = (
        "exact gradients" if set(np.atleast_1d(ds["reference_used"].values).flat) == {"exact"} else "RF(4) samples"
    )
    fig.suptitle(f"{args.model}: bias-variance along RF(4) training ({against})")
    print(save_figure(fig, FIGURES / f"{tagged(f'zgr_figB4_{args.model}', args)}.png"))


if __name__ == "__main__":
    main()
