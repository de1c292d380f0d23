"""REBAR (Tucker et al. 2017) and RELAX (Grathwohl et al. 2018): unbiased score-function estimators whose control
variate is a continuous relaxation, itself reparameterised.

Notation: ``theta = log softmax(eta)``, ``z = theta + G`` (Gumbel-max: ``b = argmax z`` is a draw from the model),
``z~ = theta + G~`` the perturbed logits drawn given ``b`` (the top-down construction with fresh noise,
:func:`gradlab.core.noise.conditional_perturbed`, differentiable in ``theta``: ``z~ = z~(theta, v)``), and a control
variate ``c``. The estimate (Tucker et al. eq. 5 / Sec. 3.2; Grathwohl et al. eq. 7 and Alg. 2):

    ``g = [f(b) - c(z~)] d/d eta log p(b) + d/d eta c(z) - d/d eta c(z~)``

Unbiased for any ``c``, because ``z`` and ``z~`` have the same law and ``E[c(z~) d log p(b)] = E[c(z) d log p(b)]``
turns the score of ``c`` into the difference of its two pathwise gradients.

* ``rebar(t, eta)``: ``c(z) = eta f(softmax(z / t))``, the loss at the Gumbel-Softmax relaxation (Tucker et al.
  Sec. 3.2; their ``lambda`` is ``t``). ``t`` and ``eta`` are fixed hyper-parameters here (the paper also adapts
  them online; that is ``relax(hidden=0)``). ``eta = 0`` is single-sample REINFORCE without a baseline.
* ``relax(t, eta, hidden, steps, batch, lr, seed)``: ``c(z) = eta f(softmax(z / t)) + r(softmax(z / t))`` with
  ``r`` an MLP of one hidden layer of ``hidden`` tanh units (Grathwohl et al. Sec. 3.3, App. C: "the
  concrete relaxation plus a free-form network"; feeding ``r`` the relaxed sample, a bounded input, is gradlab's
  choice). Its parameters ``phi = (log t, eta, r)`` are trained by Adam on the single-sample estimate of
  ``E|g|^2`` (the variance up to a term free of ``phi``; Grathwohl et al. Alg. 2), ``steps`` steps of ``batch``
  samples, noise from ``seed``. :meth:`RELAX.fit` trains them on a loss and returns the fitted estimator;
  ``gradlab.sample_gradients`` fits first (its ``needs_fit`` capability), so a measurement at a snapshot uses a
  surrogate trained for ``steps`` steps at that snapshot. Unfitted, ``r`` has its initial weights.

Both need the loss at three configurations (``b`` and the two relaxed points), are not layers, and add the
pathwise gradient of the loss at ``b`` in the parameters it uses directly; the control variate's pathwise terms
act on the logits only (``torch.autograd.grad`` in the logits, so a loss's own parameters see ``f(b)`` alone,
as in the papers). On a multi-layer model (``relaxes_later_draws``) the estimator runs once per draw with the later
draws relaxed in its control variate (:func:`gradlab.problems.per_draw.relaxed_layers_surrogate`); RELAX keeps one
network per draw, and in training (``trains_online``) its ``phi`` takes one Adam step per training step.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import ClassVar

import torch

from gradlab.core import checks as _checks
from gradlab.core.noise import conditional_perturbed, gumbel_from_uniform, make_generator, task_seed
from gradlab.core.softmax import log_softmax, softmax
from gradlab.estimators.base import Estimator, Loss, checked_losses, one_hot
from gradlab.estimators.multilayer import RELAXED_LATER, DrawStrategy
from gradlab.estimators.stateful import Stateful

__all__ = ["REBAR", "RELAX"]


def _to_elements(t: torch.Tensor, ndim: int) -> torch.Tensor:
    """Sum ``t`` over its trailing axes beyond ``ndim`` (the variables of one loss element)."""
    return t.sum(dim=tuple(range(ndim, t.ndim))) if t.ndim > ndim else t


@dataclasses.dataclass(frozen=True)
class _RelaxationControlVariate(Estimator):
    """The estimate of the module docstring for a control variate written by the subclass (:meth:`_control`)."""

    t: float = 0.5
    eta: float = 1.0

    pathwise: ClassVar[bool] = False
    draw_strategy: ClassVar[DrawStrategy] = RELAXED_LATER  # on a multi-layer model (estimators.multilayer)
    unbiased: ClassVar[bool] = True
    temperature_fields: ClassVar[tuple[str, ...]] = ("t",)

    def __post_init__(self) -> None:
        object.__setattr__(self, "t", _checks.positive_real(self.name, "t", self.t))
        object.__setattr__(self, "eta", _checks.real(self.name, "eta", self.eta))

    @property
    def loss_evaluations(self) -> int:
        return 3

    @property
    def extra_logit_copies(self) -> int:
        return 2

    def num_uniforms(self, event_shape: tuple[int, ...]) -> int:
        n = math.prod(event_shape)
        return 2 * n + n // event_shape[-1]  # G (z), fresh Gumbels for z~ and its maximum

    def _control(self, f_relaxed: torch.Tensor, soft: torch.Tensor, state, draw: int) -> torch.Tensor:
        """``c`` at the relaxed points: ``f_relaxed`` (``(2, *sample, *S')``, the loss at ``soft``, the relaxed
        samples ``(2, *sample, *S, K)``) of draw ``draw`` of a multi-layer model (0 on a single-layer problem)."""
        raise NotImplementedError

    def _temperature(self, state) -> torch.Tensor | float:
        return self.t

    def gumbels(self, uniforms: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
        """The Gumbel perturbation ``G`` of ``z = theta + G`` (one sample's ``uniforms``; ``b = argmax z``): the
        base trace of a multi-layer model draws every layer from it."""
        return gumbel_from_uniform(uniforms[: math.prod(shape)]).reshape(shape)

    def _controls(self, logits: torch.Tensor, loss: Loss, uniforms: torch.Tensor, state):
        """``(values, c, hard, theta)``: the loss at ``b`` and at the two relaxed points (``(3, *sample, *S')``),
        the control variate at the relaxed points (``(2, *sample, *S')``), the one-hot ``b`` and ``log p``. A loss
        with a ``relaxed(x, t)`` method (a draw of a multi-layer model, :mod:`gradlab.problems.per_draw`) is
        evaluated there at the relaxed points, with the later draws relaxed at the same temperature."""
        sample_ndim, event = self._split(logits, uniforms)
        sample = tuple(logits.shape[:sample_ndim])
        n = math.prod(event)
        u_z, u_rest, u_top = torch.split(uniforms, [n, n, n // event[-1]], dim=-1)
        theta = log_softmax(logits, dim=-1)
        z = theta + gumbel_from_uniform(u_z).reshape(logits.shape)
        index = z.detach().argmax(-1)
        z_cond = conditional_perturbed(
            theta,
            index,
            gumbel_from_uniform(u_top).reshape(logits.shape[:-1]),
            gumbel_from_uniform(u_rest).reshape(logits.shape),
        )
        hard = one_hot(index, event[-1], logits.dtype)
        t = self._temperature(state)
        soft = softmax(torch.stack([z, z_cond]) / t, dim=-1)
        x = torch.cat([hard.unsqueeze(0), soft])
        relaxed = getattr(loss, "relaxed", None)
        values = loss(x) if relaxed is None else torch.cat([loss(x[:1]), relaxed(soft, t)])
        lead = (3, *sample)
        checked_losses(self.name, values, x, lead, event)
        return values, self._control(values[1:], soft, state, getattr(loss, "draw", 0)), hard, theta

    def _parts(self, logits: torch.Tensor, loss: Loss, uniforms: torch.Tensor, state):
        """``(value, weight, score, cv_grad)``: the loss at ``b``, the weight ``f(b) - c(z~)``,
        ``d log p(b) / d eta`` per element's variables, and ``d (c(z) - c(z~)) / d eta`` (``None`` when the logits
        carry no gradient)."""
        values, c, hard, theta = self._controls(logits, loss, uniforms, state)
        weight = values[0].detach() - c[1]
        score = hard - theta.detach().exp()  # d log p(b) / d eta, per variable
        cv_grad = None
        if logits.requires_grad and torch.is_grad_enabled():
            (cv_grad,) = torch.autograd.grad((c[0] - c[1]).sum(), logits, retain_graph=True)
        return values[0], weight, score, cv_grad

    def surrogate(self, logits: torch.Tensor, loss: Loss, uniforms: torch.Tensor) -> torch.Tensor:
        value, weight, score, cv_grad = self._parts(logits, loss, uniforms, self._state())
        delta = logits - logits.detach()
        delta = torch.where(torch.isfinite(logits.detach()), delta, torch.zeros_like(delta))  # masked categories
        grad = _broadcast(weight.detach(), score) * score
        if cv_grad is not None:
            grad = grad + cv_grad.detach()
        return value + _to_elements(grad * delta, value.ndim)

    def squared_norm(self, logits: torch.Tensor, loss: Loss, uniforms: torch.Tensor, state) -> torch.Tensor:
        """``|g|^2`` summed over the samples, ``g`` the estimate in ``logits``, differentiable in ``state``
        (Grathwohl et al. Alg. 2's objective for the control variate). ``d (c(z) - c(z~)) / d eta`` is taken by
        ``torch.func.grad``, so this also runs under ``torch.func.vmap`` (one sample of a multi-layer model per
        row: :func:`gradlab.problems.per_draw.fitted_control_variate`)."""

        def difference(lg: torch.Tensor):
            values, c, hard, theta = self._controls(lg, loss, uniforms, state)
            return (c[0] - c[1]).sum(), (values[0].detach() - c[1], hard - theta.exp())

        cv_grad, (weight, score) = torch.func.grad(difference, has_aux=True)(logits.detach())
        return (_broadcast(weight, score) * score + cv_grad).pow(2).sum()

    def _state(self):
        return None


def _broadcast(per_element: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``(*sample, *S')`` -> broadcastable against ``(*sample, *S, K)``."""
    return per_element.reshape(tuple(per_element.shape) + (1,) * (like.ndim - per_element.ndim))


@dataclasses.dataclass(frozen=True)
class REBAR(_RelaxationControlVariate):
    """REBAR(t, eta) (Tucker et al. 2017, eq. 5): the control variate ``eta f(softmax(z / t))`` (module docstring)."""

    name: ClassVar[str] = "rebar"
    summary: ClassVar[str] = (
        "REBAR (Tucker et al. 2017): score function with the reparameterised Gumbel-Softmax control variate; unbiased"
    )

    def _control(self, f_relaxed, soft, state, draw) -> torch.Tensor:
        return self.eta * f_relaxed


@dataclasses.dataclass(frozen=True)
class RELAX(_RelaxationControlVariate, Stateful):
    """RELAX (Grathwohl et al. 2018, Alg. 2): REBAR's control variate plus a free-form network ``r``, with
    ``log t``, ``eta`` and ``r`` trained to minimise the variance (module docstring)."""

    hidden: int = 16
    steps: int = 200
    batch: int = 64
    lr: float = 0.01
    seed: int = 0

    name: ClassVar[str] = "relax"
    summary: ClassVar[str] = (
        "RELAX (Grathwohl et al. 2018): REBAR + an MLP control variate, trained on the variance (fit); unbiased"
    )
    curve_field: ClassVar[str | None] = "steps"
    quiet_defaults: ClassVar[tuple[str, ...]] = ("hidden", "batch", "lr", "seed")

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "hidden", _checks.integer(self.name, "hidden", self.hidden, 0))
        object.__setattr__(self, "steps", _checks.integer(self.name, "steps", self.steps, 0))
        object.__setattr__(self, "batch", _checks.integer(self.name, "batch", self.batch, 1))
        object.__setattr__(self, "lr", _checks.positive_real(self.name, "lr", self.lr))
        object.__setattr__(self, "seed", _checks.integer(self.name, "seed", self.seed, 0))
        if not hasattr(self, "_fitted"):
            object.__setattr__(self, "_fitted", None)

    @property
    def needs_fit(self) -> bool:
        """True until :meth:`fit` has trained the control variate (and ``steps > 0``)."""
        return self.steps > 0 and self._fitted is None

    def _state(self):
        return self._fitted

    def _init_state(self, widths: Sequence[int], dtype: torch.dtype, device) -> dict[str, torch.Tensor]:
        """Initial ``phi``: ``log t``, ``eta`` and, per draw ``d`` (``widths[d]`` relaxed values per loss element),
        the MLP ``width -> hidden -> 1`` (uniform in ``+-1/sqrt(fan_in)``, as torch.nn.Linear, from ``seed`` for
        draw 0 and ``task_seed(seed, d)`` for the later draws of a multi-layer model; the output layer starts at 0,
        so unfitted RELAX is REBAR). Keys ``w1``, ``b1``, ``w2`` for draw 0, ``w1.d``, ... for draw ``d``."""
        state = {
            "log_t": torch.tensor(math.log(self.t), dtype=dtype, device=device),
            "eta": torch.tensor(self.eta, dtype=dtype, device=device),
        }
        for d, width in enumerate(widths):
            g = make_generator(self.seed if d == 0 else task_seed(self.seed, d), device)
            bound = 1.0 / math.sqrt(width)
            w1, b1 = (
                (2 * torch.rand(s, generator=g, dtype=dtype, device=device) - 1) * bound
                for s in ((width, self.hidden), (self.hidden,))
            )
            state[_key("w1", d)], state[_key("b1", d)] = w1, b1
            state[_key("w2", d)] = torch.zeros(self.hidden, dtype=dtype, device=device)
        return state

    def _temperature(self, state) -> torch.Tensor | float:
        return self.t if state is None else state["log_t"].exp()

    def _control(self, f_relaxed, soft, state, draw) -> torch.Tensor:
        lead = tuple(f_relaxed.shape)
        flat = soft.reshape(*lead, -1)  # the relaxed variables of each loss element
        if state is None:  # unfitted: r has its initial weights, whose output layer is 0, so c is REBAR's
            return self.eta * f_relaxed
        w1, b1, w2 = (state[_key(k, draw)].to(flat.dtype) for k in ("w1", "b1", "w2"))
        if w1.shape[0] != flat.shape[-1]:
            raise ValueError(
                f"{self.name}: fitted for loss elements of {w1.shape[0]} relaxed values, got {flat.shape[-1]}"
            )
        return state["eta"].to(flat.dtype) * f_relaxed + torch.tanh(flat @ w1 + b1) @ w2

    def fit(self, logits: torch.Tensor, loss: Loss) -> RELAX:
        """A copy whose control variate is trained at ``logits`` (no replica axes) for ``steps`` Adam steps of
        ``batch`` samples on the mean of ``|g|^2`` over the samples (Grathwohl et al. Alg. 2)."""
        _checks.logits_tensor(self.name, logits)
        base = logits.detach()
        if self.steps == 0:
            return self.with_state(None)
        gen = make_generator(self.seed + 1, base.device)
        rep = base.expand(self.batch, *base.shape)
        start = gen.get_state()  # the probe uses the first step's noise, then the generator rewinds to it
        u = self.draw_uniforms(rep, gen, sample_ndim=1)
        gen.set_state(start)
        with torch.enable_grad():  # the MLP's width is known once the loss's element shape is
            probe = self._controls(rep[:1], loss, u[:1], None)[0][0]
        width = math.prod(base.shape[probe.ndim - 1 :])

        def objective(state):
            noise = self.draw_uniforms(rep, gen, sample_ndim=1)
            return self.squared_norm(rep, loss, noise, state) / self.batch

        return self.fit_objective(objective, [width], base.dtype, base.device)

    def fit_objective(self, objective: Callable, widths: Sequence[int], dtype: torch.dtype, device) -> RELAX:
        """A copy whose ``phi`` (initial: :meth:`_init_state` for ``widths``) took ``steps`` Adam steps (learning
        rate ``lr``) on ``objective(state)``, a scalar differentiable in ``state`` (a new noise draw per call)."""
        state = {k: v.requires_grad_() for k, v in self._init_state(widths, dtype, device).items()}
        opt = torch.optim.Adam(list(state.values()), lr=self.lr)
        with torch.enable_grad():
            for _ in range(self.steps):
                # gradients in phi only (a backward() would also fill the .grad of the loss's own parameters)
                grads = torch.autograd.grad(objective(state), list(state.values()))
                for v, gv in zip(state.values(), grads, strict=True):
                    v.grad = gv
                opt.step()
        return self.with_state({k: v.detach() for k, v in state.items()})

    # in training (gl.train), phi takes one Adam step per training step on the same sample as the model's gradient
    # (Grathwohl et al. Alg. 2): stepped
    trains_online: ClassVar[bool] = True

    def stepped(self, objective: Callable, widths: Sequence[int], dtype: torch.dtype, device) -> RELAX:
        """A copy whose ``phi`` took one Adam step on ``objective(state)``; Adam's moments are part of the state
        (keys ``adam.*``), so a resumed training run continues bit for bit."""
        held = self._fitted or self._init_state(widths, dtype, device)
        phi = {k: v.detach().clone().requires_grad_() for k, v in held.items() if not k.startswith("adam.")}
        opt = torch.optim.Adam(list(phi.values()), lr=self.lr)
        if "adam.step" in held:
            for k, v in phi.items():
                opt.state[v] = {
                    "step": held["adam.step"].clone(),
                    "exp_avg": held[f"adam.m.{k}"].clone(),
                    "exp_avg_sq": held[f"adam.v.{k}"].clone(),
                }
        with torch.enable_grad():
            grads = torch.autograd.grad(objective(phi), list(phi.values()))
        for v, gv in zip(phi.values(), grads, strict=True):
            v.grad = gv
        opt.step()
        new = {k: v.detach() for k, v in phi.items()}
        for k, v in phi.items():
            new[f"adam.m.{k}"], new[f"adam.v.{k}"] = opt.state[v]["exp_avg"], opt.state[v]["exp_avg_sq"]
        new["adam.step"] = opt.state[next(iter(phi.values()))]["step"]
        return self.with_state(new)

    def state(self) -> dict[str, torch.Tensor] | None:
        return self._fitted

    def with_state(self, state: dict[str, torch.Tensor] | None) -> RELAX:
        fitted = dataclasses.replace(self)
        object.__setattr__(fitted, "_fitted", state)
        return fitted


def _key(name: str, draw: int) -> str:
    return name if draw == 0 else f"{name}.{draw}"
