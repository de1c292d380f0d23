"""ZGR Fig. B.5: single quantization unit, mean +- std of each estimator vs eta against the exact gradient
(K = 4, 10^4 samples; linear / quadratic / sigmoid losses; logistic std 1/3 and triangular noise).

Output: figures/zgr_figB5_quantization.png (sweep: analyses/quantization_b5.toml, resumable)
"""

from __future__ import annotations

from _common import FIGURES, ROOT

from gradlab.sweep import load_config, run_sweep
from gradlab.viz.plots import plot_quantization, save_figure


def main() -> None:
    cfg = load_config(ROOT / "analyses" / "quantization_b5.toml", out=str(ROOT / "results" / "quantization_b5.nc"))
    ds = run_sweep(cfg)
    print(
        save_figure(
            plot_quantization(
                ds, "ZGR Fig. B.5 reproduced: quantization unit, mean ± std (red) vs exact gradient (dashed)"
            ),
            FIGURES / "zgr_figB5_quantization.png",
        )
    )


if __name__ == "__main__":
    main()
