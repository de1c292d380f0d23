"""The registry of check groups, the runner, the exit status, the table and the JSON report of ``gradlab verify``."""

from __future__ import annotations

import json
import math
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from .. import _checks
from .core import (
    VERDICTS,
    CheckResult,
)
from .shah import check_shah
from .zgr_binary import check_corollary_a1, check_prop1
from .zgr_categorical import (
    check_corollary3,
    check_footnote_st2,
    check_gs_variance,
    check_prop2_thm2_cor2,
    check_reinmax_zgr,
    check_theorem1,
)

# ------------------------------------------------------------------------------- registry
CHECKS: list[tuple[str, Callable[[bool], list[CheckResult]]]] = [
    ("prop1", check_prop1),
    ("corA1", check_corollary_a1),
    ("thm1", check_theorem1),
    ("exact", check_prop2_thm2_cor2),
    ("cor3", check_corollary3),
    ("gs", check_gs_variance),
    ("footnote", check_footnote_st2),
    ("shah", check_shah),
    ("reinmax", check_reinmax_zgr),
]


def run_checks(
    quick: bool = False,
    only: Sequence[str] | None = None,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> list[CheckResult]:
    """Run the checks (groups named in ``only``, default all); a failing group becomes ``error`` results."""
    groups = [g for g, _ in CHECKS]
    if only:
        unknown = set(only) - set(groups)
        if unknown:
            raise ValueError(f"verify: unknown check group(s) {sorted(unknown)}; known: {', '.join(groups)}")
    results = []
    todo = [(g, f) for g, f in CHECKS if not only or g in only]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(todo, desc="verify", unit="group")
        todo = bar
    for group, fn in todo:
        t0 = time.perf_counter()
        try:
            out = fn(quick)
        except Exception as exc:  # a check that cannot be computed is reported, not raised
            out = [
                CheckResult(
                    f"{group}.*",
                    f"checks of group {group}",
                    "",
                    "",
                    "",
                    "",
                    "error",
                    details=f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}",
                )
            ]
        dt = time.perf_counter() - t0
        for r in out:
            r.seconds = dt / len(out)
            _checks.choice("verify", "verdict", r.verdict, VERDICTS)
        results.extend(out)
        if log:
            log(f"{group}: {', '.join(r.verdict for r in out)} ({dt:.1f} s)")
    return results


def exit_status(results: Sequence[CheckResult], strict: bool = False) -> int:
    """0 when every check ran; 2 if any is ``error``; with ``strict``, 1 if any claim is refuted."""
    if any(r.verdict == "error" for r in results):
        return 2
    if strict and any(r.verdict == "refuted" for r in results):
        return 1
    return 0


def format_table(results: Sequence[CheckResult], width: int = 60) -> str:
    def short(s, w):
        s = " ".join(str(s).split())
        return s if len(s) <= w else s[: w - 1] + "…"

    def order(v):
        return "" if v is None else ("inf" if v == math.inf else f"{v:.2f}")

    head = f"{'check':<32} {'verdict':<10} {'order claimed':>13} {'measured':>9}  {'measured value':<{width}}  expected"
    lines = [head, "-" * len(head)]
    for r in results:
        lines.append(
            f"{short(r.id + (' [derived]' if r.derived else ''), 32):<32} {r.verdict:<10} {order(r.claimed_order):>13} "
            f"{order(r.measured_order):>9}  {short(r.measured, width):<{width}}  {short(r.expected, 40)}"
        )
    counts = {v: sum(r.verdict == v for r in results) for v in VERDICTS}
    lines.append("-" * len(head))
    lines.append(f"{len(results)} checks: " + ", ".join(f"{n} {v}" for v, n in counts.items()))
    return "\n".join(lines)


def write_json(results: Sequence[CheckResult], path: str | Path, quick: bool) -> Path:
    from .._version import __version__
    from ..io import atomic_write_text

    doc = {
        "gradlab_version": __version__,
        "torch_version": str(torch.__version__),
        "quick": quick,
        "checks": [r.to_dict() for r in results],
    }
    return atomic_write_text(path, json.dumps(doc, indent=1, default=lambda o: None if o is None else float(o)))
