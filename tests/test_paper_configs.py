"""The paper-scale configurations in analyses/paper/: every file is read by its script, every problem of its
plan builds (on a small stand-in for the real data set, in the real file formats), and a bad file is a one-line
error."""

from __future__ import annotations

import runpy
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from gradlab.sweep.config import tomllib  # tomllib, or tomli before Python 3.11

ROOT = Path(__file__).resolve().parents[1]
ANALYSES = ROOT / "analyses"
CONFIGS = sorted((ANALYSES / "paper").glob("*.toml"))


@pytest.fixture(scope="module")
def fake_data(tmp_path_factory) -> Path:
    """400 random 28 x 28 images with labels as MNIST IDX files, and an Omniglot chardata.mat."""
    from scipy.io import savemat

    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    n = 400
    imgs = rng.integers(0, 256, (n, 28, 28)).astype(np.uint8)
    (root / "train-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 2051, n, 28, 28) + imgs.tobytes())
    labels = rng.integers(0, 10, n).astype(np.uint8)
    (root / "train-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, n) + labels.tobytes())
    savemat(root / "chardata.mat", {"data": rng.random((784, n))})
    return root


def run_script(script: str, *argv: str) -> None:
    sys.path.insert(0, str(ANALYSES))
    old = sys.argv
    sys.argv = [script, *argv]
    try:
        runpy.run_path(str(ANALYSES / script), run_name="__main__")
    finally:
        sys.argv = old
        sys.path.remove(str(ANALYSES))


def test_there_is_a_config_per_paper_experiment():
    names = {c.stem for c in CONFIGS}
    assert {"zgr_table1_mnist", "zgr_table1_omniglot", "zgr_table2_mnist", "zgr_table2_omniglot"} <= names
    assert {"zgr_fig2_mnist", "zgr_table3_fmnist", "zgr_fig4_quantized_fmnist", "zgr_figB4_vae_mnist"} <= names
    assert {"decoupled_sbn_fmnist", "decoupled_cae_mnist", "shah_gen_mnist", "shah_recon_mnist"} <= names


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
def test_paper_config_builds_its_plan(config, fake_data, capsys):
    cfg = tomllib.loads(config.read_text())
    run_script(cfg["script"], "--config", str(config), "--data-path", str(fake_data), "--dry-run")
    out = capsys.readouterr().out
    assert "plan:" in out
    assert f"of {cfg['epochs']} epochs" in out or f"{cfg['epochs']}] epochs" in out
    assert f"'dataset': '{cfg['dataset']}'" in out  # the paper's data set, not the digits


def test_paper_quantized_network_is_the_papers(fake_data):
    """Table 3's network: 32C5-MP2-64C5-MP2-512FC-10FC: 32*25 + 64*32*25 + 3136*512 + 512*10 weights (same-size
    padding keeps 28 x 28 until the poolings: 7 x 7 x 64 = 3136 inputs to the dense layer), and the batch
    normalisations (2 * (32 + 64 + 512)) and the output bias (10)."""
    import gradlab as gl

    cfg = tomllib.loads((ANALYSES / "paper" / "zgr_table3_fmnist.toml").read_text())
    net = gl.problems.build_problem(
        {"kind": "quantized", **cfg["network"], "dataset": "fashion_mnist", "data_path": str(fake_data)}
    )
    shapes = {k: tuple(v.shape) for k, v in net.param_values().items()}
    assert [shapes[f"w{i}"] for i in range(4)] == [(32, 1, 5, 5), (64, 32, 5, 5), (3136, 512), (512, 10)]
    assert sum(v.numel() for v in net.param_values().values()) == 800 + 51200 + 3136 * 512 + 5120 + 1216 + 10


def test_bad_configs_are_one_line_errors(tmp_path, fake_data):
    bad = tmp_path / "bad.toml"
    bad.write_text('script = "zgr_training_tables.py"\nepoch = 3\n')
    with pytest.raises(SystemExit, match="unknown key 'epoch'; did you mean 'epochs'"):
        run_script("zgr_training_tables.py", "--config", str(bad), "--dry-run")
    bad.write_text('script = "zgr_fig2_temperature.py"\n')
    with pytest.raises(SystemExit, match="is for zgr_fig2_temperature.py, not zgr_training_tables.py"):
        run_script("zgr_training_tables.py", "--config", str(bad), "--dry-run")
    bad.write_text("epochs = [\n")
    with pytest.raises(SystemExit, match="not valid TOML"):
        run_script("zgr_training_tables.py", "--config", str(bad), "--dry-run")
    with pytest.raises(SystemExit, match="no-such.toml: No such file"):
        run_script("zgr_training_tables.py", "--config", str(tmp_path / "no-such.toml"), "--dry-run")
    with pytest.raises(SystemExit, match="dataset 'mnist' needs its files: --data-path DIR"):
        run_script("zgr_training_tables.py", "--config", str(ANALYSES / "paper" / "zgr_table1_mnist.toml"))
