"""ZGR Fig. B.4 at laptop scale: bias-variance diagrams of the VAE (``--model vae``, left) and the hierarchical VAE
(``--model hvae``, right) at several stages of training.

The model (VAE: C8 V4 with the 512-256 MLPs; HVAE: 4 x 4 per layer; 20 fixed digits as the problem's minibatch)
is trained with RF(4) on the digits (Adam 1e-3, batch 50); at epochs 1, 10 and 50 (the paper: 1, 10, 100 and 200
MNIST epochs) a sweep measures ST(t), ST(2)-ZGR(alpha), ZGR, GS-ST(t), GR-MC(0.1, 10) and RF(4), 2,000 samples
each, against exact gradients: the VAE's 4,096 configurations per image and the HVAE's 65,536 per image (its
images are independent, so the exact engine enumerates each image's configurations, for all 20 at once). Where
the latent space is too large to enumerate (``--scale`` beyond the digits), against 2 x 10^4 RF(4) samples.

Run: python analyses/zgr_figB4_trajectory.py --model vae   (--quick: epochs 0 and 1, fewer settings)
Paper scale: --config analyses/paper/zgr_figB4_vae_mnist.toml --data-path DIR (C16 V16, epochs 1 to 200)
Output: histories/digits/zgr_figB4_<model>.nc (what `gradlab verify` reads; the snapshots in results/),
figures/zgr_figB4_<model>.png; the fronts on stdout.
"""

from __future__ import annotations

import time

import numpy as np
from _common import FIGURES, RESULTS, dry_run, experiment, history_path, problem_settings, stamp, study_args, tagged

ESTIMATORS = [
    {"name": "st", "t": [1.0, 2.0]},
    {"name": "st_zgr", "t": 2.0, "alpha": [0.25, 0.5, 0.75]},
    {"name": "zgr"},
    {"name": "gs_st", "t": [0.1, 0.3, 1.0, 2.0]},
    {"name": "gr_mc", "t": 0.1, "m": 10},
    {"name": "reinforce", "m": 4},
]


DEFAULTS = {
    "model": "vae",
    "estimators": ESTIMATORS,
    "sizes": {"vae": [4, 8], "hvae": [4, 4]},  # (variables V, categories K) per model
    "measure_at": [1, 10],  # epochs at which to measure, besides the last
    "epochs": 50,
    "seeds": 1,
    "reference": "exact",  # "exact" or RF(4) reference samples ("rf4"); the HVAE always uses samples
    "reference_n": 20_000,
    "n": 2000,
    "lr": 1e-3,
    "batch_size": 50,
}


# the ladder of scales (--scale): mnist5k with 48 latent bits per layer (C16 V12) and the paper's 16 x 16 (64 bits)
# for the VAE, 192 bits (C16 V48) for the HVAE; the latent spaces are too large to enumerate: 2 x 10^4 RF(4) samples
SCALE_SETTINGS = {
    "mnist5k-48": {
        "dataset": "mnist5k",
        "sizes": {"vae": [12, 16], "hvae": [12, 16]},
        "measure_at": [1, 10],
        "epochs": 30,
    },
    "mnist5k-paper": {
        "dataset": "mnist5k",
        "sizes": {"vae": [16, 16], "hvae": [48, 16]},
        "measure_at": [1, 10],
        "epochs": 20,
    },
}


def main() -> None:
    ap = study_args(__doc__)
    ap.add_argument("--model", choices=["vae", "hvae"], default=None, help="vae (default) or hvae")
    args = ap.parse_args()
    started = time.perf_counter()
    cfg = experiment(args, "zgr_figB4_trajectory.py", DEFAULTS, SCALE_SETTINGS)
    model = args.model or cfg["model"]
    v, k = cfg["sizes"][model]
    problem = {"kind": model, "batch_size": 20, "dtype": "float64", "num_vars": v, "num_classes": k}
    problem.update(problem_settings(cfg))
    epochs = [0, 1] if args.quick else sorted({*cfg["measure_at"], cfg["epochs"]})
    estimators = cfg["estimators"][:3] if args.quick else cfg["estimators"]
    exact = cfg["reference"] == "exact"  # exact where enumerable (per image), else the RF(4) samples
    if args.dry_run:
        return dry_run([problem], estimators, {**cfg, "epochs": epochs})
    import matplotlib.pyplot as plt

    import gradlab as gl
    from gradlab import names as N

    ds = gl.training.trajectory_study(
        problem,
        gl.estimator("reinforce", m=4),
        epochs,
        estimators,
        out_dir=RESULTS / tagged(f"zgr_figB4_{model}", args),
        reference={
            "kind": "auto" if exact else "estimator",
            "name": "reinforce",
            "m": 4,
            "n": 4000 if args.quick else cfg["reference_n"],
        },
        n=500 if args.quick else cfg["n"],
        bootstrap=100,
        train_settings={"lr": cfg["lr"], "batch_size": cfg["batch_size"]},
    )
    print(gl.results.write_netcdf(stamp(ds, started, args), history_path(f"zgr_figB4_{model}", args)))
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
        print(
            f"  zgr: bias2 {float(sub[N.BIAS2].sel({N.ESTIMATOR: 'zgr'})):.3e}, "
            f"variance {float(sub[N.VARIANCE].sel({N.ESTIMATOR: 'zgr'})):.3e}"
        )
    against = "exact gradients" if set(ds["reference_used"].values.flat) == {"exact"} else "RF(4) reference samples"
    fig.suptitle(f"{model}: bias-variance along RF(4) training ({against})")
    from gradlab.plots import save_figure

    print(save_figure(fig, FIGURES / f"{tagged(f'zgr_figB4_{model}', args)}.png"))


if __name__ == "__main__":
    main()
