"""ZGR Fig. 2: the final training negative ELBO of the categorical VAE with the most categories (C64) against the
temperature of GS, GS-ST and GR-MC(M=10), with ZGR (no temperature) as a horizontal line; mean over seeds +-
(max - min) / 2. The study zgr-fig2.

Run: python analyses/zgr_fig2_temperature.py   (--quick: one seed, 3 epochs; --scale as zgr_training_tables.py)
Output: histories/<scale>/zgr_fig2.nc (what `gradlab verify` reads), figures/zgr_fig2_temperature.png; the values
on stdout.
"""

from __future__ import annotations

from _common import FIGURES, run, study, study_args, tagged


def main() -> None:
    args = study_args(__doc__).parse_args()
    cfg = study("zgr-fig2", args, quick_estimators=None)
    ds = run(cfg, args)
    if ds is None:
        return
    import matplotlib.pyplot as plt

    from gradlab.viz.plots import save_figure

    last = ds["train_loss"].isel(epoch=-1)
    mean, half = last.mean("seed"), (last.max("seed") - last.min("seed")) / 2
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for family in ("gs", "gs_st", "gr_mc"):
        labels = [str(e) for e in ds.estimator.values if str(e).startswith(family + "(")]
        ts = [float(ds["t"].sel(estimator=lab)) for lab in labels]
        m, h = mean.sel(estimator=labels).values, half.sel(estimator=labels).values
        ax.errorbar(ts, m, yerr=h, marker="o", capsize=3, label=family)
        print(f"{family}: " + ", ".join(f"t={t:g}: {v:.2f} ± {e:.2f}" for t, v, e in zip(ts, m, h, strict=True)))
    z = "zgr"
    print(f"zgr: {float(mean.sel(estimator=z)):.2f} ± {float(half.sel(estimator=z)):.2f}")
    ax.axhline(float(mean.sel(estimator=z)), color="k", ls="--", label="zgr")
    title = f"VAE C{cfg.problem['num_classes']} V{cfg.problem['num_vars']} ({cfg.scale})"
    ax.set(xscale="log", xlabel="temperature t", ylabel="final training negative ELBO", title=title)
    ax.legend()
    print(save_figure(fig, FIGURES / f"{tagged('zgr_fig2_temperature', args)}.png"))


if __name__ == "__main__":
    main()
