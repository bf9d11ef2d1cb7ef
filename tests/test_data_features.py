"""Datasets with image features in place of pixels: same split, rows looked up by id, descriptors."""
from __future__ import annotations

import numpy as np
import pytest

from hashnotes import data
from hashnotes.data.features import with_descriptors, with_image_features
from hashnotes.data.images import image_descriptors


def test_features_follow_the_ids_and_keep_the_split():
    ds = data.toy(n=200, image_size=32, seed=3)
    calls = []

    def extract(x):
        calls.append(len(x))
        return x.reshape(len(x), -1)[:, :5].astype(np.float32) + 0.5

    f = with_image_features(ds, extract, name="toy-f")
    assert calls == [len(ds.query), len(ds.database)]  # train and val are looked up, not recomputed
    for part in ("query", "database", "train", "val"):
        a, b = getattr(ds, part), getattr(f, part)
        np.testing.assert_array_equal(b.images, extract(a.images))
        np.testing.assert_array_equal(b.ids, a.ids)
        np.testing.assert_array_equal(b.texts, a.texts)
        np.testing.assert_array_equal(b.labels, a.labels)
    assert f.split is ds.split and f.name == "toy-f"


def test_descriptors_and_errors():
    ds = data.toy(n=120, image_size=32, seed=4)
    f = with_descriptors(ds, size=32)
    np.testing.assert_array_equal(f.val.images, image_descriptors(ds.val.images, size=32))
    assert "LBP" in f.info["images"]
    with pytest.raises(ValueError, match="one feature row per image"):
        with_image_features(ds, lambda x: np.zeros((3, 2)))
    with pytest.raises(ValueError, match="CrossModalDataset"):
        with_image_features(ds.train, lambda x: x)
