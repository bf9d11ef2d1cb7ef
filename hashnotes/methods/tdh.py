"""TDH: Triplet-Based Deep Hashing Network for Cross-Modal Retrieval.

Deng, C., Chen, Z., Liu, X., Gao, X., Tao, D. IEEE Transactions on Image Processing 27(8):3893-3903,
2018 (arXiv:1904.02449). Specification: METHODS.md section 5 (signs of J1 and eq. (13) corrected).

Objective, eq. (10): ``J = J_inter + J_intra + J_re`` with
* ``J_inter = J1 + J2`` (eqs. 3, 4) and ``J_intra = J3 + J4`` (eqs. 6, 7): triplet likelihoods,
  see :mod:`hashnotes.losses.triplet`;
* ``J_re = gamma (||B - F||^2 + ||B - G||^2) + eta (||F^T 1||^2 + ||G^T 1||^2) + beta tr(B^T L B)``
  (quantization, bit balance, graph term with the Laplacian ``L = D - S`` of the label graph, eq. 9).

B-step, eq. (12), row-major: ``B = sign((2I + beta/gamma L)^{-1} (F + G))`` -- the sign of the relaxed
optimum. ``M = 2I + beta/gamma L`` depends only on the labels, so it is Cholesky-factored once and each
epoch costs two triangular solves; no inverse is ever formed.

Row-major ``(n, c)`` codes throughout; the paper's column-major ``F`` is ``F.T`` here.
"""
from __future__ import annotations

import numpy as np
import torch

from ..codes import sign

__all__ = [
    "b_system_matrix",
    "GraphBStep",
    "b_objective",
    "exact_b_bruteforce",
]


def _labels_tensor(labels, dtype, device) -> torch.Tensor:
    lab = torch.as_tensor(np.asarray(labels) if not isinstance(labels, torch.Tensor) else labels)
    if lab.ndim != 2 or lab.shape[0] == 0:
        raise ValueError(f"labels must be a non-empty 2-D (n, n_labels) multi-hot array, got shape {tuple(lab.shape)}")
    if ((lab != 0) & (lab != 1)).any():
        raise ValueError("labels must be multi-hot (only 0 and 1)")
    return lab.to(dtype=dtype, device=device)


def _check_ratio(beta_over_gamma) -> float:
    r = float(beta_over_gamma)
    if not np.isfinite(r) or r < 0:
        raise ValueError(f"beta_over_gamma must be a finite number >= 0, got {beta_over_gamma!r}")
    return r


def b_system_matrix(labels, beta_over_gamma: float, dtype=torch.float64, device="cpu") -> torch.Tensor:
    """Dense ``M = 2I + (beta/gamma) L`` with ``L = D - S``, ``S_ij = [labels_i . labels_j > 0]``.

    Built in place in one ``(n, n)`` buffer: ``8 n^2`` bytes in float64 (800 MB at n = 10,000),
    ``4 n^2`` in float32. ``M`` is symmetric positive definite with eigenvalues in
    ``[2, 2 + 2 (beta/gamma) max_i D_ii]``.
    """
    r = _check_ratio(beta_over_gamma)
    lab = _labels_tensor(labels, dtype, device)
    M = lab @ lab.T  # shared-label counts, non-negative integers
    M.clamp_(max=1.0)  # -> S (the diagonal self-loop cancels in D - S)
    deg = M.sum(1)
    M.mul_(-r)
    M.diagonal().add_(2.0 + r * deg)
    return M


class GraphBStep:
    """The TDH B-step, eq. (12): ``B = sign(M^{-1}(F + G))``, ``M = 2I + (beta/gamma) L``.

    The Cholesky factor of ``M`` is computed once here (``O(n^3)``) and every call does two
    triangular solves (``O(n^2 c)``); no explicit inverse is formed.

    Parameters
    ----------
    labels : (n, l) multi-hot training labels.
    beta_over_gamma : float
        ``beta / gamma`` (paper: 1/100).
    dtype, device : where the dense factor lives (``8 n^2`` bytes in float64).
    """

    def __init__(self, labels, beta_over_gamma: float, dtype=torch.float64, device="cpu"):
        self.beta_over_gamma = _check_ratio(beta_over_gamma)
        self.dtype, self.device = dtype, torch.device(device)
        M = b_system_matrix(labels, self.beta_over_gamma, dtype=dtype, device=self.device)
        self.n = int(M.shape[0])
        self.factor = torch.linalg.cholesky(M, out=M)  # lower triangular, overwrites M
        del M

    def _rhs(self, F, G) -> torch.Tensor:
        for name, x in (("F", F), ("G", G)):
            if not isinstance(x, torch.Tensor) or x.ndim != 2:
                raise ValueError(f"{name} must be a 2-D torch.Tensor (n, c)")
            if x.shape[0] != self.n:
                raise ValueError(f"{name} has {x.shape[0]} rows but the graph was built for n = {self.n}")
            if torch.isnan(x).any():
                raise ValueError(f"{name} contains NaN")
        if F.shape != G.shape:
            raise ValueError(f"F and G must have the same shape, got {tuple(F.shape)} and {tuple(G.shape)}")
        return (F.detach() + G.detach()).to(dtype=self.dtype, device=self.device)

    def relaxed(self, F, G) -> torch.Tensor:
        """The relaxed optimum ``B*`` solving ``M B* = F + G`` (row-major form of eq. 12)."""
        return torch.cholesky_solve(self._rhs(F, G), self.factor)

    def __call__(self, F, G) -> torch.Tensor:
        """``sign(B*)`` with ``sign(0) = +1``, in the dtype/device of ``F``."""
        return sign(self.relaxed(F, G)).to(dtype=F.dtype, device=F.device)


def _laplacian_dense(labels) -> torch.Tensor:
    lab = _labels_tensor(labels, torch.float64, "cpu")
    S = (lab @ lab.T > 0).to(torch.float64)
    return torch.diag(S.sum(1)) - S


def b_objective(B, F, G, L, gamma: float, beta: float) -> torch.Tensor:
    """The B-dependent part of ``J_re``: ``gamma(||B-F||^2 + ||B-G||^2) + beta tr(B^T L B)``.

    Minimised over real B by :meth:`GraphBStep.relaxed`, over ``B in {-1,+1}`` by
    :func:`exact_b_bruteforce` (tiny n).
    """
    return gamma * (((B - F) ** 2).sum() + ((B - G) ** 2).sum()) + beta * torch.einsum("ic,ij,jc->", B, L, B)


def exact_b_bruteforce(F, G, labels, beta_over_gamma: float) -> torch.Tensor:
    """The exact discrete minimiser of the B-step objective, by enumeration (tiny n only).

    For binary B, ``||B||^2 = nc`` is constant, so the objective is
    ``sum_k [-2 gamma b_k^T (f_k + g_k) + beta b_k^T L b_k]`` (``b_k`` = column k): it separates over
    bits and each column is an independent problem over ``{-1,+1}^n``. All ``2^n`` candidates are
    scored at once; ``n <= 16``. Ties go to the first candidate in enumeration order.
    """
    r = _check_ratio(beta_over_gamma)
    F = torch.as_tensor(F, dtype=torch.float64)
    G = torch.as_tensor(G, dtype=torch.float64)
    L = _laplacian_dense(labels)
    n = F.shape[0]
    if n > 16:
        raise ValueError(f"exact_b_bruteforce enumerates 2^n codes per bit; n = {n} > 16 is too large")
    if L.shape[0] != n or G.shape != F.shape:
        raise ValueError("F, G and labels must have the same number of rows")
    grid = torch.tensor(list(np.ndindex(*(2,) * n)), dtype=torch.float64) * 2 - 1  # (2^n, n)
    quad = torch.einsum("ai,ij,aj->a", grid, L, grid)  # (2^n,)
    scores = -2.0 * grid @ (F + G) + r * quad.unsqueeze(1)  # (2^n, c), divided by gamma
    best = torch.argmin(scores, dim=0)
    return grid[best].T.contiguous()
