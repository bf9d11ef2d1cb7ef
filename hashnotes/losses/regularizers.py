"""Regularisers shared by the DCMH family (DCMH, CDHCR, TDH): quantization and bit balance.

DCMH (Jiang & Li, CVPR 2017) eq. (2): ``gamma * (||B - F||_F^2 + ||B - G||_F^2)`` (quantization) and
``eta * (||F 1||^2 + ||G 1||^2)`` (bit balance). Row-major here: ``F`` is ``(n, c)``, so ``F 1`` (the
papers' column-major sum over items) is ``F.sum(0)``.
"""
from __future__ import annotations

import torch

__all__ = ["quantization", "bit_balance", "check_finite"]


def check_finite(name: str, x: torch.Tensor) -> None:
    """Raise ValueError when ``x`` holds NaN or inf."""
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf")


def quantization(B: torch.Tensor, F: torch.Tensor) -> torch.Tensor:
    """``||B - F||_F^2`` (DCMH eq. (2), second term, one modality); a 0-d tensor.

    Parameters
    ----------
    B : (n, c) codes (or their relaxation), treated as given; gradients flow to both arguments.
    F : (n, c) network outputs.
    """
    if B.shape != F.shape:
        raise ValueError(f"B and F must have the same shape, got {tuple(B.shape)} and {tuple(F.shape)}")
    return ((B - F) ** 2).sum()


def bit_balance(F: torch.Tensor) -> torch.Tensor:
    """``||F^T 1||^2``: squared norm of the per-bit sums over items (DCMH eq. (2), third term).

    ``F`` is either the ``(n, c)`` outputs or an already summed ``(c,)`` vector (e.g. batch rows plus the
    stale buffer rows, as in DCMH's mini-batch loss).
    """
    if F.ndim == 2:
        s = F.sum(0)
    elif F.ndim == 1:
        s = F
    else:
        raise ValueError(f"F must be (n, c) outputs or a (c,) sum, got shape {tuple(F.shape)}")
    return (s ** 2).sum()
