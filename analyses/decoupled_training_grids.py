"""Decoupled ST's training experiments (Shah et al.; Figs. 2-5 of the v2 paper, the reconstruction and generation
grids of v1) at laptop scale: decoupled ST trained over a grid of forward and backward temperatures
(tau_f, tau_b), beside the single-temperature baselines (identity STE, softmax STE = st(t=1), ST-GS = gs_st(t)),
on the embedded digits; the final validation metric per cell, mean over seeds.

Tasks (``--task``):
- ``sbn``: SigmoidBeliefNet (2 x 64 binary units) classification accuracy (Fig. 2);
- ``cae``: CategoricalAutoencoder (4 latents x 8 classes) validation loss and code perplexity (Fig. 3);
- ``logic``: LogicGateNetwork (3 x 240 neurons) accuracy and the distribution of gates (Figs. 4-5);
- ``shah_recon``: binary autoencoder (16 binary latents) reconstruction loss (v1, reconstruction grid);
- ``shah_gen``: categorical VAE (4 variables x 8 classes, one-hot embedding as Shah et al. App. A.2) negative ELBO
  (v1, generation grid); ``--kl model`` takes the KL of the model's softmax(logits) instead of the forward
  distribution's (the paper gives no formula; gradlab.problems.vae says what each means);
- ``shah_schedules``: the reconstruction task with linear temperature schedules against fixed temperatures (v1,
  App. B).

Every setting is validated under the distribution it trained with (decoupled ST: softmax(logits / tau_f)).

Run: python analyses/decoupled_training_grids.py --task sbn   (--quick: 2 x 2 grid, one seed, 3 epochs)
Paper scale: --config analyses/paper/decoupled_<task>.toml --data-path DIR (the task is in the file).
Output: histories/digits/decoupled_<task>.nc (what `gradlab verify` reads), figures/decoupled_<task>.png; the grid
and the baselines on stdout.
"""

from __future__ import annotations

import time

import numpy as np
from _common import (
    FIGURES,
    dry_run,
    experiment,
    history_path,
    problem_settings,
    run_settings,
    stamp,
    study_args,
    tagged,
)

_GEN = {"kind": "vae", "num_vars": 4, "num_classes": 8, "hidden": [256, 128], "embedding": "onehot"}
TASKS = {
    # problem, metric, higher is better, learning rate, batch size
    "sbn": ({"kind": "sbn", "hidden": [64, 64]}, "valid_accuracy", True, 3e-3, 50),
    "cae": ({"kind": "cat_ae", "num_vars": 4, "num_classes": 8}, "valid_loss", False, 3e-3, 50),
    "logic": ({"kind": "logic_gates", "widths": [240, 240, 240]}, "valid_accuracy", True, 0.05, 100),
    "shah_recon": ({"kind": "cat_ae", "num_vars": 16, "num_classes": 2}, "valid_loss", False, 3e-3, 50),
    "shah_gen": (_GEN, "valid_loss", False, 1e-3, 50),
    "shah_schedules": ({"kind": "cat_ae", "num_vars": 16, "num_classes": 2}, "valid_loss", False, 3e-3, 50),
}
TAU_F = [0.1, 0.3, 1.0, 3.0]
TAU_B = {  # per task: the grid holds the cells its claims name (SBN: the paper's (0.1, 0.7); reconstruction: (0.3, 3))
    "sbn": [0.3, 0.7, 1.0, 2.0, 6.0],
    "shah_recon": [0.3, 1.0, 3.0, 6.0],
}
TAU_B_DEFAULT = [0.3, 1.0, 2.0, 6.0]
BASELINES = [{"name": "identity_st"}, {"name": "st"}, {"name": "gs_st", "t": [0.3, 1.0, 3.0]}]
# Shah et al. App. B: schedules of (tau_f, tau_b), linear over the run, against fixed temperatures ("fixed ...")
SCHEDULES = {
    "fixed (0.3, 3)": {"tau_f": 0.3, "tau_b": 3.0},
    "fixed (0.1, 6)": {"tau_f": 0.1, "tau_b": 6.0},
    "tau_f 1 -> 0.3, tau_b 3": {"tau_f": (1.0, 0.3), "tau_b": 3.0},
    "tau_f 0.3, tau_b 1 -> 3": {"tau_f": 0.3, "tau_b": (1.0, 3.0)},
    "tau_f 1 -> 0.3, tau_b 1 -> 3": {"tau_f": (1.0, 0.3), "tau_b": (1.0, 3.0)},
    "tau_f 0.3 -> 0.03, tau_b 3": {"tau_f": (0.3, 0.03), "tau_b": 3.0},
}


# the papers' networks (analyses/paper/*.toml) for the ladder's largest scale on mnist5k
PAPER_NETWORKS = {
    "sbn": {"hidden": [200, 200]},
    "cae": {"hidden": [512, 256]},
    "logic": {"widths": [1000, 1000, 1000]},
    "shah_recon": {"num_vars": 64, "hidden": [512, 256]},
    "shah_schedules": {"num_vars": 64, "hidden": [512, 256]},
    "shah_gen": {"hidden": [512, 256]},
}


def scale_settings(task: str) -> dict:
    """The ladder of scales (--scale) for a task: mnist5k with the digits' networks (48 bits: the same grids on real
    28x28 images), then the papers' networks for 20 epochs (the papers: 100 to 160)."""
    return {
        "mnist5k-48": {"dataset": "mnist5k"},
        "mnist5k-paper": {"dataset": "mnist5k", "problem": PAPER_NETWORKS[task], "epochs": 20},
    }


def main() -> None:
    ap = study_args(__doc__)
    ap.add_argument("--task", choices=sorted(TASKS), default=None, help="the task (default sbn)")
    ap.add_argument("--kl", choices=["forward", "model"], default="forward", help="shah_gen: the KL's distribution")
    args = ap.parse_args()
    started = time.perf_counter()
    # the task's defaults; a --config file names its task (and may set every key below)
    defaults = {"task": "sbn", "tau_f": TAU_F, "tau_b": None, "baselines": BASELINES, "seeds": 3, "epochs": 30}
    defaults.update({"lr": None, "batch_size": None, "optimizer": "adam"})
    task = args.task or defaults["task"]
    cfg = experiment(args, "decoupled_training_grids.py", defaults, scale_settings(task))
    task = args.task or cfg["task"]
    problem, metric, higher, lr, batch = TASKS[task]
    problem = {**problem, "dtype": "float32", **problem_settings(cfg)}
    stem = f"decoupled_{task}"
    if args.kl != "forward":
        if problem["kind"] != "vae":
            raise SystemExit(f"decoupled_training_grids.py: error: --kl is for the VAE task shah_gen, not {task}")
        problem["kl"], stem = args.kl, f"{stem}_kl_{args.kl}"
    lr, batch = cfg["lr"] or lr, cfg["batch_size"] or batch
    tau_b = cfg["tau_b"] or TAU_B.get(task, TAU_B_DEFAULT)
    tau_f, tau_b = (cfg["tau_f"][1:3], tau_b[1:3]) if args.quick else (cfg["tau_f"], tau_b)
    seeds = range(cfg["seeds"])
    epochs = 3 if args.quick and args.epochs is None else cfg["epochs"]
    grid = [{"name": "decoupled_st", "tau_f": tau_f, "tau_b": tau_b}]
    settings = dict(epochs=epochs, lr=lr, batch_size=batch, optimizer=cfg["optimizer"], **run_settings(args))
    if task == "shah_schedules":
        return schedules_study(problem, seeds, settings, args, started)
    if args.dry_run:
        return dry_run([problem], grid + cfg["baselines"], cfg)
    import matplotlib.pyplot as plt

    import gradlab as gl
    from gradlab.plots import save_figure

    ds = gl.training.training_study(problem, grid + cfg["baselines"], seeds=seeds, **settings)
    ds = stamp(ds, started, args)
    print(gl.results.write_netcdf(ds, history_path(stem, args)))
    final = ds[metric].isel(epoch=-1).mean("seed")

    def label(f, b):
        return gl.estimator("decoupled_st", tau_f=f, tau_b=b).label

    values = np.array([[float(final.sel(estimator=label(f, b))) for b in tau_b] for f in tau_f])
    print(f"{task}: final {metric}, mean over {len(seeds)} seed(s); rows tau_f, columns tau_b")
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
    for extra in ("gate_perplexity", "code_perplexity"):
        if extra in ds:
            p = ds[extra].isel(epoch=-1).mean("seed")
            print(f"{extra}: " + ", ".join(f"{e}={float(p.sel(estimator=e)):.2f}" for e in ds.estimator.values))
    if task == "logic":  # Fig. 5: the gates of seed 0's runs (training is deterministic: the study's runs)
        best_est = gl.estimator("decoupled_st", tau_f=tau_f[best[0]], tau_b=tau_b[best[1]])
        shown = [best_est, *gl.training.estimator_settings(cfg["baselines"])]
        model = gl.problems.build_problem({**problem, "init_seed": 0})
        fig, ax = plt.subplots(figsize=(8, 3.5))
        width = 0.8 / len(shown)
        for i, est in enumerate(shown):
            run = gl.train(
                model, est, seed=0, epochs=epochs, lr=lr, batch_size=batch, optimizer=cfg["optimizer"], evaluate=False
            )
            counts, ppl = model.with_params(run.params).gate_usage()
            share = (counts / counts.sum()).numpy()
            ax.bar(np.arange(16) + i * width, share, width, label=f"{est.label} (perplexity {ppl:.2f})")
        ax.set(xticks=np.arange(16) + 0.4, ylabel="share of neurons")
        ax.set_xticklabels(gl.problems.logic_gates.GATE_NAMES, rotation=60, ha="right", fontsize=7)
        ax.legend(fontsize=6)
        print(save_figure(fig, FIGURES / f"{tagged('decoupled_logic_gates', args)}.png"))
    fig, ax = plt.subplots(figsize=(5, 4))
    im = ax.imshow(values, cmap="viridis" if higher else "viridis_r")
    ax.set(xticks=range(len(tau_b)), xticklabels=[f"{b:g}" for b in tau_b], xlabel="tau_b (backward)")
    ax.set(yticks=range(len(tau_f)), yticklabels=[f"{f:g}" for f in tau_f], ylabel="tau_f (forward)")
    for (i, j), v in np.ndenumerate(values):
        ax.text(j, i, f"{v:.3g}", ha="center", va="center", color="w", fontsize=8)
    fig.colorbar(im, label=metric)
    ax.set_title(f"decoupled ST, {task}: final {metric}")
    print(save_figure(fig, FIGURES / f"{tagged(stem, args)}.png"))


def schedules_study(problem: dict, seeds, settings: dict, args, started: float) -> None:
    """Shah et al. App. B: decoupled ST with each schedule of SCHEDULES on the reconstruction task, one training
    study each, gathered along a ``schedule`` axis; the final validation loss per schedule on stdout."""
    import xarray as xr

    import gradlab as gl

    plans = dict(list(SCHEDULES.items())[:3]) if args.quick else SCHEDULES
    if args.dry_run:
        return dry_run(
            [problem],
            [{"name": "decoupled_st"}],
            {"seeds": len(seeds), "epochs": settings["epochs"]},
            len(plans) * len(seeds),
        )
    parts = []
    for name, plan in plans.items():
        start = {k: (v[0] if isinstance(v, tuple) else v) for k, v in plan.items()}
        sched = [{"field": k, "start": v[0], "end": v[1]} for k, v in plan.items() if isinstance(v, tuple)]
        ds = gl.training.training_study(
            problem,
            [{"name": "decoupled_st", **start}],
            seeds=seeds,
            **settings,
            **({"temperature_schedule": sched} if sched else {}),
        )
        parts.append(ds.squeeze("estimator", drop=True).expand_dims(schedule=[name]))
    ds = xr.concat(parts, dim="schedule", combine_attrs="drop_conflicts", data_vars="all")
    ds = stamp(ds, started, args)
    print(gl.results.write_netcdf(ds, history_path("decoupled_shah_schedules", args)))
    final = ds["valid_loss"].isel(epoch=-1)
    for name in ds["schedule"].values:
        v = final.sel(schedule=name)
        print(f"{name}: {float(v.mean()):.3f} ± {float((v.max() - v.min()) / 2):.3f}")


if __name__ == "__main__":
    main()
