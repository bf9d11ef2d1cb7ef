"""Where a result came from: the dataset, the split, the software and the threads it ran with.

Every checkpoint and every command-line result row embeds :func:`dataset_record` and
:func:`environment_record`, so a number can be traced back to its inputs. Both return JSON-safe dicts
(str / int / float / bool / None / list / dict only), which also survive ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import platform
import sys

import numpy as np

__all__ = ["dataset_record", "environment_record"]

# what a loader may store in ``ds.info`` that identifies the data (copied into the record when present)
_INFO_KEYS = ("layout", "path", "root", "source", "files", "digest", "keys", "images", "text", "train_in_database",
              "dropped_missing_images", "also_matched", "generator")
_TOY_KEYS = ("seed", "n", "n_concepts", "image_size", "n_scenes", "p_scene", "p_drop", "p_two_synonyms",
             "p_partial", "p_wrong", "spurious_mean")


def _jsonable(x):
    """Plain JSON types only (numpy scalars/arrays and paths converted, unknown objects as their repr)."""
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist() if x.size <= 64 else f"<array {x.dtype} {x.shape}>"
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return str(x)


def _shape(arr) -> list | None:
    try:
        return [int(s) for s in np.shape(arr)[1:]]
    except Exception:  # noqa: BLE001 - a record must never fail
        return None


def dataset_record(ds) -> dict | None:
    """JSON-safe description of a :class:`~hashnotes.data.CrossModalDataset`.

    ``name``; ``sizes`` of query / database / train / val; the ``split`` record (preset, seed, index
    digests); ``n_labels``, ``text_dim``, ``image_shape`` (one item); ``text_vectorizer`` (kind and number
    of terms, or None); and what the loader knows about the source (from ``ds.info``): ``layout``, ``path``,
    ``source`` (the toolkit whose layout it follows), ``files`` read and their ``digest`` (sha256 prefixes;
    image folders by their names and byte sizes), the ``keys`` read, how ``images`` and ``text`` were
    turned into inputs; for the toy data the generator parameters. ``None`` gives ``None`` (a model fitted
    on a bare ``PairSet`` knows no dataset).
    """
    if ds is None:
        return None
    split = getattr(ds, "split", None)
    train = getattr(ds, "train", None)
    rec = {
        "name": str(getattr(ds, "name", "unknown")),
        "sizes": {part: int(len(getattr(ds, part))) for part in ("query", "database", "train", "val")
                  if getattr(ds, part, None) is not None},
        "split": split.as_dict() if hasattr(split, "as_dict") else None,
    }
    if train is not None:
        rec["n_labels"] = int(np.shape(train.labels)[1])
        rec["text_dim"] = int(np.shape(train.texts)[1])
        rec["image_shape"] = _shape(train.images)
    vec = getattr(ds, "text_vectorizer", None)
    rec["text_vectorizer"] = None if vec is None else {"kind": vec.kind, "tokens": vec.tokens, "terms": int(vec.dim)}
    info = dict(getattr(ds, "info", None) or {})
    for k in _INFO_KEYS:
        if k in info:
            rec[k] = _jsonable(info[k])
    if info.get("generator") == "hashnotes.data.toy":
        rec["toy"] = {k: _jsonable(info[k]) for k in _TOY_KEYS if k in info}
    return rec


def _version(module: str) -> str | None:
    try:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version(module)
        except PackageNotFoundError:
            return None
    except Exception:  # noqa: BLE001
        return None


def environment_record() -> dict:
    """What can change a result or its speed: package versions, Python, platform, the threads in effect
    (torch intra-/inter-op, the metric workers, the OpenMP/MKL/numba variables, whether numba's threading
    layer was started), whether torch runs deterministic algorithms, and the CUDA device when there is one."""
    import torch

    from . import __version__
    from .threads import thread_record

    rec = {
        "hashnotes": str(__version__),
        "torch": str(torch.__version__),
        "numpy": str(np.__version__),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "versions": {name: _version(name) for name in ("numba", "scipy", "scikit-learn", "scikit-image", "h5py",
                                                       "pillow")},
        "torch_threads": int(torch.get_num_threads()),
        "threads": thread_record(),
        "deterministic_algorithms": bool(torch.are_deterministic_algorithms_enabled()),
        "cuda": None,
    }
    if torch.cuda.is_available():
        rec["cuda"] = {"device": torch.cuda.get_device_name(0), "version": str(torch.version.cuda),
                       "cudnn": torch.backends.cudnn.version()}
    return rec
