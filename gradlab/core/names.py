"""xarray dimension, coordinate and variable names: defined once, used everywhere."""

from __future__ import annotations

# dimensions
ESTIMATOR = "estimator"  # a label such as "gs_st(t=0.5)"
SEED = "seed"
PARAM = "param"  # entries of the flat gradient, when kept
M = "M"  # number of averaged estimates (MSE of the mean)
ETA = "eta"  # quantization-unit input
STAT = "stat"

# non-dimension coordinates along ESTIMATOR
FAMILY = "family"  # registry name: "gs_st"
HPARAMS = ("t", "m", "alpha", "tau_f", "tau_b", "backward", "phi_bar", "baseline")
STRING_HPARAMS = ("backward", "phi_bar", "baseline")

# data variables
BIAS2 = "bias2"  # average squared bias per parameter (ZGR eq. 16)
VARIANCE = "variance"  # average per-parameter variance
MSE = "mse"  # bias2 + variance
COSINE = "cosine"  # cosine between the mean estimate and the reference
REL_BIAS = "rel_bias"  # ||g - mean|| / ||g||
REL_BIAS_DIMWISE = "rel_bias_dimwise"  # mean_j |g_j - mean_j| / |g_j| (Shah et al. App. C)
MEAN_STD = "mean_std"  # mean_j std_j (Shah et al. App. C)
N_SAMPLES = "n"
GAP = "gradient_gap"  # E ||grad_relaxed - grad_discrete||^2
GAP_SE = "gradient_gap_se"
LO, HI = "_lo", "_hi"  # suffixes of confidence bounds, e.g. "bias2_lo"
BIAS2_SE = "bias2_se"  # standard error of bias2 at max(bias2, 0) (analysis.intervals)
BIAS2_ZERO = "bias2_consistent_with_zero"  # the bias2 interval contains 0
SECONDS_PER_SAMPLE = "seconds_per_sample"  # wall time of sample_gradients / n
SECONDS = "seconds"  # wall time of a sweep cell (sampling, reference, gradient gap)
TARGET = "target"  # coordinate along ESTIMATOR: what the estimate estimates
PROBLEM = "problem"  # per-cell problem configuration (JSON)

# long_name and definition of every result variable (written as netCDF attributes)
DESCRIPTIONS: dict[str, tuple[str, str, str]] = {
    # name: (long_name, units, definition)
    BIAS2: (
        "average squared bias per parameter",
        "gradient units squared",
        "unbiased estimate of |g - E[ghat]|^2 / d (ZGR eq. 16: |mean(X) - mean(Y)|^2 / d - V_1/n_1 - V_2/n_2); "
        "may be negative when the bias is below the sampling noise",
    ),
    VARIANCE: (
        "average variance per parameter",
        "gradient units squared",
        "mean over the d parameters of the per-parameter sample variance (ddof = 1) of the estimates (ZGR 4.1.1)",
    ),
    MSE: ("mean squared error per parameter", "gradient units squared", "bias2 + variance = E|g - ghat|^2 / d"),
    COSINE: ("cosine similarity", "1", "cosine between the mean estimate and the reference gradient"),
    REL_BIAS: ("relative bias", "1", "|g - mean(ghat)| / |g| (Euclidean norms over all parameters)"),
    REL_BIAS_DIMWISE: (
        "normalised bias (Shah et al. App. C)",
        "1",
        "mean over parameters j with g_j != 0 of |g_j - mean_j| / |g_j|",
    ),
    MEAN_STD: ("mean standard deviation (Shah et al. App. C)", "gradient units", "mean over parameters of std_j"),
    N_SAMPLES: ("number of gradient samples", "1", "independent estimates drawn for this cell"),
    BIAS2_SE: (
        "standard error of bias2",
        "gradient units squared",
        "sqrt(4 rho max(bias2, 0) / d + Var(|ebar|^2) / d^2) from bootstrap replicates (analysis.intervals)",
    ),
    BIAS2_ZERO: ("squared bias consistent with zero", "1", "bias2_lo <= 0: the interval contains zero"),
    SECONDS_PER_SAMPLE: (
        "wall time per gradient sample",
        "s",
        "seconds spent in sample_gradients divided by n (the cost axis of a bias/variance/cost frontier)",
    ),
    GAP: (
        "gradient gap",
        "gradient units squared",
        "E |grad of the relaxed loss - straight-through gradient|^2 with the same noise (Shah et al.)",
    ),
    SECONDS: ("wall time of the cell", "s", "seconds for the whole sweep cell: sampling, reference and gap"),
    "grad_mean": ("mean estimate per parameter", "gradient units", "float64 mean of the n estimates, entry by entry"),
    "grad_std": ("standard deviation per parameter", "gradient units", "sample standard deviation (ddof = 1)"),
    "reference_mean": ("reference gradient per parameter", "gradient units", "exact gradient or reference mean"),
    GAP_SE: ("standard error of the gradient gap", "gradient units squared", "sd / sqrt(n) of the gap samples"),
}
for _name in (BIAS2, VARIANCE, MSE):
    _long, _units, _ = DESCRIPTIONS[_name]
    DESCRIPTIONS[_name + LO] = (f"lower bound of the {_long}", _units, "lower end of the two-sided interval")
    DESCRIPTIONS[_name + HI] = (f"upper bound of the {_long}", _units, "upper end of the two-sided interval")

# long_name and definition of every coordinate (netCDF attributes; a hyper-parameter that no estimator built in
# declares gets a generic one). Hyper-parameters are per estimator family: a NaN or "" where a family has none.
COORD_DESCRIPTIONS: dict[str, tuple[str, str]] = {
    ESTIMATOR: ("estimator setting", "the estimator's label: family and hyper-parameters, e.g. gs_st(t=0.5)"),
    FAMILY: ("estimator family", "the registry name of the estimator (gradlab list)"),
    "t": ("temperature", "the temperature t of the estimator's relaxation, softmax(. / t) (ZGR eqs. 4-9)"),
    "m": ("number of draws", "gr_mc: conditional Gumbel draws averaged (eq. 9); reinforce: samples per estimate"),
    "alpha": ("interpolation weight", "st_zgr: (1 - alpha) ST(t) + alpha ZGR (ZGR eq. 17)"),
    "tau_f": ("forward temperature", "decoupled_st: samples follow softmax(logits / tau_f) (Shah et al.)"),
    "tau_b": ("backward temperature", "decoupled_st: the relaxation its backward goes through (Shah et al.)"),
    "backward": ("backward placement", "decoupled_st: gumbel_logits, gumbel_sum or softmax (docs/ESTIMATORS.md)"),
    "phi_bar": ("DARN baseline", "darn: mean (phi_bar = p) or uniform (1/K) (ZGR eq. 5)"),
    "baseline": ("baseline", "reinforce: loo (leave-one-out), none or ema; unordered_set: builtin or none"),
    "decay": ("moving-average decay", "reinforce with baseline = ema: the weight of the old average"),
    "eta": (
        "control-variate weight",
        "rebar / relax: the weight of the relaxed control variate (Tucker et al.'s eta); not the logits eta of "
        "docs/ESTIMATORS.md",
    ),
    "k": (
        "number of categories summed or drawn",
        "rb_reinforce: top-k summed exactly; unordered_set, "
        "priority_reinforce: k distinct categories without replacement",
    ),
    "gap": ("logit gap", "gapped_st: every other logit at least gap below the sampled one (Fan et al. 2022)"),
    "hidden": ("control-variate width", "relax: hidden units of its MLP control variate"),
    "steps": ("fit steps", "relax: Adam steps of its control variate before a measurement"),
    "batch": ("fit batch", "relax: samples per fit step"),
    "lr": ("fit learning rate", "relax: Adam's learning rate for its control variate"),
    "beta": ("hard concrete temperature", "hard_concrete: beta (Louizos et al. 2018)"),
    "gamma": ("hard concrete stretch (low)", "hard_concrete: gamma, the lower end of the stretched interval"),
    "zeta": ("hard concrete stretch (high)", "hard_concrete: zeta, the upper end of the stretched interval"),
    TARGET: (
        "target of the estimate",
        "the objective whose gradient the setting estimates (decoupled_st with "
        "tau_f != 1: the objective under its forward distribution)",
    ),
    PROBLEM: ("problem configuration", "the resolved problem of this point, as JSON (build_problem rebuilds it)"),
    SEED: ("replicate seed", "cell seed = task_seed(master_seed, seed)"),
    PARAM: ("gradient entry", "an entry of the flat gradient (its parameter and index)"),
    "param_label": ("gradient entry of this point", "the parameter and index of the entry at this problem point"),
    "reference_used": ("reference", "exact: exact gradients; samples: the reference estimator's samples (eq. 16)"),
    "evaluation": ("validation distribution", "the distribution the validation samples were drawn from"),
    "epoch": ("epoch", "training epochs completed (0: the initialisation)"),
    "split": ("latent split", "categories C and variables V of the latent bits (C2 V12: 12 binary variables)"),
    "bits": ("bit widths", "weights / activations: 2 bits, T(ernary) or 1 bit"),
    "schedule": ("temperature schedule", "fixed temperatures, or linear schedules of tau_f and tau_b over the run"),
}
