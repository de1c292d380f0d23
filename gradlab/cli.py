"""The ``gradlab`` command."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence

from . import __version__
from .estimators import REGISTRY, available_estimators


def _hparam_text(cls) -> str:
    parts = []
    for f in dataclasses.fields(cls):
        default = f.default
        parts.append(f"{f.name}={default:g}" if isinstance(default, float) else f"{f.name}={default}")
    return ", ".join(parts) if parts else "-"


def cmd_list(args: argparse.Namespace) -> int:
    """One line per estimator: name, hyper-parameters with defaults, what it is."""
    rows = []
    for name in available_estimators():
        cls = REGISTRY[name]
        kind = "pathwise" if cls.pathwise else "score-function"
        rows.append((name, _hparam_text(cls), kind, cls.summary))
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    w2 = max(len(r[2]) for r in rows)
    for r in rows:
        print(f"{r[0]:<{w0}}  {r[1]:<{w1}}  {r[2]:<{w2}}  {r[3]}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Squared bias and variance of every estimator on one categorical variable with a quadratic loss."""
    import torch

    from . import estimator

    k, n = 6, args.n
    gen = torch.Generator().manual_seed(args.seed)
    a = torch.randn(k, k, generator=gen, dtype=torch.float64)
    b = torch.randn(k, generator=gen, dtype=torch.float64)
    eta = torch.randn(k, generator=gen, dtype=torch.float64)

    def loss(x):
        return ((x @ a) * x).sum(-1) + x @ b

    e = eta.clone().requires_grad_()
    (exact,) = torch.autograd.grad((torch.softmax(e, -1) * loss(torch.eye(k, dtype=torch.float64))).sum(), e)
    print(f"one categorical variable, K={k}, quadratic loss, {n} estimates each (seed {args.seed})")
    print(f"{'estimator':<34} {'squared bias':>14} {'variance':>12}")
    for name, hp in [
        ("st", {}),
        ("st", {"t": 2.0}),
        ("gs", {"t": 0.5}),
        ("gs_st", {"t": 0.5}),
        ("gr_mc", {"t": 0.5, "m": 10}),
        ("darn", {}),
        ("zgr", {}),
        ("st_zgr", {"t": 2.0, "alpha": 0.5}),
        ("reinmax", {}),
        ("reinforce", {"m": 4}),
    ]:
        est = estimator(name, **hp)
        logits = eta.expand(n, k).clone().requires_grad_()
        u = est.draw_uniforms(logits, gen, sample_ndim=1)
        (g,) = torch.autograd.grad(est.surrogate(logits, loss, u).sum(), logits)
        mean, var = g.mean(0), g.var(0).mean()
        bias2 = ((mean - exact) ** 2).mean() - var / n  # unbiased (ZGR eq. 16 against an exact reference)
        print(f"{est.label:<34} {float(bias2):>14.3e} {float(var):>12.3e}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gradlab",
        description="Bias, variance and gradient gap of gradient estimators for discrete random variables.",
    )
    parser.add_argument("--version", action="version", version=f"gradlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("list", help="estimators and their hyper-parameters, one line each")
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("demo", help="a 5-second tour: bias and variance on one categorical variable")
    p.add_argument("--n", type=int, default=20_000, help="estimates per estimator (default 20000)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
