"""Bias-variance Pareto diagram of every estimator family on a sigmoid belief net classifier
(`gl.problems.SigmoidBeliefNet`: two stochastic layers of 32 binary units, 20 digits, at initialisation),
against 10^4 RF(4) reference samples (eq. 16 two-sample form: each image has 2^64 configurations, too many to
enumerate); `--exact`: the enumerable instance (two layers of 4 units, 20 images: 256 configurations per image,
enumerated for all images at once) against exact gradients.

Output: figures/sbn_pareto.png (or figures/sbn_exact_pareto.png), results/sbn*.nc
"""

from __future__ import annotations

import argparse

from _common import layered_pareto


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--exact", action="store_true", help="the enumerable instance, exact reference")
    args = ap.parse_args()
    problem = {"hidden": [4, 4], "batch_size": 20} if args.exact else {"batch_size": 20}
    layered_pareto("sbn", problem, "sbn", "Sigmoid belief net (2 x 32 binary units) on digits", args.exact)


if __name__ == "__main__":
    main()
