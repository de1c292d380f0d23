"""Decoupled ST's training experiments (Shah et al.; Figs. 2-5 of the later version, the reconstruction and
generation grids of the first): decoupled ST trained over a grid of forward and backward temperatures
(tau_f, tau_b), beside the single-temperature baselines (identity STE, softmax STE = st(t=1), ST-GS = gs_st(t)); the
final validation metric per cell, mean over seeds. Every setting is validated under the distribution it trained with
(decoupled ST: softmax(logits / tau_f)).

Tasks (``--task``), each a shipped study (``gradlab study --show NAME`` prints it):
- ``sbn`` (decoupled-sbn): SigmoidBeliefNet (2 x 64 binary units) classification accuracy (Fig. 2);
- ``cae`` (decoupled-cae): CategoricalAutoencoder (4 latents x 8 classes) validation loss, code perplexity (Fig. 3);
- ``logic`` (decoupled-logic): LogicGateNetwork (3 x 240 neurons) accuracy and the distribution of gates (Figs. 4-5);
- ``shah_recon`` (shah-recon): binary autoencoder (16 binary latents) reconstruction loss (first version, Fig. 2);
- ``shah_gen`` (shah-gen, or shah-gen-kl-model with ``--kl model``): categorical VAE (4 x 8, one-hot) negative
  ELBO (first version, Figs. 3-4); the paper gives no formula for the KL (gradlab.problems.vae says what each means);
- ``shah_schedules`` (shah-schedules): the reconstruction task with linear temperature schedules (first version,
  App. B).

Run: python analyses/decoupled_training_grids.py --task sbn   (--quick: one seed, 3 epochs; --scale: the ladder)
Output: histories/<scale>/decoupled_<task>.nc (what `gradlab verify` reads), figures/decoupled_<task>.png; the
grid and the baselines on stdout.
"""

from __future__ import annotations

import numpy as np
from _common import FIGURES, run, study, study_args, tagged

TASKS = {  # task -> (study, metric, higher is better)
    "sbn": ("decoupled-sbn", "valid_accuracy", True),
    "cae": ("decoupled-cae", "valid_loss", False),
    "logic": ("decoupled-logic", "valid_accuracy", True),
    "shah_recon": ("shah-recon", "valid_loss", False),
    "shah_gen": ("shah-gen", "valid_loss", False),
    "shah_schedules": ("shah-schedules", "valid_loss", False),
}


def main() -> None:
    ap = study_args(__doc__)
    ap.add_argument("--task", choices=sorted(TASKS), default="sbn", help="the task (default sbn)")
    ap.add_argument("--kl", choices=["forward", "model"], default="forward", help="shah_gen: the KL's distribution")
    args = ap.parse_args()
    name, metric, higher = TASKS[args.task]
    if args.kl != "forward":
        if args.task != "shah_gen":
            raise SystemExit(f"decoupled_training_grids.py: error: --kl is for the VAE task shah_gen, not {args.task}")
        name = "shah-gen-kl-model"
    cfg = study(name, args, quick_estimators=None)
    if args.quick:  # a 2 x 2 grid beside the baselines
        grid = dict(cfg.estimators[0])
        if grid["name"] == "decoupled_st" and isinstance(grid["tau_f"], list):
            cfg.estimators[0] = {**grid, "tau_f": grid["tau_f"][1:3], "tau_b": grid["tau_b"][1:3]}
    ds = run(cfg, args)
    if ds is None:
        return
    stem = cfg.out.stem.replace("_quick", "")
    if args.task == "shah_schedules":
        final = ds["valid_loss"].isel(epoch=-1)
        for s in ds["schedule"].values:
            v = final.sel(schedule=s)
            print(f"{s}: {float(v.mean()):.3f} ± {float((v.max() - v.min()) / 2):.3f}")
        return
    report(ds, metric, higher, args)
    if args.task == "logic":
        gate_figure(ds, cfg, args)
    grid_figure(ds, metric, higher, f"{tagged(stem, args)}.png", args.task)


def _cells(ds):
    keep = ds["family"].values == "decoupled_st"
    tf, tb = np.unique(ds["tau_f"].values[keep]), np.unique(ds["tau_b"].values[keep])
    return keep, tf, tb


def _grid(ds, metric):
    final = ds[metric].isel(epoch=-1).mean("seed")
    keep, tf, tb = _cells(ds)
    values = np.full((len(tf), len(tb)), np.nan)
    for i in np.flatnonzero(keep):
        values[np.searchsorted(tf, ds["tau_f"].values[i]), np.searchsorted(tb, ds["tau_b"].values[i])] = float(
            final.isel(estimator=i)
        )
    return values, tf, tb, final


def report(ds, metric: str, higher: bool, args) -> None:
    values, tau_f, tau_b, final = _grid(ds, metric)
    print(f"{args.task}: final {metric}, mean over {ds.sizes['seed']} seed(s); rows tau_f, columns tau_b")
    print("tau_f \\ tau_b " + " ".join(f"{b:>8g}" for b in tau_b))
    for f, row in zip(tau_f, values, strict=True):
        print(f"{f:>13g} " + " ".join(f"{v:8.4f}" for v in row))
    best = np.unravel_index(np.nanargmax(values) if higher else np.nanargmin(values), values.shape)
    print(f"best decoupled cell: tau_f={tau_f[best[0]]:g}, tau_b={tau_b[best[1]]:g}: {values[best]:.4f}")
    diagonal = [values[i, j] for i, f in enumerate(tau_f) for j, b in enumerate(tau_b) if f == b]
    if diagonal:
        print(f"best on the diagonal tau_f = tau_b: {(max if higher else min)(diagonal):.4f}")
    for est in ds.estimator.values:
        if not str(est).startswith("decoupled_st"):
            print(f"baseline {est}: {float(final.sel(estimator=est)):.4f}")
    for extra in ("gate_perplexity", "code_perplexity", "top_gate_probability", "valid_neg_elbo"):
        if extra in ds:
            p = ds[extra].isel(epoch=-1).mean("seed")
            print(f"{extra}: " + ", ".join(f"{e}={float(p.sel(estimator=e)):.3g}" for e in ds.estimator.values))


def grid_figure(ds, metric: str, higher: bool, name: str, task: str) -> None:
    from gradlab.viz.history_figures import tau_grid_figure
    from gradlab.viz.plots import save_figure

    fig = tau_grid_figure(ds, metric, f"decoupled ST, {task}: final {metric}", higher=higher)
    print(save_figure(fig, FIGURES / name))


def gate_figure(ds, cfg, args) -> None:
    """Fig. 5's view: the gate histograms of seed 0's runs of the best decoupled cell and of the baselines (training
    is deterministic: these are the study's own runs, trained again to read their gates)."""
    import matplotlib.pyplot as plt

    import gradlab as gl
    from gradlab.viz.plots import save_figure

    values, tau_f, tau_b, _ = _grid(ds, "valid_accuracy")
    best = np.unravel_index(np.nanargmax(values), values.shape)
    shown = [gl.estimator("decoupled_st", tau_f=tau_f[best[0]], tau_b=tau_b[best[1]])]
    shown += [e for e in cfg.estimator_grid() if e.name != "decoupled_st"]
    model = gl.problems.build_problem({**cfg.problem, "init_seed": 0})
    fig, ax = plt.subplots(figsize=(8, 3.5))
    width = 0.8 / len(shown)
    for i, est in enumerate(shown):
        trained = gl.train(model, est, seed=0, **{**cfg.train, "evaluate": False})
        counts, ppl = model.with_params(trained.params).gate_usage()
        share = (counts / counts.sum()).numpy()
        ax.bar(np.arange(16) + i * width, share, width, label=f"{est.label} (perplexity {ppl:.2f})")
    ax.set(xticks=np.arange(16) + 0.4, ylabel="share of neurons")
    ax.set_xticklabels(gl.problems.logic_gates.GATE_NAMES, rotation=60, ha="right", fontsize=7)
    ax.legend(fontsize=6)
    print(save_figure(fig, FIGURES / f"{tagged('decoupled_logic_gates', args)}.png"))


if __name__ == "__main__":
    main()
