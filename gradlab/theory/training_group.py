"""The ``training`` check group: the papers' claims about training, measured on the histories that the training-study
scripts in ``analyses/`` write, one folder per scale (``histories/<scale>/*.nc``; the repository commits them, so
a fresh clone checks every training claim without training; ``gradlab verify --results DIR`` names another folder).

Training takes minutes to hours, so ``gradlab verify`` does not train: it reads what the scripts measured. Every
claim is checked at every scale whose folder holds its files (the verdict says no more than that scale: data,
latent size, network, epochs); where no folder holds them, it is ``not checked``, with the command that writes the
file. The report says which scale, file, data set, seeds and epochs each verdict rests on.

Criteria (fixed from the papers' words and notation; the papers report the mean over seeds and +-(max - min)/2):

* "A is better than B" (outperforms, higher final accuracy, lowest loss): A's interval mean +- (max - min)/2 over
  seeds lies entirely on the better side of B's (the intervals are separated);
* "A is no worse than B" (no worse, insignificant regret): A's interval is not separated from B's on the worse side;
* "prominently ST and GS-ST(1)" among the best: at every width one of the two is not separated from the best mean;
* "outperforms" where the paper's own numbers overlap (Table 3's ZGR against GR-MC(0.1)): the lower mean;
* a Pareto front "represented by" families: every member of the upper-bound front belongs to them (as the VAE's
  ``fig4.pareto-frontier``);
* "near-maximum utilization" of 8 codes: perplexity >= 7.5; "severely underutilize": perplexity <= 6;
* "faster convergence": a higher validation accuracy averaged over the epochs (the area under the curve);
* "consistent convergence across all seeds, whereas baselines fail to converge reliably": the best cell's range over
  seeds below every baseline's;
* "consistent with" / "roughly similar" rankings: Spearman's rho at least 0.8 / 0.7 over the estimator settings;
* "several orders larger": at least 100 times;
* "plateaued when tau_f was 0.3 and tau_b reached 3": no cell beyond it better (separated), and it better than the
  cells before it on either axis;
* a verdict is ``inconclusive`` when the measurement cannot decide the claim, with the reason (a squared-bias
  interval entirely below zero: the shared reference's noise; a comparison of gate histograms with networks whose
  gates never moved from their random initialisation).

Claims quantified over the columns of a table (splits of the latent bits, bit widths) must hold in every column;
the measured text lists each column.
"""

from __future__ import annotations

import os
from pathlib import Path

from gradlab.theory import training_shah, training_zgr  # (their checks register themselves)
from gradlab.theory.core import CheckResult, check_group
from gradlab.theory.histories import TRAINING_CHECKS, TRAINING_FILES, _Iv, _setting
from gradlab.theory.training_shah import _cae, _logic, _off_diagonal
from gradlab.theory.training_zgr import _table3, _vae_table

__all__ = ["check_training", "TRAINING_FILES", "default_results_dir", "histories_scales", "SCALES"]

# the scales the repository's histories are measured at, smallest first (a folder of histories each)
SCALES = {
    "digits": "embedded 8x8 digits, 12 latent bits in ZGR's VAEs, Shah et al.'s models as in their text",
    "mnist5k-48": "mnist5k (28x28, 4,500 training images); 48 latent bits in ZGR's VAEs, Shah et al.'s models as on "
    "the digits",
    "mnist5k-paper": "mnist5k at the papers' sizes: 192 latent bits per layer, the papers' networks",
}
_USES = {cid: check.files for check in TRAINING_CHECKS for cid in check.claims}  # claim id -> files it reads


def default_results_dir() -> Path:
    """``$GRADLAB_RESULTS``, else ``histories`` in the current folder, else the repository's ``histories`` beside
    the package (an editable install or a clone)."""
    if os.environ.get("GRADLAB_RESULTS"):
        return Path(os.environ["GRADLAB_RESULTS"])
    here = Path("histories")
    if here.is_dir():
        return here
    repo = Path(__file__).resolve().parents[2] / "histories"
    return repo if repo.is_dir() else here


def histories_scales(root: str | Path) -> list[tuple[str, Path]]:
    """``(scale, folder)`` for every folder of histories under ``root`` (known scales first, smallest first), or
    ``[("", root)]`` when ``root`` holds the files itself."""
    root = Path(root)
    if any((root / name).is_file() for name in TRAINING_FILES):
        return [("", root)]
    found = [d for d in sorted(root.iterdir()) if d.is_dir()] if root.is_dir() else []
    found = [d for d in found if any((d / name).is_file() for name in TRAINING_FILES)]
    order = list(SCALES)
    found.sort(key=lambda d: (order.index(d.name) if d.name in order else len(order), d.name))
    return [(d.name, d) for d in found]


@check_group("training")
def check_training(quick: bool = False, results: str | Path | None = None) -> list[CheckResult]:
    """Every training claim at every scale with histories under ``results`` (default :func:`default_results_dir`);
    the same in quick mode (nothing is sampled here)."""
    import xarray as xr

    root = Path(results) if results is not None else default_results_dir()
    scales = histories_scales(root)
    out = []
    for check in TRAINING_CHECKS:
        ran = False
        for scale, folder in scales:
            paths = [folder / name for name in check.files]
            if not all(p.is_file() for p in paths):
                continue
            data = {}
            for name, path in zip(check.files, paths, strict=True):
                with xr.open_dataset(path) as ds:
                    data[name] = ds.load()
            setting = "; ".join(_setting(name, ds) for name, ds in data.items())
            results_here = check.fn(data, f"scale {scale}: {setting}" if scale else setting)
            for r in results_here:
                r.scale = scale
            out += results_here
            ran = True
        if not ran:
            missing = sorted({n for n in check.files for _, f in scales or [("", root)] if not (f / n).is_file()})
            missing = missing or list(check.files)
            why = "; ".join(f"no {root / n}: `{TRAINING_FILES[n]}` writes it" for n in missing)
            out += [CheckResult(cid, "", "", "", f"not checked: {why}", "", "not checked") for cid in check.claims]
    return out


__all__ += ["_Iv", "_vae_table", "_table3", "_off_diagonal", "_cae", "_logic", "_USES", "training_shah", "training_zgr"]
