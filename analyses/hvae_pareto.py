"""Bias-variance Pareto diagram of every estimator family on the two-layer categorical VAE of ZGR App. B.3.1
(`gl.problems.HierarchicalVAE`: 4 variables x 4 categories per layer, 20 digits, at initialisation), against
10^4 RF(4) reference samples (eq. 16 two-sample form); `--exact`: the enumerable instance (2 x 4 per layer,
one image; 256 configurations) against exact gradients.

Output: figures/hvae_pareto.png (or figures/hvae_exact_pareto.png), results/hvae*.nc
"""

from __future__ import annotations

import argparse

from _common import layered_pareto


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--exact", action="store_true", help="the enumerable instance, exact reference")
    args = ap.parse_args()
    problem = {"num_vars": 2, "num_classes": 4, "batch_size": 1} if args.exact else {"batch_size": 20}
    layered_pareto("hvae", problem, "hvae", "Hierarchical VAE (ZGR App. B.3.1) on digits", args.exact)


if __name__ == "__main__":
    main()
