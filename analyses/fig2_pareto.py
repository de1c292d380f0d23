"""ZGR Fig. 4 (left): the bias-variance Pareto diagram (symlog axis, 95 % interval bars), the frontier on the
upper confidence bounds marked, categorical VAE on the embedded digits, from the main job's results
(`gradlab run`; computed here if missing). Prints the frontiers of the three rules of `pareto_mask`.

Output: figures/zgr_fig4_pareto.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from _common import FIGURES, RESULTS

import gradlab as gl
from gradlab.core import names as N
from gradlab.viz.plots import plot_pareto, save_figure


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--results", default=str(RESULTS / "run.nc"))
    args = ap.parse_args()
    path = Path(args.results)
    if not path.is_file():
        from gradlab.jobs.main_job import RunSettings, run_main_job

        run_main_job(RunSettings(out=path.parent))
    ds = gl.results.one_seed(gl.results.read_netcdf(path))
    # the families of ZGR Fig. 4 (gradlab run also measures decoupled ST and the peers' estimators)
    keep = np.isin(ds[N.FAMILY].values, ["gs", "gs_st", "gr_mc", "st", "st_zgr", "zgr", "reinforce", "reinmax"])
    sub = ds.isel({N.ESTIMATOR: np.flatnonzero(keep)})
    print(
        save_figure(
            plot_pareto(sub, "ZGR Fig. 4 reproduced: bias-variance trade-offs, VAE on digits (4 x 8)"),
            FIGURES / "zgr_fig4_pareto.png",
        )
    )
    for method, what in (
        ("upper", "upper 95 % bounds"),
        ("confident", "not dominated with confidence"),
        ("plain", "point estimates"),
    ):
        front = gl.analysis.pareto_mask(sub, method=method)
        print(f"Pareto frontier ({what}):", ", ".join(sub[N.ESTIMATOR].values[front.values]))


if __name__ == "__main__":
    main()
