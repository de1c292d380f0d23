"""``train(problem, estimator, ...)``: train any trainable model with any estimator as a plug-in on every draw.

What one step does. A minibatch of the training split (a fresh permutation each epoch, from the data
generator); the model moves to it (``problem.with_batch``); one sample of the estimator's surrogate, with
uniforms from the noise generator, divided by the number of examples (the mean loss per example); one
optimiser step (Adam, or plain SGD). The learning rate is ``lr`` times ``lr_gamma`` for every milestone epoch
already completed (a step schedule, as ZGR App. B.5).

What is logged per epoch: ``train_loss``, the mean per-example loss at the discrete samples the steps drew
(for a relaxed-forward estimator such as ``gs``, at the argmax of its relaxed sample from the same noise, as
the ZGR paper reports), the training wall time so far (``seconds``, evaluation excluded), the learning rate,
and the model's metrics on the validation split (``valid_loss``, ``valid_accuracy`` for a classifier, ...)
with one discrete sample per example from a generator reseeded at every evaluation (the same noise for every
epoch and every estimator), drawn from the distribution the estimator samples in training
(``estimator.forward_logits``: ``softmax(logits / tau_f)`` under decoupled ST), so the network evaluated is the
one trained; the settings record it in words (``evaluation``). The model's summary metrics (a logic-gate network's
gate perplexity, ...) are logged every epoch and once at initialisation (``TrainResult.initial``).

Reproducibility. Three generators derived from ``seed`` (data order, estimator noise, evaluation); a snapshot
holds the parameters, the optimiser's state and the generators' states, so ``resume=`` continues a run
exactly as if it had not stopped (the tests check this to the last bit).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import torch

from gradlab.core import checks as _checks
from gradlab.core.atomic import check_writable
from gradlab.core.noise import make_generator, task_seed, to_device
from gradlab.estimators import Estimator, stateful
from gradlab.problems.base import Problem
from gradlab.problems.snapshots import load_checkpoint, save_checkpoint
from gradlab.training.schedules import check_schedules, temperature_at

__all__ = ["train", "TrainResult", "OPTIMIZERS", "temperature_at"]

OPTIMIZERS = ("adam", "sgd")


@dataclasses.dataclass
class TrainResult:
    """The trained parameters, the per-epoch history (a list of dicts), the snapshot paths written, the
    problem's configuration and the training settings (what :func:`~gradlab.training.history_dataset`
    turns into a labelled data set)."""

    params: dict[str, torch.Tensor]
    history: list[dict]
    snapshots: list[Path]
    problem: dict
    settings: dict
    initial: dict = dataclasses.field(default_factory=dict)  # the model's summary metrics at initialisation


def _lr_at(epoch: int, lr: float, milestones: tuple[int, ...], gamma: float) -> float:
    return lr * gamma ** sum(m < epoch for m in milestones)


def _check_writable(out_dir: Path) -> None:
    """Fail before any training when snapshots cannot be written (not after the first epoch)."""
    check_writable(out_dir, "train", "out_dir")


def train(
    problem,
    estimator: Estimator,
    *,
    epochs: int = 10,
    lr: float = 1e-3,
    batch_size: int = 50,
    lr_milestones: Iterable[int] = (),
    lr_gamma: float = 0.1,
    optimizer: str = "adam",
    seed: int = 0,
    snapshot_epochs: Iterable[int] = (),
    out_dir: str | Path | None = None,
    evaluate: bool = True,
    resume: str | Path | None = None,
    progress: bool = False,
    on_epoch: Callable[[dict, dict], None] | None = None,
    temperature_schedule: Mapping | Sequence[Mapping] | None = None,
) -> TrainResult:
    """Train ``problem`` (a model that declares ``trainable``, e.g. ``SigmoidBeliefNet``, ``HierarchicalVAE``)
    with ``estimator`` from its current parameter values (module docstring). ``snapshot_epochs`` (0 = the
    start) are written to ``out_dir``; ``resume``: a snapshot of the same problem, estimator and settings to
    continue from (one at ``epochs`` is a finished run: returned without training); ``on_epoch(record, params)``
    is called after every epoch (for studies along the trajectory). ``temperature_schedule``: annealing of the
    estimator's temperature (:mod:`.schedules`: Jang et al. 2017's ``max(min, start * exp(-rate * step))``, updated
    every ``every`` optimiser steps, or linear from ``start`` to ``end`` over the run; ``field`` names the
    hyper-parameter, by default the estimator's last temperature: ``t``, or ``tau_b`` for decoupled ST; a list
    schedules several fields); the temperature at the end of each epoch is logged as ``temperature``
    (``temperature_<field>`` for several)."""
    if not isinstance(problem, Problem):
        raise TypeError(
            f"train: problem must be a trainable model (one that declares trainable, such as SigmoidBeliefNet), "
            f"got {type(problem).__name__}"
        )
    problem = problem.training_model()  # itself, or its trainable twin (CategoricalVAE's VAEDataModel)
    if not isinstance(estimator, Estimator):
        raise TypeError(f"train: estimator must be a gradlab Estimator, got {type(estimator).__name__}")
    epochs = _checks.integer("train", "epochs", epochs, 1)
    batch_size = _checks.integer("train", "batch_size", batch_size, 1)
    lr = _checks.positive_real("train", "lr", lr)
    lr_gamma = _checks.positive_real("train", "lr_gamma", lr_gamma)
    milestones = tuple(sorted({_checks.integer("train", "lr_milestones", m, 1) for m in lr_milestones}))
    _checks.choice("train", "optimizer", optimizer, OPTIMIZERS)
    snaps = sorted({_checks.integer("train", "snapshot_epochs", e, 0) for e in snapshot_epochs})
    if snaps and snaps[-1] > epochs:
        raise ValueError(f"train: snapshot_epochs must be <= epochs={epochs}, got {snaps[-1]}")
    if snaps and out_dir is None:
        raise ValueError("train: snapshot_epochs needs out_dir")
    if out_dir is not None and snaps:
        out_dir = Path(out_dir)
        _check_writable(out_dir)
    train_data = problem.split("train")
    n = int(train_data[0].shape[0])
    schedules = check_schedules(estimator, temperature_schedule, epochs * math.ceil(n / batch_size))
    settings = {
        "estimator": estimator.label,
        "estimator_name": estimator.name,
        "hparams": estimator.hparams(),
        "lr": lr,
        "lr_milestones": list(milestones),
        "lr_gamma": lr_gamma,
        "optimizer": optimizer,
        "batch_size": batch_size,
        "seed": seed,
    }
    if schedules:  # (one schedule is recorded as a table, as before several fields could have one)
        settings["temperature_schedule"] = schedules[0] if isinstance(temperature_schedule, Mapping) else schedules
    if evaluate and "valid" in problem.splits:
        settings["evaluation"] = problem.evaluation(estimator)  # the distribution the validation draws follow
        moved = [s["field"] for s in schedules if _moves_forward(estimator, s["field"])]
        if moved:
            settings["evaluation"] += f" at each epoch's scheduled {', '.join(moved)}"
    problem_config = json.loads(json.dumps(problem.config(), default=str))  # as a snapshot's JSON holds it
    params = {k: v.detach().clone().requires_grad_() for k, v in problem.param_values().items()}
    opt = (torch.optim.Adam if optimizer == "adam" else torch.optim.SGD)(params.values(), lr=lr)
    # the generators live on the CPU whatever the device, so a seed gives the same run on every device (to float
    # rounding): CUDA's generator draws other numbers than the CPU's for the same seed
    g_data, g_noise = make_generator(task_seed(seed, 1)), make_generator(task_seed(seed, 2))
    history: list[dict] = []
    start = 1
    if resume is not None:
        state, cfg = load_checkpoint(resume)
        _check_resume(cfg, settings, problem_config, epochs)
        with torch.no_grad():
            for k, v in params.items():
                v.copy_(state["params"][k])
        opt.load_state_dict(state["optimizer"])
        g_data.set_state(state["g_data"])
        g_noise.set_state(state["g_noise"])
        estimator = stateful.with_state(estimator, state.get("estimator_state"))
        history, start = list(cfg["history"]), int(cfg["epoch"]) + 1
        initial = dict(cfg.get("initial", {}))
    else:
        initial = problem.summary_metrics({k: v.detach() for k, v in params.items()})
    snapshots: list[Path] = []

    def snap(epoch: int) -> None:
        if epoch in snaps:
            state = {
                "params": {k: v.detach().cpu().clone() for k, v in params.items()},
                "optimizer": opt.state_dict(),
                "g_data": g_data.get_state(),
                "g_noise": g_noise.get_state(),
                "estimator_state": stateful.state_of(estimator),
            }
            cfg = {
                "problem": problem_config,
                "settings": settings,
                "epochs": epochs,
                "history": history,
                "initial": initial,
            }
            snapshots.append(save_checkpoint(out_dir, epoch, state, cfg))

    if start == 1:
        snap(0)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs, initial=start - 1, desc=f"train {estimator.label}", unit="epoch")
    elapsed = history[-1]["seconds"] if history else 0.0
    for epoch in range(start, epochs + 1):
        rate = _lr_at(epoch, lr, milestones, lr_gamma)
        for group in opt.param_groups:
            group["lr"] = rate
        t0 = time.perf_counter()
        steps = (epoch - 1) * math.ceil(n / batch_size)
        total, used = _one_epoch(
            problem, estimator, params, opt, train_data, n, batch_size, g_data, g_noise, schedules, steps
        )
        estimator = used  # its state (an EMA baseline) carries on; a schedule sets the temperature per step
        elapsed += time.perf_counter() - t0
        record = {"epoch": epoch, "train_loss": total, "seconds": elapsed, "lr": rate}
        if len(schedules) == 1:
            record["temperature"] = float(getattr(used, schedules[0]["field"]))
        for sched in schedules if len(schedules) > 1 else ():
            record[f"temperature_{sched['field']}"] = float(getattr(used, sched["field"]))
        if not math.isfinite(total):
            raise FloatingPointError(f"train: the training loss became {total} at epoch {epoch} ({estimator.label})")
        if evaluate and "valid" in problem.splits:
            g_eval = make_generator(task_seed(seed, 3))
            metrics = problem.evaluate({k: v.detach() for k, v in params.items()}, "valid", g_eval, estimator=used)
            record.update({f"valid_{k}": v for k, v in metrics.items()})
        record.update(problem.summary_metrics({k: v.detach() for k, v in params.items()}))
        history.append(record)
        if on_epoch is not None:
            on_epoch(record, {k: v.detach() for k, v in params.items()})
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{total:.4f}")
        snap(epoch)
    if bar is not None:
        bar.close()
    return TrainResult(
        {k: v.detach() for k, v in params.items()}, history, snapshots, problem_config, settings, initial
    )


def _moves_forward(estimator: Estimator, field: str) -> bool:
    """Whether the hyper-parameter ``field`` changes the distribution the estimator's forward samples follow."""
    other = dataclasses.replace(estimator, **{field: 2 * getattr(estimator, field)})
    return other.forward_distribution != estimator.forward_distribution


def _one_epoch(problem, estimator, params, opt, data, n, batch_size, g_data, g_noise, schedules=(), step=0):
    """One pass over the training split; ``(mean loss, the estimator of the last step)``. The loss is summed on
    the model's device in float64 and read once per epoch, so the steps queue without waiting for each other on
    a GPU (an estimator whose state adapts to each step's loss, such as an EMA baseline, reads it every step)."""
    perm = torch.randperm(n, generator=g_data).to(data[0].device)
    total = torch.zeros((), dtype=torch.float64, device=data[0].device)
    reads_loss = stateful.adapts_to_loss(estimator)
    for i in range(0, n, batch_size):
        if schedules:
            values = {s["field"]: temperature_at(s, step) for s in schedules}
            if any(getattr(estimator, f) != v for f, v in values.items()):
                estimator = dataclasses.replace(estimator, **values)
            step += 1
        idx = perm[i : i + batch_size]
        part = problem.with_batch(problem.training_rows(idx, g_data))  # dynamic binarisation: fresh images
        u = to_device(torch.rand(part.step_uniforms(estimator), generator=g_noise, dtype=problem.dtype), idx.device)
        surrogate = part.step_surrogate(estimator, params, u)
        opt.zero_grad(set_to_none=True)
        surrogate.backward()
        if stateful.trains_online(estimator):  # RELAX's control variate steps on this sample (Grathwohl Alg. 2)
            estimator = part.control_variate_step(estimator, params, u)
        opt.step()
        with torch.no_grad():
            if estimator.relaxed_forward:
                value = part.hard_losses(estimator, params, u).sum().double()
            else:
                value = surrogate.detach().double() * part.examples
        total += value
        if reads_loss:
            estimator = stateful.adapted(estimator, float(value) / part.examples)  # e.g. an EMA baseline moves
    return float(total) / n, estimator


def _differences(a, b, prefix: str = "") -> list[tuple[str, object, object]]:
    """``(key, a's value, b's value)`` where two configurations differ, nested keys dotted."""
    out = []
    for k in sorted(set(a) | set(b), key=str):
        x, y = a.get(k), b.get(k)
        if isinstance(x, dict) and isinstance(y, dict):
            out += _differences(x, y, f"{prefix}{k}.")
        elif x != y:
            out.append((f"{prefix}{k}", x, y))
    return out


def _check_resume(cfg: dict, settings: dict, problem_config: dict, epochs: int) -> None:
    if cfg.get("problem") != problem_config:
        theirs = cfg.get("problem", {})
        diff = _differences(theirs, problem_config)
        raise ValueError(
            f"train: resume: the snapshot is of another model ({theirs.get('problem')!r}; "
            + ", ".join(f"{k}: {a!r} there, {b!r} here" for k, a, b in diff[:4])
            + ")"
        )
    theirs = cfg.get("settings", {})
    derived = ("evaluation",)  # follows from the problem and the estimator (older snapshots lack it)
    diff = sorted(k for k in settings if k not in derived and theirs.get(k) != settings[k])
    if diff:
        raise ValueError(
            f"train: resume: the snapshot was trained with other settings ({', '.join(diff)}: "
            + ", ".join(f"{k}={theirs.get(k)!r}" for k in diff)
            + ")"
        )
    if int(cfg["epoch"]) > epochs:  # (at epochs itself: a finished run, returned as it is)
        raise ValueError(f"train: resume: the snapshot is at epoch {cfg['epoch']}, beyond epochs={epochs}")
