"""hashnotes.data.load: every layout written small by hashnotes.data.writers, read back item for item;
detection, the error that lists what was looked for, image paths, raw captions, fixed splits."""
from __future__ import annotations

import numpy as np
import pytest

from hashnotes import data
from hashnotes.data import writers as W

N = 60


@pytest.fixture(scope="module")
def toyset():
    ds = data.toy(n=80, image_size=16, seed=2)
    p = ds.database.subset(np.arange(N))
    img, txt, lab = np.asarray(p.images), p.texts.astype(np.uint8), p.labels
    caps = [", ".join(ds.vocab[j] for j in np.nonzero(r)[0]) for r in txt]
    return img, txt, lab, caps


def _all_rows(ds):
    """The loaded set back in id order: (images, texts, labels) over query + database."""
    parts = [ds.query, ds.database]
    ids = np.concatenate([p.ids for p in parts])
    order = np.argsort(ids)
    img = np.concatenate([np.asarray(p.images) for p in parts])[order]
    txt = np.concatenate([p.texts for p in parts])[order]
    lab = np.concatenate([p.labels for p in parts])[order]
    return img, txt, lab


def _check_split(ds, n):
    sp = ds.split
    assert len(np.intersect1d(sp.query, sp.database)) == 0 and len(sp.query) + len(sp.database) == n
    assert np.isin(sp.train, sp.database).all() and np.isin(sp.val, sp.database).all()
    assert len(np.intersect1d(sp.train, sp.val)) == 0 and len(sp.val) > 0


@pytest.mark.parametrize("merged,v73", [(False, False), (True, False), (True, True), (False, True)])
def test_dcmh_mat(tmp_path, toyset, merged, v73):
    img, txt, lab, _ = toyset
    W.write_dcmh_mat(tmp_path, img, txt, lab, prefix="toyset", merged=merged, v73=v73)
    ds = data.load(tmp_path, verbose=False, image_features=None)
    assert ds.info["layout"] == "dcmh-mat" and ds.split.preset == "scaled"
    i, t, l = _all_rows(ds)
    assert np.array_equal(i, img) and np.array_equal(t, txt) and np.array_equal(l, lab)
    _check_split(ds, N)
    if v73:
        assert isinstance(ds.train.images, data.LazyImages)  # pixels stay on disk


def test_feature_mat(tmp_path, toyset):
    img, txt, lab, _ = toyset
    feats = img.reshape(N, -1)[:, :40].astype(np.float32) / 255
    W.write_feature_mat(tmp_path, feats, txt, lab, prefix="mirflickr25k")
    ds = data.load(tmp_path, verbose=False, image_features=None)
    assert ds.info["layout"] == "feature-mat" and ds.info["keys"]["images"] == "XAll"
    i, t, l = _all_rows(ds)
    assert np.array_equal(i, feats) and i.dtype == np.float32 and np.array_equal(l, lab)
    assert ds.name == "mirflickr25k" and ds.split.preset == "scaled"  # 60 pairs: the preset does not fit
    with pytest.raises(ValueError, match="features already"):
        data.load(tmp_path, image_features="descriptor", verbose=False)


@pytest.mark.parametrize("one_file,v73,with_db", [(True, False, True), (False, True, True), (True, False, False)])
def test_split_mat(tmp_path, toyset, one_file, v73, with_db):
    img, txt, lab, _ = toyset
    f = img.reshape(N, -1)[:, :30].astype(np.float64)
    q, db = np.arange(10), np.arange(10, N)
    tr = db[::-1][:30]  # train is inside the database, in another order
    parts = {"train": (f[tr], txt[tr], lab[tr]), "query": (f[q], txt[q], lab[q])}
    if with_db:
        parts["database"] = (f[db], txt[db], lab[db])
    W.write_split_mat(tmp_path, parts, one_file=one_file, v73=v73)
    ds = data.load(tmp_path, verbose=False, seed=3, image_features=None)
    assert ds.info["layout"] == "split-mat" and ds.split.preset == "fixed"
    np.testing.assert_array_equal(ds.query.images, f[q].astype(np.float32))
    if with_db:
        np.testing.assert_array_equal(ds.database.images, f[db].astype(np.float32))
        assert ds.info["train_in_database"]
        got = {tuple(r) for r in ds.train.images} | {tuple(r) for r in ds.val.images}
        assert {tuple(r) for r in f[tr].astype(np.float32)} == {tuple(r) for r in ds.train.images}
        assert len(ds.train) == 30 and len(ds.val) == 2  # 5% of the 40-item database, outside train
        assert len(got) == 32
    else:  # Wikipedia-style: the training part is the database; validation comes out of it
        assert len(ds.database) == 30 and len(ds.train) == 27 and len(ds.val) == 3
    _check_split(ds, len(ds.query) + len(ds.database))


def test_split_mat_class_ids_become_one_hot(tmp_path):
    rng = np.random.default_rng(0)
    parts = {p: (rng.random((m, 6)), rng.random((m, 4)), rng.integers(1, 4, size=(m, 1)).astype(np.uint8))
             for p, m in (("train", 20), ("query", 8))}
    W.write_split_mat(tmp_path, parts)
    ds = data.load(tmp_path / "dataset.mat", verbose=False, image_features=None)
    assert ds.query.n_labels == 3 and (ds.query.labels.sum(1) == 1).all()
    np.testing.assert_array_equal(ds.query.labels.argmax(1) + 1, parts["query"][2][:, 0])


@pytest.mark.parametrize("style,v73", [("torchcmh", False), ("torchcmh-coco", True), ("djsrh", True), ("txt", False)])
def test_name_list_with_an_image_folder(tmp_path, toyset, style, v73):
    img, txt, lab, _ = toyset
    names = W.write_images(tmp_path / "mirflickr", img, ext="png")
    W.write_name_list(tmp_path, [f"mirflickr/{s}" for s in names], txt, lab, style=style, v73=v73)
    ds = data.load(tmp_path, image_size=16, verbose=False, image_features=None)
    assert ds.info["layout"] == "name-list"
    assert isinstance(ds.train.images, data.ImageFiles) and ds.train.images.shape[1:] == (3, 16, 16)
    i, t, l = _all_rows(ds)
    assert np.array_equal(i, img) and np.array_equal(t, txt) and np.array_equal(l, lab)  # PNG: lossless
    assert ds.info["digest"]["image_files"]["n"] == N


def test_image_paths_are_found_by_name_and_missing_ones_reported(tmp_path, toyset):
    img, txt, lab, _ = toyset
    names = W.write_images(tmp_path / "deep" / "folder", img, ext="png")
    W.write_name_list(tmp_path, [f"/old/machine/path/{s}" for s in names], txt, lab)  # absolute paths elsewhere
    ds = data.load(tmp_path, image_size=16, verbose=False, image_features=None)
    assert np.array_equal(_all_rows(ds)[0], img)
    (tmp_path / "deep" / "folder" / names[5]).unlink()
    (tmp_path / "deep" / "folder" / names[7]).unlink()
    with pytest.raises(FileNotFoundError, match="2 of 60 image files were not found"):
        data.load(tmp_path, verbose=False, image_features=None)
    ds = data.load(tmp_path, image_size=16, missing_images="drop", verbose=False, image_features=None)
    keep = np.setdiff1d(np.arange(N), [5, 7])
    assert ds.info["dropped_missing_images"] == 2
    i, t, l = _all_rows(ds)
    assert np.array_equal(i, img[keep]) and np.array_equal(l, lab[keep])


@pytest.mark.parametrize("caption_txt,label_key", [(False, "category"), (True, "label")])
def test_clip_index_with_raw_captions(tmp_path, toyset, caption_txt, label_key):
    img, txt, lab, caps = toyset
    names = W.write_images(tmp_path / "flickr25k" / "mirflickr", img, ext="png")
    W.write_clip_index(tmp_path, [f"./flickr25k/mirflickr/{s}" for s in names], caps, lab, label_key=label_key,
                       caption_txt=caption_txt)
    ds = data.load(tmp_path, image_size=16, text={"tokens": "tags", "min_df": 1}, verbose=False, image_features=None)
    assert ds.info["layout"] == "clip-index"
    vec = ds.text_vectorizer
    assert isinstance(vec, data.TextVectorizer) and ds.vocab == vec.vocabulary
    i, t, l = _all_rows(ds)
    assert np.array_equal(i, img) and np.array_equal(l, lab)
    # the vocabulary comes from the training captions only; every text is that vectorizer's output
    train_words = {w for k in ds.split.train for w in caps[k].split(", ") if w}
    assert set(vec.vocabulary) == train_words
    np.testing.assert_array_equal(t, vec.transform(caps))
    col = {w: j for j, w in enumerate(ds.vocab)}
    k = int(ds.split.train[0])
    assert {ds.vocab[j] for j in np.nonzero(t[k])[0]} == {w for w in caps[k].split(", ") if w in col}


@pytest.mark.parametrize("style", ["daph", "groups"])
def test_hdf5_split(tmp_path, toyset, style):
    img, txt, lab, _ = toyset
    q, db = np.arange(12), np.arange(12, N)
    tr = db[5:40]
    W.write_hdf5_split(tmp_path / "data.h5", {"train": (img[tr], txt[tr], lab[tr]), "query": (img[q], txt[q], lab[q]),
                                              "database": (img[db], txt[db], lab[db])}, style=style)
    ds = data.load(tmp_path / "data.h5", verbose=False, image_features=None)
    assert ds.info["layout"] == "hdf5-split" and ds.info["train_in_database"]
    assert np.array_equal(np.asarray(ds.query.images), img[q]) and np.array_equal(ds.query.labels, lab[q])
    assert np.array_equal(np.asarray(ds.database.images), img[db])
    assert len(ds.train) == len(tr) and len(ds.val) == 2
    _check_split(ds, N)


def test_detection_and_errors(tmp_path, toyset):
    img, txt, lab, _ = toyset
    with pytest.raises(FileNotFoundError) as e:
        data.load(tmp_path, verbose=False, image_features=None)
    for name in data.LAYOUTS:
        assert name in str(e.value)  # the message lists every layout it looked for
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data.load(tmp_path / "nope", image_features=None)
    W.write_dcmh_mat(tmp_path, img, txt, lab, prefix="toyset")
    assert data.detect_layout(tmp_path).layout == "dcmh-mat"
    with pytest.raises(FileNotFoundError, match="layout 'clip-index' not found"):
        data.load(tmp_path, layout="clip-index", verbose=False, image_features=None)
    with pytest.raises(ValueError, match="layout must be"):
        data.load(tmp_path, layout="matlab", image_features=None)
    with pytest.raises(ValueError, match="missing_images"):
        data.load(tmp_path, missing_images="skip", image_features=None)
    W.write_dcmh_mat(tmp_path / "two", img, txt, lab, prefix="a")
    W.write_dcmh_mat(tmp_path / "two", img, txt, lab, prefix="b")
    with pytest.raises(ValueError, match="several files"):
        data.load(tmp_path / "two", verbose=False, image_features=None)
    assert data.load(tmp_path / "two", pattern="a-*", verbose=False, image_features=None).info["layout"] == "dcmh-mat"


def test_names_and_labels_that_do_not_match(tmp_path, toyset):
    img, txt, lab, _ = toyset
    names = W.write_images(tmp_path / "img", img, ext="png")
    W.write_name_list(tmp_path, names[:-1], txt, lab)
    with pytest.raises(ValueError, match="59 image names but labelList.mat has 60"):
        data.load(tmp_path, verbose=False, image_features=None)


def test_descriptors_instead_of_pixels_and_the_cache(tmp_path, toyset):
    img, txt, lab, _ = toyset
    W.write_dcmh_mat(tmp_path / "d", img, txt, lab, prefix="toyset")
    ds = data.load(tmp_path / "d", image_features="descriptor", descriptor_size=16, cache=tmp_path / "c",
                   verbose=False)
    i = _all_rows(ds)[0]
    np.testing.assert_array_equal(i, data.image_descriptors(img, size=16))
    assert len(list((tmp_path / "c").glob("features-*.npy"))) == 1
    again = data.load(tmp_path / "d", image_features="descriptor", descriptor_size=16, cache=tmp_path / "c",
                      verbose=False)
    assert "cached" in again.info["images"] and np.array_equal(_all_rows(again)[0], i)
    assert data.load(tmp_path / "d", image_features="auto", descriptor_size=16, verbose=False).train.images.ndim == 2


def test_load_says_what_it_found(tmp_path, toyset, capsys):
    img, txt, lab, _ = toyset
    W.write_dcmh_mat(tmp_path, img, txt, lab, prefix="toyset")
    data.load(tmp_path, image_features=None)
    err = capsys.readouterr().err
    assert "layout 'dcmh-mat'" in err and "60 pairs" in err
