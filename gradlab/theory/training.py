"""The ``training`` check group: the papers' claims about training, measured on the histories that the training-study
scripts in ``analyses/`` write (``results/*.nc``; ``gradlab verify --results DIR`` names another folder).

Training takes minutes to hours, so ``gradlab verify`` does not train: it reads what the scripts measured. A claim
whose file is missing is ``not checked``, with the command that writes the file. The report says which file, data
set, seeds and epochs each verdict rests on.

Criteria (fixed from the papers' words and notation; the papers report the mean over seeds and +-(max - min)/2):

* "A is better than B" (outperforms, higher final accuracy, lowest loss): A's interval mean +- (max - min)/2 over
  seeds lies entirely on the better side of B's (the intervals are separated);
* "A is no worse than B" (no worse, insignificant regret): A's interval is not separated from B's on the worse side;
* "prominently ST and GS-ST(1)" among the best: at every width one of the two is not separated from the best mean;
* "outperforms" where the paper's own numbers overlap (Table 3's ZGR against GR-MC(0.1)): the lower mean;
* a Pareto front "represented by" families: every member of the upper-bound front belongs to them (as the VAE's
  ``fig4.pareto-frontier``);
* "near-maximum utilization" of 8 codes: perplexity >= 7.5; "severely underutilize": perplexity <= 6.

Claims quantified over the columns of a table (splits of the latent bits, bit widths) must hold in every column;
the measured text lists each column.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .core import CheckResult

__all__ = ["check_training", "TRAINING_FILES", "default_results_dir"]

# file in the results folder -> the command that writes it
TRAINING_FILES = {
    "zgr_table_vae.nc": "python analyses/zgr_training_tables.py --model vae",
    "zgr_table_hvae.nc": "python analyses/zgr_training_tables.py --model hvae",
    "zgr_fig2.nc": "python analyses/zgr_fig2_temperature.py",
    "zgr_table3.nc": "python analyses/zgr_table3_quantized.py",
    "zgr_fig4_quantized/trajectory.nc": "python analyses/zgr_fig4_quantized.py",
    "decoupled_shah_recon.nc": "python analyses/decoupled_training_grids.py --task shah_recon",
    "decoupled_sbn.nc": "python analyses/decoupled_training_grids.py --task sbn",
    "decoupled_cae.nc": "python analyses/decoupled_training_grids.py --task cae",
    "decoupled_logic.nc": "python analyses/decoupled_training_grids.py --task logic",
}
_USES = {  # claim id -> file
    **{f"table1.{c}": "zgr_table_vae.nc" for c in ("st-poor", "zgr-vs-gr-mc", "zgr-vs-rf")},
    **{f"table2.{c}": "zgr_table_hvae.nc" for c in ("st-poor", "zgr-vs-gr-mc", "zgr-vs-rf")},
    "fig2.zgr-regret": "zgr_fig2.nc",
    **{f"table3.{c}": "zgr_table3.nc" for c in ("low-variance-best", "rf-out", "zgr-beats-gr-mc")},
    "fig4.pareto-frontier-quantized": "zgr_fig4_quantized/trajectory.nc",
    "shah.heatmap-best-off-diagonal": "decoupled_shah_recon.nc",
    "shah.sbn-off-diagonal": "decoupled_sbn.nc",
    "shah.cae-lowest-loss": "decoupled_cae.nc",
    "shah.cae-perplexity": "decoupled_cae.nc",
    "shah.logic-gates": "decoupled_logic.nc",
    "shah.logic-gate-balance": "decoupled_logic.nc",
}


def default_results_dir() -> Path:
    """``$GRADLAB_RESULTS`` or ``results`` in the current folder (where the scripts write)."""
    return Path(os.environ.get("GRADLAB_RESULTS", "results"))


# ----------------------------------------------------------------------------------------- intervals
class _Iv:
    """A setting's final value: mean over seeds +- (max - min) / 2 (the papers' notation)."""

    def __init__(self, values: np.ndarray):
        v = np.asarray(values, float)
        self.mean, self.half = float(v.mean()), float((v.max() - v.min()) / 2)

    def above(self, other: _Iv) -> bool:
        return self.mean - self.half > other.mean + other.half

    def below(self, other: _Iv) -> bool:
        return self.mean + self.half < other.mean - other.half

    def __str__(self) -> str:
        return f"{self.mean:.4g} ± {self.half:.2g}"


def _final(ds, metric: str, label) -> _Iv:
    return _Iv(ds[metric].sel(estimator=label).isel(epoch=-1).values)


def _labels(ds, family: str, **hp) -> list[str]:
    """The estimator labels of ``family`` whose hyper-parameter coordinates equal ``hp``."""
    keep = ds["family"].values == family
    for k, v in hp.items():
        keep &= np.isclose(ds[k].values.astype(float), v)
    return [str(x) for x in ds["estimator"].values[keep]]


def _setting(name: str, ds) -> str:
    try:
        data = json.loads(ds.attrs.get("problem", "{}")).get("dataset", "digits")
    except (TypeError, ValueError):
        data = "?"
    data = data.get("name", "?") if isinstance(data, dict) else data
    written = f", written {ds.attrs['created']}" if "created" in ds.attrs else ""
    return f"{name}: {data}, {ds.sizes.get('seed', 1)} seed(s), {int(ds['epoch'].values[-1])} epochs{written}"


def _result(cid: str, measured: str, claimed: str, ok: bool, setting: str, method: str) -> CheckResult:
    return CheckResult(cid, "", "", method, measured, claimed, "confirmed" if ok else "refuted", setting=setting)


def _every_column(cid: str, rows: list, claimed: str, setting: str, method: str, extra: str = "") -> CheckResult:
    """A claim that must hold in every column of a table: ``rows`` of ``(holds, text)``, one per column."""
    measured = "; ".join(text for _, text in rows) + extra
    return _result(cid, measured, claimed, all(ok for ok, _ in rows), setting, method)


# ----------------------------------------------------------------------------------------- ZGR
def _vae_table(ds, table: str, setting: str) -> list[CheckResult]:
    meth = "final training negative ELBO at discrete samples, per split of the latent bits"
    cols = [str(c) for c in ds["split"].values]
    st, zgr = _labels(ds, "st", t=1.0), _labels(ds, "zgr")
    grs, rfs = _labels(ds, "gr_mc"), _labels(ds, "reinforce")
    poor, nowork, outp, gaps = [], [], [], []
    for c in cols:
        sub = ds.sel(split=c)
        z, s = _final(sub, "train_loss", zgr[0]), _final(sub, "train_loss", st[0])
        g = {lab: _final(sub, "train_loss", lab) for lab in grs}
        r = {lab: _final(sub, "train_loss", lab) for lab in rfs}
        gtext = ", ".join(f"{lab} {v}" for lab, v in g.items())
        poor.append((s.above(z) and all(s.above(v) for v in g.values()), f"{c}: ST {s}, ZGR {z}, {gtext}"))
        nowork.append((not any(z.above(v) for v in g.values()), f"{c}: ZGR {z}; {gtext}"))
        outp.append(
            (all(z.below(v) for v in r.values()), f"{c}: ZGR {z}; " + ", ".join(f"{k} {v}" for k, v in r.items()))
        )
        gaps.append(min(v.mean for v in r.values()) - z.mean)
    gap_text = f"; best RF minus ZGR per split: {', '.join(f'{g:+.2f}' for g in gaps)}"
    rf_claim = "ZGR's interval below both RF's at every split, the gap larger at the most categories than at the fewest"
    rf = _every_column(f"{table}.zgr-vs-rf", outp, rf_claim, setting, meth, gap_text)
    if not gaps[-1] > gaps[0]:  # "significantly so with more categories"
        rf.verdict = "refuted"
    return [
        _every_column(f"{table}.st-poor", poor, "ST's interval above ZGR's and GR-MC's at every split", setting, meth),
        _every_column(
            f"{table}.zgr-vs-gr-mc", nowork, "ZGR's interval nowhere entirely above a GR-MC setting's", setting, meth
        ),
        rf,
    ]


def _fig2(ds, setting: str) -> list[CheckResult]:
    grs = _labels(ds, "gr_mc")
    ivs = {lab: _final(ds, "train_loss", lab) for lab in grs}
    best = min(ivs, key=lambda lab: ivs[lab].mean)
    z = _final(ds, "train_loss", _labels(ds, "zgr")[0])
    return [
        _result(
            "fig2.zgr-regret",
            f"ZGR {z}; best GR-MC {best} {ivs[best]} (regret {z.mean - ivs[best].mean:+.3g}); all GR-MC: "
            + ", ".join(f"{lab} {v}" for lab, v in ivs.items()),
            "ZGR's interval not entirely above that of GR-MC at its best temperature",
            not z.above(ivs[best]),
            setting,
            "final training negative ELBO against the temperature",
        )
    ]


def _table3(ds, setting: str) -> list[CheckResult]:
    meth = "final validation error [%] in the deterministic mode, per bit width"
    if "valid_error" not in ds:
        ds = ds.assign(valid_error=100 * (1 - ds["valid_accuracy"]))
    st, gs1 = _labels(ds, "st", t=1.0)[0], _labels(ds, "gs_st", t=1.0)[0]
    zgr, gr01 = _labels(ds, "zgr")[0], _labels(ds, "gr_mc", t=0.1)[0]
    rfs = _labels(ds, "reinforce")
    others = [str(lab) for lab in ds["estimator"].values if str(lab) not in rfs]
    best_rows, rf_rows, zgr_rows = [], [], []
    for c in [str(c) for c in ds["bits"].values]:
        sub = ds.sel(bits=c)
        iv = {str(lab): _final(sub, "valid_error", lab) for lab in sub["estimator"].values}
        best = min(others + rfs, key=lambda lab: iv[lab].mean)
        ok = not iv[st].above(iv[best]) or not iv[gs1].above(iv[best])
        best_rows.append((ok, f"{c}: best {best} {iv[best]}, ST {iv[st]}, GS-ST(1) {iv[gs1]}"))
        worst_other = max(others, key=lambda lab: iv[lab].mean + iv[lab].half)
        rf_ok = all(iv[r].above(iv[o]) for r in rfs for o in others)
        rf_rows.append(
            (
                rf_ok,
                f"{c}: " + ", ".join(f"{r} {iv[r]}" for r in rfs) + f"; worst other {worst_other} {iv[worst_other]}",
            )
        )
        zgr_rows.append((iv[zgr].mean < iv[gr01].mean, f"{c}: ZGR {iv[zgr]}, {gr01} {iv[gr01]}"))
    return [
        _every_column(
            "table3.low-variance-best",
            best_rows,
            "ST or GS-ST(1) not separated from the best mean at every width",
            setting,
            meth,
        ),
        _every_column(
            "table3.rf-out", rf_rows, "every RF interval above every other estimator's at every width", setting, meth
        ),
        _every_column(
            "table3.zgr-beats-gr-mc",
            zgr_rows,
            "ZGR's mean below GR-MC(0.1)'s at every width (the paper's own intervals overlap)",
            setting,
            meth,
        ),
    ]


def _fig4_quantized(ds, setting: str) -> list[CheckResult]:
    from ..analysis import pareto_mask
    from ..results import one_seed

    last = one_seed(ds.isel(epoch=-1))
    last = last.isel(estimator=np.flatnonzero(np.isfinite(last["bias2"].values)))
    front = pareto_mask(last, method="upper").values
    fams = last["family"].values[front]
    members = [str(x) for x in last["estimator"].values[front]]
    ok = all(f in ("st", "st_zgr", "zgr", "reinforce") for f in fams)
    return [
        _result(
            "fig4.pareto-frontier-quantized",
            f"epoch {int(ds['epoch'].values[-1])}, upper-bound front: " + ", ".join(members),
            "only ST(t), ST-ZGR (with ZGR) and RF on the front",
            ok,
            setting,
            f"eq. 16 against {ds.attrs.get('reference', 'RF(4) samples')}; squared-bias and variance upper bounds",
        )
    ]


# ----------------------------------------------------------------------------------------- Shah et al.
def _grid(ds, metric: str, higher: bool):
    """Decoupled ST's cells as ``{(tau_f, tau_b): interval}``, the best cell and the best diagonal cell."""
    cells = {}
    for lab in _labels(ds, "decoupled_st"):
        row = ds.sel(estimator=lab)
        cells[(float(row["tau_f"]), float(row["tau_b"]))] = (lab, _final(ds, metric, lab))
    key = (lambda c: cells[c][1].mean) if higher else (lambda c: -cells[c][1].mean)
    best = max(cells, key=key)
    diagonal = [c for c in cells if c[0] == c[1]]
    return cells, best, (max(diagonal, key=key) if diagonal else None)


def _baselines(ds, metric: str) -> dict:
    return {
        str(lab): _final(ds, metric, lab)
        for lab in ds["estimator"].values
        if str(lab) not in _labels(ds, "decoupled_st")
    }


def _better(a: _Iv, b: _Iv, higher: bool) -> bool:
    return a.above(b) if higher else a.below(b)


def _off_diagonal(cid, ds, metric, higher, setting, with_baselines) -> CheckResult:
    cells, best, diag = _grid(ds, metric, higher)
    iv = cells[best][1]
    ok = best[0] < best[1] and diag is not None and _better(iv, cells[diag][1], higher)
    text = f"best cell (tau_f, tau_b) = ({best[0]:g}, {best[1]:g}) {iv}"
    if diag is not None:
        text += f"; best diagonal ({diag[0]:g}, {diag[1]:g}) {cells[diag][1]}"
    claimed = "best cell with tau_f < tau_b, its interval better than the best diagonal cell's"
    if with_baselines:
        base = _baselines(ds, metric)
        ok = ok and all(_better(iv, b, higher) for b in base.values())
        text += "; baselines: " + ", ".join(f"{k} {v}" for k, v in base.items())
        claimed = "best cell off the diagonal, better than the best diagonal cell and every baseline"
    return _result(cid, text, claimed, ok, setting, f"final validation {metric.replace('valid_', '')} per cell")


def _cae(ds, setting: str) -> list[CheckResult]:
    cells, best, _ = _grid(ds, "valid_loss", higher=False)
    base = _baselines(ds, "valid_loss")
    lab, iv = cells[best]
    ppl = {k: float(ds["code_perplexity"].sel(estimator=k).isel(epoch=-1).mean()) for k in [lab, *base]}
    return [
        _result(
            "shah.cae-lowest-loss",
            f"best decoupled cell ({best[0]:g}, {best[1]:g}) {iv}; baselines: "
            + ", ".join(f"{k} {v}" for k, v in base.items()),
            "the best decoupled cell's interval below every baseline's",
            all(iv.below(b) for b in base.values()),
            setting,
            "final validation loss",
        ),
        _result(
            "shah.cae-perplexity",
            f"code perplexity of the best decoupled cell {ppl[lab]:.2f}; baselines: "
            + ", ".join(f"{k} {ppl[k]:.2f}" for k in base),
            "decoupled >= 7.5 of 8; every baseline <= 6",
            ppl[lab] >= 7.5 and all(ppl[k] <= 6 for k in base),
            setting,
            "code perplexity over the validation split, final epoch, mean over seeds",
        ),
    ]


def _logic(ds, setting: str) -> list[CheckResult]:
    lab = _labels(ds, "decoupled_st", tau_f=0.1, tau_b=2.0)[0]
    base = _baselines(ds, "valid_accuracy")
    iv = _final(ds, "valid_accuracy", lab)
    auc = {k: float(ds["valid_accuracy"].sel(estimator=k).mean()) for k in [lab, *base]}
    ppl = {k: float(ds["gate_perplexity"].sel(estimator=k).isel(epoch=-1).mean()) for k in [lab, *base]}
    return [
        _result(
            "shah.logic-gates",
            f"decoupled (0.1, 2): final accuracy {iv}, mean over epochs {auc[lab]:.3f}; baselines: "
            + ", ".join(f"{k} {base[k]} (mean {auc[k]:.3f})" for k in base),
            "final accuracy interval above every baseline's, and a higher mean accuracy over the epochs",
            all(iv.above(b) for b in base.values()) and all(auc[lab] > auc[k] for k in base),
            setting,
            "validation accuracy of the discrete network",
        ),
        _result(
            "shah.logic-gate-balance",
            f"gate perplexity of decoupled (0.1, 2) {ppl[lab]:.2f}; baselines: "
            + ", ".join(f"{k} {ppl[k]:.2f}" for k in base),
            "decoupled's perplexity above every baseline's",
            all(ppl[lab] > ppl[k] for k in base),
            setting,
            "perplexity of the gate histogram (at most 16), final epoch, mean over seeds",
        ),
    ]


_CHECKS = {
    "zgr_table_vae.nc": lambda ds, s: _vae_table(ds, "table1", s),
    "zgr_table_hvae.nc": lambda ds, s: _vae_table(ds, "table2", s),
    "zgr_fig2.nc": _fig2,
    "zgr_table3.nc": _table3,
    "zgr_fig4_quantized/trajectory.nc": _fig4_quantized,
    "decoupled_shah_recon.nc": lambda ds, s: [
        _off_diagonal("shah.heatmap-best-off-diagonal", ds, "valid_loss", False, s, with_baselines=False)
    ],
    "decoupled_sbn.nc": lambda ds, s: [
        _off_diagonal("shah.sbn-off-diagonal", ds, "valid_accuracy", True, s, with_baselines=True)
    ],
    "decoupled_cae.nc": _cae,
    "decoupled_logic.nc": _logic,
}


def check_training(quick: bool = False, results: str | Path | None = None) -> list[CheckResult]:
    """Every training claim from the histories in ``results`` (default :func:`default_results_dir`); the same in
    quick mode (nothing is sampled here)."""
    import xarray as xr

    root = Path(results) if results is not None else default_results_dir()
    out = []
    for name, check in _CHECKS.items():
        path = root / name
        if not path.is_file():
            why = f"not checked: no {path}; `{TRAINING_FILES[name]}` writes it"
            out += [CheckResult(cid, "", "", "", why, "", "not checked") for cid, f in _USES.items() if f == name]
            continue
        with xr.open_dataset(path) as ds:
            out += check(ds.load(), _setting(name, ds))
    return out
