"""The hashing methods, one module each (each file starts with its citation).

Classes are imported lazily so that importing one method does not import the others.
``get("dcmh")`` returns the class registered under a name; ``build("dcmh", bits=16)`` builds a model by name
from one of its presets, the way the command line does; ``SUMMARIES`` holds a line about each method.
"""
from __future__ import annotations

import dataclasses
import importlib

# name -> (module, class name)
REGISTRY: dict[str, tuple[str, str]] = {
    "cca": ("cca", "CCA"),
    "dcmh": ("dcmh", "DCMH"),
    "cdhcr": ("cdhcr", "CDHCR"),
    "tdh": ("tdh", "TDH"),
    "ugach": ("ugach", "UGACH"),
    "daph": ("daph", "DAPH"),
    "random": ("random_codes", "RandomCodes"),
}

# name -> one line: what the method is and where it was published (book/references.bib holds the entries)
SUMMARIES: dict[str, str] = {
    "dcmh": "Deep Cross-Modal Hashing, pairwise likelihood (Jiang & Li, CVPR 2017)",
    "cdhcr": "Cauchy-distribution deep hashing (Tian et al., Computer Systems & Applications 2021)",
    "tdh": "Triplet-based deep hashing with a graph B-step (Deng et al., IEEE TIP 2018)",
    "ugach": "unsupervised generative adversarial hashing, no labels (Zhang et al., AAAI 2018)",
    "daph": "data-aware proxy hashing, two stages (Tu et al., SIGIR 2023)",
    "cca": "canonical correlation analysis + sign, the linear baseline (Hotelling 1936)",
    "random": "random codes: the floor every method must clear",
}

PRESETS = ("small", "paper")

__all__ = ["REGISTRY", "SUMMARIES", "PRESETS", "get", "names", "build", "build_run",
           *sorted(cls for _, cls in REGISTRY.values())]


def names() -> tuple[str, ...]:
    """The registered method names, in the order the command line lists them."""
    return tuple(SUMMARIES)


def get(name: str):
    """Return the method class registered as ``name`` (case-insensitive)."""
    key = name.lower() if isinstance(name, str) else name
    if key not in REGISTRY:
        raise ValueError(f"unknown method {name!r}; choose one of {', '.join(names())}")
    module, cls = REGISTRY[key]
    return getattr(importlib.import_module(f".{module}", __name__), cls)


def build(name: str, bits: int = 32, preset: str = "small", *, shared: dict | None = None, **overrides):
    """A model of method ``name`` with ``bits``-bit codes, from its ``preset`` (``"small"``: the CPU settings
    its class docstring describes; ``"paper"``: the published ones), with config ``overrides``.

    ``overrides`` must be fields of the method's config (a ValueError lists the fields otherwise); a value
    of ``None`` keeps the preset's. ``shared`` holds settings meant for several methods at once (the command
    line's ``--epochs``, ``--seed``, ``--device``): each is applied where the method's config has that field
    and skipped where it has not (CCA has no epochs).

    >>> build("dcmh", bits=16, epochs=2).config.epochs
    2
    >>> build("cca", bits=16, shared={"epochs": 2}).config.bits
    16
    """
    cls = get(name)
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {', '.join(PRESETS)}, got {preset!r}")
    fields = {f.name for f in dataclasses.fields(cls.config_class)}
    unknown = sorted(k for k in overrides if k not in fields)
    if unknown:
        raise ValueError(f"{cls.__name__} has no setting {', '.join(unknown)}; its config "
                         f"{cls.config_class.__name__} has {', '.join(sorted(fields))}")
    settings = {k: v for k, v in (shared or {}).items() if k in fields and v is not None}
    settings.update({k: v for k, v in overrides.items() if v is not None})
    if "epochs" in settings and (isinstance(settings["epochs"], bool) or not isinstance(settings["epochs"], int)
                                 or settings["epochs"] < 1):
        raise ValueError(f"epochs must be an int >= 1, got {settings['epochs']!r}")
    settings.pop("bits", None)
    return getattr(cls, preset)(bits=bits, **settings)


def build_run(method: str, bits: int, preset: str, seed: int, epochs=None, device: str = "auto"):
    """``build(method, bits, preset, shared={"seed": seed, "epochs": epochs, "device": device})``: the
    positional form a benchmark run uses (:func:`hashnotes.bench.run_benchmark`'s ``build_model``)."""
    return build(method, bits=bits, preset=preset, shared={"seed": seed, "epochs": epochs, "device": device})


def __getattr__(name: str):
    for key, (_, cls) in REGISTRY.items():
        if cls == name:
            return get(key)
    raise AttributeError(f"module 'hashnotes.methods' has no attribute {name!r}")
