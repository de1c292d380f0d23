"""ZGR Tables 1 and 2 (and Fig. 3) at laptop scale: final training negative ELBO of the categorical VAE
(``--model vae``, Table 1) or the hierarchical VAE (``--model hvae``, Table 2) per estimator and per split of the
latent bits into categorical variables, mean over seeds +- (max - min) / 2; and the training loss against wall
time for the split with the most categories (Fig. 3).

Scale: the embedded digits (1,617 training images, batch 50) and 12 latent bits per layer (C2 V12, C4 V6, C16 V3,
C64 V2) instead of MNIST-B / Omniglot and 192 bits; Adam at 1e-3 for 50 epochs (1,650 updates); the methods of the
paper's tables without GR-MC(M=100) (ten times GR-MC(M=10)'s cost). float32, as the paper trains.

Run: python analyses/zgr_training_tables.py --model vae   (--quick: one seed, 3 epochs)
Paper scale: --config analyses/paper/zgr_table1_mnist.toml --data-path DIR (also _omniglot, zgr_table2_*).
Output: histories/digits/zgr_table_<model>.nc (what `gradlab verify` reads), figures/zgr_table_<model>_time.png,
the table on stdout.
"""

from __future__ import annotations

import time

import xarray as xr
from _common import (
    FIGURES,
    dry_run,
    experiment,
    final_table,
    history_path,
    problem_settings,
    run_settings,
    stamp,
    study_args,
    tagged,
)

DEFAULTS = {
    "model": "vae",
    "splits": [[2, 12], [4, 6], [16, 3], [64, 2]],  # (categories K, variables V): 12 bits each
    "methods": [
        {"name": "gs", "t": 0.1},
        {"name": "gs_st", "t": 0.1},
        {"name": "gr_mc", "t": 0.1, "m": 10},
        {"name": "zgr"},
        {"name": "st"},
        {"name": "reinforce", "m": [2, 4]},
    ],
    "seeds": 3,
    "epochs": 50,
    "lr": 1e-3,
    "batch_size": 50,
}


# the ladder of scales (--scale): mnist5k at 48 latent bits and at the paper's 192, the paper's networks (784-512-256
# VAE; linear HVAE), Adam at 1e-3 rather than the paper's 1e-4: with 4,500 images (90 updates per epoch) and tens
# instead of 500 epochs of 1,200 updates, 1e-4 would leave the models far from trained (lr x updates, as the digits)
SCALE_SETTINGS = {
    "mnist5k-48": {"dataset": "mnist5k", "splits": [[2, 48], [4, 24], [16, 12], [64, 8]], "epochs": 30},
    "mnist5k-paper": {"dataset": "mnist5k", "splits": [[2, 192], [4, 96], [16, 48], [64, 32]], "epochs": 20},
}


def main() -> None:
    ap = study_args(__doc__)
    ap.add_argument("--model", choices=["vae", "hvae"], default=None, help="vae (Table 1, default) or hvae (Table 2)")
    args = ap.parse_args()
    started = time.perf_counter()
    cfg = experiment(args, "zgr_training_tables.py", DEFAULTS, SCALE_SETTINGS)
    model = args.model or cfg["model"]
    epochs = 3 if args.quick and args.epochs is None else cfg["epochs"]
    problems = [
        {"kind": model, "num_vars": v, "num_classes": k, "dtype": "float32", **problem_settings(cfg)}
        for k, v in cfg["splits"]
    ]
    if args.dry_run:
        return dry_run(problems, cfg["methods"], cfg)
    import gradlab as gl
    from gradlab.plots import save_figure

    parts = []
    for problem, (k, v) in zip(problems, cfg["splits"], strict=True):
        ds = gl.training.training_study(
            problem,
            cfg["methods"],
            seeds=range(cfg["seeds"]),
            epochs=epochs,
            lr=cfg["lr"],
            batch_size=cfg["batch_size"],
            **run_settings(args),
        )
        parts.append(ds.expand_dims(split=[f"C{k} V{v}"]))
    ds = xr.concat(parts, dim="split", combine_attrs="drop_conflicts")
    print(gl.results.write_netcdf(stamp(ds, started, args), history_path(f"zgr_table_{model}", args)))
    print(f"{'Table 1 (VAE)' if model == 'vae' else 'Table 2 (hierarchical VAE)'}: final training negative ELBO")
    print(final_table(ds, "train_loss", cols="split"))
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    last = ds.sel(split=ds.split.values[-1])
    for est in last.estimator.values:
        run = last.sel(estimator=est)
        ax.plot(run.seconds.mean("seed"), run.train_loss.mean("seed"), label=str(est))
    ax.set(xlabel="training time [s]", ylabel="training negative ELBO", title=f"{model}: {ds.split.values[-1]}")
    ax.legend(fontsize=7)
    print(save_figure(fig, FIGURES / f"{tagged(f'zgr_table_{model}_time', args)}.png"))


if __name__ == "__main__":
    main()
