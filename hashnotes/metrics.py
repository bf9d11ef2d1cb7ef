"""Retrieval metrics for binary codes: mAP@all / mAP@R, hash-lookup PR, precision@radius, top-k precision.

Conventions (the book's chapter "Evaluation" discusses each):

* A database item is *relevant* to a query when they share at least one label.
* Hamming ranking breaks ties **stably by database index** (``ties="stable"``, the MATLAB reference
  ``calcMapTopkMapTopkPreTopkRecLabel.m``), or reports the exact expectation of AP over all orders of
  the tied items (``ties="average"``).
* A query with no relevant database item counts as AP 0 (``no_relevant="zero"``, the DCMH convention)
  or is removed (``no_relevant="drop"``, the DeepHash convention).
* AP@R (``top_k=R``) is normalised by the number of relevant items *within* the top R.

How it is computed: Hamming distances take only ``c + 1`` values, so no comparison sort is needed.
Codes and labels are packed into 64-bit words; numba kernels (which release the GIL, so a thread pool
runs them over chunks of queries on all cores) make, for each query, one vectorised pass over the
database in index order that writes every item's key ``2 d + rel`` (XOR + popcount for the distance
``d``, AND of label words for relevance) into a small buffer, and count the keys. The tie-averaged AP,
the hash-lookup PR curve and precision within a radius need only these per-distance counts. The stable
ranking takes a second pass: with the database cut into four contiguous blocks and the keys counted per
block, an item's stable rank is the number of items nearer than it, plus those at its distance in
earlier blocks, plus those earlier in its own block -- running counters per (block, distance), started
from the counts, give every relevant item its rank and its rank among the relevant items in O(N + c)
per query. No queries x database matrix is ever built. ``benchmarks/bench_map.py`` times these passes
against the least any exact metric must do (one fused pass that histograms every pair).
"""
from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numba
import numpy as np

from ._checks import as_numpy, check_codes, check_labels, check_same_width
from .codes import _ctpop64, _hamming_row, _pack01, _run_chunked

__all__ = [
    "mean_average_precision",
    "average_precision",
    "pr_curve",
    "PRCurve",
    "precision_at_radius",
    "precision_radius_curve",
    "precision_at_k",
    "distance_counts",
]


# --------------------------------------------------------------------------------------------------
# numba kernels


@numba.njit(cache=True, inline="always")
def _shares(ql, i, dl, j):
    for w in range(ql.shape[1]):
        if (ql[i, w] & dl[j, w]) != 0:
            return 1
    return 0


_GROUP = 4  # queries whose keys one pass over the database writes


@numba.njit(cache=True)
def _query_groups(ch, nq, n_chunks):
    """Queries ch, ch + n_chunks, ... in groups of 4: (groups (G, 4) int64, sizes (G,) int64); a last, short
    group is padded by repeating its last query."""
    mine = np.arange(ch, nq, n_chunks)
    n_groups = (mine.shape[0] + _GROUP - 1) // _GROUP
    groups = np.empty((n_groups, _GROUP), dtype=np.int64)
    sizes = np.empty(n_groups, dtype=np.int64)
    for g in range(n_groups):
        sizes[g] = min(_GROUP, mine.shape[0] - g * _GROUP)
        for t in range(_GROUP):
            groups[g, t] = mine[g * _GROUP + min(t, sizes[g] - 1)]
    return groups, sizes


@numba.njit(cache=True, nogil=True)
def _fill_keys(qp, dp, ql, dl, q1, d1, l1, e1, rows, n_rows, bufs):
    """bufs[t, j] = 2 * d_H(query rows[t], item j) + [item j is relevant to it], for the 4 queries of a group
    and every database item j.

    XOR + popcount for the distance, AND of the label words for relevance. When codes and labels fit one
    64-bit word each, ``q1, d1, l1, e1`` are those words as contiguous 1-D arrays (else empty): then one pass
    over the database serves the four queries (a quarter of the memory traffic once the database outgrows the
    cache), and the loop, with no inner loop over words, is vectorised (popcount on SIMD lanes)."""
    nd = bufs.shape[1]
    if d1.shape[0] == nd:
        a0, a1, a2, a3 = q1[rows[0]], q1[rows[1]], q1[rows[2]], q1[rows[3]]
        c0, c1, c2, c3 = l1[rows[0]], l1[rows[1]], l1[rows[2]], l1[rows[3]]
        B0, B1, B2, B3 = bufs[0], bufs[1], bufs[2], bufs[3]
        for j in range(nd):  # int64 throughout: uint64 mixed with int64 would compute in float64
            x = d1[j]
            y = e1[j]
            B0[j] = 2 * np.int64(_ctpop64(a0 ^ x)) + np.int64((c0 & y) != 0)
            B1[j] = 2 * np.int64(_ctpop64(a1 ^ x)) + np.int64((c1 & y) != 0)
            B2[j] = 2 * np.int64(_ctpop64(a2 ^ x)) + np.int64((c2 & y) != 0)
            B3[j] = 2 * np.int64(_ctpop64(a3 ^ x)) + np.int64((c3 & y) != 0)
    else:
        for t in range(n_rows):
            i = rows[t]
            B = bufs[t]
            for j in range(nd):
                B[j] = 2 * np.int64(_hamming_row(qp, i, dp, j)) + np.int64(_shares(ql, i, dl, j))


@numba.njit(cache=True, nogil=True)
def _block_histograms(buf, h):
    """h[b, key] = how often each key occurs in block b of buf (b = 0..3: four contiguous quarters, the last
    one taking the remainder). The blocks are walked in step, so the four load-increment-store chains are
    independent (one histogram stalls on every repeated key)."""
    nd = buf.shape[0]
    q = nd // 4
    b0, b1, b2, b3 = buf[:q], buf[q:2 * q], buf[2 * q:3 * q], buf[3 * q:]
    h[:] = 0
    for j in range(q):
        h[0, b0[j]] += 1
        h[1, b1[j]] += 1
        h[2, b2[j]] += 1
        h[3, b3[j]] += 1
    for j in range(q, b3.shape[0]):
        h[3, b3[j]] += 1


@numba.njit(cache=True, nogil=True)
def _counts_chunk(qp, dp, ql, dl, q1, d1, l1, e1, cnt, rel, buf, ch, n_chunks):
    """Queries ch, ch + n_chunks, ...: cnt[i, d] = #database items at distance d from query i,
    rel[i, d] = how many of them are relevant."""
    bufs = np.empty((_GROUP, buf.shape[0]), dtype=buf.dtype)  # each worker its own
    h = np.empty((4, 2 * cnt.shape[1]), dtype=np.int64)
    groups, sizes = _query_groups(ch, qp.shape[0], n_chunks)
    for g in range(groups.shape[0]):
        _fill_keys(qp, dp, ql, dl, q1, d1, l1, e1, groups[g], sizes[g], bufs)
        for t in range(sizes[g]):
            i = groups[g, t]
            _block_histograms(bufs[t], h)
            for d in range(cnt.shape[1]):
                r = h[0, 2 * d + 1] + h[1, 2 * d + 1] + h[2, 2 * d + 1] + h[3, 2 * d + 1]
                cnt[i, d] = h[0, 2 * d] + h[1, 2 * d] + h[2, 2 * d] + h[3, 2 * d] + r
                rel[i, d] = r


_ONE = np.int64(1) << 32  # one more item ranked before (the high half of a rank counter)


@numba.njit(cache=True, inline="always", error_model="numpy")
def _rank_step(cnt, b, key):
    """One item of block b with the given key, in index order: advance the rank counter of (b, its distance)
    and return its term of the AP sum, rel_rank / rank (0 for an irrelevant item). A counter holds
    (items ranked before the next item) << 32 | (relevant items ranked before it) + 1."""
    v = cnt[b, key >> 1]
    r = key & 1
    cnt[b, key >> 1] = v + _ONE + r
    # a division, not a table of 1 / rank: the four blocks' counters jump around the whole ranking, and
    # beyond the L2 cache a table lookup cost several times a division
    return (r * (v & 0xFFFFFFFF)) / ((v >> 32) + 1.0)


@numba.njit(cache=True, inline="always")
def _rank_step_k(cnt, b, key, k):
    """:func:`_rank_step` for a ranking cut at k: (1 if the item is relevant and inside the top k else 0, its
    rank - 1, its rank among the relevant items)."""
    v = cnt[b, key >> 1]
    r = key & 1
    cnt[b, key >> 1] = v + _ONE + r
    p = v >> 32
    return r * np.int64(p < k), p, v & 0xFFFFFFFF


@numba.njit(cache=True, nogil=True)
def _stable_chunk(qp, dp, ql, dl, q1, d1, l1, e1, c, k, want_ap, ap, n_rel, ks, topk_hits, buf, ch, n_chunks):
    """Stable (distance, index) ranking truncated at rank k, for queries ch, ch + n_chunks, ...

    want_ap: fill ap[i] (AP@k normalised by the relevant items within the top k) and n_rel[i].
    otherwise: fill topk_hits[i, m] = #relevant items among the top ks[m] (ks sorted, ks[-1] == k).

    Two passes over the database per query, no sort. The database is cut into four contiguous blocks.
    Pass 1 writes every item's key (2 distance + relevance) and counts the keys per block. An item of block b
    at distance d is preceded in the stable ranking by every item nearer than d, the items at distance d in
    blocks before b, and those earlier in its own block: so pass 2 starts one counter per (block, distance)
    at the first two sums (from the counts) and increments it item by item, and likewise for the relevant
    items; the four blocks are walked in step, so their counters form independent chains.
    """
    nd = dp.shape[0]
    bufs = np.empty((_GROUP, nd), dtype=buf.dtype)  # each worker its own
    q = nd // 4
    h = np.empty((4, 2 * (c + 1)), dtype=np.int64)
    cnt = np.empty((4, c + 1), dtype=np.int64)
    mark = np.zeros(0 if want_ap else k, dtype=np.uint8)
    groups, sizes = _query_groups(ch, qp.shape[0], n_chunks)
    for g in range(groups.shape[0]):
        _fill_keys(qp, dp, ql, dl, q1, d1, l1, e1, groups[g], sizes[g], bufs)
        for t in range(sizes[g]):
            _stable_one(bufs[t], groups[g, t], q, c, k, want_ap, h, cnt, mark, ap, n_rel, ks, topk_hits)


@numba.njit(cache=True, nogil=True, error_model="numpy")  # no zero-division checks: ranks are >= 1
def _stable_one(buf, i, q, c, k, want_ap, h, cnt, mark, ap, n_rel, ks, topk_hits):
    """The stable ranking of query i from its keys buf (see :func:`_stable_chunk`)."""
    nd = buf.shape[0]
    b0, b1, b2, b3 = buf[:q], buf[q:2 * q], buf[2 * q:3 * q], buf[3 * q:]
    _block_histograms(buf, h)
    s = 0
    rs = 0
    for d in range(c + 1):
        for b in range(4):
            cnt[b, d] = (s << 32) | (rs + 1)
            r = h[b, 2 * d + 1]
            s += h[b, 2 * d] + r
            rs += r
    if want_ap:
        n_rel[i] = rs
        if rs == 0:
            ap[i] = 0.0
            return
    if want_ap and k >= nd:  # AP@all, the common case: every item is inside, the blocks go in step
        a0 = a1 = a2 = a3 = 0.0
        for j in range(q):  # branch-free: relevance is hard to predict
            a0 += _rank_step(cnt, 0, np.int64(b0[j]))
            a1 += _rank_step(cnt, 1, np.int64(b1[j]))
            a2 += _rank_step(cnt, 2, np.int64(b2[j]))
            a3 += _rank_step(cnt, 3, np.int64(b3[j]))
        for j in range(q, b3.shape[0]):
            a3 += _rank_step(cnt, 3, np.int64(b3[j]))
        ap[i] = (a0 + a1 + a2 + a3) / rs
        return
    # a cut at k: block after block
    mark[:] = 0
    acc = 0.0
    n_in = 0
    for b in range(4):
        blk = buf[b * q:] if b == 3 else buf[b * q:(b + 1) * q]
        for j in range(blk.shape[0]):
            t, p, rp = _rank_step_k(cnt, b, np.int64(blk[j]), k)
            if want_ap:
                acc += (t * rp) / (p + 1.0)
                n_in += t
            elif t:
                mark[p] = 1
    if want_ap:
        ap[i] = acc / n_in if n_in > 0 else 0.0
    else:
        run = 0
        mm = 0
        for p in range(k):
            run += mark[p]
            while mm < ks.shape[0] and ks[mm] == p + 1:
                topk_hits[i, mm] = run
                mm += 1


@numba.njit(cache=True)
def _harmonic_diff(n0, t):
    """H(n0 + t) - H(n0) = sum_{p = n0+1}^{n0+t} 1/p, accurate to a few ulp for any n0, t >= 0."""
    if t <= 0:
        return 0.0
    s = 0.0
    m = n0
    # small arguments: direct summation (the asymptotic series below needs m >= 32)
    while m < 32 and m < n0 + t:
        m += 1
        s += 1.0 / m
    rest = n0 + t - m
    if rest <= 0:
        return s
    if rest <= 16:
        for p in range(m + 1, m + rest + 1):
            s += 1.0 / p
        return s
    # H(n) = ln n + gamma + 1/(2n) - 1/(12n^2) + 1/(120n^4) - 1/(252n^6) + 1/(240n^8) - ...
    a = float(m)
    b = float(m + rest)
    fa = 1.0 / (2 * a) - 1.0 / (12 * a**2) + 1.0 / (120 * a**4) - 1.0 / (252 * a**6) + 1.0 / (240 * a**8)
    fb = 1.0 / (2 * b) - 1.0 / (12 * b**2) + 1.0 / (120 * b**4) - 1.0 / (252 * b**6) + 1.0 / (240 * b**8)
    return s + math.log1p(rest / a) + (fb - fa)


@numba.njit(cache=True)
def _group_sum(n0, r0, n, r):
    """Expected sum of P@rank over the r relevant items of a tie group of n items, placed after
    n0 items of which r0 are relevant, over all n! orders of the group (derivation in the docs of
    :func:`average_precision`)."""
    if r == 0:
        return 0.0
    a = r0 + 1.0
    b = (r - 1.0) / (n - 1.0) if n > 1 else 0.0
    return (r / n) * (n * b + (a - b * (1.0 + n0)) * _harmonic_diff(n0, n))


@numba.njit(cache=True, nogil=True)
def _average_chunk(cnt, rel, k, ap, ch, n_chunks):
    for i in range(ch, cnt.shape[0], n_chunks):
        _average_one(cnt, rel, k, ap, i)


@numba.njit(cache=True)
def _average_one(cnt, rel, k, ap, i):
    """Tie-averaged AP@k of query i (k >= N means AP@all) from its per-distance counts."""
    nbins = cnt.shape[1]
    n0 = 0
    r0 = 0
    s = 0.0
    total_rel = 0
    for g in range(nbins):
        total_rel += rel[i, g]
    if total_rel == 0:
        ap[i] = 0.0
        return
    res = -1.0
    for g in range(nbins):
        n = cnt[i, g]
        r = rel[i, g]
        if n == 0:
            continue
        if n0 + n <= k:
            s += _group_sum(n0, r0, n, r)
            n0 += n
            r0 += r
            continue
        # group g straddles rank k: t of its n items fall inside the top k
        t = k - n0
        if t <= 0 or r == 0:
            break
        # X = #relevant among the first t items of the group ~ Hypergeometric(n, r, t)
        lo = max(0, t - (n - r))
        hi = min(r, t)
        # log-weights by the ratio recurrence, shifted by their maximum before exp
        lw = 0.0
        mx = 0.0
        for x in range(lo + 1, hi + 1):
            xp = x - 1
            lw += math.log((r - xp) * (t - xp) / ((xp + 1.0) * (n - r - t + xp + 1.0)))
            if lw > mx:
                mx = lw
        lw = 0.0
        z = 0.0
        acc = 0.0
        for x in range(lo, hi + 1):
            if x > lo:
                xp = x - 1
                lw += math.log((r - xp) * (t - xp) / ((xp + 1.0) * (n - r - t + xp + 1.0)))
            w = math.exp(lw - mx)
            z += w
            if r0 + x > 0:
                acc += w * (s + _group_sum(n0, r0, t, x)) / (r0 + x)
        res = acc / z
        break
    if res < 0.0:
        res = s / r0 if r0 > 0 else 0.0
    ap[i] = res


# --------------------------------------------------------------------------------------------------
# input handling


def _prepare(query_codes, db_codes, query_labels, db_labels):
    qb = check_codes(query_codes, "query_codes")
    db = check_codes(db_codes, "db_codes")
    check_same_width(qb, db, "query_codes", "db_codes")
    ql = check_labels(as_numpy(query_labels), "query_labels", n_rows=qb.shape[0])
    dl = check_labels(as_numpy(db_labels), "db_labels", n_rows=db.shape[0], n_cols=ql.shape[1])
    return _pack01(qb > 0), _pack01(db > 0), _pack01(ql != 0), _pack01(dl != 0), qb.shape[1]


def _kernel_inputs(qp, dp, ql, dl, c):
    """The packed words as the kernels take them: the 2-D word arrays, their one-word 1-D copies (empty
    unless codes and labels take one word each) and a key buffer prototype (uint8 while 2 c + 1 < 256)."""
    one = qp.shape[1] == 1 and ql.shape[1] == 1
    flat = [np.ascontiguousarray(x[:, 0]) if one else np.zeros(0, dtype=np.uint64) for x in (qp, dp, ql, dl)]
    buf = np.empty(dp.shape[0], dtype=np.uint8 if 2 * c + 1 < 256 else np.uint16)
    return (qp, dp, ql, dl, *flat), buf


def _stable(qp, dp, ql, dl, c, k, want_ap, ap, n_rel, ks, topk_hits):
    words, buf = _kernel_inputs(qp, dp, ql, dl, c)
    _run_chunked(_stable_chunk, qp.shape[0], dp.shape[0], *words, c, k, want_ap, ap, n_rel, ks, topk_hits, buf)


def _check_top_k(top_k, nd: int) -> int:
    if top_k is None:
        return nd
    if isinstance(top_k, (bool, np.bool_)) or not isinstance(top_k, numbers.Integral):
        raise ValueError(f"top_k must be None (all) or a positive integer, got {top_k!r}")
    if top_k < 1:
        raise ValueError(f"top_k must be None (all) or a positive integer, got {top_k} "
                         "(use None, not -1, for the whole ranking)")
    return int(min(top_k, nd))


def _counts(qp, dp, ql, dl, c):
    cnt = np.zeros((qp.shape[0], c + 1), dtype=np.int64)
    rel = np.zeros((qp.shape[0], c + 1), dtype=np.int64)
    words, buf = _kernel_inputs(qp, dp, ql, dl, c)
    _run_chunked(_counts_chunk, qp.shape[0], dp.shape[0], *words, cnt, rel, buf)
    return cnt, rel


def distance_counts(query_codes, db_codes, query_labels, db_labels):
    """Per-query, per-distance counts of database items and of relevant database items.

    Parameters
    ----------
    query_codes : array_like, shape (n_q, c), entries in {-1, +1}
    db_codes : array_like, shape (n_db, c), entries in {-1, +1}
    query_labels : array_like, shape (n_q, l), entries in {0, 1}
    db_labels : array_like, shape (n_db, l), entries in {0, 1}

    Returns
    -------
    n_items, n_relevant : numpy.ndarray of int64, shape (n_q, c + 1)
        ``n_items[q, d]`` database items lie at Hamming distance ``d`` from query ``q``;
        ``n_relevant[q, d]`` of them share a label with it.
    """
    return _counts(*_prepare(query_codes, db_codes, query_labels, db_labels))


# --------------------------------------------------------------------------------------------------
# mAP


def average_precision(query_codes, db_codes, query_labels, db_labels, top_k=None, ties="stable",
                      no_relevant="zero") -> np.ndarray:
    r"""Average precision of every query under Hamming ranking.

    .. math:: \mathrm{AP@k}(q) = \frac{1}{R'_q}\sum_{i \le k} P@i \cdot \mathrm{rel}_i,
              \qquad R'_q = \sum_{i\le k}\mathrm{rel}_i

    (``k = N`` for AP@all, then ``R'_q = R_q``); AP is 0 when ``R'_q = 0``.

    Parameters
    ----------
    query_codes : array_like or torch.Tensor, shape (n_q, c), entries in {-1, +1}
    db_codes : array_like or torch.Tensor, shape (n_db, c), entries in {-1, +1}
    query_labels : array_like, shape (n_q, l), multi-hot {0, 1}
    db_labels : array_like, shape (n_db, l), multi-hot {0, 1}
    top_k : int or None
        ``None``: AP over the whole ranking. ``R``: AP@R, normalised by the relevant items within
        the top R (DCMH's and DeepHash's convention); ``R > n_db`` is the same as ``None``.
    ties : {"stable", "average"}
        ``"stable"``: rank by (Hamming distance, database index), as MATLAB's stable ``sort``.
        ``"average"``: exact expectation of AP (or AP@R) over all orders of the tied items.
        For a tie group of ``n`` items, ``r`` of them relevant, after ``N0`` items of which ``R0``
        are relevant, the expected sum of ``P@rank`` over its relevant items is
        ``(r/n) [n b + (R0 + 1 - b (N0 + 1)) (H(N0 + n) - H(N0))]`` with ``b = (r-1)/(n-1)`` and
        harmonic numbers ``H``. For AP@R the group that straddles rank R contributes through the
        hypergeometric number of its relevant items that land inside the top R.
    no_relevant : {"zero", "drop"}
        Queries with no relevant database item at all (``R_q = 0``) get AP 0 (DCMH) or are
        removed from the result (DeepHash). With ``top_k``, a query that has relevant items but
        none in the top R always gets AP@R = 0.

    Returns
    -------
    numpy.ndarray of float64, shape (n_q,) (fewer rows with ``no_relevant="drop"``)
    """
    if ties not in ("stable", "average"):
        raise ValueError(f"ties must be 'stable' or 'average', got {ties!r}")
    if no_relevant not in ("zero", "drop"):
        raise ValueError(f"no_relevant must be 'zero' or 'drop', got {no_relevant!r}")
    qp, dp, ql, dl, c = _prepare(query_codes, db_codes, query_labels, db_labels)
    nq, nd = qp.shape[0], dp.shape[0]
    k = _check_top_k(top_k, nd)
    if ties == "stable":
        ap = np.zeros(nq, dtype=np.float64)
        n_rel = np.zeros(nq, dtype=np.int64)
        _stable(qp, dp, ql, dl, c, k, True, ap, n_rel, np.zeros(1, dtype=np.int64),
                np.zeros((1, 1), dtype=np.int64))
    else:
        cnt, rel = _counts(qp, dp, ql, dl, c)
        n_rel = rel.sum(axis=1)
        ap = np.zeros(nq, dtype=np.float64)
        _run_chunked(_average_chunk, nq, nd, cnt, rel, k, ap)
    if no_relevant == "drop":
        keep = n_rel > 0
        if not keep.any():
            raise ValueError(f"no_relevant='drop' removed all {nq} queries: no query shares a label "
                             "with any database item")
        ap = ap[keep]
    return ap


def mean_average_precision(query_codes, db_codes, query_labels, db_labels, top_k=None, ties="stable",
                           no_relevant="zero") -> float:
    """Mean of :func:`average_precision` over the queries (mAP@all, or mAP@R with ``top_k=R``).

    Parameters and conventions are those of :func:`average_precision`. The golden case of
    The toy case of DCMH's ``calc_hammingranking.py`` gives 0.7041667 with ``ties="stable"`` and 0.6013021 with ``ties="average"``.

    Returns
    -------
    float
    """
    return float(np.mean(average_precision(query_codes, db_codes, query_labels, db_labels, top_k=top_k,
                                           ties=ties, no_relevant=no_relevant)))


# --------------------------------------------------------------------------------------------------
# hash lookup


class PRCurve(NamedTuple):
    """Hash-lookup precision-recall curve, one entry per Hamming radius ``r = 0..c``.

    ``precision[r]`` is NaN where no query retrieves anything within radius ``r`` (undefined, so a
    plot skips the point instead of drawing a fake 0 or 1).
    """

    radius: np.ndarray
    precision: np.ndarray
    recall: np.ndarray


def pr_curve(query_codes, db_codes, query_labels, db_labels) -> PRCurve:
    r"""Hash-lookup PR curve pooled over all query-database pairs (DCMH ``calcPreRecRadiusLabel.m``).

    .. math:: P(r) = \frac{\sum_q \#\mathrm{rel}_{\le r}(q)}{\sum_q \#\mathrm{ret}_{\le r}(q)}, \qquad
              R(r) = \frac{\sum_q \#\mathrm{rel}_{\le r}(q)}{\sum_q R_q}

    for ``r = 0..c``. Recall is non-decreasing and equals 1 at ``r = c``. Where nothing is retrieved
    by any query (:math:`\sum_q \#\mathrm{ret}_{\le r} = 0`) the precision is undefined and reported
    as NaN (DCMH's ``+eps`` would report 0).

    Returns
    -------
    PRCurve
        ``radius`` int64 (c + 1,), ``precision`` and ``recall`` float64 (c + 1,).

    Raises
    ------
    ValueError
        If no query has any relevant database item (recall undefined everywhere).
    """
    qp, dp, ql, dl, c = _prepare(query_codes, db_codes, query_labels, db_labels)
    cnt, rel = _counts(qp, dp, ql, dl, c)
    ret_le = np.cumsum(cnt.sum(axis=0))
    rel_le = np.cumsum(rel.sum(axis=0))
    total_rel = rel_le[-1]
    if total_rel == 0:
        raise ValueError("no query shares a label with any database item: recall is undefined")
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(ret_le > 0, rel_le / np.maximum(ret_le, 1), np.nan)
    recall = rel_le / total_rel
    return PRCurve(np.arange(c + 1, dtype=np.int64), precision.astype(np.float64), recall.astype(np.float64))


def precision_radius_curve(query_codes, db_codes, query_labels, db_labels, mode="per_query") -> np.ndarray:
    """Precision of hash lookup within every Hamming radius ``r = 0..c``, in one counting pass.

    Parameters
    ----------
    mode : {"per_query", "pooled"}
        As in :func:`precision_at_radius`: ``"per_query"`` averages #relevant/#retrieved over queries with
        0 for an empty ball; ``"pooled"`` divides the relevant by the retrieved summed over all queries
        (0 where no query retrieves anything).

    Returns
    -------
    numpy.ndarray of float64, shape (c + 1,)
        Entry ``r`` is :func:`precision_at_radius` with ``radius=r``.
    """
    if mode not in ("per_query", "pooled"):
        raise ValueError(f"mode must be 'per_query' or 'pooled', got {mode!r}")
    cnt, rel = _counts(*_prepare(query_codes, db_codes, query_labels, db_labels))
    ret, hit = np.cumsum(cnt, axis=1), np.cumsum(rel, axis=1)
    if mode == "pooled":
        total, hits = ret.sum(axis=0), hit.sum(axis=0)
        return np.where(total > 0, hits / np.maximum(total, 1), 0.0)
    return np.where(ret > 0, hit / np.maximum(ret, 1), 0.0).mean(axis=0)


def precision_at_radius(query_codes, db_codes, query_labels, db_labels, radius=2, mode="per_query") -> float:
    """Precision of hash lookup within Hamming radius ``radius`` (items with ``d_H <= radius``).

    Parameters
    ----------
    radius : int >= 0
        Radii above the code length retrieve the whole database.
    mode : {"per_query", "pooled"}
        ``"per_query"`` (DCH, the default for "P@H<=2"): mean over queries of #relevant/#retrieved,
        with 0 for a query whose ball is empty. ``"pooled"`` (DCMH): sum of relevant over sum of
        retrieved across all queries; 0 when no query retrieves anything (DCMH's ``+eps``).

    Returns
    -------
    float
    """
    if isinstance(radius, (bool, np.bool_)) or not isinstance(radius, numbers.Integral) or radius < 0:
        raise ValueError(f"radius must be a non-negative integer, got {radius!r}")
    curve = precision_radius_curve(query_codes, db_codes, query_labels, db_labels, mode=mode)
    return float(curve[min(int(radius), len(curve) - 1)])


def precision_at_k(query_codes, db_codes, query_labels, db_labels, ks) -> np.ndarray:
    """Top-k precision curve under stable (distance, database index) ranking.

    Parameters
    ----------
    ks : int or sequence of int
        Cut-offs, each in ``1..n_db``.

    Returns
    -------
    numpy.ndarray of float64, shape (len(ks),)
        Mean over queries of (#relevant among the top k) / k.
    """
    qp, dp, ql, dl, c = _prepare(query_codes, db_codes, query_labels, db_labels)
    nq, nd = qp.shape[0], dp.shape[0]
    ks_arr = np.atleast_1d(np.asarray(ks))
    if ks_arr.ndim != 1 or ks_arr.size == 0 or not np.issubdtype(ks_arr.dtype, np.integer):
        raise ValueError(f"ks must be a non-empty integer or sequence of integers, got {ks!r}")
    if ks_arr.min() < 1 or ks_arr.max() > nd:
        raise ValueError(f"ks must lie in 1..n_db = 1..{nd}, got values {ks_arr.min()}..{ks_arr.max()}")
    order = np.argsort(ks_arr, kind="stable")
    ks_sorted = ks_arr[order].astype(np.int64)
    counts = np.zeros((nq, ks_sorted.size), dtype=np.int64)
    _stable(qp, dp, ql, dl, c, int(ks_sorted[-1]), False, np.zeros(1), np.zeros(1, dtype=np.int64),
            ks_sorted, counts)
    out = np.empty(ks_arr.size, dtype=np.float64)
    out[order] = counts.mean(axis=0) / ks_sorted
    return out
