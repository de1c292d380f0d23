"""``--device`` on every command that trains or samples (issue 23, item 6): a malformed name or a device this
machine lacks is a one-line error before any work; ``--device cpu`` gives the default's numbers; where CUDA is
available, a short training run on it agrees with the CPU's to float32 rounding (training draws its noise from
CPU generators on every device), and the sampler (whose noise CUDA's own generator draws, other numbers than the
CPU's for the same seed) is unbiased there as on the CPU."""

from __future__ import annotations

import math

import pytest
import torch
from scipy.stats import norm

import gradlab as gl
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


def test_the_vae_loop_gives_the_same_run_on_every_device(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    base = ["train", "--problem", "vae", "--num-vars", "2", "--num-classes", "4", "--epochs", "2", "--no-progress"]
    runs = {}
    for dev in ["cpu"] + (["cuda"] if torch.cuda.is_available() else []):
        assert cli.main([*base, "--estimator", "zgr", "--device", dev, "--out", dev]) == 0
        lines = capsys.readouterr().out.splitlines()
        col = lines[0].split().index("train_loss")
        runs[dev] = [float(line.split()[col]) for line in lines[1:] if line.split() and line.split()[0].isdigit()]
    assert len(runs["cpu"]) == 2 and 0 < runs["cpu"][1] < runs["cpu"][0]  # it learns: the loss falls
    for losses in runs.values():
        assert all(math.isclose(a, b, rel_tol=1e-4) for a, b in zip(losses, runs["cpu"], strict=True)), runs


def test_the_sampler_is_unbiased_on_every_device_this_machine_has():
    """RF(4) against the exact gradient of a 3 x 4 problem (float64, 20,000 samples), a z-test per element with a
    Bonferroni limit: false-failure rate 1e-3 per device."""
    prob = gl.problems.build_problem({"kind": "multi", "num_vars": 3, "num_classes": 4, "dtype": "float64"})
    exact, n = gl.exact_gradient(prob), 20_000
    limit = norm.ppf(1 - 1e-3 / (2 * exact.numel()))
    for dev in ["cpu"] + (["cuda"] if torch.cuda.is_available() else []):
        s = gl.sample_gradients(prob, gl.estimator("reinforce", m=4), n, seed=0, device=dev)
        assert s.meta["device"].startswith(dev)
        z = (s.mean.cpu() - exact) / (s.var.cpu() / n).sqrt()
        assert float(z.abs().max()) < limit, (dev, z)


def _table(out: str) -> dict[str, float]:
    """The last epoch's numbers that `gradlab train` prints, by column, without the wall time."""
    lines = out.splitlines()
    head = lines[0].split()
    row = [line for line in lines if line.split() and line.split()[0].isdigit()][-1].split()
    return {k: float(v) for k, v in zip(head, row, strict=True) if k not in ("epoch", "seconds")}


def test_noise_reaches_every_device_unchanged():
    """Training's CPU noise on the target device, the same numbers (through pinned memory, without waiting, to a
    GPU where this machine has one)."""
    from gradlab.core.noise import to_device

    t = torch.rand(1000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for dev in ["cpu"] + (["cuda"] if torch.cuda.is_available() else []):
        moved = to_device(t, dev)
        assert moved.device.type == dev and torch.equal(moved.cpu(), t)
