"""Checkpoints: one torch file holding everything a model needs and where it came from.

Layout (``format = "hashnotes-checkpoint-2"``)::

    {"format", "class": "module:QualName", "config": {...}, "spec": {image_shape, text_dim, n_labels},
     "modules": {name: state_dict}, "artifacts": {name: tensor}, "history": [...], "best_epoch": int,
     "dataset": {name, sizes, split, ...} or None, "environment": {versions, threads},
     "text_vectorizer": {"class": ..., "state": {...}} or None, "extra": {...}}

Only tensors and plain Python values are stored, so ``torch.load(weights_only=True)`` reads it.

Reading runs no code named by the file. ``"class"`` must be a method of the registry
(:data:`hashnotes.methods.REGISTRY`) or a subclass of the class ``load`` is called on that the running
program has already defined; ``"text_vectorizer"]["class"]`` must be one of :data:`VECTORIZERS`. Nothing is
imported from a name found in a file. Before any module is built, the saved spec and config are checked by
building the modules on PyTorch's ``meta`` device (shapes only, no memory) and comparing every shape with the
stored tensors, so a crafted size (``text_dim = 2**40``) is refused instead of allocated. Every malformed
checkpoint gives a ``ValueError`` naming the file and the problem.

Writing is atomic: the file is written to a temporary file in the same folder, fsynced and moved over the
destination with ``os.replace``, so a failed write (a full disk) leaves the previous checkpoint intact.
"""
from __future__ import annotations

import dataclasses
import numbers
import re
from dataclasses import asdict
from pathlib import Path

import torch
from torch.overrides import TorchFunctionMode

from .state import DataSpec, load_state, resolve_device, state_dict_cpu

FORMAT = "hashnotes-checkpoint-2"

# text vectoriser classes a checkpoint may name -> (module inside this package, class name)
VECTORIZERS = {"hashnotes.data.text:TextVectorizer": ("hashnotes.data.text", "TextVectorizer")}

# generous upper bounds on the saved data spec (a bound, not a limit of the methods)
MAX_TEXT_DIM = 1 << 24
MAX_LABELS = 1 << 20
MAX_IMAGE_SIDE = 1 << 16
MAX_CHANNELS = 1 << 12

__all__ = ["FORMAT", "VECTORIZERS", "write", "read", "read_raw"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_.<>]*")
# exceptions a malformed checkpoint can raise while the model is rebuilt (turned into a ValueError)
_MALFORMED = (KeyError, TypeError, AttributeError, IndexError, RuntimeError, OverflowError, MemoryError,
              AssertionError, NotImplementedError, ZeroDivisionError)


def _qualname(obj) -> str:
    cls = obj if isinstance(obj, type) else type(obj)
    return f"{cls.__module__}:{cls.__qualname__}"


def write(model, path) -> Path:
    """Save ``model`` (a fitted :class:`~hashnotes.train.base.HashingMethod`) to ``path``, atomically."""
    from .._io import atomic_writer

    p = Path(path)
    if p.exists() and p.is_dir():
        raise ValueError(f"checkpoint path {str(p)!r} is a directory; give a file name such as model.pt")
    p.parent.mkdir(parents=True, exist_ok=True)
    vec = model.text_vectorizer
    ckpt = {
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
    }
    with atomic_writer(p, "wb") as f:
        out = _WriteErrors(f)
        try:
            torch.save(ckpt, out)
        except RuntimeError as e:  # torch's writer turns the file's OSError (a full disk) into a RuntimeError
            if out.error is not None:
                raise out.error from None
            raise OSError(f"could not write the checkpoint {str(p)!r}: {e}") from None
    return p


class _WriteErrors:
    """A binary file that remembers the first OSError its ``write`` raised."""

    def __init__(self, f):
        self.f, self.error = f, None

    def write(self, b):
        try:
            return self.f.write(b)
        except OSError as e:
            self.error = self.error or e
            raise

    def flush(self):
        return self.f.flush()


# --------------------------------------------------------------------------------------------- validation
def _bad(path, problem: str) -> ValueError:
    return ValueError(f"{str(path)!r} is not a valid hashnotes checkpoint: {problem}")


def _is_int(x) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def _check_tensor_dict(d, what: str, path) -> None:
    if not isinstance(d, dict):
        raise _bad(path, f"{what} is a {type(d).__name__}, not a dict of tensors")
    for k, v in d.items():
        if not isinstance(k, str):
            raise _bad(path, f"{what} has a key {k!r} that is not a string")
        if not isinstance(v, torch.Tensor):
            raise _bad(path, f"{what}[{k!r}] is a {type(v).__name__}, not a tensor")


def _check_layout(ckpt: dict, path) -> None:
    """The types of every entry (no sizes yet)."""
    for key in ("class", "config", "spec", "modules"):
        if key not in ckpt:
            raise _bad(path, f"the entry {key!r} is missing")
    if not isinstance(ckpt["class"], str) or not _NAME.fullmatch(ckpt["class"]):
        raise _bad(path, f"'class' must be a 'module:ClassName' string, found {ckpt['class']!r}")
    cfg = ckpt["config"]
    if not isinstance(cfg, dict) or not all(isinstance(k, str) for k in cfg):
        raise _bad(path, f"'config' must be a dict of settings, found {type(cfg).__name__}")
    spec = ckpt["spec"]
    if not isinstance(spec, dict) or not {"image_shape", "text_dim", "n_labels"} <= set(spec):
        raise _bad(path, "'spec' must be a dict with image_shape, text_dim and n_labels")
    modules = ckpt["modules"]
    if not isinstance(modules, dict):
        raise _bad(path, f"'modules' is a {type(modules).__name__}, not a dict of state dicts")
    for name, state in modules.items():
        _check_tensor_dict(state, f"modules[{name!r}]", path)
    _check_tensor_dict(ckpt.get("artifacts", {}), "'artifacts'", path)
    if not isinstance(ckpt.get("history", []), list):
        raise _bad(path, "'history' is not a list")
    best = ckpt.get("best_epoch")
    if best is not None and not _is_int(best):
        raise _bad(path, f"'best_epoch' must be an int or None, found {best!r}")
    for key in ("dataset", "environment", "extra"):
        if ckpt.get(key) is not None and not isinstance(ckpt[key], dict):
            raise _bad(path, f"{key!r} must be a dict or None, found {type(ckpt[key]).__name__}")
    vec = ckpt.get("text_vectorizer")
    if vec is not None and (not isinstance(vec, dict) or not isinstance(vec.get("class"), str)
                            or not isinstance(vec.get("state"), dict)):
        raise _bad(path, "'text_vectorizer' must be None or a dict with a 'class' name and a 'state' dict")


def _spec(raw: dict, path) -> DataSpec:
    shape, text_dim, n_labels = raw["image_shape"], raw["text_dim"], raw["n_labels"]
    if not isinstance(shape, (list, tuple)) or len(shape) not in (1, 3) or not all(_is_int(s) and s >= 1
                                                                                  for s in shape):
        raise _bad(path, f"spec image_shape must be (d,) or (C, H, W) of positive ints, found {shape!r}")
    limits = [MAX_TEXT_DIM] if len(shape) == 1 else [MAX_CHANNELS, MAX_IMAGE_SIDE, MAX_IMAGE_SIDE]
    if any(s > lim for s, lim in zip(shape, limits)):
        raise _bad(path, f"spec image_shape {tuple(shape)} is beyond any real data (at most {tuple(limits)})")
    for name, v, lim in (("text_dim", text_dim, MAX_TEXT_DIM), ("n_labels", n_labels, MAX_LABELS)):
        if not _is_int(v) or v < 1:
            raise _bad(path, f"spec {name} must be a positive int, found {v!r}")
        if v > lim:
            raise _bad(path, f"spec {name}={v} is beyond any real data (at most {lim})")
    return DataSpec(tuple(int(s) for s in shape), int(text_dim), int(n_labels))


def read_raw(path) -> dict:
    """The checkpoint dict at ``path`` (its format and the types of its entries checked), without rebuilding
    the model. A ValueError names what is wrong with a file that is not a valid checkpoint."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"checkpoint not found: {str(p)!r}")
    try:
        ckpt = torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - a truncated, corrupt or foreign file, whatever torch raises
        raise ValueError(f"{str(p)!r} is not a readable hashnotes checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        found = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ValueError(f"{str(p)!r} is not a {FORMAT} file (found {found!r}); re-save the model with this "
                         "version of hashnotes")
    _check_layout(ckpt, p)
    return ckpt


# --------------------------------------------------------------------------------------------- classes
def _registered_methods() -> dict:
    """``{"hashnotes.methods.dcmh:DCMH": "dcmh", ...}``: the class names of the methods registry."""
    from .. import methods

    return {f"{methods.__name__}.{module}:{name}": key for key, (module, name) in methods.REGISTRY.items()}


def _defined_subclasses(cls):
    seen, todo = [], [cls]
    while todo:
        c = todo.pop()
        if c not in seen:
            seen.append(c)
            todo.extend(c.__subclasses__())
    return seen


def _method_class(name: str, cls, path, family=None):
    """The class a checkpoint names: a registered method, or a subclass of ``family`` (the method base class,
    :class:`~hashnotes.train.base.HashingMethod`, which passes itself; default ``cls``) this program has
    already defined; it must be ``cls`` or derive from it. Nothing is imported by name."""
    from .. import methods

    registered = _registered_methods()
    if name in registered:
        saved = methods.get(registered[name])
    else:
        found = [c for c in _defined_subclasses(family or cls) if _qualname(c) == name]
        if not found:
            raise ValueError(
                f"{str(path)!r} names the class {name!r}, which is neither a registered hashnotes method "
                f"({', '.join(sorted(registered))}) nor a HashingMethod subclass defined in this program; "
                "nothing is imported from a name in a file, so define or import that class first")
        saved = found[0]
    if not isinstance(saved, type) or not issubclass(saved, cls):
        raise ValueError(f"{str(path)!r} holds a {getattr(saved, '__name__', saved)}, not a {cls.__name__}")
    return saved


def _vectorizer_class(name: str, path):
    if name not in VECTORIZERS:
        raise ValueError(f"{str(path)!r} names the text vectoriser class {name!r}; a checkpoint can only name "
                         f"{', '.join(sorted(VECTORIZERS))} (nothing is imported from a name in a file)")
    import importlib

    module, cls = VECTORIZERS[name]  # fixed names of this package, never a name read from the file
    return getattr(importlib.import_module(module), cls)


# --------------------------------------------------------------------------------------------- shapes
_DATA_FACTORIES = {torch.tensor, torch.as_tensor, torch.asarray}


class _ShapesOnly(TorchFunctionMode):
    """Tensors made from sizes go to the ``meta`` device (no memory); tensors made from data stay on the
    CPU (they are as small as the data a constructor passes, and code may inspect their values)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        from torch.utils._device import _device_constructors

        kwargs = dict(kwargs or {})
        if func in _device_constructors() and func not in _DATA_FACTORIES and kwargs.get("device") is None:
            kwargs["device"] = "meta"
        return func(*args, **kwargs)


def _shapes(model, spec: DataSpec) -> dict | None:
    """``{module: {key: shape}}`` of what ``model.build(spec)`` makes, built without memory; None when the
    build cannot run on the meta device."""
    try:
        with torch.random.fork_rng(devices=[]), _ShapesOnly():
            modules = model.build(spec)
    except ValueError:
        raise
    except Exception:  # noqa: BLE001 - some code cannot run on meta tensors; the caller falls back
        return None
    if not isinstance(modules, dict):
        return None
    return {k: {key: tuple(v.shape) for key, v in m.state_dict().items()} for k, m in modules.items()}


def _compare_shapes(built: dict, stored: dict, spec: DataSpec, cls_name: str, path) -> None:
    if set(built) != set(stored):
        raise ValueError(f"{str(path)!r} has modules {sorted(stored)} but {cls_name} builds {sorted(built)}")
    for name in sorted(built):
        want, have = built[name], stored[name]
        if set(want) != set(have):
            missing, extra = sorted(set(want) - set(have)), sorted(set(have) - set(want))
            raise _bad(path, f"module {name!r} lacks {missing[:5]} and has unexpected {extra[:5]} tensors")
        for key, shape in want.items():
            if ".preprocess." in f".{key}":  # preprocessing statistics are loaded at their stored shape
                continue
            if tuple(have[key].shape) != shape:
                raise _bad(path, f"module {name!r} stores {key!r} with shape {tuple(have[key].shape)}, but the "
                                 f"saved spec {spec} and config build {shape}")


# --------------------------------------------------------------------------------------------- reading
def _config(saved_cls, raw: dict, path):
    cfg_cls = saved_cls.config_class
    fields = {f.name for f in dataclasses.fields(cfg_cls)}
    unknown = sorted(set(raw) - fields)
    if unknown:
        raise _bad(path, f"its config has settings {unknown} that {cfg_cls.__name__} does not know")
    try:
        return cfg_cls(**raw)
    except ValueError as e:
        raise _bad(path, f"its config is invalid ({e})") from None
    except _MALFORMED as e:
        raise _bad(path, f"its config is invalid ({type(e).__name__}: {e})") from None


def read(cls, path, device="cpu", family=None):
    """Rebuild the model saved at ``path``; ``cls`` must be the saved class or one of its bases. ``family``: the
    base class whose defined subclasses a checkpoint may name besides the registered methods (default ``cls``)."""
    ckpt = read_raw(path)
    saved_cls = _method_class(ckpt["class"], cls, path, family)
    config = _config(saved_cls, ckpt["config"], path)
    spec = _spec(ckpt["spec"], path)
    vec_cls = None if ckpt.get("text_vectorizer") is None else _vectorizer_class(ckpt["text_vectorizer"]["class"],
                                                                                 path)
    target = resolve_device(device if device is not None else config.device)
    try:
        model = saved_cls(config)
        model.spec = spec
        model.device = target
        model.restoring = True
        try:
            shapes = _shapes(model, spec)
            if shapes is not None:
                _compare_shapes(shapes, ckpt["modules"], spec, saved_cls.__name__, path)
            with torch.random.fork_rng(devices=[]):
                modules = model.build(spec)
        finally:
            model.restoring = False
        if set(modules) != set(ckpt["modules"]):
            raise ValueError(f"{str(path)!r} has modules {sorted(ckpt['modules'])} but {saved_cls.__name__} builds "
                             f"{sorted(modules)}")
        for k, m in modules.items():
            load_state(m, ckpt["modules"][k])
        model.modules = {k: m.to(model.device).eval() for k, m in modules.items()}
        model.artifacts = {k: v.to(model.device) for k, v in (ckpt.get("artifacts") or {}).items()}
        model.history = list(ckpt.get("history") or [])
        model.best_epoch = ckpt.get("best_epoch")
        model.dataset = ckpt.get("dataset")
        model.environment = ckpt.get("environment")
        if vec_cls is not None:
            model.text_vectorizer = vec_cls.from_state_dict(ckpt["text_vectorizer"]["state"])
        model._load_extra(ckpt.get("extra") or {})
    except ValueError as e:
        if str(path) in str(e):
            raise
        raise _bad(path, str(e)) from None
    except _MALFORMED as e:
        raise _bad(path, f"{type(e).__name__}: {e}") from None
    return model
