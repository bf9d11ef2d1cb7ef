"""CDHCR's gamma sweep (the seed's Figure 3) and CDHCR vs DCMH on the toy split; prints markdown tables.

    .venv/bin/python experiments/cauchy_sweep.py                  # the small preset (toy n=10,000, 25 epochs)
    .venv/bin/python experiments/cauchy_sweep.py --n 3000 --epochs 15   # a shorter run

Every fit uses the methods' ``.small()`` preset (overridden only by ``--epochs`` when given), the same toy
split, validation-set model selection, and seed 0. Precision within Hamming radius r is per query (DCH:
an empty ball counts 0; METHODS decision 11); "empty" is the fraction of queries whose radius-2 ball is empty.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from hashnotes import data, methods, metrics


def radius_stats(q, db, ql, dl):
    """Per-query precision within radius r for r = 0..c, and the fraction of empty radius-2 balls."""
    cnt, _ = metrics.distance_counts(q, db, ql, dl)
    empty = float((np.cumsum(cnt, axis=1)[:, min(2, cnt.shape[1] - 1)] == 0).mean())
    return metrics.precision_radius_curve(q, db, ql, dl), empty


def scores(model, ds):
    qi, qt = model.encode_image(ds.query.images), model.encode_text(ds.query.texts)
    di, dt = model.encode_image(ds.database.images), model.encode_text(ds.database.texts)
    ql, dl = ds.query.labels, ds.database.labels
    p_i2t, e_i2t = radius_stats(qi, dt, ql, dl)
    p_t2i, e_t2i = radius_stats(qt, di, ql, dl)
    # cross-check the cumulative counts against the package's precision_at_radius
    assert abs(p_i2t[2] - metrics.precision_at_radius(qi, dt, ql, dl, radius=2)) < 1e-12
    return {"map_i2t": metrics.mean_average_precision(qi, dt, ql, dl),
            "map_t2i": metrics.mean_average_precision(qt, di, ql, dl),
            "p_r_i2t": p_i2t.tolist(), "p_r_t2i": p_t2i.tolist(),
            "p2_i2t": float(p_i2t[2]), "p2_t2i": float(p_t2i[2]),
            "empty2_i2t": e_i2t, "empty2_t2i": e_t2i}


def fit(cls, ds, bits, epochs, eval_every, **overrides):
    if epochs is not None:
        overrides["epochs"] = epochs
    t0 = time.time()
    model = cls.small(bits=bits, eval_every=eval_every, **overrides)
    model.fit(ds.train, val=ds.val, device="cpu", progress=False)
    out = scores(model, ds)
    out.update(seconds=time.time() - t0, best_epoch=model.best_epoch)
    print(f"  {cls.__name__} bits={bits} {overrides}: {out['seconds']:.0f} s, best epoch {model.best_epoch}, "
          f"mAP {out['map_i2t']:.4f}/{out['map_t2i']:.4f}, P@r<=2 {out['p2_i2t']:.4f}/{out['p2_t2i']:.4f}",
          flush=True)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10000, help="toy pairs (split preset 'toy')")
    ap.add_argument("--epochs", type=int, default=None, help="override the .small() epochs")
    ap.add_argument("--gammas", type=float, nargs="*", default=[2, 5, 10, 20, 30, 50])
    ap.add_argument("--sweep-bits", type=int, default=64)
    ap.add_argument("--bits", type=int, nargs="*", default=[16, 32, 64])
    ap.add_argument("--eval-every", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="also write all numbers to this file")
    args = ap.parse_args(argv)
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))

    ds = data.toy(n=args.n, seed=args.seed)
    print(f"toy n={args.n}: train {len(ds.train)}, val {len(ds.val)}, query {len(ds.query)}, "
          f"database {len(ds.database)}; epochs {args.epochs or 'preset'}", flush=True)
    t_all = time.time()
    sweep = {}
    print(f"gamma sweep at {args.sweep_bits} bits: {args.gammas}", flush=True)
    for g in args.gammas:
        sweep[g] = fit(methods.CDHCR, ds, args.sweep_bits, args.epochs, args.eval_every, gamma=float(g))
    comparison = {}
    print("CDHCR vs DCMH", flush=True)
    default_gamma = methods.CDHCR.small().config.gamma
    for bits in args.bits:
        if bits == args.sweep_bits and default_gamma in sweep:
            comparison[("CDHCR", bits)] = sweep[default_gamma]
        else:
            comparison[("CDHCR", bits)] = fit(methods.CDHCR, ds, bits, args.epochs, args.eval_every)
        comparison[("DCMH", bits)] = fit(methods.DCMH, ds, bits, args.epochs, args.eval_every)

    radii = [r for r in (0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32) if r <= args.sweep_bits // 2]
    if sweep:
        print(f"\n### gamma sweep: CDHCR at {args.sweep_bits} bits, precision within Hamming radius r "
          "(per query, mean of I->T and T->I)\n")
        print("| gamma | " + " | ".join(f"r={r}" for r in radii) + " | mAP I->T | mAP T->I |")
        print("|---|" + "---|" * (len(radii) + 2))
    for g, s in sweep.items():
        p = 0.5 * (np.array(s["p_r_i2t"]) + np.array(s["p_r_t2i"]))
        print(f"| {g:g} | " + " | ".join(f"{p[r]:.3f}" for r in radii) +
              f" | {s['map_i2t']:.4f} | {s['map_t2i']:.4f} |")
    print("\n### CDHCR vs DCMH (same toy split; P@r<=2 per query, empty ball = 0)\n")
    print("| method | bits | mAP I->T | mAP T->I | P@r<=2 I->T | P@r<=2 T->I | empty balls I->T | empty balls T->I |")
    print("|---|---|---|---|---|---|---|---|")
    for bits in args.bits:
        for name in ("DCMH", "CDHCR"):
            s = comparison[(name, bits)]
            print(f"| {name} | {bits} | {s['map_i2t']:.4f} | {s['map_t2i']:.4f} | {s['p2_i2t']:.4f} | "
                  f"{s['p2_t2i']:.4f} | {s['empty2_i2t']:.1%} | {s['empty2_t2i']:.1%} |")
    print(f"\ntotal {time.time() - t_all:.0f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "split": ds.split.as_dict(),
                       "sweep": {str(g): s for g, s in sweep.items()},
                       "comparison": {f"{k[0]}-{k[1]}": v for k, v in comparison.items()}}, fh, indent=1)


if __name__ == "__main__":
    main()
