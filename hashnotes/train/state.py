"""What the training loop (:mod:`.base`) and the checkpoint format (:mod:`.checkpoint`) both use: the data spec
a method builds its modules from, the device, and copying module state. Kept apart so that neither of the two
imports the other's module at import time and ``checkpoint`` does not import ``base`` at all."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["DataSpec", "resolve_device", "state_dict_cpu", "load_state"]


@dataclass(frozen=True)
class DataSpec:
    """What a method needs to know about the data to build its modules (saved with checkpoints)."""

    image_shape: tuple
    text_dim: int
    n_labels: int

    @classmethod
    def of(cls, pairs) -> "DataSpec":
        return cls(tuple(int(s) for s in pairs.images.shape[1:]), int(pairs.texts.shape[1]),
                   int(pairs.labels.shape[1]))



def resolve_device(device: str | torch.device | None) -> torch.device:
    """``"auto"`` (or None) -> CUDA when available, else CPU; ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``.

    Anything else, or a device that is not available, raises ``ValueError`` naming the problem.
    """
    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if isinstance(device, torch.device):
        dev = device
    else:
        if not isinstance(device, str) or device != device.strip() or not device:
            raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")
        try:
            dev = torch.device(device)
        except (RuntimeError, ValueError):
            raise ValueError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N'") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device={str(device)!r} was requested but CUDA is not available; use 'auto' or 'cpu'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device={str(device)!r}: only {torch.cuda.device_count()} CUDA device(s) present")
    elif dev.type == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise ValueError(f"device={str(device)!r} was requested but MPS is not available; use 'auto' or 'cpu'")
    elif dev.type != "cpu":
        raise ValueError(f"unsupported device {str(device)!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N'")
    return dev



def state_dict_cpu(module: nn.Module) -> dict:
    """A detached CPU copy of ``module.state_dict()``."""
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}


def load_state(module: nn.Module, state: dict) -> None:
    """``load_state_dict`` that also accepts preprocessing buffers of another shape (e.g. a loaded mean image)."""
    own = module.state_dict()
    for key, value in state.items():
        if key in own and own[key].shape != value.shape and ".preprocess." in f".{key}":
            mod_name, _, buf = key.rpartition(".")
            module.get_submodule(mod_name).register_buffer(buf, torch.empty_like(value, device=own[key].device))
    module.load_state_dict(state)
