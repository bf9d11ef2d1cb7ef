"""The 730 real MIRFLICKR photos laid out as each image layout, trained through the command line.

The real files of the project's shared data (the thumbnails of im1-im1000 that are among the 20,015 DCMH
pairs, their ``YAll`` / ``LAll`` rows and their raw Flickr tags) are rearranged in a temporary folder the way
four toolkits ship MIRFLICKR-25K (``dcmh-mat``, ``name-list``, ``clip-index``, ``hdf5-split``), and
``python -m hashnotes train dcmh cca --data DIR --bits 16 --preset small --json`` runs on each, for three
seeds. The image input is the command line's default for real photos: the scikit-image descriptor. The
random-codes floor is the mAP of seeded random {-1,+1} codes on the same split (mean of 20 draws).

    .venv/bin/python experiments/real_mirflickr_layouts.py                  # 4 layouts x 3 seeds (~10 min)
    .venv/bin/python experiments/real_mirflickr_layouts.py --layouts name-list --seeds 0
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from hashnotes import data
from hashnotes.data import writers as W

LAYOUTS = ("dcmh-mat", "name-list", "clip-index", "hdf5-split")


def photos(size: int = 64):
    """The 730 real photos (pixels at ``size``), their YAll / LAll rows, raw tags and files."""
    return data.mirflickr_photos(size=size)


def arrange(root, layout: str, ph, seed: int = 0) -> Path:
    """Write the real photos ``ph`` (:func:`photos`) in ``layout`` under ``root``; returns the data folder."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    p = ph.pairs
    txt, lab = p.texts.astype(np.uint8), p.labels
    names = [Path(f).name for f in ph.files]
    if layout in ("name-list", "clip-index"):
        img_dir = root / "mirflickr"
        img_dir.mkdir(exist_ok=True)
        for f, nm in zip(ph.files, names):
            if not (img_dir / nm).exists():
                os.symlink(f, img_dir / nm)
    if layout == "dcmh-mat":  # the DCMH release: IAll (MATLAB v7.3), YAll, LAll in three files
        W.write_dcmh_mat(root, np.asarray(p.images), txt, lab, prefix="mirflickr25k", v73=True)
    elif layout == "name-list":  # torchcmh: imgList.mat (FAll), tagList.mat (YAll), labelList.mat (LAll)
        W.write_name_list(root, names, txt, lab, style="torchcmh")
    elif layout == "clip-index":  # CLIP toolkits: paths as written on the maker's machine, raw tags as captions
        W.write_clip_index(root, [f"./flickr25k/mirflickr/{nm}" for nm in names], [",".join(t) for t in ph.tags],
                           lab, label_key="category")
    elif layout == "hdf5-split":  # DAPH: train / test (query) / data_set (database) keys, items first
        sp = data.make_split(len(lab), "scaled", seed=seed)
        img = np.asarray(p.images)
        parts = {k: (img[idx], txt[idx], lab[idx]) for k, idx in
                 (("train", sp.train), ("query", sp.query), ("database", sp.database))}
        W.write_hdf5_split(root / "mirflickr25k.h5", parts, style="daph")
    else:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    return root


def random_floor(ds, bits: int = 16, draws: int = 20, seed: int = 0) -> tuple[float, float]:
    """Mean I->T and T->I mAP of seeded random codes on ``ds``'s query / database split."""
    from hashnotes.metrics import mean_average_precision

    rng = np.random.default_rng(seed)
    ql, dl = ds.query.labels, ds.database.labels
    out = []
    for _ in range(draws):
        def codes(m):
            return np.where(rng.random((m, bits)) < 0.5, 1, -1).astype(np.int8)

        qi, qt, di, dt = codes(len(ql)), codes(len(ql)), codes(len(dl)), codes(len(dl))
        out.append((mean_average_precision(qi, dt, ql, dl), mean_average_precision(qt, di, ql, dl)))
    return tuple(float(x) for x in np.mean(out, axis=0))


def cli(folder, seed: int, bits: int = 16, epochs: int | None = None, methods=("dcmh", "cca")) -> list[dict]:
    cmd = [sys.executable, "-m", "hashnotes", "train", *methods, "--data", str(folder), "--bits", str(bits),
           "--preset", "small", "--json", "--seed", str(seed), "--threads", "1"]
    if epochs is not None:
        cmd += ["--epochs", str(epochs)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{r.stderr}")
    return [json.loads(line) for line in r.stdout.strip().splitlines()]


def _fmt(vals) -> str:
    a = np.asarray(vals, dtype=float)
    return f"{a.mean():.3f} ± {a.std(ddof=1) if len(a) > 1 else 0.0:.3f}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layouts", nargs="+", default=list(LAYOUTS), choices=LAYOUTS)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--bits", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--json", default=None, help="also write every row to this file")
    args = ap.parse_args(argv)
    if data.shared_data_dir() is None:
        sys.exit("needs the project's shared data (../shared/data or $HASHNOTES_DATA)")
    ph = photos(size=64)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for layout in args.layouts:
            for seed in args.seeds:
                folder = arrange(Path(tmp) / f"{layout}-{seed}", layout, ph, seed=seed)
                rows = cli(folder, seed, bits=args.bits, epochs=args.epochs)
                ds = data.load(folder, seed=seed, image_features="auto", verbose=False)
                floor = random_floor(ds, bits=args.bits, seed=seed)
                for r in rows:
                    results.setdefault((layout, r["method"]), []).append((r["map_i2t"], r["map_t2i"], r))
                results.setdefault((layout, "random"), []).append((*floor, None))
                print(f"{layout} seed {seed}: " + ", ".join(f"{r['method']} {r['map_i2t']:.3f}/{r['map_t2i']:.3f}"
                                                            for r in rows)
                      + f", random {floor[0]:.3f}/{floor[1]:.3f}", flush=True)
    print(f"\n| layout | method | I→T mAP@all | T→I mAP@all |  ({args.bits} bits, seeds {args.seeds}, mean ± sd)")
    print("|---|---|---|---|")
    for layout in args.layouts:
        for method in ("random", "cca", "dcmh"):
            vals = results[(layout, method)]
            print(f"| {layout} | {method} | {_fmt([v[0] for v in vals])} | {_fmt([v[1] for v in vals])} |")
    if args.json:
        Path(args.json).write_text(json.dumps([{"layout": k[0], "method": k[1], "map_i2t": v[0], "map_t2i": v[1]}
                                               for k, vs in results.items() for v in vs]))


if __name__ == "__main__":
    main()
