"""Validation under the distribution the estimator trained with (issue 22, item 1): ``DataModel.evaluate(...,
estimator=est)`` draws every sample from ``softmax(est.forward_logits(logits))``; ``gl.train`` evaluates with its
estimator and says so in the history. Checked against enumeration written here, independently of the model."""

from __future__ import annotations

import itertools
import math

import torch
from scipy.stats import norm

import gradlab as gl
from gradlab.core.noise import make_generator, task_seed
from gradlab.problems import SigmoidBeliefNet

DT = torch.float64


def _exact_sbn_metrics(m: SigmoidBeliefNet, p: dict, tau_f: float) -> tuple[float, float]:
    """Expected validation loss and accuracy of a 2 x 2 SBN when every unit is drawn with P(h = 1) =
    sigmoid(a / tau_f): the 2^4 hidden configurations of every image enumerated."""
    x, y = m.split("valid")
    loss, acc = 0.0, 0.0
    for bits in itertools.product([0.0, 1.0], repeat=4):
        h1, h2 = torch.tensor(bits[:2], dtype=DT), torch.tensor(bits[2:], dtype=DT)
        p1 = torch.sigmoid((x @ p["w0"] + p["b0"]) / tau_f)
        q1 = (p1 * h1 + (1 - p1) * (1 - h1)).prod(-1)
        p2 = torch.sigmoid((h1 @ p["w1"] + p["b1"]) / tau_f).expand(len(x), 2)
        q2 = (p2 * h2 + (1 - p2) * (1 - h2)).prod(-1)
        logits = (h2 @ p["w_out"] + p["b_out"]).expand(len(x), -1)
        ce = torch.logsumexp(logits, -1) - logits[torch.arange(len(x)), y]
        loss += float((q1 * q2 * ce).mean())
        acc += float((q1 * q2 * (logits.argmax(-1) == y)).mean())
    return loss, acc


def test_evaluation_under_the_forward_distribution_is_unbiased_for_its_expectation():
    """decoupled_st(tau_f=0.4): the mean over 300 evaluation seeds equals the enumerated expectation under
    sigmoid(a / 0.4) (loss and accuracy), and its loss differs from the one under sigmoid(a) by many standard errors.
    z-tests, false-failure rate 1e-3 for the two equalities together."""
    m = SigmoidBeliefNet(hidden=(2, 2), batch_size=4)
    p = {k: 10 * v for k, v in m.param_values().items()}  # larger logits: the two distributions differ clearly
    est = gl.estimator("decoupled_st", tau_f=0.4, tau_b=2.0)
    runs = [m.evaluate(p, "valid", torch.Generator().manual_seed(s), estimator=est) for s in range(300)]
    forward, model = _exact_sbn_metrics(m, p, 0.4), _exact_sbn_metrics(m, p, 1.0)
    limit = norm.ppf(1 - 1e-3 / 4)
    for i, key in enumerate(("loss", "accuracy")):
        v = torch.tensor([r[key] for r in runs], dtype=DT)
        se = float(v.std()) / math.sqrt(len(v))
        assert abs(float(v.mean()) - forward[i]) / se < limit, (key, float(v.mean()), forward[i])
        if key == "loss":  # (the accuracy of this 2-unit network is near chance under both)
            assert abs(float(v.mean()) - model[i]) / se > 10, (key, float(v.mean()), model[i])


def _margin_and_argmax_metrics(m: SigmoidBeliefNet, p: dict) -> tuple[float, float, float]:
    """The smallest |pre-activation| of any unit on the validation split when every unit takes its most probable
    value, and that deterministic network's loss and accuracy (computed here, not by the model)."""
    x, y = m.split("valid")
    a1 = x @ p["w0"] + p["b0"]
    h1 = (a1 > 0).to(DT)
    a2 = h1 @ p["w1"] + p["b1"]
    h2 = (a2 > 0).to(DT)
    logits = h2 @ p["w_out"] + p["b_out"]
    ce = torch.logsumexp(logits, -1) - logits[torch.arange(len(x)), y]
    margin = float(torch.cat([a1.abs().flatten(), a2.abs().flatten()]).min())
    return margin, float(ce.mean()), float((logits.argmax(-1) == y).to(DT).mean())


def test_a_near_zero_forward_temperature_evaluates_the_argmax_network_whatever_the_generator():
    """decoupled_st(tau_f=1e-3): with every pre-activation at least 0.05 from 0 (checked: a unit then takes its less
    probable value with probability below exp(-50)), the evaluation is the deterministic argmax network's, the same
    for every evaluation generator; under softmax(logits) it is random and depends on the generator."""
    m = SigmoidBeliefNet(hidden=(8, 8), batch_size=4, init_seed=3)
    p = {k: 1000 * v for k, v in m.param_values().items()}  # zero biases: the margins grow with the scale
    margin, loss, acc = _margin_and_argmax_metrics(m, p)
    assert margin > 0.05, margin  # the precondition of the claim above
    est = gl.estimator("decoupled_st", tau_f=1e-3, tau_b=1.0)
    cold = [m.evaluate(p, "valid", torch.Generator().manual_seed(s), estimator=est) for s in range(5)]
    for r in cold:
        assert r == cold[0]
        assert math.isclose(r["accuracy"], acc, abs_tol=1e-12) and math.isclose(r["loss"], loss, rel_tol=1e-12)
    p_soft = m.param_values()  # unscaled: P(h = 1) well inside (0, 1)
    warm = [m.evaluate(p_soft, "valid", torch.Generator().manual_seed(s))["loss"] for s in range(5)]
    assert len(set(warm)) > 1


def test_training_evaluates_with_its_estimator_and_records_under_which_distribution():
    """The last history record is evaluate(params, "valid", g, estimator=est) at the final parameters, g the
    evaluation generator train derives from the seed; the history says which distribution that was."""
    m = SigmoidBeliefNet(hidden=(4, 4), batch_size=4)
    est = gl.estimator("decoupled_st", tau_f=0.3, tau_b=2.0)
    run = gl.train(m, est, epochs=2, batch_size=128, lr=1e-2, seed=5)
    again = m.evaluate(run.params, "valid", make_generator(task_seed(5, 3)), estimator=est)
    assert run.history[-1]["valid_loss"] == again["loss"]
    assert run.history[-1]["valid_accuracy"] == again["accuracy"]
    model_law = m.evaluate(run.params, "valid", make_generator(task_seed(5, 3)))
    assert model_law["loss"] != again["loss"]
    assert run.settings["evaluation"] == (
        "one sample per example from softmax(logits / 0.3) (decoupled_st(tau_f=0.3,tau_b=2,"
        "backward=gumbel_logits)'s forward distribution)"
    )
    plain = gl.train(m, gl.estimator("st"), epochs=1, batch_size=128, seed=5)
    ds = gl.history_dataset([run, plain])
    assert list(ds["evaluation"].values) == [run.settings["evaluation"], "one sample per example from softmax(logits)"]


def test_logic_gates_log_how_far_training_moved_the_gates():
    """The median probability of each neuron's top gate, at initialisation (in TrainResult.initial and the history's
    initial_ variables) and after training, against a computation written here; the gate perplexity alone is near
    16 at initialisation."""
    net = gl.problems.LogicGateNetwork(widths=(20, 20), batch_size=4)

    def median_top(p):
        top = torch.cat([torch.softmax(p[k], -1).max(-1).values for k in ("gates0", "gates1")]).sort().values
        return float((top[19] + top[20]) / 2)  # 40 neurons: the mean of the two middle values

    run = gl.train(net, gl.estimator("decoupled_st", tau_f=0.1, tau_b=2.0), epochs=2, batch_size=200, lr=0.1)
    assert math.isclose(run.initial["top_gate_probability"], median_top(net.param_values()), rel_tol=1e-12)
    assert run.initial["gate_perplexity"] > 10
    assert math.isclose(run.history[-1]["top_gate_probability"], median_top(run.params), rel_tol=1e-12)
    assert run.history[-1]["top_gate_probability"] != run.initial["top_gate_probability"]
    assert run.settings["evaluation"].startswith("deterministic")
    ds = gl.history_dataset([run])
    assert float(ds["initial_top_gate_probability"].squeeze()) == run.initial["top_gate_probability"]
