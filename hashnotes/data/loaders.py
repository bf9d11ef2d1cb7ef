"""Loaders for the real datasets (MIRFLICKR-25K, NUS-WIDE, IAPR TC-12, MS-COCO, Wikipedia).

Files are read from a directory the user gives (``root``) or, by default, from the project's shared data
directory (:func:`shared_data_dir`). Nothing is downloaded. A missing file raises ``FileNotFoundError``
naming the file, the directory searched and where the file comes from.

DCMH-format ``.mat`` files (``IAll`` images, ``YAll`` bag-of-words text, ``LAll`` labels) are read both as
MATLAB v5 (``scipy.io.loadmat``) and as MATLAB v7.3 (HDF5, ``h5py``). MATLAB is column-major, so a v7.3
file shows every array with its axes reversed; the loader undoes that and then finds the item axis by
matching the number of items ``n`` across the three arrays. Images in a v7.3 file stay on disk: they are
wrapped in :class:`LazyImages`, which reads only the rows asked for.
"""
from __future__ import annotations

import csv
import os
import re
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .base import CrossModalDataset, PairSet, Split
from .images import read_image
from .protocol import apply_split, make_split

__all__ = ["shared_data_dir", "load_dcmh_mat", "mirflickr25k", "mirflickr_photos", "MirflickrPhotos",
           "nuswide", "iapr", "mscoco", "wiki", "label_stats", "LazyImages", "MIRFLICKR_LABELS", "WIKI_LABELS"]

_REPO_ROOT = Path(__file__).resolve().parents[2]

MIRFLICKR_LABELS = ("animals", "baby", "bird", "car", "clouds", "dog", "female", "flower", "food", "indoor",
                    "lake", "male", "night", "people", "plant_life", "portrait", "river", "sea", "sky",
                    "structures", "sunset", "transport", "tree", "water")
# class ids 1..10 of the Wikipedia dataset (Rasiwasia et al. 2010), in the release's (alphabetical) order
WIKI_LABELS = ("art", "biology", "geography", "history", "literature", "media", "music", "royalty", "sport",
               "warfare")

_HOW_DCMH = ("Get the DCMH-format files (IAll/YAll/LAll .mat, e.g. the DCMH release "
             "https://github.com/jiangqy/DCMH-CVPR2017 or the mirflickr25k-*.mat files used by DJSRH/UCCH) "
             "and pass their directory as root= (or set $HASHNOTES_DATA)")
_HOW_SHARED = ("The project reads real data from ../shared/data next to the repository (see its README.md) "
               "or from $HASHNOTES_DATA; pass root= to use another directory")

# accepted names (case-insensitive) of the three arrays inside .mat files
IMAGE_KEYS = ("IAll", "images", "image", "imgs", "I", "FAll", "X", "features", "img_feats")
TEXT_KEYS = ("YAll", "TAll", "tags", "tag", "texts", "text", "T", "Y", "caption", "captions")
LABEL_KEYS = ("LAll", "labels", "label", "L", "lab")


def shared_data_dir() -> Path | None:
    """The directory with the project's real data files, or ``None`` when there is none.

    ``$HASHNOTES_DATA`` when set (a warning and ``None`` if it is not a directory); otherwise the first
    existing ``../shared/data`` relative to the repository root, then to the current directory and
    each of its parents (so it works from ``book/`` and ``tests/``).
    """
    env = os.environ.get("HASHNOTES_DATA")
    if env:
        p = Path(env).expanduser()
        if p.is_dir():
            return p.resolve()
        warnings.warn(f"HASHNOTES_DATA={env!r} is not a directory; real-data sections will be skipped",
                      stacklevel=2)
        return None
    cwd = Path.cwd().resolve()
    for base in (_REPO_ROOT, cwd, *cwd.parents):
        cand = base.parent / "shared" / "data"
        if cand.is_dir():
            return cand.resolve()
    return None


def _root(root, what: str) -> Path:
    if root is None:
        found = shared_data_dir()
        if found is None:
            raise FileNotFoundError(f"no data directory for {what}: root=None and no ../shared/data or "
                                    f"$HASHNOTES_DATA was found. {_HOW_SHARED}")
        return found
    p = Path(root).expanduser()
    if not p.is_dir():
        raise FileNotFoundError(f"root={str(root)!r} for {what} is not a directory")
    return p


def _need(root: Path, names, what: str, how: str) -> Path:
    """First existing ``root/name`` (case-insensitive on the name), else a FileNotFoundError saying so."""
    names = [names] if isinstance(names, str) else list(names)
    listing = {p.name.lower(): p for p in root.iterdir()} if root.is_dir() else {}
    for name in names:
        if (root / name).is_file():
            return root / name
        hit = listing.get(Path(name).name.lower()) if "/" not in name else None
        if hit is not None and hit.is_file():
            return hit
    raise FileNotFoundError(f"{what}: none of {names} found in {root}. {how}")


# --------------------------------------------------------------------------------------------- .mat I/O
def _is_hdf5(path: Path) -> bool:
    import h5py
    return h5py.is_hdf5(str(path))


class _H5Handle:
    """Keep an h5py file open for as long as lazy arrays need it."""

    def __init__(self, path: Path):
        import h5py
        self.path = Path(path)
        self.file = h5py.File(str(path), "r")
        self.matlab = self.file.userblock_size >= 128 and self._has_matlab_header()

    def _has_matlab_header(self) -> bool:
        with open(self.path, "rb") as fh:
            return fh.read(10) == b"MATLAB 7.3"


def _mat_keys(path: Path) -> dict:
    """Map lower-case variable name -> (name, reader) for a v5 or v7.3 file.

    A reader returns ``(array_or_dataset, axes_reversed)``: v7.3 datasets written by MATLAB (or any HDF5
    dataset carrying a ``MATLAB_class`` attribute) show their axes reversed.
    """
    if _is_hdf5(path):
        h = _H5Handle(path)
        out = {}
        for k, ds in h.file.items():
            if not hasattr(ds, "shape"):
                continue
            rev = h.matlab or "MATLAB_class" in ds.attrs
            out[k.lower()] = (k, (lambda ds=ds, rev=rev, h=h: (ds, rev)))
        return out
    import scipy.io
    try:
        info = scipy.io.whosmat(str(path))
    except Exception as exc:  # noqa: BLE001 - re-raised with the file name
        raise ValueError(f"{path} is neither a MATLAB v5 .mat file nor an HDF5 (v7.3) file: {exc}") from exc
    return {name.lower(): (name, (lambda name=name: (scipy.io.loadmat(str(path), variable_names=[name])[name],
                                                      False)))
            for name, _, _ in info}


def _find_key(keys: dict, aliases):
    for a in aliases:
        if a.lower() in keys:
            return keys[a.lower()]
    return None


class LazyImages:
    """Rows of an on-disk (HDF5) image array, read on demand in ``(n, C, H, W)`` order.

    ``obj[idx]`` (an int, a slice or an index array) reads those items from disk and returns a numpy array.
    ``obj.lazy_subset(idx)`` is another lazy view (used by :func:`~hashnotes.data.base.take_rows`, so that
    cutting a dataset into query / database / train / val reads nothing).
    """

    def __init__(self, dataset, item_axis: int, perm: tuple[int, ...], index=None):
        self.dataset = dataset
        self.item_axis = int(item_axis)
        self.perm = tuple(perm)  # applied to a block read with the item axis first
        self.index = None if index is None else np.asarray(index, dtype=np.int64)  # rows of `dataset`
        other = [s for i, s in enumerate(dataset.shape) if i != self.item_axis]
        n = int(dataset.shape[self.item_axis]) if self.index is None else len(self.index)
        self.shape = (n, *(int(other[p - 1]) for p in self.perm[1:]))
        self.dtype = dataset.dtype
        self.ndim = len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def _positions(self, idx) -> np.ndarray:
        if isinstance(idx, slice):
            idx = np.arange(len(self))[idx]
        idx = np.atleast_1d(np.asarray(idx))
        if idx.dtype == np.bool_ or not np.issubdtype(idx.dtype, np.integer):
            raise IndexError(f"LazyImages takes integer indices, got dtype {idx.dtype}")
        idx = idx.astype(np.int64)
        if idx.size and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise IndexError(f"index out of range for {len(self)} images")
        idx = np.where(idx < 0, idx + len(self), idx)
        return idx if self.index is None else self.index[idx]

    def lazy_subset(self, idx) -> "LazyImages":
        """A lazy view of rows ``idx`` (positions in this view), in the given order."""
        return LazyImages(self.dataset, self.item_axis, self.perm, index=self._positions(idx))

    def __getitem__(self, idx):
        scalar = isinstance(idx, (int, np.integer))
        rows = self._positions(idx)
        order = np.argsort(rows, kind="stable")
        uniq, inverse = np.unique(rows[order], return_inverse=True)
        sel = [slice(None)] * self.dataset.ndim
        sel[self.item_axis] = uniq if uniq.size else slice(0, 0)
        block = np.moveaxis(np.asarray(self.dataset[tuple(sel)]), self.item_axis, 0)
        block = np.transpose(block, self.perm)
        out = np.empty((len(rows),) + block.shape[1:], dtype=block.dtype)
        out[order] = block[inverse]
        return out[0] if scalar else out

    def __array__(self, dtype=None, copy=None):
        arr = self[np.arange(len(self))]
        return arr if dtype is None else arr.astype(dtype)


def _orient(arr, reversed_axes: bool, n: int, name: str, lazy_ok: bool):
    """Return ``arr`` with items first: (n, d) for 2-D, (n, C, H, W) for 4-D images."""
    shape = tuple(int(s) for s in arr.shape)
    mshape = shape[::-1] if reversed_axes else shape  # the MATLAB-order shape
    if len(mshape) == 1:
        mshape = (mshape[0], 1)
    if len(mshape) == 2:
        a = np.asarray(arr)
        if a.ndim == 1:
            a = a[:, None]
        if reversed_axes:
            a = a.T
        if a.shape[0] == n:
            return a
        if a.shape[1] == n:
            return a.T
        raise ValueError(f"{name} has shape {a.shape} (MATLAB order) but no axis of length n={n}")
    if len(mshape) != 4:
        raise ValueError(f"{name} must be 2-D (features) or 4-D (images), got shape {mshape} (MATLAB order)")
    # MATLAB order: the item axis has length n, the channel axis length 1 or 3, the other two are (H, W)
    n_axes = [i for i, s in enumerate(mshape) if s == n]
    if not n_axes:
        raise ValueError(f"{name} has shape {mshape} (MATLAB order) but no axis of length n={n}")
    item = n_axes[-1] if mshape[-1] == n else n_axes[0]
    rest = [i for i in range(4) if i != item]
    ch = [i for i in rest if mshape[i] in (1, 3)]
    if not ch:
        raise ValueError(f"{name} has shape {mshape} (MATLAB order): no colour axis of length 1 or 3")
    c_ax = ch[-1] if mshape[rest[-1]] in (1, 3) else ch[0]
    h_ax, w_ax = [i for i in rest if i != c_ax]
    target = (item, c_ax, h_ax, w_ax)  # MATLAB-order axes for (n, C, H, W)
    if reversed_axes:
        target = tuple(3 - t for t in target)  # the same axes as seen in the stored (reversed) array
    is_h5 = not isinstance(arr, np.ndarray)
    if is_h5 and lazy_ok:
        others = [i for i in range(4) if i != target[0]]
        perm = (0, *(1 + others.index(t) for t in target[1:]))
        return LazyImages(arr, target[0], perm)
    return np.transpose(np.asarray(arr), target)


def _dcmh_files(path_or_dir, prefix=None):
    """Resolve where IAll / YAll / LAll live: a single file, or separate files in a directory."""
    p = Path(path_or_dir).expanduser()
    if p.is_file():
        return {"all": p}
    if not p.is_dir():
        raise FileNotFoundError(f"path_or_dir={str(path_or_dir)!r} is neither a .mat file nor a directory. "
                                f"{_HOW_DCMH}")
    files = {f.name.lower(): f for f in p.iterdir() if f.is_file()}
    prefixes = [prefix.lower() + "-", prefix.lower() + "_"] if prefix else [""]
    found = {}
    for part, stems in (("images", ("iall", "fall", "image", "images", "img")),
                        ("texts", ("yall", "tall", "tag", "tags", "text", "texts")),
                        ("labels", ("lall", "label", "labels"))):
        for pre in prefixes + ([""] if prefix else []):
            for stem in stems:
                for ext in (".mat", ".h5", ".hdf5"):
                    hit = files.get(f"{pre}{stem}{ext}")
                    if hit is not None and part not in found:
                        found[part] = hit
        if part not in found and not prefix:  # any "<something>-<stem>.mat"
            for name, f in sorted(files.items()):
                if re.fullmatch(r".*[-_](" + "|".join(stems) + r")\.(mat|h5|hdf5)", name):
                    found[part] = f
                    break
    if "labels" in found and "texts" in found:
        return found
    singles = [f for name, f in sorted(files.items())
               if (prefix is None or name.startswith(prefix.lower())) and name.endswith((".mat", ".h5"))]
    for f in singles:
        keys = _mat_keys(f)
        if _find_key(keys, LABEL_KEYS) and _find_key(keys, TEXT_KEYS):
            return {"all": f}
    missing = [k for k in ("labels", "texts", "images") if k not in found]
    pre = f"{prefix}-" if prefix else "<name>-"
    raise FileNotFoundError(
        f"DCMH-format data not found in {p}: missing {missing} (looked for {pre}lall.mat / {pre}yall.mat / "
        f"{pre}iall.mat, LAll.mat / YAll.mat / IAll.mat, label.mat / tag.mat / image.mat, .h5 too, or one .mat "
        f"holding LAll, YAll and IAll). {_HOW_DCMH}")


def _read_parts(files: dict, need_images: bool):
    """Raw (array_or_dataset, reversed) for labels, texts and (optionally) images."""
    out = {}
    for part, aliases in (("labels", LABEL_KEYS), ("texts", TEXT_KEYS), ("images", IMAGE_KEYS)):
        f = files.get(part, files.get("all"))
        if f is None:
            continue
        keys = _mat_keys(f)
        hit = _find_key(keys, aliases)
        if hit is None and part in files and len(keys) == 1:
            hit = next(iter(keys.values()))  # a separate file with a single variable
        if hit is None:
            if part == "images" and not need_images:
                continue
            raise ValueError(f"{f} has no {part} variable; accepted names: {aliases}, found {sorted(keys)}")
        out[part] = hit[1]()
        dt = out[part][0].dtype
        if dt.kind in ("O", "U", "S") or (dt.kind == "V" or getattr(dt, "metadata", None)):
            raise ValueError(f"{hit[0]} in {f.name} holds strings (e.g. image file names), not a numeric {part} "
                             f"array; for a name list with an image folder use hashnotes.data.load(folder) "
                             f"(layout 'name-list')")
    if need_images and "images" not in out:
        raise FileNotFoundError(f"no image array (IAll) found among {sorted(str(v) for v in files.values())}. "
                                f"{_HOW_DCMH}")
    return out


def _infer_n(raw: dict) -> int:
    shapes = []
    for arr, rev in raw.values():
        s = tuple(int(x) for x in arr.shape)
        shapes.append(s[::-1] if rev else s)
    common = set(shapes[0])
    for s in shapes[1:]:
        common &= set(s)
    if not common:
        raise ValueError(f"cannot match the number of items across arrays of shapes {shapes} (MATLAB order)")
    lab = shapes[0]  # labels come first: prefer their first MATLAB axis
    return lab[0] if lab[0] in common else max(common)


def _load_dcmh_arrays(path_or_dir, prefix=None, need_images=True, lazy=True):
    files = _dcmh_files(path_or_dir, prefix)
    raw = _read_parts(files, need_images)
    n = _infer_n({k: raw[k] for k in ("labels", "texts", "images") if k in raw})
    labels = _orient(*raw["labels"], n=n, name="labels (LAll)", lazy_ok=False)
    texts = _orient(*raw["texts"], n=n, name="texts (YAll)", lazy_ok=False)
    images = _orient(*raw["images"], n=n, name="images (IAll)", lazy_ok=lazy) if "images" in raw else None
    labels = np.asarray(labels)
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("labels (LAll) must be 0/1 multi-hot; found other values")
    texts = np.asarray(texts, dtype=np.float32)
    if not np.isfinite(texts).all():
        raise ValueError("texts (YAll) contain NaN or infinite values")
    if isinstance(images, np.ndarray) and images.ndim == 2:
        images = images.astype(np.float32)
    return images, texts, labels.astype(np.uint8), files


def load_dcmh_mat(path_or_dir, prefix: str | None = None, lazy: bool = True) -> PairSet:
    """Load DCMH-format ``IAll`` / ``YAll`` / ``LAll`` arrays into a :class:`PairSet`.

    Parameters
    ----------
    path_or_dir : str or Path
        One ``.mat`` file holding all three arrays, or a directory with separate files. Accepted file
        names (case-insensitive, ``.mat``/``.h5``/``.hdf5``): ``<prefix>-iall``/``-yall``/``-lall``
        (e.g. ``mirflickr25k-iall.mat``), ``IAll``/``YAll``/``LAll``, ``FAll`` for image features,
        ``image``/``tag``/``label``. Accepted variable names: ``IAll, images, I, FAll, X, ...`` for images,
        ``YAll, TAll, tags, T, Y, ...`` for text, ``LAll, labels, L`` for labels (see ``IMAGE_KEYS`` etc.).
    prefix : str, optional
        Restrict the directory search to files starting with this name (e.g. ``"nus-wide-tc21"``).
    lazy : bool
        Keep HDF5 (v7.3) images on disk as :class:`LazyImages` (default) instead of reading them all.

    Returns
    -------
    PairSet
        images ``(n, C, H, W)`` (uint8 as stored) or ``(n, d)`` float32 features; texts float32; labels uint8.
        Both MATLAB v5 and v7.3/HDF5 files are read; axes are oriented by matching ``n`` across the arrays.
    """
    images, texts, labels, _ = _load_dcmh_arrays(path_or_dir, prefix, need_images=True, lazy=lazy)
    return PairSet(images=images, texts=texts, labels=labels, ids=np.arange(len(labels), dtype=np.int64))


# --------------------------------------------------------------------------------------------- MIRFLICKR
def _read_lines(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as fh:
        return [line.rstrip("\r\n") for line in fh]


def mirflickr25k(root=None, split: str | None = "mirflickr25k", seed: int = 0, images=None,
                 n_query=None, n_train=None, n_val=None) -> CrossModalDataset:
    """MIRFLICKR-25K, the DCMH-cleaned release: 20,015 pairs, 24 labels, 1,386-d tag bag of words.

    Parameters
    ----------
    root : path, optional
        Directory with ``mirflickr25k-lall.mat`` (``LAll``), ``mirflickr25k-yall.mat`` (``YAll``) and
        optionally ``mirflickr25k-yall-vocab.txt``, ``mirflickr25k-all_imgs.txt``, ``mirflickr25k-iall.mat``.
        Default: :func:`shared_data_dir`.
    split, seed, n_query, n_train, n_val
        Protocol preset (2,000 query / 18,015 database / 10,000 train / 1,000 val) and its seed.
    images : None, "names", "pixels" or a path
        ``None``: pixels when ``root`` has ``IAll`` (``mirflickr25k-iall.mat``, lazy if v7.3), else the image
        file names (an object array, from ``mirflickr25k-all_imgs.txt``). ``"pixels"`` requires ``IAll``;
        a path names an ``IAll`` file explicitly.

    Returns
    -------
    CrossModalDataset
        ``label_names`` in ``LAll`` column order, ``vocab`` the 1,386 tags (or ``None`` without the file).
    """
    r = _root(root, "MIRFLICKR-25K")
    pairs, vocab, info = _mirflickr_pairs(r, images)
    sp = make_split(len(pairs), preset=split, n_query=n_query, n_train=n_train, n_val=n_val, seed=seed)
    return apply_split(pairs, sp, "mirflickr25k", MIRFLICKR_LABELS, vocab, info)


def _mirflickr_pairs(r: Path, images=None):
    how = (f"These are the DCMH MIRFLICKR-25K files ({_HOW_SHARED}; or {_HOW_DCMH})")
    lall = _need(r, ["mirflickr25k-lall.mat", "LAll.mat"], "MIRFLICKR-25K labels (LAll)", how)
    yall = _need(r, ["mirflickr25k-yall.mat", "YAll.mat"], "MIRFLICKR-25K texts (YAll)", how)
    parts = {"labels": lall, "texts": yall}
    iall = None
    if images not in (None, "names", "pixels"):
        iall = Path(images)
        if not iall.is_file():
            raise FileNotFoundError(f"images={str(images)!r}: no such IAll file")
    elif images in (None, "pixels"):
        try:
            iall = _need(r, ["mirflickr25k-iall.mat", "IAll.mat", "mirflickr25k-iall.h5"],
                         "MIRFLICKR-25K images (IAll)", how)
        except FileNotFoundError:
            if images == "pixels":
                raise
    if iall is not None:
        parts["images"] = iall
    raw = _read_parts(parts, need_images=iall is not None)
    n = _infer_n(raw)
    labels = np.asarray(_orient(*raw["labels"], n=n, name="LAll", lazy_ok=False)).astype(np.uint8)
    texts = np.asarray(_orient(*raw["texts"], n=n, name="YAll", lazy_ok=False), dtype=np.float32)
    if labels.shape[1] != len(MIRFLICKR_LABELS):
        raise ValueError(f"LAll has {labels.shape[1]} label columns, expected 24 (DCMH MIRFLICKR-25K)")
    if iall is not None:
        imgs = _orient(*raw["images"], n=n, name="IAll", lazy_ok=True)
        image_kind = f"pixels from {iall.name}"
    else:
        names_file = _need(r, ["mirflickr25k-all_imgs.txt", "all_imgs.txt"], "MIRFLICKR-25K image file names",
                           how + "; or pass images='pixels' with an IAll file")
        imgs = np.array(_read_lines(names_file), dtype=object)
        if len(imgs) != n:
            raise ValueError(f"{names_file} has {len(imgs)} lines but LAll has {n} rows")
        image_kind = "file names (no IAll in root)"
    vocab = None
    vfile = r / "mirflickr25k-yall-vocab.txt"
    if vfile.is_file():
        vocab = tuple(_read_lines(vfile))
        if len(vocab) != texts.shape[1]:
            raise ValueError(f"{vfile} has {len(vocab)} words but YAll has {texts.shape[1]} columns")
    pairs = PairSet(images=imgs, texts=texts, labels=labels, ids=np.arange(n, dtype=np.int64))
    info = {"source": "DCMH MIRFLICKR-25K (20,015 cleaned pairs)", "root": str(r), "images": image_kind,
            "text": f"{texts.shape[1]}-d tag bag of words (YAll)", "n": int(n)}
    return pairs, vocab, info


class MirflickrPhotos(NamedTuple):
    """The real MIRFLICKR photos that are among the 20,015 DCMH pairs (see :func:`mirflickr_photos`)."""

    pairs: PairSet          # images (m, 3, size, size) uint8, YAll rows, LAll rows, ids = rows in the 20,015
    tags: list              # raw Flickr tags per photo (list of str)
    labels: list            # label names per photo (list of str)
    label_names: tuple      # the 24 LAll column names
    vocab: tuple | None     # the 1,386 YAll words
    files: list             # image file paths


def mirflickr_photos(root=None, size: int = 64) -> MirflickrPhotos:
    """The 730 real MIRFLICKR thumbnails (of im1-im1000) that fall within the 20,015 DCMH pairs.

    Reads ``mirflickr_thumbs_index.csv`` and ``mirflickr_thumbs_im1-1000/``; pixels are centre-cropped to a
    square and resized to ``size x size``. Texts and labels are the photos' ``YAll`` / ``LAll`` rows, so the
    photos can be encoded by models trained on :func:`mirflickr25k`. Sorted by row in the 20,015 pairs.
    """
    if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or not 8 <= size <= 1024:
        raise ValueError(f"size must be an int in 8..1024, got {size!r}")
    r = _root(root, "MIRFLICKR photos")
    how = f"The thumbnails and their index come with the project's shared data ({_HOW_SHARED})"
    index = _need(r, "mirflickr_thumbs_index.csv", "MIRFLICKR thumbnail index", how)
    thumbs = r / "mirflickr_thumbs_im1-1000"
    if not thumbs.is_dir():
        raise FileNotFoundError(f"MIRFLICKR thumbnails: directory mirflickr_thumbs_im1-1000 not found in {r}. {how}")
    with open(index, encoding="utf-8", newline="") as fh:
        rows = [row for row in csv.DictReader(fh) if int(row["row_in_20015"]) >= 0]
    rows.sort(key=lambda row: int(row["row_in_20015"]))
    allpairs, vocab, _ = _mirflickr_pairs(r, images="names")
    ids = np.array([int(row["row_in_20015"]) for row in rows], dtype=np.int64)
    files = [thumbs / row["file"] for row in rows]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} thumbnails listed in {index.name} are missing, e.g. {missing[0]}. "
                                f"{how}")
    images = np.stack([read_image(f, int(size)) for f in files]) if files else \
        np.zeros((0, 3, size, size), np.uint8)
    if len(ids) and ids.max() >= len(allpairs):
        raise ValueError(f"{index.name} names row {ids.max()} but LAll has only {len(allpairs)} rows")
    pairs = PairSet(images=images, texts=allpairs.texts[ids], labels=allpairs.labels[ids], ids=ids)
    tags = [[t for t in row["tags"].split(",") if t] for row in rows]
    labels = [[t for t in row["labels"].split(",") if t] for row in rows]
    return MirflickrPhotos(pairs, tags, labels, MIRFLICKR_LABELS, vocab, [str(f) for f in files])


# --------------------------------------------------------------------------------------------- others
def _dcmh_dataset(name, root, prefixes, preset, seed, label_names, lazy, **split_kw):
    r = _root(root, name)
    errors = []
    for pre in prefixes:
        try:
            images, texts, labels, files = _load_dcmh_arrays(r, pre, need_images=True, lazy=lazy)
            break
        except FileNotFoundError as exc:
            errors.append(str(exc))
    else:
        raise FileNotFoundError(f"{name}: no DCMH-format files in {r} (tried name prefixes {list(prefixes)}: "
                                f"<prefix>-iall.mat/-yall.mat/-lall.mat or one <prefix>*.mat with IAll, YAll, "
                                f"LAll). {_HOW_DCMH}")
    n = len(labels)
    if label_names is None:
        label_names = tuple(f"label_{i}" for i in range(labels.shape[1]))
    pairs = PairSet(images=images, texts=texts, labels=labels, ids=np.arange(n, dtype=np.int64))
    sp = make_split(n, preset=preset, seed=seed, **split_kw)
    info = {"source": f"DCMH-format {name}", "root": str(r), "files": {k: str(v) for k, v in files.items()},
            "text": f"{texts.shape[1]}-d bag of words", "n": int(n)}
    return apply_split(pairs, sp, preset, label_names, None, info)


def nuswide(root=None, split: str = "nuswide", seed: int = 0, label_names=None, lazy: bool = True, **split_kw):
    """NUS-WIDE (DCMH variant: 21 concepts, 1,000-d BoW) from DCMH-format files in ``root``.

    File prefixes tried: ``nus-wide-tc21``, ``nuswide``, ``nus-wide``, ``nus``. Split: 2,100 query / rest /
    10,500 train / 1,000 val. See :func:`load_dcmh_mat` for the accepted files.
    """
    return _dcmh_dataset("nuswide", root, ("nus-wide-tc21", "nuswide", "nus-wide", "nus"), split, seed,
                         label_names, lazy, **split_kw)


def iapr(root=None, split: str = "iapr", seed: int = 0, label_names=None, lazy: bool = True, **split_kw):
    """IAPR TC-12 (255 labels, 2,912-d BoW in DCMH's release) from DCMH-format files in ``root``.

    File prefixes tried: ``iapr-tc12``, ``iapr``, ``iaprtc12``. Split: 2,000 query / rest / 10,000 / 1,000.
    """
    return _dcmh_dataset("iapr", root, ("iapr-tc12", "iapr", "iaprtc12", "iapr_tc12"), split, seed, label_names,
                         lazy, **split_kw)


def mscoco(root=None, split: str = "mscoco", seed: int = 0, label_names=None, lazy: bool = True, **split_kw):
    """MS-COCO (80 labels) from DCMH-format files in ``root``.

    File prefixes tried: ``mscoco``, ``coco``, ``coco2014``. Split: 5,000 query / rest / 10,000 / 1,000.
    """
    return _dcmh_dataset("mscoco", root, ("mscoco", "coco", "coco2014"), split, seed, label_names, lazy,
                         **split_kw)


def wiki(root=None, seed: int = 0, val_fraction: float = 0.1) -> CrossModalDataset:
    """The Wikipedia dataset (Rasiwasia et al. 2010): 2,866 single-label image-text pairs, 10 classes.

    Reads ``wiki/wikiData.mat`` (or ``wikiData.mat``) in ``root``: ``I_tr``/``I_te`` 128-d SIFT bag of visual
    words, ``T_tr``/``T_te`` 10-d LDA topic vectors, ``L_tr``/``L_te`` classes 1..10 (one-hot here).

    Rows: the 2,173 training pairs first (ids 0..2172), then the 693 test pairs. Split (preset ``"wiki"``):
    query = the test set (693), database = the training set (2,173), val = a seeded ``val_fraction`` (10%,
    217 pairs) of the database, train = the database minus val (1,956).
    """
    if not 0.0 <= float(val_fraction) < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
    r = _root(root, "Wikipedia")
    how = ("wikiData.mat is the Wikipedia cross-modal dataset in the SRLCH release "
           f"(github.com/llcing/Cross-modal-hashing-SRLCH, dataset/wikiData.mat); {_HOW_SHARED}")
    path = _need(r, ["wiki/wikiData.mat", "wikiData.mat"], "Wikipedia dataset", how)
    import scipy.io
    m = scipy.io.loadmat(str(path))
    for k in ("I_tr", "I_te", "T_tr", "T_te", "L_tr", "L_te"):
        if k not in m:
            raise ValueError(f"{path} has no variable {k}; found {sorted(x for x in m if not x.startswith('__'))}")
    img = np.concatenate([m["I_tr"], m["I_te"]]).astype(np.float32)
    txt = np.concatenate([m["T_tr"], m["T_te"]]).astype(np.float32)
    cls = np.concatenate([m["L_tr"].ravel(), m["L_te"].ravel()]).astype(np.int64)
    if cls.min() < 1 or cls.max() > 10:
        raise ValueError(f"{path}: class ids must be in 1..10, found {cls.min()}..{cls.max()}")
    labels = np.zeros((len(cls), 10), dtype=np.uint8)
    labels[np.arange(len(cls)), cls - 1] = 1
    n_tr = len(m["L_tr"].ravel())
    n = len(cls)
    pairs = PairSet(images=img, texts=txt, labels=labels, ids=np.arange(n, dtype=np.int64))
    database = np.arange(n_tr, dtype=np.int64)
    n_val = int(round(float(val_fraction) * n_tr))
    perm = np.random.default_rng(seed).permutation(n_tr)
    val, train = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    sp = Split(query=np.arange(n_tr, n, dtype=np.int64), database=database, train=train.astype(np.int64),
               val=val.astype(np.int64), seed=int(seed), preset="wiki")
    info = {"source": "Wikipedia (Rasiwasia et al., ACM MM 2010), SRLCH wikiData.mat", "root": str(r),
            "images": "128-d SIFT bag of visual words", "text": "10-d LDA topics", "n": int(n),
            "val_fraction": float(val_fraction)}
    return apply_split(pairs, sp, "wiki", WIKI_LABELS, None, info)


# --------------------------------------------------------------------------------------------- statistics
def label_stats(labels, texts=None, sample: int | None = None, seed: int = 0) -> dict:
    """Summary statistics of a label matrix (and optionally of bag-of-words texts).

    Parameters
    ----------
    labels : (n, l) 0/1 array
    texts : (n, d) array, optional
    sample : int, optional
        Estimate the relevant-pair fraction from ``sample`` seeded random rows (each against all ``n``)
        instead of exactly; useful when almost every label row is distinct (exact cost grows with the
        square of the number of distinct rows).

    Returns
    -------
    dict
        ``n``, ``n_labels``, ``labels_per_pair`` (mean/min/max), ``pairs_with_k_labels`` ({k: count}),
        ``label_frequency`` (fraction of pairs carrying each label), ``relevant_pair_fraction`` (fraction
        of ordered pairs ``i != j`` that share a label, from the chunked degrees; no ``n x n`` matrix;
        ``relevant_pair_fraction_exact`` says whether it was sampled), and with ``texts``: ``vocab_size``,
        ``tags_per_pair`` (mean/min/max), ``empty_texts``.
    """
    from .._checks import check_labels
    from ..similarity import degrees, similarity

    L = check_labels(labels, "labels")
    n = L.shape[0]
    per = L.sum(1).astype(np.int64)
    ks, counts = np.unique(per, return_counts=True)
    if n < 2:
        rel = float("nan")
    elif sample is None:
        deg = degrees(L)
        rel = (int(deg.sum()) - int((per > 0).sum())) / (n * (n - 1))
    else:
        if isinstance(sample, bool) or not isinstance(sample, (int, np.integer)) or sample < 1:
            raise ValueError(f"sample must be a positive int or None, got {sample!r}")
        rows = np.random.default_rng(seed).choice(n, size=min(int(sample), n), replace=False)
        hits = np.zeros(len(rows), dtype=np.int64)
        step = max(1, (1 << 22) // n)
        for i in range(0, len(rows), step):
            hits[i:i + step] = similarity(L[rows[i:i + step]], L).sum(1, dtype=np.int64)
        rel = float(((hits - (per[rows] > 0)) / (n - 1)).mean())
    out = {
        "n": int(n),
        "n_labels": int(L.shape[1]),
        "labels_per_pair": {"mean": float(per.mean()), "min": int(per.min()), "max": int(per.max())},
        "pairs_with_k_labels": {int(k): int(c) for k, c in zip(ks, counts)},
        "label_frequency": (L.sum(0) / n).astype(float).tolist(),
        "relevant_pair_fraction": float(rel),
        "relevant_pair_fraction_exact": sample is None,
    }
    if texts is not None:
        T = np.asarray(texts)
        if T.ndim != 2 or T.shape[0] != n:
            raise ValueError(f"texts must be 2-D with {n} rows (one per label row), got shape {T.shape}")
        tags = (T != 0).sum(1)
        out.update({"vocab_size": int(T.shape[1]),
                    "tags_per_pair": {"mean": float(tags.mean()), "min": int(tags.min()), "max": int(tags.max())},
                    "empty_texts": int((tags == 0).sum())})
    return out
