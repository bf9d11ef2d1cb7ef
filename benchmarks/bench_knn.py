"""UGACH's kNN lists at n = 20,000: hashnotes.knn against scikit-learn's exact (brute-force) search and the
released code's route (a full pairwise distance matrix, then ``argsort`` of every row).

Features: the real MIRFLICKR-25K tag vectors (``YAll``, 1,386-d, 0/1) when ``../shared/data`` is present, plus
random 128-d and 1,386-d Gaussian features (the Wikipedia SIFT width and the MIRFLICKR text width). Every
variant runs in this process with one thread; times are CPU seconds (``time.process_time``), which a busy
shared machine inflates less than wall clock. The script asserts that hashnotes and scikit-learn find the
same k smallest distances (they may pick different items among equal distances: scikit-learn breaks ties
arbitrarily, hashnotes by index) and that the self-first property holds. "code route" is measured on
1,000 rows and scaled to n.

    .venv/bin/python benchmarks/bench_knn.py              # n = 20,000 (a few minutes on one core)
    .venv/bin/python benchmarks/bench_knn.py --n 5000     # quicker
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def features(n: int):
    rng = np.random.default_rng(0)
    out = [("gaussian 128-d", rng.standard_normal((n, 128)).astype(np.float32)),
           ("gaussian 1386-d", rng.standard_normal((n, 1386)).astype(np.float32))]
    from hashnotes import data

    root = data.shared_data_dir()
    if root is not None and (root / "mirflickr25k-yall.mat").exists():
        import scipy.io

        Y = scipy.io.loadmat(root / "mirflickr25k-yall.mat")["YAll"].astype(np.float32)
        out.append(("MIRFLICKR YAll 1386-d 0/1", Y[rng.permutation(len(Y))[:n]]))
    return out


def released_code_route(X: np.ndarray, k: int, rows: int) -> float:
    """CPU seconds of pdist + squareform + per-row argsort, measured on ``rows`` rows and scaled to n."""
    from scipy.spatial.distance import cdist

    t0 = time.process_time()
    D = cdist(X[:rows], X, "euclidean")
    np.argsort(D, axis=1)[:, :k]
    return (time.process_time() - t0) * len(X) / rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="n = 3,000")
    args = ap.parse_args()
    if args.quick:
        args.n = 3000
    import torch
    from sklearn.neighbors import NearestNeighbors
    from threadpoolctl import threadpool_limits

    from hashnotes.knn import knn

    torch.set_num_threads(1)
    print(f"n = {args.n}, k = {args.k}, one thread; CPU seconds")
    print(f"{'features':<28} {'hashnotes':>10} {'sklearn brute':>14} {'ratio':>6} {'code route':>11} {'ratio':>6}")
    with threadpool_limits(1):
        for name, X in features(args.n):
            t0 = time.process_time()
            g = knn(X, args.k)
            t_h = time.process_time() - t0
            t0 = time.process_time()
            nn = NearestNeighbors(n_neighbors=args.k + 1, algorithm="brute").fit(X)
            dist, ind = nn.kneighbors(X)
            t_s = time.process_time() - t0
            t_c = released_code_route(X, args.k, rows=1000)
            assert (g[:, 0] == np.arange(len(X))).all(), "self first"
            # the same k smallest distances (self at 0 included) on 2,000 rows; ties may pick other items
            rows = np.arange(0, len(X), max(1, len(X) // 2000))
            mine = np.sqrt(((X[rows, None, :].astype(np.float64) - X[g[rows]]) ** 2).sum(-1))
            gap = np.abs(mine - dist[rows, :args.k]).max()
            assert gap < 1e-3, f"distances differ by {gap}"
            print(f"{name:<28} {t_h:>10.1f} {t_s:>14.1f} {t_s / t_h:>6.2f} {t_c:>11.1f} {t_c / t_h:>6.2f}")


if __name__ == "__main__":
    main()
