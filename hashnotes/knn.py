"""Exact k-nearest-neighbour lists in a feature space, and UGACH's cross-modal correlation graph.

:func:`knn` returns, for every item, the indices of its ``k`` nearest items by Euclidean distance, the
item itself first. It is exact and vectorised: squared distances ``|x_i|^2 + |x_j|^2 - 2 x_i . x_j`` come
from float64 matrix products on blocks of rows (``O(n^2 d)`` work, ``O(block n)`` memory, never an
``n x n`` matrix), and each block's ``k`` smallest are found with one ``torch.topk`` and a stable
sort of the ``k`` survivors, so the cost per row is linear in ``n`` rather than ``n log n``. For 20,000
items the matrix products dominate (``benchmarks/bench_knn.py``).

Order within a list: distance ascending, ties broken by the smaller index; the item itself always comes
first, even when duplicates of it lie at distance 0 (the "self first" property of the lists used by
:func:`correlation_graph`).

:func:`correlation_graph` is the graph of UGACH (Zhang, Peng & Yuan, AAAI 2018): row ``i`` concatenates the
``k_img`` nearest items of ``i`` in image-feature space and the ``k_txt`` nearest in text-feature space,
self included in both halves. Image ``i`` and text ``i`` are a pair, so these indices name, for image query
``i``, the texts that are its "manifold" positives, and for text query ``i`` the images.
"""
from __future__ import annotations

import numpy as np

from ._checks import check_finite, check_int

__all__ = ["knn", "correlation_graph", "positive_mask", "neighbour_label_agreement"]

_BLOCK_ENTRIES = 1 << 22  # distance entries per block (32 MB in float64)


def _features(x, name: str) -> np.ndarray:
    x = np.asarray(check_finite(x, name))
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array (n_items, n_features), got shape {x.shape}")
    return np.ascontiguousarray(x, dtype=np.float64)


def knn(features, k: int, block_rows: int | None = None) -> np.ndarray:
    """The ``k`` nearest items of every item (Euclidean), itself first: int64 ``(n, k)``.

    Parameters
    ----------
    features : (n, d) array
        Finite features, one row per item (converted to float64).
    k : int
        List length, ``1 <= k <= n``; the first entry of row ``i`` is ``i``.
    block_rows : int, optional
        Rows per block of the distance computation (default: ~4M distances per block).

    Returns
    -------
    numpy.ndarray of int64, shape (n, k)
        Row ``i``: ``i``, then the other items by increasing distance, ties by increasing index.
    """
    X = _features(features, "features")
    n = X.shape[0]
    k = check_int(k, "k")
    if k > n:
        raise ValueError(f"k={k} exceeds the number of items n={n}")
    step = check_int(block_rows, "block_rows") if block_rows is not None else max(1, _BLOCK_ENTRIES // n)
    sq = np.einsum("ij,ij->i", X, X)
    Xm2 = -2.0 * X
    out = np.empty((n, k), dtype=np.int64)
    for s in range(0, n, step):
        e = min(n, s + step)
        rows = np.arange(s, e)
        # within row i, ||x_i - x_j||^2 - ||x_i||^2 = ||x_j||^2 - 2 x_i.x_j orders the items the same way
        D = X[s:e] @ Xm2.T
        D += sq[None, :]
        D[rows - s, rows] = -np.inf  # the item itself before everything, duplicates included
        out[s:e] = _k_smallest(D, k)
    return out


def _k_smallest(D: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the ``k`` smallest entries of each row, ordered by (value, index)."""
    b, n = D.shape
    if k == n:
        return np.argsort(D, axis=1, kind="stable")
    import torch

    vals, idx = torch.topk(torch.from_numpy(D), k, dim=1, largest=False, sorted=False)  # no copy of D
    cols = idx.numpy()
    kth = vals.numpy().max(1, keepdims=True)
    tied = np.flatnonzero((D <= kth).sum(1) > k)  # rows where ties at the k-th value leave a choice
    if tied.size:  # keep the entries below the k-th value, then the lowest-index ties
        Dt, kt = D[tied], kth[tied]
        ties = Dt == kt
        keep = (Dt < kt) | (ties & (np.cumsum(ties, axis=1) <= k - (Dt < kt).sum(1, keepdims=True)))
        cols[tied] = np.nonzero(keep)[1].reshape(len(tied), k)
    cols.sort(axis=1)  # index order, then a stable sort by value
    order = np.argsort(np.take_along_axis(D, cols, axis=1), axis=1, kind="stable")
    return np.take_along_axis(cols, order, axis=1)


def correlation_graph(image_features, text_features, k_img: int = 5, k_txt: int = 5,
                      block_rows: int | None = None) -> np.ndarray:
    """UGACH's correlation graph: row ``i`` = the ``k_img`` nearest items of ``i`` in image space, then the
    ``k_txt`` nearest in text space (Euclidean, each list self first). int64 ``(n, k_img + k_txt)``.

    An index may appear in both halves (the item itself always does); :func:`positive_mask` gives the set.
    """
    Xi = _features(image_features, "image_features")
    Xt = _features(text_features, "text_features")
    if Xi.shape[0] != Xt.shape[0]:
        raise ValueError(f"image_features has {Xi.shape[0]} rows but text_features has {Xt.shape[0]}; "
                         "row i of both must be the same pair")
    return np.concatenate([knn(Xi, k_img, block_rows), knn(Xt, k_txt, block_rows)], axis=1)


def positive_mask(graph, n: int | None = None):
    """Boolean ``(n, n)`` mask of the graph's positive pairs: ``mask[i, j]`` when ``j`` is in row ``i``.

    ``graph`` is a numpy array or a torch tensor of indices; the mask is of the same kind (and device).
    """
    import sys

    torch = sys.modules.get("torch")
    is_t = torch is not None and isinstance(graph, torch.Tensor)
    if graph.ndim != 2 or graph.shape[0] == 0:
        raise ValueError(f"graph must be a non-empty 2-D array of indices, got shape {tuple(graph.shape)}")
    rows = graph.shape[0]
    n = rows if n is None else n
    if int(graph.min()) < 0 or int(graph.max()) >= n:
        raise ValueError(f"graph indices must lie in [0, {n})")
    if is_t:
        mask = torch.zeros((rows, n), dtype=torch.bool, device=graph.device)
        mask.scatter_(1, graph.long(), True)
        return mask
    mask = np.zeros((rows, n), dtype=bool)
    np.put_along_axis(mask, np.asarray(graph, dtype=np.int64), True, axis=1)
    return mask


def neighbour_label_agreement(graph, labels, exclude_self: bool = True) -> float:
    """How often a graph neighbour is relevant: the fraction of (i, j in row i) entries whose items share
    a label (self entries left out by default). A diagnostic of the graph as a stand-in for labels."""
    g = np.asarray(graph, dtype=np.int64)
    L = np.asarray(labels, dtype=np.float32)
    if g.ndim != 2 or L.ndim != 2 or g.shape[0] != L.shape[0]:
        raise ValueError(f"graph (n, K) and labels (n, l) must have the same rows, got {g.shape} and {L.shape}")
    rows = np.repeat(np.arange(len(g)), g.shape[1])
    cols = g.reshape(-1)
    keep = rows != cols if exclude_self else np.ones_like(rows, dtype=bool)
    if not keep.any():
        raise ValueError("graph lists no item other than the items themselves; nothing to measure")
    shared = np.einsum("ij,ij->i", L[rows[keep]], L[cols[keep]]) > 0
    return float(shared.mean())
