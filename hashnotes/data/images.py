"""Images from files, read lazily, and image descriptors for the feature-input path.

* :func:`read_image` decodes one JPEG/PNG file with Pillow, crops the central square and resizes it to
  ``size x size`` (the "resize the short side, centre-crop" input of the CLIP-based hashing toolkits and of
  torchvision's ``Resize(S) + CenterCrop(S)``).
* :class:`ImageFiles` is a list of image files that behaves like a ``(n, 3, S, S)`` uint8 array: it has
  ``len``, ``.shape``, ``.ndim == 4``, ``obj[slice]`` / ``obj[index_array]`` read and decode only those
  files, and ``lazy_subset`` cuts it into query / database / train without reading anything. With
  ``cache=DIR`` decoded pixels are kept in a memory-mapped ``.npy`` file, so each file is decoded once per
  size (20,015 photos at 224 px are 3 GB: on disk, never all in memory unless asked with ``to_array``).
* :func:`image_descriptors` turns uint8 images into label-free hand-crafted descriptors with
  scikit-image: a HOG (histogram of oriented gradients, Dalal & Triggs 2005) of the grey image, a joint
  HSV colour histogram and a uniform local-binary-pattern texture histogram (Ojala et al. 2002) on a 2x2
  grid. They play the role of the hand-crafted image features (SIFT / GIST / colour) that the DCMH paper
  gives its shallow baselines (Table 3): without ImageNet weights a CNN trained from scratch on a few
  hundred real photos learns nothing, while these descriptors carry colour, texture and layout.
* :func:`cnn_features` computes CNN-F fc7 (4096-d) or ResNet-34 pooled (512-d) features with a weights
  file the user supplies (MatConvNet ``imagenet-vgg-f.mat`` or a torchvision-style ResNet-34 state dict).
"""
from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

__all__ = ["read_image", "ImageFiles", "image_descriptors", "descriptor_dim", "cnn_features", "IMAGE_EXTENSIONS"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
_READER_VERSION = 1  # part of the cache key: bump when read_image changes its output


def _check_size(size, name: str = "size", lo: int = 8, hi: int = 1024) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not lo <= size <= hi:
        raise ValueError(f"{name} must be an int in {lo}..{hi}, got {size!r}")
    return int(size)


def read_image(path, size: int) -> np.ndarray:
    """One image file -> ``(3, size, size)`` uint8: RGB, central square, resized (bilinear, antialiased).

    Raises ``FileNotFoundError`` naming a missing file and ``ValueError`` naming a file Pillow cannot decode.
    """
    from PIL import Image, UnidentifiedImageError

    size = _check_size(size)
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"image file not found: {str(p)!r}")
    try:
        with Image.open(p) as im:
            im.draft("RGB", (size * 2, size * 2))  # JPEG: decode at a reduced scale when that is enough
            im = im.convert("RGB")
            w, h = im.size
            s = min(w, h)
            left, top = (w - s) // 2, (h - s) // 2
            im = im.resize((size, size), Image.Resampling.BILINEAR, box=(left, top, left + s, top + s),
                           reducing_gap=2.0)
            return np.asarray(im, dtype=np.uint8).transpose(2, 0, 1).copy()
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(f"cannot decode image file {str(p)!r}: {exc}") from exc


class _Files:
    """The shared part of an :class:`ImageFiles` and its lazy views: paths, their stats, the cache."""

    def __init__(self, paths, size: int, cache):
        self.paths = tuple(str(p) for p in paths)
        self.size = size
        stats, missing = [], []
        for p in self.paths:
            try:
                st = os.stat(p)
                stats.append((st.st_size, st.st_mtime_ns))
            except OSError:
                missing.append(p)
        if missing:
            raise FileNotFoundError(f"{len(missing)} of {len(self.paths)} image files are missing, e.g. "
                                    f"{missing[:3]}")
        h = hashlib.sha256()
        for p, (nbytes, _) in zip(self.paths, stats):
            h.update(f"{Path(p).name}\0{nbytes}\n".encode())
        self.content_digest = h.hexdigest()[:16]  # file names and sizes: the same data in another folder
        for p, (_, mtime) in zip(self.paths, stats):
            h.update(f"{p}\0{mtime}\n".encode())
        h.update(f"size={size} reader={_READER_VERSION}".encode())
        self.cache_key = h.hexdigest()[:20]
        self.data = self.filled = None
        self.cache_dir = None
        if cache is not None:
            self._open_cache(Path(cache).expanduser())

    def _open_cache(self, d: Path) -> None:
        from numpy.lib.format import open_memmap

        d.mkdir(parents=True, exist_ok=True)
        n, s = len(self.paths), self.size
        data_f, fill_f = d / f"images-{self.cache_key}-{s}px.npy", d / f"images-{self.cache_key}-{s}px.filled.npy"
        meta_f = d / f"images-{self.cache_key}-{s}px.json"
        fresh = not (data_f.is_file() and fill_f.is_file())
        if not fresh:
            try:
                data = open_memmap(data_f, mode="r+")
                filled = open_memmap(fill_f, mode="r+")
                fresh = data.shape != (n, 3, s, s) or data.dtype != np.uint8 or filled.shape != (n,)
            except (ValueError, OSError):
                fresh = True
        if fresh:
            data = open_memmap(data_f, mode="w+", dtype=np.uint8, shape=(n, 3, s, s))
            filled = open_memmap(fill_f, mode="w+", dtype=np.bool_, shape=(n,))
            filled[:] = False
            filled.flush()
            meta_f.write_text(json.dumps({"n": n, "size": s, "first": self.paths[:3], "reader": _READER_VERSION}))
        self.data, self.filled, self.cache_dir = data, filled, d

    def read(self, rows: np.ndarray, workers: int | None) -> np.ndarray:
        """Pixels of base rows ``rows`` (any order, repeats allowed)."""
        s = self.size
        out = np.empty((len(rows), 3, s, s), dtype=np.uint8)
        if len(rows) == 0:
            return out
        uniq, inverse = np.unique(rows, return_inverse=True)
        block = np.empty((len(uniq), 3, s, s), dtype=np.uint8)
        todo = np.arange(len(uniq))
        if self.filled is not None:
            have = np.asarray(self.filled[uniq])
            if have.any():
                block[have] = self.data[uniq[have]]
            todo = np.nonzero(~have)[0]
        if len(todo):
            from ..threads import get_num_threads

            w = max(1, min(int(workers or get_num_threads()), len(todo)))
            paths = [self.paths[int(uniq[i])] for i in todo]
            if w == 1:
                decoded = [read_image(p, s) for p in paths]
            else:
                with ThreadPoolExecutor(max_workers=w) as pool:  # Pillow releases the GIL while decoding
                    decoded = list(pool.map(lambda p: read_image(p, s), paths))
            block[todo] = np.stack(decoded)
            if self.data is not None:
                self.data[uniq[todo]] = block[todo]
                self.data.flush()
                self.filled[uniq[todo]] = True
                self.filled.flush()
        out[:] = block[inverse]
        return out


class ImageFiles:
    """Image files named by a list, seen as a lazy ``(n, 3, size, size)`` uint8 array.

    Parameters
    ----------
    paths : sequence of paths
        One file per item (JPEG, PNG or anything Pillow reads); all must exist (checked once, here).
    size : int
        Side of the square network input; every image is centre-cropped and resized (:func:`read_image`).
    cache : path, optional
        A folder for a memory-mapped pixel cache (``images-<key>-<size>px.npy``); the key covers the paths,
        their sizes and modification times and ``size``, so changed files are re-read. Without it every
        access decodes the files again.
    workers : int, optional
        Decoding threads (default: :func:`hashnotes.threads.get_num_threads`).

    ``obj[i]`` gives ``(3, S, S)``; ``obj[slice]``, ``obj[index_array]`` give ``(b, 3, S, S)`` in the order
    asked. ``obj.lazy_subset(idx)`` is a view that reads nothing (used by
    :func:`~hashnotes.data.base.take_rows`). ``np.asarray(obj)`` / ``obj.to_array()`` read everything.
    """

    ndim = 4
    dtype = np.dtype(np.uint8)

    def __init__(self, paths, size: int = 224, cache=None, workers: int | None = None, *, _base=None, _index=None):
        if _base is None:
            size = _check_size(size)
            paths = list(paths)
            if not paths:
                raise ValueError("ImageFiles needs at least one image path")
            _base = _Files(paths, size, cache)
        self._base = _base
        self._index = None if _index is None else np.asarray(_index, dtype=np.int64)
        self.workers = workers
        n = len(_base.paths) if self._index is None else len(self._index)
        self.shape = (n, 3, _base.size, _base.size)

    # --------------------------------------------------------------------------------------------- array protocol
    def __len__(self) -> int:
        return self.shape[0]

    @property
    def size(self) -> int:
        return self._base.size

    @property
    def paths(self) -> tuple[str, ...]:
        """The file of each item of this view, in order."""
        if self._index is None:
            return self._base.paths
        return tuple(self._base.paths[i] for i in self._index)

    @property
    def cache_dir(self):
        return self._base.cache_dir

    @property
    def content_digest(self) -> str:
        """sha256 prefix over the file names and byte sizes of the whole list (not of this view)."""
        return self._base.content_digest

    def _rows(self, idx) -> np.ndarray:
        n = len(self)
        if isinstance(idx, slice):
            pos = np.arange(n)[idx]
        else:
            pos = np.atleast_1d(np.asarray(idx))
            if pos.dtype == np.bool_ or not np.issubdtype(pos.dtype, np.integer):
                raise IndexError(f"ImageFiles takes an int, a slice or an integer array, got dtype {pos.dtype}")
            pos = pos.astype(np.int64)
            if pos.size and (pos.min() < -n or pos.max() >= n):
                raise IndexError(f"index out of range for {n} images")
            pos = np.where(pos < 0, pos + n, pos)
        return pos if self._index is None else self._index[pos]

    def __getitem__(self, idx):
        if isinstance(idx, tuple):
            raise IndexError("ImageFiles supports only item indexing (an int, a slice or an index array)")
        scalar = isinstance(idx, (int, np.integer)) and not isinstance(idx, bool)
        out = self._base.read(self._rows(idx), self.workers)
        return out[0] if scalar else out

    def lazy_subset(self, idx) -> "ImageFiles":
        """A view of items ``idx`` (positions in this view), in the given order; reads nothing."""
        return ImageFiles(None, _base=self._base, _index=self._rows(idx), workers=self.workers)

    def to_array(self, batch_size: int = 256) -> np.ndarray:
        """Every image of this view in memory, ``(n, 3, S, S)`` uint8 (read in batches)."""
        out = np.empty(self.shape, dtype=np.uint8)
        for s in range(0, len(self), batch_size):
            out[s:s + batch_size] = self[s:s + batch_size]
        return out

    def __array__(self, dtype=None, copy=None):
        arr = self.to_array()
        return arr if dtype is None else arr.astype(dtype)

    def __repr__(self) -> str:
        cache = f", cache={str(self.cache_dir)!r}" if self.cache_dir is not None else ""
        return f"ImageFiles(n={len(self)}, size={self.size}{cache})"


# ------------------------------------------------------------------------------------------------ descriptors
_DESCRIPTOR_PARTS = ("hog", "colour", "lbp")
_HOG_CELLS = 8          # cells per side: the HOG has a fixed length at every input size
_HSV_BINS = (8, 4, 4)   # joint hue x saturation x value histogram
_LBP_P, _LBP_R = 8, 1   # uniform LBP: P + 2 = 10 codes
_LBP_GRID = 2


def _parts(parts) -> tuple[str, ...]:
    parts = (parts,) if isinstance(parts, str) else tuple(parts)
    bad = [p for p in parts if p not in _DESCRIPTOR_PARTS]
    if not parts or bad or len(set(parts)) != len(parts):
        raise ValueError(f"parts must be a non-empty subset of {_DESCRIPTOR_PARTS} without repeats, got {parts!r}")
    return parts


def descriptor_dim(parts=_DESCRIPTOR_PARTS) -> int:
    """Length of :func:`image_descriptors` vectors (1764 + 128 + 40 = 1932 with every part)."""
    dims = {"hog": (_HOG_CELLS - 1) ** 2 * 4 * 9, "colour": int(np.prod(_HSV_BINS)),
            "lbp": (_LBP_P + 2) * _LBP_GRID ** 2}
    return int(sum(dims[p] for p in _parts(parts)))


def _resize_batch(x: np.ndarray, size: int) -> np.ndarray:
    """(b, S, S, 3) uint8 -> (b, size, size, 3) uint8 with Pillow's antialiased bilinear filter."""
    if x.shape[1] == size and x.shape[2] == size:
        return x
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(im).resize((size, size), Image.Resampling.BILINEAR))
                     for im in x])


def _grid_histograms(codes: np.ndarray, n_codes: int, grid: int) -> np.ndarray:
    """(b, H, W) integer codes -> (b, grid*grid, n_codes) counts on a grid x grid split of each image."""
    b, h, w = codes.shape
    gy = np.minimum(np.arange(h) * grid // h, grid - 1)
    gx = np.minimum(np.arange(w) * grid // w, grid - 1)
    cell = gy[:, None] * grid + gx[None, :]
    flat = (np.arange(b)[:, None, None] * grid * grid + cell[None]) * n_codes + codes
    return np.bincount(flat.ravel(), minlength=b * grid * grid * n_codes).reshape(b, grid * grid, n_codes)


def _describe_batch(x: np.ndarray, size: int, parts: tuple[str, ...]) -> np.ndarray:
    from skimage.color import rgb2gray, rgb2hsv
    from skimage.feature import hog, local_binary_pattern

    rgb = _resize_batch(np.ascontiguousarray(x.transpose(0, 2, 3, 1)), size)  # (b, s, s, 3) uint8
    b = rgb.shape[0]
    blocks = []
    gray = rgb2gray(rgb) if ("hog" in parts or "lbp" in parts) else None  # (b, s, s) float in [0, 1]
    for part in parts:
        if part == "hog":
            cell = size // _HOG_CELLS
            v = np.stack([hog(g, orientations=9, pixels_per_cell=(cell, cell), cells_per_block=(2, 2),
                              block_norm="L2-Hys", feature_vector=True) for g in gray])
            v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
        elif part == "colour":
            hsv = rgb2hsv(rgb)
            q = [np.minimum((hsv[..., k] * nb).astype(np.int64), nb - 1) for k, nb in enumerate(_HSV_BINS)]
            code = (q[0] * _HSV_BINS[1] + q[1]) * _HSV_BINS[2] + q[2]
            hist = _grid_histograms(code, int(np.prod(_HSV_BINS)), 1)[:, 0].astype(np.float64)
            v = np.sqrt(hist / hist.sum(1, keepdims=True))  # Hellinger map: unit L2 norm
        else:  # lbp
            g8 = np.rint(gray * 255).astype(np.uint8)
            codes = np.stack([local_binary_pattern(g, _LBP_P, _LBP_R, method="uniform") for g in g8])
            hist = _grid_histograms(codes.astype(np.int64), _LBP_P + 2, _LBP_GRID).astype(np.float64)
            v = np.sqrt(hist / np.maximum(hist.sum(2, keepdims=True), 1)).reshape(b, -1) / _LBP_GRID
        blocks.append(v)
    out = np.concatenate(blocks, axis=1)
    return (out * np.sqrt(out.shape[1] / len(parts))).astype(np.float32)  # mean square entry ~ 1


def image_descriptors(images, size: int = 64, parts=_DESCRIPTOR_PARTS, batch_size: int = 256,
                      progress: bool = False) -> np.ndarray:
    """Label-free hand-crafted descriptors of uint8 images, ``(n, d)`` float32 (scikit-image).

    Parameters
    ----------
    images : ``(n, C, H, W)`` uint8 array-like, C in {1, 3}
        A numpy array, an :class:`ImageFiles`, an HDF5-backed ``LazyImages`` or anything that returns
        uint8 blocks for ``images[s:e]``; read in batches of ``batch_size``. Grey images are repeated to RGB.
    size : int
        Each image is resized to ``size x size`` first (Pillow, antialiased). 64 by default.
    parts : subset of ``("hog", "colour", "lbp")``
        ``"hog"``: HOG of the grey image on an 8 x 8 grid of cells (``size // 8`` pixels), 9 orientations,
        2 x 2-cell blocks with L2-Hys: 1,764 values. ``"colour"``: joint HSV histogram (8 hue x 4
        saturation x 4 value bins): 128. ``"lbp"``: uniform LBP (8 neighbours, radius 1) histograms on a
        2 x 2 grid: 40. Histograms go through the Hellinger map (square root of the frequencies).

    Returns
    -------
    numpy.ndarray, float32, ``(n, descriptor_dim(parts))``
        Each part has unit L2 norm, so the parts weigh the same in a Euclidean distance; the whole vector
        is scaled by ``sqrt(d / n_parts)`` so that its mean squared entry is about 1. Deterministic.
    """
    size = _check_size(size, "size", lo=16, hi=512)
    parts = _parts(parts)
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    shape = tuple(np.shape(images))
    if len(shape) != 4 or shape[1] not in (1, 3):
        raise ValueError(f"images must be (n, C, H, W) with C = 1 or 3, got shape {shape}")
    n = shape[0]
    if n == 0:
        raise ValueError("images is empty")
    out = np.empty((n, descriptor_dim(parts)), dtype=np.float32)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, desc="image descriptors", unit="img")
    for s in range(0, n, batch_size):
        x = np.asarray(images[s:s + batch_size])
        if x.dtype != np.uint8:
            raise ValueError(f"images must be uint8 pixels (0..255), got dtype {x.dtype}; features are "
                             "already descriptors")
        if x.shape[1] == 1:
            x = np.repeat(x, 3, axis=1)
        out[s:s + len(x)] = _describe_batch(x, size, parts)
        if bar is not None:
            bar.update(len(x))
    if bar is not None:
        bar.close()
    return out


# ------------------------------------------------------------------------------------------------ CNN features
def cnn_features(images, weights, arch: str = "auto", batch_size: int = 32, device: str = "cpu",
                 progress: bool = False) -> np.ndarray:
    """Pretrained-CNN features of uint8 images with a weights file the user has, ``(n, d)`` float32.

    ``arch="cnnf"``: CNN-F / VGG-F fc7 after ReLU (4,096-d) from MatConvNet's ``imagenet-vgg-f.mat``
    (the network DCMH fine-tunes; :func:`hashnotes.nets.load_vggf_matconvnet`). ``arch="resnet34"``:
    ResNet-34 global-average-pooled features (512-d) from a torchvision-style state dict
    (:class:`hashnotes.nets.ResNet34Trunk`). ``"auto"`` picks ``cnnf`` for ``.mat`` files and ``resnet34``
    otherwise. Images are resized to 224 px inside the network's preprocessing; eval mode, no gradients.
    """
    import torch

    from ..nets import CNNF, ResNet34Trunk, load_vggf_matconvnet

    p = Path(weights).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"weights file not found: {str(p)!r}")
    if arch == "auto":
        arch = "cnnf" if p.suffix.lower() == ".mat" else "resnet34"
    if arch not in ("cnnf", "resnet34"):
        raise ValueError(f"arch must be 'auto', 'cnnf' or 'resnet34', got {arch!r}")
    shape = tuple(np.shape(images))
    if len(shape) != 4 or shape[1] != 3:
        raise ValueError(f"images must be (n, 3, H, W) uint8, got shape {shape}")
    dev = torch.device(device)
    if arch == "cnnf":
        net = load_vggf_matconvnet(CNNF(bits=1), p)

        def run(x):
            return net.features(net.preprocess(x))
    else:
        net = ResNet34Trunk(weights_path=p)
        run = net
    net = net.to(dev).eval()
    chunks = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=shape[0], desc=f"{arch} features", unit="img")
    with torch.no_grad():
        for s in range(0, shape[0], batch_size):
            x = torch.from_numpy(np.ascontiguousarray(np.asarray(images[s:s + batch_size]))).to(dev)
            chunks.append(run(x).float().cpu().numpy())
            if bar is not None:
                bar.update(len(x))
    if bar is not None:
        bar.close()
    return np.concatenate(chunks).astype(np.float32)
