"""Layout ``name-list``: image file names + tag matrix + label matrix + a folder of images.

torchcmh's ``imgList.mat`` (``FAll`` or ``imgs``), ``tagList.mat`` (``YAll`` or ``tags``), ``labelList.mat``
(``LAll`` or ``labels``); the DJSRH/UCCH "cleared set" ``<name>-fall.mat`` (``FAll``) with ``-yall.mat`` /
``-lall.mat``; or an ``all_imgs.txt`` list (the MATH / CLIP-toolkit cleaned lists) with the two matrices.
Image paths are found as given, relative to the folder (or ``images_root``), or by file name below it.
Written by :func:`hashnotes.data.writers.write_name_list`.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..matio import _infer_n, _orient
from . import dcmh_mat
from .common import (Layout, ReadOptions, Raw, Scan, pick, read_lines, read_numeric, read_strings, resolve_images,
                     to_labels, to_texts, unique)

LAYOUT = Layout("name-list", "FAll or imgs (image names) + YAll or tags + LAll or labels: imgList.mat / "
                "tagList.mat / labelList.mat, <name>-fall/-yall/-lall.mat, or all_imgs.txt + the matrices; "
                "plus the image files",
                "names: n x 1 cell array or char matrix; matrices n x d, n x l (transposes matched by n)",
                "torchcmh (deep-cross-modal-hashing); DJSRH / UCCH cleared sets; MATH all_imgs.txt")

NAME_KEYS = ("FAll", "imgs", "img_names", "image_names", "imgList", "names", "files", "paths", "index")


def detect(scan: Scan) -> dict | None:
    nm = [v for v in pick(scan.flat, NAME_KEYS, kind="strings") if v.name.lower() != "index"]
    txt_list = next((p for n, p in sorted(scan.names.items()) if re.fullmatch(r"(.*[-_])?(all_)?imgs?\.txt", n)),
                    None)
    ws = dcmh_mat.whole_set(scan)
    if (nm or txt_list) and ws:
        return {"names": nm[0] if nm else txt_list, "texts": ws[0], "labels": ws[1]}
    return None


def read(found: dict, scan: Scan, options: ReadOptions) -> Raw:
    vs = found
    txt_v, lab_v = unique(vs["texts"], "texts"), unique(vs["labels"], "labels")
    lab_raw, txt_raw = read_numeric(lab_v), read_numeric(txt_v)
    n = _infer_n({"labels": lab_raw, "texts": txt_raw})
    labels = to_labels(_orient(*lab_raw, n=n, name="labels", lazy_ok=False), n, lab_v.name)
    texts = to_texts(txt_raw, n, txt_v.name)
    src = vs["names"]
    names = [s for s in read_lines(src) if s] if isinstance(src, Path) else read_strings(src, n)
    name_file = src if isinstance(src, Path) else src.file
    if len(names) != n:
        raise ValueError(f"{name_file.name} lists {len(names)} image names but {lab_v.file.name} has {n} label rows")
    paths, keep = resolve_images(names, [options.images_root, scan.root], options.missing_images, "name-list")
    return Raw(images=paths, labels=labels[keep], texts=texts[keep],
               files={"names": name_file, "texts": txt_v.file, "labels": lab_v.file},
               notes={"keys": {"names": getattr(src, "name", src.name), "texts": txt_v.name, "labels": lab_v.name},
                      "dropped_missing_images": int((~keep).sum()), "kept_rows": np.nonzero(keep)[0]})
