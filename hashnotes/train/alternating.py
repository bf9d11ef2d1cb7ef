"""The alternating F/G/B strategy of the DCMH family (DCMH, CDHCR, TDH) on :class:`HashingMethod`.

One epoch, as in DCMH's MATLAB reference (Jiang & Li, CVPR 2017, Algorithm 1):

1. the B-step, ``B <- method.b_step(state)``, except for the epoch-1 rule (``first_b``);
2. for each modality in ``modality_order``: ``ceil(n / b)`` iterations, each drawing a fresh random batch
   (:func:`~hashnotes.train.batches.fresh_batches`), forwarding it, writing the detached outputs into that
   modality's buffer (``F`` for images, ``G`` for text) and stepping on the batch loss, which is the
   method's summed terms scaled by ``1 / (n b)`` (the one place this scaling lives);
3. one learning-rate step per network and a history row with the full objective on the buffers.

Three settings of every method in this family are explicit config fields, documented per method:

* ``modality_order``: which network is trained first in each epoch (``("text", "image")`` in all three papers);
* ``buffer_init``: ``"zeros"`` (DCMH-MATLAB's F = G = 0) or ``"randn"`` (F, G ~ N(0, 1), DCMH-TF);
* ``first_b``: ``"zero"`` — while F and G are still all zero at the start of epoch 1, B = 0 (MATLAB's
  ``sign(0) = 0``; with ``sign(0) = +1`` every item would get the all-ones code, a fixed point of the
  alternation) — or ``"sign"`` (the method's B-step from the start).

The history's objective row costs ``O(n^2)`` for the pairwise likelihoods (17-74 s an epoch at n = 20,015),
so it is computed on a fixed random sample of ``objective_items`` training items (all of them when there are
fewer; 0 turns the row off): the same sample every epoch, so epochs stay comparable.

Buffers are row-major ``(n, c)`` tensors (the papers' ``F in R^{c x n}`` is ``F.T``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .._checks import check_choice, check_int
from ..codes import sign
from . import distributed
from .base import HashingMethod, Phase
from .batches import Feeder, fresh_batches
from .networks import DeepConfig, build_pair_networks, make_optimizer

__all__ = ["AlternatingConfig", "TrainState", "AlternatingHashing"]

MODALITIES = ("image", "text")


@dataclass(frozen=True)
class AlternatingConfig(DeepConfig):
    """:class:`~hashnotes.train.networks.DeepConfig` plus the three settings of the alternating loop
    (see the module docstring): ``modality_order``, ``buffer_init``, ``first_b``."""

    modality_order: tuple = ("text", "image")
    buffer_init: str = "zeros"
    first_b: str = "zero"
    objective_items: int = 4096

    def __post_init__(self):
        super().__post_init__()
        check_int(self.objective_items, "objective_items", minimum=0)
        order = tuple(self.modality_order)
        if sorted(order) != sorted(MODALITIES):
            raise ValueError(f"modality_order must hold 'image' and 'text' once each, got {self.modality_order!r}")
        object.__setattr__(self, "modality_order", order)
        check_choice(self.buffer_init, "buffer_init", ("zeros", "randn"))
        check_choice(self.first_b, "first_b", ("zero", "sign"))


class TrainState:
    """What the hooks see: buffers ``F`` (image outputs), ``G`` (text outputs), codes ``B``, all ``(n, c)``
    float tensors on ``device``; ``labels`` ``(n, l)`` float on device; ``n``, ``bits``, ``config``,
    ``epoch`` (0-based, the one running), ``generator`` (the seeded CPU generator that draws batches),
    ``device``, ``spec`` and ``extra`` (a dict for method-specific precomputations).
    """

    def __init__(self, F, G, B, labels, config, generator, device, spec):
        self.F, self.G, self.B = F, G, B
        self.labels = labels
        self.n = int(F.shape[0])
        self.bits = int(F.shape[1])
        self.config = config
        self.epoch = 0
        self.generator = generator
        self.device = device
        self.spec = spec
        self.extra: dict[str, Any] = {}

    def buffer(self, modality: str) -> torch.Tensor:
        """``F`` for ``"image"``, ``G`` for ``"text"``."""
        if modality == "image":
            return self.F
        if modality == "text":
            return self.G
        raise ValueError(f"modality must be 'image' or 'text', got {modality!r}")

    def other(self, modality: str) -> torch.Tensor:
        """The other modality's buffer."""
        return self.buffer("text" if modality == "image" else "image")

    def objective_view(self) -> "TrainState":
        """This state restricted to the objective's fixed sample of items (``objective_rows``; itself when
        the sample is all items)."""
        rows = self.extra.get("objective_rows")
        if rows is None:
            return self
        view = TrainState(self.F[rows], self.G[rows], self.B[rows], self.labels[rows], self.config,
                          self.generator, self.device, self.spec)
        view.epoch, view.extra = self.epoch, self.extra
        return view

    def rest_sum(self, modality: str, idx: torch.Tensor) -> torch.Tensor:
        """Per-bit sum of this modality's buffer over the rows *outside* the batch ``idx`` (stale columns,
        for the bit-balance term of a mini-batch)."""
        own = self.buffer(modality)
        return own.sum(0) - own[idx].sum(0)


class AlternatingHashing(HashingMethod):
    """Base of DCMH, CDHCR and TDH: two networks + buffers ``F``/``G``/``B`` + the alternating loop.

    A method sets ``config_class`` (an :class:`AlternatingConfig`) and writes ``batch_loss`` and
    ``objective``; it overrides ``b_step`` (default ``sign(F + G)``), ``output_activation`` (default
    identity) and ``prepare_state`` where it needs to. ``state`` (a :class:`TrainState`) is kept after ``fit``.
    """

    config_class = AlternatingConfig
    name = "alternating"

    # ---- hooks -------------------------------------------------------------------------------------
    def output_activation(self, z: torch.Tensor) -> torch.Tensor:
        """Applied to raw network outputs before they enter buffers, losses and codes (identity)."""
        return z

    def prepare_state(self, train, state: TrainState) -> None:
        """Called once before the first epoch (e.g. factor a constant matrix into ``state.extra``)."""

    def b_step(self, state: TrainState) -> torch.Tensor:
        """The B-step; default (DCMH eq. (2), exact): ``B = sign(F + G)`` with ``sign(0) = +1``."""
        return sign(state.F + state.G)

    def batch_loss(self, modality: str, idx: torch.Tensor, out: torch.Tensor, state: TrainState) -> dict:
        """Named terms of one mini-batch's objective as sums, including ``"total"``; ``out`` are the activated
        outputs (with gradient) and the buffer rows ``idx`` already hold them (detached)."""
        raise NotImplementedError

    def objective(self, state: TrainState) -> dict[str, float]:
        """The full objective's terms on the buffers (for the history); must include ``"total"``."""
        return {}

    # ---- the strategy ------------------------------------------------------------------------------
    def build(self, data):
        return build_pair_networks(self.config, data, restoring=self.restoring)

    def output(self, modality, x):
        return self.output_activation(self.modules[modality](x))

    def prepare(self, train) -> None:
        cfg = self.config
        self._setup_distributed()
        self.optimizers, self.schedulers = {}, {}
        for modality in MODALITIES:
            self.optimizers[modality], self.schedulers[modality] = make_optimizer(
                cfg, self.modules[modality].parameters(), modality)
        n, c = len(train.labels), int(cfg.bits)
        gen = torch.Generator().manual_seed(int(cfg.seed))
        if cfg.buffer_init == "zeros":
            F = torch.zeros(n, c, device=self.device)
            G = torch.zeros(n, c, device=self.device)
        else:
            F = torch.randn(n, c, generator=gen).to(self.device)
            G = torch.randn(n, c, generator=gen).to(self.device)
        labels = torch.as_tensor(np.asarray(train.labels), dtype=torch.float32, device=self.device)
        self.state = TrainState(F, G, torch.zeros_like(F), labels, cfg, gen, self.device, self.spec)
        self._feeder = Feeder(train, self.device, workers=cfg.loader_workers)
        m = int(cfg.objective_items)
        if 0 < m < n:  # a fixed sample of its own generator: the batch draws are untouched
            rows = np.sort(np.random.default_rng([int(cfg.seed), 11]).choice(n, m, replace=False))
            self.state.extra["objective_rows"] = torch.as_tensor(rows, device=self.device)
        self.prepare_state(train, self.state)
        self.state.B = self.update_b(self.state)

    def _setup_distributed(self) -> None:
        """Under torchrun: DDP-wrapped networks for the training forwards (see :mod:`.distributed`)."""
        self.dist = distributed.context()
        self._train_nets = dict(self.modules)
        if not self.dist.active:
            return
        if int(self.config.batch_size) < self.dist.world_size:
            raise ValueError(f"batch_size={self.config.batch_size} is smaller than the world size "
                             f"{self.dist.world_size}: every rank needs a part of each batch")
        from torch.nn.parallel import DistributedDataParallel

        cuda = self.device.type == "cuda"
        for name, module in self.modules.items():
            if cuda:
                module = torch.nn.SyncBatchNorm.convert_sync_batchnorm(module)
                self.modules[name] = module
            self._train_nets[name] = DistributedDataParallel(
                module, device_ids=[self.device.index or 0] if cuda else None)

    def phases(self, train):
        def epoch(e):
            self.state.epoch = e
            return self.run_epoch(self.state)

        return [Phase("train", int(self.config.epochs), epoch)]

    def update_b(self, state: TrainState) -> torch.Tensor:
        """The B-step with the epoch-1 rule of ``config.first_b``."""
        if self.config.first_b == "zero" and state.epoch == 0 and not bool(state.F.any()) \
                and not bool(state.G.any()):
            return torch.zeros_like(state.F)
        return self.b_step(state)

    def train_modality(self, modality: str, state: TrainState) -> dict[str, float]:
        """``ceil(n / b)`` steps on one network; returns the mean of each scaled batch term."""
        net, opt = self._train_nets[modality], self.optimizers[modality]
        buf = state.buffer(modality)
        net.train()
        sums: dict[str, float] = {}
        iters = 0
        dist = self.dist
        amp = bool(self.config.amp)
        # the same draws on every rank; each forwards its shard (the whole batch in a single process)
        full = list(fresh_batches(state.n, self.config.batch_size, state.generator, self.device))
        shards = [dist.shard(idx) for idx in full]
        for idx, (mine, x) in zip(full, self._feeder.batches(modality, shards)):
            with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=amp):
                z = net(x)
            out = self.output_activation(z.float() if amp else z)
            if dist.active:  # every rank writes every shard's outputs: identical buffers on all ranks
                sizes = [len(part) for part in torch.tensor_split(idx, dist.world_size)]
                buf[idx] = distributed.all_gather_rows(out.detach().to(buf.dtype), sizes)
            else:
                buf[idx] = out.detach().to(buf.dtype)
            terms = self.batch_loss(modality, mine, out, state)
            scale = 1.0 / (state.n * len(idx))  # DCMH's 1/(n b) normalisation of every batch term
            loss = scale * terms["total"]
            if dist.active:
                loss = loss * dist.world_size  # DDP averages the ranks' gradients: their sum is the batch's
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{modality} batch loss became {float(loss.detach())} at epoch "
                                         f"{state.epoch + 1}; lower the learning rate")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach()) * scale
            iters += 1
        return {k: v / iters for k, v in sums.items()}

    def run_epoch(self, state: TrainState) -> dict:
        """One epoch: B-step, the modality loops, scheduler steps; returns the history row (no validation)."""
        t0 = time.perf_counter()
        state.B = self.update_b(state)
        row: dict[str, Any] = {"epoch": state.epoch + 1}
        for modality in self.config.modality_order:
            row[f"lr_{modality}"] = float(self.optimizers[modality].param_groups[0]["lr"])
        for modality in self.config.modality_order:
            self.train_modality(modality, state)
        for sched in self.schedulers.values():
            if sched is not None:
                sched.step()
        terms = {}
        if self.config.objective_items:
            with torch.no_grad():
                terms = self.objective(state)
        for k, v in terms.items():
            row[f"loss/{k}"] = float(v)
        row["seconds"] = time.perf_counter() - t0
        return row
