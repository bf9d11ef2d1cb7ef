"""Reading a folder in any layout: :func:`load` (the layout found by :mod:`.registry`, read by its module,
then the shared steps: the split, raw captions to vectors, image files and image features, provenance)."""
from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

import numpy as np

from ..base import PairSet, Split
from ..catalog import MIRFLICKR_LABELS, WIKI_LABELS
from ..images import ImageFiles, cnn_features, image_descriptors
from ..protocol import PROTOCOLS, apply_split, make_split
from ..text import TextVectorizer
from .common import Detected, ReadOptions, file_digest, scan
from .registry import LAYOUTS, REGISTRY, detect_all, not_found_message

__all__ = ["load"]


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
         n_train: int | None = None, n_val: int | None = None, image_size: int = 224, image_features="auto",
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
    image_features : "auto" (default), None, "descriptor" or a weights file
        ``"auto"``: descriptors for pixel images (without pretrained weights a CNN trained from scratch on
        real photos learns nothing at this scale), stored features as they are. ``None`` (or ``"none"``):
        images as stored (pixels, lazily, or features). ``"descriptor"``: replace pixels by
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
    if image_features == "none":
        image_features = None
    if missing_images not in ("error", "drop"):
        raise ValueError(f"missing_images must be 'error' or 'drop', got {missing_images!r}")
    if layout != "auto" and layout not in LAYOUTS:
        raise ValueError(f"layout must be 'auto' or one of {sorted(LAYOUTS)}, got {layout!r}")
    s = scan(path, pattern)
    p, root = s.path, s.root
    found = detect_all(s)
    if layout == "auto":
        if not found:
            raise FileNotFoundError(not_found_message(s))
        order = list(found)
        chosen, also = order[0], order[1:]
    else:
        if layout not in found:
            raise FileNotFoundError(f"layout {layout!r} not found in {str(p)!r}: it needs {LAYOUTS[layout].keys}"
                                    + (f"; found {sorted(found)} instead" if found else ""))
        chosen, also = layout, []
    det = Detected(chosen, root, found[chosen], tuple(also))
    raw = REGISTRY[chosen].read(det.vars, s, ReadOptions(lazy=lazy, images_root=images_root,
                                                          missing_images=missing_images))
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
