"""Objective terms as pure functions of codes, one module per family.

``pairwise`` (DCMH's sigmoid likelihood), ``cauchy`` (CDHCR), ``triplet`` (TDH's terms and miner),
``regularizers`` (quantization, bit balance). Every family exposes the same kinds of functions with the
same names and argument order: ``batch_loss(out, other, B_batch, <supervision>, ...)`` and
``objective(F, G, B, <supervision>, ...)`` return dicts of named terms (sums) including ``"total"``;
``gradients(...)`` is the closed-form gradient. Label similarity comes from :mod:`hashnotes.similarity`;
the ``1/(n b)`` batch normalisation is applied by the trainer (:mod:`hashnotes.train.alternating`).
Import the submodule you need, e.g. ``from hashnotes.losses import pairwise``.
"""
