"""ZGR Fig. 1 / B.2: squared bias and variance vs temperature (95 % interval bands), categorical VAE.

Default: the embedded digits with an enumerable latent space (4 variables x 8 categories, exact reference),
from the main job's results (`gradlab run`; computed here if missing). With --mnist PATH: the paper's size
(MNIST-B, 16 x 16, RF(4) reference samples, 10^4 samples per setting: hours on a CPU) via
analyses/zgr_fig1_mnist.toml.

Output: figures/zgr_fig1_bias_variance.png
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import FIGURES, RESULTS

import gradlab as gl
from gradlab.core import names as N
from gradlab.viz.plots import plot_vs_temperature, save_figure


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--results", default=str(RESULTS / "run.nc"))
    ap.add_argument("--mnist", default=None, help="MNIST files (IDX or .npz) for the paper-size study")
    args = ap.parse_args()
    if args.mnist:
        from gradlab.sweep import load_config, run_sweep
        from gradlab.training import rf4_snapshot

        cfg = load_config(FIGURES.parent / "analyses" / "zgr_fig1_mnist.toml")
        cfg.problem["data_path"] = args.mnist
        snap_dir = RESULTS / "snapshots" / "mnist_rf4_v16_k16"
        data = gl.problems.load_dataset("mnist", args.mnist, "threshold")
        snapshot = rf4_snapshot(snap_dir, 10, data=data, num_vars=16, num_classes=16, lr=1e-4)
        cfg.problem["snapshot"] = str(snapshot)
        ds = run_sweep(cfg)
        title = "MNIST-B, 16 x 16 (paper size)"
    else:
        from pathlib import Path

        path = Path(args.results)
        if not path.is_file():
            from gradlab.jobs.main_job import RunSettings, run_main_job

            run_main_job(RunSettings(out=path.parent))
        ds = gl.results.read_netcdf(path)
        title = "digits, 4 x 8, exact reference"
    ds = gl.results.one_seed(ds)
    keep = np.isin(ds[N.FAMILY].values, ["gs", "gs_st", "gr_mc", "zgr", "reinforce", "st"])
    fig = plot_vs_temperature(
        ds.isel({N.ESTIMATOR: np.flatnonzero(keep)}),
        f"ZGR Fig. 1 reproduced ({title}): squared bias and variance vs temperature",
    )
    print(save_figure(fig, FIGURES / "zgr_fig1_bias_variance.png"))


if __name__ == "__main__":
    main()
