"""A dataset with its images replaced by feature vectors, split unchanged (for the feature-input methods).

``with_image_features(ds, extract)`` runs ``extract`` once on the query set and once on the database (the
training and validation sets are subsets of the database, so their rows are looked up by id, not computed
again) and returns a :class:`~hashnotes.data.base.CrossModalDataset` with the same split, texts and labels.
``with_descriptors(ds, size)`` does this with the label-free
:func:`~hashnotes.data.images.image_descriptors` (HOG + HSV histogram + uniform LBP).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .base import CrossModalDataset, PairSet

__all__ = ["with_image_features", "with_descriptors"]


def with_image_features(ds: CrossModalDataset, extract: Callable, name: str | None = None,
                        description: str | None = None) -> CrossModalDataset:
    """``ds`` with ``images = extract(images)`` in every part; ``extract`` maps ``(n, ...)`` to ``(n, d)``."""
    for part in ("query", "database", "train", "val"):
        if not hasattr(ds, part):
            raise ValueError(f"ds must be a CrossModalDataset (query, database, train, val), got {type(ds).__name__}")
    feats = {}
    for part in ("query", "database"):
        f = np.asarray(extract(getattr(ds, part).images))
        if f.ndim != 2 or len(f) != len(getattr(ds, part)):
            raise ValueError(f"extract must return one feature row per image, got shape {f.shape} for "
                             f"{len(getattr(ds, part))} {part} images")
        feats[part] = f
    row = {int(i): j for j, i in enumerate(ds.database.ids)}

    def with_rows(p: PairSet, f: np.ndarray) -> PairSet:
        return PairSet(images=f, texts=p.texts, labels=p.labels, ids=p.ids)

    def from_database(p: PairSet) -> PairSet:
        missing = [int(i) for i in p.ids if int(i) not in row]
        if missing:
            raise ValueError(f"{len(missing)} items are not in the database (e.g. id {missing[0]}); train and val "
                             "must be subsets of it")
        return with_rows(p, feats["database"][[row[int(i)] for i in p.ids]])

    info = dict(getattr(ds, "info", {}) or {})
    if description is not None:
        info["images"] = description
    return CrossModalDataset(name=name or f"{ds.name}-features", query=with_rows(ds.query, feats["query"]),
                             database=with_rows(ds.database, feats["database"]), train=from_database(ds.train),
                             val=from_database(ds.val), split=ds.split, label_names=ds.label_names,
                             vocab=ds.vocab, info=info)


def with_descriptors(ds: CrossModalDataset, size: int = 64, progress: bool = False) -> CrossModalDataset:
    """``ds`` with label-free image descriptors (:func:`~hashnotes.data.images.image_descriptors` at ``size``)."""
    from .images import image_descriptors

    return with_image_features(ds, lambda x: image_descriptors(x, size=size, progress=progress),
                               name=f"{ds.name}-descriptors",
                               description=f"HOG + HSV histogram + uniform LBP descriptors at {size} px")
