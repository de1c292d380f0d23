"""ZGR Tables 1 and 2 (and Fig. 3) at laptop scale: final training negative ELBO of the categorical VAE
(``--model vae``, Table 1) or the hierarchical VAE (``--model hvae``, Table 2) per estimator and per split of the
latent bits into categorical variables, mean over seeds +- (max - min) / 2; and the training loss against wall
time for the split with the most categories (Fig. 3).

Scale: the embedded digits (1,617 training images, batch 50) and 12 latent bits per layer (C2 V12, C4 V6, C16 V3,
C64 V2) instead of MNIST-B / Omniglot and 192 bits; Adam at 1e-3 for 50 epochs (1,650 updates); the methods of the
paper's tables without GR-MC(M=100) (ten times GR-MC(M=10)'s cost). float32, as the paper trains.

Run: python analyses/zgr_training_tables.py --model vae   (--quick: one seed, 3 epochs)
Output: results/zgr_table_<model>.nc, figures/zgr_table_<model>_time.png, the table on stdout.
"""

from __future__ import annotations

import xarray as xr
from _common import FIGURES, RESULTS, final_table, study_args, study_settings, tagged

SPLITS = [(2, 12), (4, 6), (16, 3), (64, 2)]  # (categories K, variables V): 12 bits each
METHODS = [
    {"name": "gs", "t": 0.1},
    {"name": "gs_st", "t": 0.1},
    {"name": "gr_mc", "t": 0.1, "m": 10},
    {"name": "zgr"},
    {"name": "st"},
    {"name": "reinforce", "m": [2, 4]},
]


def main() -> None:
    ap = study_args(__doc__)
    ap.add_argument("--model", choices=["vae", "hvae"], default="vae")
    args = ap.parse_args()
    data, run = study_settings(args)
    import gradlab as gl
    from gradlab.plots import save_figure

    seeds = range(args.seeds or (1 if args.quick else 3))
    epochs = args.epochs or (3 if args.quick else 50)
    parts = []
    for k, v in SPLITS:
        problem = {"kind": args.model, "num_vars": v, "num_classes": k, "dtype": "float32", **data}
        ds = gl.training.training_study(problem, METHODS, seeds=seeds, epochs=epochs, lr=1e-3, batch_size=50, **run)
        parts.append(ds.expand_dims(split=[f"C{k} V{v}"]))
    ds = xr.concat(parts, dim="split", combine_attrs="drop_conflicts")
    gl.results.write_netcdf(ds, RESULTS / f"{tagged('zgr_table_' + args.model, args)}.nc")
    print(f"{'Table 1 (VAE)' if args.model == 'vae' else 'Table 2 (hierarchical VAE)'}: final training negative ELBO")
    print(final_table(ds, "train_loss", cols="split"))
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    last = ds.sel(split=ds.split.values[-1])
    for est in last.estimator.values:
        run = last.sel(estimator=est)
        ax.plot(run.seconds.mean("seed"), run.train_loss.mean("seed"), label=str(est))
    ax.set(xlabel="training time [s]", ylabel="training negative ELBO", title=f"{args.model}: {ds.split.values[-1]}")
    ax.legend(fontsize=7)
    print(save_figure(fig, FIGURES / f"{tagged(f'zgr_table_{args.model}_time', args)}.png"))


if __name__ == "__main__":
    main()
