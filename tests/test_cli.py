"""The command line as a newcomer meets it (issue 12): each finding of the issue as the command that showed it and
the behaviour now expected. Findings tested elsewhere: 2 (TOML typos, test_sweep), 4 and 5 (bad numbers, file
modes, test_robustness), 6 and 7 (gradlab plot, figures outside figures/, test_plots_and_run), 10 (float16,
test_robustness), 11 (the cluster, test_cluster)."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gradlab.cli import main as cli
from gradlab.sweep import load_config, run_sweep

ROOT = Path(__file__).resolve().parents[1]


def test_1_train_with_an_estimator_without_m(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = ["train", "--problem", "sbn", "--set", "hidden=4", "--estimator", "zgr", "--epochs", "1", "--no-progress"]
    assert cli.main(args) == 0
    assert "snapshot: snapshots/epoch_0001.pt" in capsys.readouterr().out


def test_3_user_errors_are_one_line_and_debug_shows_the_traceback(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", "--estimator", "nope", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gradlab train: error: unknown estimator 'nope'; known")
    (tmp_path / "bad.toml").write_text("name = [\n")
    assert cli.main(["sweep", "bad.toml"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and err.startswith("gradlab sweep: error:")
    with pytest.raises(ValueError, match="unknown estimator 'nope'"):
        cli.main(["train", "--estimator", "nope", "--epochs", "1", "--debug"])


def test_4_train_fails_before_training_when_its_history_cannot_be_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_file").write_text("")
    args = ["train", "--problem", "sbn", "--estimator", "zgr", "--epochs", "3", "--history", "a_file/h.nc"]
    assert cli.main([*args, "--no-progress"]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == "gradlab train: error: train: --history's folder 'a_file' is a file, not a folder"
    assert captured.out == "" and not (tmp_path / "snapshots").exists()  # no epoch was trained


def test_8_the_readme_links_only_files_in_the_repository():
    text = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(([\w./-]+\.(?:md|png|toml|py))\)", text)  # markdown links to files
    assert links and all((ROOT / link).exists() for link in links), [x for x in links if not (ROOT / x).exists()]
    assert "ESTIMATORS.md" not in text.replace("docs/ESTIMATORS.md", "")  # the shared file is not referred to
    assert "papers/" not in text.replace("docs/PAPERS.md", "")


def test_9_help_is_fast_list_has_headers_and_resumed_sweeps_count_reused_cells(tmp_path, capsys):
    probe = "import sys, gradlab.cli.main as c; c.build_parser().format_help(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"  # `gradlab --help` imports no torch (4.3 s before; about 0.05 s now)
    assert cli.main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["ESTIMATOR", "HYPER-PARAMETERS", "(DEFAULTS)", "KIND", "WHAT", "IT", "IS"]
    assert any(line.startswith("PROBLEM") and "WHAT IT IS: SETTINGS" in line for line in lines)
    parser = cli.build_parser()
    # finding 7: generated figures go outside the repository's tracked figures/ unless asked
    assert parser.parse_args(["verify"]).figures == "results/figures" and parser.parse_args(["run"]).figures is None
    run_help = parser._subparsers._group_actions[0].choices["run"].format_help()
    for flag in ("--num-vars", "--num-classes", "--n-jobs", "--seed"):
        assert re.search(rf"{flag} \S+\s+\S", run_help), flag  # every option has a description
    cfg = {
        "name": "resumed",
        "out": str(tmp_path / "r.nc"),
        "problem": {"kind": "single", "num_classes": 3},
        "sampling": {"n": 100, "bootstrap": 0},
        "estimators": [{"name": "st", "t": [1.0, 2.0, 3.0]}],
    }
    assert run_sweep(load_config(cfg), progress=False, max_cells=2) is None
    capsys.readouterr()
    run_sweep(load_config(cfg), progress=True)
    err = capsys.readouterr().err
    assert "sweep resumed (2 of 3 cells reused)" in err and "3/3" in err


def test_train_anneals_the_temperature_from_the_command_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = ["train", "--problem", "sbn", "--set", "hidden=4", "--estimator", "gs_st", "--epochs", "2", "--no-progress"]
    assert cli.main([*args, "--anneal", "2,0.5,0.1,1"]) == 0
    assert "temperature" in capsys.readouterr().out.splitlines()[0]
    assert cli.main([*args, "--anneal", "2,0.5"]) == 2
    assert "--anneal expects START,MIN,RATE,EVERY (e.g. 1.0,0.5,1e-4,500), got '2,0.5'" in capsys.readouterr().err
    vae = ["train", "--estimator", "gs_st", "--epochs", "1", "--num-vars", "2", "--num-classes", "4", "--no-progress"]
    assert cli.main([*vae, "--anneal", "1,0.5,0.1,1"]) == 0  # the VAE's snapshot recipe is the same loop
    out = capsys.readouterr().out.splitlines()
    assert "temperature" in out[0] and float(out[1].split()[-1]) == pytest.approx(max(0.5, math.exp(-0.1 * 33)))
    assert cli.main([*vae, "--set", "kl=model"]) == 2
    assert "--set: not available for --problem vae; use --num-vars" in capsys.readouterr().err


def test_train_help_lists_the_trainable_kinds():
    from gradlab.problems.build import trainable_problems

    train = cli.build_parser()._subparsers._group_actions[0].choices["train"]
    text = " ".join(train.format_help().split())
    assert len(trainable_problems()) >= 6
    assert "one of: " + ", ".join(trainable_problems()) + " (default vae)" in text
