"""Shared pytest fixtures (kept small)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def golden_case():
    """The toy retrieval case of the DCMH reference code (``calc_hammingranking.py`` ``__main__``)."""
    return {
        "qB": np.array([[1, -1, 1, 1], [-1, -1, -1, 1], [1, 1, -1, 1], [1, 1, 1, -1]], dtype=np.int8),
        "rB": np.array([[1, -1, 1, -1], [-1, -1, 1, -1], [-1, -1, 1, -1], [1, 1, -1, -1],
                        [-1, 1, -1, -1], [1, 1, -1, 1]], dtype=np.int8),
        "qL": np.array([[0, 1, 0, 0], [1, 1, 0, 0], [1, 0, 0, 1], [0, 1, 0, 1]], dtype=np.uint8),
        "rL": np.array([[1, 0, 0, 1], [1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0], [1, 0, 0, 0],
                        [0, 0, 1, 0]], dtype=np.uint8),
    }


def _shared_data_root():
    try:
        from hashnotes.data import shared_data_dir
    except ImportError:
        shared_data_dir = None
    if shared_data_dir is not None:
        root = shared_data_dir()
        return Path(root) if root is not None else None
    env = os.environ.get("HASHNOTES_DATA")
    root = Path(env) if env else REPO.parent / "shared" / "data"
    return root if root.is_dir() else None


@pytest.fixture
def shared_file():
    """``shared_file(name)`` -> path of a file in the shared data dir, or skip naming what is missing."""

    def get(name: str) -> Path:
        root = _shared_data_root()
        if root is None or not (root / name).exists():
            where = root if root is not None else "../shared/data or $HASHNOTES_DATA"
            pytest.skip(f"needs the real data file {name!r}, not found in {where}")
        return root / name

    return get


def pytest_addoption(parser):
    group = parser.getgroup("hashnotes book pages")
    group.addoption("--book-html", default=None,
                    help="built book to check in headless Chromium (default: _build/html when it exists)")
    group.addoption("--screenshots", default=None,
                    help="folder for one full-page PNG per checked page (default: _build/screenshots)")
