"""Sweep configurations: the TOML schema, grid expansion (``{linspace|logspace|range = [...]}``) and
validation, read before any work (see :mod:`gradlab.sweep` for the format and the runner)."""

from __future__ import annotations

import dataclasses
import itertools
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from gradlab.core import checks as _checks

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["SweepConfig", "load_config", "expand_values"]


SAMPLING_KEYS = (
    "n",
    "seeds",
    "wrt",
    "bootstrap",
    "gradient_gap",
    "rtol",
    "min_n",
    "max_n",
    "precision_of",
    "chunk_size",
)
RUN_KEYS = ("n_jobs", "backend", "scheduler")


# "exact": exact gradients; "estimator": samples of a reference estimator (eq. 16); "auto": exact where the problem
# is enumerable (per element where it declares elements_independent) within max_configurations, else the samples
REFERENCE_KINDS = ("exact", "estimator", "auto")


def check_keys(section: str, table: Mapping, allowed: Sequence[str]) -> None:
    """Unknown keys in a TOML table are errors (a typo would otherwise run with the default), naming the section,
    the key and the closest valid key."""
    import difflib

    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), list(allowed), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"sweep: unknown key {key!r} in [{section}]{hint} (valid: {', '.join(sorted(allowed))})")


def expand_values(value, key: str = "value") -> list:
    """A scalar -> [scalar]; a list -> itself; ``{linspace = [a, b, n]}`` / ``{logspace = [a, b, n]}`` (``a``,
    ``b`` the end values, not exponents) / ``{range = [a, b, step]}`` -> the values."""
    if isinstance(value, Mapping):
        if len(value) != 1:
            raise ValueError(f"{key}: expected one of linspace/logspace/range, got {sorted(value)}")
        ((kind, args),) = value.items()
        if kind in ("linspace", "logspace"):
            if not (isinstance(args, Sequence) and len(args) == 3):
                raise ValueError(f"{key}: {kind} needs [start, stop, count], got {args!r}")
            a, b, n = float(args[0]), float(args[1]), _checks.integer(key, f"{kind} count", args[2], 1)
            if kind == "logspace":
                if a <= 0 or b <= 0:
                    raise ValueError(f"{key}: logspace end values must be > 0, got {a}, {b}")
                return [float(v) for v in np.geomspace(a, b, n)]
            return [float(v) for v in np.linspace(a, b, n)]
        if kind == "range":
            return [float(v) if isinstance(v, float) else v for v in np.arange(*args).tolist()]
        raise ValueError(f"{key}: unknown range kind {kind!r}; use linspace, logspace or range")
    if isinstance(value, list):
        if not value:
            raise ValueError(f"{key}: an empty list gives an empty grid")
        return list(value)
    return [value]


def problem_axes(problem: Mapping) -> dict[str, list]:
    """Problem settings that vary (grid axes), in configuration order: a list or a range of values, except for the
    settings the problem kind declares ``sequences`` (layer widths, logits), where one value is a list and an axis is
    a list of lists (its values tuples)."""
    from gradlab.problems.build import check_problem_keys

    sequences = check_problem_keys(problem).sequences
    axes = {}
    for k, v in problem.items():
        if k not in sequences:
            if isinstance(v, list | Mapping):
                axes[k] = expand_values(v, f"problem.{k}")
        elif isinstance(v, list) and any(isinstance(x, list) for x in v):
            if not all(isinstance(x, list) for x in v):
                raise ValueError(
                    f"problem.{k}: one value is a list and an axis a list of lists; got a mix of both: {v!r}"
                )
            axes[k] = [tuple(x) for x in expand_values(v, f"problem.{k}")]
    return axes


@dataclasses.dataclass
class SweepConfig:
    name: str
    seed: int
    out: Path
    problem: dict
    reference: dict
    sampling: dict
    estimators: list[dict]
    run: dict
    source: str = ""

    def n_for(self, label: str) -> int | str:
        """Samples per cell for an estimator setting (an [[estimators]] table may set its own ``n``);
        ``"auto"``: until the interval is as narrow as ``sampling.rtol`` asks."""
        if not hasattr(self, "_n_override"):
            self.estimator_grid()
        n = self._n_override.get(label, self.sampling["n"])
        return n if n == "auto" else int(n)

    def to_json(self) -> str:
        """The resolved configuration (defaults filled in) as JSON: the ``config`` attribute of results."""
        return json.dumps(
            {
                "name": self.name,
                "seed": self.seed,
                "out": str(self.out),
                "problem": self.problem,
                "reference": self.reference,
                "sampling": self.sampling,
                "estimators": self.estimators,
                "run": self.run,
            },
            default=str,
            sort_keys=True,
        )

    @property
    def cells_dir(self) -> Path:
        return self.out.with_suffix(self.out.suffix + ".cells")

    def problem_axes(self) -> dict[str, list]:
        """Problem settings that vary (grid axes): :func:`problem_axes` of the ``[problem]`` table."""
        return problem_axes(self.problem)

    def estimator_grid(self):
        from gradlab.estimators import estimator

        out = []
        self._n_override = {}
        for i, block in enumerate(self.estimators):
            if "name" not in block:
                raise ValueError(f"estimators[{i}]: missing 'name'")
            keys = [k for k in block if k not in ("name", "n")]
            values = [expand_values(block[k], f"estimators[{i}].{k}") for k in keys]
            for combo in itertools.product(*values):
                est = estimator(block["name"], **dict(zip(keys, combo, strict=True)))
                out.append(est)
                if "n" in block:
                    self._n_override[est.label] = (
                        "auto" if block["n"] == "auto" else _checks.integer(f"estimators[{i}]", "n", block["n"], 2)
                    )
        labels = [e.label for e in out]
        dup = {x for x in labels if labels.count(x) > 1}
        if dup:
            raise ValueError(f"estimators: the same setting appears twice: {sorted(dup)}")
        return out


BACKENDS = ("loky", "threading", "multiprocessing", "dask")


def check_run(n_jobs, backend, scheduler) -> None:
    """Where a sweep or a study runs: ``n_jobs`` an integer >= 1, ``backend`` a known one, ``scheduler`` a string."""
    _checks.integer("run", "n_jobs", n_jobs, 1)
    _checks.choice("run", "backend", backend, BACKENDS)
    if scheduler is not None and not isinstance(scheduler, str):
        raise ValueError(f"run: scheduler must be an address such as 'tcp://HOST:8786', got {scheduler!r}")


def load_config(path: str | Path | Mapping, **overrides) -> SweepConfig:
    """Read and validate a sweep configuration (a TOML file or a dictionary)."""
    if isinstance(path, Mapping):
        raw, source, base = dict(path), json.dumps(path, default=str), Path.cwd()
    else:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"sweep: no configuration file at {p}")
        source = p.read_text()
        try:
            raw = tomllib.loads(source)
        except tomllib.TOMLDecodeError as e:
            raise ValueError(f"sweep: {p} is not valid TOML: {e}") from None
        base = Path.cwd()
    device = overrides.pop("device", None)
    raw.update({k: v for k, v in overrides.items() if v is not None})
    if device is not None:  # --device: the problem (and so every cell) on that device
        if not isinstance(raw.get("problem"), Mapping):
            raise ValueError("sweep: the configuration needs a [problem] table")
        raw["problem"] = {**raw["problem"], "device": _checks.device("sweep", device)}
    elif isinstance(raw.get("problem"), Mapping) and "device" in raw["problem"]:
        _checks.device("sweep", raw["problem"]["device"])
    known = {"name", "seed", "out", "problem", "reference", "sampling", "estimators", "run"}
    unknown = set(raw) - known
    if unknown:
        raise ValueError(f"sweep: unknown top-level key(s) {sorted(unknown)}; known: {sorted(known)}")
    if "problem" not in raw or "estimators" not in raw:
        raise ValueError("sweep: the configuration needs a [problem] table and at least one [[estimators]] table")
    for section in ("sampling", "reference", "run"):
        if section in raw and not isinstance(raw[section], Mapping):
            raise ValueError(f"sweep: [{section}] must be a table, got {type(raw[section]).__name__}")
    from gradlab.problems.build import check_problem_keys

    check_problem_keys(raw["problem"])
    check_keys("sampling", raw.get("sampling", {}), SAMPLING_KEYS)
    check_keys("run", raw.get("run", {}), RUN_KEYS)
    sampling = {
        "n": 10_000,
        "seeds": [0],
        "wrt": "all",
        "bootstrap": 0,
        "gradient_gap": False,
        **raw.get("sampling", {}),
    }
    if sampling["n"] == "auto":
        if "rtol" not in sampling:
            raise ValueError('sampling: n = "auto" needs rtol (the relative half-width to reach, e.g. 0.1)')
        _checks.positive_real("sampling", "rtol", sampling["rtol"])
        sampling.setdefault("max_n", 100_000)
        sampling.setdefault("min_n", 1000)
        sampling.setdefault("precision_of", "variance")
        sampling["bootstrap"] = sampling["bootstrap"] or 100
    else:
        _checks.integer("sampling", "n", sampling["n"], 2)
    if not isinstance(sampling["seeds"], (list, tuple, Mapping)):
        raise ValueError(f"sampling: seeds must be a list of integers >= 0 (e.g. [0, 1]), got {sampling['seeds']!r}")
    sampling["seeds"] = [
        _checks.integer("sampling", "seeds", s, 0) for s in expand_values(sampling["seeds"], "sampling.seeds")
    ]
    if not isinstance(sampling["gradient_gap"], bool):
        raise ValueError(f"sampling: gradient_gap must be true or false, got {sampling['gradient_gap']!r}")
    if not isinstance(raw.get("name", "sweep"), str):
        raise ValueError(f"sweep: name must be a string, got {raw['name']!r}")
    reference = {"kind": "exact", **raw.get("reference", {})}
    _checks.choice("reference", "kind", reference["kind"], REFERENCE_KINDS)
    if reference["kind"] == "exact":
        check_keys("reference", reference, ("kind",))
    else:  # the estimator's own hyper-parameters are checked by the registry when it is built
        from gradlab.estimators import estimator

        hp = {k: v for k, v in reference.items() if k not in ("kind", "name", "n", "max_configurations")}
        estimator(reference.get("name", "reinforce"), **(hp or {"m": 4}))
        if "n" in reference:
            _checks.integer("reference", "n", reference["n"], 2)
        if "max_configurations" in reference:
            _checks.integer("reference", "max_configurations", reference["max_configurations"], 1)
    run = {"n_jobs": 1, "backend": "loky", "scheduler": "", **raw.get("run", {})}
    check_run(run["n_jobs"], run["backend"], run["scheduler"])
    cfg = SweepConfig(
        name=str(raw.get("name", "sweep")),
        seed=_checks.integer("sweep", "seed", raw.get("seed", 0), 0),
        out=(base / raw.get("out", "results/sweep.nc")).resolve(),
        problem=dict(raw["problem"]),
        reference=reference,
        sampling=sampling,
        estimators=list(raw["estimators"]),
        run=run,
        source=source,
    )
    cfg.estimator_grid()  # validate early: unknown names and bad hyper-parameters fail here
    return cfg
