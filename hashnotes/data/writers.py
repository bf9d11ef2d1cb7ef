"""Write a data set in each layout :func:`hashnotes.data.load` reads (for tests, examples and experiments).

Each writer takes items-first arrays (images ``(n, 3, H, W)`` uint8 or ``(n, d)`` features, texts
``(n, d)``, labels ``(n, l)`` 0/1) and stores them the way the toolkit behind the layout does: MATLAB
orientation for ``.mat`` files (v5 through SciPy; v7.3 as MATLAB writes it: HDF5 with a 512-byte userblock,
every array transposed, cell arrays of strings as object references), numpy orientation for plain HDF5.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["write_images", "write_dcmh_mat", "write_feature_mat", "write_split_mat", "write_name_list",
           "write_clip_index", "write_hdf5_split", "save_v73"]


def _matlab_images(img: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(img).transpose(2, 3, 1, 0))  # (n, C, H, W) -> H x W x C x n


def save_v73(path, arrays: dict) -> Path:
    """What MATLAB's ``save -v7.3`` writes: numeric arrays transposed; lists of str as cell arrays."""
    import h5py

    path = Path(path)
    with h5py.File(path, "w", userblock_size=512) as f:
        refs = f.create_group("#refs#")
        for k, v in arrays.items():
            if isinstance(v, (list, tuple)) and all(isinstance(s, str) for s in v):
                ref_dt = h5py.special_dtype(ref=h5py.Reference)
                ds = f.create_dataset(k, shape=(1, len(v)), dtype=ref_dt)  # MATLAB n x 1, reversed
                for i, s in enumerate(v):
                    codes = np.array([ord(c) for c in s] or [0], dtype=np.uint16).reshape(-1, 1)
                    c = refs.create_dataset(f"{k}_{i}", data=codes)
                    c.attrs["MATLAB_class"] = np.bytes_("char")
                    ds[0, i] = c.ref
                ds.attrs["MATLAB_class"] = np.bytes_("cell")
            else:
                v = np.asarray(v)
                ds = f.create_dataset(k, data=np.ascontiguousarray(v.T))
                ds.attrs["MATLAB_class"] = np.bytes_({"u": "uint8", "b": "logical"}.get(v.dtype.kind, "double"))
    with open(path, "r+b") as fh:
        fh.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created by hashnotes.data.writers HDF5 schema 1.00 .")
    return path


def _savemat(path, arrays: dict, v73: bool = False) -> Path:
    if v73:
        return save_v73(path, arrays)
    import scipy.io

    out = {}
    for k, v in arrays.items():
        if isinstance(v, (list, tuple)) and all(isinstance(s, str) for s in v):
            cell = np.empty((len(v), 1), dtype=object)  # an n x 1 cell array of strings
            for i, s in enumerate(v):
                cell[i, 0] = s
            out[k] = cell
        else:
            out[k] = v
    scipy.io.savemat(str(path), out)
    return Path(path)


def write_images(folder, images, names=None, ext: str = "jpg", quality: int = 95) -> list[str]:
    """Save ``(n, 3, H, W)`` uint8 images as files in ``folder``; returns the file names."""
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = list(names) if names is not None else [f"im{i + 1}.{ext}" for i in range(len(images))]
    for img, name in zip(images, names):
        kw = {"quality": quality} if name.lower().endswith((".jpg", ".jpeg")) else {}
        Image.fromarray(np.ascontiguousarray(np.asarray(img).transpose(1, 2, 0))).save(folder / name, **kw)
    return names


def write_dcmh_mat(folder, images, texts, labels, prefix: str = "dataset", merged: bool = False,
                   v73: bool = False) -> Path:
    """DCMH release: ``IAll`` (H x W x C x n), ``YAll`` (n x d), ``LAll`` (n x l); merged or three files."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {"IAll": _matlab_images(images), "YAll": np.asarray(texts), "LAll": np.asarray(labels)}
    if merged:
        return _savemat(folder / f"{prefix}.mat", arrays, v73)
    for k, v in arrays.items():
        _savemat(folder / f"{prefix}-{k.lower()}.mat", {k: v}, v73 and k == "IAll")
    return folder


def write_feature_mat(folder, features, texts, labels, prefix: str = "dataset") -> Path:
    """DJSRH / UCCH / DGCPN: ``<prefix>-iall-vgg.mat`` (``XAll``), ``-yall.mat``, ``-lall.mat``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _savemat(folder / f"{prefix}-iall-vgg.mat", {"XAll": np.asarray(features, np.float32)})
    _savemat(folder / f"{prefix}-yall.mat", {"YAll": np.asarray(texts)})
    _savemat(folder / f"{prefix}-lall.mat", {"LAll": np.asarray(labels)})
    return folder


def write_split_mat(folder, parts: dict, one_file: bool = True, v73: bool = False, prefix: str = "dataset") -> Path:
    """``I_tr``/``T_tr``/``L_tr``, ``I_te``/..., ``I_db``/... (``parts``: train/query[/database] -> arrays)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sfx = {"train": "tr", "query": "te", "database": "db"}
    fname = {"train": "train", "query": "query", "database": "database"}
    allv = {}
    for part, (img, txt, lab) in parts.items():
        a = {f"I_{sfx[part]}": np.asarray(img), f"T_{sfx[part]}": np.asarray(txt), f"L_{sfx[part]}": np.asarray(lab)}
        if one_file:
            allv.update(a)
        else:
            _savemat(folder / f"{prefix}_{fname[part]}.mat", a, v73)
    if one_file:
        _savemat(folder / f"{prefix}.mat", allv, v73)
    return folder


def write_name_list(folder, names, texts, labels, style: str = "torchcmh", prefix: str = "dataset",
                    v73: bool = False) -> Path:
    """torchcmh (``imgList.mat`` FAll, ``tagList.mat`` YAll, ``labelList.mat`` LAll), ``"torchcmh-coco"``
    (keys imgs / tags / labels), ``"djsrh"`` (``<prefix>-fall.mat`` FAll + ``-yall`` + ``-lall``) or ``"txt"``
    (``<prefix>-all_imgs.txt`` + ``-yall`` + ``-lall``). Image files are written separately."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = [str(s) for s in names]
    texts, labels = np.asarray(texts), np.asarray(labels)
    if style in ("torchcmh", "torchcmh-coco"):
        k = ("FAll", "YAll", "LAll") if style == "torchcmh" else ("imgs", "tags", "labels")
        _savemat(folder / "imgList.mat", {k[0]: names}, v73)
        _savemat(folder / "tagList.mat", {k[1]: texts}, v73)
        _savemat(folder / "labelList.mat", {k[2]: labels}, v73)
    elif style == "djsrh":
        _savemat(folder / f"{prefix}-fall.mat", {"FAll": names}, v73)
        _savemat(folder / f"{prefix}-yall.mat", {"YAll": texts}, v73)
        _savemat(folder / f"{prefix}-lall.mat", {"LAll": labels}, v73)
    elif style == "txt":
        (folder / f"{prefix}-all_imgs.txt").write_text("\n".join(names) + "\n", encoding="utf-8")
        _savemat(folder / f"{prefix}-yall.mat", {"YAll": texts})
        _savemat(folder / f"{prefix}-lall.mat", {"LAll": labels})
    else:
        raise ValueError(f"style must be torchcmh, torchcmh-coco, djsrh or txt, got {style!r}")
    return folder


def write_clip_index(folder, paths, captions, labels, label_key: str = "category", caption_txt: bool = False) -> Path:
    """CLIP-based toolkits: ``index.mat`` (``index``: char matrix of paths, as ``scipy.io.savemat`` writes a
    list of str), ``caption.mat`` (``caption``: n x 1 cell) or ``caption.txt``, ``label.mat`` (``label_key``)."""
    import scipy.io

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(str(folder / "index.mat"), {"index": [str(p) for p in paths]})
    if caption_txt:
        (folder / "caption.txt").write_text("\n".join(captions) + "\n", encoding="utf-8")
    else:
        _savemat(folder / "caption.mat", {"caption": list(captions)})
    scipy.io.savemat(str(folder / "label.mat"), {label_key: np.asarray(labels, np.float64)})
    return folder


def write_hdf5_split(path, parts: dict, style: str = "daph") -> Path:
    """One HDF5 file, items first: DAPH keys (``train_data``/``train_y``/``train_L``, ``test_*``,
    ``data_set``/``dataset_y``/``dataset_L``) or ``style="groups"`` (train/query/database groups)."""
    import h5py

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    daph = {"train": ("train_data", "train_y", "train_L"), "query": ("test_data", "test_y", "test_L"),
            "database": ("data_set", "dataset_y", "dataset_L")}
    with h5py.File(path, "w") as f:
        for part, arrays in parts.items():
            if style == "daph":
                for k, v in zip(daph[part], arrays):
                    f.create_dataset(k, data=np.asarray(v))
            elif style == "groups":
                g = f.create_group(part)
                for k, v in zip(("images", "texts", "labels"), arrays):
                    g.create_dataset(k, data=np.asarray(v))
            else:
                raise ValueError(f"style must be 'daph' or 'groups', got {style!r}")
    return path
