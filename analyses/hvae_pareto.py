"""Bias-variance Pareto diagram of every estimator family on the two-layer categorical VAE of ZGR App. B.3.1
(`gl.problems.HierarchicalVAE`: 4 variables x 4 categories per layer, 20 digits, at initialisation) against exact
gradients: the images are independent, so the exact engine enumerates each image's 65,536 configurations, for all
20 at once (issue 25; before, 10^4 RF(4) reference samples stood in). `--samples`: against 10^4 RF(4) samples, as
before, for the comparison.

Output: figures/hvae_pareto.png (or figures/hvae_samples_pareto.png), results/hvae*.nc
"""

from __future__ import annotations

import argparse

from _common import layered_pareto


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--samples", action="store_true", help="against 10^4 RF(4) reference samples")
    args = ap.parse_args()
    stem = "hvae_samples" if args.samples else "hvae"
    title = "Hierarchical VAE (ZGR App. B.3.1), 20 digits"
    layered_pareto("hvae", {"batch_size": 20}, stem, title, exact=not args.samples)


if __name__ == "__main__":
    main()
