"""The ``training`` check group: verdicts on training histories whose outcome is known by construction (each
claim both ways), the papers' interval notation, and a missing file named with the command that writes it."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import gradlab as gl
from gradlab.results import estimator_coords
from gradlab.theory import training as TR

SEEDS, EPOCHS = 3, 4


def history(finals: dict, extra: dict | None = None) -> xr.Dataset:
    """A history dataset (estimator x seed x epoch) of ``{estimator: final values per seed}`` (or one number:
    seeds at value - 0.1, value, value + 0.1); earlier epochs are the final values + 1 (worse for losses)."""
    ests = list(finals)
    labels = [e.label for e in ests]
    data = {}
    for name, per in [("v", finals), *((extra or {}).items())]:
        arr = np.empty((len(ests), SEEDS, EPOCHS))
        for i, e in enumerate(ests):
            v = per[e]
            seeds = np.array([v - 0.1, v, v + 0.1]) if np.isscalar(v) else np.asarray(v, float)
            arr[i] = seeds[:, None] + np.linspace(1, 0, EPOCHS)[None, :]
        data[name] = arr
    coords = estimator_coords(labels, [e.name for e in ests], [e.hparams() for e in ests])
    coords.update({"seed": range(SEEDS), "epoch": range(1, EPOCHS + 1)})
    return xr.Dataset({k: (("estimator", "seed", "epoch"), v) for k, v in data.items()}, coords=coords)


E = gl.estimator
VAE_ESTS = [E("gs", t=0.1), E("gs_st", t=0.1), E("gr_mc", t=0.1, m=10), E("zgr"), E("st"), E("reinforce", m=2)]
VAE_ESTS.append(E("reinforce", m=4))


def vae_table(columns: list[dict]) -> xr.Dataset:
    parts = [history(dict(zip(VAE_ESTS, col, strict=True))).rename(v="train_loss") for col in columns]
    return xr.concat([p.expand_dims(split=[f"C{2**i} V1"]) for i, p in enumerate(parts)], dim="split")


def verdicts(results) -> dict:
    return {r.id: r.verdict for r in results}


def test_papers_interval_notation():
    iv = TR._Iv(np.array([1.0, 2.0, 4.0]))
    assert (iv.mean, iv.half) == (pytest.approx(7 / 3), 1.5)
    assert TR._Iv(np.array([5.0, 5.2])).above(TR._Iv(np.array([4.0, 4.8])))  # 4.9 > 4.8: separated
    assert not TR._Iv(np.array([5.0, 5.2])).above(TR._Iv(np.array([4.0, 5.0])))  # 4.9 < 5.0: they overlap


def test_vae_table_claims_both_ways():
    #          gs    gs_st gr_mc zgr   st    rf2   rf4
    holds = [[91.0, 94.0, 92.5, 92.4, 105.0, 97.0, 95.0], [84.0, 87.0, 85.2, 85.0, 105.0, 99.0, 97.0]]
    got = verdicts(TR._vae_table(vae_table(holds), "table1", "s"))
    assert got == {"table1.st-poor": "confirmed", "table1.zgr-vs-gr-mc": "confirmed", "table1.zgr-vs-rf": "confirmed"}
    fails = [[91.0, 94.0, 92.5, 92.4, 92.5, 97.0, 92.0], [84.0, 87.0, 84.0, 85.0, 105.0, 89.0, 88.0]]
    # ST overlaps ZGR in the first column; ZGR above GR-MC (85.0 - 0.1 > 84.0 + 0.1) in the second; RF(4) below
    # ZGR in the first
    got = verdicts(TR._vae_table(vae_table(fails), "table1", "s"))
    assert set(got.values()) == {"refuted"}
    # ZGR below both RF everywhere, but the gap shrinks with more categories: the claim's second half fails
    shrinking = [[91.0, 94.0, 92.5, 92.4, 105.0, 99.0, 97.0], [84.0, 87.0, 85.2, 85.0, 105.0, 97.0, 86.0]]
    assert verdicts(TR._vae_table(vae_table(shrinking), "table2", "s"))["table2.zgr-vs-rf"] == "refuted"


def test_table3_claims_both_ways():
    ests = [E("gs_st", t=1.0), E("gr_mc", t=0.1, m=10), E("zgr"), E("st"), E("reinforce", m=2)]
    good = history(dict(zip(ests, [8.0, 8.4, 8.2, 7.9, 25.0], strict=True))).rename(v="valid_error")
    bad = history(dict(zip(ests, [9.0, 8.1, 8.2, 8.5, 8.6], strict=True))).rename(v="valid_error")
    ds = xr.concat([good.expand_dims(bits=["2/2"]), bad.expand_dims(bits=["T/T"])], dim="bits")
    got = verdicts(TR._table3(ds, "s"))
    assert got == {
        "table3.low-variance-best": "refuted",
        "table3.rf-out": "refuted",
        "table3.zgr-beats-gr-mc": "refuted",
    }
    got = verdicts(TR._table3(good.expand_dims(bits=["2/2"]), "s"))
    assert set(got.values()) == {"confirmed"}


def decoupled_grid(cells: dict, baselines: list, metric: str, extra: dict | None = None) -> xr.Dataset:
    """Decoupled ST's ``{(tau_f, tau_b): final}`` and ``[(name, hparams, final)]`` baselines; ``extra``: other
    variables, one final value per estimator in that order."""
    finals = {E("decoupled_st", tau_f=f, tau_b=b): v for (f, b), v in cells.items()}
    finals.update({E(name, **hp): v for name, hp, v in baselines})
    ex = {k: dict(zip(finals, vals, strict=True)) for k, vals in (extra or {}).items()}
    return history(finals, ex).rename(v=metric)


BASELINES = [("identity_st", {}, 0.5), ("st", {}, 0.6), ("gs_st", {"t": 1.0}, 0.7)]


def off_diagonal(cells, baselines=BASELINES, with_baselines=False):
    ds = decoupled_grid(cells, baselines, "valid_accuracy")
    return TR._off_diagonal("x", ds, "valid_accuracy", True, "s", with_baselines=with_baselines)


def test_decoupled_grid_claims_both_ways():
    off = {(0.1, 0.1): 0.6, (0.1, 1.0): 0.9, (1.0, 1.0): 0.7, (1.0, 0.1): 0.5}
    r = off_diagonal(off, with_baselines=True)
    assert r.verdict == "confirmed" and "(0.1, 1)" in r.measured
    strong = [*BASELINES, ("gs_st", {"t": 3.0}, 0.95)]  # a baseline beats the best cell
    assert off_diagonal(off, strong, with_baselines=True).verdict == "refuted"
    assert off_diagonal(off, strong).verdict == "confirmed"  # without the baselines (the reconstruction claim)
    assert off_diagonal({**off, (1.0, 1.0): 0.95}).verdict == "refuted"  # the best cell on the diagonal
    assert off_diagonal({**off, (0.1, 1.0): 0.6, (1.0, 0.1): 0.9}).verdict == "refuted"  # best has tau_f > tau_b
    assert off_diagonal({**off, (1.0, 1.0): 0.85}).verdict == "refuted"  # 0.9 - 0.1 < 0.85 + 0.1: not separated


def test_logic_and_autoencoder_claims():
    cells = {(0.1, 2.0): 0.7, (1.0, 1.0): 0.3}
    bl = [("identity_st", {}, 0.2), ("gs_st", {"t": 1.0}, 0.25)]
    ds = decoupled_grid(cells, bl, "valid_accuracy", {"gate_perplexity": [15.9, 15.0, 15.1, 15.2]})
    assert verdicts(TR._logic(ds, "s")) == {"shah.logic-gates": "confirmed", "shah.logic-gate-balance": "confirmed"}
    ds = decoupled_grid(
        cells, [*bl, ("st", {}, 0.65)], "valid_accuracy", {"gate_perplexity": [15.0, 15, 15.1, 15.2, 15.3]}
    )
    assert verdicts(TR._logic(ds, "s")) == {"shah.logic-gates": "refuted", "shah.logic-gate-balance": "refuted"}
    # autoencoder: lower loss is better; perplexity of 8 codes
    cells, bl = {(0.3, 2.0): 18.0, (1.0, 1.0): 19.0}, [("identity_st", {}, 21.0), ("gs_st", {"t": 1.0}, 20.0)]
    ds = decoupled_grid(cells, bl, "valid_loss", {"code_perplexity": [7.9, 7.0, 4.0, 5.9]})
    assert verdicts(TR._cae(ds, "s")) == {"shah.cae-lowest-loss": "confirmed", "shah.cae-perplexity": "confirmed"}
    ds = decoupled_grid(cells, bl, "valid_loss", {"code_perplexity": [7.9, 7.0, 4.0, 6.5]})
    assert verdicts(TR._cae(ds, "s"))["shah.cae-perplexity"] == "refuted"  # a baseline uses 6.5 codes
    ds = decoupled_grid({(0.3, 2.0): 18.0}, [("st", {}, 18.15)], "valid_loss", {"code_perplexity": [7.9, 4.0]})
    assert verdicts(TR._cae(ds, "s"))["shah.cae-lowest-loss"] == "refuted"  # 18.1 > 18.05: the intervals overlap


def test_files_are_read_and_a_missing_one_is_named(tmp_path):
    holds = [[91.0, 94.0, 92.5, 92.4, 105.0, 97.0, 95.0], [84.0, 87.0, 85.2, 85.0, 105.0, 99.0, 97.0]]
    ds = vae_table(holds)
    ds.attrs["problem"] = '{"kind": "vae", "dataset": {"name": "mnist"}}'
    gl.results.write_netcdf(ds, tmp_path / "zgr_table_vae.nc")
    res = {r.id: r for r in TR.check_training(results=tmp_path)}
    assert res["table1.zgr-vs-rf"].verdict == "confirmed"
    assert res["table1.zgr-vs-rf"].setting.startswith("zgr_table_vae.nc: mnist, 3 seed(s), 4 epochs")
    miss = res["shah.logic-gates"]
    assert miss.verdict == "not checked"
    assert "`python analyses/decoupled_training_grids.py --task logic` writes it" in miss.measured
    assert {r.id for r in TR.check_training(results=tmp_path)} == set(TR._USES)


def test_the_terminal_table_cuts_nothing_off():
    """`gradlab verify` prints every measured and claimed value in full, wrapped (issue 12, item 9)."""
    from gradlab.theory import CheckResult, format_table

    measured = "; ".join(f"split {i}: ZGR {20 + i}.123 ± 0.0456, RF(4) {21 + i}.789 ± 0.0123" for i in range(12))
    r = CheckResult("table1.zgr-vs-rf", "", "", "", measured, "a claim " * 30, "refuted", setting="s")
    text = format_table([r])
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 116
    flat = " ".join(line.strip() for line in text.splitlines())
    assert measured in flat and ("a claim " * 30).strip() in flat
