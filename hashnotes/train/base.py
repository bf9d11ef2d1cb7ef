"""The interface every hashing method implements: :class:`HashingMethod`.

A method is a frozen config (with ``.small()`` and ``.paper()`` presets), a dict of named torch modules
(``self.modules``), a dict of named artefacts (``self.artifacts``: tensors such as a kNN graph, proxy
codes or a projection), and a training schedule made of :class:`Phase` objects. The base class writes
everything else once, for every method:

* ``fit(train | dataset, val=None)``: forks the RNG (no global seeding), builds the modules, runs the
  phases with a progress bar, records one history row per epoch, validates on the validation split (never
  the query set), keeps the best state and restores it at the end;
* ``encode_image`` / ``encode_text`` (int8 codes in {-1, +1}), ``evaluate(ds)`` (query vs database);
* ``save`` / ``load`` over all modules and artefacts, with the config, the data spec, the dataset and
  split it was trained on, the software it ran with, the history and the best epoch.

What a method writes (see ARCHITECTURE.md): ``config_class``, ``build(data) -> {name: module}``,
``phases(train) -> [Phase, ...]``, which module encodes each modality (``encoders``), and, when its codes
are not ``sign`` of the encoder output, ``output`` / ``binarize``.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from .._checks import check_bits, check_int
from ..codes import sign
from .state import DataSpec, load_state, resolve_device, state_dict_cpu  # noqa: F401 - also importable from here

__all__ = ["MethodConfig", "TrainConfig", "DataSpec", "Phase", "HashingMethod", "resolve_device",
           "check_pairs", "state_dict_cpu", "load_state", "code_summary"]


# --------------------------------------------------------------------------------------------- configs
@dataclass(frozen=True)
class MethodConfig:
    """Settings every method has.

    bits: code length. seed: seeds initialisation, batch draws, sampling and dropout (deterministic on CPU).
    device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``, ``"cuda:1"`` ...
    encode_batch_size: items per forward pass when encoding (evaluation mode, no gradients).
    """

    bits: int = 32
    seed: int = 0
    device: str = "auto"
    encode_batch_size: int = 512

    def __post_init__(self):
        check_bits(self.bits)
        check_int(self.seed, "seed", minimum=None)
        check_int(self.encode_batch_size, "encode_batch_size")
        if not isinstance(self.device, str):
            raise ValueError(f"device must be a string such as 'auto', 'cpu' or 'cuda:0', got {self.device!r}")


@dataclass(frozen=True)
class TrainConfig(MethodConfig):
    """Settings of every method trained by epochs.

    epochs: epochs of the main phase. batch_size: items per mini-batch.
    eval_every: validation mAP every this many epochs of a selecting phase (0: never); the last epoch of
        such a phase is always validated when a validation split is given.
    restore_best: at the end, restore the state of the epoch with the best mean validation mAP.
    val_database: the validation items are ranked against a fixed random sample of this many training items
        (None: all of them). Encoding the database dominates validation: with all 10,000 training items of
        MIRFLICKR-25K it cost a third of an epoch; 2,000 keeps it near a tenth. Smaller training sets are
        used whole, so nothing changes for them.
    """

    epochs: int = 50
    batch_size: int = 128
    eval_every: int = 1
    restore_best: bool = True
    val_database: int | None = 2000

    def __post_init__(self):
        super().__post_init__()
        check_int(self.epochs, "epochs")
        check_int(self.batch_size, "batch_size")
        check_int(self.eval_every, "eval_every", minimum=0)
        if self.val_database is not None:
            check_int(self.val_database, "val_database")
        if not isinstance(self.restore_best, bool):
            raise ValueError(f"restore_best must be True or False, got {self.restore_best!r}")


@dataclass
class Phase:
    """One stage of a fit: ``epochs`` calls of ``step(epoch)``, each returning that epoch's history row.

    name: recorded in every history row of the phase (``"phase"``).
    select: validate this phase's epochs (every ``eval_every``, and its last) and take part in model selection.
    start: called once before the first epoch of the phase (e.g. freeze the stage-1 outputs).
    restore_best: at the end of the phase, go back to its best validated state (e.g. the adversarial stage
        starts from the best pre-trained discriminator).
    """

    name: str
    epochs: int
    step: Callable[[int], dict]
    select: bool = True
    start: Callable[[], None] | None = None
    restore_best: bool = False


# --------------------------------------------------------------------------------------------- helpers
def check_pairs(pairs, name: str) -> None:
    """``pairs`` must be a PairSet with at least 2 aligned rows, 0/1 labels, finite texts, 2-D or 4-D images."""
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


def validation_database(train, size: int | None, seed: int):
    """The training items validation ranks against: all of them, or a fixed seeded sample of ``size``."""
    n = len(train.labels)
    if size is None or size >= n:
        return train
    idx = np.sort(np.random.default_rng([int(seed), 7]).choice(n, int(size), replace=False))
    return train.subset(idx)


def code_summary(codes: dict, query_labels, database_labels) -> dict:
    """``{"codes": {side: stats}, "collapsed": [sides whose codes collapsed]}`` for the codes of the four
    sides ``query_image``, ``query_text``, ``database_image``, ``database_text`` (a dict of code arrays;
    :func:`hashnotes.codes.code_stats` of each with its part's labels)."""
    from ..codes import code_stats

    stats = {k: code_stats(c, query_labels if k.startswith("query") else database_labels) for k, c in codes.items()}
    return {"codes": stats, "collapsed": [k for k, st in stats.items() if st["collapsed"]]}


def _same(a, b) -> bool:
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - e.g. arrays: not a plain default
        return False


def _is_dataset(x) -> bool:
    return all(hasattr(x, part) for part in ("train", "val", "query", "database"))


def _is_strings(x) -> bool:
    if isinstance(x, (list, tuple)):
        return len(x) > 0 and all(isinstance(s, str) for s in x)
    return isinstance(x, np.ndarray) and x.dtype.kind in ("U", "S", "O") and x.ndim == 1


# --------------------------------------------------------------------------------------------- the base
class HashingMethod:
    """Base class of every method (see the module docstring for what a method writes and what it gets).

    Attributes after ``fit``: ``modules`` (name -> ``nn.Module``), ``artifacts`` (name -> tensor),
    ``history`` (one dict per epoch), ``best_epoch`` (1-based epoch whose state is in the model),
    ``spec`` (:class:`DataSpec`), ``dataset`` (the dataset record, or None when fitted on bare pairs),
    ``text_vectorizer`` (the dataset's, when its texts are raw strings: ``encode_text`` then accepts strings).
    """

    name = "method"
    config_class = MethodConfig
    encoders: dict[str, str] = {"image": "image", "text": "text"}  # modality -> module that encodes it
    paper_settings: dict[str, Any] = {}  # config fields of the published settings (beyond the defaults)
    small_settings: dict[str, Any] = {}  # config fields of the CPU preset

    def __init__(self, config: MethodConfig | None = None, **overrides):
        if config is None:
            config = self.config_class(**overrides)
        else:
            if not isinstance(config, self.config_class):
                raise ValueError(f"config must be a {self.config_class.__name__}, got {type(config).__name__}")
            if overrides:
                config = dataclasses.replace(config, **overrides)
        self.config = config
        self.modules: dict[str, nn.Module] = {}
        self.artifacts: dict[str, torch.Tensor] = {}
        self.history: list[dict] = []
        self.best_epoch: int | None = None
        self.spec: DataSpec | None = None
        self.dataset: dict | None = None
        self.environment: dict | None = None
        self.text_vectorizer = None
        self.state = None
        self.device = torch.device("cpu")
        self.restoring = False  # True while load() rebuilds the modules: do not load external weights then
        self.code_report: dict | None = None  # the collapse guard's code statistics after fit (check_collapse)

    def __repr__(self) -> str:
        """``DCMH(bits=16, epochs=2; fitted, 2 epochs, best 2)``: the bit length, the config fields that differ
        from the config class's defaults (at most six) and whether it is fitted (``model.config`` has all)."""
        cfg = self.config
        parts = [f"bits={cfg.bits}"]
        if dataclasses.is_dataclass(cfg):
            default = {f.name: f.default for f in dataclasses.fields(cfg) if f.default is not dataclasses.MISSING}
            diff = [f"{k}={v!r}" for k, v in vars(cfg).items()
                    if k != "bits" and k in default and not _same(v, default[k])]
            parts += diff[:6] + (["..."] if len(diff) > 6 else [])
        state = (f"fitted, {len(self.history)} epochs, best {self.best_epoch}" if self.best_epoch is not None
                 else "fitted" if self.modules or self.artifacts else "not fitted")
        return f"{type(self).__name__}({', '.join(parts)}; {state})"

    @classmethod
    def paper(cls, bits: int = 32, **overrides) -> "HashingMethod":
        """The published settings (``paper_settings`` over the config defaults); see the class docstring."""
        return cls(cls.config_class(**{**cls.paper_settings, "bits": bits, **overrides}))

    @classmethod
    def small(cls, bits: int = 32, **overrides) -> "HashingMethod":
        """The CPU preset (``small_settings``); the class docstring says how and why it departs from the paper."""
        return cls(cls.config_class(**{**cls.small_settings, "bits": bits, **overrides}))

    # ---- what a method writes ---------------------------------------------------------------------
    def build(self, data) -> dict[str, nn.Module]:
        """The named modules. ``data`` is the training ``PairSet`` during ``fit`` (use it for input
        statistics) and a :class:`DataSpec` while :meth:`load` rebuilds the model; both have
        ``image_shape``, ``text_dim`` and ``n_labels``. While ``self.restoring`` is True, load no external
        (pretrained) weights."""
        raise NotImplementedError

    def prepare(self, train) -> None:
        """Called once after the modules are built and moved to ``self.device``, before the first phase
        (optimisers, buffers, graphs)."""

    def phases(self, train) -> list[Phase]:
        """The training schedule."""
        raise NotImplementedError

    def output(self, modality: str, x) -> torch.Tensor:
        """Continuous output of the encoder of ``modality`` for a batch ``x``; codes are ``binarize`` of it."""
        return self.modules[self.encoders[modality]](x)

    def binarize(self, out: torch.Tensor) -> torch.Tensor:
        """Codes in {-1, +1} from outputs: ``sign`` with ``sign(0) = +1``."""
        return sign(out)

    # ---- the fit template -------------------------------------------------------------------------
    def setup(self, train, device=None):
        """Build the modules for ``train`` on ``device`` and run :meth:`prepare`; returns ``self.state``.

        :meth:`fit` calls it inside its forked RNG; the book calls it to run epochs by hand.
        """
        check_pairs(train, "train")
        self.device = resolve_device(device if device is not None else self.config.device)
        self.spec = DataSpec.of(train)
        self.modules = {k: m.to(self.device) for k, m in self.build(train).items()}
        self.artifacts = {}
        self.prepare(train)
        return self.state

    def fit(self, train, val=None, device=None, progress: bool = True) -> "HashingMethod":
        """Train on a ``PairSet`` (``val``, a PairSet, drives model selection) or on a dataset (its ``train``
        and ``val`` splits; its record is kept and saved). Returns ``self``."""
        ds = None
        if _is_dataset(train):
            ds, train = train, train.train
            val = ds.val if val is None else val
        if val is not None:
            check_pairs(val, "val")
        cfg = self.config
        dev = resolve_device(device if device is not None else cfg.device)
        from .. import provenance

        self.dataset = provenance.dataset_record(ds)
        self.text_vectorizer = getattr(ds, "text_vectorizer", None)
        fork_devices = [dev.index or 0] if dev.type == "cuda" else []
        with torch.random.fork_rng(devices=fork_devices):
            torch.manual_seed(int(cfg.seed))
            self.setup(train, dev)
            self._run_phases(train, val, progress)
        for m in self.modules.values():
            m.eval()
        self.environment = provenance.environment_record()
        self.check_collapse(val if val is not None else validation_database(train, 2000, self.config.seed))
        return self

    def code_stats(self, pairs) -> dict:
        """:func:`hashnotes.codes.code_stats` of the image and of the text codes of ``pairs`` (with its labels)."""
        from ..codes import code_stats

        labels = np.asarray(pairs.labels)
        return {"image": code_stats(self.encode_image(pairs.images), labels),
                "text": code_stats(self.encode_text(pairs.texts), labels)}

    def check_collapse(self, pairs) -> dict:
        """The collapse guard run at the end of :meth:`fit`: the code statistics of ``pairs`` (the validation
        split, or a sample of the training items without one) in ``self.code_report``, and a
        :class:`~hashnotes.codes.CodeCollapseWarning` for each modality whose codes collapsed."""
        import warnings

        from ..codes import COLLAPSE_SHARE, CodeCollapseWarning

        self.code_report = self.code_stats(pairs)
        for side, st in self.code_report.items():
            if st["collapsed"]:
                warnings.warn(
                    f"{type(self).__name__} ({self.config.bits} bits, seed {self.config.seed}): the {side} codes "
                    f"collapsed -- one code holds {st['top_share']:.0%} of {st['n']} held-out items "
                    f"({st['distinct']} distinct codes, {st['constant_bits']} of {self.config.bits} bits constant), "
                    f"more than {COLLAPSE_SHARE:.0%} and more than any one label set; its retrieval scores "
                    "measure the database order, not the model", CodeCollapseWarning, stacklevel=3)
        return self.code_report

    def _run_phases(self, train, val, progress: bool) -> None:
        from tqdm.auto import tqdm

        phases = self.phases(train)
        every = int(getattr(self.config, "eval_every", 1))
        database = validation_database(train, getattr(self.config, "val_database", None), self.config.seed)
        self.history, best, best_score, epoch = [], None, -math.inf, 0
        bar = tqdm(total=sum(p.epochs for p in phases), desc=f"{self.name} {self.config.bits} bits",
                   disable=not progress, leave=False)
        for phase in phases:
            if phase.start is not None:
                phase.start()
            phase_best, phase_score = None, -math.inf
            for e in range(phase.epochs):
                t0 = time.perf_counter()
                row = {"epoch": epoch + 1, **({"phase": phase.name} if len(phases) > 1 else {}), **phase.step(e)}
                row.setdefault("seconds", time.perf_counter() - t0)
                due = every and ((e + 1) % every == 0 or e == phase.epochs - 1)
                if val is not None and phase.select and due:
                    t1 = time.perf_counter()
                    row.update(self.validate(val, database))
                    row["eval_seconds"] = time.perf_counter() - t1
                    score = 0.5 * (row["val_map_i2t"] + row["val_map_t2i"])
                    if score > phase_score:
                        phase_best, phase_score = (epoch + 1, self.snapshot()), score
                    if score > best_score:
                        best, best_score = phase_best, score
                self.history.append(row)
                epoch += 1
                post = {"loss": f"{row.get('loss/total', float('nan')):.4g}"}
                if "val_map_i2t" in row:
                    post["val"] = f"{0.5 * (row['val_map_i2t'] + row['val_map_t2i']):.3f}"
                bar.set_postfix(post)
                bar.update()
            if phase.restore_best and phase_best is not None:
                self.restore(phase_best[1])
        bar.close()
        self.best_epoch = epoch
        if best is not None and getattr(self.config, "restore_best", True):
            self.best_epoch = best[0]
            self.restore(best[1])

    def phase_seconds(self) -> dict[str, float]:
        """Training seconds of each phase (the sum of its epochs' ``seconds``) and of ``validation``."""
        out: dict[str, float] = {}
        for row in self.history:
            name = row.get("phase", "train")
            out[name] = out.get(name, 0.0) + float(row.get("seconds", 0.0))
            out["validation"] = out.get("validation", 0.0) + float(row.get("eval_seconds", 0.0))
        return out

    def snapshot(self) -> dict:
        """A CPU copy of every module's state and every artefact."""
        return {"modules": {k: state_dict_cpu(m) for k, m in self.modules.items()},
                "artifacts": {k: v.detach().to("cpu", copy=True) for k, v in self.artifacts.items()}}

    def restore(self, snap: dict) -> None:
        """Go back to a :meth:`snapshot`."""
        for k, state in snap["modules"].items():
            load_state(self.modules[k], state)
        self.artifacts = {k: v.to(self.device) for k, v in snap["artifacts"].items()}

    # ---- evaluation ---------------------------------------------------------------------------------
    def validate(self, val, database) -> dict[str, float]:
        """Validation mAP: ``val`` items as queries against ``database`` (training items; network codes)."""
        s = self.retrieval_scores(val, database)
        return {"val_map_i2t": s["map_i2t"], "val_map_t2i": s["map_t2i"]}

    def retrieval_scores(self, query, database, radius: int = 2) -> dict[str, float]:
        """I->T and T->I mAP@all and precision within Hamming ``radius`` (per query) of ``query`` vs ``database``."""
        return self._scores(self.encode_image(query.images), self.encode_text(query.texts),
                            self.encode_image(database.images), self.encode_text(database.texts),
                            np.asarray(query.labels), np.asarray(database.labels), radius)

    @staticmethod
    def _scores(qi, qt, di, dt, ql, dl, radius: int) -> dict[str, float]:
        from ..metrics import mean_average_precision, precision_at_radius

        return {
            "map_i2t": float(mean_average_precision(qi, dt, ql, dl)),
            "map_t2i": float(mean_average_precision(qt, di, ql, dl)),
            f"p_at_r{radius}_i2t": float(precision_at_radius(qi, dt, ql, dl, radius=radius)),
            f"p_at_r{radius}_t2i": float(precision_at_radius(qt, di, ql, dl, radius=radius)),
        }

    def evaluate(self, ds, radius: int = 2) -> dict:
        """Query set vs database set (network codes): ``map_i2t``, ``map_t2i``, ``p_at_r2_i2t``,
        ``p_at_r2_t2i``, ``codes`` and ``collapsed`` (the code statistics of the four sides and the sides whose
        codes collapsed, :func:`code_summary`), ``bits`` and ``split`` (the dataset's split record)."""
        for part in ("query", "database"):
            if not hasattr(ds, part):
                raise ValueError(f"ds must be a CrossModalDataset with query and database sets, got "
                                 f"{type(ds).__name__}")
        codes = {f"{part}_{side}": (self.encode_image if side == "image" else self.encode_text)(
                     getattr(getattr(ds, part), "images" if side == "image" else "texts"))
                 for part in ("query", "database") for side in ("image", "text")}
        ql, dl = np.asarray(ds.query.labels), np.asarray(ds.database.labels)
        out = self._scores(codes["query_image"], codes["query_text"], codes["database_image"],
                           codes["database_text"], ql, dl, radius)
        out.update(code_summary(codes, ql, dl))
        out["bits"] = int(self.config.bits)
        split = getattr(ds, "split", None)
        out["split"] = split.as_dict() if hasattr(split, "as_dict") else None
        return out

    # ---- encoding -----------------------------------------------------------------------------------
    def _require_fitted(self) -> None:
        missing = [m for m in self.encoders.values() if m not in self.modules] if self.encoders else []
        if self.spec is None or missing:
            raise ValueError(f"{type(self).__name__} is not fitted; call fit() or load() first")

    @torch.no_grad()
    def _encode(self, modality: str, x, what: str) -> np.ndarray:
        self._require_fitted()
        n = len(x)
        if n == 0:
            raise ValueError(f"{what} is empty")
        if what == "texts" and isinstance(x, np.ndarray) and not np.isfinite(x).all():
            raise ValueError("texts contains NaN or inf")
        nets = [self.modules[name] for name in set(self.encoders.values()) if name in self.modules]
        was = [m.training for m in nets]
        for m in nets:
            m.eval()
        out = []
        bs = int(self.config.encode_batch_size)
        try:
            for s in range(0, n, bs):
                chunk = x[s:s + bs]
                if not isinstance(chunk, torch.Tensor):
                    chunk = torch.from_numpy(np.ascontiguousarray(np.asarray(chunk)))
                out.append(self.binarize(self.output(modality, chunk.to(self.device))).to(torch.int8).cpu())
        finally:
            for m, w in zip(nets, was):
                m.train(w)
        return torch.cat(out).numpy()

    def encode_image(self, images) -> np.ndarray:
        """Codes of ``images`` ((n, C, H, W) uint8 pixels or (n, d) features): int8 ``(n, bits)`` of {-1, +1}."""
        if np.ndim(images) not in (2, 4):
            raise ValueError(f"images must be (n, C, H, W) or (n, d), got shape {tuple(np.shape(images))}")
        return self._encode("image", images, "images")

    def encode_text(self, texts) -> np.ndarray:
        """Codes of ``texts``: an ``(n, d_text)`` float array, or raw strings when the model was fitted on a
        dataset with a text vectorizer. Returns int8 ``(n, bits)`` of {-1, +1}."""
        if _is_strings(texts):
            if self.text_vectorizer is None:
                raise ValueError(f"{type(self).__name__} was fitted on numeric text features; it cannot encode "
                                 "raw strings (fit it on a dataset loaded from raw text to keep its vectorizer)")
            texts = self.text_vectorizer.transform(list(texts))
        if np.ndim(texts) != 2:
            raise ValueError(f"texts must be (n, d_text), got shape {tuple(np.shape(texts))}")
        return self._encode("text", texts, "texts")

    # ---- checkpoints --------------------------------------------------------------------------------
    def save(self, path):
        """Write the whole model to ``path`` (a torch file; see :mod:`hashnotes.train.checkpoint`)."""
        from . import checkpoint

        self._require_fitted()
        return checkpoint.write(self, path)

    @classmethod
    def load(cls, path, device: str | None = "cpu") -> "HashingMethod":
        """Rebuild a model saved by :meth:`save` (``HashingMethod.load`` dispatches to the saved class)."""
        from . import checkpoint

        return checkpoint.read(cls, path, device, family=HashingMethod)

    def _checkpoint_extra(self) -> dict:
        """Method-specific plain values to save beside modules and artefacts (none by default)."""
        return {}

    def _load_extra(self, extra: dict) -> None:
        """Restore what :meth:`_checkpoint_extra` saved."""
