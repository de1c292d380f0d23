"""The command line (``gradlab``): argument parsing for run, sweep, plot, verify, train and study."""

LAYER = 11  # this folder's layer, bottom up (tests/test_layers.py, docs/ARCHITECTURE.md)
