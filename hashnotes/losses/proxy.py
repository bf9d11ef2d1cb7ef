"""DAPH's proxy losses: softmax ratios against proxy codes, for its two stages.

R.-C. Tu, X.-L. Mao, W. Ji, W. Wei, H. Huang. "Data-Aware Proxy Hashing for Cross-modal Retrieval."
SIGIR 2023 (doi 10.1145/3539618.3591660). Reference code: rongchengtu1/DAPH (``DAPH_proxy_code.py`` for
stage 1, ``DAPH.py`` for stage 2).

**The softmax ratio.** Every supervised term is the negative log of a softmax ratio of one positive score
``a`` against a set of negative scores ``b_q``::

    ell(a, {b_q}) = -log( e^a / (e^a + sum_q e^{b_q}) ) = softplus(L - a),   L = logsumexp_q b_q,

computed from ``L`` (``-inf`` for an empty set, where ``ell = 0``) and never through ``exp(gamma * ...)``:
with ``gamma = 20``, ``e^gamma = 4.9e8`` overflows float16 (largest value 65,504). Its gradient is
``d ell / d a = -(1 - pi_a)`` and ``d ell / d b_q = pi_q`` with ``pi = softmax(a, b)``; for
``a = gamma (h.p / k - sigma)`` and ``b_q = gamma h.n_q / k`` (:func:`ratio_gradient`)::

    grad_h ell = -(gamma/k) (1 - pi_a) p + (gamma/k) sum_q pi_q n_q.

**Stage 1** (the proxy network; per batch, **sums** over the batch, as the reference code). ``v_i``, ``t_i``
(image- and text-aware proxies of the batch items) and ``c_j`` (class proxies) are unit vectors in R^k::

    L1   = sum_{j,j'} max(0, c_j.c_j' - delta_jj')^2                       (class proxies mutually non-positive)
    L2   = ||sum_j c_j||^2 + ||sum_i t_i||^2 + ||sum_i v_i||^2              (bit balance)
    L3   = sum_{u in {v, t}} sum_i -1/|y_i| sum_{j: y_ij = 1}
               log e^{g(u_i.c_j - s)} / (e^{g(u_i.c_j - s)} + sum_{j': y_ij' = 0} e^{g u_i.c_j'} [+ |y_i|])
    Lqtf = sum_h (sgn(h)^T h / sqrt(k) - 1)^2  over every v_i, t_i, c_j     (toward scaled binary vectors)
    L_D  = L3 + alpha L2 + L1 + beta Lqtf

The bracketed ``+ |y_i|`` is an artefact of the reference code (its denominator exponentiates the positive
classes' logits times zero, adding ``e^0 = 1`` per label); it is left out unless ``faithful_to_code=True``.
``sgn`` is ``sign`` with ``sign(0) = +1``, a constant for the gradient.

**Stage 2** (one modality's hashing network with tanh outputs ``h_i`` against fixed signed proxies; **means**
over the batch). ``u_ij = h_i.a_j / k`` for an anchor code ``a_j`` (a row of the image proxies ``A^v``, the
text proxies ``A^t`` or the class proxies ``C``). With ``s_ij = y_i.y_j`` (shared labels, an integer):

* masks (:func:`selection_masks`): positives ``P`` (same label set, or with ``rule="superset"`` the
  anchor's labels contain the item's: the reference text network), negatives ``N`` (``s = 0``), partially
  similar ``PP`` (the rest); they partition each row, and ``P_ii = 1`` when the anchors are the training items;
* ``L_same(A)    = 1/b sum_i 1/|P_i| sum_{j in P_i} ell(g(u_ij - s), {g u_iq}_{q in N_i})``;
* ``L_similar(A) = 1/|I'| sum_{i in I'} ell(g(ubar_i - s), {g u_iq}_{q in N_i})``, ``ubar_i = sum_j w_ij u_ij``,
  ``w_ij = PP_ij s_ij / (sum_j' s_ij' + eps)`` (normalised over **all** anchors, as the code does), ``I'`` the
  rows with a partially similar anchor;
* ``L_class = 1/b sum_i ell(g(mean_{c in y_i} h_i.C_c/k - s), {g h_i.C_c/k}_{c not in y_i})``;
* ``L^m = L_same(A^v) + L_same(A^t) + L_class + eta (L_similar(A^v) + L_similar(A^t))``.

Rows without a positive (an unlabelled item, or anchors that do not contain the batch) are left out of the
means instead of dividing by zero. As every family in :mod:`hashnotes.losses`, this one returns dicts of
named terms with ``"total"`` (:func:`proxy_loss` for stage 1, :func:`batch_loss` for stage 2) and has the
closed-form gradients (:func:`gradients`, :func:`ratio_gradient`, :func:`class_separation_gradient`).
Label similarity comes from :mod:`hashnotes.similarity`. Codes are row-major ``(n, k)``.
"""
from __future__ import annotations

import math

import torch

from .. import similarity
from .._checks import check_finite, check_labels, check_number
from ..codes import sign
from .regularizers import bit_balance

__all__ = ["RULES", "masked_logsumexp", "ratio_loss", "ratio_nll", "ratio_gradient", "class_separation",
           "class_separation_gradient", "qtf", "proxy_likelihood", "proxy_loss", "selection_masks",
           "similar_weights", "same_loss", "similar_loss", "class_loss", "batch_loss", "gradients"]

RULES = ("identical", "superset")
EPS = 1e-5  # the reference code's eps in the weights w


# ----------------------------------------------------------------------------- validation
def _codes(x, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch tensor, got {type(x).__name__}")
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D (n, k) tensor, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {x.dtype}")
    return check_finite(x, name)


def _same_bits(*named) -> int:
    widths = {name: int(x.shape[1]) for name, x in named}
    if len(set(widths.values())) != 1:
        raise ValueError(f"codes must have the same number of bits, got {widths}")
    return next(iter(widths.values()))


def _labels(y, name: str, like: torch.Tensor, n_rows: int | None = None, n_cols: int | None = None):
    y = torch.as_tensor(y, device=like.device)
    check_labels(y, name, n_rows=n_rows, n_cols=n_cols)
    return y.to(like.dtype)


def _scalars(gamma, sigma) -> tuple[float, float]:
    return check_number(gamma, "gamma", strict=True), check_number(sigma, "sigma", minimum=None)


# ----------------------------------------------------------------------------- the softmax ratio
def masked_logsumexp(x: torch.Tensor, mask: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``log sum_{mask} exp(x)`` along ``dim``; ``-inf`` where the mask selects nothing (gradient 0 there).

    Rows with an empty mask are evaluated on zeros and replaced afterwards, so their backward pass never sees
    ``exp(-inf - (-inf))``.
    """
    if mask.shape != x.shape:
        raise ValueError(f"mask must have the shape of x {tuple(x.shape)}, got {tuple(mask.shape)}")
    mask = mask.bool()
    empty = ~mask.any(dim)
    neg_inf = torch.tensor(float("-inf"), dtype=x.dtype, device=x.device)
    filled = torch.where(mask | empty.unsqueeze(dim), x, neg_inf)
    lse = torch.logsumexp(filled, dim)
    return torch.where(empty, neg_inf, lse)


def ratio_loss(pos: torch.Tensor, neg_lse: torch.Tensor) -> torch.Tensor:
    """``-log(e^pos / (e^pos + e^neg_lse)) = softplus(neg_lse - pos)``, elementwise (broadcasting).

    ``neg_lse`` is the logsumexp of the negative scores (``-inf``: no negative, loss 0). The softplus is
    ``logaddexp(0, x)``, exact everywhere (``torch.nn.functional.softplus`` switches to ``x`` above 20, which
    with ``gamma = 20`` is a common argument) and stable in float16.
    """
    x = neg_lse - pos
    return torch.logaddexp(torch.zeros_like(x), x)


def _row_ratio(h, p, negatives, gamma, sigma, neg_mask):
    k = h.shape[1]
    a = gamma * ((h * p).sum(1) / k - sigma)  # (b,)
    b = gamma * torch.einsum("bk,bmk->bm", h, negatives) / k  # (b, m)
    mask = torch.ones_like(b, dtype=torch.bool) if neg_mask is None else neg_mask.bool()
    return a, b, mask


def _check_ratio_inputs(h, p, negatives, neg_mask):
    _codes(h, "h")
    _codes(p, "p")
    if p.shape != h.shape:
        raise ValueError(f"p must have the shape of h {tuple(h.shape)}, got {tuple(p.shape)}")
    if negatives.ndim != 3 or negatives.shape[0] != h.shape[0] or negatives.shape[2] != h.shape[1]:
        raise ValueError(f"negatives must be (b, m, k) = ({h.shape[0]}, m, {h.shape[1]}), got "
                         f"{tuple(negatives.shape)}")
    check_finite(negatives, "negatives")
    if neg_mask is not None and tuple(neg_mask.shape) != tuple(negatives.shape[:2]):
        raise ValueError(f"neg_mask must be (b, m) = {tuple(negatives.shape[:2])}, got {tuple(neg_mask.shape)}")


def ratio_nll(h, p, negatives, gamma: float = 20.0, sigma: float = 0.2, neg_mask=None) -> torch.Tensor:
    """One softmax ratio per row: ``-log e^a / (e^a + sum_q e^{b_q})`` with ``a = gamma (h.p/k - sigma)`` and
    ``b_q = gamma h.n_q / k``. ``h``, ``p``: ``(b, k)``; ``negatives``: ``(b, m, k)``; ``neg_mask`` (b, m)."""
    _check_ratio_inputs(h, p, negatives, neg_mask)
    gamma, sigma = _scalars(gamma, sigma)
    a, b, mask = _row_ratio(h, p, negatives, gamma, sigma, neg_mask)
    return ratio_loss(a, masked_logsumexp(b, mask, 1))


def ratio_gradient(h, p, negatives, gamma: float = 20.0, sigma: float = 0.2, neg_mask=None) -> torch.Tensor:
    """Closed form of ``d ratio_nll / d h``, row by row::

        grad_h = -(gamma/k) (1 - pi_a) p + (gamma/k) sum_q pi_q n_q,   pi = softmax(a, b_1..b_m).

    For tanh outputs ``h = tanh(z)`` multiply by ``1 - h^2`` to get the gradient of the logits ``z``.
    """
    _check_ratio_inputs(h, p, negatives, neg_mask)
    gamma, sigma = _scalars(gamma, sigma)
    with torch.no_grad():
        a, b, mask = _row_ratio(h, p, negatives, gamma, sigma, neg_mask)
        scores = torch.cat([a.unsqueeze(1), b], 1)
        full = torch.cat([torch.ones_like(mask[:, :1]), mask], 1)
        pi = torch.softmax(scores.masked_fill(~full, float("-inf")), 1)
        k = h.shape[1]
        return (gamma / k) * (-(1 - pi[:, 0:1]) * p + torch.einsum("bm,bmk->bk", pi[:, 1:], negatives))


# ----------------------------------------------------------------------------- stage 1
def class_separation(C: torch.Tensor) -> torch.Tensor:
    """``L1 = sum_{j,j'} max(0, c_j.c_j' - delta_jj')^2``: zero when the class proxies are mutually
    orthogonal or obtuse (the diagonal of unit vectors contributes 0)."""
    _codes(C, "C")
    eye = torch.eye(C.shape[0], dtype=C.dtype, device=C.device)
    return torch.relu(C @ C.T - eye).pow(2).sum()


def class_separation_gradient(C: torch.Tensor) -> torch.Tensor:
    """Closed form ``d L1 / d C = 4 R C`` with ``R = max(0, C C^T - I)`` (``R`` is symmetric)."""
    _codes(C, "C")
    with torch.no_grad():
        eye = torch.eye(C.shape[0], dtype=C.dtype, device=C.device)
        return 4.0 * torch.relu(C @ C.T - eye) @ C


def qtf(H: torch.Tensor) -> torch.Tensor:
    """``Lqtf = sum_i (sgn(h_i)^T h_i / sqrt(k) - 1)^2`` (``sgn`` constant, ``sign(0) = +1``).

    For unit ``h_i`` the inner term is ``||h_i||_1 / sqrt(k) <= 1``, with equality exactly when ``h_i`` is a
    scaled binary vector ``sgn(h_i) / sqrt(k)``: the term pulls the proxies toward codes that ``sign``
    does not change.
    """
    _codes(H, "H")
    k = H.shape[1]
    return ((sign(H.detach()) * H).sum(1) / math.sqrt(k) - 1.0).pow(2).sum()


def proxy_likelihood(U: torch.Tensor, C: torch.Tensor, labels, gamma: float = 20.0, sigma: float = 0.2,
                     faithful_to_code: bool = False) -> torch.Tensor:
    """``L3`` for one modality's proxies ``U`` (b, k) against the class proxies ``C`` (l, k), summed over
    the batch: each labelled item averages, over its classes, the ratio of ``e^{gamma (u.c_j - sigma)}``
    against its non-classes (``+ |y_i|`` in the denominator with ``faithful_to_code``)."""
    _codes(U, "U")
    _codes(C, "C")
    _same_bits(("U", U), ("C", C))
    y = _labels(labels, "labels", U, n_rows=U.shape[0], n_cols=C.shape[0])
    gamma, sigma = _scalars(gamma, sigma)
    logits = U @ C.T  # cosines of unit vectors
    lse = masked_logsumexp(gamma * logits, y == 0, 1)  # (b,)
    count = y.sum(1)
    if faithful_to_code:  # the reference adds e^0 = 1 for each of the item's own labels
        lse = torch.logaddexp(lse, torch.log(count.clamp_min(1)))
    per = ratio_loss(gamma * (logits - sigma), lse.unsqueeze(1)) * y  # (b, l), positives only
    return (per.sum(1) / count.clamp_min(1)).sum()


def proxy_loss(C: torch.Tensor, labels=None, image=None, text=None, alpha: float = 0.2, beta: float = 0.2,
               gamma: float = 20.0, sigma: float = 0.2, faithful_to_code: bool = False) -> dict:
    """Stage 1's batch loss ``L_D = L3 + alpha L2 + L1 + beta Lqtf`` as sums, with its named terms.

    Parameters
    ----------
    C : (l, k) class proxies (CDPG's outputs for the rows of the identity).
    labels : (b, l) 0/1 labels of the batch (needed with ``image`` or ``text``).
    image, text : (b, k) image- and text-aware proxies of the batch (LIPG, LTPG), or None: without them
        (the class-proxy-only ablation) ``L3`` is 0 and ``L2``, ``Lqtf`` cover the class proxies alone.

    Returns ``{"L1", "L2", "L3", "Lqtf", "total"}`` (``L2`` and ``Lqtf`` unweighted; ``total`` weights them).
    """
    _codes(C, "C")
    alpha, beta = check_number(alpha, "alpha"), check_number(beta, "beta")
    data = [(n, x) for n, x in (("image", image), ("text", text)) if x is not None]
    for name, x in data:
        _codes(x, name)
        _same_bits(("C", C), (name, x))
    if data and labels is None:
        raise ValueError("labels are needed with image or text proxies")
    l1 = class_separation(C)
    l2 = bit_balance(C) + sum((bit_balance(x) for _, x in data), C.new_zeros(()))
    l3 = sum((proxy_likelihood(x, C, labels, gamma, sigma, faithful_to_code) for _, x in data), C.new_zeros(()))
    lq = qtf(C) + sum((qtf(x) for _, x in data), C.new_zeros(()))
    return {"L1": l1, "L2": l2, "L3": l3, "Lqtf": lq, "total": l3 + alpha * l2 + l1 + beta * lq}


# ----------------------------------------------------------------------------- stage 2: masks
def selection_masks(labels, anchor_labels, rule: str = "identical"):
    """Positive, partially similar and negative anchors of each item, from shared-label counts.

    ``s_ij = y_i.y_j`` (:func:`hashnotes.similarity.shared_label_counts`). Negatives: ``s_ij = 0``.
    Positives, ``rule="identical"``: ``s_ij = |y_i| = |y_j| > 0`` (the same label set; the package's choice
    for both networks); ``rule="superset"``: ``s_ij = |y_i| > 0`` (the anchor holds all of the item's
    labels; the reference text network). Partially similar: every other anchor. Returns three bool tensors
    ``(P, PP, N)`` of shape ``(b, n)``: each entry is in exactly one of them; an unlabelled item has only
    negatives.
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    y = torch.as_tensor(labels)
    ya = torch.as_tensor(anchor_labels).to(y.device)
    s = similarity.shared_label_counts(y, ya)  # int64 (b, n), labels validated there
    neg = s == 0
    pos = (s == y.to(s.dtype).sum(1, keepdim=True)) & ~neg
    if rule == "identical":
        pos &= s == ya.to(s.dtype).sum(1).unsqueeze(0)
    return pos, ~pos & ~neg, neg


def similar_weights(labels, anchor_labels, partial: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """``w_ij = PP_ij s_ij / (sum_j' s_ij' + eps)``: the partially similar anchors weighted by their overlap,
    normalised by the overlap summed over **all** anchors (positives included), as the reference code does;
    so a row's weights sum to less than 1."""
    s = similarity.shared_label_counts(torch.as_tensor(labels), torch.as_tensor(anchor_labels)).to(torch.float64)
    if tuple(partial.shape) != tuple(s.shape):
        raise ValueError(f"partial must be (b, n) = {tuple(s.shape)}, got {tuple(partial.shape)}")
    return partial.to(s.dtype) * s / (s.sum(1, keepdim=True) + eps)


# ----------------------------------------------------------------------------- stage 2: terms
def _scores(out, anchors):
    return out @ anchors.to(out.dtype).T / out.shape[1]  # u_ij = h_i.a_j / k


def _same_from(u, neg_lse, pos, gamma, sigma):
    """``L_same`` from the scores ``u`` (b, n) and the rows' negative logsumexp ``neg_lse`` (b,)."""
    per = ratio_loss(gamma * (u - sigma), neg_lse.unsqueeze(1)) * pos
    count = pos.sum(1)
    return _mean_rows(per.sum(1) / count.clamp_min(1), count > 0)


def _similar_from(u, neg_lse, weights, gamma, sigma):
    """``L_similar`` from the scores ``u`` (b, n) and the rows' negative logsumexp ``neg_lse`` (b,)."""
    ubar = (weights.to(u.dtype) * u).sum(1)
    return _mean_rows(ratio_loss(gamma * (ubar - sigma), neg_lse), (weights > 0).any(1))


def same_loss(out, anchors, pos, neg, gamma: float = 20.0, sigma: float = 0.2) -> torch.Tensor:
    """``L_same``: the mean over items with a positive of their mean ratio over positive anchors."""
    gamma, sigma = _scalars(gamma, sigma)
    u = _scores(out, anchors)
    return _same_from(u, masked_logsumexp(gamma * u, neg, 1), pos, gamma, sigma)


def similar_loss(out, anchors, weights, neg, gamma: float = 20.0, sigma: float = 0.2) -> torch.Tensor:
    """``L_similar``: the ratio of the weighted mean score ``ubar_i = sum_j w_ij u_ij`` over the partially
    similar anchors, averaged over the items that have one (0 when none has)."""
    gamma, sigma = _scalars(gamma, sigma)
    u = _scores(out, anchors)
    return _similar_from(u, masked_logsumexp(gamma * u, neg, 1), weights, gamma, sigma)


def class_loss(out, class_codes, labels, gamma: float = 20.0, sigma: float = 0.2) -> torch.Tensor:
    """``L_class``: the ratio of the mean score over the item's classes against its non-classes, averaged
    over the labelled items."""
    gamma, sigma = _scalars(gamma, sigma)
    y = _labels(labels, "labels", out, n_rows=out.shape[0], n_cols=class_codes.shape[0])
    uc = _scores(out, class_codes)
    count = y.sum(1)
    ubar = (uc * y).sum(1) / count.clamp_min(1)
    per = ratio_loss(gamma * (ubar - sigma), masked_logsumexp(gamma * uc, y == 0, 1))
    return _mean_rows(per, count > 0)


def _mean_rows(per_row: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    n = rows.sum()
    return (per_row * rows).sum() / n.clamp_min(1)


def _stage2_inputs(out, class_codes, labels, anchor_labels, image_anchors, text_anchors):
    _codes(out, "out")
    _codes(class_codes, "class_codes")
    named = [("out", out), ("class_codes", class_codes)]
    anchors = {}
    for name, a in (("image", image_anchors), ("text", text_anchors)):
        if a is not None:
            anchors[name] = _codes(a, f"{name}_anchors")
            named.append((f"{name}_anchors", a))
    _same_bits(*named)
    y = _labels(labels, "labels", out, n_rows=out.shape[0], n_cols=class_codes.shape[0])
    ya = None
    if anchors:
        if anchor_labels is None:
            raise ValueError("anchor_labels are needed with image or text anchors")
        n_anchor = {a.shape[0] for a in anchors.values()}
        if len(n_anchor) != 1:
            raise ValueError(f"image_anchors and text_anchors must have the same rows, got {sorted(n_anchor)}")
        ya = _labels(anchor_labels, "anchor_labels", out, n_rows=n_anchor.pop(), n_cols=class_codes.shape[0])
    return y, ya, anchors


def batch_loss(out, class_codes, labels, image_anchors=None, text_anchors=None, anchor_labels=None,
               gamma: float = 20.0, sigma: float = 0.2, eta: float = 1.0, rule: str = "identical") -> dict:
    """Stage 2's loss for one modality's batch ``L^m``, as means over the batch, with its named terms.

    Parameters
    ----------
    out : (b, k) tanh outputs of the batch (image or text network).
    class_codes : (l, k) signed class proxies ``C``.
    labels : (b, l) labels of the batch.
    image_anchors, text_anchors : (n, k) signed image- and text-aware proxies of the training items (``A^v``,
        ``A^t``), or None (the class-proxy ablations: ``L_class`` alone).
    anchor_labels : (n, l) their labels. rule : positives, see :func:`selection_masks`.

    Returns ``{"class", "same_image", "same_text", "similar_image", "similar_text", "total"}`` (the anchor
    terms only for the anchors given; ``total = same + class + eta * similar``).
    """
    y, ya, anchors = _stage2_inputs(out, class_codes, labels, anchor_labels, image_anchors, text_anchors)
    eta = check_number(eta, "eta")
    terms = {"class": class_loss(out, class_codes, y, gamma, sigma)}
    total = terms["class"]
    if anchors:
        pos, partial, neg = selection_masks(y, ya, rule)
        w = similar_weights(y, ya, partial)
        g, sg = _scalars(gamma, sigma)
        for name, a in anchors.items():
            u = _scores(out, a)
            lse = masked_logsumexp(g * u, neg, 1)  # shared by both terms of this anchor set
            terms[f"same_{name}"] = _same_from(u, lse, pos, g, sg)
            terms[f"similar_{name}"] = _similar_from(u, lse, w, g, sg)
            total = total + terms[f"same_{name}"] + eta * terms[f"similar_{name}"]
    terms["total"] = total
    return terms


def _ratio_coef(w, pi, alpha, gamma, row_scale):
    """Coefficients of ``d/du`` for rows ``softplus(L_i - gamma (sum_j alpha_ij u_ij - sigma))`` with weight
    ``row_scale_i``: ``gamma row_scale_i w_i (pi_i - alpha_i)``, ``w_i = sigmoid(L_i - a_i)``."""
    return gamma * (row_scale * w).unsqueeze(1) * (pi - alpha)


def gradients(out, class_codes, labels, image_anchors=None, text_anchors=None, anchor_labels=None,
              gamma: float = 20.0, sigma: float = 0.2, eta: float = 1.0, rule: str = "identical") -> torch.Tensor:
    """Closed-form ``d batch_loss(...)["total"] / d out`` (anchors fixed), shape ``(b, k)``.

    Each term is a sum of softmax ratios ``softplus(L_i - a_i)`` in the scores ``u = out A^T / k``; a ratio's
    derivative is ``gamma sigmoid(L_i - a_i) (pi_i - alpha_i)`` in ``u_i``, where ``pi_i`` is the softmax over
    the row's negatives and ``alpha_i`` the positive's weights over anchors (one-hot for ``L_same``, ``w_i``
    for ``L_similar``, ``y_i / |y_i|`` over the classes for ``L_class``); then ``d/d out = (coef A) / k``.
    Multiply by ``1 - out^2`` for the logits of a tanh output.
    """
    y, ya, anchors = _stage2_inputs(out, class_codes, labels, anchor_labels, image_anchors, text_anchors)
    gamma, sigma = _scalars(gamma, sigma)
    eta = check_number(eta, "eta")
    k = out.shape[1]
    with torch.no_grad():
        uc = _scores(out, class_codes)
        count = y.sum(1)
        alpha = y / count.clamp_min(1).unsqueeze(1)
        lse = masked_logsumexp(gamma * uc, y == 0, 1)
        a = gamma * ((uc * alpha).sum(1) - sigma)
        pi = torch.softmax((gamma * uc).masked_fill(y != 0, float("-inf")), 1).nan_to_num(0.0)
        rows = (count > 0).to(out.dtype)
        coef = _ratio_coef(torch.sigmoid(lse - a), pi, alpha, gamma, rows / rows.sum().clamp_min(1))
        grad = coef @ class_codes.to(out.dtype) / k
        if anchors:
            pos, partial, neg = selection_masks(y, ya, rule)
            w = similar_weights(y, ya, partial).to(out.dtype)
            has_pos = (pos.sum(1) > 0).to(out.dtype)
            has_pp = (w > 0).any(1).to(out.dtype)
            for A in anchors.values():
                A = A.to(out.dtype)
                u = _scores(out, A)
                lse = masked_logsumexp(gamma * u, neg, 1)
                pi = torch.softmax((gamma * u).masked_fill(~neg, float("-inf")), 1).nan_to_num(0.0)
                # L_same: one ratio per positive pair, weight 1 / (b' |P_i|)
                sw = torch.sigmoid(lse.unsqueeze(1) - gamma * (u - sigma)) * pos  # (b, n)
                scale = has_pos / (has_pos.sum().clamp_min(1) * pos.sum(1).clamp_min(1))
                c_same = gamma * scale.unsqueeze(1) * (sw.sum(1, keepdim=True) * pi - sw)
                # L_similar: one ratio per row with a partially similar anchor
                ws = torch.sigmoid(lse - gamma * ((w * u).sum(1) - sigma))
                c_sim = _ratio_coef(ws, pi, w, gamma, has_pp / has_pp.sum().clamp_min(1))
                grad = grad + (c_same + eta * c_sim) @ A / k
    return grad
