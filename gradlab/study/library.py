"""The papers' training experiments, shipped as study configurations (``gradlab study --list``): ZGR Tables 1-3,
Figs. 2, 4 (right) / B.3 and B.4, Decoupled ST's SBN, autoencoder and logic-gate grids, Shah et al.'s
reconstruction and generation grids and their temperature schedules, each at the scales of the ladder
(``digits``, ``mnist5k-48``, ``mnist5k-paper``; ``paper`` with the papers' data by ``--data-path``)."""

from __future__ import annotations

from importlib.resources import files

__all__ = ["experiments", "experiment_source", "describe"]


def _folder():
    return files("gradlab.study").joinpath("experiments")


def experiments() -> list[str]:
    """The names of the shipped experiments."""
    return sorted(p.name[: -len(".toml")] for p in _folder().iterdir() if p.name.endswith(".toml"))


def experiment_source(name: str) -> str | None:
    """The TOML text of the shipped experiment ``name`` (``None`` when there is none of that name)."""
    if name not in experiments():
        return None
    return _folder().joinpath(f"{name}.toml").read_text()


def describe() -> str:
    """One line per shipped experiment: its name, what it measures and its scales."""
    import tomllib

    lines = []
    for name in experiments():
        raw = tomllib.loads(experiment_source(name))
        lines.append(f"{name:<22} {raw.get('about', '')} [scales: {', '.join(raw.get('scales', {}))}]")
    return "\n".join(lines)
