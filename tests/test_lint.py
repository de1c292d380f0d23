"""ruff (lint and format) over the package, tests, analyses and benchmarks."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_clean():
    ruff = shutil.which("ruff")
    assert ruff is not None, "ruff is part of the [test] extra: pip install -e '.[test]'"
    res = subprocess.run([ruff, "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_ruff_format_clean():
    """``ruff format --check`` over the code (README.md's examples are laid out for reading, not checked)."""
    ruff = shutil.which("ruff")
    assert ruff is not None, "ruff is part of the [test] extra: pip install -e '.[test]'"
    res = subprocess.run(
        [ruff, "format", "--check", "gradlab", "tests", "analyses", "benchmarks"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stdout + res.stderr
