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
HPARAMS = ("t", "m", "alpha", "tau_f", "tau_b", "backward", "phi_bar")
STRING_HPARAMS = ("backward", "phi_bar")

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
