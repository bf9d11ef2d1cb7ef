"""What every layout module shares: the inventory of a folder's ``.mat`` / ``.h5`` variables (read from headers
only), picking variables by name, reading numbers and strings items-first, label and text checks, finding
image files by the names a list gives, the raw set a layout's ``read`` returns, stacking pre-split parts into
one set with a fixed split, and file digests for provenance."""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..images import IMAGE_EXTENSIONS
from ..matio import LazyImages, _infer_n, _is_hdf5, _mat_keys, _orient

__all__ = ["Layout", "Detected", "Scan", "ReadOptions", "Raw", "Var", "scan", "pick", "unique", "read_numeric",
           "read_strings", "read_lines", "to_labels", "to_texts", "resolve_images", "read_whole_arrays", "stack_parts",
           "file_digest"]


class Layout(NamedTuple):
    """How a layout looks on disk, for people: the keys or files it reads, their orientation, where it comes
    from. (The module that holds it says how to detect and read it.)"""

    name: str
    keys: str
    orientation: str
    source: str


# ================================================================================================ inventory
@dataclass
class Var:
    file: Path
    name: str            # as stored (a group member is "group/name")
    kind: str            # "strings" or "numeric"
    shape: tuple         # as stored
    h5: bool


def _inventory(paths) -> list[Var]:
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
                        out.append(Var(f, name, "strings" if strings else "numeric", tuple(obj.shape), True))
                    h.visititems(visit)
            else:
                import scipy.io

                for name, shape, cls in scipy.io.whosmat(str(f)):
                    out.append(Var(f, name, "strings" if cls in ("cell", "char") else "numeric", tuple(shape), False))
        except Exception:  # noqa: BLE001 - a file we cannot read is simply not part of any layout
            continue
    return out


def _files_in(root: Path, exts=(".mat", ".h5", ".hdf5")) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in exts)


def pick(vars_, keys, kind=None, ndim=None, file_re=None):
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


def unique(hits, role: str):
    files = sorted({str(v.file) for v in hits})
    if len(files) > 1 and len({(v.name, v.file) for v in hits}) > 1:
        raise ValueError(f"{role}: several files hold a matching variable ({', '.join(Path(f).name for f in files)}); "
                         f"pass one file, or pattern='...' to choose (e.g. pattern='*-rand.mat')")
    return hits[0] if hits else None


class Detected(NamedTuple):
    layout: str
    root: Path
    vars: dict          # role -> Var (or a Path for text files)
    also: tuple         # other layouts that matched too


class Scan(NamedTuple):
    """What a layout's ``detect`` sees: the path given, its folder, the ``.mat`` / ``.h5`` files considered,
    every variable of them (``all``), those outside HDF5 groups (``flat``) and the HDF5 ones (``h5``), and the
    folder's entries by lower-case name (``names``, for text files such as ``caption.txt``)."""

    path: Path
    root: Path
    files: list
    all: list
    flat: list
    h5: list
    names: dict


def scan(path, pattern=None) -> Scan:
    """The :class:`Scan` of ``path`` (a folder or one file); ``pattern`` keeps only matching file names."""
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"data path {str(path)!r} does not exist")
    root = p if p.is_dir() else p.parent
    files = [p] if p.is_file() else _files_in(p)
    if pattern is not None:
        import fnmatch

        files = [f for f in files if fnmatch.fnmatch(f.name, pattern)]
    vars_ = _inventory(files)
    names = {q.name.lower(): q for q in (root.iterdir() if root.is_dir() else [])}
    return Scan(p, root, files, vars_, [v for v in vars_ if "/" not in v.name],  # group members: hdf5-split only
                [v for v in vars_ if v.h5], names)


@dataclass(frozen=True)
class ReadOptions:
    """The reading options of :func:`hashnotes.data.layouts.load` that a layout's ``read`` may use."""

    lazy: bool = True
    images_root: Any = None
    missing_images: str = "error"


# ================================================================================================ reading
def _h5_file(v: Var):
    import h5py

    return h5py.File(str(v.file), "r")


def read_numeric(v: Var, lazy: bool = False):
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


def read_strings(v: Var, n: int | None = None) -> list[str]:
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


def read_lines(path: Path) -> list[str]:
    with open(path, encoding="utf-8", errors="replace") as fh:
        return [line.rstrip("\r\n").strip() for line in fh]


def to_labels(arr, n: int, name: str) -> np.ndarray:
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


def to_texts(arr, n: int, name: str) -> np.ndarray:
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


def resolve_images(names: list[str], roots, missing: str, what: str):
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
class Raw:
    images: Any                      # pixels / features array, or a list of image paths
    labels: np.ndarray
    texts: np.ndarray | None = None
    strings: list | None = None
    parts: dict | None = None        # fixed split: {"query": idx, "database": idx, "train": idx, "train_in_db": b}
    files: dict = field(default_factory=dict)
    notes: dict = field(default_factory=dict)


def read_whole_arrays(found: dict, lazy: bool) -> Raw:
    """The whole-set arrays ``found`` names (images, texts, labels), items first (dcmh-mat, feature-mat)."""
    vs = found
    img_v, txt_v, lab_v = (unique(vs[k], f"{k}") for k in ("images", "texts", "labels"))
    lab_raw, txt_raw, img_raw = read_numeric(lab_v), read_numeric(txt_v), read_numeric(img_v, lazy=lazy)
    n = _infer_n({"labels": lab_raw, "texts": txt_raw, "images": img_raw})
    labels = to_labels(_orient(*lab_raw, n=n, name="labels", lazy_ok=False), n, lab_v.name)
    texts = to_texts(txt_raw, n, txt_v.name)
    img = _orient(*img_raw, n=n, name=img_v.name, lazy_ok=lazy)
    if not isinstance(img, LazyImages):
        img = np.asarray(img)
        img = img.astype(np.float32) if img.ndim == 2 else img
    return Raw(images=img, labels=labels, texts=texts,
                files={"images": img_v.file, "texts": txt_v.file, "labels": lab_v.file},
                notes={"keys": {"images": img_v.name, "texts": txt_v.name, "labels": lab_v.name}})


def stack_parts(parts: dict) -> Raw:
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
    return Raw(images=images, labels=labels, texts=texts,
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
