"""Every ```python block of the README runs as written (in a fresh namespace, in order)."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

from gradlab.estimators import REGISTRY

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = set(REGISTRY)
    try:
        script = tmp_path / f"readme_block_{index}.py"
        script.write_text(BLOCKS[index])
        runpy.run_path(str(script), run_name="__readme__")
        script.unlink()
        # run from a clone's root, a block writes only into results/ (ignored by git), never the tracked tree
        written = [p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file()]
        assert all(p.parts[0] == "results" for p in written), f"block {index} wrote outside results/: {written}"
    finally:
        for name in set(REGISTRY) - before:
            REGISTRY.pop(name)


def test_readme_has_blocks_and_commands():
    text = README.read_text()
    assert len(BLOCKS) >= 4
    first_code = re.search(r"```bash\n(.*?)```", text, flags=re.S).group(1)
    assert 'pip install -e ".[test]" && pytest' in first_code
