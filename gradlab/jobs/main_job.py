"""``gradlab run``: the main job, a complete study on the embedded digits, or (``--data mnist5k``) on 5,000 real MNIST
images at the ZGR paper's Fig. 1 / B.2 set-up.

1. Train (or reuse) a categorical VAE snapshot with RF(4) (ZGR App. B.4 uses a snapshot after 10 epochs of
   RF(4)); bit embedding, the non-linear network (``D``-512-256); on the digits 4 variables x 8 categories
   (enumerable), on mnist5k the paper's 16 x 16 (784-512-256, bias against 10^4 RF(4) reference samples).
2. Measure squared bias and variance of every estimator family the papers compare — GS, GS-ST and GR-MC
   (m = 10, 100) over temperature, ST(t), ST-ZGR(alpha), ZGR, RF(2), RF(4), ReinMax and a (tau_f, tau_b) grid
   of decoupled ST — and the peers' estimators that fit (gapped ST, Gumbel-Sparsemax and Gumbel-Entmax over
   temperature, REBAR, ARSM, RB-SF(1), the unordered set estimator with k = 2, 4), against the exact gradient
   when the latent space is enumerable (4,096 configurations here), else against RF(4) samples (eq. 16). The
   sweep is resumable: its cells live beside the netCDF.
3. Write the netCDF, the figures (bias and variance vs temperature, the Pareto diagram, the decoupled grid)
   and print the Pareto-optimal settings.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from gradlab.core import names as N
from gradlab.core.results import one_seed

__all__ = ["RunSettings", "run_main_job", "run_config", "estimator_families", "peer_estimators"]


@dataclasses.dataclass
class RunSettings:
    out: Path = Path("results")
    figures: Path | None = None  # default: out / "figures" (outside the repository's tracked figures/)
    quick: bool = False
    num_vars: int | None = None  # default: 4 on the digits, 16 on mnist5k (the paper's Fig. 1 / B.2)
    num_classes: int | None = None  # default: 8 on the digits, 16 on mnist5k
    data: str = "digits"  # digits or mnist5k (embedded); mnist, fashion_mnist, omniglot with data_path
    data_path: str | None = None
    epochs: int | None = None
    n: int | None = None
    n_jobs: int = 1
    seed: int = 0
    progress: bool = True
    reference: str = "auto"  # "exact", "samples" (RF(4), reference_n of them) or "auto" (exact if enumerable)
    reference_n: int = 10_000
    overwrite: bool = False  # replace an earlier result of other settings (another n, ...) in out
    device: str = "cpu"  # the snapshot's training and the sweep ("cuda" on a GPU)

    def resolved(self) -> RunSettings:
        """Defaults filled in and every setting checked (before any training or sampling)."""
        from gradlab.core import checks as _checks
        from gradlab.problems.data import DATASETS, EMBEDDED

        s = dataclasses.replace(self)
        s.out = Path(s.out)
        s.figures = s.out / "figures" if s.figures is None else Path(s.figures)
        _checks.choice("run", "data", s.data, DATASETS)
        if s.data not in EMBEDDED and not s.data_path:
            raise ValueError(f"run: data {s.data!r} needs its files: --data-path (digits and mnist5k are built in)")
        large = s.data != "digits"
        s.num_vars = (16 if large else 4) if s.num_vars is None else s.num_vars
        s.num_classes = (16 if large else 8) if s.num_classes is None else s.num_classes
        _checks.choice("run", "reference", s.reference, REFERENCES)
        _checks.integer("run", "reference_n", s.reference_n, 2)
        configurations = s.num_classes**s.num_vars
        if s.reference == "auto":
            s.reference = "exact" if configurations <= MAX_EXACT else "samples"
        if s.reference == "exact" and configurations > MAX_EXACT:
            raise ValueError(
                f"run: reference='exact' needs an enumerable latent space; {s.num_classes}^{s.num_vars} = "
                f"{configurations:,} configurations is above {MAX_EXACT:,} (use --reference samples)"
            )
        if s.epochs is None:
            s.epochs = 3 if s.quick else 10
        if s.n is None:
            s.n = (100 if large else 200) if s.quick else 1000
        if s.quick and large and s.reference_n == 10_000:
            s.reference_n = 2000  # the quick run's reference: fewer samples, wider intervals
        _checks.integer("run", "n", s.n, 2)
        _checks.integer("run", "epochs", s.epochs, 1)
        _checks.integer("run", "n_jobs", s.n_jobs, 1)
        _checks.integer("run", "num_vars", s.num_vars, 1)
        _checks.integer("run", "num_classes", s.num_classes, 2)
        s.device = _checks.device("run", s.device)
        return s


REFERENCES = ("auto", "exact", "samples")
MAX_EXACT = 1 << 16  # configurations the main job enumerates (4,096 by default)


def estimator_families(
    quick: bool = False, n: int = 1000, decoupled: bool = True, own_targets: bool = True
) -> list[dict]:
    """The ``[[estimators]]`` tables of every family the papers compare: GS, GS-ST, GR-MC (m = 10, 100; the
    latter with n / 2 samples) over temperature, ST(t), ST(2)-ZGR(alpha), ZGR, RF(2), RF(4), ReinMax(1) and a
    (tau_f, tau_b) grid of decoupled ST (shared by ``gradlab run`` and the analysis scripts). ``own_targets``
    False keeps decoupled ST at tau_f = 1 (with tau_f != 1 it estimates another target, which only an exact
    reference can measure)."""
    temps = {"logspace": [0.01, 2.0, 3 if quick else 6]}
    out = [
        {"name": "gs", "t": temps},
        {"name": "gs_st", "t": temps},
        {"name": "gr_mc", "t": temps, "m": 10},
        {"name": "gr_mc", "t": temps, "m": 100, "n": max(50, n // 2)},
        {"name": "st", "t": {"logspace": [1.0, 8.0, 2 if quick else 4]}},
        {"name": "st_zgr", "t": 2.0, "alpha": {"linspace": [0.25, 0.75, 2 if quick else 3]}},
        {"name": "zgr"},
        {"name": "reinforce", "m": [2, 4]},
        {"name": "reinmax", "t": 1.0},
    ]
    if decoupled:
        grid = [0.5, 2.0] if quick else [0.5, 1.0, 2.0]
        out.append({"name": "decoupled_st", "tau_f": grid if own_targets else [1.0], "tau_b": grid})
    return out


ARSM_MAX_EVALUATIONS = 200  # ARSM evaluates the loss at up to V K (K - 1) / 2 + 1 pseudo actions per sample


def peer_estimators(quick: bool = False, num_vars: int = 4, num_classes: int = 8) -> list[dict]:
    """The ``[[estimators]]`` tables of the peers' estimators that fit the main job (issue 13): gapped ST, the
    sparse relaxations (Gumbel-Sparsemax, Gumbel-Entmax) over temperature, and the unbiased REBAR, ARSM, the
    Rao-Blackwellized score function and the unordered set estimator. Not RELAX (fitting its control variate on
    the VAE costs minutes; ``analyses/estimator_table.py`` measures it), not the binary-only ARM, DisARM and
    Hard Concrete, and not ARSM where it would evaluate the loss more than ``ARSM_MAX_EVALUATIONS`` times per sample
    (16 x 16: up to 1,921)."""
    if quick:
        return [{"name": "gapped_st"}, {"name": "rebar"}, {"name": "unordered_set", "k": 2}]
    temps = {"logspace": [0.01, 2.0, 6]}
    arsm = num_vars * num_classes * (num_classes - 1) // 2 + 1 <= ARSM_MAX_EVALUATIONS
    return [
        {"name": "gapped_st"},
        {"name": "gs_sparsemax", "t": temps},
        {"name": "gs_entmax", "t": temps},
        {"name": "rebar"},
        *([{"name": "arsm"}] if arsm else []),
        {"name": "rb_reinforce", "k": 1},
        {"name": "unordered_set", "k": [2, 4]},
    ]


def run_tag(s: RunSettings) -> str:
    """The name of the run's outputs: ``run`` on the digits, ``run_<data>`` on another data set; ``_quick``."""
    return ("run" if s.data == "digits" else f"run_{s.data}") + ("_quick" if s.quick else "")


def run_config(s: RunSettings, snapshot: Path) -> dict:
    """The study as a sweep configuration (see :mod:`gradlab.sweep`)."""
    quick = s.quick
    exact = s.reference == "exact"
    estimators = estimator_families(quick, s.n, own_targets=exact) + peer_estimators(quick, s.num_vars, s.num_classes)
    data = {"dataset": s.data, **({"data_path": str(s.data_path)} if s.data_path else {})}
    return {
        "name": "gradlab-" + run_tag(s).replace("_", "-"),
        "seed": s.seed,
        "out": str((s.out / f"{run_tag(s)}.nc").resolve()),
        "problem": {
            "kind": "vae",
            **data,
            "num_vars": s.num_vars,
            "num_classes": s.num_classes,
            "embedding": "bits",
            "encoder": "nonlinear",
            "batch_size": 200,
            "snapshot": str(snapshot.resolve()),
            "dtype": "float32",
            **({"device": s.device} if s.device != "cpu" else {}),
        },
        "reference": {"kind": "exact"}
        if exact
        else {"kind": "estimator", "name": "reinforce", "m": 4, "n": s.reference_n},
        "sampling": {"n": s.n, "seeds": [0], "wrt": "all", "bootstrap": 50 if quick else 100},
        "estimators": estimators,
        "run": {"n_jobs": s.n_jobs, "backend": "loky"},
    }


def snapshot_dir(s: RunSettings) -> Path:
    """The folder of the run's RF(4) snapshot (its data set, sizes and seed in the name)."""
    data = "" if s.data == "digits" else f"{s.data}_"
    return s.out / "snapshots" / f"rf4_{data}v{s.num_vars}_k{s.num_classes}_seed{s.seed}"


def ensure_snapshot(s: RunSettings) -> Path:
    """The RF(4) snapshot (trained once, then reused; :func:`gradlab.training.rf4_snapshot`)."""
    from gradlab.problems.data import load_dataset
    from gradlab.training import rf4_snapshot

    return rf4_snapshot(
        snapshot_dir(s),
        s.epochs,
        data=load_dataset(s.data, s.data_path),
        num_vars=s.num_vars,
        num_classes=s.num_classes,
        seed=s.seed,
        progress=s.progress,
        device=s.device,
    )


def same_target(sub) -> np.ndarray:
    """Estimators of the model's objective (the ``target`` coordinate): all but decoupled_st with tau_f != 1,
    whose target is the objective under softmax(logits / tau_f); only these are compared for the frontier."""
    from gradlab.analysis.pareto import model_target_mask

    return model_target_mask(sub)


def pareto_of(sub, method: str = "auto", objectives=(N.BIAS2, N.VARIANCE)) -> np.ndarray:
    from gradlab.analysis.pareto import pareto_mask

    return pareto_mask(sub, objectives, method=method).values


TABLE_NOTES = (
    "bias2: unbiased estimate of the average squared bias (ZGR eq. 16); a negative value means the bias is "
    "below the sampling noise.\n"
    "[lo, hi]: 95 % interval (score-type, gradlab.analysis.intervals); 0 = the interval contains zero "
    "(consistent with unbiased).\n"
    "*: Pareto-optimal on the upper confidence bounds of (bias2, variance); ~: not dominated with confidence "
    "(may be optimal); (own target): measured against its own target, not compared."
)


def summary_table(ds) -> str:
    sub = one_seed(ds)
    b, v = sub[N.BIAS2].values, sub[N.VARIANCE].values
    has_iv = N.BIAS2 + N.LO in sub
    front = pareto_of(sub)
    maybe = pareto_of(sub, "confident") if has_iv else front
    same = same_target(sub)
    lo = sub[N.BIAS2 + N.LO].values if has_iv else np.full(b.shape, np.nan)
    hi = sub[N.BIAS2 + N.HI].values if has_iv else np.full(b.shape, np.nan)
    sps = sub[N.SECONDS_PER_SAMPLE].values if N.SECONDS_PER_SAMPLE in sub else np.full(b.shape, np.nan)
    order = np.argsort(v)
    width = max(44, *(len(str(x)) for x in sub[N.ESTIMATOR].values))
    head = f"{'estimator':<{width}} {'bias2':>10} {'[lo, hi] (95 %)':>23} {'variance':>10} {'mse':>10} {'ms/sample':>9}"
    lines = [head + "  front", "-" * (len(head) + 7)]
    for i in order:
        if not same[i]:
            flag = "(own target)"
        else:
            flag = ("*" if front[i] else ("~" if maybe[i] else "")) + (" 0" if has_iv and lo[i] <= 0 else "")
        lines.append(
            f"{sub[N.ESTIMATOR].values[i]:<{width}} {b[i]:>10.2e} {f'[{lo[i]:.1e}, {hi[i]:.1e}]':>23} {v[i]:>10.3e} "
            f"{b[i] + v[i]:>10.3e} {1e3 * sps[i]:>9.3f}  {flag}"
        )
    return "\n".join(lines + ["", TABLE_NOTES])


def run_main_job(settings: RunSettings | None = None) -> dict:
    """Run the study; returns paths and timings (and prints the summary)."""
    from gradlab.sweep import load_config, run_sweep
    from gradlab.sweep.execute import check_out
    from gradlab.training.vae import snapshot_paths
    from gradlab.viz.figures import result_figures

    s = (settings or RunSettings()).resolved()
    t0 = time.perf_counter()
    cfg = load_config(run_config(s, snapshot_paths(snapshot_dir(s), s.epochs)[0]))
    check_out(cfg, s.overwrite)  # before any training: an earlier result of other settings is not replaced silently
    snapshot = ensure_snapshot(s)
    t_train = time.perf_counter() - t0
    ds = run_sweep(cfg, progress=s.progress, overwrite=s.overwrite)
    sub = one_seed(ds)
    figs = result_figures(ds, s.figures, run_tag(s))
    print(summary_table(ds))
    names = sub[N.ESTIMATOR].values
    best = ", ".join(str(x) for x in names[pareto_of(sub)])
    lines = [f"\nPareto-optimal (upper 95 % bounds of squared bias and variance): {best}"]
    lines.append("Not dominated with confidence: " + ", ".join(str(x) for x in names[pareto_of(sub, "confident")]))
    lines.append("Plain frontier of the point estimates: " + ", ".join(str(x) for x in names[pareto_of(sub, "plain")]))
    if N.SECONDS_PER_SAMPLE in sub:
        cost = pareto_of(sub, objectives=(N.BIAS2, N.VARIANCE, N.SECONDS_PER_SAMPLE))
        lines.append("Pareto-optimal in (squared bias, variance, seconds per sample): " + ", ".join(names[cost]))
    print("\n".join(lines))
    seconds = time.perf_counter() - t0
    print(f"results: {cfg.out}; figures: {', '.join(str(f) for f in figs)}; {seconds:.0f} s (training {t_train:.0f} s)")
    return {"netcdf": cfg.out, "figures": figs, "seconds": seconds, "pareto": best, "snapshot": snapshot}
