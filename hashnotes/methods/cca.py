"""CCA hashing baseline: canonical correlation analysis projections + sign.

H. Hotelling, "Relations between two sets of variates", Biometrika 28 (1936); as a cross-modal hashing
baseline ("CCA") in DCMH (Jiang & Li, CVPR 2017), Tables 3 and 4.

With centred data ``X`` (n, dx), ``Y`` (n, dy) and ridge-regularised covariances
``Cxx = X^T X/(n-1) + rx I``, ``Cyy = ... + ry I``, ``Cxy = X^T Y/(n-1)``, CCA whitens
``T = Cxx^{-1/2} Cxy Cyy^{-1/2}``; its singular values are the canonical correlations ``rho_k``, and with
``T T^T u_k = rho_k^2 u_k`` (``scipy.linalg.eigh``) the projections are ``a_k = Cxx^{-1/2} u_k`` and
``b_k = Cyy^{-1/2} T^T u_k / rho_k``. Codes: ``sign(X a_k)``, ``sign(Y b_k)`` for the top ``bits`` k.

**More bits than canonical pairs.** There are only ``r = min(dx, dy, n - 1)`` canonical pairs (the
Wikipedia set's text has 10 dimensions, so ``r = 10``). For ``bits > r`` (``extra_bits="projection"``, the
default) the codes are sign random projections of the whole canonical space, ``sign(z R)`` with ``z`` the
``r`` canonical variates of an item, each scaled by its correlation ``rho_k`` (``projection_weight=
"correlation"``; ``"none"`` keeps unit variances), and ``R`` an ``r x bits`` seeded standard-normal matrix
shared by both modalities (Charikar 2002: each bit is a random hyperplane through the origin, so the
expected Hamming distance between two items is ``bits * angle(z, z') / pi``, and more bits estimate the
angle between the canonical embeddings more precisely). The scaling lets weakly correlated directions,
which the two modalities barely share, tilt the hyperplanes less; weighting canonical dimensions by a
power of their correlation is the usual practice for retrieval in a CCA space (Gong, Ke, Isard & Lazebnik,
IJCV 2014). On the Wikipedia validation split it raises both directions' mAP at 16-64 bits. It is the random-projection construction of the hashing
literature's baselines applied to the canonical space: locality-sensitive hashing of an embedding
(Charikar 2002), and the random rotation of PCA-RR (Gong & Lazebnik, CVPR 2011), which a random projection
extends beyond the embedding's dimension. ``extra_bits="error"`` refuses instead. With ``bits <= r`` the codes are the classic top canonical
pairs. ``diag(rho) R`` is kept in the artefact ``rotation`` and folded into ``proj_x`` / ``proj_y``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .._checks import check_choice, check_int, check_number
from ..train import HashingMethod, MethodConfig, Phase

__all__ = ["CCAConfig", "CCA"]


@dataclass(frozen=True)
class CCAConfig(MethodConfig):
    """CCA baseline settings.

    bits: code length: the top canonical pairs when there are enough (``min(dx, dy, n - 1)`` after
        reduction), else random projections of the canonical space (``extra_bits``).
    reg: ridge added to each covariance, relative to its mean variance (``r = reg * trace(C)/d``).
    pixel_size: pixel images are average-pooled to at most this side, then flattened and scaled by 1/255.
    max_dim: inputs wider than this are first reduced by PCA (seeded randomized SVD) to ``max_dim``
        dimensions; with few training pairs, unreduced pixels make CCA find spurious correlations near 1.
    extra_bits: how ``bits`` beyond the ``r`` canonical pairs are made: ``"projection"`` (sign random
        projections of the r-dimensional canonical space, see the module docstring) or ``"error"``.
    projection_weight: scale of the canonical variates before those projections: ``"correlation"``
        (``rho_k``) or ``"none"``.
    seed: seeds the randomized SVD and the random projection.
    """

    reg: float = 1e-2
    pixel_size: int = 16
    max_dim: int = 256
    extra_bits: str = "projection"
    projection_weight: str = "correlation"

    def __post_init__(self):
        super().__post_init__()
        check_number(self.reg, "reg")
        check_int(self.pixel_size, "pixel_size")
        check_int(self.max_dim, "max_dim")
        check_choice(self.extra_bits, "extra_bits", ("projection", "error"))
        check_choice(self.projection_weight, "projection_weight", ("correlation", "none"))


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


class CCA(HashingMethod):
    """CCA projections + sign: the classic unsupervised cross-modal hashing baseline (labels unused).

    It has no network: its state is five artefacts (the two input means, the two projections and the
    canonical correlations), fitted in one step. Same interface as the deep methods: ``fit``,
    ``encode_image``, ``encode_text``, ``evaluate(ds)``, ``.small()`` / ``.paper()`` (identical: CCA has
    nothing to shrink), ``save`` / ``load``. After ``fit``: ``correlations`` (the top canonical
    correlations, descending: ``min(bits, r)`` of them).
    """

    name = "cca"
    config_class = CCAConfig
    encoders: dict[str, str] = {}

    @property
    def correlations(self) -> np.ndarray:
        self._require_fitted()
        return self.artifacts["rho"].cpu().numpy()

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

    # ---- the method --------------------------------------------------------------------------------
    def build(self, data):
        return {}

    def phases(self, train):
        return [Phase("fit", 1, lambda e: self._solve(train), select=False)]

    def _solve(self, train) -> dict:
        """Fit the projections on the training pairs (one step)."""
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
        r = min(dx, dy, n - 1)
        if bits > r and self.config.extra_bits == "error":
            raise ValueError(f"bits={bits} exceeds the number of canonical pairs min(dx={dx}, dy={dy}, n-1={n - 1}); "
                             "use extra_bits='projection' for random projections of the canonical space")
        k = min(bits, r)
        Cxx = Xc.T @ Xc / (n - 1)
        Cyy = Yc.T @ Yc / (n - 1)
        Cxy = Xc.T @ Yc / (n - 1)
        Cxx += self.config.reg * np.trace(Cxx) / dx * np.eye(dx)
        Cyy += self.config.reg * np.trace(Cyy) / dy * np.eye(dy)
        Wx, Wy = _inv_sqrt(Cxx), _inv_sqrt(Cyy)
        T = Wx @ Cxy @ Wy
        import scipy.linalg

        vals, U = scipy.linalg.eigh(T @ T.T)
        order = np.argsort(-vals, kind="stable")[:k]
        rho = np.sqrt(np.clip(vals[order], 0.0, None))
        U = U[:, order]
        V = T.T @ U / np.maximum(rho, 1e-12)
        A, Bm = Wx @ U, Wy @ V
        if Px is not None:
            A = Px @ A
        if Py is not None:
            Bm = Py @ Bm
        arts = {"mean_x": mx, "mean_y": my, "rho": rho}
        if bits > k:  # sign random projections of the k-dimensional canonical space, shared by both modalities
            R = np.random.default_rng(self.config.seed).standard_normal((k, bits))
            if self.config.projection_weight == "correlation":
                R = rho[:, None] * R
            A, Bm = A @ R, Bm @ R
            arts["rotation"] = R
        arts.update(proj_x=A, proj_y=Bm)
        self.artifacts = {name: torch.from_numpy(np.ascontiguousarray(v)) for name, v in arts.items()}
        return {}

    def _require_fitted(self):
        if "proj_x" not in self.artifacts:
            raise ValueError("CCA is not fitted; call fit() or load() first")

    def project_image(self, images) -> np.ndarray:
        """Real-valued canonical projections of images, ``(n, bits)``."""
        self._require_fitted()
        a = {k: v.cpu().numpy() for k, v in self.artifacts.items()}
        X = self._image_features(images)
        if X.shape[1] != a["mean_x"].shape[0]:
            raise ValueError(f"images give {X.shape[1]} features, the model was fitted on {a['mean_x'].shape[0]}")
        return (X - a["mean_x"]) @ a["proj_x"]

    def project_text(self, texts) -> np.ndarray:
        """Real-valued canonical projections of texts, ``(n, bits)``."""
        self._require_fitted()
        a = {k: v.cpu().numpy() for k, v in self.artifacts.items()}
        Y = np.asarray(texts, dtype=np.float64)
        if Y.ndim != 2 or Y.shape[1] != a["mean_y"].shape[0]:
            raise ValueError(f"texts must be (n, {a['mean_y'].shape[0]}), got shape {Y.shape}")
        if not np.isfinite(Y).all():
            raise ValueError("texts contains NaN or inf")
        return (Y - a["mean_y"]) @ a["proj_y"]

    def output(self, modality, x):
        x = x.cpu().numpy()
        return torch.from_numpy(self.project_image(x) if modality == "image" else self.project_text(x))
