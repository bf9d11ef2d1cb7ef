"""Real data as researchers have it on disk, one module per layout: :func:`load` reads any of them.

``load(path)`` looks at a folder (or a single file), decides which of the common layouts it holds, reads it
into one :class:`~hashnotes.data.base.CrossModalDataset` cut by a protocol split, and says which layout it
found; when it finds none, the error lists what each layout looks for. :func:`hashnotes.data.load` calls it
for paths (and resolves dataset names itself).

The layouts (:data:`LAYOUTS`, in detection order; each module's docstring describes its files):
``clip-index`` (:mod:`.clip_index`), ``name-list`` (:mod:`.name_list`), ``hdf5-split`` (:mod:`.hdf5_split`),
``split-mat`` (:mod:`.split_mat`), ``feature-mat`` (:mod:`.feature_mat`), ``dcmh-mat`` (:mod:`.dcmh_mat`).
:mod:`.registry` lists them and detects; :mod:`.common` holds what they share; :mod:`.reader` is
:func:`load`. A new layout is a new module with ``LAYOUT``, ``detect`` and ``read``, one entry in
``registry.MODULES``, a writer in :mod:`hashnotes.data.writers` and a test that writes and reads it back.

Orientation: every array is turned items-first by matching the item count across the arrays of one set
(MATLAB writes ``d x n`` and v7.3 files store every array transposed), pixels become ``(n, C, H, W)``.
Image paths are found as given, relative to the folder (or ``images_root``), or by file name anywhere
below the folder.
"""
from __future__ import annotations

from .common import Detected, Layout, file_digest
from .reader import load
from .registry import LAYOUTS, MODULES, REGISTRY, detect_layout

__all__ = ["load", "detect_layout", "LAYOUTS", "Layout", "file_digest", "Detected", "REGISTRY", "MODULES"]
