"""``--device`` on every command that trains or samples (issue 23, item 6): a malformed name or a device this
machine lacks is a one-line error before any work; ``--device cpu`` gives the default's numbers; where CUDA is
available, a short training run on it agrees with the CPU's to float32 rounding."""

from __future__ import annotations

import math

import pytest
import torch

from gradlab.cli import main as cli
from gradlab.core import checks as _checks


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--quick"],
        ["train", "--problem", "sbn", "--epochs", "1"],
        ["sweep", "analyses/zgr_fig1.toml"],
        ["study", "decoupled-sbn", "--dry-run"],
    ],
)
def test_every_command_names_a_bad_device_in_one_line(argv, capsys, tmp_path, monkeypatch):
    root = __import__("pathlib").Path(__file__).resolve().parents[1]
    argv = [str(root / a) if a.endswith(".toml") else a for a in argv]
    monkeypatch.chdir(tmp_path)
    assert cli.main([*argv, "--device", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].endswith("device must be a torch device such as 'cpu' or 'cuda'; got 'nope'")
    if not torch.cuda.is_available():
        assert cli.main([*argv, "--device", "cuda"]) == 2
        assert "device 'cuda' is not available on this machine" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # nothing written before the error


def test_cpu_is_the_default_and_cuda_agrees_where_there_is_one(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    base = ["train", "--problem", "sbn", "--set", "hidden=8", "--estimator", "zgr", "--epochs", "1", "--no-progress"]
    assert cli.main(base) == 0
    default = capsys.readouterr().out
    assert cli.main([*base, "--device", "cpu"]) == 0
    assert _table(capsys.readouterr().out) == _table(default)  # the same losses and accuracy, digit for digit
    assert _checks.device("x", "cpu") == "cpu"
    if torch.cuda.is_available():
        assert cli.main([*base, "--device", "cuda"]) == 0
        gpu, cpu = _table(capsys.readouterr().out), _table(default)
        assert gpu.keys() == cpu.keys()
        assert all(math.isclose(gpu[k], cpu[k], rel_tol=1e-3) for k in cpu)


def _table(out: str) -> dict[str, float]:
    """The last epoch's numbers that `gradlab train` prints, by column, without the wall time."""
    lines = out.splitlines()
    head = lines[0].split()
    row = [line for line in lines if line.split() and line.split()[0].isdigit()][-1].split()
    return {k: float(v) for k, v in zip(head, row, strict=True) if k not in ("epoch", "seconds")}
