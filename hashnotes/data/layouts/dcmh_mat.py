"""Layout ``dcmh-mat``: the DCMH release's whole-set arrays.

``IAll`` pixels, ``YAll`` bag of words, ``LAll`` labels for the whole set, MATLAB v5 or v7.3 (HDF5), one
merged file or one file per array (the DCMH release and its MIRFLICKR-25K / NUS-WIDE / IAPR TC-12 files
``<name>-iall.mat``, ``-yall.mat``, ``-lall.mat``). v7.3 pixels stay on disk
(:class:`~hashnotes.data.matio.LazyImages`). Written by :func:`hashnotes.data.writers.write_dcmh_mat`.
"""
from __future__ import annotations

from ..catalog import LABEL_KEYS, TEXT_KEYS
from .common import Layout, ReadOptions, Raw, Scan, pick, read_whole_arrays

LAYOUT = Layout("dcmh-mat", "IAll / YAll / LAll (one merged .mat or <name>-iall/-yall/-lall.mat; v5 or v7.3)",
                "as MATLAB saves them: IAll H x W x C x n (v7.3 on disk: reversed), YAll n x d, LAll n x l; "
                "any axis order is matched by n",
                "DCMH (Jiang & Li, CVPR 2017) release; its MIRFLICKR-25K, NUS-WIDE, IAPR TC-12 files")

PIXEL_KEYS = ("IAll", "images", "image", "imgs", "I", "X")


def whole_set(scan: Scan):
    """The whole-set text and label variables (shared with ``feature-mat`` and ``name-list``), or None."""
    y = pick(scan.flat, TEXT_KEYS, kind="numeric", ndim=(1, 2))
    lab = pick(scan.flat, LABEL_KEYS, kind="numeric", ndim=(1, 2))
    return (y, lab) if y and lab else None


def detect(scan: Scan) -> dict | None:
    """The variables to read: 4-D pixels with whole-set texts and labels."""
    ws = whole_set(scan)
    px = pick(scan.flat, PIXEL_KEYS, kind="numeric", ndim=(4,)) if ws else None
    return {"images": px, "texts": ws[0], "labels": ws[1]} if px else None


def read(found: dict, scan: Scan, options: ReadOptions) -> Raw:
    return read_whole_arrays(found, options.lazy)
