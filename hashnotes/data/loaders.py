"""Loaders for the real datasets (MIRFLICKR-25K, NUS-WIDE, IAPR TC-12, MS-COCO, Wikipedia)."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

__all__ = ["shared_data_dir"]

_REPO_ROOT = Path(__file__).resolve().parents[2]


def shared_data_dir() -> Path | None:
    """The directory with the project's real data files, or ``None`` when there is none.

    ``$HASHNOTES_DATA`` when set (a warning and ``None`` if it is not a directory); otherwise the first
    existing ``../shared/data`` relative to the repository root, then to the current directory and
    each of its parents (so it works from ``book/`` and ``tests/``).
    """
    env = os.environ.get("HASHNOTES_DATA")
    if env:
        p = Path(env).expanduser()
        if p.is_dir():
            return p.resolve()
        warnings.warn(f"HASHNOTES_DATA={env!r} is not a directory; real-data sections will be skipped",
                      stacklevel=2)
        return None
    cwd = Path.cwd().resolve()
    for base in (_REPO_ROOT, cwd, *cwd.parents):
        cand = base.parent / "shared" / "data"
        if cand.is_dir():
            return cand.resolve()
    return None
