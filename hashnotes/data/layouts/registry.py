"""The layouts, in the order detection tries them, and detection itself.

Each layout is one module of this package holding ``LAYOUT`` (a :class:`~.common.Layout`: its keys,
orientation and source, for people), ``detect(scan) -> dict | None`` (the variables it would read, from
headers only) and ``read(found, scan, options) -> Raw``. :data:`MODULES` lists them; the first one whose
``detect`` matches wins, so a more specific layout comes before a more general one (a name list also holds
the whole-set ``YAll`` / ``LAll`` arrays that ``dcmh-mat`` looks for). The list is fixed in this file: nothing
read from a data folder decides what code is imported.
"""
from __future__ import annotations

from . import clip_index, dcmh_mat, feature_mat, hdf5_split, name_list, split_mat
from .common import Detected, Layout, Scan, scan

__all__ = ["MODULES", "REGISTRY", "LAYOUTS", "detect_all", "detect_layout", "not_found_message"]

MODULES = (clip_index, name_list, hdf5_split, split_mat, feature_mat, dcmh_mat)
REGISTRY = {m.LAYOUT.name: m for m in MODULES}
LAYOUTS: dict[str, Layout] = {name: m.LAYOUT for name, m in REGISTRY.items()}

_HOW = ("pass a folder holding one of these layouts, a single .mat/.h5 file of the merged kinds, or layout=NAME "
        "to force one; the README's table lists each layout's keys and where it comes from")


def detect_all(s: Scan) -> dict[str, dict]:
    """Every layout whose keys are present, with the variables it would read, in detection order."""
    found = {}
    for name, module in REGISTRY.items():
        hit = module.detect(s)
        if hit is not None:
            found[name] = hit
    return found


def not_found_message(s: Scan) -> str:
    seen = sorted({f"{v.file.name}:{v.name}" for v in s.all})[:12]
    lines = [f"no known data layout in {str(s.path)!r}. Looked for:"]
    for name, layout in LAYOUTS.items():
        lines.append(f"  - {name}: {layout.keys}")
    lines.append(f"Found {len(s.files)} .mat/.h5 files" + (f" with variables {seen}" if seen else "")
                 + f". {_HOW}")
    return "\n".join(lines)


def detect_layout(path, pattern: str | None = None) -> Detected:
    """Which layout ``path`` holds (a folder or one file). ``FileNotFoundError`` lists what was looked for."""
    s = scan(path, pattern)
    found = detect_all(s)
    if not found:
        raise FileNotFoundError(not_found_message(s))
    order = list(found)
    return Detected(order[0], s.root, found[order[0]], tuple(order[1:]))
