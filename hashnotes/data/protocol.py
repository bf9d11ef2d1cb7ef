"""Protocol splits: query / database / train (a subset of the database) / validation.

The presets follow the DCMH protocol (Jiang & Li 2017; a random query set, the rest is the retrieval
database, the training set is drawn from the database). A validation set is held out of the database,
disjoint from the training set, and is the only set used for model selection (the book's appendix,
"Notation and decisions", says why).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import CrossModalDataset, PairSet, Split

__all__ = ["Protocol", "PROTOCOLS", "make_split", "apply_split", "toy_sizes", "scaled_sizes"]


def toy_sizes(n: int) -> tuple[int, int, int]:
    """Sizes of the ``"toy"`` preset for ``n`` pairs: ``(n_query, n_train, n_val)``.

    Rule: ``n_query = round(0.10 n)``, ``n_val = round(0.05 n)``, ``n_train = min(2000, round(0.40 n))``
    (training is capped at 2,000 pairs so that the book's fits stay CPU-sized). ``n = 10,000`` gives
    1,000 / 9,000 / 2,000 / 500 and ``n = 2,000`` gives 200 / 1,800 / 800 / 100.
    """
    n = int(n)
    return max(1, round(0.10 * n)), max(1, min(2000, round(0.40 * n))), round(0.05 * n)


def scaled_sizes(n: int) -> tuple[int, int, int]:
    """Sizes of the ``"scaled"`` preset (a user's data of any size): ``(n_query, n_train, n_val)``.

    ``n_query = min(2000, round(0.10 n))``, ``n_val = min(1000, round(0.05 n))`` and
    ``n_train = min(10000, n - n_query - n_val)``: the DCMH MIRFLICKR-25K sizes for large sets; for a small
    set every database item outside the validation set trains (730 pairs: 73 / 657 / 621 / 36).
    """
    n = int(n)
    q = min(2000, max(1, round(0.10 * n)))
    v = min(1000, round(0.05 * n))
    return q, max(1, min(10000, n - q - v)), v


@dataclass(frozen=True)
class Protocol:
    """A named split preset. ``n_query``/``n_train``/``n_val`` are item counts; the database is the rest.

    ``n_total`` is the dataset size the preset was written for (informational; other ``n`` are allowed
    as long as the sizes fit). ``toy`` scales with ``n`` (see :func:`toy_sizes`).
    """

    name: str
    n_query: int | None
    n_train: int | None
    n_val: int | None
    n_total: int | None = None
    source: str = ""

    def sizes(self, n: int) -> tuple[int, int, int]:
        if self.name == "toy":
            return toy_sizes(n)
        if self.name == "scaled":
            return scaled_sizes(n)
        return int(self.n_query), int(self.n_train), int(self.n_val)


PROTOCOLS: dict[str, Protocol] = {
    "mirflickr25k": Protocol("mirflickr25k", 2000, 10000, 1000, 20015,
                             "DCMH release: QUERY_SIZE=2000, TRAINING_SIZE=10000, DATABASE_SIZE=18015"),
    "nuswide": Protocol("nuswide", 2100, 10500, 1000, 195834,
                        "DCMH paper §4.2 / torchcmh nus_wide.py: 2,100 query, 10,500 train"),
    "iapr": Protocol("iapr", 2000, 10000, 1000, 20000,
                     "DCMH paper §4.2 / torchcmh tc12.py: 2,000 query, 10,000 train"),
    "mscoco": Protocol("mscoco", 5000, 10000, 1000, 122218,
                       "torchcmh coco2014.py: 5,000 query, 10,000 train"),
    "toy": Protocol("toy", None, None, None, 10000,
                    "hashnotes toy: 10% query, train min(2000, 40%), val 5% (toy_sizes)"),
    "scaled": Protocol("scaled", None, None, None, 20015,
                       "hashnotes, any n: query min(2000, 10%), val min(1000, 5%), train min(10000, rest); "
                       "at n = 20,015 the DCMH MIRFLICKR-25K sizes"),
}


def _as_count(value, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an int, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return int(value)


def make_split(n: int, preset: str | None = None, n_query: int | None = None, n_train: int | None = None,
               n_val: int | None = None, seed: int = 0) -> Split:
    """Seeded protocol split of ``n`` items.

    Parameters
    ----------
    n : int
        Number of pairs in the dataset.
    preset : str or None
        A key of :data:`PROTOCOLS`. Explicit ``n_query``/``n_train``/``n_val`` override its sizes.
        With ``preset=None`` ("custom"), ``n_query`` is required, ``n_val`` defaults to 0 and
        ``n_train`` to the whole database minus the validation items.
    seed : int
        Seed of ``np.random.default_rng``; the same seed gives the same split.

    Returns
    -------
    Split
        One permutation ``p`` of ``range(n)``: ``query = p[:n_query]``, ``database`` = the rest,
        ``train`` = the first ``n_train`` database items of ``p``, ``val`` = the next ``n_val``.
        Every index array is returned sorted ascending (row order of the dataset).
    """
    n = _as_count(n, "n")
    if n < 2:
        raise ValueError(f"n must be >= 2 to hold a query and a database item, got {n}")
    if preset is not None:
        if preset not in PROTOCOLS:
            raise ValueError(f"preset must be one of {sorted(PROTOCOLS)} or None, got {preset!r}")
        q0, t0, v0 = PROTOCOLS[preset].sizes(n)
        q = q0 if n_query is None else _as_count(n_query, "n_query")
        v = v0 if n_val is None else _as_count(n_val, "n_val")
        t = t0 if n_train is None else _as_count(n_train, "n_train")
    else:
        if n_query is None:
            raise ValueError("n_query is required when preset=None (or pass a preset, e.g. 'toy')")
        q = _as_count(n_query, "n_query")
        v = 0 if n_val is None else _as_count(n_val, "n_val")
        t = (n - q - v) if n_train is None else _as_count(n_train, "n_train")
    name = preset or "custom"
    if q < 1 or q >= n:
        raise ValueError(f"n_query={q} must be in 1..n-1={n - 1} so that query and database are both non-empty "
                         f"(preset {name!r}, n={n})")
    n_db = n - q
    if t < 1:
        raise ValueError(f"n_train must be >= 1, got {t} (preset {name!r}, n={n})")
    if t + v > n_db:
        raise ValueError(f"n_train + n_val = {t} + {v} = {t + v} does not fit in the database of "
                         f"n - n_query = {n} - {q} = {n_db} items (preset {name!r}); pass smaller sizes")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise ValueError(f"seed must be an int, got {seed!r}")
    perm = np.random.default_rng(int(seed)).permutation(n).astype(np.int64)
    query, database = perm[:q], perm[q:]
    train, val = database[:t], database[t:t + v]
    return Split(query=np.sort(query), database=np.sort(database), train=np.sort(train), val=np.sort(val),
                 seed=int(seed), preset=name)


def apply_split(pairs: PairSet, split: Split, name: str, label_names, vocab=None, info=None,
                text_vectorizer=None) -> CrossModalDataset:
    """Cut ``pairs`` by ``split`` into a :class:`~hashnotes.data.base.CrossModalDataset`."""
    n = len(pairs)
    for part in ("query", "database", "train", "val"):
        idx = getattr(split, part)
        if len(idx) and (int(np.min(idx)) < 0 or int(np.max(idx)) >= n):
            raise ValueError(f"split.{part} has indices outside 0..{n - 1}; the split was made for a different n")
    label_names = tuple(str(s) for s in label_names)
    if len(label_names) != pairs.n_labels:
        raise ValueError(f"label_names has {len(label_names)} names but the labels have {pairs.n_labels} columns")
    if vocab is not None:
        vocab = tuple(str(s) for s in vocab)
        if len(vocab) != pairs.text_dim:
            raise ValueError(f"vocab has {len(vocab)} words but the texts have {pairs.text_dim} columns")
    return CrossModalDataset(
        name=name,
        query=pairs.subset(split.query),
        database=pairs.subset(split.database),
        train=pairs.subset(split.train),
        val=pairs.subset(split.val),
        split=split,
        label_names=label_names,
        vocab=vocab,
        info=dict(info or {}),
        text_vectorizer=text_vectorizer,
    )
