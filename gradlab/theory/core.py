"""Shared pieces of the theory checks: the result record, sources, order fits, quadrature helpers."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
from scipy import integrate
from scipy.special import expit

VERDICTS = ("confirmed", "refuted", "error")
ZGR = "ZGR paper (Shekhovtsov, Cold Analysis of Rao-Blackwellized ST-GS)"
SHAH = "Shah et al., Decoupled ST-GS"


@dataclasses.dataclass
class CheckResult:
    id: str
    claim: str
    source: str
    method: str
    measured: str
    expected: str
    verdict: str
    claimed_order: float | None = None
    measured_order: float | None = None
    temperatures: list[float] | None = None
    errors: list[float] | None = None
    details: str = ""
    derived: bool = False
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# ----------------------------------------------------------------------------------------- helpers
def fit_order(ts: Sequence[float], errs: Sequence[float], floors: Sequence[float] | float, n_fit: int = 4):
    """Slope of log(err) vs log(t) over the ``n_fit`` smallest ``t`` whose error exceeds 50x its floor.

    Returns ``(order, standard error, number of points used)``; ``order = inf`` when every error is at
    the numerical floor (nothing left to converge), ``nan`` when fewer than 3 points are usable otherwise.
    """
    ts, errs = np.asarray(ts, float), np.asarray(errs, float)
    floors = np.broadcast_to(np.asarray(floors, float), ts.shape)
    ok = errs > 50 * floors
    if not ok.any():
        return math.inf, 0.0, 0
    idx = np.argsort(ts)[::-1]  # decreasing t
    idx = [i for i in idx if ok[i]][-n_fit:]
    if len(idx) < 3:
        return math.nan, math.nan, len(idx)
    x, y = np.log(ts[idx]), np.log(errs[idx])
    coef, cov = np.polyfit(x, y, 1, cov=True) if len(idx) > 3 else (np.polyfit(x, y, 1), np.zeros((2, 2)))
    return float(coef[0]), float(np.sqrt(max(cov[0, 0], 0.0))), len(idx)


def order_verdict(orders: Sequence[tuple[float, float]], claimed: float) -> str:
    for q, se in orders:
        if math.isnan(q):
            return "error"
        if q < claimed - max(0.25, 3 * se):
            return "refuted"
    return "confirmed"


def _fmt_orders(orders: Sequence[tuple[float, float]]) -> str:
    finite = [q for q, _ in orders if math.isfinite(q)]
    if not finite:
        return "error below the numerical floor everywhere"
    return f"{min(finite):.2f}" if len(finite) == 1 else f"{min(finite):.2f} to {max(finite):.2f}"


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
