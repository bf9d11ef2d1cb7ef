"""Layout ``split-mat``: pre-split feature files.

``I_tr``/``T_tr``/``L_tr`` (train), ``I_te``/``T_te``/``L_te`` (query) and optionally ``I_db``/``T_db``/``L_db``
(database), in one ``.mat`` or in ``*train*``/``*query*``/``*database*`` files (the layout of the SRLCH
Wikipedia file and of the DADH/DCHUC-style ``mir_train.mat``, ``mir_query.mat``, ``mir_database.mat``
releases). Without a database part the training part is the database (Wikipedia). Class-index labels (one
column of ids) become one-hot. Written by :func:`hashnotes.data.writers.write_split_mat`.
"""
from __future__ import annotations

import numpy as np

from ..matio import _infer_n, _orient
from .common import Layout, ReadOptions, Raw, Scan, pick, read_numeric, stack_parts, to_labels, to_texts, unique

LAYOUT = Layout("split-mat", "I_tr/T_tr/L_tr, I_te/T_te/L_te [, I_db/T_db/L_db] in one .mat or "
                "*train* / *query*|*test* / *database*|*db* files",
                "n x d per part (v7.3: d x n on disk); labels n x l or n x 1 class ids",
                "SRLCH wikiData.mat (Rasiwasia et al. 2010); DADH / DCHUC-style mir_train/query/database.mat")


def detect(scan: Scan) -> dict | None:
    v = scan.flat
    return {} if pick(v, ("I_tr",)) and pick(v, ("L_tr",)) and pick(v, ("I_te",)) else None


def read(found: dict, scan: Scan, options: ReadOptions) -> Raw:
    vars_ = scan.flat
    parts, used = {}, {}
    for part, sfx in (("train", "tr"), ("query", "te"), ("database", "db")):
        vi, vt, vl = (pick(vars_, (f"{p}_{sfx}",)) for p in ("I", "T", "L"))
        if not (vi and vt and vl):
            if part == "database" and not (vi or vt or vl):
                continue
            missing = [f"{p}_{sfx}" for p, v in zip("ITL", (vi, vt, vl)) if not v]
            raise ValueError(f"split-mat: the {part} part lacks {missing}")
        vi, vt, vl = (unique(v, f"{v[0].name}") for v in (vi, vt, vl))
        lab_raw, txt_raw, img_raw = read_numeric(vl), read_numeric(vt), read_numeric(vi)
        n = _infer_n({"labels": lab_raw, "texts": txt_raw, "images": img_raw})
        lab = to_labels(_orient(*lab_raw, n=n, name=vl.name, lazy_ok=False), n, vl.name)
        txt = to_texts(txt_raw, n, vt.name)
        img = np.asarray(_orient(*img_raw, n=n, name=vi.name, lazy_ok=False))
        parts[part] = (img.astype(np.float32) if img.ndim == 2 else img, txt, lab)
        used.update({f"{part}_images": vi.file, f"{part}_texts": vt.file, f"{part}_labels": vl.file})
    raw = stack_parts(parts)
    raw.files = {k: v for k, v in used.items()}
    raw.notes = {"parts": sorted(parts)}
    return raw
