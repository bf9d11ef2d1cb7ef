"""DCMH's pairwise sigmoid likelihood (Jiang & Li, "Deep Cross-Modal Hashing", CVPR 2017, pp. 3232-3240).

Row-major convention: ``F`` (image outputs) and ``G`` (text outputs) are ``(n, c)``; the paper's
column-major ``F in R^{c x n}`` is ``F.T`` here. ``Theta = 0.5 * F @ G.T`` so ``Theta[i, j] = 0.5 F_i^T G_j``.

* eq. (2), first term: ``-sum_ij (S_ij Theta_ij - log(1 + e^Theta_ij))``, computed as
  ``softplus(Theta) - S * Theta`` (never ``log(1+exp)``: it overflows, DCMH issue #3);
* eq. (3), matrix form: ``dJ/dF = 0.5 A G + 2 gamma (F - B) + 2 eta 1 (1^T F)`` with
  ``A = sigmoid(Theta) - S``; ``dJ/dG = 0.5 A^T F + 2 gamma (G - B) + 2 eta 1 (1^T G)``;
* the B-step: ``B = sign(F + G)``, the exact minimiser over ``{-1, +1}`` (``sign(0) = +1``).

Every loss family in :mod:`hashnotes.losses` has the same kinds of functions, with the same names and
argument order: ``batch_loss(out, other, B_batch, S_batch, ...)`` (one modality's mini-batch, rows of the
batch against all columns of the other modality's buffer), ``objective(F, G, B, S, ...)`` (the full
objective) and ``gradients(F, G, B, S, ...)`` (its closed-form gradient). Losses are sums; the trainer
applies the ``1/(n b)`` normalisation.
"""
from __future__ import annotations

import torch
import torch.nn.functional as nnf

from .. import similarity
from .._checks import check_finite
from .regularizers import bit_balance, quantization

__all__ = ["theta", "nll", "batch_loss", "objective", "gradients", "b_step"]


def _check_codes(*named):
    for name, x in named:
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"{name} must be a torch tensor, got {type(x).__name__}")
        if x.ndim != 2:
            raise ValueError(f"{name} must be a 2-D (n, c) tensor, got shape {tuple(x.shape)}")
        check_finite(x, name)


def _check_full(F, G, B, S):
    _check_codes(("F", F), ("G", G), ("B", B))
    if F.shape != G.shape or B.shape != F.shape:
        raise ValueError(f"F, G and B must all be (n, c); got {tuple(F.shape)}, {tuple(G.shape)}, {tuple(B.shape)}")
    if S is not None:
        n = F.shape[0]
        if tuple(S.shape) != (n, n):
            raise ValueError(f"S must be (n, n) = {(n, n)}, got {tuple(S.shape)}")
        if not bool(((S == 0) | (S == 1)).all()):
            raise ValueError("S must hold only 0 and 1")


def theta(F: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
    """``Theta = 0.5 * F @ G.T``: half the inner products (``= c/2 - d_H`` for binary codes)."""
    if F.ndim != 2 or G.ndim != 2 or F.shape[1] != G.shape[1]:
        raise ValueError(f"F and G must be (n, c) with the same c, got {tuple(F.shape)} and {tuple(G.shape)}")
    return 0.5 * F @ G.T


def nll(F: torch.Tensor, G: torch.Tensor, S: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood of eq. (2), first term, summed over rows of ``F`` x rows of ``G``:
    ``sum_ij softplus(Theta_ij) - S_ij Theta_ij`` with ``S`` of shape ``(len(F), len(G))``."""
    th = theta(F, G)
    if S.shape != th.shape:
        raise ValueError(f"S must have shape {tuple(th.shape)} (rows of F x rows of G), got {tuple(S.shape)}")
    return (nnf.softplus(th) - S.to(th.dtype) * th).sum()


def b_step(F: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
    """``B = sign(F + G)`` with ``sign(0) = +1``: the exact minimiser of eq. (2) over ``B in {-1, +1}``."""
    if F.shape != G.shape:
        raise ValueError(f"F and G must have the same shape, got {tuple(F.shape)} and {tuple(G.shape)}")
    H = F + G
    return torch.where(H >= 0, torch.ones_like(H), -torch.ones_like(H))


def batch_loss(out, other, B_batch, S_batch, gamma: float = 1.0, eta: float = 1.0, rest=None) -> dict:
    """One modality's mini-batch terms of eq. (2), as sums.

    Parameters
    ----------
    out : (b, c) outputs of the network being trained (with gradient).
    other : (n, c) the other modality's buffer (a constant).
    B_batch : (b, c) rows of ``B`` for the batch.
    S_batch : (b, n) similarity of the batch items to all training items.
    rest : (c,) per-bit sum of this modality's buffer over the rows outside the batch (stale columns of the
        balance term); None means 0.

    Returns
    -------
    dict with ``nll``, ``quantization`` (times gamma), ``balance`` (times eta) and ``total``.
    """
    _check_codes(("out", out), ("other", other))
    n_ll = nll(out, other.detach(), S_batch)
    quant = gamma * quantization(B_batch, out)
    bal = eta * bit_balance(out, rest)
    return {"nll": n_ll, "quantization": quant, "balance": bal, "total": n_ll + quant + bal}


def objective(F, G, B, S=None, gamma: float = 1.0, eta: float = 1.0, labels=None, chunk: int = 1024) -> dict:
    """The full DCMH objective eq. (2) with its three terms, as sums (the paper's form).

    Give the similarity either as a dense ``(n, n)`` ``S`` or as the training ``labels`` (``S`` is then
    built in row chunks of ``chunk`` from :func:`hashnotes.similarity.similarity`, never all at once).

    Returns ``{"nll", "quantization", "balance", "total"}``; quantization and balance are weighted.
    """
    if (S is None) == (labels is None):
        raise ValueError("give exactly one of S (dense similarity) and labels")
    _check_full(F, G, B, S)
    if S is not None:
        n_ll = nll(F, G, S)
    else:
        n_ll = F.new_zeros(())
        for s in range(0, F.shape[0], chunk):
            n_ll = n_ll + nll(F[s:s + chunk], G, similarity.similarity(labels[s:s + chunk], labels, dtype=F.dtype))
    quant = gamma * (quantization(B, F) + quantization(B, G))
    bal = eta * (bit_balance(F) + bit_balance(G))
    return {"nll": n_ll, "quantization": quant, "balance": bal, "total": n_ll + quant + bal}


def gradients(F, G, B, S, gamma: float = 1.0, eta: float = 1.0):
    """Closed-form ``(dJ/dF, dJ/dG)`` of :func:`objective` (``B`` constant), eq. (3) in matrix form:
    ``dF = 0.5 A G + 2 gamma (F - B) + 2 eta 1 (1^T F)`` with ``A = sigmoid(0.5 F G^T) - S``, symmetric in G."""
    _check_full(F, G, B, S)
    S = S.to(F.dtype)
    B = B.to(F.dtype)
    A = torch.sigmoid(theta(F, G)) - S
    dF = 0.5 * A @ G + 2 * gamma * (F - B) + 2 * eta * F.sum(0, keepdim=True).expand_as(F)
    dG = 0.5 * A.T @ F + 2 * gamma * (G - B) + 2 * eta * G.sum(0, keepdim=True).expand_as(G)
    return dF, dG
