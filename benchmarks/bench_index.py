"""Benchmark: faiss binary indexes (hashnotes.index) at 1M and 10M synthetic 64-bit codes.

For every index -- exact ``flat`` (IndexBinaryFlat), ``ivf`` (IndexBinaryIVF, several ``nprobe``) and
``hnsw`` (IndexBinaryHNSW, several ``ef_search``) -- it reports the build time (IVF: k-means training + adding
the codes), the index's memory (its serialised size, which is what faiss holds in RAM) and the peak resident
memory of the process that built it, queries per second (one faiss thread, 1,000 queries, k = 100) and
recall@100 against the exact index, two ways:

* ``recall ids``: the fraction of the exact 100 neighbours (ties broken by database index) that were returned;
* ``recall dist``: the fraction of returned items at most as far as the exact 100th neighbour, so an equally
  near item with another index counts. With 64-bit codes the 100th distance is shared by hundreds of items,
  and the first measure penalises an index for choosing other, equally good, ones.

Codes: like trained hashing codes, they cluster around semantic centres. ``--centres`` random 64-bit centres
(10,000), each code a centre with every bit flipped with probability ``--flip`` (0.1, so a code is about 6 bits
from its centre); queries come from the same distribution. Uniform random codes would make every
approximate index look bad (no neighbourhood structure) and are not what a hashing model produces.

Each index is built in a fresh process (``spawn``), so the peak memory is its own; the database is generated
there in chunks of 500,000 codes from a seeded generator, identically in every process. One faiss thread
(``faiss.omp_set_num_threads(1)``): on a 2-core machine shared with others, two threads were slower.

    .venv/bin/python benchmarks/bench_index.py                   # 1M and 10M (about 15 minutes)
    .venv/bin/python benchmarks/bench_index.py --sizes 1000000    # 1M only
    .venv/bin/python benchmarks/bench_index.py --quick            # 100k, a smoke run
    .venv/bin/python benchmarks/bench_index.py --sizes 10000000 --kinds hnsw --hnsw-max 10000000  # HNSW at 10M
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

CHUNK = 500_000
BITS = 64


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def chunks(n: int, centres: int, flip: float, seed: int):
    """The database, in chunks of {-1,+1} int8 codes (the same codes in every process)."""
    rng = np.random.default_rng(seed)
    cent = np.where(rng.random((centres, BITS)) < 0.5, 1, -1).astype(np.int8)
    for s in range(0, n, CHUNK):
        m = min(CHUNK, n - s)
        x = cent[rng.integers(0, centres, m)]
        yield np.where(rng.random((m, BITS), dtype=np.float32) < flip, -x, x)


def queries(nq: int, centres: int, flip: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    cent = np.where(rng.random((centres, BITS)) < 0.5, 1, -1).astype(np.int8)  # the same centres
    rng = np.random.default_rng([seed, 1])
    x = cent[rng.integers(0, centres, nq)]
    return np.where(rng.random((nq, BITS), dtype=np.float32) < flip, -x, x)


def _worker(spec: dict, queue) -> None:
    import faiss

    from hashnotes.index import HammingIndex

    faiss.omp_set_num_threads(1)
    q = queries(spec["nq"], spec["centres"], spec["flip"], spec["seed"])
    base = _rss_mb()
    index = HammingIndex(BITS, spec["kind"], threads=1, **spec.get("build", {}))
    t_build = 0.0
    t_train = 0.0
    for x in chunks(spec["n"], spec["centres"], spec["flip"], spec["seed"]):
        t = time.perf_counter()
        index.add(x)
        t_build += time.perf_counter() - t
        t_train += index.timings.pop("train", 0.0)
    rows = []
    for name, value in spec.get("sweep", [(None, None)]):
        if name is not None:
            index.set_search_params(**{name: value})
        index.search(q[:20], spec["k"])  # warm-up
        best = np.inf
        for _ in range(spec["repeats"]):  # best of a few: the machine is shared
            t = time.perf_counter()
            res = index.search(q, spec["k"])
            best = min(best, time.perf_counter() - t)
        rows.append({"param": name, "value": value, "qps": spec["nq"] / best, "search_s": best,
                     "distances": res.distances, "indices": res.indices})
    queue.put({"kind": spec["kind"], "n": spec["n"], "build_s": t_build, "train_s": t_train,
               "index_mb": index.nbytes() / 1e6, "peak_extra_mb": _rss_mb() - base, "rows": rows,
               "params": dict(index.params)})


def run_one(spec: dict) -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_worker, args=(spec, q))
    p.start()
    out = q.get()
    p.join()
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--quick", action="store_true", help="100,000 codes only (smoke run)")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--centres", type=int, default=10_000)
    ap.add_argument("--flip", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--nlist", type=int, default=None,
                    help="IVF lists (default: hashnotes.index.default_nlist of the collection size, 4,096 here)")
    ap.add_argument("--nprobe", type=int, nargs="+", default=[1, 4, 16, 64, 256])
    ap.add_argument("--ef-search", type=int, nargs="+", default=[64, 128, 256, 512])
    ap.add_argument("--hnsw-m", type=int, default=16)
    ap.add_argument("--hnsw-max", type=int, default=1_000_000,
                    help="build HNSW only up to this many codes (its single-thread build is slow)")
    ap.add_argument("--kinds", nargs="+", default=["ivf", "hnsw"], choices=["ivf", "hnsw"],
                    help="approximate indexes to build (the exact flat index is always built: it is the reference)")
    ap.add_argument("--repeats", type=int, default=3, help="searches per setting (the fastest is reported)")
    ap.add_argument("--json-out", default=None, help="write every row to this JSON file (for the book's figure)")
    args = ap.parse_args(argv)
    sizes = [100_000] if args.quick else args.sizes
    import faiss

    import hashnotes
    from hashnotes.index import default_nlist

    print(f"hashnotes {hashnotes.__version__}, faiss {faiss.__version__}, 1 faiss thread, os.cpu_count() "
          f"{os.cpu_count()}; {BITS}-bit codes around {args.centres:,} centres, flip {args.flip}; "
          f"{args.queries:,} queries, k = {args.k}")
    table = []
    for n in sizes:
        common = dict(n=n, nq=args.queries, k=args.k, centres=args.centres, flip=args.flip, seed=args.seed,
                      repeats=args.repeats)
        flat = run_one(dict(common, kind="flat"))
        exact_d, exact_i = flat["rows"][0]["distances"], flat["rows"][0]["indices"]
        kth = exact_d[:, -1:]
        results = [flat]
        nlist = args.nlist or default_nlist(n)  # of the whole collection (the first batch added trains it)
        if "ivf" in args.kinds:
            results.append(run_one(dict(common, kind="ivf", build={"nlist": nlist},
                                        sweep=[("nprobe", v) for v in args.nprobe])))
        if "hnsw" not in args.kinds:
            pass
        elif n <= args.hnsw_max:
            results.append(run_one(dict(common, kind="hnsw", build={"hnsw_m": args.hnsw_m},
                                        sweep=[("ef_search", v) for v in args.ef_search])))
        else:
            print(f"  (HNSW skipped at n = {n:,}: --hnsw-max is {args.hnsw_max:,})")
        for res in results:
            for row in res["rows"]:
                found_d, found_i = row["distances"], row["indices"]
                ids = np.mean([np.intersect1d(a[a >= 0], b).size for a, b in zip(found_i, exact_i)]) / args.k
                dist = float(((found_i >= 0) & (found_d <= kth)).sum(1).mean() / args.k)
                setting = "exact" if row["param"] is None else (
                    f"nlist {res['params']['nlist']}, nprobe {row['value']}" if res["kind"] == "ivf"
                    else f"M {res['params']['hnsw_m']}, ef {row['value']}")
                table.append({"n": n, "kind": res["kind"], "setting": setting, "build_s": res["build_s"],
                              "train_s": res["train_s"], "index_mb": res["index_mb"],
                              "peak_extra_mb": res["peak_extra_mb"], "qps": row["qps"], "recall_ids": float(ids),
                              "recall_dist": dist})
        n_tied = float(np.mean([np.sum(row == d) for row, d in zip(exact_d, exact_d[:, -1])]))
        print(f"  n = {n:,}: mean distance of the exact 1st / 100th neighbour {exact_d[:, 0].mean():.2f} / "
              f"{exact_d[:, -1].mean():.2f}; the 100th distance recurs {n_tied:.0f} times within the top 100")
    print("\n| n | index | setting | build s (IVF: of it training) | index MB | peak extra RSS MB | queries/s "
          "| recall@100 ids | recall@100 dist |")
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|")
    for r in table:
        build = f"{r['build_s']:.1f}" + (f" ({r['train_s']:.1f})" if r["kind"] == "ivf" else "")
        print(f"| {r['n']:,} | {r['kind']} | {r['setting']} | {build} | {r['index_mb']:.0f} | "
              f"{r['peak_extra_mb']:.0f} | {r['qps']:,.0f} | {r['recall_ids']:.3f} | {r['recall_dist']:.3f} |")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(table, indent=1))
        print(f"\nrows written to {args.json_out}")


if __name__ == "__main__":
    main()
