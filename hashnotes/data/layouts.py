"""One entry point for real data as researchers have it on disk: :func:`load`.

``load(path)`` looks at a folder (or a single file), decides which of the common layouts it holds, reads it
into one :class:`~hashnotes.data.base.CrossModalDataset` cut by a protocol split, and says which layout it
found; when it finds none, the error lists what each layout looks for. The layouts (see :data:`LAYOUTS`):

``dcmh-mat``
    ``IAll`` pixels, ``YAll`` bag of words, ``LAll`` labels for the whole set, MATLAB v5 or v7.3 (HDF5),
    one merged file or one file per array (the DCMH release and its MIRFLICKR-25K / NUS-WIDE / IAPR TC-12
    files ``<name>-iall.mat``, ``-yall.mat``, ``-lall.mat``). Read by :func:`~hashnotes.data.load_dcmh_mat`'s
    machinery; v7.3 pixels stay on disk.
``feature-mat``
    The same whole-set layout with image *features* instead of pixels: ``<name>-iall-vgg.mat`` with
    ``XAll`` (VGG fc7, n x 4096) next to ``-yall.mat`` / ``-lall.mat``, as shipped by DJSRH, UCCH, DGCPN and
    other unsupervised-hashing toolkits.
``split-mat``
    Pre-split feature files: ``I_tr``/``T_tr``/``L_tr`` (train), ``I_te``/``T_te``/``L_te`` (query) and
    optionally ``I_db``/``T_db``/``L_db`` (database), in one ``.mat`` or in ``*train*``/``*query*``/
    ``*database*`` files (the layout of the SRLCH Wikipedia file and of the DADH/DCHUC-style ``mir_train.mat``,
    ``mir_query.mat``, ``mir_database.mat`` releases). Without a database part the training part is the
    database (Wikipedia). Class-index labels (one column of ids) become one-hot.
``name-list``
    Image file names + tag matrix + label matrix + a folder of images: torchcmh's ``imgList.mat`` (``FAll``
    or ``imgs``), ``tagList.mat`` (``YAll`` or ``tags``), ``labelList.mat`` (``LAll`` or ``labels``); the
    DJSRH/UCCH "cleared set" ``<name>-fall.mat`` (``FAll``) with ``-yall.mat`` / ``-lall.mat``; or an
    ``all_imgs.txt`` list (the MATH / CLIP-toolkit cleaned lists) with the two matrices.
``clip-index``
    Image-path index + raw captions + labels, as the CLIP-based toolkits (DCHMT, MITH, DSPH, DNPH ...) ship
    MIRFLICKR-25K, NUS-WIDE and MS-COCO: ``index.mat`` (``index``: one path per item), ``caption.mat``
    (``caption``) or ``caption.txt`` (one line per item), ``label.mat`` (``label`` or ``category``). The
    captions become vectors with a :class:`~hashnotes.data.text.TextVectorizer` fitted on the training split.
``hdf5-split``
    One HDF5 file with train / query / database parts: DAPH's flat keys ``train_data``/``train_y``/``train_L``,
    ``test_data``/``test_y``/``test_L``, ``data_set``/``dataset_y``/``dataset_L``, or groups ``train``,
    ``query`` (or ``test``), ``database`` (or ``retrieval``/``db``) holding ``images``, ``texts``, ``labels``.

Orientation: every array is turned items-first by matching the item count across the arrays of one set
(MATLAB writes ``d x n`` and v7.3 files store every array transposed), pixels become ``(n, C, H, W)``.
Image paths are found as given, relative to the folder (or ``images_root``), or by file name anywhere
below the folder.
"""
from __future__ import annotations

import hashlib
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .base import PairSet, Split
from .images import IMAGE_EXTENSIONS, ImageFiles, cnn_features, image_descriptors
from .loaders import (LABEL_KEYS, MIRFLICKR_LABELS, TEXT_KEYS, WIKI_LABELS, LazyImages, _infer_n, _is_hdf5,
                      _mat_keys, _orient)
from .protocol import PROTOCOLS, apply_split, make_split
from .text import TextVectorizer

__all__ = ["load", "detect_layout", "LAYOUTS", "Layout", "file_digest"]


class Layout(NamedTuple):
    name: str
    keys: str
    orientation: str
    source: str


LAYOUTS: dict[str, Layout] = {
    "dcmh-mat": Layout("dcmh-mat", "IAll / YAll / LAll (one merged .mat or <name>-iall/-yall/-lall.mat; v5 or v7.3)",
                       "as MATLAB saves them: IAll H x W x C x n (v7.3 on disk: reversed), YAll n x d, LAll n x l; "
                       "any axis order is matched by n",
                       "DCMH (Jiang & Li, CVPR 2017) release; its MIRFLICKR-25K, NUS-WIDE, IAPR TC-12 files"),
    "feature-mat": Layout("feature-mat", "XAll in <name>-iall-vgg.mat + YAll (-yall.mat) + LAll (-lall.mat)",
                          "n x 4096 VGG fc7, n x d, n x l (transposes matched by n)",
                          "DJSRH / UCCH / DGCPN unsupervised-hashing releases"),
    "split-mat": Layout("split-mat", "I_tr/T_tr/L_tr, I_te/T_te/L_te [, I_db/T_db/L_db] in one .mat or "
                        "*train* / *query*|*test* / *database*|*db* files",
                        "n x d per part (v7.3: d x n on disk); labels n x l or n x 1 class ids",
                        "SRLCH wikiData.mat (Rasiwasia et al. 2010); DADH / DCHUC-style mir_train/query/database.mat"),
    "name-list": Layout("name-list", "FAll or imgs (image names) + YAll or tags + LAll or labels: imgList.mat / "
                        "tagList.mat / labelList.mat, <name>-fall/-yall/-lall.mat, or all_imgs.txt + the matrices; "
                        "plus the image files",
                        "names: n x 1 cell array or char matrix; matrices n x d, n x l (transposes matched by n)",
                        "torchcmh (deep-cross-modal-hashing); DJSRH / UCCH cleared sets; MATH all_imgs.txt"),
    "clip-index": Layout("clip-index", "index.mat (index) + caption.mat (caption) or caption.txt + label.mat "
                         "(label or category); plus the image files",
                         "index: n paths (char matrix or cell); captions: n strings (or n x k, joined); "
                         "labels n x l",
                         "CLIP-based toolkits: DCHMT (ACM MM 2022), MITH (ACM MM 2023), DSPH, DNPH"),
    "hdf5-split": Layout("hdf5-split", "train_data/train_y/train_L, test_data/test_y/test_L, data_set/dataset_y/"
                         "dataset_L, or groups train, query|test, database|retrieval with images/texts/labels",
                         "items first as numpy writes them (n, ...); pixels (n, C, H, W) or (n, H, W, C); "
                         "transposed arrays matched by n",
                         "DAPH (data-aware proxy hashing) h5 files; generic HDF5 exports"),
}

_PRIORITY = ("clip-index", "name-list", "hdf5-split", "split-mat", "feature-mat", "dcmh-mat")
_NAME_KEYS = ("FAll", "imgs", "img_names", "image_names", "imgList", "names", "files", "paths", "index")
_PIXEL_KEYS = ("IAll", "images", "image", "imgs", "I", "X")
_FEATURE_KEYS = ("XAll", "IAll", "FAll", "features", "img_feats", "X", "images")
_CAPTION_KEYS = ("caption", "captions", "text", "texts", "sentences")
_CLIP_LABEL_KEYS = ("label", "category", "labels", "LAll")
_PART_NAMES = {"train": ("train", "tr"), "query": ("query", "test", "te"), "database": ("database", "retrieval",
                                                                                        "db", "data_set", "dataset")}
_HOW = ("pass a folder holding one of these layouts, a single .mat/.h5 file of the merged kinds, or layout=NAME "
        "to force one; the README's table lists each layout's keys and where it comes from")


# ================================================================================================ inventory
@dataclass
class _Var:
    file: Path
    name: str            # as stored (a group member is "group/name")
    kind: str            # "strings" or "numeric"
    shape: tuple         # as stored
    h5: bool


def _inventory(paths) -> list[_Var]:
    """Every variable of every .mat/.h5 file in ``paths`` with its kind, read from headers only."""
    out = []
    for f in paths:
        try:
            if _is_hdf5(f):
                import h5py

                with h5py.File(str(f), "r") as h:
                    def visit(name, obj):
                        if not isinstance(obj, h5py.Dataset) or name.startswith("#refs#") or name.count("/") > 1:
                            return
                        mcls = obj.attrs.get("MATLAB_class", b"")
                        mcls = mcls.decode() if isinstance(mcls, bytes) else str(mcls)
                        strings = (h5py.check_dtype(ref=obj.dtype) is not None or mcls in ("char", "cell")
                                   or obj.dtype.kind in ("S", "U", "O"))
                        out.append(_Var(f, name, "strings" if strings else "numeric", tuple(obj.shape), True))
                    h.visititems(visit)
            else:
                import scipy.io

                for name, shape, cls in scipy.io.whosmat(str(f)):
                    out.append(_Var(f, name, "strings" if cls in ("cell", "char") else "numeric", tuple(shape), False))
        except Exception:  # noqa: BLE001 - a file we cannot read is simply not part of any layout
            continue
    return out


def _files_in(root: Path, exts=(".mat", ".h5", ".hdf5")) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in exts)


def _pick(vars_, keys, kind=None, ndim=None, file_re=None):
    """Variables whose (last path part of the) name matches one of ``keys`` (case-insensitive), best first."""
    hits = []
    for rank, k in enumerate(keys):
        for v in vars_:
            base = v.name.split("/")[-1]
            if base.lower() != k.lower():
                continue
            if kind is not None and v.kind != kind:
                continue
            if ndim is not None and len(v.shape) not in ndim:
                continue
            if file_re is not None and not re.search(file_re, v.file.name, re.I):
                continue
            hits.append((rank, str(v.file), v))
    hits.sort(key=lambda t: (t[0], t[1]))
    return [h[2] for h in hits]


def _unique(hits, role: str):
    files = sorted({str(v.file) for v in hits})
    if len(files) > 1 and len({(v.name, v.file) for v in hits}) > 1:
        raise ValueError(f"{role}: several files hold a matching variable ({', '.join(Path(f).name for f in files)}); "
                         f"pass one file, or pattern='...' to choose (e.g. pattern='*-rand.mat')")
    return hits[0] if hits else None


class Detected(NamedTuple):
    layout: str
    root: Path
    vars: dict          # role -> _Var (or a Path for text files)
    also: tuple         # other layouts that matched too


def _detect_all(root: Path, files: list[Path], vars_: list[_Var]) -> dict[str, dict]:
    """Every layout whose keys are present, with the variables it would read."""
    found: dict[str, dict] = {}
    names = {p.name.lower(): p for p in (root.iterdir() if root.is_dir() else [])}
    h5vars = [v for v in vars_ if v.h5]
    vars_ = [v for v in vars_ if "/" not in v.name]  # members of HDF5 groups belong to hdf5-split only
    # clip-index
    idx = _pick(vars_, ("index",), kind="strings", file_re=r"index")
    cap = _pick(vars_, _CAPTION_KEYS, kind="strings", file_re=r"caption")
    lab = _pick(vars_, _CLIP_LABEL_KEYS, kind="numeric", file_re=r"label")
    cap_txt = names.get("caption.txt") or names.get("captions.txt")
    if idx and lab and (cap or cap_txt):
        found["clip-index"] = {"index": idx[0], "captions": cap[0] if cap else cap_txt, "labels": lab[0]}
    # name-list
    nm = [v for v in _pick(vars_, _NAME_KEYS, kind="strings") if v.name.lower() != "index"]
    txt_list = next((p for n, p in sorted(names.items()) if re.fullmatch(r"(.*[-_])?(all_)?imgs?\.txt", n)), None)
    y = _pick(vars_, TEXT_KEYS, kind="numeric", ndim=(1, 2))
    lab2 = _pick(vars_, LABEL_KEYS, kind="numeric", ndim=(1, 2))
    if (nm or txt_list) and y and lab2:
        found["name-list"] = {"names": nm[0] if nm else txt_list, "texts": y, "labels": lab2}
    # hdf5-split: DAPH flat keys or part groups
    daph = {p: _pick(h5vars, (k,)) for p, k in (("train", "train_L"), ("query", "test_L"), ("database", "dataset_L"))}
    groups = {}
    for part, aliases in _PART_NAMES.items():
        for v in h5vars:
            if "/" in v.name and v.name.split("/")[0].lower() in aliases:
                groups.setdefault(part, v.file)
    if all(daph.values()) or {"train", "query"} <= set(groups):
        found["hdf5-split"] = {"file": (daph["train"][0].file if all(daph.values()) else groups["train"]),
                               "style": "daph" if all(daph.values()) else "groups"}
    # split-mat
    if _pick(vars_, ("I_tr",)) and _pick(vars_, ("L_tr",)) and _pick(vars_, ("I_te",)):
        found["split-mat"] = {}
    # whole-set arrays: pixels (4-D) or features (2-D)
    if y and lab2:
        px = _pick(vars_, _PIXEL_KEYS, kind="numeric", ndim=(4,))
        ft = _pick(vars_, _FEATURE_KEYS, kind="numeric", ndim=(2,))
        if px:
            found["dcmh-mat"] = {"images": px, "texts": y, "labels": lab2}
        elif ft:
            found["feature-mat"] = {"images": ft, "texts": y, "labels": lab2}
    return found


def _scan(path, pattern=None):
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"data path {str(path)!r} does not exist")
    root = p if p.is_dir() else p.parent
    files = [p] if p.is_file() else _files_in(p)
    if pattern is not None:
        import fnmatch

        files = [f for f in files if fnmatch.fnmatch(f.name, pattern)]
    return p, root, files, _inventory(files)


def _not_found_message(p: Path, files, vars_) -> str:
    seen = sorted({f"{v.file.name}:{v.name}" for v in vars_})[:12]
    lines = [f"no known data layout in {str(p)!r}. Looked for:"]
    for name in _PRIORITY:
        lines.append(f"  - {name}: {LAYOUTS[name].keys}")
    lines.append(f"Found {len(files)} .mat/.h5 files" + (f" with variables {seen}" if seen else "")
                 + f". {_HOW}")
    return "\n".join(lines)


def detect_layout(path, pattern: str | None = None) -> Detected:
    """Which layout ``path`` holds (a folder or one file). ``FileNotFoundError`` lists what was looked for."""
    p, root, files, vars_ = _scan(path, pattern)
    found = _detect_all(root, files, vars_)
    if not found:
        raise FileNotFoundError(_not_found_message(p, files, vars_))
    order = [n for n in _PRIORITY if n in found]
    return Detected(order[0], root, found[order[0]], tuple(order[1:]))


# ================================================================================================ reading
def _h5_file(v: _Var):
    import h5py

    return h5py.File(str(v.file), "r")


def _read_numeric(v: _Var, lazy: bool = False):
    """(array_or_dataset, axes_reversed) as :func:`loaders._orient` wants it."""
    if v.h5:
        import h5py

        if lazy:
            f = h5py.File(str(v.file), "r")  # kept open while the lazy array needs it
            ds = f[v.name]
            return ds, "MATLAB_class" in ds.attrs or f.userblock_size >= 128
        with h5py.File(str(v.file), "r") as f:
            ds = f[v.name]
            return ds[()], "MATLAB_class" in ds.attrs or f.userblock_size >= 128
    keys = _mat_keys(v.file)
    return keys[v.name.lower()][1]()


def _cell_text(x) -> str:
    """One MATLAB cell element (or nested cell) -> str."""
    if isinstance(x, (str, np.str_)):
        return str(x).strip()
    if isinstance(x, bytes):
        return x.decode("utf-8", "replace").strip()
    a = np.asarray(x)
    if a.dtype.kind in ("U", "S"):
        return " ".join(str(s).strip() for s in a.ravel() if str(s).strip())
    if a.dtype == object:
        return " ".join(t for t in (_cell_text(e) for e in a.ravel()) if t)
    if a.dtype.kind in ("u", "i") and a.ndim <= 2:  # MATLAB char codes
        return "".join(chr(int(c)) for c in a.ravel() if int(c)).strip()
    raise ValueError(f"cannot read a string from a MATLAB value of dtype {a.dtype}")


def _read_strings(v: _Var, n: int | None = None) -> list[str]:
    """A cell array / char matrix of strings -> one str per item (several per item are joined)."""
    if v.h5:
        import h5py

        with _h5_file(v) as f:
            ds = f[v.name]
            if h5py.check_dtype(ref=ds.dtype) is not None:  # cell array: references to char arrays
                refs = ds[()]
                if n is not None and refs.shape[-1] == n and refs.shape[0] != n:
                    refs = refs.T  # MATLAB order: n x k
                elif refs.ndim == 2 and refs.shape[0] == 1:
                    refs = refs.T
                refs = refs.reshape(refs.shape[0], -1)
                return [" ".join(t for t in (_cell_text(f[r][()].T) for r in row) if t) for row in refs]
            data = ds[()]
            if data.dtype.kind in ("S", "O", "U"):
                return [_cell_text(x) for x in np.asarray(data).ravel()]
            data = np.asarray(data).T  # char matrix: stored L x n, MATLAB order n x L
            return ["".join(chr(int(c)) for c in row if int(c)).strip() for row in data.reshape(data.shape[0], -1)]
    import scipy.io

    a = scipy.io.loadmat(str(v.file), variable_names=[v.name])[v.name]
    if a.dtype.kind in ("U", "S"):
        if a.ndim >= 2 and n is not None and a.shape[0] != n and a.shape[-1] == n:
            a = np.moveaxis(a, -1, 0)
        a = a.reshape(a.shape[0], -1) if a.ndim else a.reshape(1, 1)
        return [" ".join(str(s).strip() for s in row if str(s).strip()) for row in a]
    if a.ndim == 2 and a.shape[0] == 1 and (n is None or a.shape[1] == n):
        a = a.T
    a = a.reshape(a.shape[0], -1)
    return [" ".join(t for t in (_cell_text(e) for e in row) if t) for row in a]


def _read_lines(path: Path) -> list[str]:
    with open(path, encoding="utf-8", errors="replace") as fh:
        return [line.rstrip("\r\n").strip() for line in fh]


def _labels(arr, n: int, name: str) -> np.ndarray:
    """(n, l) 0/1 multi-hot, or one column of class ids (one-hot, ids from their minimum)."""
    a = np.asarray(arr)
    if a.ndim == 1:
        a = a[:, None]
    if a.shape[0] != n and a.shape[-1] == n:
        a = a.T
    if a.shape[0] != n:
        raise ValueError(f"{name}: labels have shape {a.shape} but the set has {n} items")
    if not np.isfinite(a.astype(np.float64)).all():
        raise ValueError(f"{name}: labels contain NaN or inf")
    if a.shape[1] == 1 and not np.isin(a, (0, 1)).all():
        ids = a[:, 0].astype(np.int64)
        if not np.array_equal(ids, a[:, 0]) or ids.min() < 0:
            raise ValueError(f"{name}: a one-column label must hold non-negative class ids")
        lo = int(ids.min())
        out = np.zeros((n, int(ids.max()) - lo + 1), np.uint8)
        out[np.arange(n), ids - lo] = 1
        return out
    if not np.isin(a, (0, 1)).all():
        raise ValueError(f"{name}: labels must be a 0/1 multi-hot matrix (or one column of class ids); "
                         f"found values {np.unique(a)[:5]}")
    return a.astype(np.uint8)


def _texts(arr, n: int, name: str) -> np.ndarray:
    t = np.asarray(_orient(*arr, n=n, name=name, lazy_ok=False), dtype=np.float32)
    if not np.isfinite(t).all():
        raise ValueError(f"{name}: texts contain NaN or inf")
    return t


# ------------------------------------------------------------------------------------------ image paths
class _ImageIndex:
    """Find image files by the names a list gives: as given, under each root, or by file name below root."""

    def __init__(self, roots):
        self.roots = [Path(r) for r in roots if r is not None]
        self._by_name = None

    def _scan(self):
        self._by_name = {}
        for r in self.roots:
            for dirpath, dirnames, filenames in os.walk(r):
                dirnames.sort()
                depth = len(Path(dirpath).relative_to(r).parts)
                if depth >= 4:
                    dirnames[:] = []
                for fn in sorted(filenames):
                    if fn.lower().endswith(IMAGE_EXTENSIONS):
                        self._by_name.setdefault(fn, Path(dirpath) / fn)
                        self._by_name.setdefault(fn.lower(), Path(dirpath) / fn)

    def find(self, name: str):
        name = name.strip().replace("\\", "/")
        p = Path(name).expanduser()
        if p.is_absolute() and p.is_file():
            return p
        rel = name.lstrip("./") if name.startswith("./") else name
        for r in self.roots:
            if (r / rel).is_file():
                return r / rel
        if self._by_name is None:
            self._scan()
        base = Path(rel).name
        return self._by_name.get(base) or self._by_name.get(base.lower())


def _resolve_images(names: list[str], roots, missing: str, what: str):
    idx = _ImageIndex(roots)
    found = [idx.find(nm) for nm in names]
    absent = [i for i, f in enumerate(found) if f is None]
    if absent and missing == "error":
        ex = ", ".join(repr(names[i]) for i in absent[:3])
        raise FileNotFoundError(
            f"{what}: {len(absent)} of {len(names)} image files were not found (e.g. {ex}) as given, under "
            f"{[str(r) for r in idx.roots]} or by file name below them; pass images_root=DIR where the images "
            f"are, or missing_images='drop' to keep only the pairs whose image exists")
    keep = np.array([f is not None for f in found])
    return [f for f in found if f is not None], keep


# ------------------------------------------------------------------------------------------ readers
@dataclass
class _Raw:
    images: Any                      # pixels / features array, or a list of image paths
    labels: np.ndarray
    texts: np.ndarray | None = None
    strings: list | None = None
    parts: dict | None = None        # fixed split: {"query": idx, "database": idx, "train": idx, "train_in_db": b}
    files: dict = field(default_factory=dict)
    notes: dict = field(default_factory=dict)


def _read_whole_arrays(det: Detected, lazy: bool) -> _Raw:
    vs = det.vars
    img_v, txt_v, lab_v = (_unique(vs[k], f"{k}") for k in ("images", "texts", "labels"))
    lab_raw, txt_raw, img_raw = _read_numeric(lab_v), _read_numeric(txt_v), _read_numeric(img_v, lazy=lazy)
    n = _infer_n({"labels": lab_raw, "texts": txt_raw, "images": img_raw})
    labels = _labels(_orient(*lab_raw, n=n, name="labels", lazy_ok=False), n, lab_v.name)
    texts = _texts(txt_raw, n, txt_v.name)
    img = _orient(*img_raw, n=n, name=img_v.name, lazy_ok=lazy)
    if not isinstance(img, LazyImages):
        img = np.asarray(img)
        img = img.astype(np.float32) if img.ndim == 2 else img
    return _Raw(images=img, labels=labels, texts=texts,
                files={"images": img_v.file, "texts": txt_v.file, "labels": lab_v.file},
                notes={"keys": {"images": img_v.name, "texts": txt_v.name, "labels": lab_v.name}})


def _read_name_list(det: Detected, images_root, missing) -> _Raw:
    vs = det.vars
    txt_v, lab_v = _unique(vs["texts"], "texts"), _unique(vs["labels"], "labels")
    lab_raw, txt_raw = _read_numeric(lab_v), _read_numeric(txt_v)
    n = _infer_n({"labels": lab_raw, "texts": txt_raw})
    labels = _labels(_orient(*lab_raw, n=n, name="labels", lazy_ok=False), n, lab_v.name)
    texts = _texts(txt_raw, n, txt_v.name)
    src = vs["names"]
    names = [s for s in _read_lines(src) if s] if isinstance(src, Path) else _read_strings(src, n)
    name_file = src if isinstance(src, Path) else src.file
    if len(names) != n:
        raise ValueError(f"{name_file.name} lists {len(names)} image names but {lab_v.file.name} has {n} label rows")
    paths, keep = _resolve_images(names, [images_root, det.root], missing, "name-list")
    return _Raw(images=paths, labels=labels[keep], texts=texts[keep],
                files={"names": name_file, "texts": txt_v.file, "labels": lab_v.file},
                notes={"keys": {"names": getattr(src, "name", src.name), "texts": txt_v.name, "labels": lab_v.name},
                       "dropped_missing_images": int((~keep).sum()), "kept_rows": np.nonzero(keep)[0]})


def _read_clip_index(det: Detected, images_root, missing) -> _Raw:
    vs = det.vars
    lab_v = vs["labels"]
    lab_raw = _read_numeric(lab_v)
    index = _read_strings(vs["index"])
    n = len(index)
    labels = _labels(_orient(*lab_raw, n=n, name="labels", lazy_ok=False), n, lab_v.name)
    cap = vs["captions"]
    captions = _read_lines(cap) if isinstance(cap, Path) else _read_strings(cap, n)
    if isinstance(cap, Path) and len(captions) == n + 1 and captions[-1] == "":
        captions = captions[:-1]
    cap_file = cap if isinstance(cap, Path) else cap.file
    for what, m, f in (("index", len(index), vs["index"].file), ("captions", len(captions), cap_file)):
        if m != n:
            raise ValueError(f"{f.name} has {m} {what} entries but {lab_v.file.name} has {n} label rows")
    paths, keep = _resolve_images(index, [images_root, det.root], missing, "clip-index")
    return _Raw(images=paths, labels=labels[keep], strings=[c for c, k in zip(captions, keep) if k],
                files={"index": vs["index"].file, "captions": cap_file, "labels": lab_v.file},
                notes={"keys": {"index": vs["index"].name, "captions": getattr(cap, "name", "lines"),
                                "labels": lab_v.name},
                       "dropped_missing_images": int((~keep).sum()), "kept_rows": np.nonzero(keep)[0]})


def _stack_parts(parts: dict) -> _Raw:
    """parts: {"train"/"query"/"database": (images, texts, labels)} -> one set + a fixed split.

    The training items are looked up in the database by content (image, text and label rows); when every
    one is found there, train is a subset of the database (the DCMH convention); otherwise the training
    items are kept as extra rows outside the database.
    """
    q_img, q_txt, q_lab = parts["query"]
    tr_img, tr_txt, tr_lab = parts["train"]
    if "database" in parts:
        db_img, db_txt, db_lab = parts["database"]
        in_db = _match_rows((tr_img, tr_txt, tr_lab), (db_img, db_txt, db_lab))
    else:  # no database part (Wikipedia): the training part is the database
        db_img, db_txt, db_lab = tr_img, tr_txt, tr_lab
        in_db = np.arange(len(tr_lab))
    nq, nd = len(q_lab), len(db_lab)
    if in_db is not None:
        blocks, train = [(q_img, q_txt, q_lab), (db_img, db_txt, db_lab)], nq + in_db
    else:
        blocks, train = [(q_img, q_txt, q_lab), (db_img, db_txt, db_lab), (tr_img, tr_txt, tr_lab)], \
            nq + nd + np.arange(len(tr_lab))
    images = _concat([b[0] for b in blocks])
    texts = np.concatenate([np.asarray(b[1], np.float32) for b in blocks])
    widths = {b[2].shape[1] for b in blocks}
    if len(widths) != 1:
        raise ValueError(f"the parts' label matrices have different widths {sorted(widths)}")
    labels = np.concatenate([b[2] for b in blocks]).astype(np.uint8)
    return _Raw(images=images, labels=labels, texts=texts,
                parts={"query": np.arange(nq), "database": nq + np.arange(nd), "train": np.sort(train),
                       "train_in_database": in_db is not None})


def _concat(arrs):
    if all(isinstance(a, np.ndarray) for a in arrs):
        out = np.concatenate(arrs)
        return out.astype(np.float32) if out.ndim == 2 else out
    return np.concatenate([np.asarray(a) for a in arrs])  # lazy HDF5 parts of a fixed split: read them


def _row_keys(block) -> list[bytes]:
    img, txt, lab = block
    n = len(lab)
    keys = [hashlib.sha1() for _ in range(n)]
    for arr in (txt, lab):
        a = np.ascontiguousarray(np.asarray(arr))
        for i in range(n):
            keys[i].update(a[i].tobytes())
    step = 256
    for s in range(0, n, step):
        a = np.ascontiguousarray(np.asarray(img[s:s + step]))
        if a.dtype.kind == "f":
            a = a.astype(np.float32)
        for i in range(len(a)):
            keys[s + i].update(a[i].tobytes())
    return [k.digest() for k in keys]


def _match_rows(train, db):
    """Positions in ``db`` of each training row (distinct positions for repeated rows), or None."""
    tk, dk = _row_keys(train), _row_keys(db)
    where: dict[bytes, list[int]] = {}
    for j, k in enumerate(dk):
        where.setdefault(k, []).append(j)
    out = np.empty(len(tk), np.int64)
    for i, k in enumerate(tk):
        lst = where.get(k)
        if not lst:
            return None
        out[i] = lst.pop(0)
    return out


def _read_split_mat(vars_: list[_Var]) -> _Raw:
    parts, used = {}, {}
    for part, sfx in (("train", "tr"), ("query", "te"), ("database", "db")):
        vi, vt, vl = (_pick(vars_, (f"{p}_{sfx}",)) for p in ("I", "T", "L"))
        if not (vi and vt and vl):
            if part == "database" and not (vi or vt or vl):
                continue
            missing = [f"{p}_{sfx}" for p, v in zip("ITL", (vi, vt, vl)) if not v]
            raise ValueError(f"split-mat: the {part} part lacks {missing}")
        vi, vt, vl = (_unique(v, f"{v[0].name}") for v in (vi, vt, vl))
        lab_raw, txt_raw, img_raw = _read_numeric(vl), _read_numeric(vt), _read_numeric(vi)
        n = _infer_n({"labels": lab_raw, "texts": txt_raw, "images": img_raw})
        lab = _labels(_orient(*lab_raw, n=n, name=vl.name, lazy_ok=False), n, vl.name)
        txt = _texts(txt_raw, n, vt.name)
        img = np.asarray(_orient(*img_raw, n=n, name=vi.name, lazy_ok=False))
        parts[part] = (img.astype(np.float32) if img.ndim == 2 else img, txt, lab)
        used.update({f"{part}_images": vi.file, f"{part}_texts": vt.file, f"{part}_labels": vl.file})
    raw = _stack_parts(parts)
    raw.files = {k: v for k, v in used.items()}
    raw.notes = {"parts": sorted(parts)}
    return raw


def _read_hdf5_split(det: Detected) -> _Raw:
    import h5py

    f = h5py.File(str(det.vars["file"]), "r")
    matlab = f.userblock_size >= 128
    keys = {"daph": {"train": ("train_data", "train_y", "train_L"), "query": ("test_data", "test_y", "test_L"),
                     "database": ("data_set", "dataset_y", "dataset_L")}}
    parts, used = {}, {}
    groups = {k.lower(): k for k in f.keys() if isinstance(f[k], h5py.Group)}
    for part, aliases in _PART_NAMES.items():
        if det.vars["style"] == "daph":
            names = keys["daph"][part]
            if names[2] not in f:
                continue
            ds = [f[k] for k in names]
        else:
            g = next((f[groups[a]] for a in aliases if a in groups), None)
            if g is None:
                continue
            members = {k.lower(): k for k in g.keys()}
            pick = []
            for role, cand in (("images", ("images", "image", "img", "imgs", "I", "data", "features")),
                               ("texts", ("texts", "text", "tags", "T", "y", "captions")),
                               ("labels", ("labels", "label", "L", "category"))):
                k = next((members[c.lower()] for c in cand if c.lower() in members), None)
                if k is None:
                    raise ValueError(f"hdf5-split: group {g.name!r} has no {role} dataset; accepted names {cand}, "
                                     f"found {sorted(g.keys())}")
                pick.append(g[k])
            ds = pick
        rev = matlab or "MATLAB_class" in ds[2].attrs
        n = _infer_n({"labels": (ds[2], rev), "texts": (ds[1], rev), "images": (ds[0], rev)})
        lab = _labels(_orient(ds[2][()], rev, n=n, name=ds[2].name, lazy_ok=False), n, ds[2].name)
        txt = _texts((ds[1][()], rev), n, ds[1].name)
        img = _orient(ds[0], rev, n=n, name=ds[0].name, lazy_ok=True) if ds[0].ndim == 4 else \
            np.asarray(_orient(ds[0][()], rev, n=n, name=ds[0].name, lazy_ok=False), dtype=np.float32)
        parts[part] = (img, txt, lab)
        used[part] = [d.name for d in ds]
    if "train" not in parts or "query" not in parts:
        raise ValueError(f"hdf5-split: {det.vars['file']} needs at least a train and a query part; found {sorted(parts)}")
    raw = _stack_parts(parts)
    raw.files = {"hdf5": Path(det.vars["file"])}
    raw.notes = {"keys": used, "style": det.vars["style"]}
    return raw


# ================================================================================================ provenance
def file_digest(path, full_limit: int = 64 << 20) -> dict:
    """sha256 of a file (first 16 hex digits); files over ``full_limit`` bytes hash their size, first and
    last 8 MiB (``"partial": True``) so that a 3 GB ``IAll`` file does not have to be read for it."""
    p = Path(path)
    size = p.stat().st_size
    h = hashlib.sha256()
    partial = size > full_limit
    with open(p, "rb") as fh:
        if not partial:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        else:
            h.update(str(size).encode())
            h.update(fh.read(8 << 20))
            fh.seek(max(0, size - (8 << 20)))
            h.update(fh.read(8 << 20))
    return {"file": p.name, "bytes": int(size), "sha256": h.hexdigest()[:16], "partial": partial}


# ================================================================================================ load
_NAME_HINTS = (("mirflickr25k", r"mir|flickr"), ("nuswide", r"nus"), ("iapr", r"iapr|tc.?12"), ("mscoco", r"coco"),
               ("wiki", r"wiki"))


def _guess_name(root: Path, files) -> str:
    text = " ".join([root.name] + [Path(f).name for f in files]).lower()
    for name, rx in _NAME_HINTS:
        if re.search(rx, text):
            return name
    return root.name or "data"


def _choose_preset(name: str, n: int, split):
    if split is not None:
        if split not in PROTOCOLS:
            raise ValueError(f"split must be one of {sorted(PROTOCOLS)} or None, got {split!r}")
        return split
    pr = PROTOCOLS.get(name)
    if pr is not None and pr.n_query is not None and pr.n_query + pr.n_train + pr.n_val < n:
        return name
    return "scaled"


def _fixed_split(parts: dict, n_val, seed: int) -> Split:
    rng = np.random.default_rng(seed)
    query, database, train = parts["query"], parts["database"], parts["train"]
    rest = np.setdiff1d(database, train) if parts["train_in_database"] else np.zeros(0, np.int64)
    v_db = min(1000, round(0.05 * len(database))) if n_val is None else int(n_val)
    if parts["train_in_database"] and 0 < v_db <= len(rest):
        val = np.sort(rng.permutation(rest)[:v_db])  # database items outside train (the DCMH protocol)
    else:  # no database item outside train (or train outside the database): validation comes out of train
        v = min(1000, round(0.10 * len(train))) if n_val is None else int(n_val)
        if v >= len(train):
            raise ValueError(f"n_val={v} leaves no training items (the train part has {len(train)})")
        perm = rng.permutation(train)
        val, train = np.sort(perm[:v]), np.sort(perm[v:])
    return Split(query=np.sort(query), database=np.sort(database), train=np.sort(train), val=val, seed=int(seed),
                 preset="fixed")


def _say(verbose: bool, msg: str) -> None:
    if verbose:
        print(f"hashnotes.data.load: {msg}", file=sys.stderr, flush=True)


def load(path, layout: str = "auto", *, split: str | None = None, seed: int = 0, n_query: int | None = None,
         n_train: int | None = None, n_val: int | None = None, image_size: int = 224, image_features=None,
         image_arch: str = "auto", descriptor_size: int = 64, cache=None, images_root=None,
         missing_images: str = "error", text=None, name: str | None = None, pattern: str | None = None,
         lazy: bool = True, verbose: bool = True):
    """Read a cross-modal dataset in any of :data:`LAYOUTS` and cut it by a protocol split.

    Parameters
    ----------
    path : folder or file
        The folder holding the layout's files (or one merged ``.mat`` / ``.h5`` file).
    layout : "auto" or a key of :data:`LAYOUTS`
        ``"auto"`` detects it (and says which it found, on stderr when ``verbose``); a name forces it.
    split, seed, n_query, n_train, n_val
        Whole-set layouts: a :data:`~hashnotes.data.protocol.PROTOCOLS` preset; by default the dataset's own
        (``mirflickr25k``, ``nuswide``, ``iapr``, ``mscoco``, guessed from the file names) when its sizes fit,
        else ``"scaled"``. Pre-split layouts keep their query / database / train parts (``preset="fixed"``)
        and draw ``n_val`` validation items (default 5% of the database, at most 1,000) from the database
        items outside train, or 10% of train when train is not inside the database.
    image_size : int
        Side of the network input for image files (:class:`~hashnotes.data.images.ImageFiles`).
    image_features : None, "auto", "descriptor" or a weights file
        ``None``: images as stored (pixels, lazily, or features). ``"auto"``: descriptors for pixel images,
        stored features as they are. ``"descriptor"``: replace pixels by
        :func:`~hashnotes.data.images.image_descriptors` (``descriptor_size`` px). A path: CNN features with
        that weights file (:func:`~hashnotes.data.images.cnn_features`, ``image_arch``).
    cache : folder, optional
        Pixel cache for image files and a cache of computed descriptors.
    images_root : folder, optional
        Where the image files are, when not next to the lists.
    missing_images : "error" or "drop"
        What to do with listed images that are not found.
    text : None, dict or TextVectorizer
        How raw strings (``clip-index`` captions) become vectors; a dict gives
        :class:`~hashnotes.data.text.TextVectorizer` arguments. Default: binary bag of words of words seen
        in at least 2 training captions, at most 5,000. Fitted on the training split only.
    name : str, optional
        The dataset's name in results (default: guessed from the folder and file names).
    pattern : str, optional
        Only consider files matching this glob (e.g. ``"*-rand.mat"`` when two releases share a folder).

    Returns
    -------
    CrossModalDataset
        ``info`` holds ``layout``, ``path``, the files read with their digests, the keys, the image input
        and the text source; ``text_vectorizer`` is set for raw-text layouts.
    """
    if missing_images not in ("error", "drop"):
        raise ValueError(f"missing_images must be 'error' or 'drop', got {missing_images!r}")
    if layout != "auto" and layout not in LAYOUTS:
        raise ValueError(f"layout must be 'auto' or one of {sorted(LAYOUTS)}, got {layout!r}")
    p, root, files, vars_ = _scan(path, pattern)
    found = _detect_all(root, files, vars_)
    if layout == "auto":
        if not found:
            raise FileNotFoundError(_not_found_message(p, files, vars_))
        order = [k for k in _PRIORITY if k in found]
        chosen, also = order[0], order[1:]
    else:
        if layout not in found:
            raise FileNotFoundError(f"layout {layout!r} not found in {str(p)!r}: it needs {LAYOUTS[layout].keys}"
                                    + (f"; found {sorted(found)} instead" if found else ""))
        chosen, also = layout, []
    det = Detected(chosen, root, found[chosen], tuple(also))
    if chosen in ("dcmh-mat", "feature-mat"):
        raw = _read_whole_arrays(det, lazy)
    elif chosen == "name-list":
        raw = _read_name_list(det, images_root, missing_images)
    elif chosen == "clip-index":
        raw = _read_clip_index(det, images_root, missing_images)
    elif chosen == "split-mat":
        raw = _read_split_mat([v for v in vars_ if "/" not in v.name])
    else:
        raw = _read_hdf5_split(det)
    n = len(raw.labels)
    hints = [f for f in raw.files.values()]
    if isinstance(raw.images, list) and raw.images:
        hints.append(Path(raw.images[0]).parent)  # the image folder's name ("mirflickr", "coco2014", ...)
    dname = name or _guess_name(root, hints)
    if n < 3:
        raise ValueError(f"{str(p)!r} ({chosen}) holds {n} pairs; at least 3 are needed for query/database/train")

    # ---- split
    if raw.parts is not None:
        if n_query is not None or n_train is not None or split is not None:
            raise ValueError(f"layout {chosen!r} carries its own query/database/train parts; split, n_query and "
                             "n_train cannot be set (n_val can)")
        sp = _fixed_split(raw.parts, n_val, seed)
    else:
        sp = make_split(n, preset=_choose_preset(dname, n, split), n_query=n_query, n_train=n_train, n_val=n_val,
                        seed=seed)

    # ---- text
    vectorizer, vocab = None, None
    if raw.strings is not None:
        if isinstance(text, TextVectorizer):
            vectorizer = text
        else:
            opts = {"kind": "binary", "tokens": "words", "min_df": 2, "max_features": 5000}
            opts.update(dict(text or {}))
            vectorizer = TextVectorizer(**opts)
        vectorizer.fit([raw.strings[i] for i in sp.train])
        raw.texts = vectorizer.transform(raw.strings)
        vocab = vectorizer.vocabulary
        text_desc = f"{vectorizer.kind} bag of words over {vectorizer.dim} terms (fitted on the {len(sp.train)} " \
                    f"training captions)"
    else:
        text_desc = f"{raw.texts.shape[1]}-d vectors as stored"

    # ---- images
    images = raw.images
    image_desc = "features as stored" if np.ndim(images) == 2 else "pixels as stored"
    digests = {role: file_digest(f) for role, f in raw.files.items()}
    if isinstance(images, list):  # image paths
        want = descriptor_size if image_features in ("descriptor", "auto") else image_size
        images = ImageFiles(images, size=want, cache=cache)
        digests["image_files"] = {"n": len(images), "names_and_sizes_sha256": images.content_digest}
        image_desc = f"{len(images)} image files at {want} px"
    if image_features == "auto":
        image_features = "descriptor" if np.ndim(images) == 4 else None
    if image_features is not None:
        if np.ndim(images) != 4:
            raise ValueError(f"image_features={image_features!r} needs pixel images, but {chosen!r} in {str(p)!r} "
                             f"stores {np.shape(images)[1:]}-d features already")
        images, image_desc = _image_features(images, image_features, image_arch, descriptor_size, cache, digests,
                                             verbose)
    pairs = PairSet(images=images, texts=raw.texts, labels=raw.labels, ids=np.arange(n, dtype=np.int64))
    l = raw.labels.shape[1]
    info = {"layout": chosen, "path": str(p.resolve()), "source": LAYOUTS[chosen].source,
            "also_matched": list(also), "files": {k: str(v) for k, v in raw.files.items()}, "digest": digests,
            "keys": raw.notes.get("keys"), "n": int(n), "images": image_desc, "text": text_desc}
    if raw.parts is not None:
        info["train_in_database"] = bool(raw.parts["train_in_database"])
    for k in ("dropped_missing_images",):
        if raw.notes.get(k):
            info[k] = raw.notes[k]
    _say(verbose, f"{str(p)!r}: layout {chosen!r} ({LAYOUTS[chosen].source}); {n} pairs, {l} labels, "
                  f"{image_desc}, {text_desc}; split {sp.preset} {len(sp.query)}/{len(sp.database)}/"
                  f"{len(sp.train)}/{len(sp.val)}" + (f"; also matched {also}" if also else ""))
    label_names = {("mirflickr25k", 24): MIRFLICKR_LABELS, ("wiki", 10): WIKI_LABELS}.get(
        (dname, l), tuple(f"label_{i}" for i in range(l)))
    return apply_split(pairs, sp, dname, label_names, vocab, info, text_vectorizer=vectorizer)


def _image_features(images, kind, arch, size, cache, digests, verbose):
    key = hashlib.sha256(repr((kind if kind == "descriptor" else file_digest(kind), arch, size,
                               sorted((k, str(v)) for k, v in digests.items()))).encode()).hexdigest()[:20]
    cfile = None
    if cache is not None:
        cdir = Path(cache).expanduser()
        cdir.mkdir(parents=True, exist_ok=True)
        cfile = cdir / f"features-{key}.npy"
        if cfile.is_file():
            arr = np.load(cfile)
            if len(arr) == len(images):
                return arr, f"{arr.shape[1]}-d {'descriptors' if kind == 'descriptor' else 'CNN features'} (cached)"
    if kind == "descriptor":
        _say(verbose, f"computing image descriptors of {len(images)} images ...")
        arr = image_descriptors(images, size=size)
        desc = f"{arr.shape[1]}-d image descriptors (HOG + HSV histogram + LBP at {size} px)"
    else:
        _say(verbose, f"computing CNN features of {len(images)} images with {kind} ...")
        arr = cnn_features(images, kind, arch=arch)
        desc = f"{arr.shape[1]}-d CNN features ({arch}, {Path(kind).name})"
        digests["image_weights"] = file_digest(kind)
    if cfile is not None:
        np.save(cfile, arr)
    return arr, desc
