"""Terms shared by the DCMH family (DCMH, CDHCR, TDH): quantization and bit balance.

DCMH (Jiang & Li, CVPR 2017) eq. (2): ``gamma (||B - F||_F^2 + ||B - G||_F^2)`` (quantization) and
``eta (||F 1||^2 + ||G 1||^2)`` (bit balance). Row-major here: ``F`` is ``(n, c)``, so ``F 1`` (the
papers' column-major sum over items) is ``F.sum(0)``.
"""
from __future__ import annotations

import torch

__all__ = ["quantization", "bit_balance"]


def quantization(B: torch.Tensor, F: torch.Tensor) -> torch.Tensor:
    """``||B - F||_F^2`` (one modality); a 0-d tensor. Gradients flow to both arguments."""
    if B.shape != F.shape:
        raise ValueError(f"B and F must have the same shape, got {tuple(B.shape)} and {tuple(F.shape)}")
    return ((B - F) ** 2).sum()


def bit_balance(F: torch.Tensor, rest: torch.Tensor | None = None) -> torch.Tensor:
    """``||F^T 1 + rest||^2``: squared norm of the per-bit sums over items.

    ``F`` is the ``(n, c)`` outputs or an already summed ``(c,)`` vector. ``rest`` (``(c,)``) adds the
    per-bit sum of rows outside ``F``: in a mini-batch, the stale buffer rows of the other items.
    """
    if F.ndim == 2:
        s = F.sum(0)
    elif F.ndim == 1:
        s = F
    else:
        raise ValueError(f"F must be (n, c) outputs or a (c,) sum, got shape {tuple(F.shape)}")
    if rest is not None:
        if rest.shape != s.shape:
            raise ValueError(f"rest must have shape {tuple(s.shape)}, got {tuple(rest.shape)}")
        s = s + rest
    return (s ** 2).sum()
