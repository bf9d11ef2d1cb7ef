"""Checkpoints: one torch file holding everything a model needs and where it came from.

Layout (``format = "hashnotes-checkpoint-2"``)::

    {"format", "class": "module:QualName", "config": {...}, "spec": {image_shape, text_dim, n_labels},
     "modules": {name: state_dict}, "artifacts": {name: tensor}, "history": [...], "best_epoch": int,
     "dataset": {name, sizes, split, ...} or None, "environment": {versions, threads},
     "text_vectorizer": {"class": ..., "state": {...}} or None, "extra": {...}}

Only tensors and plain Python values are stored, so ``torch.load(weights_only=True)`` reads it.
"""
from __future__ import annotations

import importlib
from dataclasses import asdict
from pathlib import Path

import torch

from .base import DataSpec, load_state, resolve_device, state_dict_cpu

FORMAT = "hashnotes-checkpoint-2"

__all__ = ["FORMAT", "write", "read", "read_raw"]


def _qualname(obj) -> str:
    cls = obj if isinstance(obj, type) else type(obj)
    return f"{cls.__module__}:{cls.__qualname__}"


def _resolve(path: str):
    module, _, qualname = path.partition(":")
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def write(model, path) -> Path:
    """Save ``model`` (a fitted :class:`~hashnotes.train.base.HashingMethod`) to ``path``."""
    p = Path(path)
    if p.exists() and p.is_dir():
        raise ValueError(f"checkpoint path {str(p)!r} is a directory; give a file name such as model.pt")
    p.parent.mkdir(parents=True, exist_ok=True)
    vec = model.text_vectorizer
    torch.save({
        "format": FORMAT,
        "class": _qualname(model),
        "config": asdict(model.config),
        "spec": asdict(model.spec),
        "modules": {k: state_dict_cpu(m) for k, m in model.modules.items()},
        "artifacts": {k: v.detach().to("cpu") for k, v in model.artifacts.items()},
        "history": model.history,
        "best_epoch": model.best_epoch,
        "dataset": model.dataset,
        "environment": model.environment,
        "text_vectorizer": None if vec is None else {"class": _qualname(vec), "state": vec.state_dict()},
        "extra": model._checkpoint_extra(),
    }, str(p))
    return p


def read_raw(path) -> dict:
    """The checkpoint dict at ``path`` (validated), without rebuilding the model."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"checkpoint not found: {str(p)!r}")
    try:
        ckpt = torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated or foreign file
        raise ValueError(f"{str(p)!r} is not a readable hashnotes checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        found = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ValueError(f"{str(p)!r} is not a {FORMAT} file (found {found!r}); re-save the model with this "
                         "version of hashnotes")
    return ckpt


def read(cls, path, device="cpu"):
    """Rebuild the model saved at ``path``; ``cls`` must be the saved class or one of its bases."""
    ckpt = read_raw(path)
    saved_cls = _resolve(ckpt["class"])
    if not issubclass(saved_cls, cls):
        raise ValueError(f"{str(path)!r} holds a {saved_cls.__name__}, not a {cls.__name__}")
    model = saved_cls(saved_cls.config_class(**ckpt["config"]))
    spec = ckpt["spec"]
    model.spec = DataSpec(tuple(spec["image_shape"]), int(spec["text_dim"]), int(spec["n_labels"]))
    model.device = resolve_device(device if device is not None else model.config.device)
    model.restoring = True
    try:
        with torch.random.fork_rng(devices=[]):
            modules = model.build(model.spec)
    finally:
        model.restoring = False
    if set(modules) != set(ckpt["modules"]):
        raise ValueError(f"{str(path)!r} has modules {sorted(ckpt['modules'])} but {saved_cls.__name__} builds "
                         f"{sorted(modules)}")
    for k, m in modules.items():
        load_state(m, ckpt["modules"][k])
    model.modules = {k: m.to(model.device).eval() for k, m in modules.items()}
    model.artifacts = {k: v.to(model.device) for k, v in ckpt["artifacts"].items()}
    model.history = list(ckpt["history"])
    model.best_epoch = ckpt["best_epoch"]
    model.dataset = ckpt.get("dataset")
    model.environment = ckpt.get("environment")
    vec = ckpt.get("text_vectorizer")
    if vec is not None:
        model.text_vectorizer = _resolve(vec["class"]).from_state_dict(vec["state"])
    model._load_extra(ckpt.get("extra") or {})
    return model
