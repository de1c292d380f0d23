"""Shah et al. Fig. 6: squared bias and variance of decoupled ST over a (tau_f, tau_b) grid with exact
gradients, categorical VAE with 4 latents x 8 categories (one-hot), gradients w.r.t. the encoder logits,
1024 draws per cell, at a snapshot after 20 epochs of RF(4) on the embedded digits.

Output: figures/shah_fig6_tau_grid.png (sweep: analyses/decoupled_grid.toml, resumable)
"""

from __future__ import annotations

from _common import FIGURES, ROOT, ensure_snapshot

from gradlab.core import names as N
from gradlab.sweep import load_config, run_sweep
from gradlab.viz.plots import plot_tau_grid, save_figure


def grid_dataset():
    snapshot = ensure_snapshot("rf4_onehot_v4_k8", epochs=20, embedding="onehot")
    cfg = load_config(ROOT / "analyses" / "decoupled_grid.toml", out=str(ROOT / "results" / "decoupled_grid.nc"))
    cfg.problem["snapshot"] = str(snapshot)
    return run_sweep(cfg)


def main() -> None:
    ds = grid_dataset().mean(N.SEED)
    fig = plot_tau_grid(
        ds, (N.BIAS2, N.VARIANCE), "Shah et al. Fig. 6 reproduced: decoupled ST, exact gradients (VAE 4 x 8 on digits)"
    )
    print(save_figure(fig, FIGURES / "shah_fig6_tau_grid.png"))


if __name__ == "__main__":
    main()
