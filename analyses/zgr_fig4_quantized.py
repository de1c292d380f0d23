"""ZGR Fig. 4 (right) and Fig. B.3: bias and variance of the estimators in the first layer of a quantized network,
along the training trajectory of ZGR (ternary weights and activations, triangular noise). The study
zgr-fig4-quantized: at the measured epochs a sweep measures ST(t), ST(1)-ZGR(alpha), GS-ST(t), GR-MC and RF on the
parameters of layer 0 against RF(4) reference samples (eq. 16; the paper: 4 x 10^5 reference and 4 x 10^4 samples
per setting; here 2 x 10^4 and 2,000, so the squared biases are resolved only where they are large).

Run: python analyses/zgr_fig4_quantized.py   (--quick: epochs 0 and 3, fewer settings and samples)
Output: histories/<scale>/zgr_fig4_quantized.nc (what `gradlab verify` reads), figures/zgr_fig4_quantized.png,
figures/zgr_figB3_variance.png
"""

from __future__ import annotations

import numpy as np
from _common import FIGURES, run, study, study_args, tagged


def main() -> None:
    args = study_args(__doc__).parse_args()
    ds = run(study("zgr-fig4-quantized", args), args)
    if ds is None:
        return
    import matplotlib.pyplot as plt

    import gradlab as gl
    from gradlab.core import names as N
    from gradlab.viz.plots import plot_pareto, save_figure

    last = gl.results.one_seed(ds.isel(epoch=-1))
    print(f"epoch {int(ds.epoch[-1])}: squared bias and variance per parameter of layer 0")
    for est in last[N.ESTIMATOR].values:
        row = last.sel({N.ESTIMATOR: est})
        print(
            f"  {est:<28} bias2 {float(row[N.BIAS2]):+.3e} [{float(row[N.BIAS2 + N.LO]):+.2e}, "
            f"{float(row[N.BIAS2 + N.HI]):+.2e}]  variance {float(row[N.VARIANCE]):.3e}"
        )
    keep = np.flatnonzero(np.isfinite(last[N.BIAS2].values))
    fig = plot_pareto(last.isel({N.ESTIMATOR: keep}), f"Quantized network (T/T), layer 0, epoch {int(ds.epoch[-1])}")
    print(save_figure(fig, FIGURES / f"{tagged('zgr_fig4_quantized', args)}.png"))
    fig, ax = plt.subplots(figsize=(6, 4))
    colors = plt.cm.tab20(np.linspace(0, 1, ds.sizes[N.ESTIMATOR]))
    for est, color in zip(ds[N.ESTIMATOR].values, colors, strict=True):
        v = gl.results.one_seed(ds)[N.VARIANCE].sel({N.ESTIMATOR: est})
        ax.plot(ds.epoch, v, marker="o", color=color, label=str(est))
    ax.set(xlabel="epoch of ZGR training", ylabel="variance per parameter (layer 0)", yscale="log")
    ax.legend(fontsize=6, ncol=2)
    print(save_figure(fig, FIGURES / f"{tagged('zgr_figB3_variance', args)}.png"))


if __name__ == "__main__":
    main()
