"""DAPH's proxies ablation and DAPH vs DCMH / TDH / CCA on one toy split: mAP and the time of each stage.

Variants (all at the small presets, the same split, model selection on the validation items only):

* ``daph``: data-aware proxies (LIPG + LTPG + CDPG in stage 1; L_same + L_class + L_similar in stage 2);
* ``daph-class``: the same stage 1, stage 2 learns from the class proxies alone (L_class);
* ``daph-cdpg``: CDPG alone in stage 1 (class proxies that never see the data), stage 2 L_class;
* ``dcmh``, ``tdh``, ``cca``: the other methods' small presets.

    .venv/bin/python experiments/daph_ablation.py                       # toy n = 10,000 (2,000 train), 32 bits
    .venv/bin/python experiments/daph_ablation.py --only daph dcmh --json out.json
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from hashnotes import data, methods

VARIANTS = {
    "daph": ("daph", {}),
    "daph-class": ("daph", {"proxies": "data_aware_class"}),
    "daph-cdpg": ("daph", {"proxies": "class_only"}),
    "dcmh": ("dcmh", {}),
    "tdh": ("tdh", {}),
    "cca": ("cca", {}),
}


def run_variant(label: str, ds, bits: int, seed: int) -> dict:
    """Fit one variant and return its row: mAP both ways, best epoch, seconds per stage."""
    name, overrides = VARIANTS[label]
    model = methods.get(name).small(bits=bits, seed=seed, **overrides)
    t0 = time.perf_counter()
    model.fit(ds.train, val=ds.val, progress=False)
    wall = time.perf_counter() - t0
    res = model.evaluate(ds)
    stages = model.stage_seconds() if hasattr(model, "stage_seconds") else {}
    return {"variant": label, "bits": bits, "map_i2t": res["map_i2t"], "map_t2i": res["map_t2i"],
            "best_epoch": model.best_epoch, "epochs": len(model.history), "seconds": wall, **{
                f"seconds_{k}": v for k, v in stages.items()}}


def markdown(rows) -> str:
    head = "| variant | bits | I→T mAP | T→I mAP | stage 1 (s) | stage 2 (s) | validation (s) | total (s) | best epoch |"
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        stage = [f"{r[k]:.0f}" if k in r else "-" for k in ("seconds_proxy", "seconds_hash", "seconds_validation")]
        lines.append(f"| {r['variant']} | {r['bits']} | {r['map_i2t']:.4f} | {r['map_t2i']:.4f} | {' | '.join(stage)} "
                     f"| {r['seconds']:.0f} | {r['best_epoch']} / {r['epochs']} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000, help="toy pairs (train = min(2000, 0.4 n))")
    ap.add_argument("--bits", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", nargs="+", choices=sorted(VARIANTS), default=list(VARIANTS))
    ap.add_argument("--json", default=None, help="also write the rows and the split to this file")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    ds = data.toy(n=args.n, seed=args.seed)
    rows = []
    for label in args.only:
        rows.append(run_variant(label, ds, args.bits, args.seed))
        r = rows[-1]
        print(f"{label}: I->T {r['map_i2t']:.4f}  T->I {r['map_t2i']:.4f}  ({r['seconds']:.0f} s)", flush=True)
    print(markdown(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"split": ds.split.as_dict(), "threads": args.threads, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
