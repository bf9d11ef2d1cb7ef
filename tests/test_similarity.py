"""Label similarity: S, shared counts, degrees, Laplacian, tr(B^T L B) vs brute force; numpy == torch."""
import numpy as np
import pytest
import torch

from hashnotes import similarity as sm


def _labels(n, l, seed, p=0.25, empty_rows=0):
    rng = np.random.default_rng(seed)
    L = (rng.random((n, l)) < p).astype(np.uint8)
    L[np.arange(n), rng.integers(l, size=n)] = 1
    L[:empty_rows] = 0  # items with no label are relevant to nothing
    return L


def _brute_S(A, B):
    return np.array([[int(any(A[i, k] and B[j, k] for k in range(A.shape[1]))) for j in range(len(B))]
                     for i in range(len(A))])


@pytest.fixture(params=[None, 7], ids=["one-block", "tiny-blocks"])
def block(request, monkeypatch):
    if request.param is not None:
        monkeypatch.setattr(sm, "_BLOCK", request.param)  # forces many small chunks
    return request.param


def test_similarity_and_counts_vs_loops(block):
    A, B = _labels(9, 5, 0, empty_rows=1), _labels(6, 5, 1)
    S = sm.similarity(A, B)
    assert S.dtype == np.uint8 and S.shape == (9, 6)
    assert np.array_equal(S, _brute_S(A, B))
    C = sm.shared_label_counts(A, B)
    brute = np.array([[sum(int(A[i, k]) * int(B[j, k]) for k in range(5)) for j in range(6)] for i in range(9)])
    assert C.dtype == np.int32 and np.array_equal(C, brute)
    assert np.array_equal(sm.similarity(A), _brute_S(A, A))
    assert sm.similarity(A, dtype=np.float64).dtype == np.float64


def test_degrees_laplacian_vs_loops(block):
    L = _labels(23, 4, 2, p=0.15, empty_rows=2)
    S = _brute_S(L, L)
    D = S.sum(1)
    d = sm.degrees(L)
    assert d.dtype == np.int64 and np.array_equal(d, D)
    assert d[0] == 0 and d[1] == 0
    Lap = sm.laplacian(L)
    assert Lap.dtype == np.float64
    assert np.array_equal(Lap, np.diag(D) - S)
    assert np.allclose(Lap.sum(1), 0) and np.array_equal(Lap, Lap.T)
    assert sm.laplacian(L, dtype=np.float32).dtype == np.float32


def test_laplacian_quadratic_vs_pair_sum_and_trace(block):
    L = _labels(31, 6, 3, p=0.2, empty_rows=1)
    rng = np.random.default_rng(4)
    for B in (np.where(rng.random((31, 5)) < 0.5, -1, 1).astype(np.int8), rng.standard_normal((31, 5))):
        S = _brute_S(L, L)
        Bf = B.astype(np.float64)
        pair = 0.5 * sum(S[i, j] * np.sum((Bf[i] - Bf[j]) ** 2) for i in range(31) for j in range(31))
        trace = np.trace(Bf.T @ sm.laplacian(L) @ Bf)
        q = sm.laplacian_quadratic(B, L)
        assert isinstance(q, float)
        assert q == pytest.approx(pair, rel=1e-12, abs=1e-9)
        assert q == pytest.approx(trace, rel=1e-12, abs=1e-9)


def test_torch_matches_numpy_and_gradient(block):
    L = _labels(40, 7, 5, empty_rows=3)
    Lt = torch.from_numpy(L)
    S_t = sm.similarity(Lt)
    assert isinstance(S_t, torch.Tensor) and S_t.dtype == torch.float32
    assert np.array_equal(S_t.numpy(), sm.similarity(L))
    assert np.array_equal(sm.similarity(Lt, Lt[:5], dtype=torch.uint8).numpy(), sm.similarity(L, L[:5]))
    C_t = sm.shared_label_counts(Lt)
    assert C_t.dtype == torch.int64 and np.array_equal(C_t.numpy(), sm.shared_label_counts(L))
    assert np.array_equal(sm.degrees(Lt).numpy(), sm.degrees(L))
    lap_t = sm.laplacian(Lt)
    assert lap_t.dtype == torch.float64 and np.array_equal(lap_t.numpy(), sm.laplacian(L))
    assert sm.laplacian(Lt, dtype=torch.float32).dtype == torch.float32
    Bn = np.random.default_rng(6).standard_normal((40, 4))
    Bt = torch.tensor(Bn, requires_grad=True)
    q = sm.laplacian_quadratic(Bt, Lt)
    assert q.item() == pytest.approx(sm.laplacian_quadratic(Bn, L), rel=1e-12)
    q.backward()
    assert torch.allclose(Bt.grad, 2 * torch.from_numpy(sm.laplacian(L) @ Bn), rtol=1e-10, atol=1e-10)


def test_bigger_random_chunked_equals_dense(monkeypatch):
    L = _labels(300, 10, 8, p=0.1)
    B = np.random.default_rng(9).standard_normal((300, 8))
    dense = (sm.similarity(L), sm.degrees(L), sm.laplacian(L), sm.laplacian_quadratic(B, L))
    monkeypatch.setattr(sm, "_BLOCK", 50)
    chunked = (sm.similarity(L), sm.degrees(L), sm.laplacian(L), sm.laplacian_quadratic(B, L))
    for a, b in zip(dense[:3], chunked[:3]):
        assert np.array_equal(a, b)
    assert chunked[3] == pytest.approx(dense[3], rel=1e-12)
    assert dense[3] == pytest.approx(np.trace(B.T @ dense[2] @ B), rel=1e-10)


def test_degrees_n20000_is_fast_and_small():
    import time
    import tracemalloc
    rng = np.random.default_rng(0)
    L = (rng.random((20000, 24)) < 0.12).astype(np.uint8)
    tracemalloc.start()
    t = time.perf_counter()
    d = sm.degrees(L)
    q = sm.laplacian_quadratic(np.sign(rng.standard_normal((20000, 16))), L)
    elapsed = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert d.shape == (20000,) and np.isfinite(q)
    assert peak < 200e6  # an n x n float32 matrix would be 1.6 GB
    assert elapsed < 60  # generous: the machine is shared
    sub = np.arange(0, 20000, 97)
    assert np.array_equal(d[sub], (sm.similarity(L[sub], L).astype(np.int64)).sum(1))


@pytest.mark.parametrize("call,match", [
    (lambda: sm.similarity(np.ones((3, 4)), np.ones((3, 5))), "labels_b has 5 label columns"),
    (lambda: sm.similarity(np.array([[0, 2], [1, 0]])), "binary"),
    (lambda: sm.similarity(np.array([[0, np.nan], [1, 0]])), "NaN"),
    (lambda: sm.similarity(np.ones(3)), "2-D"),
    (lambda: sm.similarity(np.ones((3, 2)), torch.ones(3, 2)), "both"),
    (lambda: sm.degrees(np.array([[0.5, 1.0]])), "binary"),
    (lambda: sm.laplacian(np.ones((3, 2)), dtype=np.int32), "floating"),
    (lambda: sm.laplacian_quadratic(np.ones((3, 2)), np.ones((4, 2))), "rows"),
    (lambda: sm.laplacian_quadratic(np.ones(3), np.ones((3, 2))), "B must"),
    (lambda: sm.laplacian_quadratic(np.full((3, 2), np.inf), np.ones((3, 2))), "infinite"),
    (lambda: sm.laplacian_quadratic(torch.ones(3, 2), np.ones((3, 2))), "both"),
])
def test_validation_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_label_groups_numpy_and_torch():
    rng = np.random.default_rng(11)
    rows = (rng.random((7, 5)) < 0.4).astype(np.uint8)
    lab = rows[rng.integers(0, 7, 90)]
    g = sm.label_groups(lab)
    np.testing.assert_array_equal(g.rows[g.inverse], lab)
    assert g.counts.sum() == 90 and len(np.unique(g.rows, axis=0)) == len(g.rows)
    np.testing.assert_array_equal(g.degrees[g.inverse], sm.degrees(lab))
    gt = sm.label_groups(torch.tensor(lab))
    assert torch.equal(gt.rows[gt.inverse], torch.tensor(lab, dtype=torch.float32))
    np.testing.assert_array_equal(gt.degrees.numpy(), g.degrees)
    with pytest.raises(ValueError, match="labels"):
        sm.label_groups(np.full((3, 2), 2))
