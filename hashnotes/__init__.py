"""hashnotes: deep cross-modal hashing, the package behind the executable textbook.

Submodules are imported lazily (PEP 562), so ``import hashnotes`` is cheap, has no side
effects (no global seeding, no torch import) and ``hashnotes.metrics`` etc. work on first use.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_SUBMODULES = (
    "codes",
    "metrics",
    "similarity",
    "data",
    "nets",
    "losses",
    "methods",
    "train",
    "plots",
    "diagrams",
    "widgets",
    "provenance",
    "threads",
    "index",
)

__all__ = ["__version__", *_SUBMODULES]


def __getattr__(name: str):
    if name in _SUBMODULES:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'hashnotes' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
