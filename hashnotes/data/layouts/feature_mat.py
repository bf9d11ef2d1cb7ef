"""Layout ``feature-mat``: whole-set arrays with image *features* instead of pixels.

``<name>-iall-vgg.mat`` with ``XAll`` (VGG fc7, n x 4096) next to ``-yall.mat`` / ``-lall.mat``, as shipped by
DJSRH, UCCH, DGCPN and other unsupervised-hashing toolkits. Written by
:func:`hashnotes.data.writers.write_feature_mat`.
"""
from __future__ import annotations

from . import dcmh_mat
from .common import Layout, ReadOptions, Raw, Scan, pick, read_whole_arrays

LAYOUT = Layout("feature-mat", "XAll in <name>-iall-vgg.mat + YAll (-yall.mat) + LAll (-lall.mat)",
                "n x 4096 VGG fc7, n x d, n x l (transposes matched by n)",
                "DJSRH / UCCH / DGCPN unsupervised-hashing releases")

FEATURE_KEYS = ("XAll", "IAll", "FAll", "features", "img_feats", "X", "images")


def detect(scan: Scan) -> dict | None:
    """2-D image features with whole-set texts and labels, when no pixel array is there (that is dcmh-mat)."""
    ws = dcmh_mat.whole_set(scan)
    if ws is None or dcmh_mat.detect(scan):
        return None
    ft = pick(scan.flat, FEATURE_KEYS, kind="numeric", ndim=(2,))
    return {"images": ft, "texts": ws[0], "labels": ws[1]} if ft else None


def read(found: dict, scan: Scan, options: ReadOptions) -> Raw:
    return read_whole_arrays(found, options.lazy)
