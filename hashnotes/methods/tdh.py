"""TDH: Triplet-Based Deep Hashing Network for Cross-Modal Retrieval.

Deng, C., Chen, Z., Liu, X., Gao, X., Tao, D. IEEE Transactions on Image Processing 27(8):3893-3903,
2018 (arXiv:1904.02449). The signs of J1 and of the gradient eq. (13) are corrected (the book's TDH
chapter derives them).

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

from dataclasses import dataclass

import numpy as np
import torch

from .. import similarity
from .._checks import check_choice, check_int, check_number
from ..codes import sign
from ..losses import triplet
from ..train import AlternatingHashing
from .dcmh import DCMHConfig

__all__ = ["TDHConfig", "TDH", "b_system_matrix", "GraphBStep", "b_objective", "exact_b_bruteforce"]


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
    M = similarity.similarity(_labels_tensor(labels, torch.float32, device), dtype=dtype)  # S, diagonal 1
    deg = M.sum(1)  # the diagonal self-loop cancels in D - S
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


# ------------------------------------------------------------------------------------------------ model
@dataclass(frozen=True)
class TDHConfig(DCMHConfig):
    """TDH hyperparameters; the defaults are the published settings where known (:meth:`TDH.paper`).

    gamma, eta, beta: quantization, bit balance and graph weights (paper: 100, 50, 1).
    margin: the triplet margin alpha, in Hamming units for binary codes (the paper does not give it: 1).
    m_pos, m_neg: positives and negatives drawn per anchor (M1, M2; not given: 8, 8).
    bstep_dtype: dtype of the dense Cholesky factor of ``2I + (beta/gamma) L`` (``8 n^2`` bytes in float64).
    objective_triplets: anchors' triplets for the history's J1..J4 are drawn once with this many positives
        and negatives per anchor (a fixed sample, so epochs are comparable).
    Networks and optimiser: DCMH's (:class:`~hashnotes.methods.dcmh.DCMHConfig`), with the paper's dropout
    0.5 in CNN-F and a text MLP 4096 with dropout; the paper gives no optimiser or schedule, so DCMH's are
    kept: SGD, weight decay 5e-4, ``logspace(-1.5, -3)`` over 500 epochs, batch 128 (= P, the anchors per
    batch). The loop (Algorithm 1): the text network ``w_x`` first, then the image network ``w_y``;
    DCMH-MATLAB's zero buffers with ``B = 0`` until they hold outputs.
    """

    gamma: float = 100.0
    eta: float = 50.0
    beta: float = 1.0
    margin: float = 1.0
    m_pos: int = 8
    m_neg: int = 8
    bstep_dtype: str = "float64"
    objective_triplets: int = 4
    text_hidden: tuple = (4096,)
    dropout: float = 0.5

    def __post_init__(self):
        super().__post_init__()
        check_number(self.gamma, "gamma", strict=True)  # the B-step divides by it
        check_number(self.beta, "beta")
        check_number(self.margin, "margin", minimum=None)
        for name in ("m_pos", "m_neg", "objective_triplets"):
            check_int(getattr(self, name), name)
        check_choice(self.bstep_dtype, "bstep_dtype", ("float64", "float32"))


class TDH(AlternatingHashing):
    """Triplet-Based Deep Hashing (Deng et al., IEEE TIP 2018) on the shared alternating loop.

    Per epoch: ``B = sign((2I + beta/gamma L)^{-1}(F + G))`` (eq. 12, one Cholesky factor made before the
    first epoch), then the text loop (eq. 13) and the image loop (eq. 14). Each mini-batch is the anchor set
    (P = batch); a :class:`~hashnotes.losses.triplet.TripletMiner` draws M1 positives and M2 negatives per
    anchor from the training labels, inter-modal from the other modality's buffer and intra-modal from the
    same modality's buffer (the anchor itself excluded from its positives). The batch loss is the paper's J
    restricted to the batch's triplets with DCMH's ``1/(n b)`` scaling (the same constant for every term, so
    gamma and eta keep their meaning); the graph term acts through the B-step.

    ``TDH.small()`` (a CPU preset for the toy data, about 45 CPU seconds for 1,000 training pairs, 12 epochs):
    SmallCNN (width 32), text MLP 512 with PyTorch's init, no dropout, Adam with lr 1e-3 -> 1e-4, batch 64, validation every 4 epochs.
    It departs from :meth:`paper` in two more ways, and why:

    * gamma, eta, beta = 1, 0.01, 0.01 instead of 100, 50, 1 (beta/gamma = 0.01 kept). With the paper's
      weights the quantization and balance terms dominate the triplet terms, the outputs shrink to 0, where
      the triplet gradient (bilinear in the codes) vanishes, and nothing is learned in a CPU-sized run
      (measured: val mAP stays at chance after 12 epochs);
    * random buffers ``F, G ~ N(0, 1)`` instead of zeros: with zero buffers the first epoch's B = 0 pulls
      every output to 0 and the image network's ReLU head died in our runs.
    """

    config_class = TDHConfig
    name = "tdh"
    small_settings = dict(epochs=12, batch_size=64, image_net="small", image_size=None, small_width=32,
                          text_hidden=(512,), text_init_std=None, optimizer="adam", weight_decay=0.0,
                          lr_image=1e-3, lr_text=1e-3, lr_end_ratio=0.1, dropout=0.0, gamma=1.0, eta=0.01,
                          beta=0.01, buffer_init="randn", eval_every=4)

    def prepare_state(self, train, state) -> None:
        """Factor ``2I + (beta/gamma) L`` once (dense, ``8 n^2`` bytes in float64), set up the miner and the
        fixed triplet sample of :meth:`objective`."""
        cfg = self.config
        labels = np.asarray(train.labels)
        state.extra["bstep"] = GraphBStep(labels, cfg.beta / cfg.gamma, dtype=getattr(torch, cfg.bstep_dtype),
                                          device=state.device)
        state.extra["labels_np"] = labels
        state.extra["miner"] = triplet.TripletMiner(cfg.m_pos, cfg.m_neg, seed=cfg.seed)
        if not cfg.objective_items:
            return
        fixed = triplet.TripletMiner(cfg.objective_triplets, cfg.objective_triplets, seed=cfg.seed + 1)
        view = state.objective_view()  # the history's objective: on the fixed item sample
        cpu_labels = view.labels.cpu()
        state.extra["objective_labels_np"] = cpu_labels.numpy().astype(np.uint8)
        anchors = np.arange(view.n)
        chunks = {"inter": [], "intra": []}
        for s in range(0, view.n, 1024):
            a = anchors[s:s + 1024]
            chunks["inter"].append(fixed(cpu_labels[a], cpu_labels))
            chunks["intra"].append(fixed(cpu_labels[a], cpu_labels, exclude=a))
        state.extra["objective_triplets"] = {
            k: (torch.cat([m.anchor + i * 1024 for i, m in enumerate(v)]).to(state.device),
                torch.cat([m.pos for m in v]).to(state.device), torch.cat([m.neg for m in v]).to(state.device))
            for k, v in chunks.items()}

    def b_step(self, state) -> torch.Tensor:
        """Eq. (12): ``B = sign(M^{-1}(F + G))`` with the factor made before the first epoch."""
        return state.extra["bstep"](state.F, state.G)

    def batch_loss(self, modality, idx, out, state):
        """The batch anchors' triplet terms + gamma quantization + eta balance (eqs. 10, 13, 14)."""
        cfg = self.config
        miner, labels = state.extra["miner"], state.extra["labels_np"]
        idx_cpu = idx.cpu()
        batch_labels = labels[idx_cpu.numpy()]
        inter = _to_device(miner(batch_labels, labels), out.device)
        intra = _to_device(miner(batch_labels, labels, exclude=idx_cpu), out.device)
        return triplet.batch_loss(out, state.other(modality), state.B[idx], inter, state.buffer(modality), intra,
                                  modality, margin=cfg.margin, gamma=cfg.gamma, eta=cfg.eta,
                                  rest=state.rest_sum(modality, idx))

    def objective(self, state) -> dict:
        """Eq. (10) on the buffers of the objective's item sample, as sums: J1..J4 on a fixed triplet sample
        (``objective_triplets`` positives x negatives per item), quantization, balance, graph ``beta tr(B^T L B)``."""
        cfg, v = self.config, state.objective_view()
        terms = triplet.objective(v.F, v.G, v.B, state.extra["objective_triplets"], state.extra["objective_labels_np"],
                                  margin=cfg.margin, gamma=cfg.gamma, eta=cfg.eta, beta=cfg.beta)
        return {k: float(v) for k, v in terms.items()}


def _to_device(m, device):
    if m.anchor.device == device:
        return m
    return triplet.MinedTriplets(m.anchor.to(device), m.pos.to(device), m.neg.to(device), m.n_anchors,
                                 m.no_positive, m.no_negative)
