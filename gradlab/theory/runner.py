"""The registry of check groups, the runner, the exit status, the table and the JSON report of ``gradlab verify``."""

from __future__ import annotations

import inspect
import json
import math
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from .. import _checks
from .claims import CLAIMS, Claim, claim_by_id
from .core import (
    VERDICTS,
    CheckResult,
)
from .shah import check_shah, check_shah_gap
from .training import check_training
from .zgr_asymptotics import check_asymptotics
from .zgr_binary import check_corollary_a1, check_prop1
from .zgr_categorical import (
    check_corollary3,
    check_gs_variance,
    check_prop2_thm2_cor2,
    check_reinmax_zgr,
    check_theorem1,
)
from .zgr_claims import check_estimator_claims, check_quantization_gr_limit, check_quantization_unit
from .zgr_footnote import check_footnote_st2
from .zgr_quantization import check_quantization_variance
from .zgr_timing import check_timing
from .zgr_vae import check_vae_snapshots

# ------------------------------------------------------------------------------- registry
CHECKS: list[tuple[str, Callable[[bool], list[CheckResult]]]] = [
    ("prop1", check_prop1),
    ("corA1", check_corollary_a1),
    ("asymptotics", check_asymptotics),
    ("thm1", check_theorem1),
    ("exact", check_prop2_thm2_cor2),
    ("estimators", check_estimator_claims),
    ("cor3", check_corollary3),
    ("gs", check_gs_variance),
    ("footnote", check_footnote_st2),
    ("quantization", check_quantization_unit),
    ("quantization_gr", check_quantization_gr_limit),
    ("quantization_variance", check_quantization_variance),
    ("timing", check_timing),
    ("vae", check_vae_snapshots),
    ("shah", check_shah),
    ("shah_gap", check_shah_gap),
    ("reinmax", check_reinmax_zgr),
    ("training", check_training),  # reads the training studies' histories (``results``)
]


# what the checks that do not say it themselves ran on
GROUP_SETTINGS = {
    "prop1": "one binary variable, quadrature of eq. (21)",
    "corA1": "one binary variable, quadrature of eq. (21)",
    "thm1": "one categorical variable, Monte Carlo GR-MC at forced x",
    "exact": "one or several categorical variables, exact enumeration",
    "cor3": "one categorical variable (K = 4), enumeration and Monte Carlo",
    "gs": "one categorical variable (K = 4), quadratic loss, Monte Carlo",
    "reinmax": "single categorical variables, exact at every x",
}


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
    groups that read them (default :func:`~gradlab.theory.training.default_results_dir`)."""
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
            r.setting = r.setting or GROUP_SETTINGS.get(group, "")
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
    from .._version import versions
    from ..io import atomic_write_text

    doc = {
        **versions(),
        "quick": quick,
        "checks": [r.to_dict() for r in results],
    }
    return atomic_write_text(path, json.dumps(doc, indent=1, default=lambda o: None if o is None else float(o)))
