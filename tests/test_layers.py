"""No import from a lower layer back up. The folders are the source of truth: every module of gradlab lives in a
folder (``gradlab/<layer>/``) whose ``__init__.py`` declares ``LAYER = <n>`` (bottom up; equal numbers are peers),
and every import of a gradlab module (top-level and inside functions) goes to a folder of the same layer or a
lower one. Only ``gradlab/__init__.py``, the public namespace, sits above them all. docs/ARCHITECTURE.md says what
lives in each folder and where a new estimator, problem kind, claim or study goes."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "gradlab"
TOP = float("inf")  # gradlab/__init__.py


def declared_layers(package: Path) -> dict[str, int]:
    """``{folder: LAYER}`` read from each folder's ``__init__.py`` (without importing it)."""
    layers = {}
    for init in sorted(package.glob("*/__init__.py")):
        for node in ast.parse(init.read_text()).body:
            if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["LAYER"]:
                layers[init.parent.name] = ast.literal_eval(node.value)
    return layers


def unit(module: str) -> str:
    """``gradlab.problems.vae`` -> ``problems``; ``gradlab`` -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports(path: Path, package: Path) -> list[str]:
    """The gradlab modules (or names in them) that the file at ``path`` imports."""
    rel = path.relative_to(package.parent).with_suffix("")
    pkg = ".".join(rel.parts[:-1])
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if node.module is None:  # from . import names
                out += [f"{target}.{a.name}" for a in node.names]
            else:
                out.append(target)
        elif isinstance(node, ast.Import):
            out += [a.name for a in node.names]
    return [m for m in out if m == package.name or m.startswith(package.name + ".")]


def violations(package: Path) -> list[str]:
    """Modules outside a layer folder, folders without ``LAYER``, and imports that go up a layer."""
    layers = declared_layers(package)
    layers["__init__"] = TOP
    problems = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package)
        if len(rel.parts) == 1 and rel.name != "__init__.py":
            problems.append(f"{package.name}/{rel} is outside a layer folder")
            continue
        here = "__init__" if len(rel.parts) == 1 else rel.parts[0]
        if here not in layers:
            problems.append(f"{package.name}/{rel.parts[0]}/__init__.py declares no LAYER")
            continue
        for target in imports(path, package):
            there = unit(target)
            if there in layers and layers[there] > layers[here]:
                problems.append(f"{package.name}/{rel} (layer {layers[here]}) imports {target} (layer {layers[there]})")
    return problems


def test_every_module_is_in_a_layer_folder_and_no_import_goes_up():
    assert len(declared_layers(PACKAGE)) >= 10
    assert violations(PACKAGE) == []


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_the_check_fails_on_an_import_that_goes_up(tmp_path):
    files = {
        "__init__.py": "",
        "low/__init__.py": "LAYER = 0\n",
        "high/__init__.py": "LAYER = 1\n",
        "high/b.py": "from pkg.low import a\n",
        "low/a.py": "def f():\n    from pkg.high import b\n",
    }
    assert violations(_package(tmp_path, files)) == ["pkg/low/a.py (layer 0) imports pkg.high (layer 1)"]


def test_the_check_fails_on_a_module_outside_a_folder_or_a_folder_without_a_layer(tmp_path):
    files = {"__init__.py": "", "loose.py": "", "nolayer/__init__.py": "", "nolayer/m.py": ""}
    out = violations(_package(tmp_path, files))
    assert out == [
        "pkg/loose.py is outside a layer folder",
        "pkg/nolayer/__init__.py declares no LAYER",
        "pkg/nolayer/__init__.py declares no LAYER",
    ]


def test_the_architecture_document_lists_every_folder_in_layer_order():
    text = (PACKAGE.parent / "docs" / "ARCHITECTURE.md").read_text()
    layers = declared_layers(PACKAGE)
    positions = {name: text.find(f"`{name}/`") for name in layers}
    assert all(p >= 0 for p in positions.values()), [n for n, p in positions.items() if p < 0]
    order = sorted(layers, key=lambda n: positions[n])
    assert [layers[n] for n in order] == sorted(layers.values()), order
