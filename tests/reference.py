"""Independent float64 NumPy reference formulas for every pathwise estimator (ESTIMATORS.md).

Nothing here imports gradlab: each function takes the logits ``eta`` (K,), the uniform draws the
estimator consumed (layout documented on each estimator class), and the loss gradient ``J(.)`` as a
function of the forward value, and returns the estimate ``d/d eta`` from explicit Jacobians.
"""

from __future__ import annotations

import numpy as np


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max()
    e = np.exp(z)
    return e / e.sum()


def log_softmax(z: np.ndarray) -> np.ndarray:
    m = z.max()
    return z - (m + np.log(np.exp(z - m).sum()))


def jac_softmax(s: np.ndarray, scale: float) -> np.ndarray:
    """d softmax(z * scale)/dz at softmax value s."""
    return scale * (np.diag(s) - np.outer(s, s))


EPS = np.finfo(np.float64).eps


def open_u(u: np.ndarray) -> np.ndarray:
    """The documented convention: a torch.rand draw stands for the middle of its grid cell, u + eps/4."""
    return np.minimum(u + EPS / 4, 1 - EPS / 2)


def gumbel(u: np.ndarray) -> np.ndarray:
    return -np.log(-np.log(open_u(u)))


def onehot(i: int, k: int) -> np.ndarray:
    e = np.zeros(k)
    e[i] = 1.0
    return e


def forward_index(eta, u):
    """Inverse-CDF draw from softmax(eta) with the single uniform u[0]: the first k with u < cdf_k / cdf_K."""
    cdf = np.cumsum(softmax(eta))
    return int(np.searchsorted(cdf, open_u(u[0]) * cdf[-1], side="right"))


def st(eta, u, J, t=1.0):
    x = onehot(forward_index(eta, u), eta.size)
    return jac_softmax(softmax(eta / t), 1 / t) @ J(x)


def gapped_st(eta, u, J, t=1.0, gap=1.0):
    """Fan et al. 2022: the sampled logit raised to the maximum, every other logit lowered (if needed) to
    ``gap`` below the maximum; softmax at temperature t of that, the move held constant."""
    i = forward_index(eta, u)
    x = onehot(i, eta.size)
    moved = eta.copy()
    top = eta.max()
    for k in range(eta.size):
        moved[k] = top if k == i else min(eta[k], top - gap)
    return jac_softmax(softmax(moved / t), 1 / t) @ J(x)


def identity_st(eta, u, J):
    x = onehot(forward_index(eta, u), eta.size)
    return J(x)


def gs(eta, u, J, t=1.0):
    theta = log_softmax(eta)
    y = softmax((theta + gumbel(u)) / t)
    return jac_softmax(y, 1 / t) @ J(y)


def gs_st(eta, u, J, t=1.0):
    theta = log_softmax(eta)
    x = onehot(int(np.argmax(theta + gumbel(u))), eta.size)
    s = softmax((theta + gumbel(u)) / t)
    return jac_softmax(s, 1 / t) @ J(x)


def decoupled_st(eta, u, J, tau_f=1.0, tau_b=1.0, backward="gumbel_logits"):
    g = gumbel(u)
    x = onehot(int(np.argmax(eta / tau_f + g)), eta.size)
    if backward == "gumbel_logits":
        s = softmax(eta / tau_b + g)
        jac = jac_softmax(s, 1 / tau_b)
    elif backward == "gumbel_sum":
        s = softmax((eta / tau_f + g) / tau_b)
        jac = jac_softmax(s, 1 / (tau_f * tau_b))
    else:
        s = softmax(eta / tau_b)
        jac = jac_softmax(s, 1 / tau_b)
    return jac @ J(x)


def gr_mc(eta, u, J, t=0.1, m=10):
    """Layout [G (K) | Ghat (m, K) | T (m)] of GumbelRao."""
    k = eta.size
    g = gumbel(u[:k])
    ghat = gumbel(u[k : k + k * m]).reshape(m, k)
    gtop = gumbel(u[k + k * m :]).reshape(m)
    theta = log_softmax(eta)
    xi = int(np.argmax(theta + g))
    z = np.log(np.exp(theta).sum())
    total = np.zeros((k, k))
    for j in range(m):
        top = z + gtop[j]
        pert = -np.logaddexp(-top, -(theta + ghat[j]))
        pert[xi] = top
        total += jac_softmax(softmax(pert / t), 1 / t)
    return (total / m) @ J(onehot(xi, k))


def darn(eta, u, J, phi_bar="mean"):
    k = eta.size
    p = softmax(eta)
    xi = forward_index(eta, u)
    x = onehot(xi, k)
    phib = p if phi_bar == "mean" else np.full(k, 1 / k)
    dlogpx = x - p  # d log p(x) / d eta
    return float(J(x) @ (x - phib)) * dlogpx


def zgr(eta, u, J):
    return 0.5 * (st(eta, u, J, 1.0) + darn(eta, u, J, "mean"))


def zgr_theorem1(eta, u, J):
    """ZGR eq. (12) (the Theorem 1 form, in theta; equals the eta-gradient since it sums to 0)."""
    k = eta.size
    p = softmax(eta)
    xi = forward_index(eta, u)
    jx = J(onehot(xi, k))
    out = 0.5 * (jx - jx[xi]) * p
    out[xi] = 0.5 * sum((jx[xi] - jx[j]) * p[j] for j in range(k) if j != xi)
    return out


def st_zgr(eta, u, J, t=1.0, alpha=0.5):
    return (1 - alpha) * st(eta, u, J, t) + alpha * zgr(eta, u, J)


def reinmax(eta, u, J, t=1.0):
    k = eta.size
    p = softmax(eta)
    x = onehot(forward_index(eta, u), k)
    pi1 = 0.5 * (x + softmax(eta / t))
    j = J(x)
    return 2 * (pi1 * j - pi1 * (pi1 @ j)) - 0.5 * (p * j - p * (p @ j))


def reinforce(eta, u, L, m=2, baseline="loo"):
    """RF(m) with the leave-one-out baseline (or none: Williams' plain score function, divided by m) for a
    loss with no direct parameters."""
    k = eta.size
    p = softmax(eta)
    idx = [forward_index(eta, u[i : i + 1]) for i in range(m)]
    vals = np.array([L(onehot(i, k)) for i in idx])
    if baseline == "none":
        return sum(vals[i] * (onehot(idx[i], k) - p) for i in range(m)) / m
    centred = vals - vals.mean()
    return sum(centred[i] * (onehot(idx[i], k) - p) for i in range(m)) / (m - 1)


PATHWISE = {
    "st": st,
    "identity_st": identity_st,
    "gapped_st": gapped_st,
    "gs": gs,
    "gs_st": gs_st,
    "decoupled_st": decoupled_st,
    "gr_mc": gr_mc,
    "darn": darn,
    "zgr": zgr,
    "st_zgr": st_zgr,
    "reinmax": reinmax,
}
