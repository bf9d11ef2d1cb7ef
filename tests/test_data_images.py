"""Images from files (Pillow), the lazy ImageFiles array and its cache, the scikit-image descriptors,
and CNN features from a user's weights file."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from hashnotes import data
from hashnotes.data import images as images_mod
from hashnotes.data.base import PairSet, take_rows

COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255), (255, 0, 255),
           (128, 128, 128), (20, 200, 90), (250, 120, 10), (60, 30, 160)]


def _write_solid(tmp_path, n=len(COLOURS), shape=(30, 50), ext="png"):
    paths = []
    for i in range(n):
        arr = np.zeros(shape + (3,), np.uint8)
        arr[:] = COLOURS[i % len(COLOURS)]
        p = tmp_path / f"im{i}.{ext}"
        Image.fromarray(arr).save(p)
        paths.append(p)
    return paths


def test_read_image_takes_the_central_square(tmp_path):
    arr = np.zeros((20, 60, 3), np.uint8)  # 60 wide: red | green | blue thirds
    arr[:, :20] = (255, 0, 0)
    arr[:, 20:40] = (0, 255, 0)
    arr[:, 40:] = (0, 0, 255)
    Image.fromarray(arr).save(tmp_path / "wide.png")
    out = data.read_image(tmp_path / "wide.png", 8)
    assert out.shape == (3, 8, 8) and out.dtype == np.uint8
    assert np.array_equal(out[:, 1:-1, 1:-1].reshape(3, -1).T, np.tile([0, 255, 0], (36, 1)))  # green only
    tall = np.zeros((60, 20, 3), np.uint8)
    tall[20:40] = 200
    Image.fromarray(tall).save(tmp_path / "tall.jpg", quality=100)
    assert abs(int(data.read_image(tmp_path / "tall.jpg", 16)[:, 4:12, 4:12].mean()) - 200) <= 2


def test_read_image_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.jpg"):
        data.read_image(tmp_path / "nope.jpg", 32)
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="cannot decode.*bad.jpg"):
        data.read_image(tmp_path / "bad.jpg", 32)
    with pytest.raises(ValueError, match="size"):
        data.read_image(tmp_path / "bad.jpg", 0)


def test_image_files_behaves_like_an_array(tmp_path):
    paths = _write_solid(tmp_path)
    files = data.ImageFiles(paths, size=12)
    assert len(files) == 10 and files.shape == (10, 3, 12, 12) and files.ndim == 4 and np.ndim(files) == 4
    full = np.asarray(files)
    assert full.dtype == np.uint8 and full.shape == (10, 3, 12, 12)
    for i, c in enumerate(COLOURS):
        assert np.array_equal(full[i, :, 6, 6], c)
    assert np.array_equal(files[2:5], full[2:5])
    assert np.array_equal(files[np.array([1, 4, 7])], full[[1, 4, 7]])
    assert np.array_equal(files[np.array([7, 1, 7])], full[[7, 1, 7]])  # any order, repeats
    assert np.array_equal(files[3], full[3]) and np.array_equal(files[-1], full[9])
    view = take_rows(files, np.array([8, 0, 5]))  # the trainer's batch reader: a lazy view
    assert isinstance(view, data.ImageFiles) and view.shape == (3, 3, 12, 12)
    assert np.array_equal(np.asarray(view), full[[8, 0, 5]]) and np.array_equal(view[1:], full[[0, 5]])
    assert view.paths == (str(paths[8]), str(paths[0]), str(paths[5]))
    ps = PairSet(images=files, texts=np.zeros((10, 2), np.float32), labels=np.eye(10, 3, dtype=np.uint8),
                 ids=np.arange(10))
    assert np.array_equal(np.asarray(ps.subset([9, 2]).images), full[[9, 2]])
    with pytest.raises(IndexError):
        files[np.array([10])]
    with pytest.raises(IndexError):
        files[np.array([0.5])]


def test_image_files_missing_and_cache(tmp_path, monkeypatch):
    paths = _write_solid(tmp_path, n=6)
    with pytest.raises(FileNotFoundError, match="1 of 7 image files are missing"):
        data.ImageFiles(paths + [tmp_path / "gone.png"], size=8)
    cache = tmp_path / "cache"
    files = data.ImageFiles(paths, size=8, cache=cache)
    first = files[np.array([1, 3])]
    assert len(list(cache.glob("*.npy"))) == 2

    def boom(path, size):
        raise AssertionError(f"decoded {path} again")

    monkeypatch.setattr(images_mod, "read_image", boom)
    assert np.array_equal(files[np.array([3, 1])], first[::-1])  # served from the cache
    again = data.ImageFiles(paths, size=8, cache=cache)  # a new object finds the same cache file
    assert np.array_equal(again[np.array([1, 3])], first)
    with pytest.raises(AssertionError, match="decoded"):
        again[0]  # not cached yet
    monkeypatch.undo()
    other = data.ImageFiles(paths, size=10, cache=cache)  # another size: another cache file
    assert other[0].shape == (3, 10, 10) and len(list(cache.glob("*.npy"))) == 4


def test_descriptors_shape_determinism_and_sources(tmp_path):
    paths = _write_solid(tmp_path, n=5)
    files = data.ImageFiles(paths, size=32)
    arr = np.asarray(files)
    d = data.image_descriptors(arr, size=32)
    assert d.shape == (5, data.descriptor_dim()) == (5, 1764 + 128 + 40) and d.dtype == np.float32
    assert np.array_equal(d, data.image_descriptors(files, size=32, batch_size=2))  # lazy files, batches
    assert np.array_equal(d, data.image_descriptors(arr, size=32))
    assert data.image_descriptors(arr, size=32, parts=("colour",)).shape == (5, 128)
    rng = np.random.default_rng(0)
    big = rng.integers(0, 256, size=(3, 3, 80, 80), dtype=np.uint8)
    assert data.image_descriptors(big).shape == (3, 1932)  # resized to 64 first
    grey = rng.integers(0, 256, size=(2, 1, 32, 32), dtype=np.uint8)
    assert np.array_equal(data.image_descriptors(grey, size=32),
                          data.image_descriptors(np.repeat(grey, 3, axis=1), size=32))


def test_descriptor_parts_measure_what_they_claim():
    S = 32
    red = np.zeros((1, 3, S, S), np.uint8)
    red[:, 0] = 255
    blue = np.zeros((1, 3, S, S), np.uint8)
    blue[:, 2] = 255
    col = data.image_descriptors(np.concatenate([red, blue]), size=S, parts=("colour",))
    scale = np.sqrt(128)
    for row in col:  # a solid colour fills one HSV bin: one entry sqrt(1) (times the scale), the rest 0
        assert np.count_nonzero(row) == 1 and np.isclose(row.max(), scale)
    assert np.argmax(col[0]) != np.argmax(col[1])
    flat = np.full((1, 3, S, S), 128, np.uint8)
    assert not data.image_descriptors(flat, size=S, parts=("hog",)).any()  # no gradient, no HOG
    lbp = data.image_descriptors(flat, size=S, parts=("lbp",))[0].reshape(4, 10)
    freq = (lbp / np.sqrt(40) * 2) ** 2  # undo the scale, the 1/grid factor and the Hellinger map
    np.testing.assert_allclose(freq.sum(1), 1.0, rtol=1e-5)
    # a flat image: every interior pixel has the all-ones uniform code P = 8 (only the border differs)
    assert (np.argmax(freq, axis=1) == 8).all() and (freq[:, 8] > 0.8).all()
    # stripes: vertical edges put HOG mass in a different orientation bin than horizontal edges
    v = np.zeros((1, 3, S, S), np.uint8)
    v[..., ::4] = 255
    h = v.transpose(0, 1, 3, 2).copy()
    hv = data.image_descriptors(np.concatenate([v, h]), size=S, parts=("hog",)).reshape(2, -1, 9).sum(1)
    assert np.argmax(hv[0]) != np.argmax(hv[1])


def test_descriptor_errors():
    with pytest.raises(ValueError, match="uint8"):
        data.image_descriptors(np.zeros((2, 3, 32, 32), np.float32))
    with pytest.raises(ValueError, match="C = 1 or 3"):
        data.image_descriptors(np.zeros((2, 4, 32, 32), np.uint8))
    with pytest.raises(ValueError, match="parts"):
        data.image_descriptors(np.zeros((2, 3, 32, 32), np.uint8), parts=("sift",))
    with pytest.raises(ValueError, match="empty"):
        data.image_descriptors(np.zeros((0, 3, 32, 32), np.uint8))


def test_cnn_features_from_a_weights_file(tmp_path):
    import torch

    from hashnotes.nets import ResNet34Trunk

    torch.manual_seed(0)
    ref = ResNet34Trunk(image_size=64).eval()
    torch.save(ref.state_dict(), tmp_path / "resnet34.pth")
    x = np.random.default_rng(1).integers(0, 256, size=(3, 3, 40, 40), dtype=np.uint8)
    f = data.cnn_features(x, tmp_path / "resnet34.pth", batch_size=2)
    assert f.shape == (3, 512) and f.dtype == np.float32
    net = ResNet34Trunk(weights_path=tmp_path / "resnet34.pth").eval()
    with torch.no_grad():
        expect = net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(f, expect, rtol=1e-4, atol=1e-5)
    with pytest.raises(FileNotFoundError, match="weights file not found"):
        data.cnn_features(x, tmp_path / "none.pth")
    with pytest.raises(ValueError, match="arch"):
        data.cnn_features(x, tmp_path / "resnet34.pth", arch="vgg99")
