"""Argument parsing the commands share: ``--hp key=value`` settings and comma-separated integer lists."""

from __future__ import annotations

from collections.abc import Sequence


def parse_hparams(items: Sequence[str]) -> dict[str, object]:
    """``["t=0.5", "m=10", "backward=softmax"]`` -> typed dict (int, then float, else string)."""
    out: dict[str, object] = {}
    for item in items or ():
        if "=" not in item:
            raise SystemExit(f"gradlab: --hp expects key=value, got {item!r}")
        key, value = item.split("=", 1)
        for cast in (int, float):
            try:
                out[key] = cast(value)
                break
            except ValueError:
                continue
        else:
            out[key] = value
    return out


def int_list(text: str) -> list[int]:
    """``"10,20"`` -> ``[10, 20]``; empty text -> ``[]``."""
    return [int(v) for v in text.split(",") if v.strip()] if text else []
