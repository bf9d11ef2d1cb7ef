"""Objective terms as pure functions of codes, one module per family.

``pairwise`` (DCMH's sigmoid likelihood), ``cauchy`` (CDHCR), ``triplet`` (TDH's terms and miner),
``regularizers`` (quantization, bit balance, graph Laplacian). Import the submodule you need,
e.g. ``from hashnotes.losses import pairwise``.
"""
