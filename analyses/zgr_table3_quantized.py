"""ZGR Table 3 at laptop scale: validation error of the quantized network in the deterministic mode (every noise
off) per estimator and per bit width of weights / activations (2/2, T/T, T/1, 1/1), mean over seeds +-
(max - min) / 2.

Scale: QuantizedNetwork(hidden=(64, 64)), an MLP, on the embedded digits (the paper: a convolutional network on
Fashion-MNIST); triangular noise; Adam at 3e-3 for 20 epochs with the learning rate divided by 10 after epochs
10 and 15 (the paper: 200 epochs, after 100 and 150, with a grid over three learning rates); the validation
split is the digits' 180 images (there is no separate test split).

Run: python analyses/zgr_table3_quantized.py   (--quick: one seed, 3 epochs)
Output: results/zgr_table3.nc; the table on stdout.
"""

from __future__ import annotations

import xarray as xr
from _common import RESULTS, final_table, study_args, study_settings, tagged

WIDTHS = [("2bit", "2bit", "2/2"), ("ternary", "ternary", "T/T"), ("ternary", "1bit", "T/1"), ("1bit", "1bit", "1/1")]
METHODS = [
    {"name": "gs_st", "t": [2.0, 1.0, 0.5]},
    {"name": "gr_mc", "t": [0.5, 0.1], "m": 10},
    {"name": "zgr"},
    {"name": "st"},
    {"name": "reinforce", "m": [2, 4]},
]


def main() -> None:
    args = study_args(__doc__).parse_args()
    data, run = study_settings(args)
    import gradlab as gl

    seeds = range(args.seeds or (1 if args.quick else 3))
    epochs = args.epochs or (3 if args.quick else 20)
    parts = []
    for w, a, label in WIDTHS:
        problem = {"kind": "quantized", "hidden": [64, 64], "weights": w, "activations": a, "dtype": "float32", **data}
        ds = gl.training.training_study(
            problem,
            METHODS,
            seeds=seeds,
            epochs=epochs,
            lr=3e-3,
            lr_milestones=[max(1, epochs // 2), max(1, 3 * epochs // 4)],
            batch_size=50,
            **run,
        )
        parts.append(ds.expand_dims(bits=[label]))
    ds = xr.concat(parts, dim="bits", combine_attrs="drop_conflicts")
    ds["valid_error"] = 100 * (1 - ds["valid_accuracy"])
    gl.results.write_netcdf(ds, RESULTS / f"{tagged('zgr_table3', args)}.nc")
    print("Table 3: validation error [%] in the deterministic mode (weights / activations)")
    print(final_table(ds, "valid_error", cols="bits", digits=1))


if __name__ == "__main__":
    main()
