"""Layout ``hdf5-split``: one HDF5 file with train / query / database parts.

DAPH's flat keys ``train_data``/``train_y``/``train_L``, ``test_data``/``test_y``/``test_L``,
``data_set``/``dataset_y``/``dataset_L``, or groups ``train``, ``query`` (or ``test``), ``database`` (or
``retrieval``/``db``) holding ``images``, ``texts``, ``labels``. Written by
:func:`hashnotes.data.writers.write_hdf5_split`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..matio import _infer_n, _orient
from .common import Layout, ReadOptions, Raw, Scan, pick, stack_parts, to_labels, to_texts

LAYOUT = Layout("hdf5-split", "train_data/train_y/train_L, test_data/test_y/test_L, data_set/dataset_y/"
                "dataset_L, or groups train, query|test, database|retrieval with images/texts/labels",
                "items first as numpy writes them (n, ...); pixels (n, C, H, W) or (n, H, W, C); "
                "transposed arrays matched by n",
                "DAPH (data-aware proxy hashing) h5 files; generic HDF5 exports")

PART_NAMES = {"train": ("train", "tr"), "query": ("query", "test", "te"),
              "database": ("database", "retrieval", "db", "data_set", "dataset")}


def detect(scan: Scan) -> dict | None:
    """DAPH's flat keys or part groups."""
    h5vars = scan.h5
    daph = {p: pick(h5vars, (k,)) for p, k in (("train", "train_L"), ("query", "test_L"), ("database", "dataset_L"))}
    groups = {}
    for part, aliases in PART_NAMES.items():
        for v in h5vars:
            if "/" in v.name and v.name.split("/")[0].lower() in aliases:
                groups.setdefault(part, v.file)
    if all(daph.values()) or {"train", "query"} <= set(groups):
        return {"file": (daph["train"][0].file if all(daph.values()) else groups["train"]),
                "style": "daph" if all(daph.values()) else "groups"}
    return None


def read(found: dict, scan: Scan, options: ReadOptions) -> Raw:
    import h5py

    f = h5py.File(str(found["file"]), "r")
    matlab = f.userblock_size >= 128
    keys = {"daph": {"train": ("train_data", "train_y", "train_L"), "query": ("test_data", "test_y", "test_L"),
                     "database": ("data_set", "dataset_y", "dataset_L")}}
    parts, used = {}, {}
    groups = {k.lower(): k for k in f.keys() if isinstance(f[k], h5py.Group)}
    for part, aliases in PART_NAMES.items():
        if found["style"] == "daph":
            names = keys["daph"][part]
            if names[2] not in f:
                continue
            ds = [f[k] for k in names]
        else:
            g = next((f[groups[a]] for a in aliases if a in groups), None)
            if g is None:
                continue
            members = {k.lower(): k for k in g.keys()}
            chosen = []
            for role, cand in (("images", ("images", "image", "img", "imgs", "I", "data", "features")),
                               ("texts", ("texts", "text", "tags", "T", "y", "captions")),
                               ("labels", ("labels", "label", "L", "category"))):
                k = next((members[c.lower()] for c in cand if c.lower() in members), None)
                if k is None:
                    raise ValueError(f"hdf5-split: group {g.name!r} has no {role} dataset; accepted names {cand}, "
                                     f"found {sorted(g.keys())}")
                chosen.append(g[k])
            ds = chosen
        rev = matlab or "MATLAB_class" in ds[2].attrs
        n = _infer_n({"labels": (ds[2], rev), "texts": (ds[1], rev), "images": (ds[0], rev)})
        lab = to_labels(_orient(ds[2][()], rev, n=n, name=ds[2].name, lazy_ok=False), n, ds[2].name)
        txt = to_texts((ds[1][()], rev), n, ds[1].name)
        img = _orient(ds[0], rev, n=n, name=ds[0].name, lazy_ok=True) if ds[0].ndim == 4 else \
            np.asarray(_orient(ds[0][()], rev, n=n, name=ds[0].name, lazy_ok=False), dtype=np.float32)
        parts[part] = (img, txt, lab)
        used[part] = [d.name for d in ds]
    if "train" not in parts or "query" not in parts:
        raise ValueError(f"hdf5-split: {found['file']} needs at least a train and a query part; found {sorted(parts)}")
    raw = stack_parts(parts)
    raw.files = {"hdf5": Path(found["file"])}
    raw.notes = {"keys": used, "style": found["style"]}
    return raw
