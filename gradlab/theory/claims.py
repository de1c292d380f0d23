"""The registry of claims that ``gradlab verify`` knows: for each, the paper, the location, the paper's own words
and the check group that measures it (``None``: not checked yet, with the reason).

A check group (``runner.CHECKS``) produces one :class:`~gradlab.theory.core.CheckResult` per claim id; the runner
copies the paper, location and quote of the claim into the result, so the report carries them. Quotes are the
papers' words (formulas in the paper's notation, written in plain text); ``[...]`` marks an omission.
"""

from __future__ import annotations

import dataclasses

from gradlab.theory.claims_training import training_claims
from gradlab.theory.core import SHAH, ZGR

__all__ = ["Claim", "CLAIMS", "claim_by_id"]


@dataclasses.dataclass(frozen=True)
class Claim:
    """One checkable statement of a paper. ``group``: the check group that measures it, or ``None`` with
    ``why_not`` saying why it is not checked. ``derived``: a formula gradlab derived (not the paper's claim)."""

    id: str
    paper: str
    location: str
    quote: str
    group: str | None
    why_not: str = ""
    derived: bool = False


def _z(id, location, quote, group, **kw) -> Claim:
    return Claim(id, ZGR, location, quote, group, **kw)


def _s(id, location, quote, group, **kw) -> Claim:
    return Claim(id, SHAH, location, quote, group, **kw)


CLAIMS: tuple[Claim, ...] = (
    # ------------------------------------------------------------------ ZGR paper, Sec. 2
    _z(
        "sec2.darn-half-quadratic",
        "Sec. 2, after eq. (5)",
        "When x is binary, the choice phi_bar = 1/2 sum_x phi(x), the mean embedding under the uniform "
        "distribution, ensures that the estimator is unbiased for any quadratic function.",
        "estimators",
    ),
    _z(
        "sec2.no-phi-bar-categorical",
        "Sec. 2, after eq. (5)",
        "However, for categorical variables no phi_bar with such property exist.",
        "estimators",
    ),
    _z(
        "sec2.gs-st-bias-floor",
        "Sec. 2, GS-ST paragraph",
        "To make the bias smaller the temperature t should be decreased, however, the bias does not vanish even "
        "asymptotically while the variance still grows as O(1/t) (Shekhovtsov, 2021).",
        "asymptotics",
    ),
    _z(
        "gs.variance-1/t",
        "Sec. 1 and Sec. 2",
        "there is no zero temperature limit estimators corresponding to GS or GS-ST because their variance "
        "explodes in the limit. [...] the variance still grows as O(1/t)",
        "gs",
    ),
    _z(
        "gs_st.variance-1/t",
        "Sec. 2, GS-ST paragraph",
        "the bias does not vanish even asymptotically while the variance still grows as O(1/t)",
        "gs",
    ),
    # ------------------------------------------------------------------ Sec. 3.1 and App. A.1, binary
    _z(
        "prop1.eq11",
        "Sec. 3.1, Proposition 1, eq. (11)",
        "J_GR = L'(x) / p(x; eta) p_Z(eta) (1/2 + (2x - 1) c~1 t) + O(t^2), where p_Z is the logistic density "
        "[...] and c~1 = (2 p_Z(eta) - 1) log(2).",
        "prop1",
    ),
    _z(
        "prop1.eq23-first-order",
        "App. A.1, eq. (23), first order",
        "J_GR = L'(x) / p(x) p_Z(eta) (1/2 + (2x - 1) c1 log(2) t + c2 pi^2/6 t^2) + O(t^3)",
        "prop1",
    ),
    _z(
        "prop1.eq23-second-order",
        "App. A.1, eq. (23), second order",
        "J_GR = L'(x) / p(x) p_Z(eta) (1/2 + (2x - 1) c1 log(2) t + c2 pi^2/6 t^2) + O(t^3)",
        "prop1",
    ),
    _z(
        "cor1.limit-darn-half",
        "Sec. 3.1, Corollary 1",
        "In the limit t -> 0 the GR estimator becomes the simple binary DARN(1/2) estimator.",
        "prop1",
    ),
    _z(
        "corA1.mean",
        "App. A.1, Corollary A.1, eq. (26a)",
        "E[J_GR] = p(1-p) (1/2 (L'(1) + L'(0)) + (L'(1) - L'(0)) c~1 t) + O(t^2)",
        "corA1",
    ),
    _z(
        "corA1.variance",
        "App. A.1, Corollary A.1, eq. (26b)",
        "V[J_GR] = (p(1-p))^3 (1/4 (a-b)^2 + 1/2 (a^2 - b^2) c~1 t) + O(t^2), where p = sigma(eta), "
        "a = L'(1)/p, b = L'(0)/(1-p) and c~1 = (2p-1) log(2).",
        "corA1",
    ),
    _z(
        "corA1.variance-derived",
        "App. A.1, eqs. (28)-(30), corrected by gradlab",
        "(derived, not the paper's words) V[J_GR] = (p(1-p))^3 (1/4 (a-b)^2 + (a^2 - b^2) c~1 t) + O(t^2)",
        "corA1",
        derived=True,
    ),
    _z(
        "corA1.linear-bias",
        "Sec. 3.1, after Corollary 1",
        "In particular, for a linear objective L the bias is O(t^2) and the squared bias is O(t^4).",
        "corA1",
    ),
    _z(
        "corA1.linear-variance-slope",
        "Sec. 3.1 and App. A.1, eq. (32)",
        "The dependence of variance on t for a linear objective is negative in the first order term. [eq. (32)] "
        "which is non-positive for any p and is zero for p = 1/2.",
        "corA1",
    ),
    _z(
        "sec3.1.min-mse-temperature",
        "Sec. 3.1, after Corollary 1",
        "Therefore the temperature corresponding to the minimum MSE will be non-zero.",
        "asymptotics",
    ),
    _z(
        "eq31.variance-slope-sign",
        "App. A.1, eqs. (30)-(31); Sec. 3.3",
        "It could be positive or negative depending on the values of the derivatives and of p. [...] We see that "
        "for the corner points, where p approaches either 0 or 1, this linear term is negative.",
        "asymptotics",
    ),
    # ------------------------------------------------------------------ Sec. 3.2, categorical
    _z(
        "thm1.gr-mc-to-zgr",
        "Sec. 3.2, Theorem 1, eq. (12)",
        "The Gumbel-Rao estimator for one-hot embedding phi in the limit of zero temperature is given by (12).",
        "thm1",
    ),
    _z(
        "prop2.decomposition",
        "Sec. 3.2, Proposition 2, eq. (13)",
        "ZGR estimator decomposes as J_ZGR = 1/2 (J_ST + J_DARN(phi_bar(eta))), i.e., with the choice "
        "phi_bar = phi_bar(eta) in DARN.",
        "exact",
    ),
    _z("thm2.quadratic-unbiased", "Sec. 3.2, Theorem 2", "ZGR is unbiased for any quadratic loss function L.", "exact"),
    _z(
        "sec3.2.st-darn-opposite",
        "Sec. 3.2, after Theorem 2",
        "Both ST and DARN(phi_bar(eta)) are unbiased for linear functions and the theorem together with "
        "representation (13) implies that their biases for quadratic functions are exactly opposite and cancel "
        "off in ZGR.",
        "estimators",
    ),
    _z(
        "cor2.independent-variables",
        "Sec. 3.2, Corollary 2",
        "Let x_1, ..., x_n be independent categorical variables and L(x_1, ..., x_n) be such that for all i and "
        "all configurations x the restriction L(x_i) is a quadratic function. Then ZGR is unbiased.",
        "exact",
    ),
    _z(
        "sec3.2.st-multilinear",
        "Sec. 3.2, after Corollary 2",
        "Compared to ST, which is unbiased for multilinear functions only, we hypothesize that ZGR can capture "
        "interactions more accurately.",
        "estimators",
    ),
    _z(
        "appA.st-single-variable-exact",
        "App. A.2, after eq. (73)",
        "This may come as a surprise for someone, but ST for a single categorical variable is exact (zero bias "
        "and zero variance).",
        "estimators",
    ),
    # ------------------------------------------------------------------ Sec. 3.3, variance
    _z(
        "cor3.variance-order",
        "Sec. 3.3, Corollary 3, eq. (15)",
        "For any given number of MC samples M there exists a small enough t > 0 such that "
        "V[J_ZGR] < V[J_GR-MC] < V[J_GS-ST].",
        "cor3",
    ),
    _z(
        "sec3.3.common-bias",
        "Sec. 3.3, after Corollary 3",
        "Unlike the variances, the biases of GS-ST, GR and GR-MC are exactly the same. In contrast to GS, this "
        "common bias has a floor due to the ST heuristic introduced in the GS-ST step. From our analysis it "
        "follows that the common floor is achieved by ZGR.",
        "asymptotics",
    ),
    # ------------------------------------------------------------------ Sec. 4
    _z(
        "footnote.st2-vs-gsst1",
        "Sec. 4.2 and footnote 2",
        "We notice that ST(t=2) approximately matches GS-ST(t=1). [footnote 2:] It can be seen that the GS family "
        "smooths the argmax twice: once stochastically and once via softmax_t(eta + G) = "
        "E[arg max(eta + G + G') | G] for G' ~ Gumbel(0, t).",
        "footnote",
    ),
    _z(
        "appB5.quantization-unit",
        "App. B.5, Fig. B.5 caption",
        "ZGR reduces the variance by an edge further while keeping the bias equal to the theoretical bias of GR "
        "with zero temperature. [...] Plain ST estimator has a yet smaller variance but a larger bias.",
        "quantization",
    ),
    _z(
        "figB5.variance-order",
        "App. B.5, Fig. B.5 caption",
        "GR with 100 is able to reduce the variance of GS-ST substantially. [...] The variance of RF(M=2) is "
        "substantially higher.",
        "quantization_variance",
    ),
    _z(
        "appB5.zgr-is-gr-at-zero-temperature",
        "App. B.5, Fig. B.5 caption",
        "ZGR reduces the variance by an edge further while keeping the bias equal to the theoretical bias of GR "
        "with zero temperature.",
        "quantization_gr",
    ),
    _z(
        "fig5.zgr-faster",
        "Sec. 4.2, item 4), Fig. 5 (left)",
        "we measure the computation time per forward-backward pass in Fig. 5 (left) and observe that ZGR is "
        "faster than both GR-MC and RF(2).",
        "timing",
    ),
    _z(
        "fig5.quantized-speed-gain",
        "Sec. 4.3, last sentence; Sec. 4.1.2, item 4); Fig. 5 (right)",
        "The gain in speed is more substantial than in VAE, Fig. 5 (right). [...] we expect it [GR-MC] to hit memory "
        "/ compute bottlenecks when scaling to larger models with more discrete variables, as already seen in "
        "quantization Fig. 5 (right).",
        "timing",
    ),
    _z(
        "fig1.common-bias",
        "Sec. 4.1.1, Fig. 1 (left); Sec. 3.3",
        "Unlike the variances, the biases of GS-ST, GR and GR-MC are exactly the same. [...] This is experimentally "
        "clearly visible in Fig. 1 (left)",
        "vae",
    ),
    _z(
        "fig1.variance-over-bias",
        "Sec. 4.1.1, Fig. 1",
        "We observe that the variance is by several orders larger than the squared bias.",
        "vae",
    ),
    _z(
        "fig1.zgr-lowest-bias",
        "Sec. 3.3, Fig. 1 (left)",
        "From our analysis it follows that the common floor is achieved by ZGR. This is experimentally clearly "
        "visible in Fig. 1 (left), although we cannot theoretically guarantee that the limit bias is the smallest",
        "vae",
    ),
    _z(
        "figB2.rf4-overtakes-zgr",
        "App. B.4, Fig. B.2",
        "However from epoch 10 and on the trends and relative ordering of methods stabilizes, with only RF(4) "
        "slightly overtaking ZGR in variance.",
        "vae",
    ),
    _z(
        "figB2.bias-reversal-epoch1",
        "App. B.4, Fig. B.2",
        "At the very beginning of training, the picture looks substantially different in that there is some bias "
        "reversal in GS-ST and derived estimators.",
        "vae",
    ),
    _z(
        "fig4.pareto-frontier",
        "Sec. 4.2, Fig. 4 caption (left: VAE at epoch 10)",
        "the set of non-dominated choices, the Pareto frontier, is represented by families of simple estimators: "
        "temperatured ST and interpolated ST-ZGR; and by the unbiased estimator with the lowest variance.",
        "vae",
    ),
    _z(
        "fig4.gr-mc-floor",
        "Sec. 4.2, after Fig. 4",
        "when decreasing the temperature below a certain point, unknown in advance, the bias of GR-MC approaches a "
        "floor while the variance continues to grow.",
        "vae",
    ),
    _z(
        "sec4.2.st-zgr-no-regret",
        "Sec. 4.2, after eq. (17)",
        "We visualize the bias-variance tradeoffs in Fig. 4 left (also in Fig. B.4 at different epochs). "
        "Empirically, we observe that there is little to no regret in using the interpolated estimator over GR-MC.",
        "vae",
    ),
    # ------------------------------------------------------------------ Shah et al.
    _s(
        "shah.tau_b.bias",
        "Sec. 5.2.2, Fig. 6",
        "Figure 6 shows that increasing the backward temperature reduced both the bias and variance of the "
        "gradient estimates",
        "shah",
    ),
    _s(
        "shah.tau_b.variance",
        "Sec. 5.2.2, Fig. 6",
        "Figure 6 shows that increasing the backward temperature reduced both the bias and variance of the "
        "gradient estimates",
        "shah",
    ),
    _s(
        "shah.tau_f.bias",
        "Sec. 5.2.2, Fig. 6",
        "Conversely, increasing the forward temperature while holding the backward temperature constant led to an "
        "increase in both bias and variance",
        "shah",
    ),
    _s(
        "shah.tau_f.variance",
        "Sec. 5.2.2, Fig. 6",
        "Conversely, increasing the forward temperature while holding the backward temperature constant led to an "
        "increase in both bias and variance",
        "shah",
    ),
    _s(
        "shah.tau_f.bias.model-target",
        "Sec. 5.2.2, Fig. 6 (bias against the model's objective)",
        "increasing the forward temperature while holding the backward temperature constant led to an increase "
        "in both bias and variance",
        "shah",
    ),
    _s(
        "shah.gap-falls-with-tau_b",
        "Sec. 5.2.1, Fig. 5",
        "We observed a significant decrease in the gradient gap with increasing backward temperature.",
        "shah_gap",
    ),
    # ------------------------------------------------------------------ not in the papers
    Claim(
        "observation.reinmax1-is-zgr",
        "gradlab",
        "not stated in the three papers",
        "(an observation checked by gradlab) ReinMax(t=1) (Liu et al. 2023, Alg. 2) and ZGR (eq. 13) are the same "
        "estimator.",
        "reinmax",
        derived=True,
    ),
)
CLAIMS += training_claims(Claim)  # ZGR Tables 1-3, Figs. 2 and 4 (right); Shah et al.'s grids

_BY_ID = {c.id: c for c in CLAIMS}
assert len(_BY_ID) == len(CLAIMS), "claim ids must be unique"


def claim_by_id(cid: str) -> Claim:
    try:
        return _BY_ID[cid]
    except KeyError:
        raise ValueError(f"verify: unknown claim {cid!r}; `gradlab verify --list` shows every claim") from None
