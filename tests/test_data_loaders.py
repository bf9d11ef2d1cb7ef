"""Loaders: DCMH .mat files (v5 and v7.3/HDF5, one file or three), dataset wrappers, Wikipedia,
MIRFLICKR (small fakes always; the real files in ../shared/data when present), label statistics."""
import sys
from pathlib import Path

import h5py
import numpy as np

import pytest
import scipy.io

from hashnotes import data
from hashnotes.data import loaders

N, H, W, D, NL = 12, 5, 7, 9, 4


def _arrays(seed=0, n=N):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, size=(n, 3, H, W), dtype=np.uint8)  # (n, C, H, W): the package layout
    txt = (rng.random((n, D)) < 0.3).astype(np.uint8)
    lab = (rng.random((n, NL)) < 0.4).astype(np.uint8)
    lab[np.arange(n), rng.integers(NL, size=n)] = 1
    return img, txt, lab


def _matlab_img(img):
    return img.transpose(2, 3, 1, 0)  # MATLAB layout H x W x C x n


def _write_v73(path, arrays: dict):
    """What MATLAB's save -v7.3 writes: HDF5 with a 512-byte userblock, every array stored transposed."""
    with h5py.File(path, "w", userblock_size=512) as f:
        for k, v in arrays.items():
            ds = f.create_dataset(k, data=np.ascontiguousarray(v.T))
            ds.attrs["MATLAB_class"] = np.bytes_("uint8" if v.dtype == np.uint8 else "double")
    with open(path, "r+b") as fh:
        fh.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Nov 23 2026 HDF5 schema 1.00 .")


def _check(ps, img, txt, lab):
    assert len(ps) == len(lab)
    assert np.array_equal(np.asarray(ps.images[np.arange(len(lab))]), img)
    assert ps.texts.dtype == np.float32 and np.array_equal(ps.texts, txt)
    assert ps.labels.dtype == np.uint8 and np.array_equal(ps.labels, lab)
    sub = ps.subset([7, 2, 7, 0])
    assert np.array_equal(np.asarray(sub.images), img[[7, 2, 7, 0]])


def test_v5_single_file(tmp_path):
    img, txt, lab = _arrays()
    scipy.io.savemat(tmp_path / "FLICKR-25K.mat", {"IAll": _matlab_img(img), "YAll": txt, "LAll": lab})
    _check(data.load_dcmh_mat(tmp_path / "FLICKR-25K.mat"), img, txt, lab)
    _check(data.load_dcmh_mat(tmp_path), img, txt, lab)  # the directory: found by its keys


def test_v5_separate_files_and_n_first_images(tmp_path):
    img, txt, lab = _arrays(1)
    scipy.io.savemat(tmp_path / "toyset-iall.mat", {"IAll": img.transpose(0, 2, 3, 1)})  # n x H x W x C
    scipy.io.savemat(tmp_path / "toyset-yall.mat", {"YAll": txt})
    scipy.io.savemat(tmp_path / "toyset-lall.mat", {"LAll": lab.T})  # stored l x n: found by matching n
    _check(data.load_dcmh_mat(tmp_path, prefix="toyset"), img, txt, lab)
    _check(data.load_dcmh_mat(tmp_path), img, txt, lab)


def test_v73_single_file_lazy(tmp_path):
    img, txt, lab = _arrays(2)
    _write_v73(tmp_path / "all.mat", {"IAll": _matlab_img(img), "YAll": txt, "LAll": lab})
    with h5py.File(tmp_path / "all.mat", "r") as f:
        assert f["IAll"].shape == (N, 3, W, H)  # reversed axes on disk, as MATLAB writes them
    ps = data.load_dcmh_mat(tmp_path / "all.mat")
    assert isinstance(ps.images, data.LazyImages) and ps.images.shape == (N, 3, H, W)
    assert ps.image_shape == (3, H, W)
    _check(ps, img, txt, lab)
    assert np.array_equal(ps.images[3], img[3]) and np.array_equal(ps.images[2:5], img[2:5])
    sub = ps.subset([9, 4, 4, 1]).subset([3, 0])  # cutting a dataset reads nothing: views compose
    assert isinstance(sub.images, data.LazyImages) and len(sub.images) == 2
    assert np.array_equal(sub.images[np.array([1, 0, -1])], img[[9, 1, 9]])
    with pytest.raises(IndexError):
        sub.images[2]
    eager = data.load_dcmh_mat(tmp_path / "all.mat", lazy=False)
    assert isinstance(eager.images, np.ndarray)
    _check(eager, img, txt, lab)


def test_v73_separate_files_and_features(tmp_path):
    img, txt, lab = _arrays(3)
    feats = np.random.default_rng(0).standard_normal((N, 6))
    _write_v73(tmp_path / "IAll.mat", {"FAll": feats})
    _write_v73(tmp_path / "YAll.mat", {"YAll": txt})
    _write_v73(tmp_path / "LAll.mat", {"LAll": lab})
    ps = data.load_dcmh_mat(tmp_path)
    assert ps.images.dtype == np.float32 and np.allclose(ps.images, feats)
    assert np.array_equal(ps.labels, lab) and np.array_equal(ps.texts, txt)


def test_plain_hdf5_is_taken_as_stored(tmp_path):
    img, txt, lab = _arrays(4)
    with h5py.File(tmp_path / "set.h5", "w") as f:  # written from Python: no MATLAB transposition
        f["images"], f["tags"], f["labels"] = img, txt, lab
    _check(data.load_dcmh_mat(tmp_path / "set.h5"), img, txt, lab)


def test_missing_and_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither a .mat file nor a directory"):
        data.load_dcmh_mat(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match=r"missing .*DCMH"):
        data.load_dcmh_mat(tmp_path)
    img, txt, lab = _arrays()
    scipy.io.savemat(tmp_path / "x-yall.mat", {"YAll": txt})
    scipy.io.savemat(tmp_path / "x-lall.mat", {"LAll": lab})
    with pytest.raises(FileNotFoundError, match="no image array"):
        data.load_dcmh_mat(tmp_path)
    bad = lab.copy()
    bad[0, 0] = 2
    scipy.io.savemat(tmp_path / "x-lall.mat", {"LAll": bad})
    scipy.io.savemat(tmp_path / "x-iall.mat", {"IAll": _matlab_img(img)})
    with pytest.raises(ValueError, match="0/1"):
        data.load_dcmh_mat(tmp_path)
    scipy.io.savemat(tmp_path / "x-lall.mat", {"LAll": lab[:5]})
    with pytest.raises(ValueError, match="match the number of items"):
        data.load_dcmh_mat(tmp_path)
    (tmp_path / "junk.mat").write_bytes(b"not a mat file at all" * 10)
    with pytest.raises(ValueError, match="neither"):
        data.load_dcmh_mat(tmp_path / "junk.mat")


@pytest.mark.parametrize("fn,prefix,preset", [(data.nuswide, "nus-wide-tc21", "nuswide"),
                                              (data.iapr, "iapr-tc12", "iapr"),
                                              (data.mscoco, "coco", "mscoco")])
def test_dataset_wrappers(tmp_path, fn, prefix, preset):
    img, txt, lab = _arrays(5, n=40)
    _write_v73(tmp_path / f"{prefix}-iall.mat", {"IAll": _matlab_img(img)})
    scipy.io.savemat(tmp_path / f"{prefix}-yall.mat", {"YAll": txt})
    scipy.io.savemat(tmp_path / f"{prefix}-lall.mat", {"LAll": lab})
    ds = fn(tmp_path, n_query=5, n_train=20, n_val=5, seed=1)
    assert ds.name == preset and ds.split.preset == preset
    assert (len(ds.query), len(ds.database), len(ds.train), len(ds.val)) == (5, 35, 20, 5)
    assert np.array_equal(ds.train.images, img[ds.split.train])
    assert np.array_equal(ds.query.labels, lab[ds.split.query])
    with pytest.raises(ValueError, match="n_query="):
        fn(tmp_path)  # the paper preset needs more items than this small file has
    with pytest.raises(FileNotFoundError, match="no DCMH-format files"):
        fn(tmp_path / "..", n_query=5)


def _fake_mirflickr(root: Path, n=30):
    rng = np.random.default_rng(0)
    lab = (rng.random((n, 24)) < 0.2).astype(np.uint8)
    lab[:, 0] = 1
    txt = (rng.random((n, 11)) < 0.3).astype(np.uint8)
    txt[:, 1] = 1
    scipy.io.savemat(root / "mirflickr25k-lall.mat", {"LAll": lab})
    scipy.io.savemat(root / "mirflickr25k-yall.mat", {"YAll": txt})
    (root / "mirflickr25k-all_imgs.txt").write_text("".join(f"mirflickr/im{i + 1}.jpg\n" for i in range(n)))
    (root / "mirflickr25k-yall-vocab.txt").write_text("".join(f"w{i}\n" for i in range(11)))
    return lab, txt


def test_mirflickr25k_fake_names_and_pixels(tmp_path):
    lab, txt = _fake_mirflickr(tmp_path)
    ds = data.mirflickr25k(tmp_path, split=None, n_query=5, n_val=3, n_train=10)
    assert ds.label_names == data.MIRFLICKR_LABELS and ds.vocab[:2] == ("w0", "w1")
    assert ds.query.images.dtype == object and ds.query.images[0] == f"mirflickr/im{ds.query.ids[0] + 1}.jpg"
    assert np.array_equal(ds.database.labels, lab[ds.split.database])
    img = np.random.default_rng(1).integers(0, 256, size=(30, 3, 8, 8), dtype=np.uint8)
    _write_v73(tmp_path / "mirflickr25k-iall.mat", {"IAll": _matlab_img(img)})
    ds = data.mirflickr25k(tmp_path, split=None, n_query=5)
    assert np.array_equal(np.asarray(ds.query.images), img[ds.split.query])
    with pytest.raises(FileNotFoundError, match="mirflickr25k-lall.mat"):
        data.mirflickr25k(tmp_path / "..")


def test_missing_root_messages(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        data.mirflickr25k(tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match=r"wikiData.mat.*SRLCH"):
        data.wiki(tmp_path)
    with pytest.raises(FileNotFoundError, match="mirflickr_thumbs_index.csv"):
        data.mirflickr_photos(tmp_path)
    monkeypatch.setattr(loaders, "shared_data_dir", lambda: None)
    with pytest.raises(FileNotFoundError, match="HASHNOTES_DATA"):
        data.wiki()


def test_shared_data_dir_env(tmp_path, monkeypatch):
    monkeypatch.setenv("HASHNOTES_DATA", str(tmp_path))
    assert data.shared_data_dir() == tmp_path.resolve()
    monkeypatch.setenv("HASHNOTES_DATA", str(tmp_path / "absent"))
    with pytest.warns(UserWarning, match="not a directory"):
        assert data.shared_data_dir() is None


def test_shared_data_dir_falls_back_to_the_download_folder(tmp_path, monkeypatch):
    """Without $HASHNOTES_DATA or a ../shared/data, the folder data.download() fills is used once it has files."""
    monkeypatch.delenv("HASHNOTES_DATA", raising=False)
    monkeypatch.setattr(loaders, "_REPO_ROOT", tmp_path / "repo")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(sys, "platform", "linux")
    assert data.shared_data_dir() is None  # no cache folder yet
    cache = tmp_path / "cache" / "hashnotes" / "data"
    cache.mkdir(parents=True)
    assert data.shared_data_dir() is None  # an empty one is no data
    (cache / "wikiData.mat").write_bytes(b"x")
    assert data.shared_data_dir() == cache.resolve()


def test_wiki_fake(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "wiki").mkdir()
    m = {"I_tr": rng.random((50, 128)), "I_te": rng.random((20, 128)), "T_tr": rng.random((50, 10)),
         "T_te": rng.random((20, 10)), "L_tr": rng.integers(1, 11, (50, 1)).astype(np.uint8),
         "L_te": rng.integers(1, 11, (20, 1)).astype(np.uint8)}
    scipy.io.savemat(tmp_path / "wiki" / "wikiData.mat", m)
    ds = data.wiki(tmp_path, seed=3)
    assert (len(ds.query), len(ds.database), len(ds.train), len(ds.val)) == (20, 50, 45, 5)
    assert np.array_equal(ds.query.ids, np.arange(50, 70))
    assert np.allclose(ds.query.images, m["I_te"]) and ds.query.images.dtype == np.float32
    assert np.array_equal(ds.query.labels.argmax(1) + 1, m["L_te"].ravel())
    assert np.all(ds.database.labels.sum(1) == 1)
    assert not np.intersect1d(ds.split.train, ds.split.val).size
    assert ds.label_names[0] == "art" and len(ds.label_names) == 10


def test_label_stats_vs_brute():
    rng = np.random.default_rng(0)
    L = (rng.random((40, 5)) < 0.25).astype(np.uint8)
    L[:2] = 0
    T = (rng.random((40, 7)) < 0.3).astype(np.float32)
    st = data.label_stats(L, T)
    rel = sum(int(L[i] @ L[j] > 0) for i in range(40) for j in range(40) if i != j) / (40 * 39)
    assert st["relevant_pair_fraction"] == pytest.approx(rel, abs=1e-15)
    per = L.sum(1)
    assert st["labels_per_pair"] == {"mean": per.mean(), "min": 0, "max": per.max()}
    assert sum(st["pairs_with_k_labels"].values()) == 40 and st["pairs_with_k_labels"][0] >= 2
    assert np.allclose(st["label_frequency"], L.mean(0))
    assert st["vocab_size"] == 7 and st["tags_per_pair"]["mean"] == pytest.approx((T > 0).sum(1).mean())
    full = data.label_stats(L, sample=40)  # every row sampled: equals the exact value
    assert full["relevant_pair_fraction"] == pytest.approx(rel, abs=1e-12) and not full["relevant_pair_fraction_exact"]
    L2 = (rng.random((3000, 6)) < 0.2).astype(np.uint8)
    est, exact = data.label_stats(L2, sample=400, seed=1), data.label_stats(L2)
    assert abs(est["relevant_pair_fraction"] - exact["relevant_pair_fraction"]) < 0.05
    with pytest.raises(ValueError, match="sample"):
        data.label_stats(L, sample=0)
    with pytest.raises(ValueError, match="texts"):
        data.label_stats(L, T[:3])
    with pytest.raises(ValueError, match="binary"):
        data.label_stats(L * 2)


# ---------------------------------------------------------------------------------- real data
SHARED = data.shared_data_dir()


def _need(name):
    if SHARED is None or not (SHARED / name).exists():
        pytest.skip(f"real data file {name} not found (no ../shared/data or $HASHNOTES_DATA)")


def test_real_mirflickr25k():
    _need("mirflickr25k-lall.mat")
    _need("mirflickr25k-yall.mat")
    ds = data.mirflickr25k()
    L = np.concatenate([ds.query.labels, ds.database.labels])
    T = np.concatenate([ds.query.texts, ds.database.texts])
    assert L.shape == (20015, 24) and int(L.sum()) == 75640 and L.sum(1).min() >= 1
    assert T.shape == (20015, 1386) and int(T.sum()) == 92808 and T.sum(1).min() >= 1
    assert (len(ds.query), len(ds.database), len(ds.train), len(ds.val)) == (2000, 18015, 10000, 1000)
    assert len(ds.vocab) == 1386
    names = np.concatenate([ds.query.images, ds.database.images])
    ids = np.concatenate([ds.query.ids, ds.database.ids])
    assert names[ids == 0][0] == "mirflickr/im1.jpg"
    # label names per row (README) agree with the LAll columns
    _need("mirflickr25k-labels_annotation.txt")
    lines = (SHARED / "mirflickr25k-labels_annotation.txt").read_text(encoding="utf-8").splitlines()
    for r in (0, 1, 2, 999, 20014):
        row = L[ids == r][0]
        assert sorted(ds.label_names[i] for i in np.nonzero(row)[0]) == sorted(lines[r].split(","))


def test_real_mirflickr_photos():
    _need("mirflickr_thumbs_index.csv")
    _need("mirflickr_thumbs_im1-1000")
    ph = data.mirflickr_photos(size=32)
    assert ph.pairs.images.shape == (730, 3, 32, 32) and ph.pairs.images.dtype == np.uint8
    assert len(ph.tags) == len(ph.labels) == 730
    assert ph.tags[0] == ["cigarette", "tattoos", "smoke", "red", "dress", "sunglasses"]
    for k in (0, 100, 729):
        assert sorted(ph.label_names[i] for i in np.nonzero(ph.pairs.labels[k])[0]) == sorted(ph.labels[k])
        assert set(ph.tags[k]) >= {ph.vocab[i] for i in np.nonzero(ph.pairs.texts[k])[0]}


def test_real_wiki():
    _need("wiki/wikiData.mat")
    ds = data.wiki()
    assert (len(ds.query), len(ds.database), len(ds.train), len(ds.val)) == (693, 2173, 1956, 217)
    assert ds.query.images.shape == (693, 128) and ds.database.texts.shape == (2173, 10)
    assert np.all(ds.query.labels.sum(1) == 1)


def test_a_name_list_is_not_taken_for_pixels(tmp_path):
    """DJSRH-style <name>-fall.mat holds image file names: load_dcmh_mat says so (it used to fail inside numpy
    with "setting an array element with a sequence"), and data.load reads the folder as a name list."""
    img, txt, lab = _arrays(4)
    from hashnotes.data import writers

    names = writers.write_images(tmp_path / "mirflickr", img, ext="png")
    writers.write_name_list(tmp_path, names, txt, lab, style="djsrh", prefix="mir")
    with pytest.raises(ValueError, match="holds strings.*name-list"):
        data.load_dcmh_mat(tmp_path)
    ds = data.load(tmp_path, image_size=W if W == H else 8, image_features=None, verbose=False)
    assert ds.info["layout"] == "name-list" and len(ds.query) + len(ds.database) == N
