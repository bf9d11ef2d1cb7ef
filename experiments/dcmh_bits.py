"""Why does DCMH's ``.small()`` mAP fall from 16 to 64 bits on the toy data? Variants of the preset, measured.

Each variant changes one thing of ``DCMH.small()`` (training length, learning rate, training-set size) and is
trained at every bit length on the same toy split; query-vs-database mAP, the best validation epoch and the
validation curve are printed as JSON lines (one per fit).

    .venv/bin/python experiments/dcmh_bits.py --bits 16 32 64 --variants base long lr/4 n4000
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from hashnotes import data, methods

VARIANTS = {
    "base": {},
    "long": {"epochs": 60},
    "lr/4": {"lr_image": 5e-4, "lr_text": 5e-4},
    "lr*2": {"lr_image": 4e-3, "lr_text": 4e-3},
    "batch128": {"batch_size": 128},
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--bits", type=int, nargs="+", default=[16, 32, 64])
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS) + ["n4000"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    base = data.toy(n=args.n, seed=args.seed)
    big = None
    for variant in args.variants:
        ds = base
        kw = dict(VARIANTS.get(variant, {}))
        if variant == "n4000":
            if big is None:
                big = data.toy(n=args.n, seed=args.seed, split=None, n_query=len(base.query), n_val=len(base.val),
                               n_train=4000)
            ds = big
        for bits in args.bits:
            model = methods.DCMH.small(bits=bits, seed=args.seed, eval_every=2, **kw)
            t0 = time.perf_counter()
            model.fit(ds, progress=False)
            r = model.evaluate(ds)
            curve = [(h["epoch"], round(0.5 * (h["val_map_i2t"] + h["val_map_t2i"]), 4)) for h in model.history
                     if "val_map_i2t" in h]
            print(json.dumps({"variant": variant, "bits": bits, "map_i2t": round(r["map_i2t"], 4),
                              "map_t2i": round(r["map_t2i"], 4), "best_epoch": model.best_epoch,
                              "epochs": len(model.history), "n_train": len(ds.train),
                              "seconds": round(time.perf_counter() - t0, 1), "val_curve": curve}), flush=True)


if __name__ == "__main__":
    main()
