"""Measurement engines: streaming float64 statistics, bootstrap intervals, exact gradients by enumeration and the
vectorised Monte Carlo sampler."""

LAYER = 3  # this folder's layer, bottom up (tests/test_layers.py, docs/ARCHITECTURE.md)
