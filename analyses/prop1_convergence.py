"""ZGR Proposition 1: log-log error of the printed series for the binary GR estimator against t, with the
fitted slopes (quadrature of eq. 21 as ground truth), for eq. (11) as printed and eq. (23) to first and
second order.

Output: figures/prop1_convergence.png
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from _common import FIGURES

from gradlab.theory import _prop1_errors, fit_order
from gradlab.viz.plots import save_figure


def main() -> None:
    ts, cases = _prop1_errors(quick=False)
    names = [
        "eq. (11) as printed (claimed O(t²))",
        "eq. (23), first order (claimed O(t²))",
        "eq. (23), second order (claimed O(t³))",
    ]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5), sharey=True)
    for col, (ax, name) in enumerate(zip(axes, names, strict=True)):
        for eta, x, rows in cases:
            q, se, _ = fit_order(ts, rows[:, col], rows[:, 4])
            ax.loglog(ts, rows[:, col], marker="o", ms=3, label=f"η={eta:g}, x={x}: slope {q:.2f}")
        for order, style in ((1, ":"), (2, "--"), (3, "-.")):
            ax.loglog(ts, 0.5 * (ts / ts[0]) ** order * 1e-2, "k" + style, lw=0.8, alpha=0.6)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("temperature t")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6)
    axes[0].set_ylabel("|bracket - series| (quadrature error < 1e-13)")
    fig.suptitle("ZGR Prop. 1: printed series vs quadrature of eq. (21); guides: t, t², t³")
    fig.tight_layout()
    print(save_figure(fig, FIGURES / "prop1_convergence.png"))
    print(np.round(ts, 4))


if __name__ == "__main__":
    main()
