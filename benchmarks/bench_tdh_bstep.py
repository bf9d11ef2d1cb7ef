"""TDH B-step at n = 10,000 on the CPU: factor once + solve, vs the dense inverse of the unofficial code.

B = sign((2I + beta/gamma L)^{-1} (F + G)), eq. (12). The package builds M = 2I + (beta/gamma) L once,
Cholesky-factors it in place and does two triangular solves per epoch (``GraphBStep``). The unofficial
SXS-PRIVATE/TDH code calls ``torch.inverse`` on the n x n matrix every epoch and multiplies.

Each variant runs in a fresh process with one thread, so its peak resident memory (``ru_maxrss``) is its
own; the table shows the peak above the process baseline (labels loaded, torch imported). Times are CPU
seconds of that process (``time.process_time``), which a busy shared machine inflates far less than wall
clock; wall clock is shown too.

    .venv/bin/python benchmarks/bench_tdh_bstep.py               # n = 10,000, 32 bits, float64
    .venv/bin/python benchmarks/bench_tdh_bstep.py --n 4000 --dtype float32
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time

import numpy as np


def load_labels(n: int, seed: int = 0) -> tuple[np.ndarray, str]:
    from hashnotes import data

    root = data.shared_data_dir() if hasattr(data, "shared_data_dir") else None
    if root is not None and (root / "mirflickr25k-lall.mat").exists():
        import scipy.io

        lab = scipy.io.loadmat(root / "mirflickr25k-lall.mat")["LAll"].astype(np.uint8)
        idx = np.random.default_rng(seed).permutation(len(lab))[:n]
        return lab[idx], "MIRFLICKR-25K LAll (random rows)"
    rng = np.random.default_rng(seed)
    lab = (rng.random((n, 24)) < 0.16).astype(np.uint8)
    lab[lab.sum(1) == 0, rng.integers(0, 24)] = 1
    return lab, "random multi-hot (24 labels, p = 0.16): ../shared/data/mirflickr25k-lall.mat not found"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _worker(variant, n, bits, dtype_name, ratio, epochs, queue):
    import torch

    from hashnotes.methods.tdh import GraphBStep, b_system_matrix

    torch.set_num_threads(1)
    dtype = getattr(torch, dtype_name)
    lab, _ = load_labels(n)
    rng = np.random.default_rng(1)
    F = torch.tensor(rng.standard_normal((n, bits)), dtype=torch.float32)
    G = torch.tensor(rng.standard_normal((n, bits)), dtype=torch.float32)
    base = _rss_mb()
    clock = time.process_time
    w0, t0 = time.perf_counter(), clock()
    if variant == "cholesky":
        step = GraphBStep(lab, ratio, dtype=dtype)
        t_setup = clock() - t0
        times = []
        for _ in range(epochs):
            t = clock()
            B = step(F, G)
            times.append(clock() - t)
        peak = _rss_mb() - base
        Bs = step.relaxed(F, G)
        M = b_system_matrix(lab, ratio, dtype=dtype)
        resid = float((M @ Bs - (F + G).to(dtype)).abs().max())
    else:  # the unofficial code: a fresh dense inverse every epoch
        t_setup = 0.0
        times = []
        for _ in range(epochs):
            t = clock()
            M = b_system_matrix(lab, ratio, dtype=dtype)
            Minv = torch.inverse(M)
            B = torch.where(Minv @ (F + G).to(dtype) >= 0, 1.0, -1.0)
            times.append(clock() - t)
            del M, Minv
        peak = _rss_mb() - base
        resid = float("nan")
    wall = time.perf_counter() - w0
    queue.put(dict(variant=variant, setup=t_setup, wall=wall, per_epoch=float(np.median(times)),
                   peak_mb=peak, resid=resid, codes=B.sum().item()))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--bits", type=int, default=32)
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    ap.add_argument("--beta-over-gamma", type=float, default=0.01, help="paper: beta/gamma = 1/100")
    ap.add_argument("--epochs", type=int, default=2, help="B-steps timed per variant (median reported)")
    ap.add_argument("--skip-inverse", action="store_true", help="do not run the dense-inverse variant")
    args = ap.parse_args(argv)
    _, source = load_labels(args.n)
    print(f"labels: {source}; n = {args.n}, bits = {args.bits}, {args.dtype}, beta/gamma = {args.beta_over_gamma}, "
          f"1 thread")
    print(f"dense n x n matrix: {args.n ** 2 * (8 if args.dtype == 'float64' else 4) / 1e6:.0f} MB")
    ctx = mp.get_context("spawn")
    rows = []
    for variant in ["cholesky"] + ([] if args.skip_inverse else ["inverse"]):
        q = ctx.Queue()
        p = ctx.Process(target=_worker, args=(variant, args.n, args.bits, args.dtype, args.beta_over_gamma,
                                              args.epochs, q))
        p.start()
        rows.append(q.get())
        p.join()
    print("\n| variant | one-off setup (CPU s) | per B-step (CPU s) | 10 epochs (CPU s) | wall, whole run (s) "
          "| peak extra memory (MB) | max residual of M B = F + G |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        name = "factor once + cholesky_solve (package)" if r["variant"] == "cholesky" else \
            "dense torch.inverse each epoch (unofficial code)"
        print(f"| {name} | {r['setup']:.2f} | {r['per_epoch']:.3f} | {r['setup'] + 10 * r['per_epoch']:.1f} | "
              f"{r['wall']:.0f} | {r['peak_mb']:.0f} | {r['resid']:.1e} |")
    if len(rows) == 2 and rows[0]["codes"] != rows[1]["codes"]:
        print("note: the two variants' codes differ in some bits (round-off near 0)")


if __name__ == "__main__":
    main()
