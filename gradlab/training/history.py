"""Training histories as labelled data: an ``xarray.Dataset`` with dimensions ``estimator``, ``seed`` and
``epoch`` (one variable per logged quantity: ``train_loss``, ``seconds``, ``lr``, ``valid_*``), the estimator
coordinates of the bias-variance results (family and hyper-parameters) and the same provenance attributes,
saved as netCDF with :func:`gradlab.core.results.write_netcdf`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from gradlab.core import names as N
from gradlab.core.results import describe_coords, estimator_coords, provenance
from gradlab.estimators import estimator as make_estimator
from gradlab.training.loop import TrainResult

__all__ = ["history_dataset"]


def history_dataset(results: Sequence[TrainResult]) -> xr.Dataset:
    """One data set of the histories of ``results`` (runs of one problem: any estimators, any seeds, any
    numbers of epochs; missing epochs are NaN)."""
    results = list(results)
    if not results:
        raise ValueError("history_dataset: results must hold at least one TrainResult, got none")
    labels = list(dict.fromkeys(r.settings["estimator"] for r in results))
    seeds = sorted({int(r.settings["seed"]) for r in results})
    epochs = sorted({int(rec["epoch"]) for r in results for rec in r.history})
    keys = sorted({k for r in results for rec in r.history for k in rec} - {"epoch"})
    data = {k: np.full((len(labels), len(seeds), len(epochs)), np.nan) for k in keys}
    first: dict[str, TrainResult] = {}
    for r in results:
        i, j = labels.index(r.settings["estimator"]), seeds.index(int(r.settings["seed"]))
        first.setdefault(r.settings["estimator"], r)
        for rec in r.history:
            t = epochs.index(int(rec["epoch"]))
            for k in keys:
                if k in rec:
                    data[k][i, j, t] = float(rec[k])
    ests = [make_estimator(first[lab].settings["estimator_name"], **first[lab].settings["hparams"]) for lab in labels]
    coords = estimator_coords(labels, [e.name for e in ests], [e.hparams() for e in ests])
    coords.update({N.SEED: seeds, "epoch": epochs})
    if any("evaluation" in r.settings for r in results):  # the distribution each setting was validated under
        coords["evaluation"] = (N.ESTIMATOR, [str(first[lab].settings.get("evaluation", "")) for lab in labels])
    variables = {k: ((N.ESTIMATOR, N.SEED, "epoch"), v) for k, v in data.items()}
    initial_keys = sorted({k for r in results for k in r.initial})
    for k in initial_keys:  # summary metrics at initialisation (per run: the initialisation follows the seed)
        values = np.full((len(labels), len(seeds)), np.nan)
        for r in results:
            if k in r.initial:
                values[labels.index(r.settings["estimator"]), seeds.index(int(r.settings["seed"]))] = r.initial[k]
        variables[f"initial_{k}"] = ((N.ESTIMATOR, N.SEED), values)
    ds = xr.Dataset(variables, coords=coords)
    per_run = ("estimator", "estimator_name", "hparams", "seed", "evaluation")
    common = {k: v for k, v in results[0].settings.items() if k not in per_run}
    ds.attrs.update(provenance(kind="training history", problem=results[0].problem, settings=common))
    for k in keys:
        ds[k].attrs.update(long_name=_LONG_NAMES.get(k, k.replace("_", " ")), units=_units(k))
    for k in initial_keys:
        long_name = _LONG_NAMES.get(k, k.replace("_", " ")) + ", at initialisation"
        ds[f"initial_{k}"].attrs.update(long_name=long_name, units=_units(k))
    return describe_coords(ds)


def _units(name: str) -> str:
    """Units of a logged quantity: nats for losses (a negative ELBO, a cross-entropy per example), seconds, or 1."""
    if name.endswith(("loss", "neg_elbo")):
        return "nats per example"
    return "s" if name == "seconds" else "1"


_LONG_NAMES = {
    "train_loss": "mean training loss per example at the discrete samples of the training steps",
    "seconds": "training wall time since the start (evaluation excluded)",
    "lr": "learning rate of the epoch",
    "valid_loss": "mean validation loss per example, one discrete sample each from the estimator's forward "
    "distribution (coordinate evaluation)",
    "valid_accuracy": "validation accuracy, one discrete sample per example from the estimator's forward "
    "distribution (the deterministic network for the quantized and logic-gate networks; coordinate evaluation)",
    "top_gate_probability": "median over neurons of the probability of the neuron's most probable gate",
    "gate_perplexity": "exp(entropy) of the histogram of the neurons' most probable gates (max 16)",
    "code_perplexity": "exp(entropy) of the validation histogram of each latent's most probable class, averaged",
    "valid_neg_elbo": "mean validation negative ELBO of the distribution the draws follow (VAE with kl = model)",
    "temperature": "the scheduled temperature at the end of the epoch",
}
