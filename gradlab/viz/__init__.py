"""Figures, drawn from result files only: styles, the bias-variance and Pareto plots, the papers' figures and the
training histories' figures."""

LAYER = 9  # this folder's layer, bottom up (tests/test_layers.py, docs/ARCHITECTURE.md)
