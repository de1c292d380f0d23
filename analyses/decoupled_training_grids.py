"""Decoupled ST's training experiments (Shah et al.; Figs. 2-5 of the v2 paper, the reconstruction and generation
grids of v1) at laptop scale: decoupled ST trained over a grid of forward and backward temperatures
(tau_f, tau_b), beside the single-temperature baselines (identity STE, softmax STE = st(t=1), ST-GS = gs_st(t)),
on the embedded digits; the final validation metric per cell, mean over seeds.

Tasks (``--task``):
- ``sbn``: SigmoidBeliefNet (2 x 64 binary units) classification accuracy (Fig. 2);
- ``cae``: CategoricalAutoencoder (4 latents x 8 classes) validation loss and code perplexity (Fig. 3);
- ``logic``: LogicGateNetwork (3 x 240 neurons) accuracy and the distribution of gates (Figs. 4-5);
- ``shah_recon``: binary autoencoder (16 binary latents) reconstruction loss (v1, reconstruction grid);
- ``shah_gen``: categorical VAE (4 variables x 8 classes) negative ELBO (v1, generation grid).

Run: python analyses/decoupled_training_grids.py --task sbn   (--quick: 2 x 2 grid, one seed, 3 epochs)
Paper scale: --config analyses/paper/decoupled_<task>.toml --data-path DIR (the task is in the file).
Output: results/decoupled_<task>.nc, figures/decoupled_<task>.png; the grid and the baselines on stdout.
"""

from __future__ import annotations

import numpy as np
from _common import FIGURES, RESULTS, dry_run, experiment, problem_settings, run_settings, study_args, tagged

TASKS = {
    # problem, metric, higher is better, learning rate, batch size
    "sbn": ({"kind": "sbn", "hidden": [64, 64]}, "valid_accuracy", True, 3e-3, 50),
    "cae": ({"kind": "cat_ae", "num_vars": 4, "num_classes": 8}, "valid_loss", False, 3e-3, 50),
    "logic": ({"kind": "logic_gates", "widths": [240, 240, 240]}, "valid_accuracy", True, 0.05, 100),
    "shah_recon": ({"kind": "cat_ae", "num_vars": 16, "num_classes": 2}, "valid_loss", False, 3e-3, 50),
    "shah_gen": ({"kind": "vae", "num_vars": 4, "num_classes": 8, "hidden": [256, 128]}, "valid_loss", False, 1e-3, 50),
}
TAU_F = [0.1, 0.3, 1.0, 3.0]
TAU_B = [0.3, 1.0, 2.0, 6.0]
BASELINES = [{"name": "identity_st"}, {"name": "st"}, {"name": "gs_st", "t": [0.3, 1.0, 3.0]}]


def main() -> None:
    ap = study_args(__doc__)
    ap.add_argument("--task", choices=sorted(TASKS), default=None, help="the task (default sbn)")
    args = ap.parse_args()
    # the task's defaults; a --config file names its task (and may set every key below)
    defaults = {"task": "sbn", "tau_f": TAU_F, "tau_b": TAU_B, "baselines": BASELINES, "seeds": 3, "epochs": 30}
    defaults.update({"lr": None, "batch_size": None, "optimizer": "adam"})
    cfg = experiment(args, "decoupled_training_grids.py", defaults)
    task = args.task or cfg["task"]
    problem, metric, higher, lr, batch = TASKS[task]
    problem = {**problem, "dtype": "float32", **problem_settings(cfg)}
    lr, batch = cfg["lr"] or lr, cfg["batch_size"] or batch
    tau_f, tau_b = (cfg["tau_f"][1:3], cfg["tau_b"][1:3]) if args.quick else (cfg["tau_f"], cfg["tau_b"])
    seeds = range(cfg["seeds"])
    epochs = 3 if args.quick and args.epochs is None else cfg["epochs"]
    grid = [{"name": "decoupled_st", "tau_f": tau_f, "tau_b": tau_b}]
    if args.dry_run:
        return dry_run([problem], grid + cfg["baselines"], cfg)
    import matplotlib.pyplot as plt

    import gradlab as gl
    from gradlab.plots import save_figure

    ds = gl.training.training_study(
        problem,
        grid + cfg["baselines"],
        seeds=seeds,
        epochs=epochs,
        lr=lr,
        batch_size=batch,
        optimizer=cfg["optimizer"],
        **run_settings(args),
        out=RESULTS / f"{tagged('decoupled_' + task, args)}.nc",
    )
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
    print(save_figure(fig, FIGURES / f"{tagged('decoupled_' + task, args)}.png"))


if __name__ == "__main__":
    main()
