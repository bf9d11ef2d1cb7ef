"""The short seeded fits behind ``tests/data/method_codes.npz`` (shared by the test and its generator)."""
from __future__ import annotations

import numpy as np
import torch

from hashnotes.data.base import PairSet

N_TRAIN, N_VAL, N_QUERY = 160, 40, 40
CASES = ("dcmh", "cdhcr", "tdh")


def make_inputs() -> dict:
    """A 240-pair toy sample (images 3x16x16), cut into train / val / query by position."""
    from hashnotes import data

    ds = data.toy(n=1000, image_size=16, seed=3)
    pool = ds.database
    imgs = np.asarray(pool.images[:N_TRAIN + N_VAL + N_QUERY])
    return {"images": imgs, "texts": np.asarray(pool.texts[:len(imgs)]),
            "labels": np.asarray(pool.labels[:len(imgs)])}


def _pairs(inputs: dict, lo: int, hi: int) -> PairSet:
    return PairSet(images=inputs["images"][lo:hi], texts=inputs["texts"][lo:hi], labels=inputs["labels"][lo:hi],
                   ids=np.arange(lo, hi, dtype=np.int64))


def one_thread() -> None:
    """One torch thread for the whole fit: the metric kernels are run once first, so that starting their
    thread pool cannot change torch's thread count in the middle of a fit."""
    from hashnotes import metrics

    codes = np.array([[1, -1], [-1, 1]], dtype=np.int8)
    metrics.mean_average_precision(codes, codes, np.eye(2, dtype=np.uint8), np.eye(2, dtype=np.uint8))
    torch.set_num_threads(1)


def fit_and_encode(name: str, inputs: dict, **overrides) -> dict:
    """Fit ``name``'s small preset for 3 epochs (16 bits, seed 5, validation every epoch, one thread) and
    encode the query items. ``overrides``: further config fields (settings that must not change the codes)."""
    from hashnotes import methods

    one_thread()
    train = _pairs(inputs, 0, N_TRAIN)
    val = _pairs(inputs, N_TRAIN, N_TRAIN + N_VAL)
    query = _pairs(inputs, N_TRAIN + N_VAL, N_TRAIN + N_VAL + N_QUERY)
    model = methods.get(name).small(bits=16, epochs=3, seed=5, batch_size=32, eval_every=1, device="cpu",
                                     **overrides)
    model.fit(train, val=val, device="cpu", progress=False)
    if torch.get_num_threads() != 1:
        raise RuntimeError(f"the fit changed torch's thread count to {torch.get_num_threads()}")
    return {"image": model.encode_image(query.images), "text": model.encode_text(query.texts),
            "best_epoch": np.asarray(model.best_epoch)}
