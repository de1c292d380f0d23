"""Shared helpers of the analysis scripts (run from the repository root: python analyses/<script>.py)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "figures"
RESULTS = ROOT / "results"


def ensure_snapshot(
    name: str, *, epochs: int, embedding: str = "bits", num_vars: int = 4, num_classes: int = 8
) -> Path:
    """An RF(4) snapshot of a categorical VAE on the embedded digits (trained once, then reused)."""
    import gradlab as gl
    from gradlab.train import snapshot_paths, train_vae

    directory = RESULTS / "snapshots" / name
    pt, js = snapshot_paths(directory, epochs)
    if not (pt.is_file() and js.is_file()):
        train_vae(
            gl.problems.digits(),
            gl.estimator("reinforce", m=4),
            num_vars=num_vars,
            num_classes=num_classes,
            embedding=embedding,
            epochs=epochs,
            snapshot_epochs=[epochs],
            out_dir=directory,
        )
    return pt
