"""Nothing is overwritten silently (issue 27, item 2): a file at ``out`` that is not a result of the same
configuration is an error, in one line, before any work, unless ``overwrite``."""

from __future__ import annotations

import pytest

from gradlab.cli import main as cli
from gradlab.sweep import load_config, run_sweep


def config(tmp_path, n=200):
    return {
        "name": "keep",
        "out": str(tmp_path / "precious.nc"),
        "problem": {"kind": "single", "num_classes": 3},
        "sampling": {"n": n, "seeds": [0]},
        "estimators": [{"name": "zgr"}],
    }


def test_a_foreign_file_and_a_result_of_other_settings_are_not_replaced(tmp_path, capsys):
    precious = tmp_path / "precious.nc"
    precious.write_text("my thesis")
    with pytest.raises(FileExistsError, match=r"precious.nc exists and is not a gradlab result; pass overwrite=True"):
        run_sweep(load_config(config(tmp_path)), progress=False)
    assert precious.read_text() == "my thesis" and not (tmp_path / "precious.nc.cells").exists()
    precious.unlink()
    first = run_sweep(load_config(config(tmp_path)), progress=False)
    again = run_sweep(load_config(config(tmp_path)), n_jobs=1, progress=False)  # the same configuration: fine
    assert float(again["bias2"].squeeze()) == float(first["bias2"].squeeze())
    with pytest.raises(FileExistsError, match=r"is a result of other settings \(sampling\)"):
        run_sweep(load_config(config(tmp_path, n=300)), progress=False)
    run_sweep(load_config(config(tmp_path, n=300)), progress=False, overwrite=True)
    # the command line says it in one line, and takes --overwrite
    toml = tmp_path / "keep.toml"
    toml.write_text(
        f'name = "keep"\nout = "{precious}"\n[problem]\nkind = "single"\nnum_classes = 3\n[sampling]\nn = 250\n'
        'seeds = [0]\n[[estimators]]\nname = "zgr"\n'
    )
    assert cli.main(["sweep", str(toml), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "exists and is a result of other settings" in err and len(err.splitlines()) == 1
    assert cli.main(["sweep", str(toml), "--no-progress", "--overwrite"]) == 0
