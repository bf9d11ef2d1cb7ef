"""CCA hashing baseline: canonical correlation analysis projections + sign.

H. Hotelling, "Relations between two sets of variates", Biometrika 28 (1936); as a cross-modal hashing
baseline ("CCA") in DCMH (Jiang & Li, CVPR 2017), Tables 3 and 4 (METHODS.md section 2.6).

With centred data ``X`` (n, dx), ``Y`` (n, dy) and ridge-regularised covariances
``Cxx = X^T X/(n-1) + rx I``, ``Cyy = ... + ry I``, ``Cxy = X^T Y/(n-1)``, CCA whitens
``T = Cxx^{-1/2} Cxy Cyy^{-1/2}``; its singular values are the canonical correlations ``rho_k``, and with
``T T^T u_k = rho_k^2 u_k`` (``scipy.linalg.eigh``) the projections are ``a_k = Cxx^{-1/2} u_k`` and
``b_k = Cyy^{-1/2} T^T u_k / rho_k``. Codes: ``sign(X a_k)``, ``sign(Y b_k)`` for the top ``bits`` k.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..codes import sign
from ..train import RetrievalModel, _check_bits, _check_pairs

__all__ = ["CCAConfig", "CCA"]


@dataclass(frozen=True)
class CCAConfig:
    """CCA baseline settings.

    bits: code length (top canonical pairs; at most min(dx, dy) after reduction).
    reg: ridge added to each covariance, relative to its mean variance (``r = reg * trace(C)/d``).
    pixel_size: pixel images are average-pooled to at most this side, then flattened and scaled by 1/255.
    max_dim: inputs wider than this are first reduced by PCA (seeded randomized SVD) to ``max_dim``
        dimensions; with few training pairs, unreduced pixels make CCA find spurious correlations near 1.
    seed: seeds the randomized SVD.
    """

    bits: int = 32
    reg: float = 1e-2
    pixel_size: int = 16
    max_dim: int = 256
    seed: int = 0

    def __post_init__(self):
        _check_bits(self.bits)
        if not isinstance(self.reg, (int, float)) or not math.isfinite(self.reg) or self.reg < 0:
            raise ValueError(f"reg must be a finite number >= 0, got {self.reg!r}")
        for name in ("pixel_size", "max_dim"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")


def _pool_pixels(images, size: int, batch: int = 1024) -> np.ndarray:
    """uint8 ``(n, C, H, W)`` -> float64 ``(n, C*h*w)`` in [0, 1], average-pooled to side <= ``size``."""
    n = len(images)
    out = []
    for s in range(0, n, batch):
        x = np.asarray(images[s:s + batch], dtype=np.float64) / 255.0
        h, w = x.shape[-2:]
        f = max(1, math.ceil(max(h, w) / size))
        if f > 1:
            hh, ww = (h // f) * f, (w // f) * f
            x = x[..., :hh, :ww].reshape(x.shape[0], x.shape[1], hh // f, f, ww // f, f).mean(axis=(3, 5))
        out.append(x.reshape(x.shape[0], -1))
    return np.concatenate(out)


def _inv_sqrt(C: np.ndarray) -> np.ndarray:
    import scipy.linalg

    vals, vecs = scipy.linalg.eigh(C)
    vals = np.maximum(vals, vals.max() * 1e-12)
    return (vecs / np.sqrt(vals)) @ vecs.T


class CCA(RetrievalModel):
    """CCA projections + sign: the classic unsupervised cross-modal hashing baseline (labels unused).

    Same interface as the deep methods: ``fit(train, val=None)``, ``encode_image``, ``encode_text``,
    ``evaluate(ds)``, ``.small()`` / ``.paper()``, ``history`` (one row), ``save`` / ``load``.
    After ``fit``: ``correlations`` (the top canonical correlations, descending).
    """

    name = "cca"
    config_class = CCAConfig

    def __init__(self, config: CCAConfig | None = None, **overrides):
        if config is None:
            config = CCAConfig(**overrides)
        elif overrides:
            import dataclasses

            config = dataclasses.replace(config, **overrides)
        if not isinstance(config, CCAConfig):
            raise ValueError(f"config must be a CCAConfig, got {type(config).__name__}")
        self.config = config
        self.history: list[dict] = []
        self.best_epoch = None
        self._params: dict[str, np.ndarray] | None = None

    def __repr__(self) -> str:
        return f"CCA({self.config!r})"

    @classmethod
    def small(cls, bits: int = 32, **overrides) -> "CCA":
        """Toy-data settings (the same as :meth:`paper`: CCA has nothing to shrink)."""
        return cls(CCAConfig(bits=bits, **overrides))

    @classmethod
    def paper(cls, bits: int = 32, **overrides) -> "CCA":
        """Default settings (DCMH's Table 3 runs CCA on hand-crafted features; here on the given inputs)."""
        return cls(CCAConfig(bits=bits, **overrides))

    # ---- features ------------------------------------------------------------------------------------
    def _image_features(self, images) -> np.ndarray:
        if np.ndim(images) == 4:
            return _pool_pixels(images, self.config.pixel_size)
        if np.ndim(images) == 2:
            return np.asarray(images, dtype=np.float64)
        raise ValueError(f"images must be (n, C, H, W) pixels or (n, d) features, got shape {np.shape(images)}")

    def _reduce(self, Xc: np.ndarray) -> np.ndarray | None:
        """PCA basis ``(d, max_dim)`` for inputs wider than ``max_dim``, else None.

        Exact (``eigh`` of ``X^T X``) up to 4,096 dimensions, a seeded randomized SVD beyond.
        """
        import scipy.linalg

        k = self.config.max_dim
        n, d = Xc.shape
        if d <= k:
            return None
        if d <= 4096:
            vals, vecs = scipy.linalg.eigh(Xc.T @ Xc)
            return vecs[:, np.argsort(-vals, kind="stable")[:k]]
        rng = np.random.default_rng(self.config.seed)
        Q = Xc.T @ (Xc @ rng.standard_normal((d, min(k + 16, d))))
        for _ in range(2):
            Q, _ = np.linalg.qr(Q)
            Q = Xc.T @ (Xc @ Q)
        Q, _ = np.linalg.qr(Q)
        _, _, vt = np.linalg.svd(Xc @ Q, full_matrices=False)
        return Q @ vt[:k].T

    # ---- fit / encode ----------------------------------------------------------------------------------
    def fit(self, train, val=None, device=None, progress: bool = False) -> "CCA":
        """Fit on the ``train`` PairSet (``val``, ``device`` and ``progress`` are accepted and unused)."""
        _check_pairs(train, "train")
        t0 = time.perf_counter()
        X = self._image_features(train.images)
        Y = np.asarray(train.texts, dtype=np.float64)
        n = X.shape[0]
        mx, my = X.mean(0), Y.mean(0)
        Xc, Yc = X - mx, Y - my
        Px, Py = self._reduce(Xc), self._reduce(Yc)
        if Px is not None:
            Xc = Xc @ Px
        if Py is not None:
            Yc = Yc @ Py
        dx, dy = Xc.shape[1], Yc.shape[1]
        bits = self.config.bits
        if bits > min(dx, dy, n - 1):
            raise ValueError(f"bits={bits} exceeds the number of canonical pairs min(dx={dx}, dy={dy}, n-1={n - 1})")
        Cxx = Xc.T @ Xc / (n - 1)
        Cyy = Yc.T @ Yc / (n - 1)
        Cxy = Xc.T @ Yc / (n - 1)
        Cxx += self.config.reg * np.trace(Cxx) / dx * np.eye(dx)
        Cyy += self.config.reg * np.trace(Cyy) / dy * np.eye(dy)
        Wx, Wy = _inv_sqrt(Cxx), _inv_sqrt(Cyy)
        T = Wx @ Cxy @ Wy
        import scipy.linalg

        vals, U = scipy.linalg.eigh(T @ T.T)
        order = np.argsort(-vals, kind="stable")[:bits]
        rho = np.sqrt(np.clip(vals[order], 0.0, None))
        U = U[:, order]
        V = T.T @ U / np.maximum(rho, 1e-12)
        A, Bm = Wx @ U, Wy @ V
        if Px is not None:
            A = Px @ A
        if Py is not None:
            Bm = Py @ Bm
        self._params = {"mean_x": mx, "mean_y": my, "proj_x": A, "proj_y": Bm, "rho": rho}
        self.correlations = rho
        self.history = [{"epoch": 1, "seconds": time.perf_counter() - t0}]
        self.best_epoch = 1
        return self

    def _require_fitted(self):
        if self._params is None:
            raise ValueError("CCA is not fitted; call fit() or load() first")

    def project_image(self, images) -> np.ndarray:
        """Real-valued canonical projections of images, ``(n, bits)``."""
        self._require_fitted()
        X = self._image_features(images)
        if X.shape[1] != self._params["mean_x"].shape[0]:
            raise ValueError(f"images give {X.shape[1]} features, the model was fitted on "
                             f"{self._params['mean_x'].shape[0]}")
        return (X - self._params["mean_x"]) @ self._params["proj_x"]

    def project_text(self, texts) -> np.ndarray:
        """Real-valued canonical projections of texts, ``(n, bits)``."""
        self._require_fitted()
        Y = np.asarray(texts, dtype=np.float64)
        if Y.ndim != 2 or Y.shape[1] != self._params["mean_y"].shape[0]:
            raise ValueError(f"texts must be (n, {self._params['mean_y'].shape[0]}), got shape {Y.shape}")
        if not np.isfinite(Y).all():
            raise ValueError("texts contains NaN or inf")
        return (Y - self._params["mean_y"]) @ self._params["proj_y"]

    def encode_image(self, images) -> np.ndarray:
        """int8 codes ``sign(projection)`` with ``sign(0) = +1``."""
        return sign(self.project_image(images)).astype(np.int8)

    def encode_text(self, texts) -> np.ndarray:
        """int8 codes ``sign(projection)`` with ``sign(0) = +1``."""
        return sign(self.project_text(texts)).astype(np.int8)

    # ---- checkpoints -----------------------------------------------------------------------------------
    def save(self, path) -> Path:
        """Write the config and projections to ``path`` (a ``.npz`` file)."""
        self._require_fitted()
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        cfg = {f"config_{k}": np.asarray(v) for k, v in asdict(self.config).items()}
        with open(p, "wb") as fh:
            np.savez(fh, **self._params, **cfg)
        return p

    @classmethod
    def load(cls, path, device=None) -> "CCA":
        """Read a model written by :meth:`save`."""
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"checkpoint not found: {str(p)!r}")
        with np.load(p, allow_pickle=False) as z:
            cfg = {k[len("config_"):]: z[k].item() for k in z.files if k.startswith("config_")}
            model = cls(CCAConfig(**cfg))
            model._params = {k: z[k] for k in z.files if not k.startswith("config_")}
        model.correlations = model._params["rho"]
        model.history = [{"epoch": 1}]
        model.best_epoch = 1
        return model
