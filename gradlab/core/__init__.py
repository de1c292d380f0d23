"""The bottom layer: argument checks with one-line errors, the version, dimension names, atomic writes, explicit
noise streams, log-space categorical helpers, joblib/Dask plumbing and netCDF results with provenance."""

LAYER = 0  # this folder's layer, bottom up (tests/test_layers.py, docs/ARCHITECTURE.md)
