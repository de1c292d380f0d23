"""`gradlab verify --quick`: every check runs, and the verdicts we established hold (a change that flips a
verdict is caught). The verdicts are the measured ones — several printed formulas are refuted."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from gradlab import theory as T
from gradlab.cli import main as cli

# Every claim's verdict in quick mode at the fixed seeds, with what was measured beside it (quick / full mode;
# the full numbers are from `gradlab verify`, and test_quick_and_full_agree checks the verdicts agree). The VAE
# snapshots are trained in float64, so the verdicts do not depend on the CPU's float32 kernels (in float32 two
# Shah trend verdicts differed between two machines).
EXPECTED = {
    "prop1.eq11": ("refuted", "error order 0.99-1.02 / 1.00-1.27: c~1 printed with p_Z(eta) instead of p"),
    "prop1.eq23-first-order": ("confirmed", "error order 1.95-2.04 / 1.99-2.01"),
    "prop1.eq23-second-order": ("confirmed", "error order 2.99-4.00 / 2.99-4.00"),
    "cor1.limit-darn-half": ("confirmed", "order 0.99-2.00 / 1.00-2.00; darn(1/2) vs eq. 24: 5.6e-17"),
    "corA1.mean": ("confirmed", "error order 2.00-2.09 / 1.99-2.02"),
    "corA1.variance": ("refuted", "error order 0.99 / 0.83-1.00; first-order coefficient 2.000x the printed one"),
    "corA1.variance-derived": ("confirmed", "error order 2.00-2.05 / 2.00-2.03"),
    "corA1.linear-bias": ("confirmed", "bias order 2.00 / 2.00"),
    "corA1.linear-variance-slope": ("confirmed", "dV/dt in [-0.375, 0] / [-0.38, 0]"),
    "sec2.gs-st-bias-floor": ("confirmed", "relative bias at t = 0.001 about +0.082, ZGR's +0.0820"),
    "sec3.3.common-bias": ("confirmed", "max |z| 0.92 / 1.30 over 8 comparisons"),
    "sec3.1.min-mse-temperature": ("confirmed", "t* = 0.59 and 1.71, MSE(t*) / MSE(0) = 0.23 and 0.012"),
    "eq31.variance-slope-sign": ("confirmed", "both signs; negative at eta = +-5 in 10 of 10 cases"),
    "thm1.gr-mc-to-zgr": ("confirmed", "fitted order 0.99 / 0.86-1.07 (no rate is claimed)"),
    "prop2.decomposition": ("confirmed", "max |difference| 4.4e-16"),
    "thm2.quadratic-unbiased": ("confirmed", "max relative error 3.8e-16 / 1.2e-15 (ST: 0.61 / 2.70)"),
    "cor2.independent-variables": ("confirmed", "max relative error 5.5e-16 (with a cubic term 0.38 / 0.44)"),
    "sec2.darn-half-quadratic": ("confirmed", "max relative bias 4.1e-16 / 1.0e-15 (DARN(p): 0.27)"),
    "sec2.no-phi-bar-categorical": ("confirmed", "joint relative bias K=2 7e-16; K=3 0.41, K=4 0.52, K=6 0.52"),
    "sec3.2.st-darn-opposite": ("confirmed", "|b_ST + b_DARN| / |b_ST| 1.4e-15 / 3.0e-15"),
    "sec3.2.st-multilinear": ("confirmed", "multilinear 6.7e-16; with squares at least 0.26"),
    "appA.st-single-variable-exact": ("confirmed", "max deviation of any sample 1.0e-14 / 2.1e-16"),
    "cor3.variance-order": ("confirmed", "the ordering holds at t = 0.01 for M = 10 and 100"),
    "gs.variance-1/t": ("confirmed", "variance ~ t^-1.088 / t^-1.047"),
    "gs_st.variance-1/t": ("confirmed", "variance ~ t^-1.084 / t^-1.052"),
    "footnote.st2-vs-gsst1": (
        "mixed",
        "binary: t* in [1.6, 2.5] only for |eta| in [2.5, 3]; categorical 1.35-1.49; on the VAE 1 and 0.75",
    ),
    "figB5.variance-order": ("mixed", "GR-MC(100) below GS-ST/2 at 8 of 8 points; RF(2) above 2x at 3 of 8"),
    "appB5.quantization-unit": ("confirmed", "ZGR quadratic bias 3.3e-16; ST smaller variance at 58/66 points"),
    "appB5.zgr-is-gr-at-zero-temperature": ("not run in quick mode", "full: the difference shrinks at order 0.99"),
    "fig5.zgr-faster": (
        "confirmed",
        "a pass of 200 images: ZGR 6.3 / 6.6 ms, GR-MC(100) 245 / 196 ms, RF(2) 8.6 / 8.9 ms",
    ),
    "fig5.quantized-speed-gain": ("confirmed", "GR-MC(10) / ZGR time: VAE 1.6x, quantized network 7.1x"),
    "sec4.2.st-zgr-no-regret": ("refuted", "GR-MC(1) (low variance, bias 1.3e-6) matched by no ST(t)-ZGR setting"),
    "shah.tau_b.bias": ("mixed", "holds at tau_f = 3; reversed at tau_f = 0.3 and 0.5 (the full grid in both modes)"),
    "shah.tau_b.variance": ("confirmed", "every line, both metrics, Spearman -1.00"),
    "shah.tau_f.bias": ("mixed", "holds at tau_b = 0.3 only (rho +0.90); reversed at tau_b = 2 and 3"),
    "shah.tau_f.variance": ("confirmed", "every line, both metrics, Spearman +1.00"),
    "shah.tau_f.bias.model-target": ("refuted", "no line with a monotone rise (float64 snapshot)"),
    "shah.gap-falls-with-tau_b": ("confirmed", "every tau_f, Spearman -1.00"),
    "observation.reinmax1-is-zgr": ("confirmed", "max relative difference 2.2e-14 (ReinMax(2): 12.08)"),
    "fig1.common-bias": ("confirmed", "GS-ST and GR-MC(10) intervals overlap at every t (epoch 10)"),
    "fig1.variance-over-bias": ("refuted", "variance / bias^2 from 8.78 / 8.75 (GS-ST(1)), criterion >= 100"),
    "fig1.zgr-lowest-bias": ("confirmed", "ZGR 6.5e-8 / 7.2e-8; no setting significantly below"),
    "figB2.rf4-overtakes-zgr": ("refuted", "RF(4)/ZGR 0.836 / 0.840, but GS-ST(1), GR-MC(0.3, 1) below ZGR too"),
    "figB2.bias-reversal-epoch1": ("refuted", "Spearman with t at epoch 1 +1.00 / +1.00, at epoch 10 +1.00"),
    "fig4.pareto-frontier": ("refuted", "GR-MC(1) on the front beside ST(2), ST-ZGR and RF(4)"),
    "fig4.gr-mc-floor": ("confirmed", "GR-MC(10) bias^2 at the smallest t within ZGR's interval; variance largest"),
    # the training claims read the training studies' histories; with none (a clean clone) they are not checked
    # (tests/theory/test_theory_training.py checks their verdicts on histories with known outcomes)
    **{
        cid: ("not checked", "no histories/<scale>/<file>.nc")
        for cid in (
            "table1.st-poor",
            "table1.zgr-vs-gr-mc",
            "table1.zgr-vs-rf",
            "table2.st-poor",
            "table2.zgr-vs-gr-mc",
            "table2.zgr-vs-rf",
            "fig2.zgr-regret",
            "table3.low-variance-best",
            "table3.rf-out",
            "table3.zgr-beats-gr-mc",
            "fig4.pareto-frontier-quantized",
            "tableB1.test-consistent",
            "tableB2.test-consistent",
            "fig3.zgr-most-efficient",
            "sec4.3.variance-ranking",
            "sec4.1.3.variance-early",
            "shah.heatmap-best-off-diagonal",
            "shah.recon-plateau",
            "shah.schedules-no-gain",
            "shah.gen-best-off-diagonal",
            "shah.sbn-off-diagonal",
            "shah.sbn-faster",
            "shah.cae-lowest-loss",
            "shah.cae-perplexity",
            "shah.cae-consistent-seeds",
            "shah.logic-gates",
            "shah.logic-gate-balance",
        )
    },
}


@pytest.fixture(scope="module")
def no_results(tmp_path_factory):
    """An empty folder of training histories (as in a clean clone), so the verdicts do not depend on what the
    analysis scripts left in results/."""
    return tmp_path_factory.mktemp("no_results")


@pytest.fixture(scope="module")
def quick_results(no_results):
    return T.run_checks(quick=True, results_dir=no_results)


@pytest.mark.slow
def test_every_check_ran_with_the_established_verdict(quick_results):
    got = {r.id: r.verdict for r in quick_results}
    assert "error" not in got.values(), [r.details for r in quick_results if r.verdict == "error"]
    assert got == {k: v for k, (v, _) in EXPECTED.items()}


@pytest.mark.slow
def test_asymptotic_checks_report_orders(quick_results):
    by_id = {r.id: r for r in quick_results}
    for cid, claimed in [("prop1.eq23-first-order", 2), ("prop1.eq23-second-order", 3), ("corA1.variance-derived", 2)]:
        r = by_id[cid]
        assert r.claimed_order == claimed and r.measured_order >= claimed - 0.25
        assert len(r.temperatures) == len(r.errors) >= 5
    # the refuted printed formulas converge at order 1, a full order below the claim
    for cid in ("prop1.eq11", "corA1.variance"):
        assert by_id[cid].measured_order < 1.5
    assert abs(by_id["gs.variance-1/t"].measured_order + 1) < 0.15


def test_fit_order_on_known_series():
    t = np.geomspace(0.1, 0.001, 8)
    q, se, n, meaningful = T.fit_order(t, 3 * t**2 + 1e-16, 1e-16)
    assert abs(q - 2) < 1e-6 and n == 4 and meaningful
    assert T.fit_order(t, np.full(8, 1e-17), 1e-16)[0] == math.inf  # nothing above the floor
    fit = T.core.Fit
    assert T.order_verdict([fit(1.0, 0.01, 4, True)], 2.0) == "refuted"
    assert T.order_verdict([fit(1.9, 0.01, 4, True)], 2.0) == "confirmed"
    # a small first-order coefficient cancelling the t^2 term inside the fitted range (the error changes sign
    # near t = 0.003, as in Corollary A.1's case eta = 0.8): not in the asymptotic regime, no order
    cross = T.fit_order(t, np.abs(0.003 * t - t**2), 1e-18)
    assert not cross.meaningful and T.order_verdict([cross], 2.0) == "error"
    assert "not in the asymptotic regime" in T.core._fmt_orders([cross, fit(2.0, 0.01, 4, True)])


def test_cli_exit_status_json_and_figures(tmp_path, capsys):
    out = tmp_path / "v.json"
    code = cli.main(
        [
            "verify",
            "--quick",
            "--only",
            "exact,reinmax",
            "--json",
            str(out),
            "--figures",
            str(tmp_path),
            "--no-progress",
        ]
    )
    assert code == 0
    doc = json.loads(out.read_text())
    assert doc["quick"] is True and {c["id"] for c in doc["checks"]} >= {"thm2.quadratic-unbiased"}
    fields = {"id", "claim", "paper", "location", "quote", "setting", "method", "measured", "claimed", "verdict"}
    assert all(set(c) >= fields | {"claimed_order", "measured_order"} for c in doc["checks"])
    assert all(c["quote"] and c["location"] and c["setting"] for c in doc["checks"])
    assert "checks: 4 confirmed" in capsys.readouterr().out
    assert (
        cli.main(["verify", "--quick", "--only", "prop1", "--strict", "--figures", str(tmp_path), "--no-progress"]) == 1
    )
    assert (tmp_path / "verify_convergence.png").stat().st_size > 1000
    assert cli.main(["verify", "--quick", "--only", "prop1", "--figures", "none", "--no-progress"]) == 0


def test_a_check_that_cannot_run_is_an_error(monkeypatch):
    def broken(quick):
        raise RuntimeError("quadrature diverged")

    monkeypatch.setattr(T.runner, "CHECKS", [("broken", broken), *T.CHECKS[-1:]])  # the runner owns the registry
    res = T.run_checks(quick=True)
    assert res[0].verdict == "error" and "quadrature diverged" in res[0].details
    assert T.exit_status(res) == 2
    with pytest.raises(ValueError, match="unknown claim 'nope'; `gradlab verify --list` shows every claim"):
        T.run_checks(quick=True, only=["nope"])


def test_a_check_group_registers_itself_where_it_is_written(monkeypatch):
    """A new group is one decorated function: the runner finds it with no list to edit, in the claims' order, and
    reports its setting; a second function under a taken name is refused."""
    from gradlab.theory import core, runner

    monkeypatch.setattr(core, "CHECK_GROUPS", dict(core.CHECK_GROUPS))
    monkeypatch.setattr(runner, "CHECK_GROUPS", core.CHECK_GROUPS)
    before = [g for g, _ in runner._discover()]
    assert before == [g for g, _ in T.CHECKS] and len(before) == 18
    first = {}
    for i, c in enumerate(T.CLAIMS):
        if c.group is not None:
            first.setdefault(c.group, i)
    assert [first[g] for g in before] == sorted(first[g] for g in before)  # the order of the claims' list

    @core.check_group("zz_new", setting="a setting of its own")
    def check_new(quick):
        return [T.CheckResult("zz.new", "", "", "", "1.0", "1.0", "confirmed")]

    found = runner._discover()
    assert [g for g, _ in found][-1] == "zz_new" and found[-1][1] is check_new
    monkeypatch.setattr(runner, "CHECKS", found)
    (res,) = T.run_checks(quick=True, only=["zz_new"])
    assert (res.id, res.verdict, res.setting) == ("zz.new", "confirmed", "a setting of its own")

    with pytest.raises(ValueError, match="check_group: name 'prop1' is taken by check_prop1"):

        @core.check_group("prop1")
        def another(quick):
            return []


@pytest.mark.slow
def test_shah_checks_run_on_a_trained_model_and_say_so(quick_results):
    """Quick mode uses the same 20-epoch snapshot as the full run (an untrained encoder could confirm or refute
    nothing about a trained VAE): every Shah check reports the snapshot, and its posterior is far from uniform."""
    import re

    shah = [r for r in quick_results if r.id.startswith("shah.") and r.verdict != "not checked"]
    assert len(shah) == 6
    for r in [*shah, next(r for r in quick_results if r.id == "footnote.st2-vs-gsst1")]:
        m = re.search(r"snapshot after (\d+) epochs of RF\(4\); posterior entropy ([\d.]+) % of the uniform", r.setting)
        assert m and int(m.group(1)) == 20 and float(m.group(2)) < 90.0, r.setting


@pytest.mark.slow
def test_every_result_is_a_registered_claim_with_its_quote(quick_results):
    ids = [r.id for r in quick_results]
    assert len(ids) == len(set(ids)) == len(T.CLAIMS)
    assert set(ids) == {c.id for c in T.CLAIMS}
    for r in quick_results:
        c = T.claim_by_id(r.id)
        assert (r.quote, r.location, r.paper) == (c.quote, c.location, c.paper) and r.quote
        assert c.group is not None and r.verdict != "error", r.id  # every claim has a check group now
        assert r.setting or r.verdict == "not checked", r.id


def test_list_and_only_by_claim_id(capsys, no_results):
    assert cli.main(["verify", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(c.id in out for c in T.CLAIMS) and f"{len(T.CLAIMS)} claims:" in out
    one = T.run_checks(quick=True, only=["sec2.darn-half-quadratic"])
    assert [r.id for r in one] == ["sec2.darn-half-quadratic"] and one[0].verdict == "confirmed"
    unchecked = T.run_checks(quick=True, only=["table1.st-poor"], results_dir=no_results)
    assert [(r.id, r.verdict) for r in unchecked] == [("table1.st-poor", "not checked")]
    assert "`python analyses/zgr_training_tables.py --model vae` writes it" in unchecked[0].measured
    assert cli.main(["verify", "--only", "nope", "--no-progress"]) == 2  # one line, no traceback
    assert "unknown claim 'nope'" in capsys.readouterr().err


@pytest.mark.slow
def test_quick_and_full_agree(quick_results, no_results):
    """`gradlab verify` (full) and `--quick` give the same verdict wherever quick mode gives one (about 9 min on 2
    cores)."""
    full = {r.id: r.verdict for r in T.run_checks(quick=False, results_dir=no_results)}
    quick = {r.id: r.verdict for r in quick_results if r.verdict != "not run in quick mode"}
    assert {k: full[k] for k in quick} == quick


def test_new_measured_claims_can_fail():
    """The verdict functions of the Fig. 5 (right), Fig. B.5 and Sec. 4.2 checks, fed measurements with either
    outcome."""
    from gradlab.theory.zgr_quantization import variance_order_rows
    from gradlab.theory.zgr_timing import speed_gain_verdict
    from gradlab.theory.zgr_vae import no_regret

    assert speed_gain_verdict({"gr": 2.0, "z": 1.0}, {"gr": 7.0, "z": 1.0}, "gr", "z")[0]
    assert not speed_gain_verdict({"gr": 7.0, "z": 1.0}, {"gr": 2.0, "z": 1.0}, "gr", "z")[0]
    good = {"gs_st": 1.0, "gr_mc": 0.1, "zgr": 0.08, "rf2": 0.5}
    assert variance_order_rows([good, good]) == (2, 2, 2)
    assert variance_order_rows([good, {**good, "rf2": 0.15, "gr_mc": 0.6}]) == (1, 1, 2)

    def row(b, v):
        return {
            "bias2": b,
            "bias2_lo": b * 0.9,
            "bias2_hi": b * 1.1,
            "variance": v,
            "variance_lo": v * 0.9,
            "variance_hi": v * 1.1,
        }

    gr = {"GR-MC(1)": row(1e-6, 1e-5)}
    assert no_regret(gr, {"ST(2)": row(1.05e-6, 0.5e-5), "ZGR": row(1e-8, 1e-4)})[0]
    assert not no_regret(gr, {"ST(2)": row(3e-6, 0.5e-5), "ZGR": row(1e-8, 1e-4)})[0]
