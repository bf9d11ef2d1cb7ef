"""Label similarity: S, shared-label counts, degrees, the graph Laplacian and tr(B^T L B).

Two items are similar when they share at least one label, ``S_ij = 1[L_i . L_j > 0]`` (DCMH, Jiang & Li
2017, section 4.1). Every function takes numpy arrays *or* torch tensors and returns the same kind (torch
results stay on the input's device).

Memory: for multi-label data S and the Laplacian ``L = D - S`` are dense (most MIRFLICKR pairs
share a label), so :func:`degrees` and :func:`laplacian_quadratic` never build an
``n x n`` matrix. They group the items by their distinct label rows (``U`` groups, usually far fewer
than ``n``) and work on ``U x U`` blocks, chunked; only :func:`similarity`, :func:`shared_label_counts`
and :func:`laplacian` return dense matrices, because the caller asked for one.

Layout: codes are row-major ``B`` of shape ``(n, c)``; the papers' ``tr(B L B^T)`` with column-major
``B in R^{c x n}`` is ``tr(B^T L B)`` here.
"""
from __future__ import annotations

import sys
from typing import Any, NamedTuple

import numpy as np

from ._checks import check_finite, check_labels

__all__ = ["similarity", "shared_label_counts", "degrees", "laplacian", "laplacian_quadratic", "label_groups",
           "LabelGroups"]

_BLOCK = 1 << 22  # entries per temporary block (~16 MB in float32)


def _torch():
    return sys.modules.get("torch")


def _is_torch(x) -> bool:
    t = _torch()
    return t is not None and isinstance(x, t.Tensor)


def _labels(x, name: str, n_cols: int | None = None):
    """Validate ``x`` (0/1, 2-D, finite, non-empty) and return it as a float32 array of its own kind."""
    check_labels(x, name, n_cols=n_cols)
    if _is_torch(x):
        return x.float()
    return np.asarray(x, dtype=np.float32)


def _pair(labels_a, labels_b):
    a_t = _is_torch(labels_a)
    La = _labels(labels_a, "labels_a")
    if labels_b is None:
        return La, La, a_t
    if _is_torch(labels_b) != a_t:
        raise ValueError("labels_a and labels_b must both be numpy arrays or both be torch tensors, got "
                         f"{type(labels_a).__name__} and {type(labels_b).__name__}")
    Lb = _labels(labels_b, "labels_b", n_cols=La.shape[1])
    if a_t and Lb.device != La.device:
        raise ValueError(f"labels_a is on {La.device} but labels_b is on {Lb.device}")
    return La, Lb, a_t


def _rows_per_block(n_cols: int) -> int:
    return max(1, _BLOCK // max(1, int(n_cols)))


def _torch_dtype(dtype):
    t = _torch()
    if isinstance(dtype, t.dtype):
        return dtype
    return t.from_numpy(np.empty(0, dtype=np.dtype(dtype))).dtype


def similarity(labels_a, labels_b=None, dtype=None):
    """0/1 similarity ``S_ij = 1[labels_a[i] . labels_b[j] > 0]`` (share at least one label).

    Parameters
    ----------
    labels_a : array or tensor, shape (na, l)
        Multi-hot 0/1 labels.
    labels_b : array or tensor, shape (nb, l), optional
        Defaults to ``labels_a``.
    dtype : optional
        Output dtype. Default: ``np.uint8`` for numpy inputs, ``torch.float32`` for torch inputs.

    Returns
    -------
    array or tensor, shape (na, nb)
    """
    La, Lb, is_t = _pair(labels_a, labels_b)
    step = _rows_per_block(Lb.shape[0])  # rows per block: temporaries stay ~16 MB beside the output
    if is_t:
        t = _torch()
        out = t.empty((La.shape[0], Lb.shape[0]), dtype=t.float32 if dtype is None else _torch_dtype(dtype),
                      device=La.device)
        for i in range(0, La.shape[0], step):
            out[i:i + step] = La[i:i + step] @ Lb.T > 0
        return out
    out = np.empty((La.shape[0], Lb.shape[0]), dtype=np.uint8 if dtype is None else dtype)
    for i in range(0, La.shape[0], step):
        out[i:i + step] = La[i:i + step] @ Lb.T > 0
    return out


def shared_label_counts(labels_a, labels_b=None):
    """Number of labels two items share, ``labels_a @ labels_b.T``.

    Returns
    -------
    array (int32) or tensor (int64), shape (na, nb)
        Computed by a float32 product, which is exact for 0/1 inputs (fewer than 2**24 labels).
    """
    La, Lb, is_t = _pair(labels_a, labels_b)
    if is_t:
        return (La @ Lb.T).round().to(_torch().int64)
    return np.rint(La @ Lb.T).astype(np.int32)


def _groups(L):
    """Distinct label rows ``U`` (float32), ``inverse`` (n,) and ``counts`` (U,) for numpy or torch ``L``."""
    if _is_torch(L):
        U, inv, cnt = _torch().unique(L, dim=0, return_inverse=True, return_counts=True)
        return U, inv.reshape(-1), cnt
    U, inv, cnt = np.unique(L, axis=0, return_inverse=True, return_counts=True)
    return U, inv.reshape(-1), cnt


def _group_degrees(U, counts):
    """``deg_u = sum_v 1[U_u . U_v > 0] counts_v`` for each distinct label row, chunked over rows."""
    n_u = U.shape[0]
    step = _rows_per_block(n_u)
    if _is_torch(U):
        t = _torch()
        cnt = counts.to(t.float64)
        out = t.empty(n_u, dtype=t.float64, device=U.device)
        for i in range(0, n_u, step):
            out[i:i + step] = (U[i:i + step] @ U.T > 0).to(t.float64) @ cnt
        return out
    cnt = counts.astype(np.float64)
    out = np.empty(n_u, dtype=np.float64)
    for i in range(0, n_u, step):
        out[i:i + step] = (U[i:i + step] @ U.T > 0) @ cnt
    return out


class LabelGroups(NamedTuple):
    """Items grouped by their label row: ``rows[inverse[i]]`` is item ``i``'s label row."""

    rows: Any  # (U, l) float32: the distinct label rows
    inverse: Any  # (n,) int64: the group of every item
    counts: Any  # (U,) int64: items per group
    degrees: Any  # (U,) float64: the degree D_ii (self included) shared by the items of each group


def label_groups(labels) -> LabelGroups:
    """The ``U`` distinct label rows, each item's group, the group sizes and the groups' degrees.

    Items with the same label row have identical rows in ``S`` (and the same degree), so ``S = P S_U P^T`` with
    ``S_U = similarity(rows)`` (``U x U``) and ``P`` the ``n x U`` indicator of ``inverse``: anything linear in
    ``S`` can work on ``U`` groups instead of ``n`` items (MIRFLICKR-25K: 2,582 groups for 20,015 items).
    numpy or torch in, same kind out (torch: on the input's device).
    """
    L = _labels(labels, "labels")
    U, inv, cnt = _groups(L)
    return LabelGroups(U, inv, cnt, _group_degrees(U, cnt))


def degrees(labels):
    """Degrees ``D_ii = sum_j S_ij`` of the label-similarity graph, self included (``S_ii = 1``).

    Never holds an ``n x n`` matrix: items with the same label row have the same degree, so the sum runs
    over the ``U`` distinct label rows, in chunks (``n = 20,000`` MIRFLICKR labels: ~4k groups).

    Returns
    -------
    array (int64) or tensor (int64), shape (n,)
        An item with no label has degree 0.
    """
    L = _labels(labels, "labels")
    U, inv, cnt = _groups(L)
    deg = _group_degrees(U, cnt)[inv]
    if _is_torch(deg):
        return deg.round().to(_torch().int64)
    return np.rint(deg).astype(np.int64)


def laplacian(labels, dtype=np.float64):
    """Dense graph Laplacian ``L = D - S`` (``n x n``; the caller chose to build it).

    Parameters
    ----------
    labels : array or tensor, shape (n, l)
    dtype : numpy or torch dtype
        Output dtype (default float64); a numpy dtype is mapped to the torch one for torch input.

    Returns
    -------
    array or tensor, shape (n, n)
        Symmetric, rows sum to zero. ``n = 20,000`` in float64 takes 3.2 GB.
    """
    L = _labels(labels, "labels")
    n = L.shape[0]
    step = _rows_per_block(n)
    if _is_torch(L):
        t = _torch()
        td = _torch_dtype(dtype)
        if not td.is_floating_point:
            raise ValueError(f"dtype must be a floating dtype, got {dtype}")
        out = t.empty((n, n), dtype=td, device=L.device)
        for i in range(0, n, step):
            out[i:i + step] = -(L[i:i + step] @ L.T > 0).to(td)
        idx = t.arange(n, device=L.device)
        out[idx, idx] -= out.sum(1)  # diagonal: D_ii - S_ii = -(sum of the other off-diagonals)
        return out
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.floating):
        raise ValueError(f"dtype must be a floating dtype, got {dtype}")
    out = np.empty((n, n), dtype=dtype)
    for i in range(0, n, step):
        blk = out[i:i + step]
        blk[...] = L[i:i + step] @ L.T > 0
        np.negative(blk, out=blk)
    idx = np.arange(n)
    out[idx, idx] -= out.sum(1)
    return out


def laplacian_quadratic(B, labels):
    """``tr(B^T L B) = 1/2 sum_ij S_ij ||b_i - b_j||^2`` without building ``L`` (TDH graph term).

    Uses ``tr(B^T L B) = sum_i D_ii ||b_i||^2 - sum_{u,v} S_uv G_u . G_v`` with ``G_u`` the sum of the
    rows of ``B`` whose label row is the ``u``-th distinct one; cost ``O(n c + U^2 (l + c))``.

    Parameters
    ----------
    B : array or tensor, shape (n, c)
        Row-major codes or real-valued outputs (the papers' ``tr(B L B^T)`` with ``B`` of shape (c, n)).
    labels : array or tensor, shape (n, l)
        Same kind (numpy or torch) as ``B``.

    Returns
    -------
    float or 0-d tensor
        numpy: accumulated in float64. torch: in ``B``'s floating dtype, differentiable w.r.t. ``B``.
    """
    is_t = _is_torch(B)
    if _is_torch(labels) != is_t:
        raise ValueError("B and labels must both be numpy arrays or both be torch tensors, got "
                         f"{type(B).__name__} and {type(labels).__name__}")
    Bn = check_finite(B, "B")
    if Bn.ndim != 2 or Bn.shape[0] == 0 or Bn.shape[1] == 0:
        raise ValueError(f"B must be a non-empty 2-D array (n, c), got shape {Bn.shape}")
    L = _labels(labels, "labels")
    if L.shape[0] != Bn.shape[0]:
        raise ValueError(f"B has {Bn.shape[0]} rows but labels has {L.shape[0]}; one label row per code row")
    U, inv, cnt = _groups(L)
    deg = _group_degrees(U, cnt)[inv]
    n_u = U.shape[0]
    step = _rows_per_block(n_u)
    if is_t:
        t = _torch()
        Bt = B if B.is_floating_point() else B.to(t.float32)
        G = t.zeros((n_u, Bt.shape[1]), dtype=Bt.dtype, device=Bt.device).index_add(0, inv, Bt)
        first = (deg.to(Bt.dtype) * (Bt * Bt).sum(1)).sum()
        second = Bt.new_zeros(())
        for i in range(0, n_u, step):
            Si = (U[i:i + step] @ U.T > 0).to(Bt.dtype)
            second = second + ((Si @ G) * G[i:i + step]).sum()
        return first - second
    Bf = np.asarray(Bn, dtype=np.float64)
    G = np.zeros((n_u, Bf.shape[1]), dtype=np.float64)
    np.add.at(G, inv, Bf)
    first = float(deg @ np.einsum("ij,ij->i", Bf, Bf))
    second = 0.0
    for i in range(0, n_u, step):
        Si = (U[i:i + step] @ U.T > 0).astype(np.float64)
        second += float(np.einsum("ij,ij->", Si @ G, G[i:i + step]))
    return first - second
