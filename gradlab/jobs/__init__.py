"""The main job (``gradlab run``): the ZGR paper's Fig. 1 / B.2 measurement end to end."""

LAYER = 10  # this folder's layer, bottom up (tests/test_layers.py, docs/ARCHITECTURE.md)
