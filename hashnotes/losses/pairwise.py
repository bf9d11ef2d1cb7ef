"""DCMH's pairwise sigmoid likelihood (Jiang & Li, "Deep Cross-Modal Hashing", CVPR 2017, pp. 3232-3240).

Row-major convention: ``F`` (image outputs) and ``G`` (text outputs) are ``(n, c)``; the paper's
column-major ``F in R^{c x n}`` is ``F.T`` here. ``Theta = 0.5 * F @ G.T`` so ``Theta[i, j] = 0.5 F_i^T G_j``.

* eq. (2), first term: ``-sum_ij (S_ij Theta_ij - log(1 + e^Theta_ij))``, computed as
  ``softplus(Theta) - S * Theta`` (never ``log(1+exp)``: it overflows, DCMH issue #3).
* eq. (3) / METHODS 2.2 matrix form: ``dJ/dF = 0.5 A G + 2 gamma (F - B) + 2 eta 1 (1^T F)`` with
  ``A = sigmoid(Theta) - S``; ``dJ/dG = 0.5 A^T F + 2 gamma (G - B) + 2 eta 1 (1^T G)``.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as nnf

from .regularizers import bit_balance, check_finite, quantization

__all__ = ["dcmh_theta", "dcmh_nll", "dcmh_nll_full", "dcmh_objective", "dcmh_gradients"]


def _t(x, name: str, dtype=None) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch tensor or numpy array, got {type(x).__name__}")
    if dtype is not None:
        x = x.to(dtype)
    return x


def dcmh_theta(F: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
    """``Theta = 0.5 * F @ G.T``: half the inner products (``= c/2 - d_H`` for binary codes)."""
    if F.ndim != 2 or G.ndim != 2 or F.shape[1] != G.shape[1]:
        raise ValueError(f"F and G must be (n, c) with the same c, got {tuple(F.shape)} and {tuple(G.shape)}")
    return 0.5 * F @ G.T


def dcmh_nll(F_batch: torch.Tensor, G_all: torch.Tensor, S_batch: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood of eq. (2), first term, summed over ``batch rows x all columns``.

    Parameters
    ----------
    F_batch : (b, c) outputs of the modality being trained (with gradient).
    G_all : (n, c) the other modality's outputs (the stored buffer; treated as a constant by callers).
    S_batch : (b, n) similarity {0, 1}.

    Returns
    -------
    0-d tensor ``sum_ij softplus(Theta_ij) - S_ij Theta_ij``.
    """
    theta = dcmh_theta(F_batch, G_all)
    if S_batch.shape != theta.shape:
        raise ValueError(f"S_batch must have shape {tuple(theta.shape)} (batch x n), got {tuple(S_batch.shape)}")
    return (nnf.softplus(theta) - S_batch.to(theta.dtype) * theta).sum()


def dcmh_nll_full(F: torch.Tensor, G: torch.Tensor, labels_F: torch.Tensor, labels_G: torch.Tensor,
                  chunk: int = 2048) -> torch.Tensor:
    """The full ``n x n`` likelihood term without building ``S`` or ``Theta`` at once (row chunks)."""
    total = F.new_zeros(())
    for start in range(0, F.shape[0], chunk):
        sl = slice(start, start + chunk)
        S = (labels_F[sl].float() @ labels_G.float().T > 0).to(F.dtype)
        total = total + dcmh_nll(F[sl], G, S)
    return total


def dcmh_objective(F, G, B, S, gamma: float = 1.0, eta: float = 1.0) -> dict[str, torch.Tensor]:
    """The full DCMH objective eq. (2) with its three terms (sums, as the paper writes them).

    Returns ``{"nll", "quantization", "balance", "total"}`` where quantization and balance are the
    weighted terms ``gamma(||B-F||^2 + ||B-G||^2)`` and ``eta(||F^T 1||^2 + ||G^T 1||^2)``.
    """
    F, G, B, S = (_t(x, n) for x, n in ((F, "F"), (G, "G"), (B, "B"), (S, "S")))
    _check_fgbs(F, G, B, S)
    nll = dcmh_nll(F, G, S)
    quant = gamma * (quantization(B, F) + quantization(B, G))
    bal = eta * (bit_balance(F) + bit_balance(G))
    return {"nll": nll, "quantization": quant, "balance": bal, "total": nll + quant + bal}


def _check_fgbs(F, G, B, S) -> None:
    if F.ndim != 2 or F.shape != G.shape:
        raise ValueError(f"F and G must both be (n, c), got {tuple(F.shape)} and {tuple(G.shape)}")
    if B.shape != F.shape:
        raise ValueError(f"B must have the shape of F {tuple(F.shape)}, got {tuple(B.shape)}")
    n = F.shape[0]
    if S.shape != (n, n):
        raise ValueError(f"S must be (n, n) = {(n, n)}, got {tuple(S.shape)}")
    if not bool(((S == 0) | (S == 1)).all()):
        raise ValueError("S must hold only 0 and 1")
    for name, x in (("F", F), ("G", G), ("B", B)):
        check_finite(name, x)


def dcmh_gradients(F, G, B, S, gamma: float = 1.0, eta: float = 1.0):
    """Closed-form gradients of the DCMH objective eq. (2) w.r.t. ``F`` and ``G`` (``B`` constant).

    Row-major form of METHODS 2.2 / paper eq. (3): with ``A = sigmoid(0.5 F G^T) - S``,
    ``dF = 0.5 A G + 2 gamma (F - B) + 2 eta 1 (1^T F)`` and
    ``dG = 0.5 A^T F + 2 gamma (G - B) + 2 eta 1 (1^T G)``.
    Numpy inputs give numpy outputs.
    """
    as_numpy = isinstance(F, np.ndarray)
    F, G, B, S = (_t(x, n) for x, n in ((F, "F"), (G, "G"), (B, "B"), (S, "S")))
    _check_fgbs(F, G, B, S)
    S = S.to(F.dtype)
    B = B.to(F.dtype)
    A = torch.sigmoid(dcmh_theta(F, G)) - S
    dF = 0.5 * A @ G + 2 * gamma * (F - B) + 2 * eta * F.sum(0, keepdim=True).expand_as(F)
    dG = 0.5 * A.T @ F + 2 * gamma * (G - B) + 2 * eta * G.sum(0, keepdim=True).expand_as(G)
    if as_numpy:
        return dF.numpy(), dG.numpy()
    return dF, dG
