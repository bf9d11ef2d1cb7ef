"""Mini-batch schedules the papers use, and the feeder that turns batch indices into input tensors.

* :func:`fresh_batches` — DCMH's MATLAB loop: ``ceil(n / b)`` iterations per epoch, each drawing a fresh
  random batch ``randperm(n)[:b]`` (items can repeat across iterations of an epoch, some are skipped);
* :func:`partition_batches` — a PyTorch ``DataLoader(shuffle=True)``: one random permutation per epoch cut
  into consecutive batches (``drop_last`` as in DAPH);
* :func:`query_order` — one pass over the queries in a random order (UGACH's per-query generator steps).

All draw from an explicit ``torch.Generator`` so a fit is reproducible and never touches the global RNG.
"""
from __future__ import annotations

import math
from typing import Iterator

import numpy as np
import torch

__all__ = ["fresh_batches", "partition_batches", "query_order", "Feeder"]


def fresh_batches(n: int, batch_size: int, generator: torch.Generator, device=None) -> Iterator[torch.Tensor]:
    """``ceil(n / b)`` index batches, each the first ``b`` entries of a new ``randperm(n)``."""
    b = min(int(batch_size), int(n))
    for _ in range(math.ceil(n / b)):
        idx = torch.randperm(n, generator=generator)[:b]
        yield idx if device is None else idx.to(device)


def partition_batches(n: int, batch_size: int, generator: torch.Generator, drop_last: bool = False,
                      device=None) -> Iterator[torch.Tensor]:
    """One random permutation of ``range(n)`` cut into consecutive batches of ``batch_size``.

    With ``drop_last`` the incomplete final batch is skipped (there is always at least one batch).
    """
    b = min(int(batch_size), int(n))
    perm = torch.randperm(n, generator=generator)
    stop = (n // b) * b if drop_last else n
    for s in range(0, stop, b):
        idx = perm[s:s + b]
        yield idx if device is None else idx.to(device)


def query_order(n: int, generator: torch.Generator) -> torch.Tensor:
    """All ``n`` query indices in a random order."""
    return torch.randperm(n, generator=generator)


class _Rows(torch.utils.data.Dataset):
    """A dataset whose items are whole batches: ``rows[idx_array]`` (for DataLoader workers)."""

    def __init__(self, arr):
        self.arr = arr

    def __len__(self):
        return len(self.arr)

    def __getitem__(self, idx):
        from ..data.base import take_rows

        return torch.from_numpy(np.ascontiguousarray(take_rows(self.arr, np.asarray(idx))))


class Feeder:
    """Training inputs by batch index: in-memory arrays go to the device once; on-disk arrays (h5py,
    lazy image files) are read batch by batch in sorted index order and put back in batch order, by
    ``workers`` DataLoader processes ahead of the training step when ``workers > 0`` (:meth:`batches`)."""

    def __init__(self, pairs, device: torch.device, max_device_bytes: float = 2e9, workers: int = 0):
        self.device = device
        self.workers = int(workers)
        self.data = {}
        for modality, arr in (("image", pairs.images), ("text", pairs.texts)):
            if isinstance(arr, np.ndarray) and (device.type == "cpu" or arr.nbytes <= max_device_bytes):
                t = torch.from_numpy(np.ascontiguousarray(arr))
                self.data[modality] = t.to(device) if device.type != "cpu" else t
            else:
                self.data[modality] = arr

    def get(self, modality: str, idx: torch.Tensor):
        arr = self.data[modality]
        if isinstance(arr, torch.Tensor):
            return arr[idx.to(arr.device)]
        from ..data.base import take_rows

        return torch.from_numpy(np.ascontiguousarray(take_rows(arr, idx.cpu().numpy()))).to(self.device)

    def batches(self, modality: str, batches: list[torch.Tensor]):
        """``(idx, inputs)`` for each index batch, in order; on-disk inputs are prefetched by the workers."""
        arr = self.data[modality]
        if isinstance(arr, torch.Tensor) or self.workers == 0:
            for idx in batches:
                yield idx, self.get(modality, idx)
            return
        loader = torch.utils.data.DataLoader(_Rows(arr), batch_size=None, sampler=[b.cpu().numpy() for b in batches],
                                             num_workers=self.workers, pin_memory=self.device.type == "cuda",
                                             prefetch_factor=2, persistent_workers=False)
        for idx, x in zip(batches, loader):
            yield idx, x.to(self.device, non_blocking=True)
