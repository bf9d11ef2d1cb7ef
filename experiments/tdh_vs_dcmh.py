"""TDH vs DCMH vs CCA on the toy split at the small presets: a markdown table of query-vs-database mAP.

Every model is trained on the same split (``data.toy(n, seed)``), selected on the validation items only,
and evaluated with the query set against the database (network codes, mAP@all with stable ties).

    .venv/bin/python experiments/tdh_vs_dcmh.py                     # n = 10,000 (2,000 train), 16/32/64 bits
    .venv/bin/python experiments/tdh_vs_dcmh.py --bits 32 --epochs 10
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from hashnotes import data, methods


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000, help="toy pairs (train = min(2000, 0.4 n))")
    ap.add_argument("--bits", type=int, nargs="+", default=[16, 32, 64])
    ap.add_argument("--epochs", type=int, default=None, help="override the small presets' epochs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None, help="also write the results to this file")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    ds = data.toy(n=args.n, seed=args.seed)
    print(f"toy n = {args.n}, seed = {args.seed}: train {len(ds.train)}, val {len(ds.val)}, "
          f"query {len(ds.query)}, database {len(ds.database)}", flush=True)
    rows = []
    for bits in args.bits:
        for name in ("cca", "dcmh", "tdh"):
            cls = methods.get(name)
            kw = {"seed": args.seed}
            if args.epochs is not None and name != "cca":
                kw["epochs"] = args.epochs
            model = cls.small(bits=bits, **kw)
            t0 = time.perf_counter()
            model.fit(ds.train, val=ds.val, progress=False)
            secs = time.perf_counter() - t0
            r = model.evaluate(ds)
            rows.append(dict(method=name.upper(), bits=bits, map_i2t=r["map_i2t"], map_t2i=r["map_t2i"],
                             seconds=secs, best_epoch=getattr(model, "best_epoch", None)))
            print(f"  {name} {bits} bits: I->T {r['map_i2t']:.4f}  T->I {r['map_t2i']:.4f}  ({secs:.0f} s)",
                  flush=True)
    print("\n| method | bits | I→T mAP | T→I mAP | train time (s) | best epoch (val) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {r['bits']} | {r['map_i2t']:.4f} | {r['map_t2i']:.4f} | {r['seconds']:.0f} | "
              f"{r['best_epoch'] if r['best_epoch'] is not None else '-'} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"split": ds.split.as_dict(), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
