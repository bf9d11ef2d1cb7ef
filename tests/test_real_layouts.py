"""The 730 real MIRFLICKR photos (../shared/data) rearranged into each image layout: every layout loads the
same pairs, the command line trains on each, and with the image descriptor DCMH beats random codes.

The 3-seed table with the full small preset is ``experiments/real_mirflickr_layouts.py``; here one layout
runs DCMH for 5 epochs and the others run CCA, to keep the suite's time in check."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from hashnotes import data

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
import real_mirflickr_layouts as real  # noqa: E402

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def photos():
    if data.shared_data_dir() is None or not (data.shared_data_dir() / "mirflickr_thumbs_index.csv").is_file():
        pytest.skip("needs the real MIRFLICKR thumbnails and files of ../shared/data (or $HASHNOTES_DATA)")
    return real.photos(size=64)


@pytest.fixture(scope="module")
def descriptors(photos):
    return data.image_descriptors(photos.pairs.images)


@pytest.fixture(scope="module")
def folders(photos, tmp_path_factory):
    root = tmp_path_factory.mktemp("real")
    return {layout: real.arrange(root / layout, layout, photos, seed=0) for layout in real.LAYOUTS}


def _by_id(ds):
    parts = [ds.query, ds.database]
    ids = np.concatenate([p.ids for p in parts])
    order = np.argsort(ids)
    return (np.concatenate([np.asarray(p.images) for p in parts])[order],
            np.concatenate([p.texts for p in parts])[order], np.concatenate([p.labels for p in parts])[order])


@pytest.mark.parametrize("layout", real.LAYOUTS)
def test_each_layout_loads_the_real_pairs(layout, folders, photos, descriptors):
    ds = data.load(folders[layout], seed=0, image_features="auto", verbose=False)
    assert ds.info["layout"] == layout and ds.name == "mirflickr25k" and ds.label_names == data.MIRFLICKR_LABELS
    assert len(ds.query) + len(ds.database) == 730
    img, txt, lab = _by_id(ds)
    assert img.shape == (730, data.descriptor_dim())
    if layout == "hdf5-split":  # rows come query first; compare as sets of label/text rows
        key = {(tuple(a), tuple(b)) for a, b in zip(lab, txt)}
        assert key == {(tuple(a), tuple(b)) for a, b in zip(photos.pairs.labels, photos.pairs.texts)}
        assert ds.info["train_in_database"]
        return
    np.testing.assert_array_equal(lab, photos.pairs.labels)
    np.testing.assert_allclose(img, descriptors, atol=1e-6)  # the same pixels, the same descriptors
    if layout == "clip-index":  # raw tag strings, vectorised with a vocabulary from the training split
        vec = ds.text_vectorizer
        assert vec is not None and ds.info["text"].startswith("binary bag of words")
        np.testing.assert_array_equal(txt, vec.transform([",".join(t) for t in photos.tags]))
    else:
        np.testing.assert_array_equal(txt, photos.pairs.texts)


def test_dcmh_beats_random_codes_on_real_photos(folders):
    rows = {r["method"]: r for r in real.cli(folders["name-list"], seed=0, bits=16, epochs=5)}
    ds = data.load(folders["name-list"], seed=0, image_features="auto", verbose=False)
    rand_i2t, rand_t2i = real.random_floor(ds, bits=16, seed=0)
    d = rows["dcmh"]
    assert d["dataset"]["layout"] == "name-list" and "descriptors" in d["dataset"]["images"]
    assert d["map_i2t"] > rand_i2t + 0.02 and d["map_t2i"] > rand_t2i + 0.02, (d["map_i2t"], d["map_t2i"],
                                                                                rand_i2t, rand_t2i)
    assert 0.4 < rows["cca"]["map_i2t"] < 1


@pytest.mark.parametrize("layout", ["dcmh-mat", "clip-index", "hdf5-split"])
def test_the_command_line_reads_every_image_layout(layout, folders):
    rows = real.cli(folders[layout], seed=0, bits=16, methods=("cca",))
    assert rows[0]["dataset"]["layout"] == layout and rows[0]["dataset"]["sizes"]["query"] == 73
