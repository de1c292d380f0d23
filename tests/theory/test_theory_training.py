"""The ``training`` check group: verdicts on training histories whose outcome is known by construction (each
claim both ways), the papers' interval notation, and a missing file named with the command that writes it."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import gradlab as gl
from gradlab.core.results import estimator_coords
from gradlab.theory import training_group as TR
from gradlab.theory import training_shah, training_zgr  # noqa: F401

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
    assert verdicts(TR._cae(ds, "s")) == {
        "shah.cae-lowest-loss": "confirmed",
        "shah.cae-perplexity": "confirmed",
        "shah.cae-consistent-seeds": "refuted",  # every setting has the same spread over seeds here (0.2)
    }
    ds = decoupled_grid(cells, bl, "valid_loss", {"code_perplexity": [7.9, 7.0, 4.0, 6.5]})
    assert verdicts(TR._cae(ds, "s"))["shah.cae-perplexity"] == "refuted"  # a baseline uses 6.5 codes
    ds = decoupled_grid({(0.3, 2.0): 18.0}, [("st", {}, 18.15)], "valid_loss", {"code_perplexity": [7.9, 4.0]})
    assert verdicts(TR._cae(ds, "s"))["shah.cae-lowest-loss"] == "refuted"  # 18.1 > 18.05: the intervals overlap


def with_times(ds: xr.Dataset, seconds_per_epoch: dict) -> xr.Dataset:
    """``ds`` with a ``seconds`` variable: each estimator's epochs end every ``seconds_per_epoch[label]`` seconds,
    and a ``valid_loss`` equal to the training loss plus 1."""
    per = np.array([seconds_per_epoch.get(str(lab), 1.0) for lab in ds["estimator"].values])
    secs = per[:, None, None] * np.arange(1, EPOCHS + 1)[None, None, :] * np.ones((1, SEEDS, 1))
    return ds.assign(seconds=(("estimator", "seed", "epoch"), secs), valid_loss=ds["train_loss"] + 1)


def test_files_are_read_per_scale_and_a_missing_one_is_named(tmp_path):
    holds = [[91.0, 94.0, 92.5, 92.4, 105.0, 97.0, 95.0], [84.0, 87.0, 85.2, 85.0, 105.0, 99.0, 97.0]]
    ds = with_times(vae_table(holds), {})
    ds.attrs["problem"] = '{"kind": "vae", "dataset": {"name": "mnist"}}'
    for scale in ("digits", "mnist5k-48"):
        gl.results.write_netcdf(ds, tmp_path / scale / "zgr_table_vae.nc")
    out = TR.check_training(results=tmp_path)
    res = {(r.id, r.scale): r for r in out}
    for scale in ("digits", "mnist5k-48"):  # every claim of that file at every scale that has it
        assert res[("table1.zgr-vs-rf", scale)].verdict == "confirmed"
        assert res[("table1.zgr-vs-rf", scale)].setting.startswith(f"scale {scale}: zgr_table_vae.nc: mnist, 3 seed")
    assert [r.scale for r in out if r.id == "table1.st-poor"] == ["digits", "mnist5k-48"]
    miss = res[("shah.logic-gates", "")]
    assert miss.verdict == "not checked"
    assert "`python analyses/decoupled_training_grids.py --task logic` writes it" in miss.measured
    assert {r.id for r in out} == set(TR._USES)
    flat = TR.check_training(results=tmp_path / "digits")  # a folder holding the files itself: one unnamed scale
    assert {r.scale for r in flat if r.verdict != "not checked"} == {""}


def test_test_elbo_and_time_claims_both_ways():
    """Tables B.1/B.2: the validation ranking against the training ranking; Fig. 3: no estimator clearly below ZGR
    at the same wall time (interpolated between epochs)."""
    holds = [[91.0, 94.0, 92.5, 92.4, 105.0, 97.0, 95.0], [84.0, 87.0, 85.2, 85.0, 105.0, 99.0, 97.0]]
    ds = with_times(vae_table(holds), {"gr_mc(t=0.1,m=10)": 10.0})
    assert verdicts(TR.training_zgr._test_consistent(ds, "tableB1.test-consistent", "s")) == {
        "tableB1.test-consistent": "confirmed"
    }
    flipped = ds.assign(valid_loss=-ds["train_loss"])  # the opposite ranking
    assert verdicts(TR.training_zgr._test_consistent(flipped, "tableB2.test-consistent", "s")) == {
        "tableB2.test-consistent": "refuted"
    }
    # ZGR (85.0) vs GS (84.0, 0.1 apart: separated) at equal times: GS clearly below ZGR in the last column
    assert verdicts(TR.training_zgr._fig3({"zgr_table_vae.nc": ds}, "s")) == {"fig3.zgr-most-efficient": "refuted"}
    faster = [[91.0, 94.0, 92.5, 92.4, 105.0, 97.0, 95.0], [86.0, 87.0, 85.2, 85.0, 105.0, 99.0, 97.0]]
    ds = with_times(vae_table(faster), {"gr_mc(t=0.1,m=10)": 10.0})
    assert verdicts(TR.training_zgr._fig3({"zgr_table_vae.nc": ds}, "s")) == {"fig3.zgr-most-efficient": "confirmed"}
    # GS as good as ZGR at the end but 10 times slower: at a third of the shortest run it is still at its first epoch
    slow_gs = with_times(vae_table([[84.0, 87.0, 85.2, 85.0, 105.0, 99.0, 97.0]] * 2), {"gs(t=0.1)": 0.05})
    assert verdicts(TR.training_zgr._fig3({"zgr_table_vae.nc": slow_gs}, "s")) == {"fig3.zgr-most-efficient": "refuted"}


def trajectory(variances: dict, epochs=(0, 5, 20), bias2: dict | None = None) -> xr.Dataset:
    """A bias-variance trajectory (estimator x epoch) with ``variances[est]`` per epoch (a number: the same at every
    epoch) and ``bias2`` (default 0) with intervals +-1e-3."""
    ests = list(variances)
    labels = [e.label for e in ests]
    var = np.array([np.broadcast_to(np.asarray(variances[e], float), (len(epochs),)) for e in ests])
    b2 = np.array([[(bias2 or {}).get(e, 0.0)] * len(epochs) for e in ests])
    coords = estimator_coords(labels, [e.name for e in ests], [e.hparams() for e in ests])
    coords["epoch"] = list(epochs)
    data = {"variance": var, "variance_lo": var * 0.9, "variance_hi": var * 1.1}
    data.update({"bias2": b2, "bias2_lo": b2 - 1e-3, "bias2_hi": b2 + 1e-3})
    return xr.Dataset({k: (("estimator", "epoch"), v) for k, v in data.items()}, coords=coords)


def test_table3_rf_variance_ranking_and_quantized_front_both_ways():
    ests = [E("gs_st", t=1.0), E("gr_mc", t=0.1, m=10), E("zgr"), E("st"), E("reinforce", m=2)]
    table = history(dict(zip(ests, [8.0, 8.4, 8.2, 7.9, 25.0], strict=True))).rename(v="valid_error")
    table = table.expand_dims(bits=["T/T"])
    far = trajectory(dict(zip(ests, [0.5, 2.0, 0.7, 0.1, 500.0], strict=True)))
    near = trajectory(dict(zip(ests, [0.5, 2.0, 0.7, 0.1, 20.0], strict=True)))  # RF only 10x above GR-MC
    assert verdicts(TR._table3(table, "s", far))["table3.rf-out"] == "confirmed"
    assert verdicts(TR._table3(table, "s", near))["table3.rf-out"] == "refuted"
    rank = TR.training_zgr._variance_ranking
    # errors 8.0, 8.4, 8.2, 7.9, 25 against variances 0.5, 2.0, 0.7, 0.1, 500: the same order (rho = 1)
    assert verdicts(rank({"zgr_table3.nc": table, "zgr_fig4_quantized.nc": far}, "s")) == {
        "sec4.3.variance-ranking": "confirmed"
    }
    upside = trajectory(dict(zip(ests, [500.0, 0.1, 0.7, 2.0, 0.5], strict=True)))
    assert verdicts(rank({"zgr_table3.nc": table, "zgr_fig4_quantized.nc": upside}, "s")) == {
        "sec4.3.variance-ranking": "refuted"
    }
    # the front: ST and RF alone -> confirmed; GR-MC on it -> refuted; a squared bias below 0 -> inconclusive
    front = TR.training_zgr._fig4_quantized
    ok = trajectory(dict(zip(ests, [0.5, 2.0, 0.7, 0.1, 500.0], strict=True)), bias2={ests[3]: 0.5, ests[2]: 0.2})
    ok = ok.assign(bias2=ok["bias2"] + 0.3, bias2_lo=ok["bias2_lo"] + 0.3, bias2_hi=ok["bias2_hi"] + 0.3)
    assert verdicts(front({"zgr_fig4_quantized.nc": ok}, "s")) == {"fig4.pareto-frontier-quantized": "refuted"}
    st_only = ok.assign(bias2=ok["bias2"] + 1.0, bias2_lo=ok["bias2_lo"] + 1.0, bias2_hi=ok["bias2_hi"] + 1.0)
    st_only["bias2"].loc[{"estimator": "st(t=1)"}] = 0.0
    st_only["bias2_lo"].loc[{"estimator": "st(t=1)"}] = -1e-3
    st_only["bias2_hi"].loc[{"estimator": "st(t=1)"}] = 1e-3
    assert verdicts(front({"zgr_fig4_quantized.nc": st_only}, "s")) == {"fig4.pareto-frontier-quantized": "confirmed"}
    below = ok.copy(deep=True)
    below["bias2_hi"].loc[{"estimator": "gr_mc(t=0.1,m=10)"}] = -1e-4
    r = front({"zgr_fig4_quantized.nc": below}, "s")[0]
    assert r.verdict == "inconclusive" and "entirely below 0" in r.measured


def test_variance_early_in_training_both_ways():
    ests = [E("st"), E("zgr"), E("reinforce", m=4)]
    early = trajectory(dict(zip(ests, [[1.0, 1.0, 1.0], [5.0, 2.0, 1.5], [50.0, 3.0, 2.0]], strict=True)), (1, 10, 50))
    late = trajectory(dict(zip(ests, [[1.0, 1.0, 1.0], [2.0, 3.0, 5.0], [3.0, 30.0, 60.0]], strict=True)), (1, 10, 50))
    check = TR.training_zgr._variance_early
    assert verdicts(check({"zgr_figB4_hvae.nc": early}, "s")) == {"sec4.1.3.variance-early": "confirmed"}
    assert verdicts(check({"zgr_figB4_hvae.nc": late}, "s")) == {"sec4.1.3.variance-early": "refuted"}


def test_reconstruction_plateau_generation_and_sbn_speed_both_ways():
    shah = TR.training_shah
    grid = {(f, b): 20.0 for f in (0.1, 0.3, 1.0) for b in (1.0, 3.0, 6.0)}
    plateau = {**grid, (0.3, 3.0): 15.0, (0.3, 6.0): 15.0, (0.1, 3.0): 15.05, (0.1, 6.0): 14.9}
    ds = decoupled_grid(plateau, [], "valid_loss")
    assert verdicts(shah._plateau({"decoupled_shah_recon.nc": ds}, "s")) == {"shah.recon-plateau": "confirmed"}
    gains = decoupled_grid({**plateau, (0.1, 6.0): 13.0}, [], "valid_loss")  # better beyond the plateau point
    assert verdicts(shah._plateau({"decoupled_shah_recon.nc": gains}, "s")) == {"shah.recon-plateau": "refuted"}
    # generation: off the diagonal with one KL, on it with the other -> mixed
    off = decoupled_grid({(0.3, 1.0): 20.0, (1.0, 1.0): 21.0, (0.3, 0.3): 22.0}, [], "valid_loss")
    on = decoupled_grid({(0.3, 1.0): 21.0, (1.0, 1.0): 20.0, (0.3, 0.3): 22.0}, [], "valid_loss")
    gen = shah._generation
    assert verdicts(gen({"decoupled_shah_gen.nc": off, "decoupled_shah_gen_kl_model.nc": off}, "s")) == {
        "shah.gen-best-off-diagonal": "confirmed"
    }
    assert verdicts(gen({"decoupled_shah_gen.nc": off, "decoupled_shah_gen_kl_model.nc": on}, "s")) == {
        "shah.gen-best-off-diagonal": "mixed"
    }
    # with the model's KL the grid is judged on valid_neg_elbo (a bound), not on its loss, where it has one
    model = off.assign(valid_neg_elbo=on["valid_loss"])  # loss off the diagonal, negative ELBO on it
    r = gen({"decoupled_shah_gen.nc": off, "decoupled_shah_gen_kl_model.nc": model}, "s")[0]
    assert r.verdict == "mixed" and "negative ELBO: refuted" in r.measured and "its loss: confirmed" in r.measured
    # the SBN's (0.1, 0.7): a higher accuracy averaged over the epochs than every baseline
    fast = decoupled_grid({(0.1, 0.7): 0.8, (1.0, 1.0): 0.7}, [("st", {}, 0.75)], "valid_accuracy")
    slow = decoupled_grid({(0.1, 0.7): 0.8, (1.0, 1.0): 0.7}, [("st", {}, 0.85)], "valid_accuracy")
    assert verdicts(shah._sbn_faster({"decoupled_sbn.nc": fast}, "s")) == {"shah.sbn-faster": "confirmed"}
    assert verdicts(shah._sbn_faster({"decoupled_sbn.nc": slow}, "s")) == {"shah.sbn-faster": "refuted"}


def schedules(finals: dict) -> xr.Dataset:
    parts = [
        history({E("decoupled_st", tau_f=0.3, tau_b=3.0): v}).rename(v="valid_loss").squeeze("estimator", drop=True)
        for v in finals.values()
    ]
    return xr.concat([p.expand_dims(schedule=[k]) for p, k in zip(parts, finals, strict=True)], dim="schedule")


def test_schedules_and_consistent_seeds_both_ways():
    check = TR.training_shah._schedules
    same = schedules({"fixed (0.3, 3)": 15.0, "fixed (0.1, 6)": 15.1, "tau_f 1 -> 0.3": 15.05})
    better = schedules({"fixed (0.3, 3)": 15.0, "fixed (0.1, 6)": 15.1, "tau_f 1 -> 0.3": 14.0})
    assert verdicts(check({"decoupled_shah_schedules.nc": same}, "s")) == {"shah.schedules-no-gain": "confirmed"}
    assert verdicts(check({"decoupled_shah_schedules.nc": better}, "s")) == {"shah.schedules-no-gain": "refuted"}
    cells, bl = {(0.3, 2.0): [18.0, 18.01, 18.02]}, [("st", {}, [18.0, 19.0, 20.0]), ("gs_st", {"t": 1.0}, 19.0)]
    ds = decoupled_grid(cells, bl, "valid_loss", {"code_perplexity": [7.9, 4.0, 4.0]})
    assert verdicts(TR._cae(ds, "s"))["shah.cae-consistent-seeds"] == "confirmed"


def test_logic_gate_balance_is_inconclusive_when_the_baselines_never_moved_their_gates():
    cells = {(0.1, 2.0): 0.7, (1.0, 1.0): 0.3}
    bl = [("identity_st", {}, 0.2), ("gs_st", {"t": 1.0}, 0.25)]
    extra = {"gate_perplexity": [15.0, 15.0, 15.8, 15.7], "top_gate_probability": [0.6, 0.3, 0.24, 0.26]}
    extra["initial_top_gate_probability"] = [0.23] * 4
    ds = decoupled_grid(cells, bl, "valid_accuracy", extra)
    ds["initial_top_gate_probability"] = ds["initial_top_gate_probability"].isel(epoch=-1)  # final value: 0.23
    r = {x.id: x for x in TR._logic(ds, "s")}["shah.logic-gate-balance"]
    assert r.verdict == "inconclusive" and "0.23 -> 0.60" in r.measured
    moved = ds.copy(deep=True)
    moved["top_gate_probability"][:] = 0.6  # every network trained its gates: the comparison decides
    assert {x.id: x for x in TR._logic(moved, "s")}["shah.logic-gate-balance"].verdict == "refuted"


def test_the_terminal_table_cuts_nothing_off():
    """`gradlab verify` prints every measured and claimed value in full, wrapped (issue 12, item 9)."""
    from gradlab.theory import CheckResult, format_table

    measured = "; ".join(f"split {i}: ZGR {20 + i}.123 ± 0.0456, RF(4) {21 + i}.789 ± 0.0123" for i in range(12))
    r = CheckResult("table1.zgr-vs-rf", "", "", "", measured, "a claim " * 30, "refuted", setting="s")
    text = format_table([r])
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 116
    flat = " ".join(line.strip() for line in text.splitlines())
    assert measured in flat and ("a claim " * 30).strip() in flat
