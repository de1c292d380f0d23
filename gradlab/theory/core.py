"""Shared pieces of the theory checks: the result record, sources, order fits, quadrature helpers."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
from scipy import integrate
from scipy.special import expit

VERDICTS = ("confirmed", "refuted", "mixed", "inconclusive", "error", "not run in quick mode", "not checked")
ZGR = "ZGR paper (Shekhovtsov, Cold Analysis of Rao-Blackwellized ST-GS)"
SHAH = "Shah et al., Decoupled ST-GS"


@dataclasses.dataclass(frozen=True)
class CheckGroup:
    """A check group of ``gradlab verify``: its name (what ``--only`` takes and each claim's ``group``), the
    function ``fn(quick[, results=...]) -> list[CheckResult]`` and what it runs on when its results do not say."""

    name: str
    fn: Callable
    setting: str = ""


CHECK_GROUPS: dict[str, CheckGroup] = {}  # filled where each check is written (:func:`check_group`)


def check_group(name: str, setting: str = ""):
    """Register the decorated function as the check group ``name`` (the runner finds it; no list to edit)."""

    def register(fn):
        known = CHECK_GROUPS.get(name)
        if known is not None and known.fn.__qualname__ != fn.__qualname__:
            raise ValueError(f"check_group: name {name!r} is taken by {known.fn.__qualname__}")
        CHECK_GROUPS[name] = CheckGroup(name, fn, setting)
        return fn

    return register


@dataclasses.dataclass
class CheckResult:
    id: str
    claim: str
    source: str
    method: str
    measured: str
    claimed: str
    verdict: str
    claimed_order: float | None = None
    measured_order: float | None = None
    temperatures: list[float] | None = None
    errors: list[float] | None = None
    details: str = ""
    derived: bool = False
    seconds: float = 0.0
    setting: str = ""  # what it ran on: the instance, the snapshot (epochs, posterior entropy, KL), the mode
    scale: str = ""  # training claims: the scale of the histories (digits, mnist5k-48, ...); "" for the others
    paper: str = ""  # the next three are filled in from the claim registry by the runner
    location: str = ""
    quote: str = ""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# ----------------------------------------------------------------------------------------- helpers
class Fit(NamedTuple):
    """A fitted convergence order: the slope, its standard error, the number of points used, and whether the
    fit is meaningful: the points lie on a straight line in log-log (every local slope between consecutive
    points within ``max(0.25, 3 SE)`` of the fitted one), i.e. the fitted range is in the asymptotic regime.
    ``order = inf``: every error is at the numerical floor (nothing left to converge)."""

    order: float
    se: float
    n: int
    meaningful: bool


def fit_order(ts: Sequence[float], errs: Sequence[float], floors: Sequence[float] | float, n_fit: int = 4) -> Fit:
    """Slope of log(err) vs log(t) over the ``n_fit`` smallest ``t`` whose error exceeds 50x its floor (so the
    error is above the noise floor); ``nan`` when fewer than 3 points are usable. See :class:`Fit`."""
    ts, errs = np.asarray(ts, float), np.asarray(errs, float)
    floors = np.broadcast_to(np.asarray(floors, float), ts.shape)
    ok = errs > 50 * floors
    if not ok.any():
        return Fit(math.inf, 0.0, 0, True)
    idx = np.argsort(ts)[::-1]  # decreasing t
    idx = [i for i in idx if ok[i]][-n_fit:]
    if len(idx) < 3:
        return Fit(math.nan, math.nan, len(idx), False)
    x, y = np.log(ts[idx]), np.log(errs[idx])
    coef, cov = np.polyfit(x, y, 1, cov=True) if len(idx) > 3 else (np.polyfit(x, y, 1), np.zeros((2, 2)))
    order, se = float(coef[0]), float(np.sqrt(max(cov[0, 0], 0.0)))
    local = np.diff(y) / np.diff(x)
    return Fit(order, se, len(idx), bool(np.all(np.abs(local - order) <= max(0.25, 3 * se))))


def order_verdict(fits: Sequence[Fit], claimed: float) -> str:
    """``refuted`` when a meaningful fit is below ``claimed - max(0.25, 3 SE)``; ``confirmed`` when every fit is
    meaningful and none is; ``error`` when no fit is meaningful. Fits outside the asymptotic regime decide
    nothing (a claim with some of them is confirmed only on the meaningful ones; the report says how many)."""
    good = [f for f in fits if f.meaningful and not math.isnan(f.order)]
    if not good:
        return "error"
    if any(f.order < claimed - max(0.25, 3 * f.se) for f in good):
        return "refuted"
    return "confirmed"


def _fmt_orders(fits: Sequence[Fit]) -> str:
    good = [f.order for f in fits if f.meaningful and math.isfinite(f.order)]
    skipped = sum(not f.meaningful for f in fits)
    note = f" ({skipped} of {len(fits)} cases not in the asymptotic regime: no order reported)" if skipped else ""
    if not good:
        if all(f.order == math.inf for f in fits):
            return "error below the numerical floor everywhere"
        return "no meaningful fit" + note
    text = f"{min(good):.2f}" if len(good) == 1 else f"{min(good):.2f} to {max(good):.2f}"
    return text + note


def converges(fits: Sequence[Fit]) -> bool:
    """A "tends to" claim (no rate claimed): some fit is meaningful, and every meaningful one has an order above
    ``max(0.25, 3 SE)`` (``inf``: every error already at the floor, converged)."""
    good = [f for f in fits if f.meaningful and not math.isnan(f.order)]
    return bool(good) and all(f.order > max(0.25, 3 * f.se) for f in good)


def min_order(fits: Sequence[Fit]) -> float | None:
    """The smallest meaningful fitted order (``None`` when there is none)."""
    good = [f.order for f in fits if f.meaningful and not math.isnan(f.order)]
    return min(good) if good else None


def _pz(z):
    return expit(z) * expit(-z)


def binary_bracket(x: int, t: float, eta: float) -> tuple[float, float]:
    """The bracket of ZGR eqs. (11)/(23): ``J_GR(x) p(x) / (L'(x) p_Z(eta))``, by quadrature of eq. (21).

    With ``v = sigma(w)``, ``int_{1/2}^{1} p_Z(eta - t logit v) dv = int_0^inf p_Z(eta - t w) p_Z(w) dw`` (x=1;
    the negative half-line for x=0). Returns (value, quadrature error bound), both divided by p_Z(eta).
    """

    def f(w):
        return _pz(eta - t * w) * _pz(w)

    lo, hi = (0.0, np.inf) if x == 1 else (-np.inf, 0.0)
    v, e = integrate.quad(f, lo, hi, epsabs=1e-15, epsrel=1e-13, limit=500)
    return v / _pz(eta), max(e, 1e-16) / _pz(eta)


def _temperatures(quick: bool) -> np.ndarray:
    return np.geomspace(0.1, 0.003, 7) if quick else np.geomspace(0.2, 0.001, 14)


def _etas(quick: bool) -> list[float]:
    return [-1.5, 0.0, 0.8] if quick else [-3.0, -1.5, -0.5, 0.0, 0.8, 2.0]
