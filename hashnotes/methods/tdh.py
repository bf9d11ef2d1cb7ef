"""TDH: Triplet-Based Deep Hashing Network for Cross-Modal Retrieval.

Deng, C., Chen, Z., Liu, X., Gao, X., Tao, D. IEEE Transactions on Image Processing 27(8):3893-3903,
2018 (arXiv:1904.02449). Specification: METHODS.md section 5 (signs of J1 and eq. (13) corrected).

Objective, eq. (10): ``J = J_inter + J_intra + J_re`` with
* ``J_inter = J1 + J2`` (eqs. 3, 4) and ``J_intra = J3 + J4`` (eqs. 6, 7): triplet likelihoods,
  see :mod:`hashnotes.losses.triplet`;
* ``J_re = gamma (||B - F||^2 + ||B - G||^2) + eta (||F^T 1||^2 + ||G^T 1||^2) + beta tr(B^T L B)``
  (quantization, bit balance, graph term with the Laplacian ``L = D - S`` of the label graph, eq. 9).

B-step, eq. (12), row-major: ``B = sign((2I + beta/gamma L)^{-1} (F + G))`` -- the sign of the relaxed
optimum. ``M = 2I + beta/gamma L`` depends only on the labels, so it is Cholesky-factored once and each
epoch costs two triangular solves; no inverse is ever formed.

Row-major ``(n, c)`` codes throughout; the paper's column-major ``F`` is ``F.T`` here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as nnf

from .. import similarity
from ..codes import sign
from ..losses.regularizers import bit_balance, quantization
from ..losses.triplet import TDHTripletTerms, TripletMiner, triplet_deltas
from ..train import AlternatingHashing
from .dcmh import DCMH, DCMHConfig

__all__ = [
    "TDHConfig",
    "TDH",
    "laplacian_quadratic",
    "b_system_matrix",
    "GraphBStep",
    "b_objective",
    "exact_b_bruteforce",
]


def _labels_tensor(labels, dtype, device) -> torch.Tensor:
    lab = torch.as_tensor(np.asarray(labels) if not isinstance(labels, torch.Tensor) else labels)
    if lab.ndim != 2 or lab.shape[0] == 0:
        raise ValueError(f"labels must be a non-empty 2-D (n, n_labels) multi-hot array, got shape {tuple(lab.shape)}")
    if ((lab != 0) & (lab != 1)).any():
        raise ValueError("labels must be multi-hot (only 0 and 1)")
    return lab.to(dtype=dtype, device=device)


def _check_ratio(beta_over_gamma) -> float:
    r = float(beta_over_gamma)
    if not np.isfinite(r) or r < 0:
        raise ValueError(f"beta_over_gamma must be a finite number >= 0, got {beta_over_gamma!r}")
    return r


def b_system_matrix(labels, beta_over_gamma: float, dtype=torch.float64, device="cpu") -> torch.Tensor:
    """Dense ``M = 2I + (beta/gamma) L`` with ``L = D - S``, ``S_ij = [labels_i . labels_j > 0]``.

    Built in place in one ``(n, n)`` buffer: ``8 n^2`` bytes in float64 (800 MB at n = 10,000),
    ``4 n^2`` in float32. ``M`` is symmetric positive definite with eigenvalues in
    ``[2, 2 + 2 (beta/gamma) max_i D_ii]``.
    """
    r = _check_ratio(beta_over_gamma)
    lab = _labels_tensor(labels, dtype, device)
    M = lab @ lab.T  # shared-label counts, non-negative integers
    M.clamp_(max=1.0)  # -> S (the diagonal self-loop cancels in D - S)
    deg = M.sum(1)
    M.mul_(-r)
    M.diagonal().add_(2.0 + r * deg)
    return M


class GraphBStep:
    """The TDH B-step, eq. (12): ``B = sign(M^{-1}(F + G))``, ``M = 2I + (beta/gamma) L``.

    The Cholesky factor of ``M`` is computed once here (``O(n^3)``) and every call does two
    triangular solves (``O(n^2 c)``); no explicit inverse is formed.

    Parameters
    ----------
    labels : (n, l) multi-hot training labels.
    beta_over_gamma : float
        ``beta / gamma`` (paper: 1/100).
    dtype, device : where the dense factor lives (``8 n^2`` bytes in float64).

    On the CPU, LAPACK's ``potrf`` (via scipy) overwrites ``M`` with its factor, so the B-step holds a
    single ``n x n`` buffer (800 MB at n = 10,000 in float64); on CUDA ``torch.linalg.cholesky`` needs a
    second one while factoring.
    """

    def __init__(self, labels, beta_over_gamma: float, dtype=torch.float64, device="cpu"):
        self.beta_over_gamma = _check_ratio(beta_over_gamma)
        self.dtype, self.device = dtype, torch.device(device)
        M = b_system_matrix(labels, self.beta_over_gamma, dtype=dtype, device=self.device)
        self.n = int(M.shape[0])
        if self.device.type == "cpu":
            # LAPACK potrf in place on M's own memory (M is symmetric, so its transpose view is the
            # Fortran-ordered matrix LAPACK wants): one n x n buffer in all, no second copy
            import scipy.linalg

            c, lower = scipy.linalg.cho_factor(M.numpy().T, lower=True, overwrite_a=True, check_finite=False)
            self._scipy_factor = (c, lower)
            self.factor = torch.from_numpy(np.asarray(c))  # lower triangle holds the factor R (M = R R^T)
        else:
            self._scipy_factor = None
            self.factor = torch.linalg.cholesky(M)  # lower triangular
            del M

    def _rhs(self, F, G) -> torch.Tensor:
        for name, x in (("F", F), ("G", G)):
            if not isinstance(x, torch.Tensor) or x.ndim != 2:
                raise ValueError(f"{name} must be a 2-D torch.Tensor (n, c)")
            if x.shape[0] != self.n:
                raise ValueError(f"{name} has {x.shape[0]} rows but the graph was built for n = {self.n}")
            if torch.isnan(x).any():
                raise ValueError(f"{name} contains NaN")
        if F.shape != G.shape:
            raise ValueError(f"F and G must have the same shape, got {tuple(F.shape)} and {tuple(G.shape)}")
        return (F.detach() + G.detach()).to(dtype=self.dtype, device=self.device)

    def relaxed(self, F, G) -> torch.Tensor:
        """The relaxed optimum ``B*`` solving ``M B* = F + G`` (row-major form of eq. 12)."""
        rhs = self._rhs(F, G)
        if self._scipy_factor is not None:
            import scipy.linalg

            x = scipy.linalg.cho_solve(self._scipy_factor, rhs.numpy(), check_finite=False)
            return torch.from_numpy(np.ascontiguousarray(x))
        return torch.cholesky_solve(rhs, self.factor)

    def __call__(self, F, G) -> torch.Tensor:
        """``sign(B*)`` with ``sign(0) = +1``, in the dtype/device of ``F``."""
        return sign(self.relaxed(F, G)).to(dtype=F.dtype, device=F.device)


def _as_numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _laplacian_dense(labels) -> torch.Tensor:
    """Dense ``L = D - S`` in float64 (tiny n: the brute-force B), built by :func:`hashnotes.similarity.laplacian`."""
    return torch.from_numpy(similarity.laplacian(_as_numpy(labels), dtype=np.float64))


def b_objective(B, F, G, L, gamma: float, beta: float) -> torch.Tensor:
    """The B-dependent part of ``J_re``: ``gamma(||B-F||^2 + ||B-G||^2) + beta tr(B^T L B)``.

    Minimised over real B by :meth:`GraphBStep.relaxed`, over ``B in {-1,+1}`` by
    :func:`exact_b_bruteforce` (tiny n).
    """
    return gamma * (((B - F) ** 2).sum() + ((B - G) ** 2).sum()) + beta * torch.einsum("ic,ij,jc->", B, L, B)


def exact_b_bruteforce(F, G, labels, beta_over_gamma: float) -> torch.Tensor:
    """The exact discrete minimiser of the B-step objective, by enumeration (tiny n only).

    For binary B, ``||B||^2 = nc`` is constant, so the objective is
    ``sum_k [-2 gamma b_k^T (f_k + g_k) + beta b_k^T L b_k]`` (``b_k`` = column k): it separates over
    bits and each column is an independent problem over ``{-1,+1}^n``. All ``2^n`` candidates are
    scored at once; ``n <= 16``. Ties go to the first candidate in enumeration order.
    """
    r = _check_ratio(beta_over_gamma)
    F = torch.as_tensor(F, dtype=torch.float64)
    G = torch.as_tensor(G, dtype=torch.float64)
    L = _laplacian_dense(labels)
    n = F.shape[0]
    if n > 16:
        raise ValueError(f"exact_b_bruteforce enumerates 2^n codes per bit; n = {n} > 16 is too large")
    if L.shape[0] != n or G.shape != F.shape:
        raise ValueError("F, G and labels must have the same number of rows")
    grid = torch.tensor(list(np.ndindex(*(2,) * n)), dtype=torch.float64) * 2 - 1  # (2^n, n)
    quad = torch.einsum("ai,ij,aj->a", grid, L, grid)  # (2^n,)
    scores = -2.0 * grid @ (F + G) + r * quad.unsqueeze(1)  # (2^n, c), divided by gamma
    best = torch.argmin(scores, dim=0)
    return grid[best].T.contiguous()


def laplacian_quadratic(B, labels) -> float:
    """``tr(B^T L B) = 1/2 sum_ij S_ij ||b_i - b_j||^2`` as a float, for numpy or torch ``B`` and labels.

    A thin wrapper over :func:`hashnotes.similarity.laplacian_quadratic` (which never forms ``L``) that
    accepts the trainer's torch buffers together with numpy labels.
    """
    return float(similarity.laplacian_quadratic(_as_numpy(B).astype(np.float64), _as_numpy(labels)))


# ------------------------------------------------------------------------------------------------ model
@dataclass(frozen=True)
class TDHConfig(DCMHConfig):
    """TDH hyperparameters (defaults = the published settings, see :meth:`TDH.paper`).

    Everything of :class:`~hashnotes.methods.dcmh.DCMHConfig` (networks, optimiser, schedule), plus:
    gamma, eta, beta: quantization, bit balance and graph weights (paper: 100, 50, 1).
    margin: the triplet margin alpha, in Hamming units for binary codes (METHODS 5.4 decision: 1).
    m_pos, m_neg: positives and negatives drawn per anchor (M1, M2; decision: 8, 8).
    bstep_dtype: dtype of the dense Cholesky factor of ``2I + (beta/gamma) L`` (``8 n^2`` bytes in float64).
    objective_triplets: anchors' triplets for the history's J_inter/J_intra are drawn once with this
        many positives and negatives per anchor (a fixed sample, so epochs are comparable).
    """

    gamma: float = 100.0
    eta: float = 50.0
    beta: float = 1.0
    margin: float = 1.0
    m_pos: int = 8
    m_neg: int = 8
    text_hidden: tuple = (4096,)
    dropout: float = 0.5
    bstep_dtype: str = "float64"
    objective_triplets: int = 4
    init_buffers: str = "zeros"

    def __post_init__(self):
        super().__post_init__()
        if not isinstance(self.beta, (int, float)) or not math.isfinite(self.beta) or self.beta < 0:
            raise ValueError(f"beta must be a finite number >= 0, got {self.beta!r}")
        if self.gamma <= 0:
            raise ValueError(f"gamma must be > 0 for TDH (the B-step divides by it), got {self.gamma!r}")
        if not isinstance(self.margin, (int, float)) or not math.isfinite(self.margin):
            raise ValueError(f"margin must be a finite number, got {self.margin!r}")
        for name in ("m_pos", "m_neg", "objective_triplets"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if self.init_buffers not in ("zeros", "randn"):
            raise ValueError(f"init_buffers must be 'zeros' or 'randn', got {self.init_buffers!r}")
        if self.bstep_dtype not in ("float64", "float32"):
            raise ValueError(f"bstep_dtype must be 'float64' or 'float32', got {self.bstep_dtype!r}")


class TDH(AlternatingHashing):
    """Triplet-Based Deep Hashing (Deng et al., IEEE TIP 2018) on the shared alternating trainer.

    Per epoch: ``B = sign((2I + beta/gamma L)^{-1}(F + G))`` (eq. 12, one Cholesky factor made in
    :meth:`prepare`), then the text loop (eq. 13) and the image loop (eq. 14). Each mini-batch is the
    anchor set (P = batch); a :class:`~hashnotes.losses.triplet.TripletMiner` draws M1 positives and M2
    negatives per anchor from the training labels, inter-modal from the other modality's buffer and
    intra-modal from the same modality's buffer (the anchor itself excluded from its positives).

    Batch loss (text batch; the image batch is symmetric with J1, J3 and F)::

        (1 / (n b)) [ J2 + J4 (all P M1 M2 sampled triplets, eqs. 4, 7)
                      + gamma ||B_b - G_b||^2 + eta ||G_b^T 1 + G_rest^T 1||^2 ]

    i.e. the paper's J restricted to the batch's triplet set, with DCMH's ``1/(n b)`` scaling (the same
    constant for every term, so gamma, eta keep their paper meaning). The graph term does not depend on
    the networks; it acts through the B-step. Same networks and optimiser options as DCMH.
    """

    config_class = TDHConfig
    modality_order = ("text", "image")  # Algorithm 1: w_x (text) first, then w_y (image)
    name = "tdh"

    @property
    def init_buffers(self) -> str:
        """``"zeros"`` (DCMH-MATLAB: F = G = 0, B = 0 in epoch 1) or ``"randn"`` (DCMH-TF), from the config."""
        return self.config.init_buffers

    build_networks = DCMH.build_networks
    make_optimizer = DCMH.make_optimizer

    @classmethod
    def paper(cls, bits: int = 32, **overrides) -> "TDH":
        """The published settings where known: CNN-F with dropout (give ``vggf_path`` for the ImageNet init),
        text MLP 4096 with dropout, gamma, eta, beta = 100, 50, 1, alpha = 1, M1 = M2 = 8, batch 128, and
        DCMH-MATLAB's schedule (SGD, weight decay 5e-4, lr logspace(-1.5, -3) over 500 epochs; METHODS 5.4)."""
        return cls(TDHConfig(bits=bits, **overrides))

    @classmethod
    def small(cls, bits: int = 32, **overrides) -> "TDH":
        """A CPU preset for the toy data (about 45 CPU seconds for 1,000 training pairs, 12 epochs).

        SmallCNN (width 32), text MLP 512 with PyTorch's init, no dropout, Adam with lr 1e-3 -> 1e-4,
        batch 64 (the first version of :meth:`DCMH.small`; DCMH's preset has since moved to standardised
        outputs, width 16 and lr 2e-3, which TDH.small has not been re-tuned with). Deviations from
        :meth:`paper`, and why:

        * gamma, eta, beta = 1, 0.01, 0.01 instead of 100, 50, 1 (beta/gamma = 0.01 kept). With the paper's
          weights the quantization and balance terms dominate the triplet terms, the outputs shrink to 0,
          where the triplet gradient (bilinear in the codes) vanishes, and nothing is learned in a CPU-sized
          run (measured: val mAP stays at chance after 12 epochs);
        * ``init_buffers="randn"`` (DCMH-TF's F, G ~ N(0, 1)) instead of zeros: with zero buffers the first
          epoch's B = 0 pulls every output to 0 and the image network's ReLU head died in our runs;
        * 12 epochs.
        """
        settings = dict(bits=bits, epochs=12, batch_size=64, image_net="small", image_size=None, small_width=32,
                        text_hidden=(512,), text_init_std=None, optimizer="adam", weight_decay=0.0,
                        lr_start=1e-3, lr_end=1e-4, dropout=0.0, gamma=1.0, eta=0.01, beta=0.01,
                        init_buffers="randn")
        settings.update(overrides)
        return cls(TDHConfig(**settings))

    # ---- hooks ---------------------------------------------------------------------------------------
    def prepare(self, train, state) -> None:
        """Factor ``2I + (beta/gamma) L`` once (dense, ``8 n^2`` bytes in float64), set up the miners and
        the fixed triplet sample used by :meth:`objective`; then redo the first B-step with the graph."""
        cfg = self.config
        labels = np.asarray(train.labels)
        state.extra["bstep"] = GraphBStep(labels, cfg.beta / cfg.gamma, dtype=getattr(torch, cfg.bstep_dtype),
                                          device=state.device)
        state.extra["labels_np"] = labels
        state.extra["miner"] = TripletMiner(cfg.m_pos, cfg.m_neg, seed=cfg.seed)
        state.extra["terms"] = TDHTripletTerms(cfg.margin)
        fixed = TripletMiner(cfg.objective_triplets, cfg.objective_triplets, seed=cfg.seed + 1)
        anchors = np.arange(state.n)
        cpu_labels = torch.as_tensor(labels)
        chunks = {"inter": [], "intra": []}
        for s in range(0, state.n, 1024):
            a = anchors[s:s + 1024]
            chunks["inter"].append(fixed(cpu_labels[a], cpu_labels))
            chunks["intra"].append(fixed(cpu_labels[a], cpu_labels, exclude=a))
        state.extra["objective_triplets"] = {
            k: (torch.cat([m.anchor + i * 1024 for i, m in enumerate(v)]).to(state.device),
                torch.cat([m.pos for m in v]).to(state.device), torch.cat([m.neg for m in v]).to(state.device))
            for k, v in chunks.items()}
        state.B = self.b_step(state)

    def b_step(self, state) -> torch.Tensor:
        """Eq. (12): ``B = sign(M^{-1}(F + G))`` with the factor from :meth:`prepare` (two triangular solves)."""
        if state.epoch == 0 and not bool(state.F.any()) and not bool(state.G.any()):
            # F = G = 0 before any forward pass: B = 0 in epoch 1, as in DCMH's MATLAB reference (with
            # sign(0) = +1 every item would get the all-ones code, a fixed point of the alternation)
            return torch.zeros_like(state.F)
        step = state.extra.get("bstep")
        if step is None:  # not prepared (outside fit): DCMH's rule
            return sign(state.F + state.G)
        return step(state.F, state.G)

    def batch_loss(self, modality, idx, out, state):
        """Triplet terms of the batch's anchors + gamma quantization + eta balance, scaled by 1/(n b)."""
        cfg = self.config
        miner, terms = state.extra["miner"], state.extra["terms"]
        labels = state.extra["labels_np"]
        idx_cpu = idx.cpu()
        batch_labels = labels[idx_cpu.numpy()]
        inter = miner(batch_labels, labels)
        intra = miner(batch_labels, labels, exclude=idx_cpu)
        dev = out.device
        inter = _to_device(inter, dev)
        intra = _to_device(intra, dev)
        trip = terms(modality, out, state.F, state.G, inter, intra)
        own = state.buffer(modality)
        quant = quantization(state.B[idx], out)
        rest = own.sum(0) - own[idx].sum(0)
        bal = bit_balance(out.sum(0) + rest)
        scale = 1.0 / (state.n * out.shape[0])
        j_trip = sum(trip.values())
        loss = scale * (j_trip + cfg.gamma * quant + cfg.eta * bal)
        parts = {k: float(v.detach()) * scale for k, v in trip.items()}
        parts.update(quantization=cfg.gamma * float(quant.detach()) * scale,
                     balance=cfg.eta * float(bal.detach()) * scale,
                     skipped_anchors=float(inter.n_anchors - inter.anchor.numel()))
        return loss, parts

    def objective(self, state) -> dict:
        """Eq. (10) on the buffers, as sums: J1..J4 on a fixed triplet sample (``objective_triplets``
        positives x negatives per training item), quantization, balance, graph ``beta tr(B^T L B)``."""
        cfg = self.config
        F, G = state.F, state.G
        out = {}
        a, p, n_ = state.extra["objective_triplets"]["inter"]
        out["J1"] = float(nnf.softplus(-triplet_deltas(F[a], G[p], G[n_], cfg.margin)).sum())
        out["J2"] = float(nnf.softplus(-triplet_deltas(G[a], F[p], F[n_], cfg.margin)).sum())
        a, p, n_ = state.extra["objective_triplets"]["intra"]
        out["J3"] = float(nnf.softplus(-triplet_deltas(F[a], F[p], F[n_], cfg.margin)).sum())
        out["J4"] = float(nnf.softplus(-triplet_deltas(G[a], G[p], G[n_], cfg.margin)).sum())
        out["quantization"] = cfg.gamma * float(quantization(state.B, F) + quantization(state.B, G))
        out["balance"] = cfg.eta * float(bit_balance(F) + bit_balance(G))
        out["graph"] = cfg.beta * laplacian_quadratic(state.B, state.extra["labels_np"])
        out["total"] = sum(out.values())
        return out


def _to_device(m, device):
    if m.anchor.device == device:
        return m
    from ..losses.triplet import MinedTriplets

    return MinedTriplets(m.anchor.to(device), m.pos.to(device), m.neg.to(device), m.n_anchors, m.no_positive,
                         m.no_negative)
