"""The shared alternating trainer of the DCMH family (DCMH, CDHCR, TDH).

One epoch follows DCMH's MATLAB reference (Jiang & Li, CVPR 2017; METHODS.md section 2.2):

1. ``B <- method.b_step(state)`` (default ``sign(F + G)`` with ``sign(0) = +1``);
2. for each modality in ``method.modality_order`` (text first): ``ceil(n / b)`` iterations, each drawing a
   fresh random batch ``randperm(n)[:b]``, forwarding it, writing the detached outputs into that modality's
   buffer (``F`` for images, ``G`` for text) and stepping on ``method.batch_loss(modality, idx, out, state)``;
3. one scheduler step per network, a history row (the full objective on the buffers), and every
   ``eval_every`` epochs the validation mAP (validation items as queries, training items as database,
   network codes) with the best state kept in memory.

Buffers are row-major ``(n, c)`` torch tensors (the papers' ``F in R^{c x n}`` is ``F.T``).
A method subclasses :class:`AlternatingHashing` and overrides only the hooks it needs.
"""
from __future__ import annotations

import dataclasses
import importlib
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .codes import sign  # sign(0) = +1, torch or numpy

__all__ = [
    "TrainConfig",
    "DataSpec",
    "TrainState",
    "RetrievalModel",
    "AlternatingHashing",
    "resolve_device",
    "sign",
    "logspace_lambda",
]


# --------------------------------------------------------------------------------------------- helpers
def resolve_device(device: str | torch.device | None) -> torch.device:
    """``"auto"`` (or None) -> CUDA when available, else CPU; other strings are passed to ``torch.device``."""
    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={str(device)!r} was requested but CUDA is not available; use 'auto' or 'cpu'")
    return dev


def logspace_lambda(start_exp: float, end_exp: float, epochs: int):
    """Multiplier for ``LambdaLR`` giving ``lr_e = logspace(start_exp, end_exp, epochs)[e]`` (MATLAB DCMH)."""
    lrs = np.logspace(start_exp, end_exp, max(int(epochs), 1))
    base = lrs[0]
    return lambda e: float(lrs[min(e, len(lrs) - 1)] / base)


def _check_bits(bits) -> int:
    try:
        from .codes import check_bits  # engineer 1's validator when present
    except ImportError:  # pragma: no cover - early in the project
        check_bits = None
    if check_bits is not None:
        return int(check_bits(bits))
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 1 <= int(bits) <= 4096:
        raise ValueError(f"bits must be an int in 1..4096, got {bits!r}")
    return int(bits)


def _metric_fns():
    """(mean_average_precision, precision_at_radius) from :mod:`hashnotes.metrics`."""
    from . import metrics

    return metrics.mean_average_precision, metrics.precision_at_radius


# --------------------------------------------------------------------------------------------- config/state
@dataclass(frozen=True)
class TrainConfig:
    """Settings every alternating-hashing method shares.

    bits: code length. epochs: outer iterations. batch_size: items per mini-batch (MATLAB: 128).
    seed: seeds network initialisation, batch draws and dropout (results are deterministic on CPU).
    device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"`` ...
    eval_every: validation mAP every this many epochs (0: never); the last epoch is always evaluated.
    restore_best: at the end, restore the weights of the epoch with the best mean validation mAP.
    encode_batch_size: batch size when encoding (evaluation mode, no gradients).
    """

    bits: int = 32
    epochs: int = 50
    batch_size: int = 128
    seed: int = 0
    device: str = "auto"
    eval_every: int = 1
    restore_best: bool = True
    encode_batch_size: int = 512

    def __post_init__(self):
        _check_bits(self.bits)
        for name in ("epochs", "batch_size", "encode_batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if isinstance(self.eval_every, bool) or not isinstance(self.eval_every, (int, np.integer)) \
                or self.eval_every < 0:
            raise ValueError(f"eval_every must be an int >= 0, got {self.eval_every!r}")
        if not isinstance(self.seed, (int, np.integer)) or isinstance(self.seed, bool):
            raise ValueError(f"seed must be an int, got {self.seed!r}")


@dataclass(frozen=True)
class DataSpec:
    """What a method needs to know about the data to build its networks (saved with checkpoints)."""

    image_shape: tuple
    text_dim: int
    n_labels: int

    @classmethod
    def of(cls, pairs) -> "DataSpec":
        return cls(tuple(int(s) for s in pairs.images.shape[1:]), int(pairs.texts.shape[1]),
                   int(pairs.labels.shape[1]))


class TrainState:
    """What the hooks see: buffers ``F`` (image outputs), ``G`` (text outputs), codes ``B``, all ``(n, c)``
    float tensors on ``device``; ``labels`` ``(n, l)`` float on device; ``n``, ``bits``, ``config``,
    ``epoch`` (0-based, the one running), ``generator`` (the seeded CPU generator that draws batches),
    ``device``, ``spec`` and ``extra`` (a dict for method-specific precomputations made in ``prepare``).
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


class _Feeder:
    """Raw training inputs for batches: in-memory arrays go to the device once; h5py stays on disk."""

    def __init__(self, pairs, device: torch.device, max_device_bytes: float = 2e9):
        self.device = device
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
        from .data.base import take_rows

        return torch.from_numpy(np.ascontiguousarray(take_rows(arr, idx.cpu().numpy()))).to(self.device)


def _check_pairs(pairs, name: str) -> None:
    for attr in ("images", "texts", "labels"):
        if not hasattr(pairs, attr):
            raise ValueError(f"{name} must be a PairSet (images, texts, labels), got {type(pairs).__name__}")
    n = len(pairs.labels)
    if n < 2:
        raise ValueError(f"{name} must hold at least 2 pairs, got {n}")
    if len(pairs.images) != n or len(pairs.texts) != n:
        raise ValueError(f"{name}: images, texts and labels must have the same number of rows")
    lab = np.asarray(pairs.labels)
    if lab.ndim != 2 or not np.isin(lab, (0, 1)).all():
        raise ValueError(f"{name}.labels must be a 2-D 0/1 matrix")
    if isinstance(pairs.texts, np.ndarray) and not np.isfinite(pairs.texts).all():
        raise ValueError(f"{name}.texts contains NaN or inf")
    if np.ndim(pairs.images) not in (2, 4):
        raise ValueError(f"{name}.images must be (n, C, H, W) pixels or (n, d) features, got shape "
                         f"{tuple(np.shape(pairs.images))}")


def _state_dict_cpu(net: nn.Module) -> dict:
    return {k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()}


def _load_state(net: nn.Module, state: dict) -> None:
    """``load_state_dict`` that also accepts preprocessing buffers of another shape (e.g. a loaded mean image)."""
    own = net.state_dict()
    for key, value in state.items():
        if key in own and own[key].shape != value.shape and ".preprocess." in f".{key}":
            mod_name, _, buf = key.rpartition(".")
            module = net.get_submodule(mod_name)
            module.register_buffer(buf, torch.empty_like(value, device=own[key].device))
    net.load_state_dict(state)


# --------------------------------------------------------------------------------------------- evaluation
class RetrievalModel:
    """Evaluation shared by every method: ``encode_image`` / ``encode_text`` -> int8 codes, ``evaluate``.

    Subclasses implement ``encode_image(images)`` and ``encode_text(texts)`` returning ``(n, bits)`` int8
    arrays of {-1, +1}.
    """

    name = "model"

    def encode_image(self, images) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def encode_text(self, texts) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def retrieval_scores(self, query, database, radius: int = 2) -> dict[str, float]:
        """I->T and T->I mAP@all and precision within Hamming ``radius`` (per query) of ``query`` vs ``database``."""
        map_fn, par_fn = _metric_fns()
        qi, qt = self.encode_image(query.images), self.encode_text(query.texts)
        di, dt = self.encode_image(database.images), self.encode_text(database.texts)
        ql, dl = np.asarray(query.labels), np.asarray(database.labels)
        return {
            "map_i2t": float(map_fn(qi, dt, ql, dl)),
            "map_t2i": float(map_fn(qt, di, ql, dl)),
            f"p_at_r{radius}_i2t": float(par_fn(qi, dt, ql, dl, radius=radius)),
            f"p_at_r{radius}_t2i": float(par_fn(qt, di, ql, dl, radius=radius)),
        }

    def evaluate(self, ds, radius: int = 2) -> dict:
        """Query set vs database set (network codes): ``map_i2t``, ``map_t2i``, ``p_at_r2_i2t``,
        ``p_at_r2_t2i``, ``bits`` and ``split`` (the dataset's split record)."""
        for part in ("query", "database"):
            if not hasattr(ds, part):
                raise ValueError(f"ds must be a CrossModalDataset with query and database sets, got "
                                 f"{type(ds).__name__}")
        out = self.retrieval_scores(ds.query, ds.database, radius=radius)
        out["bits"] = int(self.config.bits)
        split = getattr(ds, "split", None)
        out["split"] = split.as_dict() if hasattr(split, "as_dict") else None
        return out


# --------------------------------------------------------------------------------------------- trainer
class AlternatingHashing(RetrievalModel):
    """Base class: networks + buffers ``F``/``G``/``B`` + the alternating loop (see the module docstring).

    Hooks a method overrides: :meth:`build_networks`, :meth:`output_activation`, :meth:`make_optimizer`,
    :meth:`prepare`, :meth:`b_step`, :meth:`batch_loss`, :meth:`objective`; class attributes
    ``config_class``, ``modality_order`` and ``init_buffers`` (``"zeros"`` or ``"randn"``).

    Attributes after ``fit``: ``image_net``, ``text_net``, ``history`` (one dict per epoch), ``best_epoch``
    (1-based epoch whose weights are in the model), ``state`` (the last :class:`TrainState`), ``spec``.
    """

    config_class = TrainConfig
    modality_order: tuple[str, ...] = ("text", "image")
    init_buffers = "zeros"
    name = "alternating"

    def __init__(self, config: TrainConfig | None = None, **overrides):
        if config is None:
            config = self.config_class(**overrides)
        else:
            if not isinstance(config, TrainConfig):
                raise ValueError(f"config must be a {self.config_class.__name__}, got {type(config).__name__}")
            if overrides:
                config = dataclasses.replace(config, **overrides)
        self.config = config
        self.image_net: nn.Module | None = None
        self.text_net: nn.Module | None = None
        self.history: list[dict] = []
        self.best_epoch: int | None = None
        self.state: TrainState | None = None
        self.spec: DataSpec | None = None
        self.device = torch.device("cpu")
        self.restoring = False  # True while load() rebuilds networks: do not load external weights then

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"

    # ---- hooks -------------------------------------------------------------------------------------
    def build_networks(self, train) -> tuple[nn.Module, nn.Module]:
        """Return ``(image_net, text_net)``.

        ``train`` is the training ``PairSet`` during ``fit`` (use it for input statistics) and a
        :class:`DataSpec` while :meth:`load` rebuilds a model; both have ``image_shape``, ``text_dim``
        and ``n_labels``. While ``self.restoring`` is True do not load external (pretrained) weights.
        """
        raise NotImplementedError

    def output_activation(self, z: torch.Tensor) -> torch.Tensor:
        """Applied to raw network outputs before they enter buffers, losses and codes (identity)."""
        return z

    def make_optimizer(self, net: nn.Module, modality: str):
        """``(optimizer, scheduler or None)`` for one network; the scheduler is stepped once per epoch."""
        cfg = self.config
        opt = torch.optim.SGD(net.parameters(), lr=getattr(cfg, "lr", 0.01),
                              weight_decay=getattr(cfg, "weight_decay", 0.0))
        return opt, None

    def prepare(self, train, state: TrainState) -> None:
        """Called once before the first epoch (e.g. factor a constant matrix into ``state.extra``)."""

    def b_step(self, state: TrainState) -> torch.Tensor:
        """The B-step; default (DCMH eq. (2), exact): ``B = sign(F + G)`` with ``sign(0) = +1``."""
        return sign(state.F + state.G)

    def batch_loss(self, modality: str, idx: torch.Tensor, out: torch.Tensor, state: TrainState):
        """Loss of one mini-batch: ``(0-d tensor, dict of floats)``; ``out`` are the activated outputs."""
        raise NotImplementedError

    def objective(self, state: TrainState) -> dict[str, float]:
        """The full objective's terms on the buffers (for the history); must include ``"total"``."""
        return {}

    # ---- loop pieces -------------------------------------------------------------------------------
    def nets(self) -> dict[str, nn.Module]:
        return {"image": self.image_net, "text": self.text_net}

    def setup(self, train, device=None) -> TrainState:
        """Build networks, optimisers and buffers for ``train``; returns the :class:`TrainState`.

        Call inside :meth:`fit` (which forks the RNG); the book calls it to run epochs by hand.
        """
        _check_pairs(train, "train")
        self.device = resolve_device(device if device is not None else self.config.device)
        self.spec = DataSpec.of(train)
        image_net, text_net = self.build_networks(train)
        self.image_net, self.text_net = image_net.to(self.device), text_net.to(self.device)
        self.optimizers, self.schedulers = {}, {}
        for modality, net in self.nets().items():
            opt, sched = self.make_optimizer(net, modality)
            self.optimizers[modality], self.schedulers[modality] = opt, sched
        n, c = len(train.labels), int(self.config.bits)
        gen = torch.Generator().manual_seed(int(self.config.seed))
        if self.init_buffers == "zeros":
            F = torch.zeros(n, c, device=self.device)
            G = torch.zeros(n, c, device=self.device)
        elif self.init_buffers == "randn":
            F = torch.randn(n, c, generator=gen).to(self.device)
            G = torch.randn(n, c, generator=gen).to(self.device)
        else:
            raise ValueError(f"init_buffers must be 'zeros' or 'randn', got {self.init_buffers!r}")
        labels = torch.as_tensor(np.asarray(train.labels), dtype=torch.float32, device=self.device)
        state = TrainState(F, G, torch.zeros_like(F), labels, self.config, gen, self.device, self.spec)
        state.B = self.b_step(state)
        self._feeder = _Feeder(train, self.device)
        self.state = state
        self.prepare(train, state)
        return state

    def train_modality(self, modality: str, state: TrainState) -> dict[str, float]:
        """``ceil(n / b)`` SGD iterations on one network; returns the mean of the batch-loss parts."""
        net, opt = self.nets()[modality], self.optimizers[modality]
        buf = state.buffer(modality)
        n, b = state.n, min(int(self.config.batch_size), state.n)
        net.train()
        sums: dict[str, float] = {}
        iters = math.ceil(n / b)
        for _ in range(iters):
            idx = torch.randperm(n, generator=state.generator)[:b].to(self.device)
            out = self.output_activation(net(self._feeder.get(modality, idx)))
            buf[idx] = out.detach().to(buf.dtype)
            loss, parts = self.batch_loss(modality, idx, out, state)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{modality} batch loss became {float(loss.detach())} at epoch {state.epoch + 1}; "
                                         "lower the learning rate")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            for k, v in {"loss": float(loss.detach()), **parts}.items():
                sums[k] = sums.get(k, 0.0) + float(v)
        return {k: v / iters for k, v in sums.items()}

    def run_epoch(self, state: TrainState) -> dict:
        """One epoch: B-step, the modality loops, scheduler steps; returns the history row (no validation)."""
        t0 = time.perf_counter()
        state.B = self.b_step(state)
        row: dict[str, Any] = {"epoch": state.epoch + 1}
        for modality in self.modality_order:
            row[f"lr_{modality}"] = float(self.optimizers[modality].param_groups[0]["lr"])
        for modality in self.modality_order:
            self.train_modality(modality, state)
        for sched in self.schedulers.values():
            if sched is not None:
                sched.step()
        with torch.no_grad():
            terms = self.objective(state)
        for k, v in terms.items():
            row[f"loss/{k}"] = float(v)
        row["seconds"] = time.perf_counter() - t0
        return row

    def validate(self, val, train) -> dict[str, float]:
        """Validation mAP: ``val`` items as queries against the ``train`` items (network codes)."""
        s = self.retrieval_scores(val, train)
        return {"val_map_i2t": s["map_i2t"], "val_map_t2i": s["map_t2i"]}

    def fit(self, train, val=None, device=None, progress: bool = True) -> "AlternatingHashing":
        """Train on the ``train`` PairSet; ``val`` (a PairSet) drives model selection. Returns ``self``."""
        if val is not None:
            _check_pairs(val, "val")
        cfg = self.config
        dev = resolve_device(device if device is not None else cfg.device)
        fork_devices = [dev.index or 0] if dev.type == "cuda" else []
        with torch.random.fork_rng(devices=fork_devices):
            torch.manual_seed(int(cfg.seed))
            state = self.setup(train, dev)
            self.history, best, best_score = [], None, -math.inf
            from tqdm.auto import tqdm

            bar = tqdm(range(cfg.epochs), desc=f"{self.name} {cfg.bits} bits", disable=not progress, leave=False)
            for epoch in bar:
                state.epoch = epoch
                row = self.run_epoch(state)
                last = epoch == cfg.epochs - 1
                if val is not None and cfg.eval_every and ((epoch + 1) % cfg.eval_every == 0 or last):
                    t0 = time.perf_counter()
                    row.update(self.validate(val, train))
                    row["eval_seconds"] = time.perf_counter() - t0
                    score = 0.5 * (row["val_map_i2t"] + row["val_map_t2i"])
                    if score > best_score:
                        best_score, best = score, (epoch + 1, {m: _state_dict_cpu(net) for m, net in
                                                               self.nets().items()})
                self.history.append(row)
                post = {"loss": f"{row.get('loss/total', float('nan')):.4g}"}
                if "val_map_i2t" in row:
                    post["val"] = f"{0.5 * (row['val_map_i2t'] + row['val_map_t2i']):.3f}"
                bar.set_postfix(post)
            bar.close()
        self.best_epoch = cfg.epochs
        if best is not None and cfg.restore_best:
            self.best_epoch = best[0]
            for modality, net in self.nets().items():
                _load_state(net, best[1][modality])
        for net in self.nets().values():
            net.eval()
        return self

    # ---- encoding ----------------------------------------------------------------------------------
    def _require_fitted(self) -> None:
        if self.image_net is None or self.text_net is None:
            raise ValueError(f"{type(self).__name__} is not fitted; call fit() or load() first")

    @torch.no_grad()
    def _encode(self, net: nn.Module, x, what: str) -> np.ndarray:
        self._require_fitted()
        n = len(x)
        if n == 0:
            raise ValueError(f"{what} is empty")
        if what == "texts" and isinstance(x, np.ndarray) and not np.isfinite(x).all():
            raise ValueError("texts contains NaN or inf")
        was_training = net.training
        net.eval()
        out = []
        bs = int(self.config.encode_batch_size)
        try:
            for s in range(0, n, bs):
                chunk = x[s:s + bs]
                if not isinstance(chunk, torch.Tensor):
                    chunk = torch.from_numpy(np.ascontiguousarray(np.asarray(chunk)))
                z = self.output_activation(net(chunk.to(self.device)))
                out.append(sign(z).to(torch.int8).cpu())
        finally:
            net.train(was_training)
        return torch.cat(out).numpy()

    def encode_image(self, images) -> np.ndarray:
        """Codes of ``images`` ((n, C, H, W) uint8 pixels or (n, d) features): int8 ``(n, bits)`` of {-1, +1}."""
        if np.ndim(images) not in (2, 4):
            raise ValueError(f"images must be (n, C, H, W) or (n, d), got shape {tuple(np.shape(images))}")
        return self._encode(self.image_net, images, "images")

    def encode_text(self, texts) -> np.ndarray:
        """Codes of ``texts`` ((n, d_text) float): int8 ``(n, bits)`` of {-1, +1}."""
        if np.ndim(texts) != 2:
            raise ValueError(f"texts must be (n, d_text), got shape {tuple(np.shape(texts))}")
        return self._encode(self.text_net, texts, "texts")

    # ---- checkpoints -------------------------------------------------------------------------------
    def save(self, path) -> Path:
        """Write config, network weights, history and best epoch to ``path`` (a torch file)."""
        self._require_fitted()
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        torch.save({
            "format": "hashnotes-checkpoint-1",
            "class": f"{type(self).__module__}:{type(self).__qualname__}",
            "config": asdict(self.config),
            "spec": asdict(self.spec),
            "image_net": _state_dict_cpu(self.image_net),
            "text_net": _state_dict_cpu(self.text_net),
            "history": self.history,
            "best_epoch": self.best_epoch,
        }, str(p))
        return p

    @classmethod
    def load(cls, path, device: str | None = "cpu") -> "AlternatingHashing":
        """Rebuild a model saved by :meth:`save` (``AlternatingHashing.load`` picks the saved class)."""
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"checkpoint not found: {str(p)!r}")
        ckpt = torch.load(str(p), map_location="cpu", weights_only=True)
        if not isinstance(ckpt, dict) or ckpt.get("format") != "hashnotes-checkpoint-1":
            raise ValueError(f"{str(p)!r} is not a hashnotes checkpoint")
        module, _, qualname = ckpt["class"].partition(":")
        saved_cls = getattr(importlib.import_module(module), qualname)
        if not issubclass(saved_cls, cls):
            raise ValueError(f"{str(p)!r} holds a {saved_cls.__name__}, not a {cls.__name__}")
        config = saved_cls.config_class(**ckpt["config"])
        model = saved_cls(config)
        spec = ckpt["spec"]
        model.spec = DataSpec(tuple(spec["image_shape"]), int(spec["text_dim"]), int(spec["n_labels"]))
        model.device = resolve_device(device if device is not None else config.device)
        model.restoring = True
        with torch.random.fork_rng(devices=[]):
            image_net, text_net = model.build_networks(model.spec)
        model.restoring = False
        _load_state(image_net, ckpt["image_net"])
        _load_state(text_net, ckpt["text_net"])
        model.image_net, model.text_net = image_net.to(model.device).eval(), text_net.to(model.device).eval()
        model.history = list(ckpt["history"])
        model.best_epoch = ckpt["best_epoch"]
        return model

    def clone_config(self, **overrides):
        """A copy of the config with some fields replaced (configs are frozen)."""
        return dataclasses.replace(self.config, **overrides)

