"""Training across processes with ``torch.distributed`` (one process per GPU, or several CPU processes).

Launch with ``torchrun --nproc_per_node N -m hashnotes train METHOD ...``: :func:`init` joins the process
group that torchrun describes in the environment (NCCL on CUDA, gloo on CPU), and every rank runs the same
fit. What is kept consistent, and how (the alternating strategy, :mod:`hashnotes.train.alternating`):

* **Batches.** Every rank draws the same batch indices (the batch generator is seeded identically) and
  forwards its own contiguous shard of the batch (:meth:`Context.shard`).
* **Buffers.** After each forward the shards' detached outputs are all-gathered, so every rank writes the
  whole batch into its copy of ``F`` / ``G``: the buffers, and therefore the B-step, are identical on all
  ranks at every step.
* **Gradients.** Each network is wrapped in :class:`~torch.nn.parallel.DistributedDataParallel`, which
  averages gradients over ranks; each rank's loss is its shard's share of the batch loss times the world
  size, so the averaged gradient is the single-process gradient of the whole batch (the bit-balance term
  uses the gathered batch sum, so it is exact too).
* **What departs.** Floating-point sums are taken in another order (weights agree to rounding, codes
  almost always bit for bit). BatchNorm layers see batch statistics of their shard: on CUDA the networks'
  BatchNorms are converted to :class:`~torch.nn.SyncBatchNorm`, which restores the whole-batch statistics;
  on CPU (gloo) SyncBatchNorm is not available and each rank normalises with its shard's statistics
  (running statistics are broadcast from rank 0). Dropout masks and TDH's triplet draws are per shard.
* **Selection and output.** Every rank validates (identical computations on identical weights), so all
  ranks restore the same best epoch and end with identical weights and codes; only rank 0 writes results
  and checkpoints, and its result rows record ``world_size``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch

__all__ = ["Context", "init", "context", "all_gather_rows"]


@dataclass(frozen=True)
class Context:
    """``rank`` of this process among ``world_size``; ``world_size == 1`` means a single process."""

    rank: int = 0
    world_size: int = 1

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, idx: torch.Tensor) -> torch.Tensor:
        """This rank's contiguous part of a batch (sizes differ by at most one)."""
        if not self.active:
            return idx
        return torch.tensor_split(idx, self.world_size)[self.rank]


def init(device: torch.device | None = None) -> Context:
    """Join the process group described by torchrun's environment (``WORLD_SIZE``, ``RANK``,
    ``MASTER_ADDR``, ...) if there is one; a single process otherwise. Idempotent."""
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Context()
    if not dist.is_initialized():
        backend = "nccl" if device is not None and device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
    return context()


def context() -> Context:
    """The current process's rank and world size (a single process when no group is initialised)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return Context(dist.get_rank(), dist.get_world_size())
    return Context()


def all_gather_rows(x: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    """Concatenate every rank's ``x`` (rank r holds ``sizes[r]`` rows) in rank order, on every rank."""
    import torch.distributed as dist

    width = max(sizes)
    pad = x.new_zeros((width,) + tuple(x.shape[1:]))
    pad[: x.shape[0]] = x
    parts = [torch.empty_like(pad) for _ in sizes]
    dist.all_gather(parts, pad)
    return torch.cat([p[:s] for p, s in zip(parts, sizes)])
