"""Your own estimator and problem kind, defined in a script's ``__main__``, in parallel (issue 27, item 1): on loky
workers and on a local Dask cluster they give the in-process numbers (they travel with the tasks by value)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import dataclasses, json, sys
    from typing import ClassVar
    import torch
    import gradlab as gl
    from gradlab.sweep import run_sweep


    @gl.register_estimator
    @dataclasses.dataclass(frozen=True)
    class TemperedGSST(gl.PathwiseEstimator):
        tau: float = 1.0
        name: ClassVar[str] = "tempered_gs_st"
        summary: ClassVar[str] = "toy"
        temperature_fields: ClassVar[tuple[str, ...]] = ("tau",)

        def _plugin_sample(self, logits, gumbel):
            perturbed = torch.log_softmax(logits, -1) + gumbel
            hard = gl.estimators.one_hot(perturbed.argmax(-1), logits.shape[-1], logits.dtype)
            return gl.straight_through(hard, torch.softmax(perturbed / (2 * self.tau), -1))


    def build(cfg, dtype, device):
        logits = torch.linspace(-1, 1, cfg.get("k", 3), dtype=dtype)
        def loss(x):
            return (x * torch.arange(x.shape[-1], dtype=x.dtype)).sum(-1) ** 2

        return gl.problems.SingleCategorical(logits, loss, dtype, device)


    gl.problems.register_problem("my_single", build, ("k",), "a toy problem")

    if __name__ == "__main__":  # (a local Dask cluster starts its worker processes by spawning: the guard is needed)
        out = {}
        for how, kw in (("one", {"n_jobs": 1}), ("loky", {"n_jobs": 2}), ("dask", {"n_jobs": 2, "backend": "dask"})):
            cfg = {"name": how, "out": sys.argv[1] + f"/{how}.nc", "problem": {"kind": "my_single", "k": [3, 4]},
                   "sampling": {"n": 400, "seeds": [0, 1]},
                   "estimators": [{"name": "tempered_gs_st", "tau": [0.5, 1.0]}, {"name": "zgr"}]}
            out[how] = run_sweep(cfg, progress=False, **kw)["bias2"].values.tolist()
        print(json.dumps(out))
    """
)


@pytest.mark.slow
def test_own_estimator_and_problem_from_main_on_loky_and_dask(tmp_path):
    script = tmp_path / "mine.py"
    script.write_text(SCRIPT)
    run = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["loky"] == out["one"] and out["dask"] == out["one"]
