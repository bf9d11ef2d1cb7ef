"""Tests for hashnotes.metrics against slow brute-force references written here."""
import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
import torch

from hashnotes import codes, metrics

# ------------------------------------------------------------------------ slow references


def ref_distances(qB, rB):
    """Full queries x database Hamming matrix, counted coordinate by coordinate."""
    return (np.asarray(qB)[:, None, :] != np.asarray(rB)[None, :, :]).sum(-1)


def ref_relevance(qL, rL):
    return (np.asarray(qL, dtype=np.int64) @ np.asarray(rL, dtype=np.int64).T) > 0


def ap_of_sequence(rel, k):
    """AP@k of a 0/1 relevance sequence in rank order, normalised by the hits within the top k."""
    hits, total = 0, 0.0
    for pos in range(min(k, len(rel))):
        if rel[pos]:
            hits += 1
            total += hits / (pos + 1)
    return total / hits if hits else 0.0


def ref_ap_stable(qB, rB, qL, rL, top_k=None, no_relevant="zero"):
    D, S = ref_distances(qB, rB), ref_relevance(qL, rL)
    k = D.shape[1] if top_k is None else top_k
    out = []
    for i in range(D.shape[0]):
        if S[i].sum() == 0 and no_relevant == "drop":
            continue
        order = np.argsort(D[i], kind="stable")
        out.append(ap_of_sequence(S[i, order], k))
    return np.array(out)


def ref_ap_all_tie_orders(qB, rB, qL, rL, top_k=None):
    """Exact tie-averaged AP by enumerating every order of every tie group (tiny cases only)."""
    D, S = ref_distances(qB, rB), ref_relevance(qL, rL)
    k = D.shape[1] if top_k is None else top_k
    out = []
    for i in range(D.shape[0]):
        groups = [S[i, D[i] == d].tolist() for d in np.unique(D[i])]
        total, count = 0.0, 0
        for combo in itertools.product(*[itertools.permutations(g) for g in groups]):
            seq = [x for grp in combo for x in grp]
            total += ap_of_sequence(seq, k)
            count += 1
        out.append(total / count)
    return np.array(out)


def ref_ap_average_fraction(qB, rB, qL, rL, top_k=None):
    """Exact tie-averaged AP@k with rational arithmetic, position by position (no harmonic numbers).

    For a tie group of n items (r relevant) after N0 items (R0 relevant), position p of the group holds
    a relevant item with probability r/n; given that, the expected number of relevant items among the
    group's first p - 1 positions is (p-1)(r-1)/(n-1). The group that straddles rank k is handled by
    conditioning on X = #relevant among its first t positions (hypergeometric).
    """
    D, S = ref_distances(qB, rB), ref_relevance(qL, rL)
    N = D.shape[1]
    k = N if top_k is None else min(top_k, N)

    def group_sum(N0, R0, n, r):
        total = Fraction(0)
        for p in range(1, n + 1):
            e_before = Fraction((p - 1) * (r - 1), n - 1) if n > 1 else Fraction(0)
            total += Fraction(r, n) * (R0 + 1 + e_before) / (N0 + p)
        return total

    out = []
    for i in range(D.shape[0]):
        if S[i].sum() == 0:
            out.append(0.0)
            continue
        N0 = R0 = 0
        s = Fraction(0)
        value = None
        for d in np.unique(D[i]):
            n, r = int((D[i] == d).sum()), int(S[i, D[i] == d].sum())
            if N0 + n <= k:
                s += group_sum(N0, R0, n, r)
                N0, R0 = N0 + n, R0 + r
                continue
            t = k - N0
            acc = Fraction(0)
            for x in range(0, min(r, t) + 1):
                pmf = Fraction(math.comb(r, x) * math.comb(n - r, t - x), math.comb(n, t))
                if pmf and R0 + x > 0:
                    acc += pmf * (s + group_sum(N0, R0, t, x)) / (R0 + x)
            value = acc
            break
        if value is None:
            value = s / R0 if R0 else Fraction(0)
        out.append(float(value))
    return np.array(out)


def ref_pr(qB, rB, qL, rL):
    D, S = ref_distances(qB, rB), ref_relevance(qL, rL)
    c = np.asarray(qB).shape[1]
    P, R = [], []
    for r in range(c + 1):
        ret = (D <= r).sum()
        rel = ((D <= r) & S).sum()
        P.append(rel / ret if ret else np.nan)
        R.append(rel / S.sum())
    return np.array(P), np.array(R)


def ref_precision_at_radius(qB, rB, qL, rL, radius, mode):
    D, S = ref_distances(qB, rB), ref_relevance(qL, rL)
    ball = D <= radius
    if mode == "pooled":
        return (ball & S).sum() / ball.sum() if ball.sum() else 0.0
    vals = [(ball[i] & S[i]).sum() / ball[i].sum() if ball[i].sum() else 0.0 for i in range(D.shape[0])]
    return float(np.mean(vals))


def ref_precision_at_k(qB, rB, qL, rL, ks):
    D, S = ref_distances(qB, rB), ref_relevance(qL, rL)
    out = []
    for k in ks:
        vals = [S[i, np.argsort(D[i], kind="stable")[:k]].sum() / k for i in range(D.shape[0])]
        out.append(np.mean(vals))
    return np.array(out)


def random_case(seed, nq, nd, c, n_labels=6, p_label=0.2, n_distinct=None):
    """Random codes and labels; some queries get no label at all (so no relevant item).

    ``n_distinct`` draws database codes from a small pool so that ties are plentiful."""
    rng = np.random.default_rng(seed)
    qB = np.where(rng.random((nq, c)) < 0.5, 1, -1).astype(np.int8)
    if n_distinct:
        pool = np.where(rng.random((n_distinct, c)) < 0.5, 1, -1).astype(np.int8)
        rB = pool[rng.integers(0, n_distinct, nd)]
    else:
        rB = np.where(rng.random((nd, c)) < 0.5, 1, -1).astype(np.int8)
    qL = (rng.random((nq, n_labels)) < p_label).astype(np.uint8)
    rL = (rng.random((nd, n_labels)) < p_label).astype(np.uint8)
    qL[0] = 0  # a query with no label: relevant to nothing
    return qB, rB, qL, rL


# ------------------------------------------------------------------------------- golden case


def test_golden_stable(golden_case):
    g = golden_case
    ap = metrics.average_precision(g["qB"], g["rB"], g["qL"], g["rL"])
    np.testing.assert_allclose(ap, [0.583333, 0.950000, 0.477778, 0.805556], atol=5e-7)
    assert metrics.mean_average_precision(g["qB"], g["rB"], g["qL"], g["rL"]) == pytest.approx(0.7041667, abs=5e-8)
    np.testing.assert_allclose(ap, ref_ap_stable(g["qB"], g["rB"], g["qL"], g["rL"]), atol=1e-12)


def test_golden_tie_averaged(golden_case):
    g = golden_case
    m = metrics.mean_average_precision(g["qB"], g["rB"], g["qL"], g["rL"], ties="average")
    assert m == pytest.approx(0.6013021, abs=5e-8)
    ap = metrics.average_precision(g["qB"], g["rB"], g["qL"], g["rL"], ties="average")
    np.testing.assert_allclose(ap, ref_ap_all_tie_orders(g["qB"], g["rB"], g["qL"], g["rL"]), atol=1e-12)


def test_golden_pr_curve_by_hand(golden_case):
    g = golden_case
    # Hand-computed distances (rows: queries, columns: database items) and relevance:
    #   q1: d = [1,2,2,3,4,2], rel = [0,1,1,0,0,0]      q2: d = [3,2,2,3,2,2], rel = [1,1,1,0,1,0]
    #   q3: d = [3,4,4,1,2,0], rel = [1,1,0,0,1,0]      q4: d = [1,2,2,1,2,2], rel = [1,1,1,0,0,0]
    # Retrieved within radius r, summed over queries: r=0: 1, r=1: 5, r=2: 17, r=3: 21, r=4: 24.
    # Relevant among them:                            r=0: 0, r=1: 1, r=2: 9,  r=3: 11, r=4: 12 (= sum R_q).
    pr = metrics.pr_curve(g["qB"], g["rB"], g["qL"], g["rL"])
    np.testing.assert_array_equal(pr.radius, [0, 1, 2, 3, 4])
    np.testing.assert_allclose(pr.precision, [0 / 1, 1 / 5, 9 / 17, 11 / 21, 12 / 24], atol=1e-15)
    np.testing.assert_allclose(pr.recall, [0 / 12, 1 / 12, 9 / 12, 11 / 12, 12 / 12], atol=1e-15)
    # Per-query precision within radius 2: q1 2/4, q2 3/4, q3 1/3, q4 3/6 -> mean 0.5208333...
    p = metrics.precision_at_radius(g["qB"], g["rB"], g["qL"], g["rL"], radius=2)
    assert p == pytest.approx((2 / 4 + 3 / 4 + 1 / 3 + 3 / 6) / 4, abs=1e-15)
    # Pooled (DCMH): 9 / 17.
    p = metrics.precision_at_radius(g["qB"], g["rB"], g["qL"], g["rL"], radius=2, mode="pooled")
    assert p == pytest.approx(9 / 17, abs=1e-15)
    # Radius 0: only q3 retrieves anything (database item 6, not relevant) -> per-query 0, pooled 0.
    assert metrics.precision_at_radius(g["qB"], g["rB"], g["qL"], g["rL"], radius=0) == 0.0


def test_golden_precision_at_k_by_hand(golden_case):
    g = golden_case
    # Stable rankings' relevance: q1 [0,1,1,0,0,0], q2 [1,1,1,0,1,0], q3 [0,0,1,1,1,0], q4 [1,0,1,1,0,0]
    # P@1 = (0+1+0+1)/4, P@2 = (1+2+0+1)/8, P@3 = (2+3+1+2)/12, P@6 = 12/24.
    p = metrics.precision_at_k(g["qB"], g["rB"], g["qL"], g["rL"], ks=[3, 1, 6, 2])
    np.testing.assert_allclose(p, [8 / 12, 2 / 4, 12 / 24, 4 / 8], atol=1e-15)


def test_golden_stable_equals_mean_over_all_database_orders(golden_case):
    """Averaging the stable AP over all 6! database orders gives the tie-averaged AP."""
    g = golden_case
    aps = [metrics.average_precision(g["qB"][:, :], g["rB"][list(p)], g["qL"], g["rL"][list(p)])
           for p in itertools.permutations(range(6))]
    np.testing.assert_allclose(np.mean(aps, axis=0),
                               metrics.average_precision(g["qB"], g["rB"], g["qL"], g["rL"], ties="average"),
                               atol=1e-12)


# ----------------------------------------------------------------------- random vs references


@pytest.mark.parametrize("c", [5, 70])
def test_every_small_database_size(c):
    """The kernels cut the database into four blocks (the last one takes the remainder): every size from 1 to
    13 items, tied or not, one or several code words, gives the references' numbers (the per-distance counts
    behind the tie-averaged AP, the PR curve and precision@radius included)."""
    for nd in range(1, 14):
        qB, rB, qL, rL = random_case(nd, 6, nd, c, n_labels=4, p_label=0.4, n_distinct=3 if nd % 2 else None)
        for k in (None, 1, max(1, nd - 1)):
            np.testing.assert_allclose(metrics.average_precision(qB, rB, qL, rL, top_k=k),
                                       ref_ap_stable(qB, rB, qL, rL, top_k=k), atol=1e-12, rtol=0)
        ks = sorted({1, nd})
        np.testing.assert_allclose(metrics.precision_at_k(qB, rB, qL, rL, ks), ref_precision_at_k(qB, rB, qL, rL, ks),
                                   atol=1e-12, rtol=0)
        cnt, rel = metrics.distance_counts(qB, rB, qL, rL)
        D, S = ref_distances(qB, rB), ref_relevance(qL, rL)
        for d in range(c + 1):
            np.testing.assert_array_equal(cnt[:, d], (D == d).sum(1))
            np.testing.assert_array_equal(rel[:, d], ((D == d) & S).sum(1))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("c", [12, 70])
@pytest.mark.parametrize("top_k", [None, 1, 7, "N", "N+5"])
def test_stable_ap_matches_reference(seed, c, top_k):
    qB, rB, qL, rL = random_case(seed, 17, 60, c, n_distinct=15 if seed == 2 else None)
    k = {"N": 60, "N+5": 65}.get(top_k, top_k)
    for no_rel in ("zero", "drop"):
        got = metrics.average_precision(qB, rB, qL, rL, top_k=k, no_relevant=no_rel)
        np.testing.assert_allclose(got, ref_ap_stable(qB, rB, qL, rL, top_k=k, no_relevant=no_rel),
                                   atol=1e-9, rtol=0)
    assert metrics.mean_average_precision(qB, rB, qL, rL, top_k=k) == pytest.approx(
        ref_ap_stable(qB, rB, qL, rL, top_k=k).mean(), abs=1e-9)


def heavy_tie_case(seed, nq, nd, c, n_codes, n_labels=3, p_label=0.35):
    """Database codes drawn from only ``n_codes`` distinct codes (at most n_codes distinct distances per query:
    tie groups of hundreds of items), relevant and irrelevant items interleaved within every group; queries 0
    and 1 share no label with any item."""
    rng = np.random.default_rng(seed)
    pool = np.where(rng.random((n_codes, c)) < 0.5, 1, -1).astype(np.int8)
    rB = pool[rng.integers(0, n_codes, nd)]
    qB = np.vstack([pool[rng.integers(0, n_codes, nq // 2)],
                    np.where(rng.random((nq - nq // 2, c)) < 0.5, 1, -1).astype(np.int8)])
    rL = (rng.random((nd, n_labels)) < p_label).astype(np.uint8)
    rL[:, -1] = 0  # the last label is nobody's ...
    qL = (rng.random((nq, n_labels)) < p_label).astype(np.uint8)
    qL[np.arange(nq), rng.integers(0, n_labels - 1, nq)] = 1  # every other query shares a label with someone
    qL[:2] = 0
    qL[1, -1] = 1  # ... so query 1 has a label but no relevant item; query 0 has no label at all
    return qB, rB, qL, rL


@pytest.mark.parametrize("threaded", [False, True])
@pytest.mark.parametrize("seed, c, n_codes", [(0, 3, 4), (1, 8, 3), (2, 64, 5), (3, 70, 2)])
def test_stable_heavy_ties_top_k_and_no_relevant_match_reference(monkeypatch, threaded, seed, c, n_codes):
    """Stable AP (and AP@k, precision@k) equal the sort-and-scan reference to 1e-12 when every query's ranking
    is a handful of tie groups of ~100 items, for cuts inside, at the edges of and beyond a tie group, and for
    queries with no relevant item (AP 0, or dropped); the thread pool (forced on) gives the same numbers."""
    if threaded:
        monkeypatch.setattr(codes, "_PARALLEL_MIN_PAIRS", 0)
    nd = 403  # not a multiple of 4: the kernels' last block takes the remainder
    qB, rB, qL, rL = heavy_tie_case(seed, 12, nd, c, n_codes)
    D, S = ref_distances(qB, rB), ref_relevance(qL, rL)
    assert S[0].sum() == 0 and S[1].sum() == 0 and S[2:].sum(1).min() > 0
    assert max(np.bincount(D[i]).max() for i in range(len(D))) >= nd // n_codes  # big tie groups
    # cuts at every tie-group boundary of query 2 and one item either side of it, plus 1, N - 1, N, N + 7
    edges = np.cumsum(np.bincount(D[2]))
    cuts = sorted({1, nd - 1, nd, nd + 7, *[int(e) + s for e in edges for s in (-1, 0, 1) if 1 <= e + s <= nd]})
    for k in [None, *cuts]:
        want = ref_ap_stable(qB, rB, qL, rL, top_k=k)
        got = metrics.average_precision(qB, rB, qL, rL, top_k=k)
        np.testing.assert_allclose(got, want, atol=1e-12, rtol=0)
        assert got[0] == 0.0 and got[1] == 0.0
        np.testing.assert_allclose(metrics.average_precision(qB, rB, qL, rL, top_k=k, no_relevant="drop"),
                                   want[2:], atol=1e-12, rtol=0)
    ks = [k for k in cuts if k <= nd]
    np.testing.assert_allclose(metrics.precision_at_k(qB, rB, qL, rL, ks), ref_precision_at_k(qB, rB, qL, rL, ks),
                               atol=1e-12, rtol=0)


def test_stable_all_items_tied():
    """One tie group holding the whole database: the stable AP is the AP of the relevance sequence in database
    order, at every cut, and differs from the tie-averaged value."""
    rng = np.random.default_rng(3)
    nd = 257
    rB = np.ones((nd, 16), dtype=np.int8)
    qB = np.vstack([np.ones((1, 16)), -np.ones((1, 16))]).astype(np.int8)  # distance 0 and 16 to every item
    rL = (rng.random((nd, 1)) < 0.4).astype(np.uint8)
    qL = np.ones((2, 1), dtype=np.uint8)
    rel = rL[:, 0].astype(bool)
    for k in (None, 1, 2, 50, 128, 256, 257):
        want = ap_of_sequence(rel, nd if k is None else k)
        np.testing.assert_allclose(metrics.average_precision(qB, rB, qL, rL, top_k=k), [want, want],
                                   atol=1e-12, rtol=0)
    tie = metrics.average_precision(qB, rB, qL, rL, ties="average")
    np.testing.assert_allclose(tie, ref_ap_average_fraction(qB, rB, qL, rL), atol=1e-12, rtol=0)
    assert abs(tie[0] - ap_of_sequence(rel, nd)) > 1e-3


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("top_k", [None, 1, 3, 4, 7])
def test_average_ap_matches_enumeration_tiny(seed, top_k):
    # 7 items, 3 bits -> large tie groups; enumeration of every tie order is still small
    qB, rB, qL, rL = random_case(seed, 5, 7, 3, n_labels=3, p_label=0.4)
    got = metrics.average_precision(qB, rB, qL, rL, top_k=top_k, ties="average")
    np.testing.assert_allclose(got, ref_ap_all_tie_orders(qB, rB, qL, rL, top_k=top_k), atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("c", [12, 70])
@pytest.mark.parametrize("top_k", [None, 1, 7, 60, 65])
def test_average_ap_matches_exact_rational_reference(seed, c, top_k):
    qB, rB, qL, rL = random_case(seed, 9, 60, c, n_distinct=12)
    got = metrics.average_precision(qB, rB, qL, rL, top_k=top_k, ties="average")
    np.testing.assert_allclose(got, ref_ap_average_fraction(qB, rB, qL, rL, top_k=top_k), atol=1e-12)


def test_average_ap_large_groups_accurate():
    """Groups of thousands of items after many earlier items (asymptotic harmonic-number branch)."""
    rng = np.random.default_rng(5)
    nd, c = 3000, 2
    qB = np.ones((2, c), dtype=np.int8)
    rB = np.where(rng.random((nd, c)) < 0.5, 1, -1).astype(np.int8)
    qL = np.array([[1, 0], [0, 1]], dtype=np.uint8)
    rL = (rng.random((nd, 2)) < 0.3).astype(np.uint8)
    for k in (None, 1000, 2999):
        got = metrics.average_precision(qB, rB, qL, rL, top_k=k, ties="average")
        np.testing.assert_allclose(got, ref_ap_average_fraction(qB, rB, qL, rL, top_k=k), atol=1e-10)


def test_average_ap_monte_carlo():
    """Mean stable AP over random database shuffles converges to the tie-averaged AP."""
    qB, rB, qL, rL = random_case(7, 6, 80, 6, n_labels=5, p_label=0.3)
    rng = np.random.default_rng(0)
    draws = []
    for _ in range(1500):
        p = rng.permutation(80)
        draws.append(metrics.average_precision(qB, rB[p], qL, rL[p], top_k=20))
    draws = np.array(draws)
    mean, se = draws.mean(0), draws.std(0) / np.sqrt(len(draws))
    exact = metrics.average_precision(qB, rB, qL, rL, top_k=20, ties="average")
    assert np.all(np.abs(mean - exact) <= 5 * se + 1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("c", [12, 70])
def test_pr_radius_topk_match_reference(seed, c):
    qB, rB, qL, rL = random_case(seed, 13, 50, c, n_distinct=10 if seed == 2 else None)
    pr = metrics.pr_curve(qB, rB, qL, rL)
    P, R = ref_pr(qB, rB, qL, rL)
    np.testing.assert_allclose(pr.precision, P, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(pr.recall, R, atol=1e-12)
    assert np.all(np.diff(pr.recall) >= 0) and pr.recall[-1] == 1.0
    for radius in (0, 2, c // 2, c, c + 3):
        for mode in ("per_query", "pooled"):
            got = metrics.precision_at_radius(qB, rB, qL, rL, radius=radius, mode=mode)
            assert got == pytest.approx(ref_precision_at_radius(qB, rB, qL, rL, radius, mode), abs=1e-12)
    for mode in ("per_query", "pooled"):
        curve = metrics.precision_radius_curve(qB, rB, qL, rL, mode=mode)
        assert curve.shape == (c + 1,)
        np.testing.assert_allclose(curve, [ref_precision_at_radius(qB, rB, qL, rL, r, mode) for r in range(c + 1)],
                                   atol=1e-12)
    ks = [1, 7, 50, 3]
    np.testing.assert_allclose(metrics.precision_at_k(qB, rB, qL, rL, ks), ref_precision_at_k(qB, rB, qL, rL, ks),
                               atol=1e-12)


def test_pr_curve_undefined_precision_is_nan():
    # every database item is at distance 2 from the query: nothing retrieved at radius 0 or 1
    qB = np.array([[1, 1]], dtype=np.int8)
    rB = np.array([[-1, -1], [-1, -1]], dtype=np.int8)
    pr = metrics.pr_curve(qB, rB, [[1]], [[1], [0]])
    assert np.isnan(pr.precision[:2]).all() and pr.precision[2] == 0.5
    np.testing.assert_array_equal(pr.recall, [0, 0, 1])
    assert metrics.precision_at_radius(qB, rB, [[1]], [[1], [0]], radius=1, mode="pooled") == 0.0


def test_many_words_codes_and_labels():
    # c = 130 bits and 100 labels: three code words and two label words
    qB, rB, qL, rL = random_case(11, 8, 40, 130, n_labels=100, p_label=0.02)
    np.testing.assert_allclose(metrics.average_precision(qB, rB, qL, rL), ref_ap_stable(qB, rB, qL, rL), atol=1e-12)
    np.testing.assert_allclose(metrics.average_precision(qB, rB, qL, rL, ties="average"),
                               ref_ap_average_fraction(qB, rB, qL, rL), atol=1e-12)


# -------------------------------------------------------------------- properties and conventions


def test_tie_averaged_is_permutation_invariant_stable_is_not(golden_case):
    g = golden_case
    perm = np.array([5, 3, 0, 4, 2, 1])
    avg = metrics.average_precision(g["qB"], g["rB"], g["qL"], g["rL"], ties="average")
    avg_p = metrics.average_precision(g["qB"], g["rB"][perm], g["qL"], g["rL"][perm], ties="average")
    np.testing.assert_allclose(avg_p, avg, atol=1e-14)
    st_p = metrics.average_precision(g["qB"], g["rB"][perm], g["qL"], g["rL"][perm])
    np.testing.assert_allclose(st_p, ref_ap_stable(g["qB"], g["rB"][perm], g["qL"], g["rL"][perm]), atol=1e-12)
    assert abs(st_p.mean() - 0.7041667) > 1e-3
    # larger random case
    qB, rB, qL, rL = random_case(3, 10, 200, 8)
    perm = np.random.default_rng(1).permutation(200)
    for k in (None, 13):
        np.testing.assert_allclose(metrics.average_precision(qB, rB[perm], qL, rL[perm], top_k=k, ties="average"),
                                   metrics.average_precision(qB, rB, qL, rL, top_k=k, ties="average"), atol=1e-12)


def test_no_relevant_conventions():
    qB, rB, qL, rL = random_case(4, 6, 30, 16)
    n_rel = ref_relevance(qL, rL).sum(1)
    assert n_rel[0] == 0 and (n_rel > 0).sum() >= 2
    for ties in ("stable", "average"):
        zero = metrics.average_precision(qB, rB, qL, rL, ties=ties)
        drop = metrics.average_precision(qB, rB, qL, rL, ties=ties, no_relevant="drop")
        assert zero.shape == (6,) and zero[0] == 0.0 and np.isfinite(zero).all()
        np.testing.assert_array_equal(drop, zero[n_rel > 0])
        assert metrics.mean_average_precision(qB, rB, qL, rL, ties=ties, no_relevant="drop") == pytest.approx(
            zero[n_rel > 0].mean())
    with pytest.raises(ValueError, match="removed all"):
        metrics.mean_average_precision(qB, rB, np.zeros_like(qL), rL, no_relevant="drop")
    assert metrics.mean_average_precision(qB, rB, np.zeros_like(qL), rL) == 0.0


def test_map_at_r_bounded_and_differs_from_torchcmh_variant():
    # distances 0, 1, 2, 3 in database order; items 0 and 3 are relevant -> ranking rel = [1, 0, 0, 1]
    qB = np.array([[1, 1, 1, 1]], dtype=np.int8)
    rB = np.array([[1, 1, 1, 1], [1, 1, 1, -1], [1, 1, -1, -1], [1, -1, -1, -1]], dtype=np.int8)
    qL, rL = [[1]], [[1], [0], [0], [1]]
    # AP@2 (averaged over the hits inside the top 2): one hit inside the top 2, at rank 1 -> 1/1 = 1.0.
    assert metrics.mean_average_precision(qB, rB, qL, rL, top_k=2) == pytest.approx(1.0)
    # torchcmh's calc_map_k(2) averages the first min(2, R) relevant items wherever they rank:
    # (1/1 + 2/4) / 2 = 0.75, which is AP@all here, not a top-2 metric.
    assert metrics.mean_average_precision(qB, rB, qL, rL) == pytest.approx(0.75)
    assert metrics.mean_average_precision(qB, rB, qL, rL, top_k=3) == pytest.approx(1.0)
    qB2, rB2, qL2, rL2 = random_case(9, 20, 80, 10)
    for k in (1, 5, 80):
        for ties in ("stable", "average"):
            ap = metrics.average_precision(qB2, rB2, qL2, rL2, top_k=k, ties=ties)
            assert np.all((ap >= 0) & (ap <= 1 + 1e-12))


def test_accepts_torch_inputs(golden_case):
    g = golden_case
    t = {k: torch.tensor(v.astype(np.float32)) for k, v in g.items()}
    assert metrics.mean_average_precision(t["qB"], t["rB"], t["qL"], t["rL"]) == pytest.approx(0.7041667, abs=5e-8)


# ------------------------------------------------------------------------------- validation


def test_validation_errors(golden_case):
    g = golden_case
    qB, rB, qL, rL = g["qB"], g["rB"], g["qL"], g["rL"]
    f = metrics.mean_average_precision
    with pytest.raises(ValueError, match="query_codes has 4 columns .* db_codes has 5"):
        f(qB, np.hstack([rB, rB[:, :1]]), qL, rL)
    with pytest.raises(ValueError, match="query_labels has 3 rows"):
        f(qB, rB, qL[:3], rL)
    with pytest.raises(ValueError, match="db_labels has 5 rows"):
        f(qB, rB, qL, rL[:5])
    with pytest.raises(ValueError, match="db_labels has 3 label columns"):
        f(qB, rB, qL, rL[:, :3])
    with pytest.raises(ValueError, match="to_pm1"):
        f((qB > 0).astype(int), rB, qL, rL)
    with pytest.raises(ValueError, match="db_codes must contain only -1 and"):
        f(qB, rB * 2, qL, rL)
    with pytest.raises(ValueError, match="query_codes contains NaN"):
        f(np.where(qB > 0, np.nan, -1.0), rB, qL, rL)
    with pytest.raises(ValueError, match="query_labels contains NaN"):
        f(qB, rB, np.where(qL > 0, np.nan, 0.0), rL)
    with pytest.raises(ValueError, match="db_labels must be binary"):
        f(qB, rB, qL, rL * 3)
    with pytest.raises(ValueError, match="query_codes must be non-empty"):
        f(qB[:0], rB, qL[:0], rL)
    with pytest.raises(ValueError, match="db_codes must be non-empty"):
        f(qB, rB[:0], qL, rL[:0])
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="top_k"):
            f(qB, rB, qL, rL, top_k=bad)
    with pytest.raises(ValueError, match="ties"):
        f(qB, rB, qL, rL, ties="random")
    with pytest.raises(ValueError, match="no_relevant"):
        f(qB, rB, qL, rL, no_relevant="nan")
    with pytest.raises(ValueError, match="radius"):
        metrics.precision_at_radius(qB, rB, qL, rL, radius=-1)
    with pytest.raises(ValueError, match="mode"):
        metrics.precision_at_radius(qB, rB, qL, rL, mode="micro")
    with pytest.raises(ValueError, match="ks must lie in 1..n_db"):
        metrics.precision_at_k(qB, rB, qL, rL, ks=[0, 3])
    with pytest.raises(ValueError, match="ks must lie in 1..n_db"):
        metrics.precision_at_k(qB, rB, qL, rL, ks=7)
    with pytest.raises(ValueError, match="recall is undefined"):
        metrics.pr_curve(qB, rB, np.zeros_like(qL), rL)


# ---------------------------------------------------------------------------------- real data


def test_real_mirflickr_labels_stable_vs_reference(shared_file):
    scipy_io = pytest.importorskip("scipy.io")
    L = scipy_io.loadmat(str(shared_file("mirflickr25k-lall.mat")))["LAll"].astype(np.uint8)
    rng = np.random.default_rng(0)
    idx = rng.permutation(L.shape[0])
    q, db = idx[:20], idx[20:820]
    qB = np.where(rng.random((20, 16)) < 0.5, 1, -1).astype(np.int8)
    rB = np.where(rng.random((800, 16)) < 0.5, 1, -1).astype(np.int8)
    np.testing.assert_allclose(metrics.average_precision(qB, rB, L[q], L[db]), ref_ap_stable(qB, rB, L[q], L[db]),
                               atol=1e-9)
    np.testing.assert_allclose(metrics.average_precision(qB, rB, L[q], L[db], top_k=300, ties="average"),
                               ref_ap_average_fraction(qB, rB, L[q], L[db], top_k=300), atol=1e-9)


# ------------------------------------------------------------------------------ threaded path


@pytest.mark.parametrize("c", [12, 70])
def test_threaded_kernels_match_reference(monkeypatch, c):
    """Small inputs run single-threaded; force the thread pool and compare again."""
    monkeypatch.setattr(codes, "_PARALLEL_MIN_PAIRS", 0)
    qB, rB, qL, rL = random_case(21, 37, 90, c, n_distinct=20)
    for k in (None, 7):
        np.testing.assert_allclose(metrics.average_precision(qB, rB, qL, rL, top_k=k),
                                   ref_ap_stable(qB, rB, qL, rL, top_k=k), atol=1e-9)
        np.testing.assert_allclose(metrics.average_precision(qB, rB, qL, rL, top_k=k, ties="average"),
                                   ref_ap_average_fraction(qB, rB, qL, rL, top_k=k), atol=1e-9)
    P, R = ref_pr(qB, rB, qL, rL)
    np.testing.assert_allclose(metrics.pr_curve(qB, rB, qL, rL).precision, P, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(metrics.precision_at_k(qB, rB, qL, rL, [1, 5, 90]),
                               ref_precision_at_k(qB, rB, qL, rL, [1, 5, 90]), atol=1e-12)


def test_large_case_default_dispatch_matches_reference():
    qB, rB, qL, rL = random_case(8, 450, 5000, 16, n_labels=24, p_label=0.16)
    assert 450 * 5000 >= codes._PARALLEL_MIN_PAIRS  # the default dispatch uses the thread pool
    np.testing.assert_allclose(metrics.average_precision(qB, rB, qL, rL), ref_ap_stable(qB, rB, qL, rL), atol=1e-9)
