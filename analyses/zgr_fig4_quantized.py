"""ZGR Fig. 4 (right) and Fig. B.3 at laptop scale: bias and variance of the estimators in the first layer of a
quantized network, along the training trajectory of ZGR (ternary weights and activations, triangular noise).

The model (QuantizedNetwork(hidden=(16, 16)), 20 digits per minibatch) is trained with ZGR; at epochs 0, 5 and 20
a sweep measures ST(t), ST(1)-ZGR(alpha), GS-ST(t), GR-MC and RF(2) on the parameters of layer 0 against
reference samples of RF(4), with the squared bias of eq. (16) (the paper: 4 x 10^5 reference and 4 x 10^4
samples per setting; here 2 x 10^4 and 2,000, so the squared biases are resolved only where they are large).

Run: python analyses/zgr_fig4_quantized.py   (--quick: epochs 0 and 2, fewer settings and samples)
Paper scale: --config analyses/paper/zgr_fig4_quantized_fmnist.toml --data-path DIR (App. B.6's network, samples)
Output: histories/digits/zgr_fig4_quantized.nc (what `gradlab verify` reads; the snapshots in
results/zgr_fig4_quantized/), figures/zgr_fig4_quantized.png, figures/zgr_figB3_variance.png
"""

from __future__ import annotations

import time

import numpy as np
from _common import FIGURES, RESULTS, dry_run, experiment, history_path, problem_settings, stamp, study_args, tagged

ESTIMATORS = [  # the paper's families, and every setting of Table 3 (for the ranking of Sec. 4.3)
    {"name": "st", "t": [1.0, 2.0, 4.0, 8.0]},
    {"name": "st_zgr", "t": 1.0, "alpha": [0.25, 0.5, 0.75]},
    {"name": "zgr"},
    {"name": "gs_st", "t": [0.1, 0.3, 0.5, 1.0, 2.0]},
    {"name": "gr_mc", "t": [0.1, 0.5], "m": 10},
    {"name": "reinforce", "m": [2, 4]},
]


DEFAULTS = {
    "estimators": ESTIMATORS,
    "network": {"hidden": [16, 16], "batch_size": 20},  # QuantizedNetwork settings (+ conv, kernel, weights, ...)
    "measure_at": [0, 5],  # epochs at which to measure, besides the last
    "epochs": 20,
    "seeds": 1,
    "reference_n": 20_000,
    "n": 2000,
    "lr": 3e-3,
    "batch_size": 50,
}


# the ladder of scales (--scale): App. B.6's small network 8C5-MP2-16C5-MP2-128FC-10FC (the paper's own for Fig. 4
# right) on mnist5k (standing in for Fashion-MNIST), trained with ZGR for 10 / 20 epochs
SCALE_SETTINGS = {
    "mnist5k-48": {
        "dataset": "mnist5k",
        "network": {"conv": [8, 16], "hidden": [128], "batch_size": 20},
        "measure_at": [0, 5],
        "epochs": 10,
    },
    "mnist5k-paper": {
        "dataset": "mnist5k",
        "network": {"conv": [8, 16], "hidden": [128], "batch_size": 20},
        "measure_at": [0, 5, 10],
        "epochs": 20,
    },
}


def main() -> None:
    args = study_args(__doc__).parse_args()
    started = time.perf_counter()
    cfg = experiment(args, "zgr_fig4_quantized.py", DEFAULTS, SCALE_SETTINGS)
    quick = args.quick
    epochs = [0, 2] if quick else sorted({*cfg["measure_at"], cfg["epochs"]})
    problem = {"kind": "quantized", **cfg["network"], "dtype": "float32", **problem_settings(cfg)}
    estimators = cfg["estimators"][:3] if quick else cfg["estimators"]
    if args.dry_run:
        return dry_run([problem], estimators, {**cfg, "epochs": epochs})
    import matplotlib.pyplot as plt

    import gradlab as gl
    from gradlab import names as N
    from gradlab.plots import plot_pareto, save_figure

    ds = gl.training.trajectory_study(
        problem,
        gl.estimator("zgr"),
        epochs,
        estimators,
        out_dir=RESULTS / tagged("zgr_fig4_quantized", args),
        reference={"kind": "estimator", "name": "reinforce", "m": 4, "n": 2000 if quick else cfg["reference_n"]},
        n=500 if quick else cfg["n"],
        wrt="layer0",
        bootstrap=100,
        train_settings={"lr": cfg["lr"], "batch_size": cfg["batch_size"]},
    )
    print(gl.results.write_netcdf(stamp(ds, started, args), history_path("zgr_fig4_quantized", args)))
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
