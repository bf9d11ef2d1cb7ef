"""TDH B-step: the dense n x n Cholesky factor (before) vs the exact reduction to the label groups (after).

B = sign((2I + beta/gamma L)^{-1} (F + G)), eq. (12). Variants (``GraphBStep(solver=...)``):

* ``dense``: build M = 2I + (beta/gamma) L (n x n), Cholesky-factor it once in place, two triangular solves
  per epoch -- the package's only path before, and still its choice for n <= 4,096;
* ``grouped``: items with the same label row are interchangeable in L, so the system reduces exactly to one
  U x U matrix over the U distinct label rows, factored once; per epoch O(n c + U^2 c);
* ``cg``: the same reduced system by Jacobi-preconditioned conjugate gradients (tolerance 1e-10), no factor;
* ``inverse``: the unofficial SXS-PRIVATE/TDH code, a fresh dense ``torch.inverse`` every epoch.

Labels: ``--labels mirflickr`` (default) is the real MIRFLICKR-25K LAll (20,015 items, or a seeded subset for
``--n`` below that); ``--labels nuswide`` the real NUS-WIDE top-21-concept label lists
(../shared/data/nuswide-labels_annotation.txt, 190,421 rows), repeated from the top to reach ``--n`` (193,734,
NUS-WIDE's size in the DCMH protocol, repeats its first 3,313 rows). ``F, G`` are standard normal.

Each variant runs in a fresh process with one thread, so its peak resident memory (``ru_maxrss``) is its own; the
table shows the peak above the process baseline (labels loaded, torch imported). Times are CPU seconds of that
process (``time.process_time``), which a busy shared machine inflates far less than wall clock. The residual
``max |M B* - (F + G)|`` is computed without M (:func:`hashnotes.methods.tdh.b_system_product`), and every
variant's codes are compared with the first variant's.

    .venv/bin/python benchmarks/bench_tdh_bstep.py                               # 20,015 MIRFLICKR, 64 bits
    .venv/bin/python benchmarks/bench_tdh_bstep.py --labels nuswide --n 193734 --variants grouped cg
    .venv/bin/python benchmarks/bench_tdh_bstep.py --n 4000 --variants dense grouped cg inverse
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

NUS_FILE = "nuswide-labels_annotation.txt"


def _nuswide_rows(root: Path) -> np.ndarray:
    lines = (root / NUS_FILE).read_text(encoding="utf-8").splitlines()
    tags = [[t.strip() for t in line.split(",") if t.strip()] for line in lines]
    names = sorted({t for row in tags for t in row})
    col = {name: j for j, name in enumerate(names)}
    lab = np.zeros((len(tags), len(names)), dtype=np.uint8)
    for i, row in enumerate(tags):
        lab[i, [col[t] for t in row]] = 1
    return lab


def load_labels(kind: str, n: int | None, seed: int = 0) -> tuple[np.ndarray, str]:
    from hashnotes import data

    root = data.shared_data_dir()
    if kind == "nuswide":
        if root is None or not (root / NUS_FILE).exists():
            raise SystemExit(f"--labels nuswide needs ../shared/data/{NUS_FILE} (set HASHNOTES_DATA)")
        lab = _nuswide_rows(root)
        n = n or len(lab)
        src = f"NUS-WIDE top-21 label lists ({len(lab):,} real rows"
        lab = np.concatenate([lab] * (n // len(lab)) + [lab[: n % len(lab)]])
        return lab, src + (f", the first {n - 190_421:,} repeated)" if n > 190_421 else ")")
    if root is not None and (root / "mirflickr25k-lall.mat").exists():
        import scipy.io

        lab = scipy.io.loadmat(root / "mirflickr25k-lall.mat")["LAll"].astype(np.uint8)
        n = n or len(lab)
        if n == len(lab):
            return lab, "MIRFLICKR-25K LAll (all 20,015 rows)"
        idx = np.random.default_rng(seed).permutation(len(lab))[:n]
        return lab[idx], "MIRFLICKR-25K LAll (random rows)"
    n = n or 20_015
    rng = np.random.default_rng(seed)
    lab = (rng.random((n, 24)) < 0.16).astype(np.uint8)
    lab[lab.sum(1) == 0, rng.integers(0, 24)] = 1
    return lab, "random multi-hot (24 labels, p = 0.16): ../shared/data/mirflickr25k-lall.mat not found"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _worker(variant, kind, n, bits, dtype_name, ratio, epochs, out_path, queue):
    import torch

    from hashnotes.methods.tdh import GraphBStep, b_system_matrix, b_system_product

    torch.set_num_threads(1)
    dtype = getattr(torch, dtype_name)
    lab, _ = load_labels(kind, n)
    rng = np.random.default_rng(1)
    F = torch.tensor(rng.standard_normal((n, bits)), dtype=torch.float32)
    G = torch.tensor(rng.standard_normal((n, bits)), dtype=torch.float32)
    base = _rss_mb()
    clock = time.process_time
    w0, t0 = time.perf_counter(), clock()
    info = {}
    if variant != "inverse":
        step = GraphBStep(lab, ratio, dtype=dtype, solver=variant)
        t_setup = clock() - t0
        times = []
        for _ in range(epochs):
            t = clock()
            Bs = step.relaxed(F, G)
            times.append(clock() - t)
        info = dict(step.info, groups=getattr(step, "n_groups", None))
    else:  # the unofficial code: a fresh dense inverse every epoch
        t_setup = 0.0
        times = []
        for _ in range(epochs):
            t = clock()
            M = b_system_matrix(lab, ratio, dtype=dtype)
            Bs = torch.inverse(M) @ (F + G).to(dtype)
            times.append(clock() - t)
            del M
    peak = _rss_mb() - base
    wall = time.perf_counter() - w0
    resid = float((b_system_product(lab, ratio, Bs) - (F + G).double()).abs().max())
    np.save(out_path, Bs.double().numpy())
    queue.put(dict(variant=variant, setup=t_setup, wall=wall, per_epoch=float(np.median(times)), peak_mb=peak,
                   resid=resid, info=info))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--labels", default="mirflickr", choices=["mirflickr", "nuswide", "random"])
    ap.add_argument("--n", type=int, default=None, help="items (default: all rows of the label file)")
    ap.add_argument("--bits", type=int, default=64)
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"], help="the dense factor's dtype")
    ap.add_argument("--beta-over-gamma", type=float, default=0.01, help="paper: beta/gamma = 1/100")
    ap.add_argument("--epochs", type=int, default=3, help="B-steps timed per variant (median reported)")
    ap.add_argument("--variants", nargs="+", default=["dense", "grouped", "cg"],
                    choices=["dense", "grouped", "cg", "inverse"])
    args = ap.parse_args(argv)
    lab, source = load_labels(args.labels, args.n)
    n = len(lab)
    n_groups = len(np.unique(lab, axis=0))
    print(f"labels: {source}; n = {n:,} items, {n_groups:,} distinct label rows; bits = {args.bits}, "
          f"beta/gamma = {args.beta_over_gamma}, 1 thread")
    print(f"a dense n x n matrix would take {n ** 2 * (8 if args.dtype == 'float64' else 4) / 1e9:.1f} GB "
          f"({args.dtype}); the grouped U x U one {n_groups ** 2 * 8 / 1e6:.0f} MB")
    ctx = mp.get_context("spawn")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for variant in args.variants:
            q = ctx.Queue()
            out = str(Path(tmp) / f"{variant}.npy")
            p = ctx.Process(target=_worker, args=(variant, args.labels, n, args.bits, args.dtype,
                                                  args.beta_over_gamma, args.epochs, out, q))
            p.start()
            rows.append(q.get())
            p.join()
            rows[-1]["x"] = np.load(out)
    ref = rows[0]
    names = {"dense": "dense n x n Cholesky, factor once (before)", "grouped": "label groups, U x U Cholesky (after)",
             "cg": "label groups, conjugate gradients, tol 1e-10", "inverse": "dense torch.inverse each epoch"}
    print(f"\n| variant | one-off setup (CPU s) | per B-step (CPU s) | 10 epochs (CPU s) | wall, whole run (s) "
          f"| peak extra memory (MB) | max residual of M B* = F + G | max diff of B* vs {ref['variant']} "
          f"| codes differing |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        diff = float(np.abs(r["x"] - ref["x"]).max())
        flips = int(((r["x"] >= 0) != (ref["x"] >= 0)).sum())
        extra = f" ({r['info']['iterations']} iterations)" if r["info"].get("iterations") else ""
        print(f"| {names[r['variant']]}{extra} | {r['setup']:.2f} | {r['per_epoch']:.3f} | "
              f"{r['setup'] + 10 * r['per_epoch']:.1f} | {r['wall']:.0f} | {r['peak_mb']:.0f} | {r['resid']:.1e} | "
              f"{diff:.1e} | {flips} of {r['x'].size:,} |")


if __name__ == "__main__":
    main()
