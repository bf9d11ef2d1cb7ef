"""The hashing methods, one module each (each file starts with its citation).

Classes are imported lazily so that importing one method does not import the others.
``get("dcmh")`` returns the class registered under a command-line name.
"""
from __future__ import annotations

import importlib

# command-line name -> (module, class name)
REGISTRY: dict[str, tuple[str, str]] = {
    "cca": ("cca", "CCA"),
    "dcmh": ("dcmh", "DCMH"),
    "cdhcr": ("cdhcr", "CDHCR"),
    "tdh": ("tdh", "TDH"),
    "ugach": ("ugach", "UGACH"),
    "daph": ("daph", "DAPH"),
    "random": ("random_codes", "RandomCodes"),
}

__all__ = ["REGISTRY", "get", *sorted(cls for _, cls in REGISTRY.values())]


def get(name: str):
    """Return the method class registered as ``name`` (case-insensitive)."""
    key = name.lower()
    if key not in REGISTRY:
        raise ValueError(f"unknown method {name!r}; choose one of {sorted(REGISTRY)}")
    module, cls = REGISTRY[key]
    return getattr(importlib.import_module(f".{module}", __name__), cls)


def __getattr__(name: str):
    for key, (_, cls) in REGISTRY.items():
        if cls == name:
            return get(key)
    raise AttributeError(f"module 'hashnotes.methods' has no attribute {name!r}")
