"""Triplet likelihood terms and the label-driven triplet miner of TDH.

Deng, C., Chen, Z., Liu, X., Gao, X., Tao, D. "Triplet-Based Deep Hashing Network for Cross-Modal
Retrieval." IEEE Transactions on Image Processing 27(8):3893-3903, 2018 (arXiv:1904.02449).

Composable in the pytorch-metric-learning style: a miner turns labels into index tuples
(anchor, positive, negative); a loss object turns codes and those tuples into a number.

* Triplet likelihood, eq. (2): ``p(q, p, n) = sigma(theta_qp - theta_qn - alpha)`` with
  ``theta_ab = 1/2 <u_a, v_b>``; its negative log is ``softplus(-Delta)``.
* ``J1`` (image query, text pos/neg), eq. (3), with the sign corrected (chapter TDH derives it);
  ``J2`` (text query, image pos/neg), eq. (4); ``J3`` (image/image/image), eq. (6);
  ``J4`` (text/text/text), eq. (7).
* Gradients with respect to the query, eqs. (13)/(14) with the corrected sign:
  ``dJ/dq = -1/2 sum_m (1 - sigma(Delta_m)) (p_m - n_m)``, positives and negatives held fixed.

The negative log-likelihood of a triplet is computed in one place, :func:`triplet_nll`. As every family
in :mod:`hashnotes.losses`, this one has ``batch_loss`` (one modality's mini-batch: J terms of its anchors
+ quantization + bit balance), ``objective`` (eq. (10) on the buffers) and ``gradients`` (the closed form);
losses are sums and the trainer applies the ``1/(n b)`` normalisation.

Codes are row-major ``(n, c)`` (the paper's column-major ``F`` is ``F.T`` here).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as nnf

from .. import similarity
from .regularizers import bit_balance, quantization

__all__ = [
    "MinedTriplets",
    "TripletMiner",
    "TripletLikelihoodLoss",
    "TDHTripletTerms",
    "triplet_deltas",
    "triplet_nll",
    "gradients",
    "valid_triplet_mask",
    "batch_loss",
    "objective",
]


def _as_label_tensor(labels, name: str) -> torch.Tensor:
    t = torch.as_tensor(labels)
    if t.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (n, n_labels) multi-hot array, got shape {tuple(t.shape)}")
    if t.shape[0] == 0:
        raise ValueError(f"{name} is empty (0 rows)")
    if t.is_floating_point() and torch.isnan(t).any():
        raise ValueError(f"{name} contains NaN")
    if ((t != 0) & (t != 1)).any():
        raise ValueError(f"{name} must be multi-hot (only 0 and 1)")
    return t.to(torch.float32)


def _check_codes(x: torch.Tensor, name: str, ndim: int = 2) -> None:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {x.dtype}")
    if torch.isnan(x).any():
        raise ValueError(f"{name} contains NaN")


def valid_triplet_mask(anchor_labels, candidate_labels, exclude=None):
    """Positive and negative masks of every (anchor, candidate) pair.

    Parameters
    ----------
    anchor_labels : (P, l) multi-hot
    candidate_labels : (n, l) multi-hot
    exclude : (P,) int, optional
        Candidate index of each anchor itself (intra-modal mining); it is removed from the positives.

    Returns
    -------
    pos, neg : (P, n) bool tensors. ``pos[a, j]``: candidate ``j`` shares >= 1 label with anchor ``a``
        (and is not the anchor itself); ``neg[a, j]``: it shares none.
    """
    a = _as_label_tensor(anchor_labels, "anchor_labels")
    c = _as_label_tensor(candidate_labels, "candidate_labels")
    if a.shape[1] != c.shape[1]:
        raise ValueError(
            f"anchor_labels has {a.shape[1]} label columns but candidate_labels has {c.shape[1]}"
        )
    shared = similarity.similarity(a, c, dtype=torch.bool)
    pos = shared.clone()
    if exclude is not None:
        _exclude_self(pos, exclude)
    return pos, ~shared


def _exclude_self(pos: torch.Tensor, exclude) -> None:
    """Remove each anchor's own candidate index ``exclude[a]`` from its positives, in place."""
    ex = torch.as_tensor(exclude, dtype=torch.long)
    if ex.shape != (pos.shape[0],):
        raise ValueError(f"exclude must have shape ({pos.shape[0]},), got {tuple(ex.shape)}")
    if (ex < 0).any() or (ex >= pos.shape[1]).any():
        raise ValueError(f"exclude indices must lie in [0, {pos.shape[1]})")
    pos[torch.arange(pos.shape[0]), ex] = False


@dataclass(frozen=True)
class MinedTriplets:
    """The output of :class:`TripletMiner`.

    ``anchor`` (P',) are row positions in the anchor batch of the anchors that got triplets;
    ``pos`` (P', M1) and ``neg`` (P', M2) are candidate indices. Every anchor uses all M1 x M2
    combinations; :meth:`tuples` flattens them to (anchor, pos, neg) index tuples.
    ``no_positive`` / ``no_negative`` count batch anchors skipped because they had no valid
    positive / negative candidate (an anchor lacking both is counted in both).
    """

    anchor: torch.Tensor
    pos: torch.Tensor
    neg: torch.Tensor
    n_anchors: int
    no_positive: int
    no_negative: int

    @property
    def n_triplets(self) -> int:
        return int(self.anchor.numel() * self.pos.shape[1] * self.neg.shape[1])

    def tuples(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Flat ``(anchor, pos, neg)`` index tensors of length P' * M1 * M2 (anchor-major)."""
        p_, m1 = self.pos.shape
        m2 = self.neg.shape[1]
        a = self.anchor.view(-1, 1, 1).expand(p_, m1, m2).reshape(-1)
        p = self.pos.view(p_, m1, 1).expand(p_, m1, m2).reshape(-1)
        n = self.neg.view(p_, 1, m2).expand(p_, m1, m2).reshape(-1)
        return a, p, n


class TripletMiner:
    """Draw ``m_pos`` positives and ``m_neg`` negatives per anchor from the labels (TDH, section 5.2).

    A positive shares at least one label with the anchor, a negative shares none. Sampling is uniform
    without replacement: every (anchor, candidate) entry gets an i.i.d. uniform key and each anchor takes the
    top k keys among its valid candidates (one vectorised call for the whole batch). Positives and negatives
    are disjoint sets of entries, so one key matrix serves both and the two draws stay independent. When an
    anchor has fewer valid candidates than requested, its draws cycle through all of them. Anchors with no
    positive or no negative are dropped and counted (``MinedTriplets``).

    Parameters
    ----------
    m_pos, m_neg : int
        M1 and M2 (the paper does not give them; TDH's config uses 8 and 8, so 64 triplets per anchor).
    seed : int
        Seed of the miner's own random stream (``numpy.random.Generator``; re-seeded by :meth:`reset`).
    """

    def __init__(self, m_pos: int = 8, m_neg: int = 8, seed: int = 0):
        for name, v in (("m_pos", m_pos), ("m_neg", m_neg)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        self.m_pos, self.m_neg, self.seed = m_pos, m_neg, int(seed)
        self.reset()

    def reset(self, seed: int | None = None) -> None:
        """Restart the random stream (from ``seed`` if given, else the constructor's seed)."""
        if seed is not None:
            self.seed = int(seed)
        self.rng = np.random.default_rng(self.seed)

    def get_state(self) -> dict:
        """The random stream's state (to replay a draw with :meth:`set_state`)."""
        return copy.deepcopy(self.rng.bit_generator.state)

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = copy.deepcopy(state)

    def _keys(self, shape) -> torch.Tensor:
        # float32 keys in (0, 1]: 1 - U with U uniform on [0, 1)
        return torch.from_numpy(1.0 - self.rng.random(shape, dtype=np.float32))

    @staticmethod
    def _take(top: torch.Tensor, count: torch.Tensor, k: int) -> torch.Tensor:
        # the first ``count`` entries of each row of ``top`` are its valid draws; rows with fewer than k wrap
        slot = torch.arange(k).unsqueeze(0) % count.clamp_min(1).unsqueeze(1)
        return torch.gather(top, 1, slot.clamp_max(top.shape[1] - 1))

    def _mine(self, pos_mask: torch.Tensor, neg_mask: torch.Tensor) -> MinedTriplets:
        # Every (anchor, candidate) entry gets an i.i.d. uniform key in (0, 1]; positives are lifted by 2 and
        # negatives lowered by 2, so the k largest scores of a row are its top-k positive keys and the k
        # smallest its top-k negative keys. The top k of i.i.d. keys on a set is a uniform sample without
        # replacement from it (Gumbel-top-k with equal weights), and the two sets are disjoint, so the
        # positive and negative draws are independent.
        n_pos, n_neg = pos_mask.sum(1), neg_mask.sum(1)
        has_pos, has_neg = n_pos > 0, n_neg > 0
        anchor = torch.nonzero(has_pos & has_neg).view(-1)
        pos_mask, neg_mask = pos_mask[anchor], neg_mask[anchor]
        scores = self._keys(tuple(pos_mask.shape))
        scores.add_(pos_mask.to(torch.float32).sub_(neg_mask.to(torch.float32)).mul_(2.0))
        n = scores.shape[1]
        top = torch.topk(scores, min(self.m_pos, n), dim=1).indices
        bottom = torch.topk(scores, min(self.m_neg, n), dim=1, largest=False).indices
        return MinedTriplets(
            anchor=anchor,
            pos=self._take(top, n_pos[anchor], self.m_pos),
            neg=self._take(bottom, n_neg[anchor], self.m_neg),
            n_anchors=int(has_pos.shape[0]),
            no_positive=int((~has_pos).sum()),
            no_negative=int((~has_neg).sum()),
        )

    def __call__(self, anchor_labels, candidate_labels, exclude=None) -> MinedTriplets:
        """Mine triplets for a batch of anchors.

        Parameters
        ----------
        anchor_labels : (P, l) multi-hot labels of the anchors (the mini-batch).
        candidate_labels : (n, l) multi-hot labels of the candidates (the training set).
        exclude : (P,) int, optional
            Candidate index of each anchor (intra-modal mining): the anchor is never its own positive.
        """
        pos_mask, neg_mask = valid_triplet_mask(anchor_labels, candidate_labels, exclude)
        return self._mine(pos_mask, neg_mask)

    def inter_intra(self, anchor_labels, candidate_labels, exclude) -> tuple[MinedTriplets, MinedTriplets]:
        """``(self(a, c), self(a, c, exclude=exclude))`` with the label comparison made once: the same
        draws as the two calls in that order."""
        pos_mask, neg_mask = valid_triplet_mask(anchor_labels, candidate_labels)
        inter = self._mine(pos_mask, neg_mask)
        _exclude_self(pos_mask, exclude)
        return inter, self._mine(pos_mask, neg_mask)


def triplet_deltas(query, pos_codes, neg_codes, margin: float = 1.0):
    """``Delta = 1/2 q.p - 1/2 q.n - alpha`` for all M1 x M2 combinations, eq. (2).

    query (P, c); pos_codes (P, M1, c); neg_codes (P, M2, c) -> (P, M1, M2).
    """
    theta_p = 0.5 * torch.einsum("pc,pmc->pm", query, pos_codes)
    theta_n = 0.5 * torch.einsum("pc,pmc->pm", query, neg_codes)
    return theta_p.unsqueeze(2) - theta_n.unsqueeze(1) - margin


def triplet_nll(query, pos_codes, neg_codes, margin: float = 1.0):
    """``-log p = softplus(-Delta)`` of every triplet, eq. (2): the one place the likelihood is computed.

    query (P, c); pos_codes (P, M1, c); neg_codes (P, M2, c) -> (P, M1, M2).
    """
    return nnf.softplus(-triplet_deltas(query, pos_codes, neg_codes, margin))


def gradients(query, pos_codes, neg_codes, margin: float = 1.0):
    """Closed-form gradient of ``sum triplet_nll`` w.r.t. the queries, eqs. (13)/(14) corrected.

    ``dJ/dq_i = -1/2 sum_{j,k} (1 - sigma(Delta_ijk)) (p_ij - n_ik)``, positives and negatives fixed.
    Shapes as in :func:`triplet_deltas`; returns (P, c).
    """
    w = torch.sigmoid(-triplet_deltas(query, pos_codes, neg_codes, margin))  # 1 - sigma(Delta)
    term_p = torch.einsum("pj,pjc->pc", w.sum(2), pos_codes)
    term_n = torch.einsum("pk,pkc->pc", w.sum(1), neg_codes)
    return -0.5 * (term_p - term_n)


class TripletLikelihoodLoss:
    """Negative log of the triplet likelihood, eq. (2): ``sum_m softplus(-(theta_qp - theta_qn - alpha))``.

    Called as ``loss(query_codes, pos_codes, neg_codes)`` with three aligned ``(T, c)`` tensors (one
    row per triplet) and returns the sum over triplets (``reduction="mean"`` for the mean). For binary
    codes ``Delta = d_H(q, n) - d_H(q, p) - alpha``, so ``alpha`` is a margin in Hamming units.
    """

    def __init__(self, margin: float = 1.0, reduction: str = "sum"):
        if not (isinstance(margin, (int, float)) and margin == margin):
            raise ValueError(f"margin must be a real number, got {margin!r}")
        if reduction not in ("sum", "mean"):
            raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")
        self.margin, self.reduction = float(margin), reduction

    def deltas(self, query_codes, pos_codes, neg_codes) -> torch.Tensor:
        for name, x in (("query_codes", query_codes), ("pos_codes", pos_codes), ("neg_codes", neg_codes)):
            _check_codes(x, name)
        if not (query_codes.shape == pos_codes.shape == neg_codes.shape):
            raise ValueError(
                "query_codes, pos_codes and neg_codes must have the same (T, c) shape, got "
                f"{tuple(query_codes.shape)}, {tuple(pos_codes.shape)}, {tuple(neg_codes.shape)}"
            )
        return 0.5 * ((query_codes * pos_codes).sum(1) - (query_codes * neg_codes).sum(1)) - self.margin

    def __call__(self, query_codes, pos_codes, neg_codes) -> torch.Tensor:
        self.deltas(query_codes, pos_codes, neg_codes)  # validates the three (T, c) inputs
        nll = triplet_nll(query_codes, pos_codes.unsqueeze(1), neg_codes.unsqueeze(1), self.margin)
        return nll.sum() if self.reduction == "sum" else nll.mean()


class TDHTripletTerms:
    """The four triplet terms J1..J4 of TDH (eqs. 3, 4, 6, 7) for a batch of queries of one modality.

    Inter-modal terms take positives and negatives from the *other* modality's buffer, intra-modal
    terms from the *same* modality's buffer; both are given by a miner's :class:`MinedTriplets`.

    ======  ======  ==========  =====================
    term    query   pos / neg   tuples
    ======  ======  ==========  =====================
    J1      image   text (G)    ``inter`` of an image batch
    J2      text    image (F)   ``inter`` of a text batch
    J3      image   image (F)   ``intra`` of an image batch
    J4      text    text (G)    ``intra`` of a text batch
    ======  ======  ==========  =====================

    ``terms(modality, query, F, G, inter, intra)`` returns ``{"J1": ..., "J3": ...}`` for
    ``modality="image"`` and ``{"J2": ..., "J4": ...}`` for ``"text"``: sums of ``softplus(-Delta)``
    over all mined triplets. ``query`` rows are the batch (anchor positions index them); ``F``/``G``
    are the (n, c) buffers, used as constants (detached), as in the paper's gradients (13)/(14).
    """

    def __init__(self, margin: float = 1.0):
        self.loss = TripletLikelihoodLoss(margin)
        self.margin = self.loss.margin

    @staticmethod
    def _one(query, bank, mined: MinedTriplets, margin: float) -> torch.Tensor:
        if mined.anchor.numel() == 0:
            return query.sum() * 0.0
        bank = bank.detach()
        return triplet_nll(query[mined.anchor], bank[mined.pos], bank[mined.neg], margin).sum()

    def __call__(self, modality: str, query, F, G, inter: MinedTriplets, intra: MinedTriplets) -> dict:
        if modality not in ("image", "text"):
            raise ValueError(f"modality must be 'image' or 'text', got {modality!r}")
        for name, x in (("query", query), ("F", F), ("G", G)):
            _check_codes(x, name)
        if not (query.shape[1] == F.shape[1] == G.shape[1]):
            raise ValueError(
                f"query, F and G must have the same number of bits, got {query.shape[1]}, {F.shape[1]}, {G.shape[1]}"
            )
        if F.shape[0] != G.shape[0]:
            raise ValueError(f"F and G must have the same number of rows, got {F.shape[0]} and {G.shape[0]}")
        for name, m in (("inter", inter), ("intra", intra)):
            if m.n_anchors != query.shape[0]:
                raise ValueError(f"{name} was mined for {m.n_anchors} anchors but query has {query.shape[0]} rows")
        own, other = (F, G) if modality == "image" else (G, F)
        inter_v = self._one(query, other, inter, self.margin)
        intra_v = self._one(query, own, intra, self.margin)
        if modality == "image":
            return {"J1": inter_v, "J3": intra_v}
        return {"J2": inter_v, "J4": intra_v}


def batch_loss(out, other, B_batch, inter: MinedTriplets, own, intra: MinedTriplets, modality: str,
               margin: float = 1.0, gamma: float = 1.0, eta: float = 1.0, rest=None) -> dict:
    """One modality's mini-batch terms of eq. (10), as sums: its two triplet terms over the anchors' mined
    triplets (inter-modal from ``other``, intra-modal from ``own``; both buffers are constants), plus
    ``gamma ||B_batch - out||^2`` and ``eta ||out^T 1 + rest||^2`` (``rest``: the stale rows' per-bit sum).

    Returns ``{"J1", "J3"}`` (image) or ``{"J2", "J4"}`` (text), ``quantization``, ``balance`` and ``total``.
    """
    F, G = (own, other) if modality == "image" else (other, own)
    terms = TDHTripletTerms(margin)(modality, out, F, G, inter, intra)
    quant = gamma * quantization(B_batch, out)
    bal = eta * bit_balance(out, rest)
    total = sum(terms.values()) + quant + bal
    return {**terms, "quantization": quant, "balance": bal, "total": total}


def objective(F, G, B, triplets: dict, labels, margin: float = 1.0, gamma: float = 1.0, eta: float = 1.0,
              beta: float = 1.0) -> dict:
    """Eq. (10) on the buffers, as sums: J1..J4 over fixed flat triplets, quantization, balance and the graph
    term ``beta tr(B^T L B)`` (:func:`hashnotes.similarity.laplacian_quadratic`, no ``n x n`` matrix).

    ``triplets`` maps ``"inter"`` and ``"intra"`` to ``(anchor (P,), pos (P, M1), neg (P, M2))`` item
    indices (all M1 x M2 combinations per anchor); ``labels`` are the training labels (numpy).
    """
    def term(q, bank_p, bank_n, key):
        a, p, n = triplets[key]
        return triplet_nll(q[a], bank_p[p], bank_n[n], margin).sum()

    out = {"J1": term(F, G, G, "inter"), "J2": term(G, F, F, "inter"),
           "J3": term(F, F, F, "intra"), "J4": term(G, G, G, "intra")}
    out["quantization"] = gamma * (quantization(B, F) + quantization(B, G))
    out["balance"] = eta * (bit_balance(F) + bit_balance(G))
    Bn = B.detach().cpu().double().numpy()
    out["graph"] = beta * torch.as_tensor(similarity.laplacian_quadratic(Bn, labels), dtype=torch.float64)
    out["total"] = sum(out.values())
    return out
