"""The registry of check groups, the runner, the exit status, the table and the JSON report of ``gradlab verify``."""

from __future__ import annotations

import inspect
import json
import math
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from gradlab.core import checks as _checks
from gradlab.theory.claims import CLAIMS, Claim, claim_by_id
from gradlab.theory.core import CHECK_GROUPS, VERDICTS, CheckResult


def _discover() -> list[tuple[str, Callable[..., list[CheckResult]]]]:
    """Import every module of ``gradlab.theory`` (each check group registers itself where it is written, with
    :func:`~gradlab.theory.core.check_group`) and return the groups in the order of their first claim in
    :data:`~gradlab.theory.claims.CLAIMS` (groups that decide no listed claim last, by name)."""
    import importlib
    import pkgutil

    import gradlab.theory as package

    for info in pkgutil.iter_modules(package.__path__):
        if info.name != "runner":
            importlib.import_module(f"{package.__name__}.{info.name}")
    first: dict[str, int] = {}
    for i, c in enumerate(CLAIMS):
        if c.group is not None:
            first.setdefault(c.group, i)
    order = sorted(CHECK_GROUPS, key=lambda g: (first.get(g, len(CLAIMS)), g))
    return [(g, CHECK_GROUPS[g].fn) for g in order]


# the registry of check groups, in run and report order (the runner owns this view; tests may replace it)
CHECKS: list[tuple[str, Callable[..., list[CheckResult]]]] = _discover()


def _selection(only: Sequence[str] | None) -> tuple[list[str], set[str] | None]:
    """Groups to run and the claim ids to keep (``None``: all) for ``only`` = group names and/or claim ids."""
    groups = [g for g, _ in CHECKS]
    if not only:
        return groups, None
    want_groups, want_ids = set(), set()
    for item in only:
        if item in groups:
            want_groups.add(item)
        else:
            c = claim_by_id(item)  # one-line error naming the unknown id
            want_ids.add(c.id)
            if c.group is not None:
                want_groups.add(c.group)
    keep = None
    if want_ids:
        keep = want_ids | {c.id for c in CLAIMS if c.group in (set(only) & set(groups))}
    return [g for g in groups if g in want_groups], keep


def list_claims() -> str:
    """``gradlab verify --list``: every claim with its id, paper, location, status and quote."""
    lines = []
    for c in CLAIMS:
        status = f"check group {c.group}" if c.group else f"not checked: {c.why_not}"
        lines.append(f"{c.id}  [{c.paper.split(' (')[0]}; {c.location}; {status}]")
        lines.append(f'    "{c.quote}"')
    checked = sum(c.group is not None for c in CLAIMS)
    lines.append(f"{len(CLAIMS)} claims: {checked} checked, {len(CLAIMS) - checked} not checked")
    return "\n".join(lines)


def _unchecked(c) -> CheckResult:
    why = f"not checked: {c.why_not}"
    return _attach(CheckResult(c.id, c.quote, f"{c.paper}, {c.location}", "", why, "", "not checked"))


def _attach(r: CheckResult) -> CheckResult:
    c = claim_by_id(r.id) if r.id in {x.id for x in CLAIMS} else None
    if c is not None:
        r.paper, r.location, r.quote, r.derived = c.paper, c.location, c.quote, r.derived or c.derived
    return r


def run_checks(
    quick: bool = False,
    only: Sequence[str] | None = None,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
    results_dir: str | Path | None = None,
) -> list[CheckResult]:
    """Run the checks (``only``: group names and/or claim ids, default all); a failing group becomes ``error``
    results. Claims that no group checks appear as ``not checked`` with the reason (all of them without
    ``only``; the named ones with it). ``results_dir``: the folder of the training studies' histories, for the
    groups that read them (default :func:`~gradlab.theory.training_group.default_results_dir`)."""
    groups, keep = _selection(only)
    results = []
    todo = [(g, f) for g, f in CHECKS if g in groups]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(todo, desc="verify", unit="group")
        todo = bar
    for group, fn in todo:
        t0 = time.perf_counter()
        try:
            reads = "results" in inspect.signature(fn).parameters
            out = fn(quick, results=results_dir) if reads else fn(quick)
        except Exception as exc:  # a check that cannot be computed is reported, not raised
            out = [
                CheckResult(
                    c.id,
                    c.quote,
                    f"{c.paper}, {c.location}",
                    "",
                    f"{type(exc).__name__}: {exc}",
                    "",
                    "error",
                    details=traceback.format_exc(limit=3),
                )
                for c in [c for c in CLAIMS if c.group == group] or [Claim(f"{group}.*", "", "", "", group)]
            ]
        dt = time.perf_counter() - t0
        for r in out:
            r.seconds = dt / len(out)
            r.setting = r.setting or (CHECK_GROUPS[group].setting if group in CHECK_GROUPS else "")
            _checks.choice("verify", "verdict", r.verdict, VERDICTS)
            _attach(r)
        results.extend(r for r in out if keep is None or r.id in keep)
        if log:
            log(f"{group}: {', '.join(r.verdict for r in out)} ({dt:.1f} s)")
    named = keep or set()
    results.extend(_unchecked(c) for c in CLAIMS if c.group is None and (not only or c.id in named))
    return results


def exit_status(results: Sequence[CheckResult], strict: bool = False) -> int:
    """0 when every check ran; 2 if any is ``error``; with ``strict``, 1 if any claim is refuted (``not checked``
    and ``not run in quick mode`` are neither)."""
    if any(r.verdict == "error" for r in results):
        return 2
    if strict and any(r.verdict == "refuted" for r in results):
        return 1
    return 0


def format_table(results: Sequence[CheckResult], width: int = 116) -> str:
    """The terminal report: per claim a line with the id, the verdict and the orders (claimed, measured), then the
    measured and the claimed values in full, wrapped at ``width`` columns (nothing is cut off)."""
    import textwrap

    def order(v):
        return "" if v is None else ("inf" if v == math.inf else f"{v:.2f}")

    vw = max([10, *(len(r.verdict) for r in results)])
    head = f"{'check':<48} {'verdict':<{vw}} {'order claimed':>13} {'measured':>9}"
    rule = "-" * max(len(head), width)
    lines = [head, rule]
    for r in results:
        name = r.id + (" [derived]" if r.derived else "") + (f" @ {r.scale}" if r.scale else "")
        lines.append(f"{name:<48} {r.verdict:<{vw}} {order(r.claimed_order):>13} {order(r.measured_order):>9}".rstrip())
        for label, text in (("measured", r.measured), ("claimed", r.claimed)):
            if text:
                lines += textwrap.wrap(
                    " ".join(str(text).split()),
                    width,
                    initial_indent=f"    {label + ':':<10}",
                    subsequent_indent=" " * 14,
                    break_on_hyphens=False,
                )
    counts = {v: sum(r.verdict == v for r in results) for v in VERDICTS}
    lines.append(rule)
    lines.append(f"{len(results)} checks: " + ", ".join(f"{n} {v}" for v, n in counts.items()))
    return "\n".join(lines)


def write_json(results: Sequence[CheckResult], path: str | Path, quick: bool) -> Path:
    from gradlab.core.atomic import atomic_write_text
    from gradlab.core.version import versions

    doc = {
        **versions(),
        "quick": quick,
        "checks": [r.to_dict() for r in results],
    }
    return atomic_write_text(path, json.dumps(doc, indent=1, default=lambda o: None if o is None else float(o)))
