"""UGACH against CCA at 16/32/64 bits on the toy descriptors and the Wikipedia dataset, with the paper's
estimator (the package default) and the released code's, and the training time.

Both methods see the same features: on the toy data, label-free image descriptors (HOG + HSV + LBP at the
images' 32 px, ``data.features.with_descriptors``) and the bag of words; on Wikipedia, the released SIFT
histograms and LDA topics. mAP is the query set against the database; model selection uses the
validation split only.

    .venv/bin/python experiments/ugach_tables.py                      # toy n = 10,000 and Wikipedia
    .venv/bin/python experiments/ugach_tables.py --toy-n 2500 --json  # one JSON object per row
"""
from __future__ import annotations

import argparse
import json
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--toy-n", type=int, default=10000)
    ap.add_argument("--bits", type=int, nargs="+", default=[16, 32, 64])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    from hashnotes import data, methods
    from hashnotes.data.features import with_descriptors

    sets = {"toy": with_descriptors(data.toy(n=args.toy_n, seed=args.seed), size=32)}
    root = data.shared_data_dir()
    if root is not None and ((root / "wiki" / "wikiData.mat").exists() or (root / "wikiData.mat").exists()):
        sets["wiki"] = data.wiki(seed=args.seed)
    else:
        print("Wikipedia skipped: wikiData.mat not found in the data folder")
    variants = {"ugach": {}, "ugach-code": dict(reward="sigmoid", estimator="sampled", softmax_over="samples"),
                "cca": None}
    if not args.json:
        print(f"{'data':<6} {'method':<11} {'bits':>4} {'I->T':>7} {'T->I':>7} {'best epoch':>10} {'seconds':>8}")
    for name, ds in sets.items():
        for bits in args.bits:
            for method, over in variants.items():
                if method == "ugach-code" and bits != 32:
                    continue
                t0 = time.perf_counter()
                if over is None:
                    model = methods.CCA(bits=bits, seed=args.seed).fit(ds.train, progress=False)
                else:
                    model = methods.UGACH.small(bits=bits, seed=args.seed, **over).fit(ds, progress=False)
                seconds = time.perf_counter() - t0
                r = model.evaluate(ds)
                row = {"data": name, "method": method, "bits": bits, "map_i2t": r["map_i2t"], "map_t2i": r["map_t2i"],
                       "best_epoch": model.best_epoch, "seconds": round(seconds, 1), "n_train": len(ds.train)}
                if method != "cca":
                    row["phase_of_best"] = model.history[model.best_epoch - 1].get("phase")
                print(json.dumps(row) if args.json else
                      f"{name:<6} {method:<11} {bits:>4} {r['map_i2t']:>7.4f} {r['map_t2i']:>7.4f} "
                      f"{str(model.best_epoch):>10} {seconds:>8.1f}", flush=True)


if __name__ == "__main__":
    main()
