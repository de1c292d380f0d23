"""ZGR Tables 1 and 2 (and Fig. 3): the final training negative ELBO of the categorical VAE (``--model vae``, Table 1:
the study zgr-table1) or the hierarchical VAE (``--model hvae``, Table 2: zgr-table2) per estimator and per split of
the latent bits into categorical variables, mean over seeds +- (max - min) / 2; and the training loss against wall
time for the split with the most categories (Fig. 3).

Scales (--scale): digits (12 latent bits, Adam at 1e-3, 50 epochs), mnist5k-48, mnist5k-paper (192 bits), paper
(--data-path to MNIST), paper-omniglot; the methods of the paper's tables (GR-MC(100) at the paper scale only).

Run: python analyses/zgr_training_tables.py --model vae   (--quick: one seed, 3 epochs, three methods)
Output: histories/<scale>/zgr_table_<model>.nc (what `gradlab verify` reads), figures/zgr_table_<model>_time.png,
the table on stdout.
"""

from __future__ import annotations

from _common import FIGURES, final_table, run, study, study_args, tagged


def main() -> None:
    ap = study_args(__doc__)
    ap.add_argument("--model", choices=["vae", "hvae"], default="vae", help="vae (Table 1, default) or hvae (Table 2)")
    args = ap.parse_args()
    ds = run(study("zgr-table1" if args.model == "vae" else "zgr-table2", args), args)
    if ds is None:
        return
    import matplotlib.pyplot as plt

    from gradlab.viz.plots import save_figure

    print(f"{'Table 1 (VAE)' if args.model == 'vae' else 'Table 2 (hierarchical VAE)'}: final training negative ELBO")
    print(final_table(ds, "train_loss", cols="split"))
    fig, ax = plt.subplots(figsize=(6, 4))
    last = ds.sel(split=ds.split.values[-1])
    for est in last.estimator.values:
        one = last.sel(estimator=est)
        ax.plot(one.seconds.mean("seed"), one.train_loss.mean("seed"), label=str(est))
    ax.set(xlabel="training time [s]", ylabel="training negative ELBO", title=f"{args.model}: {ds.split.values[-1]}")
    ax.legend(fontsize=7)
    print(save_figure(fig, FIGURES / f"{tagged(f'zgr_table_{args.model}_time', args)}.png"))


if __name__ == "__main__":
    main()
