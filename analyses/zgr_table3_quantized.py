"""ZGR Table 3: the validation error of the quantized network in the deterministic mode (every noise off) per
estimator and per bit width of weights / activations (2/2, T/T, T/1, 1/1), mean over seeds +- (max - min) / 2. The
study zgr-table3: on the digits an MLP 64-64 for 20 epochs; on mnist5k (standing in for Fashion-MNIST) the same MLP
for 10 epochs (mnist5k-48) and then the paper's convolutional network (mnist5k-paper); at the paper scale the best of
three learning rates per estimator and width on the validation split (the axis base_lr).

Run: python analyses/zgr_table3_quantized.py   (--quick: one seed, 3 epochs)
Output: histories/<scale>/zgr_table3.nc (what `gradlab verify` reads); the table on stdout.
"""

from __future__ import annotations

from _common import final_table, run, study, study_args


def main() -> None:
    args = study_args(__doc__).parse_args()
    ds = run(study("zgr-table3", args), args)
    if ds is None:
        return
    from gradlab.theory.training_zgr import best_learning_rate

    ds = best_learning_rate(ds)
    print("Table 3: validation error [%] in the deterministic mode (weights / activations)")
    print(final_table(ds, "valid_error", cols="bits", digits=1))


if __name__ == "__main__":
    main()
