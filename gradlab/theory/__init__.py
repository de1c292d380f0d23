"""Numerical checks of the claims of the ZGR paper and of Shah et al. (``gradlab verify``).

Every check measures and reports: an id, the claim and its source (paper, equation), the method
(quadrature, enumeration, Monte Carlo with ``n``), the measured and the claimed values, for asymptotic
claims the errors at a sequence of temperatures with the fitted convergence order beside the claimed one,
and a verdict: ``confirmed``, ``refuted`` (the numbers contradict the claim as printed) or ``error`` (the
check could not be computed). Formulas are checked exactly as printed; where a printed formula is refuted
and the correct one can be derived, the derived formula is a separate check marked ``derived``.

Verdict rules (from the numerical method's error, never from the claim):

* asymptotic claims: the order is the least-squares slope of ``log error`` against ``log t`` over the
  smallest temperatures whose error is above 50x the method's error bound (quadrature's own estimate, or
  3 Monte Carlo standard errors); a claim of order ``q`` is confirmed when the fitted order is at least
  ``q - max(0.25, 3 SE)`` in every case, refuted otherwise;
* exact identities (enumeration): confirmed when the discrepancy is below ``1e-10`` relative (float64
  rounding is ~1e-15), refuted otherwise;
* inequalities between Monte Carlo quantities: one-sided z-tests at 3 standard errors;
* trends ("falls as tau_b grows"): Spearman's rank correlation over the grid at most -0.8 (at least 0.8 for
  "rises") and the end points separated by their 95 % bootstrap intervals;
* ``mixed``: a claim that holds over part of what was measured and not the rest (the report says where);
  ``inconclusive``: the measurement cannot decide the claim, for the reason the report gives (e.g. a squared-bias
  interval entirely below zero, where the reference's noise dominates).

The training claims are checked per scale of the committed histories (``scale`` in each result).
"""

from __future__ import annotations

from gradlab.theory.claims import CLAIMS, Claim, claim_by_id
from gradlab.theory.core import SHAH, VERDICTS, ZGR, CheckResult, fit_order, order_verdict
from gradlab.theory.runner import CHECKS, exit_status, format_table, list_claims, run_checks, write_json
from gradlab.theory.zgr_binary import _prop1_errors

LAYER = 10  # this folder's layer, bottom up (tests/test_layers.py, docs/ARCHITECTURE.md)

__all__ = [
    "CheckResult",
    "CHECKS",
    "CLAIMS",
    "Claim",
    "claim_by_id",
    "list_claims",
    "run_checks",
    "format_table",
    "exit_status",
    "write_json",
    "fit_order",
    "order_verdict",
    "VERDICTS",
    "ZGR",
    "SHAH",
    "_prop1_errors",
]
