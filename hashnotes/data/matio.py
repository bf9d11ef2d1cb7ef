"""Reading MATLAB (v5 and v7.3/HDF5) and HDF5 arrays: which variables a file holds, arrays turned items-first,
and :class:`LazyImages`, on-disk pixels read row by row. Shared by the named loaders and the layouts.

MATLAB is column-major, so a v7.3 file shows every array with its axes reversed; :func:`_orient` undoes that
and finds the item axis by matching the number of items ``n`` across the arrays of one set (:func:`_infer_n`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["LazyImages"]


def _is_hdf5(path: Path) -> bool:
    import h5py
    return h5py.is_hdf5(str(path))


class _H5Handle:
    """Keep an h5py file open for as long as lazy arrays need it."""

    def __init__(self, path: Path):
        import h5py
        self.path = Path(path)
        self.file = h5py.File(str(path), "r")
        self.matlab = self.file.userblock_size >= 128 and self._has_matlab_header()

    def _has_matlab_header(self) -> bool:
        with open(self.path, "rb") as fh:
            return fh.read(10) == b"MATLAB 7.3"


def _mat_keys(path: Path) -> dict:
    """Map lower-case variable name -> (name, reader) for a v5 or v7.3 file.

    A reader returns ``(array_or_dataset, axes_reversed)``: v7.3 datasets written by MATLAB (or any HDF5
    dataset carrying a ``MATLAB_class`` attribute) show their axes reversed.
    """
    if _is_hdf5(path):
        h = _H5Handle(path)
        out = {}
        for k, ds in h.file.items():
            if not hasattr(ds, "shape"):
                continue
            rev = h.matlab or "MATLAB_class" in ds.attrs
            out[k.lower()] = (k, (lambda ds=ds, rev=rev, h=h: (ds, rev)))
        return out
    import scipy.io
    try:
        info = scipy.io.whosmat(str(path))
    except Exception as exc:  # noqa: BLE001 - re-raised with the file name
        raise ValueError(f"{path} is neither a MATLAB v5 .mat file nor an HDF5 (v7.3) file: {exc}") from exc
    return {name.lower(): (name, (lambda name=name: (scipy.io.loadmat(str(path), variable_names=[name])[name],
                                                      False)))
            for name, _, _ in info}


def _find_key(keys: dict, aliases):
    for a in aliases:
        if a.lower() in keys:
            return keys[a.lower()]
    return None


class LazyImages:
    """Rows of an on-disk (HDF5) image array, read on demand in ``(n, C, H, W)`` order.

    ``obj[idx]`` (an int, a slice or an index array) reads those items from disk and returns a numpy array.
    ``obj.lazy_subset(idx)`` is another lazy view (used by :func:`~hashnotes.data.base.take_rows`, so that
    cutting a dataset into query / database / train / val reads nothing).
    """

    def __init__(self, dataset, item_axis: int, perm: tuple[int, ...], index=None):
        self.dataset = dataset
        self.item_axis = int(item_axis)
        self.perm = tuple(perm)  # applied to a block read with the item axis first
        self.index = None if index is None else np.asarray(index, dtype=np.int64)  # rows of `dataset`
        other = [s for i, s in enumerate(dataset.shape) if i != self.item_axis]
        n = int(dataset.shape[self.item_axis]) if self.index is None else len(self.index)
        self.shape = (n, *(int(other[p - 1]) for p in self.perm[1:]))
        self.dtype = dataset.dtype
        self.ndim = len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def _positions(self, idx) -> np.ndarray:
        if isinstance(idx, slice):
            idx = np.arange(len(self))[idx]
        idx = np.atleast_1d(np.asarray(idx))
        if idx.dtype == np.bool_ or not np.issubdtype(idx.dtype, np.integer):
            raise IndexError(f"LazyImages takes integer indices, got dtype {idx.dtype}")
        idx = idx.astype(np.int64)
        if idx.size and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise IndexError(f"index out of range for {len(self)} images")
        idx = np.where(idx < 0, idx + len(self), idx)
        return idx if self.index is None else self.index[idx]

    def lazy_subset(self, idx) -> "LazyImages":
        """A lazy view of rows ``idx`` (positions in this view), in the given order."""
        return LazyImages(self.dataset, self.item_axis, self.perm, index=self._positions(idx))

    def __getitem__(self, idx):
        scalar = isinstance(idx, (int, np.integer))
        rows = self._positions(idx)
        order = np.argsort(rows, kind="stable")
        uniq, inverse = np.unique(rows[order], return_inverse=True)
        sel = [slice(None)] * self.dataset.ndim
        sel[self.item_axis] = uniq if uniq.size else slice(0, 0)
        block = np.moveaxis(np.asarray(self.dataset[tuple(sel)]), self.item_axis, 0)
        block = np.transpose(block, self.perm)
        out = np.empty((len(rows),) + block.shape[1:], dtype=block.dtype)
        out[order] = block[inverse]
        return out[0] if scalar else out

    def __array__(self, dtype=None, copy=None):
        arr = self[np.arange(len(self))]
        return arr if dtype is None else arr.astype(dtype)


def _orient(arr, reversed_axes: bool, n: int, name: str, lazy_ok: bool):
    """Return ``arr`` with items first: (n, d) for 2-D, (n, C, H, W) for 4-D images."""
    shape = tuple(int(s) for s in arr.shape)
    mshape = shape[::-1] if reversed_axes else shape  # the MATLAB-order shape
    if len(mshape) == 1:
        mshape = (mshape[0], 1)
    if len(mshape) == 2:
        a = np.asarray(arr)
        if a.ndim == 1:
            a = a[:, None]
        if reversed_axes:
            a = a.T
        if a.shape[0] == n:
            return a
        if a.shape[1] == n:
            return a.T
        raise ValueError(f"{name} has shape {a.shape} (MATLAB order) but no axis of length n={n}")
    if len(mshape) != 4:
        raise ValueError(f"{name} must be 2-D (features) or 4-D (images), got shape {mshape} (MATLAB order)")
    # MATLAB order: the item axis has length n, the channel axis length 1 or 3, the other two are (H, W)
    n_axes = [i for i, s in enumerate(mshape) if s == n]
    if not n_axes:
        raise ValueError(f"{name} has shape {mshape} (MATLAB order) but no axis of length n={n}")
    item = n_axes[-1] if mshape[-1] == n else n_axes[0]
    rest = [i for i in range(4) if i != item]
    ch = [i for i in rest if mshape[i] in (1, 3)]
    if not ch:
        raise ValueError(f"{name} has shape {mshape} (MATLAB order): no colour axis of length 1 or 3")
    c_ax = ch[-1] if mshape[rest[-1]] in (1, 3) else ch[0]
    h_ax, w_ax = [i for i in rest if i != c_ax]
    target = (item, c_ax, h_ax, w_ax)  # MATLAB-order axes for (n, C, H, W)
    if reversed_axes:
        target = tuple(3 - t for t in target)  # the same axes as seen in the stored (reversed) array
    is_h5 = not isinstance(arr, np.ndarray)
    if is_h5 and lazy_ok:
        others = [i for i in range(4) if i != target[0]]
        perm = (0, *(1 + others.index(t) for t in target[1:]))
        return LazyImages(arr, target[0], perm)
    return np.transpose(np.asarray(arr), target)


def _infer_n(raw: dict) -> int:
    shapes = []
    for arr, rev in raw.values():
        s = tuple(int(x) for x in arr.shape)
        shapes.append(s[::-1] if rev else s)
    common = set(shapes[0])
    for s in shapes[1:]:
        common &= set(s)
    if not common:
        raise ValueError(f"cannot match the number of items across arrays of shapes {shapes} (MATLAB order)")
    lab = shapes[0]  # labels come first: prefer their first MATLAB axis
    return lab[0] if lab[0] in common else max(common)
