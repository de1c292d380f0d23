"""No import from a lower layer back up: every import of a gradlab module (top-level and inside functions) goes
to a unit of the same layer or a lower one (the layers of docs/ARCHITECTURE.md, from the bottom; that file says
what lives in each and where a new estimator, problem kind, claim or study goes)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "gradlab"

LAYERS = [
    {"_checks", "_version", "names", "io", "random", "parallel", "results"},
    {"distributions"},
    {"estimators"},
    {"problems"},
    {"stats", "intervals", "exact"},
    {"sampler"},
    {"testing"},
    {"analysis"},
    {"sweep"},
    {"training"},
    {"study"},
    {"styles", "plots", "figures", "history_figures"},
    {"theory", "run"},
    {"cli", "cli_train", "cli_study", "__init__"},
]
LAYER = {unit: i for i, units in enumerate(LAYERS) for unit in units}


def unit(module: str) -> str:
    """``gradlab.problems.vae`` -> ``problems``; ``gradlab`` -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports(path: Path) -> list[str]:
    """The gradlab modules (or names in them) that the file at ``path`` imports."""
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    package = ".".join(rel.parts[:-1]) if path.name != "__init__.py" else ".".join(rel.parts[:-1])
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if node.module is None:  # from . import names
                out += [f"{target}.{a.name}" for a in node.names]
            else:
                out.append(target)
        elif isinstance(node, ast.Import):
            out += [a.name for a in node.names]
    return [m for m in out if m == "gradlab" or m.startswith("gradlab.")]


def test_every_unit_has_a_layer_and_no_import_goes_up():
    units = {unit(".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts)) for p in PACKAGE.rglob("*.py")}
    assert units <= set(LAYER), sorted(units - set(LAYER))
    up = []
    for path in sorted(PACKAGE.rglob("*.py")):
        here = unit(".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts))
        for target in imports(path):
            there = unit(target)
            if there in LAYER and LAYER[there] > LAYER[here]:
                up.append(f"{path.relative_to(PACKAGE.parent)} imports {target}")
    assert not up, up
