"""Layout ``clip-index``: image-path index + raw captions + labels.

As the CLIP-based toolkits (DCHMT, MITH, DSPH, DNPH ...) ship MIRFLICKR-25K, NUS-WIDE and MS-COCO:
``index.mat`` (``index``: one path per item), ``caption.mat`` (``caption``) or ``caption.txt`` (one line per
item), ``label.mat`` (``label`` or ``category``). The captions become vectors with a
:class:`~hashnotes.data.text.TextVectorizer` fitted on the training split. Written by
:func:`hashnotes.data.writers.write_clip_index`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..matio import _orient
from .common import Layout, ReadOptions, Raw, Scan, pick, read_lines, read_numeric, read_strings, resolve_images, to_labels

LAYOUT = Layout("clip-index", "index.mat (index) + caption.mat (caption) or caption.txt + label.mat "
                "(label or category); plus the image files",
                "index: n paths (char matrix or cell); captions: n strings (or n x k, joined); labels n x l",
                "CLIP-based toolkits: DCHMT (ACM MM 2022), MITH (ACM MM 2023), DSPH, DNPH")

CAPTION_KEYS = ("caption", "captions", "text", "texts", "sentences")
LABEL_KEYS = ("label", "category", "labels", "LAll")


def detect(scan: Scan) -> dict | None:
    idx = pick(scan.flat, ("index",), kind="strings", file_re=r"index")
    cap = pick(scan.flat, CAPTION_KEYS, kind="strings", file_re=r"caption")
    lab = pick(scan.flat, LABEL_KEYS, kind="numeric", file_re=r"label")
    cap_txt = scan.names.get("caption.txt") or scan.names.get("captions.txt")
    if idx and lab and (cap or cap_txt):
        return {"index": idx[0], "captions": cap[0] if cap else cap_txt, "labels": lab[0]}
    return None


def read(found: dict, scan: Scan, options: ReadOptions) -> Raw:
    vs = found
    lab_v = vs["labels"]
    lab_raw = read_numeric(lab_v)
    index = read_strings(vs["index"])
    n = len(index)
    labels = to_labels(_orient(*lab_raw, n=n, name="labels", lazy_ok=False), n, lab_v.name)
    cap = vs["captions"]
    captions = read_lines(cap) if isinstance(cap, Path) else read_strings(cap, n)
    if isinstance(cap, Path) and len(captions) == n + 1 and captions[-1] == "":
        captions = captions[:-1]
    cap_file = cap if isinstance(cap, Path) else cap.file
    for what, m, f in (("index", len(index), vs["index"].file), ("captions", len(captions), cap_file)):
        if m != n:
            raise ValueError(f"{f.name} has {m} {what} entries but {lab_v.file.name} has {n} label rows")
    paths, keep = resolve_images(index, [options.images_root, scan.root], options.missing_images, "clip-index")
    return Raw(images=paths, labels=labels[keep], strings=[c for c, k in zip(captions, keep) if k],
               files={"index": vs["index"].file, "captions": cap_file, "labels": lab_v.file},
               notes={"keys": {"index": vs["index"].name, "captions": getattr(cap, "name", "lines"),
                               "labels": lab_v.name},
                      "dropped_missing_images": int((~keep).sum()), "kept_rows": np.nonzero(keep)[0]})
