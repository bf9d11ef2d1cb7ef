"""Containers shared by every loader: a set of image-text pairs, a protocol split, a dataset."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def _index_digest(idx: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(idx, dtype=np.int64).tobytes()).hexdigest()[:16]


def _images_text(images) -> str:
    """``images 3x32x32 uint8 pixels`` / ``images 1932-d features``: a short description for reprs."""
    shape = tuple(int(x) for x in getattr(images, "shape", (len(images),))[1:])
    dtype = getattr(images, "dtype", None)
    if len(shape) == 3:
        return f"images {'x'.join(map(str, shape))} {dtype} pixels"
    if len(shape) == 1:
        return f"images {shape[0]}-d features"
    return f"images of shape {shape}"


@dataclass(frozen=True, eq=False)
class PairSet:
    """``n`` aligned image-text pairs.

    images: array-like ``(n, C, H, W)`` uint8 pixels *or* ``(n, d)`` float32 features. It may be an
        on-disk array (h5py dataset) that supports ``images[sorted_index_array]``.
    texts:  ``(n, d_text)`` float32 (bag of words, or text features).
    labels: ``(n, n_labels)`` uint8 multi-hot; two items are relevant when they share a label.
    ids:    ``(n,)`` int64 row numbers in the full dataset (so every subset can be traced back).
    """

    images: Any
    texts: np.ndarray
    labels: np.ndarray
    ids: np.ndarray

    def __post_init__(self):
        n = len(self.ids)
        for name in ("images", "texts", "labels"):
            m = len(getattr(self, name))
            if m != n:
                raise ValueError(f"PairSet.{name} has {m} rows but ids has {n}; all parts must be aligned")
        if np.ndim(self.labels) != 2:
            raise ValueError(f"PairSet.labels must be 2-D (n, n_labels), got shape {np.shape(self.labels)}")
        if np.ndim(self.texts) != 2:
            raise ValueError(f"PairSet.texts must be 2-D (n, d_text), got shape {np.shape(self.texts)}")

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return f"PairSet({len(self):,} pairs; {_images_text(self.images)}, texts {self.text_dim}-d, {self.n_labels} labels)"

    @property
    def n_labels(self) -> int:
        return int(self.labels.shape[1])

    @property
    def text_dim(self) -> int:
        return int(self.texts.shape[1])

    @property
    def image_shape(self) -> tuple[int, ...]:
        """Shape of one image item: ``(C, H, W)`` for pixels or ``(d,)`` for features."""
        return tuple(int(s) for s in self.images.shape[1:])

    def subset(self, idx) -> "PairSet":
        """Rows ``idx`` (positions in this set), in the given order."""
        idx = np.asarray(idx, dtype=np.int64)
        return PairSet(
            images=take_rows(self.images, idx),
            texts=self.texts[idx],
            labels=self.labels[idx],
            ids=self.ids[idx],
        )


def take_rows(arr, idx: np.ndarray):
    """``arr[idx]`` that also works for h5py datasets (which need increasing indices).

    Objects with a ``lazy_subset`` method (``data.LazyImages``) return a lazy view instead of reading.
    """
    if isinstance(arr, np.ndarray):
        return arr[idx]
    if hasattr(arr, "lazy_subset"):
        return arr.lazy_subset(idx)
    order = np.argsort(idx, kind="stable")
    sorted_idx = idx[order]
    uniq, inverse = np.unique(sorted_idx, return_inverse=True)
    block = np.asarray(arr[uniq])
    out = np.empty((len(idx),) + block.shape[1:], dtype=block.dtype)
    out[order] = block[inverse]
    return out


@dataclass(frozen=True, eq=False)
class Split:
    """Protocol split of ``n`` pairs into query / database / train (a subset of the database) / val.

    ``val`` is drawn from the database items that are not in ``train`` and is used only for model
    selection (queries against the training items); the query set is never used to choose a model.
    """

    query: np.ndarray
    database: np.ndarray
    train: np.ndarray
    val: np.ndarray
    seed: int
    preset: str = "custom"

    def __repr__(self) -> str:
        return (f"Split({self.preset!r}, seed {self.seed}: query {len(self.query):,}, database {len(self.database):,}, "
                f"train {len(self.train):,}, val {len(self.val):,})")

    def as_dict(self) -> dict:
        """A JSON-able record of the split, stored with every result."""
        return {
            "preset": self.preset,
            "seed": int(self.seed),
            "n_query": int(len(self.query)),
            "n_database": int(len(self.database)),
            "n_train": int(len(self.train)),
            "n_val": int(len(self.val)),
            "digest": {k: _index_digest(getattr(self, k)) for k in ("query", "database", "train", "val")},
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True)


@dataclass(frozen=True, eq=False)
class CrossModalDataset:
    """A dataset cut by a protocol split. ``train`` and ``val`` are subsets of ``database``.

    ``text_vectorizer``: the :class:`~hashnotes.data.text.TextVectorizer` that turned raw strings into
    ``texts`` (fitted on the training split only), or ``None`` when the texts came as vectors. A model
    fitted on the dataset keeps it, so that it can encode new strings. ``info`` says where the data came
    from (layout, path, files and their digests: see :func:`hashnotes.provenance.dataset_record`).
    """

    name: str
    query: PairSet
    database: PairSet
    train: PairSet
    val: PairSet
    split: Split
    label_names: tuple[str, ...]
    vocab: tuple[str, ...] | None = None
    info: dict = field(default_factory=dict)
    text_vectorizer: Any = None

    def __repr__(self) -> str:
        where = self.info.get("layout") or self.info.get("source")
        return (f"CrossModalDataset({self.name!r}{f' ({where})' if where else ''}: query {len(self.query):,}, "
                f"database {len(self.database):,}, train {len(self.train):,}, val {len(self.val):,}; "
                f"{_images_text(self.query.images)}, texts {self.query.text_dim}-d, {len(self.label_names)} labels; "
                f"split {self.split.preset!r} seed {self.split.seed})")

    def describe(self) -> dict:
        return {"name": self.name, "split": self.split.as_dict(), **self.info}
