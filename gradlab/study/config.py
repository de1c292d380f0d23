"""A training study's configuration (``gradlab study CONFIG.toml``), validated before any training.

```toml
name = "sbn-small"
out = "results/sbn_small.nc"       # default: results/<name>.nc
seeds = [0, 1, 2]                  # each a fresh initialisation and training noise
[problem]                          # a registry configuration; list-valued settings are grid axes, as in sweeps
kind = "sbn"
hidden = [8, 8]
[axes.split]                       # optional named axes: label -> the settings of that point (problem settings,
"C2 V12" = {num_classes = 2, num_vars = 12}     # and a table train = {...} of training settings)
[train]                            # gl.train's settings: epochs, lr, batch_size, optimizer, lr_milestones, ...
epochs = 3
[[estimators]]                     # sweep-style blocks: lists and ranges expand
name = "st"
t = [1.0, 2.0]
[trajectory]                       # optional: bias and variance along each run's training (gl.training's
at_epochs = [0, 2]                 # trajectory_study): at_epochs, estimators, reference, n, wrt, bootstrap
[run]                              # n_jobs, backend ("loky" | "dask"), scheduler
```

A shipped experiment (:mod:`gradlab.study.library`) adds ``[scales.<scale>]`` tables whose keys replace the top
level's (tables merged key by key, anything else replaced) at that scale. Unknown keys are errors naming the closest
valid key; values are checked here (estimators built, every problem built, the trajectory's epochs within the
training's, the output folder writable) so that a bad study fails at once, not after hours.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
from collections.abc import Mapping
from pathlib import Path

from gradlab.core import checks as _checks

__all__ = ["StudyConfig", "load_study", "TRAIN_KEYS", "TOP_KEYS"]

TOP_KEYS = ("name", "out", "seeds", "problem", "axes", "train", "estimators", "trajectory", "run", "about", "scales")
TRAIN_KEYS = (
    "epochs",
    "lr",
    "batch_size",
    "optimizer",
    "lr_milestones",
    "lr_gamma",
    "temperature_schedule",
    "evaluate",
)
TRAJECTORY_KEYS = ("at_epochs", "estimators", "reference", "n", "wrt", "bootstrap")
RUN_KEYS = ("n_jobs", "backend", "scheduler")


def _keys(section: str, table: Mapping, allowed) -> None:
    import difflib

    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), list(allowed), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f" (valid: {', '.join(allowed)})"
            raise ValueError(f"study: unknown key {key!r} in [{section}]{hint}")


@dataclasses.dataclass
class StudyConfig:
    name: str
    out: Path
    seeds: list[int]
    problem: dict
    axes: dict  # named axes: {axis: {label: {settings, train = {...}}}}
    train: dict
    estimators: list[dict]
    trajectory: dict | None
    run: dict
    scale: str = ""
    about: str = ""

    @property
    def runs_dir(self) -> Path:
        return self.out.with_suffix(self.out.suffix + ".runs")

    def grid_axes(self) -> dict[str, list]:
        """Every axis of the study's grid, in order: the problem's list-valued settings (as in sweeps), then the
        named axes (their labels)."""
        from gradlab.sweep.config import problem_axes

        out = dict(problem_axes(self.problem))
        out.update({name: list(entries) for name, entries in self.axes.items()})
        return out

    def points(self) -> list[dict]:
        """The grid's points as ``{axis: value}``."""
        axes = self.grid_axes()
        return [dict(zip(axes, combo, strict=True)) for combo in itertools.product(*axes.values())] or [{}]

    def at(self, point: Mapping) -> tuple[dict, dict]:
        """``(problem configuration, training settings)`` at ``point``."""
        problem, train = dict(self.problem), dict(self.train)
        for axis, value in point.items():
            if axis in self.axes:
                entry = dict(self.axes[axis][value])
                train.update(entry.pop("train", {}))
                problem.update(entry)
            else:
                problem[axis] = list(value) if isinstance(value, tuple) else value
        return problem, train

    def estimator_grid(self):
        from gradlab.training.study import estimator_settings

        return estimator_settings(self.estimators)

    def to_json(self) -> str:
        """The resolved configuration (the ``config`` attribute of the result)."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return json.dumps({**fields, "out": str(self.out)}, default=str, sort_keys=True)


def _merge(base: dict, over: Mapping) -> dict:
    """``over`` on top of ``base``: tables merged key by key (``axes``' entries replaced whole), the rest replaced."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) and key != "axes":
            out[key] = _merge(dict(out[key]), value)
        elif key == "axes" and isinstance(value, Mapping):
            out[key] = {**dict(out.get(key, {})), **copy.deepcopy(dict(value))}
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_study(
    source: str | Path | Mapping,
    *,
    scale: str | None = None,
    data_path: str | None = None,
    out: str | Path | None = None,
    device: str | None = None,
) -> StudyConfig:
    """A study from a TOML file, a mapping, or the name of a shipped experiment (``gradlab study --list``), at
    ``scale`` (its ``[scales.<scale>]`` table; ``paper`` needs ``data_path``); ``device`` puts every model there."""
    from gradlab.study.library import experiment_source

    if isinstance(source, Mapping):
        raw = copy.deepcopy(dict(source))
    else:
        text = experiment_source(str(source))
        if text is None:
            path = Path(source)
            if not path.is_file():
                from gradlab.study.library import experiments

                known = ", ".join(experiments())
                raise FileNotFoundError(
                    f"study: {source!r} is neither a configuration file nor a shipped experiment ({known})"
                )
            text = path.read_text()
        import tomllib

        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"study: {source} is not valid TOML ({exc})") from None
    _keys("study", raw, TOP_KEYS)
    scales = raw.pop("scales", {})
    if scale is not None:
        if scale not in scales:
            raise ValueError(f"study: scale must be one of {', '.join(map(repr, scales)) or 'none'}; got {scale!r}")
        raw = _merge(raw, scales[scale])
    if data_path is not None:
        raw.setdefault("problem", {})["data_path"] = str(Path(data_path).expanduser())
    if out is not None:
        raw["out"] = str(out)
    if device is not None:  # every run's model on that device
        raw.setdefault("problem", {})["device"] = _checks.device("study", device)
    elif isinstance(raw.get("problem"), Mapping) and "device" in raw["problem"]:
        _checks.device("study", raw["problem"]["device"])
    return _check(raw, scale or "")


def _check(raw: dict, scale: str) -> StudyConfig:
    from gradlab.problems.build import check_problem_keys
    from gradlab.sweep.config import check_run, expand_values

    name = raw.get("name", "study")
    if not isinstance(name, str) or not name:
        raise ValueError(f"study: name must be a non-empty string, got {name!r}")
    if "problem" not in raw or "estimators" not in raw:
        raise ValueError("study: the configuration needs a [problem] table and at least one [[estimators]] table")
    for section in ("problem", "axes", "train", "trajectory", "run"):
        if section in raw and not isinstance(raw[section], Mapping):
            raise ValueError(f"study: [{section}] must be a table, got {type(raw[section]).__name__}")
    seeds = raw.get("seeds", [0])
    if not isinstance(seeds, list | Mapping):
        raise ValueError(f"study: seeds must be a list of integers >= 0 (e.g. [0, 1, 2]), got {seeds!r}")
    seeds = [_checks.integer("study", "seeds", s, 0) for s in expand_values(seeds, "seeds")]
    check_problem_keys(raw["problem"])
    train = dict(raw.get("train", {}))
    _keys("train", train, TRAIN_KEYS)
    train["epochs"] = _checks.integer("study", "train.epochs", train.get("epochs", 10), 1)
    axes = {}
    for axis, entries in dict(raw.get("axes", {})).items():
        if not isinstance(entries, Mapping) or not entries:
            raise ValueError(f"study: [axes.{axis}] must be a table of labels, each a table of settings")
        for label, entry in entries.items():
            if not isinstance(entry, Mapping):
                raise ValueError(f"study: axes.{axis}.{label} must be a table of settings, got {entry!r}")
            _keys(f"axes.{axis}.{label}.train", entry.get("train", {}), TRAIN_KEYS)
        axes[axis] = {str(k): dict(v) for k, v in entries.items()}
    if not isinstance(raw["estimators"], list) or not raw["estimators"]:
        raise ValueError("study: [[estimators]] must be a non-empty list of tables")
    trajectory = raw.get("trajectory")
    if trajectory is not None:
        trajectory = dict(trajectory)
        _keys("trajectory", trajectory, TRAJECTORY_KEYS)
        epochs = [_checks.integer("study", "trajectory.at_epochs", e, 0) for e in trajectory.get("at_epochs", [])]
        if not epochs:
            raise ValueError("study: [trajectory] needs at_epochs, the epochs to measure at (e.g. [0, 5, 20])")
        trajectory["at_epochs"] = sorted(set(epochs))
        if not trajectory.get("estimators"):
            raise ValueError("study: [trajectory] needs estimators, the settings to measure (a list of tables)")
    run = {"n_jobs": 1, "backend": "loky", "scheduler": "", **dict(raw.get("run", {}))}
    _keys("run", run, RUN_KEYS)
    check_run(run["n_jobs"], run["backend"], run["scheduler"])
    out = Path(raw.get("out", f"results/{name}.nc")).expanduser()
    cfg = StudyConfig(
        name,
        out.resolve(),
        seeds,
        dict(raw["problem"]),
        axes,
        train,
        list(raw["estimators"]),
        trajectory,
        run,
        scale,
        str(raw.get("about", "")),
    )
    _validate(cfg)
    return cfg


def _validate(cfg: StudyConfig) -> None:
    """Every estimator built, every problem of the grid built and trainable, every estimator one its model takes,
    the epochs and the trajectory's within range: before any training."""
    from gradlab.problems.build import PROBLEMS, build_problem, trainable_problems
    from gradlab.training.study import estimator_settings

    kind = cfg.problem["kind"]
    if not PROBLEMS[kind].trainable:
        raise ValueError(
            f"study: problem kind {kind!r} is not trainable; the trainable kinds are {', '.join(trainable_problems())}"
        )
    ests = cfg.estimator_grid()
    if cfg.trajectory is not None:
        estimator_settings(cfg.trajectory["estimators"])
    for point in cfg.points():
        problem, train = cfg.at(point)
        epochs = _checks.integer("study", "train.epochs", train.get("epochs", 10), 1)
        last = cfg.trajectory["at_epochs"][-1] if cfg.trajectory is not None else 0
        if last > epochs:
            raise ValueError(f"study: [trajectory] at_epochs must be <= train.epochs = {epochs}, got {last}")
        model = build_problem({"init_seed": cfg.seeds[0], **problem})
        model = model.training_model()  # itself, or its trainable twin; a one-line TypeError for any other
        for est in ests:
            try:
                model.uniforms_per_sample(est)
                if est.categories is not None and any(d.num_classes != est.categories for d in model.draws):
                    raise TypeError(f"defined for {est.categories} categories, and this model draws others")
            except (TypeError, ValueError) as exc:
                raise ValueError(f"study: {model.name} cannot take {est.label}: {str(exc).splitlines()[0]}") from None
