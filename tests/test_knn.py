"""Exact kNN lists and UGACH's correlation graph: brute force, self first, ties, errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from hashnotes.knn import correlation_graph, knn, neighbour_label_agreement, positive_mask


def brute_knn(X, k):
    """Pairwise loops over (x_i - x_j)^2, the item itself first, then (distance, index) order."""
    n = len(X)
    out = np.empty((n, k), dtype=np.int64)
    for i in range(n):
        d = [(-1.0 if j == i else float(((X[i] - X[j]) ** 2).sum()), j) for j in range(n)]
        out[i] = [j for _, j in sorted(d)[:k]]
    return out


@pytest.mark.parametrize("block_rows", [None, 1, 7, 64])
def test_matches_brute_force_on_real_valued_features(block_rows):
    X = np.random.default_rng(0).normal(size=(90, 6))
    for k in (1, 2, 5, 90):
        np.testing.assert_array_equal(knn(X, k, block_rows=block_rows), brute_knn(X, k))


def test_ties_and_duplicates_binary_features():
    # sparse 0/1 bag-of-words: many exact ties and duplicate rows (the text case)
    X = (np.random.default_rng(1).random((120, 12)) < 0.15).astype(np.float32)
    assert len(np.unique(X, axis=0)) < len(X)  # duplicates exist
    for k in (3, 5, 10):
        g = knn(X, k, block_rows=16)
        np.testing.assert_array_equal(g, brute_knn(X.astype(np.float64), k))


def test_self_first_even_with_duplicates():
    X = np.random.default_rng(2).normal(size=(40, 4))
    X[[3, 7, 11]] = X[5]  # four identical rows
    g = knn(X, 5)
    np.testing.assert_array_equal(g[:, 0], np.arange(40))
    assert set(g[5, :4]) == {5, 3, 7, 11} and list(g[5, 1:4]) == [3, 7, 11]  # then by index
    assert all(len(set(row)) == 5 for row in g)


def test_correlation_graph_halves_and_masks():
    rng = np.random.default_rng(3)
    Xi, Xt = rng.normal(size=(50, 8)), rng.normal(size=(50, 3))
    g = correlation_graph(Xi, Xt, k_img=4, k_txt=3)
    assert g.shape == (50, 7) and g.dtype == np.int64
    np.testing.assert_array_equal(g[:, :4], brute_knn(Xi, 4))
    np.testing.assert_array_equal(g[:, 4:], brute_knn(Xt, 3))
    assert (g[:, 0] == np.arange(50)).all() and (g[:, 4] == np.arange(50)).all()
    mask = positive_mask(g)
    assert mask.shape == (50, 50) and mask.dtype == bool
    for i in range(50):
        assert set(np.flatnonzero(mask[i])) == set(g[i])
    tm = positive_mask(torch.from_numpy(g))
    assert tm.dtype == torch.bool and np.array_equal(tm.numpy(), mask)


def test_neighbour_label_agreement_hand_case():
    g = np.array([[0, 1, 2], [1, 0, 0], [2, 2, 1]])
    labels = np.array([[1, 0], [1, 1], [0, 1]], dtype=np.uint8)
    # non-self entries: (0,1) yes, (0,2) no, (1,0) yes, (1,0) yes, (2,1) yes -> 4/5
    assert neighbour_label_agreement(g, labels) == pytest.approx(0.8)
    # with self entries: + (0,0), (1,1), (2,2), (2,2) all yes -> 8/9
    assert neighbour_label_agreement(g, labels, exclude_self=False) == pytest.approx(8 / 9)
    with pytest.raises(ValueError, match="other than the items themselves"):
        neighbour_label_agreement(np.array([[0, 0], [1, 1], [2, 2]]), labels)


def test_bad_inputs():
    X = np.zeros((5, 2))
    with pytest.raises(ValueError, match="k=6 exceeds"):
        knn(X, 6)
    with pytest.raises(ValueError, match="k must be"):
        knn(X, 0)
    bad = X.copy()
    bad[1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        knn(bad, 2)
    with pytest.raises(ValueError, match="2-D"):
        knn(np.zeros(5), 2)
    with pytest.raises(ValueError, match="same pair"):
        correlation_graph(np.zeros((5, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="indices must lie"):
        positive_mask(np.array([[0, 5]]), n=3)
