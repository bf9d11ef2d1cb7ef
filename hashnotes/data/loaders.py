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
from .catalog import DATASETS, IMAGE_KEYS, LABEL_KEYS, MIRFLICKR_LABELS, TEXT_KEYS, WIKI_LABELS
from .download import default_root
from .images import read_image
from .matio import LazyImages, _find_key, _infer_n, _mat_keys, _orient
from .protocol import apply_split, make_split

__all__ = ["load", "DATASETS", "shared_data_dir", "load_dcmh_mat", "mirflickr25k", "mirflickr_photos", "MirflickrPhotos",
           "nuswide", "iapr", "mscoco", "wiki", "label_stats", "LazyImages", "MIRFLICKR_LABELS", "WIKI_LABELS"]

_REPO_ROOT = Path(__file__).resolve().parents[2]

_HOW_DCMH = ("Get the DCMH-format files (IAll/YAll/LAll .mat, e.g. the DCMH release "
             "https://github.com/jiangqy/DCMH-CVPR2017 or the mirflickr25k-*.mat files used by DJSRH/UCCH) "
             "and pass their directory as root= (or set $HASHNOTES_DATA)")
_HOW_SHARED = ("The project reads real data from ../shared/data next to the repository (see its README.md) "
               "or from $HASHNOTES_DATA; pass root= to use another directory")


def shared_data_dir() -> Path | None:
    """The directory with the project's real data files, or ``None`` when there is none.

    ``$HASHNOTES_DATA`` when set (a warning and ``None`` if it is not a directory); otherwise the first
    existing ``../shared/data`` relative to the repository root, then to the current directory and
    each of its parents (so it works from ``book/`` and ``tests/``); otherwise the folder ``data.download``
    fills by default (the user's cache folder), when it exists and is not empty.
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
    cache = default_root()
    if cache.is_dir() and any(cache.iterdir()):
        return cache.resolve()
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


# --------------------------------------------------------------------------------------------- one entry
_PATH_ONLY = ("split", "n_query", "n_train", "n_val", "image_arch", "text", "name", "pattern", "lazy")


def load(name_or_path, layout: str = "auto", *, seed: int = 0, root=None, toy_n: int = 10000,
         image_features="auto", image_size: int = 224, descriptor_size: int = 64, images_root=None, cache=None,
         missing_images: str = "error", verbose: bool = True, **options) -> CrossModalDataset:
    """The dataset ``name_or_path``, cut by its protocol split (seeded): the one way in, from Python and from
    the command line (``--data``), with the same defaults.

    Parameters
    ----------
    name_or_path : str or Path
        A name of :data:`DATASETS` (``"toy"``: the embedded generator, ``toy_n`` pairs; ``"mirflickr25k"``,
        ``"nuswide"``, ``"iapr"``, ``"mscoco"``, ``"wiki"``: the named loaders, reading ``root``), or a folder
        or file in any layout of :data:`hashnotes.data.layouts.LAYOUTS` (detected unless ``layout`` names
        one). A :class:`~pathlib.Path` is always a path (``Path("toy")`` for a folder called ``toy``).
    image_features : "auto" (default), None, "descriptor" or a weights file
        ``"auto"``: real pixel images become label-free descriptors
        (:func:`~hashnotes.data.images.image_descriptors`, ``descriptor_size`` px): without pretrained weights
        a CNN trained from scratch on a few hundred real photos learns nothing; toy pixels and stored
        features stay as they are. ``None`` (or ``"none"``): images as stored (pixels go to a CNN).
        ``"descriptor"``: descriptors always. A CNN-F ``.mat`` / ResNet-34 ``.pth`` file: CNN features (paths
        only; see :func:`hashnotes.data.layouts.load`).
    seed : int
        Seed of the split (and of the toy generator).
    root : folder, optional
        Where a named real dataset's files are (default: :func:`shared_data_dir`). Not for paths or toy.
    image_size, images_root, cache, missing_images, verbose, **options
        For paths: see :func:`hashnotes.data.layouts.load` (``split``, ``n_query``, ``n_train``, ``n_val``,
        ``image_arch``, ``text``, ``name``, ``pattern``, ``lazy``). The named MIRFLICKR-25K, NUS-WIDE, IAPR
        TC-12 and MS-COCO loaders take ``split``, ``n_query``, ``n_train`` and ``n_val`` too.

    >>> load("toy", toy_n=200).name
    'toy'
    """
    from .features import with_image_features
    from .images import image_descriptors

    unknown = sorted(set(options) - set(_PATH_ONLY))
    if unknown:
        raise TypeError(f"load() got unexpected arguments {unknown}")
    if image_features == "none":
        image_features = None
    simple = image_features in ("auto", None, "descriptor")
    if not simple and not Path(str(image_features)).expanduser().is_file():
        raise FileNotFoundError(f"image_features={str(image_features)!r} is neither auto, none, descriptor nor "
                                "an existing weights file")
    named = isinstance(name_or_path, str) and name_or_path in DATASETS
    if named and layout != "auto":
        raise ValueError(f"layout={layout!r} applies to a path, not to the dataset name {name_or_path!r}")
    split_kw = {k: options.pop(k) for k in ("split", "n_query", "n_train", "n_val") if k in options} \
        if named and name_or_path in ("mirflickr25k", "nuswide", "iapr", "mscoco") else {}
    if named and options:
        raise ValueError(f"{', '.join(sorted(options))} apply to a path, not to the dataset name {name_or_path!r}")
    if name_or_path == "toy" and named:
        from .toy import toy

        if root is not None:
            raise ValueError("root does not apply to the toy data (it is generated, not read); drop it, or pass "
                             "the path of data on disk")
        if image_features not in ("auto", None):
            raise ValueError(f"image_features={image_features!r} applies to real photos, not to the toy data")
        return toy(n=toy_n, seed=seed)
    if named:
        name = name_or_path
        if not simple:
            raise ValueError(f"image_features={str(image_features)!r} (a weights file) works with a path; the "
                             f"named dataset {name!r} reads its images as stored (auto: descriptors for pixels)")
        if name == "wiki":
            ds = wiki(root=root, seed=seed)
        elif name == "mirflickr25k":  # training needs pixels: the loader explains where IAll is looked for
            ds = mirflickr25k(root=root, seed=seed, images="pixels", **split_kw)
        else:
            ds = {"nuswide": nuswide, "iapr": iapr, "mscoco": mscoco}[name](root=root, seed=seed, **split_kw)
        if image_features is not None and np.ndim(ds.train.images) == 4:
            ds = with_image_features(
                ds, lambda x: image_descriptors(x, size=descriptor_size), name=ds.name,
                description=f"image descriptors (HOG + HSV histogram + LBP at {descriptor_size} px) of the stored "
                            "pixels")
        elif image_features == "descriptor":
            raise ValueError(f"image_features='descriptor' needs pixel images, but {name!r} stores "
                             f"{np.shape(ds.train.images)[1:]}-d features already")
    else:
        from . import layouts

        path = Path(name_or_path).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"data path {str(name_or_path)!r} does not exist, and it is not a dataset name "
                                    f"({', '.join(DATASETS)})")
        if root is not None:
            raise ValueError("root is for named datasets; with a path the path is the data (use images_root for "
                             "the image folder)")
        ds = layouts.load(path, layout=layout, seed=seed, image_features=image_features, image_size=image_size,
                          descriptor_size=descriptor_size, images_root=images_root, cache=cache,
                          missing_images=missing_images, verbose=verbose, **options)
    if np.ndim(ds.train.images) not in (2, 4):
        raise ValueError(f"{str(name_or_path)!r}: the files give no image pixels or features (images have shape "
                         f"{np.shape(ds.train.images)}); training needs them")
    return ds


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
