"""The Cauchy cross-entropy of CDHCR, as pure torch functions of the codes.

Tian F., Li C., Liu F., Li T., Zhang L., Liu Z. "Cross-media retrieval with deep hashing based on the
Cauchy distribution" (基于柯西分布的深度哈希跨媒体检索), *Computer Systems & Applications*
(计算机系统应用) 30(8), 2021. The Cauchy likelihood is that of Cao, Long, Liu, Wang, "Deep Cauchy
Hashing for Hamming Space Retrieval", CVPR 2018 (DCH). The paper's equations did not survive in our
source; the forms below are the book's reconstruction (chapter "Sigmoid or Cauchy?"), with the paper's
equation numbers: (2) likelihood, (4) Cauchy probability, (5) cross-entropy, (6) quantization,
(7) objective, (10)-(12) the B-step, which is DCMH's ``sign(F + G)``: :func:`hashnotes.losses.pairwise.b_step`).

Row-major convention: ``F``, ``G``, ``B`` are ``(n, c)`` here; the papers' column-major ``F`` is
``F.T``. ``S`` is ``(n_rows, n_cols)`` with ``S[i, j] = 1`` when image ``i`` and text ``j`` share a
label.

Distances (the paper's own is lost; the book's appendix explains the choice):

* ``"cosine"`` (default): ``phi_ij = c/2 * (1 - <F_i, G_j> / (|F_i|_e |G_j|_e))`` with the smoothed
  norm ``|x|_e = sqrt(|x|^2 + eps^2)``, so zero vectors give ``phi = c/2`` and a finite gradient.
  For binary codes it is the Hamming distance (up to O(eps^2)).
* ``"inner"``: ``phi_ij = (c - <F_i, G_j>) / 2``, the exact Hamming distance for binary codes.

Both are clamped at 0 (round-off can push ``1 - cos`` a hair below zero in float32).
"""
from __future__ import annotations

import math

import torch

from .. import similarity
from .._checks import check_finite
from .pairwise import b_step
from .regularizers import quantization

__all__ = ["DISTANCES", "cosine_distance", "inner_distance", "distance_matrix", "cauchy_probability",
           "pair_loss", "pair_loss_derivative", "similar_fraction", "dch_weights", "batch_loss", "objective",
           "gradients", "b_step"]

DISTANCES = ("cosine", "inner")
EPS = 1e-6


# ----------------------------------------------------------------------------- validation
def _check_tensor(x, name: str, ndim: int) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {tuple(x.shape)}")
    return check_finite(x, name)


def _check_scalar(value, name: str, *, positive: bool) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v) or (v <= 0 if positive else v < 0):
        raise ValueError(f"{name} must be {'> 0' if positive else '>= 0'} and finite, got {value!r}")
    return v


def _check_distance(distance: str) -> str:
    if distance not in DISTANCES:
        raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")
    return distance


def _check_similarity(S, shape, name: str = "S") -> torch.Tensor:
    _check_tensor(S, name, 2)
    if tuple(S.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(S.shape)}")
    if not bool(((S == 0) | (S == 1)).all()):
        raise ValueError(f"{name} must contain only 0 and 1")
    return S


def _check_pair(F, G, names=("F", "G")):
    _check_tensor(F, names[0], 2)
    _check_tensor(G, names[1], 2)
    if F.shape[1] != G.shape[1]:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same number of bits (columns), "
            f"got {F.shape[1]} and {G.shape[1]}"
        )
    if F.shape[1] < 1:
        raise ValueError(f"{names[0]} has no columns (bits)")


# ----------------------------------------------------------------------------- distances
def smooth_norm(x: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """Row norms ``sqrt(|x_i|^2 + eps^2)``, shape ``(n, 1)``; smooth at the zero vector."""
    return torch.sqrt((x * x).sum(dim=1, keepdim=True) + eps * eps)


def cosine_distance(F: torch.Tensor, G: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """``phi_ij = c/2 (1 - cos(F_i, G_j))`` with smoothed norms, ``(n_F, n_G)``, clamped to >= 0."""
    _check_pair(F, G)
    c = F.shape[1]
    cos = (F / smooth_norm(F, eps)) @ (G / smooth_norm(G, eps)).T
    return (0.5 * c * (1.0 - cos)).clamp(min=0.0)


def inner_distance(F: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
    """``phi_ij = (c - <F_i, G_j>)/2``, ``(n_F, n_G)``, clamped to >= 0 (Hamming for binary codes)."""
    _check_pair(F, G)
    c = F.shape[1]
    return (0.5 * (c - F @ G.T)).clamp(min=0.0)


def distance_matrix(F, G, distance: str = "cosine", eps: float = EPS) -> torch.Tensor:
    """Dispatch to :func:`cosine_distance` or :func:`inner_distance`."""
    if _check_distance(distance) == "cosine":
        return cosine_distance(F, G, eps)
    return inner_distance(F, G)


# ----------------------------------------------------------------------------- likelihood
def cauchy_probability(phi, gamma: float):
    """Seed eq. (4): ``p(s=1 | phi) = gamma / (gamma + phi)`` (works on tensors and arrays)."""
    gamma = _check_scalar(gamma, "gamma", positive=True)
    return gamma / (gamma + phi)


def pair_loss(phi: torch.Tensor, S: torch.Tensor, gamma: float, eps: float = EPS) -> torch.Tensor:
    """Per-pair Cauchy cross-entropy (eq. (5), in its second form).

    ``l_ij = log(phi + gamma) - (1 - s) log(phi + eps) - s log(gamma)``, which equals
    ``-s log sigma_C - (1 - s) log(1 - sigma_C)`` with ``sigma_C = gamma/(gamma + phi)`` when eps = 0.
    """
    gamma = _check_scalar(gamma, "gamma", positive=True)
    eps = _check_scalar(eps, "eps", positive=False)
    _check_tensor(phi, "phi", phi.ndim)
    if phi.shape != S.shape:
        raise ValueError(f"phi and S must have the same shape, got {tuple(phi.shape)} and {tuple(S.shape)}")
    if bool((phi < 0).any()):
        raise ValueError("phi must be >= 0 (a distance)")
    S = S.to(phi.dtype)
    # xlogy: a similar pair at phi = 0 with eps = 0 gives 0, not 0 * (-inf)
    return torch.log(phi + gamma) - torch.xlogy(1.0 - S, phi + eps) - S * math.log(gamma)


def pair_loss_derivative(phi: torch.Tensor, S: torch.Tensor, gamma: float, eps: float = EPS) -> torch.Tensor:
    """``d l_ij / d phi_ij = 1/(phi + gamma) - (1 - s)/(phi + eps)`` ."""
    S = S.to(phi.dtype)
    return 1.0 / (phi + gamma) - (1.0 - S) / (phi + eps)


def similar_fraction(S: torch.Tensor) -> float:
    """Fraction of similar pairs in ``S`` (what DCH's weights are built from)."""
    return float(S.to(torch.float64).mean())


def dch_weights(S: torch.Tensor, similar_frac: float | None = None) -> torch.Tensor:
    """DCH's class-balance weights (DCH eq. (2)): ``|S|/|S_1|`` for similar, ``|S|/|S_0|`` for dissimilar.

    ``similar_frac`` is ``|S_1|/|S|``; by default it is measured on ``S`` itself. Pass the fraction of the
    whole training set to make mini-batch losses exact rows of the full objective.
    """
    p = similar_fraction(S) if similar_frac is None else float(similar_frac)
    if not 0.0 < p < 1.0:
        raise ValueError(
            f"DCH weights need both similar and dissimilar pairs; the similar fraction is {p!r}"
        )
    S = S.to(torch.get_default_dtype() if not S.is_floating_point() else S.dtype)
    return S / p + (1.0 - S) / (1.0 - p)


# ----------------------------------------------------------------------------- objective
def _weighted(ell, S, weights):
    """``ell`` times the pair weights: a tensor of ``ell``'s shape, or a float ``p`` meaning DCH's
    class-balance weights with similar fraction ``p`` (see :func:`dch_weights`)."""
    if weights is None:
        return ell
    if isinstance(weights, (int, float)) and not isinstance(weights, bool):
        return ell * dch_weights(S, float(weights))
    if weights.shape != ell.shape:
        raise ValueError(f"weights must have shape {tuple(ell.shape)}, got {tuple(weights.shape)}")
    return ell * weights


def objective(F, G, B, S=None, gamma: float = 10.0, alpha: float = 1.0, distance: str = "cosine",
              weights=None, eps: float = EPS, labels=None, chunk: int = 1024) -> dict:
    """The full objective, eq. (7), on ``(n, c)`` buffers, as sums (not means).

    Give the similarity as a dense ``S`` (``(n, m)`` for ``n`` rows of ``F`` and ``m`` of ``G``) or as
    ``labels`` (square case; ``S`` is built in row chunks, never all at once). ``weights``: None (all 1),
    an ``S``-shaped tensor, or a float ``p`` for DCH's class-balance weights with similar fraction ``p``.

    Returns ``{"cauchy": sum_ij w_ij l_ij, "quantization": alpha (|B-F|^2 + |B-G|^2), "total"}``.
    """
    _check_pair(F, G)
    _check_tensor(B, "B", 2)
    if B.shape != F.shape or G.shape[0] != F.shape[0]:
        raise ValueError(f"F, G and B must all be (n, c); got {tuple(F.shape)}, {tuple(G.shape)}, {tuple(B.shape)}")
    alpha = _check_scalar(alpha, "alpha", positive=False)
    if (S is None) == (labels is None):
        raise ValueError("give exactly one of S (dense similarity) and labels")
    if S is not None:
        _check_similarity(S, (F.shape[0], G.shape[0]))
        ce = _weighted(pair_loss(distance_matrix(F, G, distance, eps), S, gamma, eps), S, weights).sum()
    else:
        ce = F.new_zeros(())
        for s in range(0, F.shape[0], chunk):
            Sc = similarity.similarity(labels[s:s + chunk], labels, dtype=F.dtype)
            ce = ce + _weighted(pair_loss(distance_matrix(F[s:s + chunk], G, distance, eps), Sc, gamma, eps),
                                Sc, weights).sum()
    quant = alpha * (quantization(B, F) + quantization(B, G))
    return {"cauchy": ce, "quantization": quant, "total": ce + quant}


def batch_loss(out, other, B_batch, S_batch, gamma: float = 10.0, alpha: float = 1.0,
               distance: str = "cosine", weights=None, eps: float = EPS) -> dict:
    """One modality's mini-batch terms (eq. (7) restricted to the batch rows), as sums.

    ``sum_{i in batch} sum_{j=1..n} w_ij l(phi(out_i, other_j)) + alpha sum_i |B_i - out_i|^2``

    Parameters
    ----------
    out : (b, c) tensor
        This modality's outputs for the batch (with grad).
    other : (n, c) tensor
        The other modality's full (stale) buffer, a constant.
    B_batch : (b, c) tensor
        Rows of ``B`` for the batch.
    S_batch : (b, n) tensor
        Similarity of the batch items (rows) to all training items (columns).
    weights : (b, n) tensor or float, optional
        Pair weights as in :func:`objective`; ``None`` means 1.

    Returns
    -------
    dict with ``cauchy``, ``quantization`` (times alpha) and ``total``.
    """
    _check_pair(out, other, ("out", "other"))
    _check_tensor(B_batch, "B_batch", 2)
    if B_batch.shape != out.shape:
        raise ValueError(f"B_batch must have shape {tuple(out.shape)}, got {tuple(B_batch.shape)}")
    _check_similarity(S_batch, (out.shape[0], other.shape[0]), "S_batch")
    alpha = _check_scalar(alpha, "alpha", positive=False)
    phi = distance_matrix(out, other.detach(), distance, eps)
    ce = _weighted(pair_loss(phi, S_batch, gamma, eps), S_batch, weights).sum()
    quant = alpha * quantization(B_batch, out)
    return {"cauchy": ce, "quantization": quant, "total": ce + quant}


# ----------------------------------------------------------------------------- closed-form gradients
def _cosine_grad(X, Y, coef, eps):
    """``d/dX sum_ij coef_ij phi(X_i, Y_j)`` for the cosine distance ."""
    c = X.shape[1]
    nx = smooth_norm(X, eps)
    Xh, Yh = X / nx, Y / smooth_norm(Y, eps)
    # -c/(2|X_i|) sum_j coef_ij (Yh_j - cos_ij Xh_i),  cos_ij = Xh_i . Yh_j
    cos = Xh @ Yh.T
    return -(0.5 * c / nx) * (coef @ Yh - (coef * cos).sum(dim=1, keepdim=True) * Xh)


def gradients(F, G, B, S, gamma: float = 10.0, alpha: float = 1.0, distance: str = "cosine",
              weights=None, eps: float = EPS):
    """Closed-form ``(dJ/dF, dJ/dG)`` of :func:`objective` (``B`` constant).

    With ``D_ij = w_ij (1/(phi_ij + gamma) - (1 - s_ij)/(phi_ij + eps))``:

    * inner:  ``dJ/dF = -1/2 D G + 2 alpha (F - B)``,  ``dJ/dG = -1/2 D^T F + 2 alpha (G - B)``;
    * cosine: ``dJ/dF_i = -c/(2|F_i|) sum_j D_ij (Gh_j - cos_ij Fh_i) + 2 alpha (F_i - B_i)``, symmetric in G.
    """
    _check_pair(F, G)
    _check_similarity(S, (F.shape[0], G.shape[0]))
    alpha = _check_scalar(alpha, "alpha", positive=False)
    with torch.no_grad():
        phi = distance_matrix(F, G, distance, eps)
        raw_nonneg = phi > 0  # where the clamp at 0 was active the derivative is 0 (up to a null set)
        D = _weighted(pair_loss_derivative(phi, S, gamma, eps) * raw_nonneg, S, weights)
        if distance == "inner":
            dF = -0.5 * D @ G
            dG = -0.5 * D.T @ F
        else:
            dF = _cosine_grad(F, G, D, eps)
            dG = _cosine_grad(G, F, D.T, eps)
        dF = dF + 2 * alpha * (F - B)
        dG = dG + 2 * alpha * (G - B)
    return dF, dG
