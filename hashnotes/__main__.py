"""Command line: ``python -m hashnotes train METHOD [METHOD ...] --data toy --bits 16 32 64 --preset small``.

Trains each method at each code length on the dataset's training split (validation split for model
selection), evaluates I->T and T->I mAP on query vs database, and prints a table, or with ``--json``
one JSON object per (method, bits) line.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time

DATASETS = ("toy", "mirflickr25k", "nuswide", "iapr", "mscoco", "wiki")
_COLUMNS = ("method", "bits", "map_i2t", "map_t2i", "p_at_r2_i2t", "p_at_r2_t2i", "epochs", "seconds")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hashnotes", description="Deep cross-modal hashing: train and evaluate.")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train methods and report retrieval mAP on the query/database split")
    t.add_argument("methods", nargs="+", metavar="METHOD", help="method names, e.g. dcmh cca cdhcr tdh")
    t.add_argument("--data", default="toy", choices=DATASETS, help="dataset (default: toy, embedded)")
    t.add_argument("--root", default=None, help="folder holding the dataset files (real datasets)")
    t.add_argument("--bits", nargs="+", type=int, default=[16, 32, 64], help="code lengths (default 16 32 64)")
    t.add_argument("--preset", default="small", choices=("small", "paper"), help="settings preset")
    t.add_argument("--seed", type=int, default=0, help="seed of the split and of training (default 0)")
    t.add_argument("--epochs", type=int, default=None, help="override the preset's number of epochs")
    t.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1 ...")
    t.add_argument("--toy-n", type=int, default=10000, help="number of toy pairs (default 10000)")
    t.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    t.add_argument("--save-dir", default=None, help="save each trained model here as METHOD-BITS.pt")
    t.add_argument("--progress", action="store_true", help="show progress bars (stderr)")
    t.add_argument("--json", action="store_true", help="print one JSON object per (method, bits) line")
    from . import index  # the `index` command (faiss); its parser and logic live in hashnotes/index.py
    index.add_parser(sub)
    return p


def load_dataset(name: str, root=None, seed: int = 0, toy_n: int = 10000):
    """The dataset ``name`` cut by its standard protocol split (seeded)."""
    from . import data

    if name == "toy":
        return data.toy(n=toy_n, seed=seed)
    if name == "wiki":
        return data.wiki(root=root, seed=seed)
    if name == "mirflickr25k":  # training needs pixels: the loader explains where IAll is looked for
        ds = data.mirflickr25k(root=root, seed=seed, images="pixels")
    else:
        ds = {"nuswide": data.nuswide, "iapr": data.iapr, "mscoco": data.mscoco}[name](root=root, seed=seed)
    import numpy as np

    if np.ndim(ds.train.images) not in (2, 4):
        raise ValueError(f"--data {name}: the files under {root!r} give no image pixels or features "
                         f"(images have shape {np.shape(ds.train.images)}); training needs them")
    return ds


def build_model(method: str, bits: int, preset: str, seed: int, epochs=None, device: str = "auto"):
    """``methods.get(method).<preset>(bits=bits, ...)`` with the overrides its config supports."""
    from . import methods

    cls = methods.get(method)
    fields = {f.name for f in dataclasses.fields(cls.config_class)}
    overrides = {"seed": seed, "device": device}
    if epochs is not None:
        if epochs < 1:
            raise ValueError(f"--epochs must be >= 1, got {epochs}")
        overrides["epochs"] = epochs
    overrides = {k: v for k, v in overrides.items() if k in fields}
    return getattr(cls, preset)(bits=bits, **overrides)


def run(args) -> list[dict]:
    import torch

    from .train import resolve_device

    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    device = str(resolve_device(args.device))
    models = [(m, b, build_model(m, b, args.preset, args.seed, args.epochs, device))
              for m in args.methods for b in args.bits]  # validate every name/bits before loading data
    ds = load_dataset(args.data, root=args.root, seed=args.seed, toy_n=args.toy_n)
    rows = []
    if not args.json:
        print(_format_row({c: c for c in _COLUMNS}), flush=True)
    for method, bits, model in models:
        t0 = time.perf_counter()
        model.fit(ds.train, val=ds.val, device=device, progress=args.progress)
        res = model.evaluate(ds)
        seconds = time.perf_counter() - t0
        row = {"method": method.lower(), "bits": int(bits), "map_i2t": res["map_i2t"], "map_t2i": res["map_t2i"],
               "p_at_r2_i2t": res["p_at_r2_i2t"], "p_at_r2_t2i": res["p_at_r2_t2i"], "seconds": round(seconds, 3),
               "epochs": len(getattr(model, "history", []) or []), "best_epoch": getattr(model, "best_epoch", None),
               "preset": args.preset, "data": args.data, "split": res["split"], "device": device,
               "seed": args.seed}
        hist = getattr(model, "history", None) or []
        if hist and "seconds" in hist[0]:
            row["seconds_per_epoch"] = round(sum(h["seconds"] for h in hist) / len(hist), 4)
        if args.save_dir:
            from pathlib import Path

            model.save(Path(args.save_dir) / f"{method.lower()}-{bits}.pt")
        rows.append(row)
        print(json.dumps(row) if args.json else _format_row(row), flush=True)
    return rows


def _format_row(row: dict) -> str:
    cells = []
    for c in _COLUMNS:
        v = row.get(c, "")
        if isinstance(v, float):
            v = f"{v:.1f}" if c == "seconds" else f"{v:.4f}"
        cells.append(f"{str(v):>12}" if c != "method" else f"{str(v):<8}")
    return " ".join(cells)


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "train":
            run(args)
        elif args.command == "index":
            from . import index
            return index.run(args)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
