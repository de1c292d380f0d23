"""Shah et al. Fig. 5: the gradient gap E||grad_relaxed - grad_discrete||^2 over (tau_f, tau_b), on the same
sweep as shah_fig6_tau_grid.py (gradient_gap = true in analyses/decoupled_grid.toml).

Output: figures/shah_fig5_gradient_gap.png
"""

from __future__ import annotations

from _common import FIGURES
from shah_fig6_tau_grid import grid_dataset

from gradlab.core import names as N
from gradlab.viz.plots import plot_tau_grid, save_figure


def main() -> None:
    ds = grid_dataset().mean(N.SEED)
    fig = plot_tau_grid(ds, (N.GAP,), "Shah et al. Fig. 5 reproduced: gradient gap over (tau_f, tau_b)")
    print(save_figure(fig, FIGURES / "shah_fig5_gradient_gap.png"))


if __name__ == "__main__":
    main()
