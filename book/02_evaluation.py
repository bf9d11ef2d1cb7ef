# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Evaluation: mAP, ties and hash lookup
#
# A hashing paper's tables are mAP numbers, and small differences decide which method "wins". Those numbers depend
# on conventions that papers rarely state: how tied distances are ordered, what "mAP@k" means, what happens to a
# query with no relevant item, whether precision within a radius is averaged per query or pooled. This chapter
# derives each metric by hand on a case small enough to check with a pencil, shows how much each convention moves
# the number, and lists the traps found in common research metric code. Everything is checked against
# `hashnotes.metrics`, which every later chapter uses. The package's conventions are collected in
{ref}`app-notation`: {ref}`dec-ties`, {ref}`dec-no-relevant`, {ref}`dec-map-at-r` and {ref}`dec-radius`.

# %% tags=["hide-input"]
# Setup, the same in every chapter (written by `python3 make.py sync`; edit make.py, not here).
# Installs hashnotes 0.1.0 when it is not importable (e.g. in Colab) and reports the hardware: with a GPU
# the chapters train their larger ("full") settings, on a CPU the reduced ones each chapter states.
import importlib.util

if importlib.util.find_spec("hashnotes") is None:
    get_ipython().run_line_magic("pip", "install -q 'hashnotes @ git+https://github.com/hashnotes/hashnotes@v0.1.0'")

import torch

import hashnotes

GPU = torch.cuda.is_available()
PRESET = "full" if GPU else "reduced"
print(f"hashnotes {hashnotes.__version__}, torch {torch.__version__}; "
      + (f"GPU: {torch.cuda.get_device_name(0)}" if GPU else "no GPU") + f"; training settings: {PRESET}")

# %%
import itertools
import math

import matplotlib.pyplot as plt
import numpy as np
from tqdm.auto import tqdm

from hashnotes import codes, data, metrics, plots, widgets

# %% [markdown]
# ## Mean average precision under Hamming ranking
#
# Codes are row-major ({ref}`dec-layout`): a query set is an `(m, c)` array of $\pm1$ and a database an `(n, c)` array (the papers'
# column-major $\mathbf B \in \{\pm1\}^{c\times n}$ is our `B.T`). Two items are **relevant** when they share at
# least one label. For a query $q$, rank the database by Hamming distance; let $\mathrm{rel}_k \in \{0,1\}$ mark
# whether the item at rank $k$ is relevant, and $R_q$ the number of relevant items in the database. Precision at
# rank $k$ and average precision are
#
# $$
# P@k = \frac1k \sum_{i=1}^{k} \mathrm{rel}_i ,
# $$ (eq-pk)
#
# $$
# \mathrm{AP}(q) = \frac{1}{R_q} \sum_{k=1}^{N} P@k \cdot \mathrm{rel}_k ,
# \qquad
# \mathrm{mAP} = \frac{1}{|Q|} \sum_{q \in Q} \mathrm{AP}(q),
# $$ (eq-ap)
#
# that is, AP averages the precision at the rank of each relevant item. A query with $R_q = 0$ contributes
# $\mathrm{AP} = 0$ (the DCMH reference code skips it in the sum but still divides by $|Q|$); the package also
# offers `no_relevant="drop"` ({ref}`dec-no-relevant`).
#
# ## The golden case, by hand
#
# The evaluation code released with DCMH {cite}`jiang2017dcmh` ships a toy example: 4 queries, 6 database items,
# 4 bits. Its expected result, $\mathrm{mAP} = 0.7041667$, is the package's golden test.

# %%
qB = np.array([[1, -1, 1, 1], [-1, -1, -1, 1], [1, 1, -1, 1], [1, 1, 1, -1]], dtype=np.int8)
rB = np.array([[1, -1, 1, -1], [-1, -1, 1, -1], [-1, -1, 1, -1], [1, 1, -1, -1], [-1, 1, -1, -1], [1, 1, -1, 1]],
              dtype=np.int8)
query_L = np.array([[0, 1, 0, 0], [1, 1, 0, 0], [1, 0, 0, 1], [0, 1, 0, 1]], dtype=np.uint8)
retrieval_L = np.array([[1, 0, 0, 1], [1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0], [1, 0, 0, 0], [0, 0, 1, 0]],
                       dtype=np.uint8)

D = codes.hamming_distance(qB, rB)
S = (query_L @ retrieval_L.T > 0)          # relevance: share at least one label
print("Hamming distances (queries x database):\n", D)
print("relevant:\n", S.astype(int))

# %% [markdown]
# We rank each query's database by `(distance, database index)`: a **stable** sort, which is what MATLAB's `sort`
# does and what the package implements. For each query the table shows the ranked list, the relevance, $P@k$ from
# {eq}`eq-pk`, and AP from {eq}`eq-ap`.

# %%
def ap_from_ranking(rel_sorted):
    """AP of one ranked 0/1 relevance list (eq-ap); 0 when nothing is relevant."""
    rel_sorted = np.asarray(rel_sorted, dtype=float)
    if rel_sorted.sum() == 0:
        return 0.0
    p_at_k = np.cumsum(rel_sorted) / np.arange(1, len(rel_sorted) + 1)
    return float((p_at_k * rel_sorted).sum() / rel_sorted.sum())


ap_hand = []
for q in range(len(qB)):
    order = np.argsort(D[q], kind="stable")
    rel = S[q, order].astype(int)
    pk = np.cumsum(rel) / np.arange(1, len(rel) + 1)
    ap_hand.append(ap_from_ranking(rel))
    print(f"query {q}:  rank  item  d_H  rel   P@k")
    for k, (i, r_, p) in enumerate(zip(order, rel, pk), start=1):
        print(f"           {k:>4}  {i:>4}  {D[q, i]:>3}  {r_:>3}  {p:5.3f}" + ("  <- counts" if r_ else ""))
    print(f"           AP = {ap_hand[-1]:.6f}\n")

print("mAP (stable ties) =", round(float(np.mean(ap_hand)), 7))
assert np.allclose(ap_hand, [0.583333, 0.950000, 0.477778, 0.805556], atol=1e-6)
widgets.glue("golden_map", float(np.mean(ap_hand)))

# the largest tie group of query 0, and what its order does to the AP
d0, s0 = D[0], S[0]
tie_d = int(max(np.unique(d0), key=lambda v: ((d0 == v).sum(), -v)))
group = np.flatnonzero(d0 == tie_d)
before = np.flatnonzero(d0 < tie_d)
after = np.flatnonzero(d0 > tie_d)
def ap_with(group_order):
    order = np.concatenate([before[np.argsort(d0[before], kind="stable")], group_order,
                            after[np.argsort(d0[after], kind="stable")]])
    return ap_from_ranking(s0[order])
best = ap_with(group[np.argsort(~s0[group], kind="stable")])
worst = ap_with(group[np.argsort(s0[group], kind="stable")])
assert len(group) > 1 and 0 < s0[group].sum() < len(group) and best > worst
for name, value in (("q0_tie_n", len(group)), ("q0_tie_d", tie_d), ("q0_tie_rel", int(s0[group].sum())),
                    ("q0_best", best), ("q0_worst", worst), ("q0_stable", ap_hand[0])):
    widgets.glue(name, value)
assert np.allclose(metrics.average_precision(qB, rB, query_L, retrieval_L), ap_hand)
assert abs(metrics.mean_average_precision(qB, rB, query_L, retrieval_L) - 0.7041667) < 1e-7

# %% [markdown]
# ## Why tie handling changes the number
#
# Hamming distances take only $c+1$ values, so most of a ranking is ties. Query 0 above has
# {glue:text}`q0_tie_n` database items tied at distance {glue:text}`q0_tie_d`, {glue:text}`q0_tie_rel` of them
# relevant. Putting the relevant ones first or last in that group gives query 0 an AP of {glue:text}`q0_best:.4f` or
# {glue:text}`q0_worst:.4f` (the stable order gives {glue:text}`q0_stable:.4f`). Three conventions are in use:
#
# - **stable** (index order; MATLAB reference, the package default): reproducible, but depends on the arbitrary
#   order of the database;
# - **an unstable sort** (`np.argsort` default, `torch.sort`): depends on the sorting algorithm and its version;
# - **tie-averaged**: the expected AP over all orders of each tie group, which depends on nothing arbitrary. The
#   package computes it exactly from per-distance counts (`ties="average"`).
#
# We check the tie-averaged value by brute force: enumerate every ordering of the database that is sorted by
# distance, and average the AP.

# %%
def ap_tie_average_bruteforce(d_row, rel_row):
    """Mean AP over all distance-sorted orderings (enumerates all permutations: tiny inputs only)."""
    values = []
    for perm in itertools.permutations(range(len(d_row))):
        if all(d_row[perm[k]] <= d_row[perm[k + 1]] for k in range(len(perm) - 1)):
            values.append(ap_from_ranking(rel_row[list(perm)]))
    return float(np.mean(values))


ap_avg = [ap_tie_average_bruteforce(D[q], S[q]) for q in range(len(qB))]
ap_default = [ap_from_ranking(S[q, np.argsort(D[q])]) for q in range(len(qB))]   # numpy's default kind
print("tie-averaged AP per query:", np.round(ap_avg, 6), " mAP =", round(float(np.mean(ap_avg)), 7))
print("np.argsort (default kind) mAP =", round(float(np.mean(ap_default)), 7),
      f"(numpy {np.__version__}; other versions and torch.sort may give other values)")
widgets.glue("golden_map_avg", float(np.mean(ap_avg)))
widgets.glue("golden_map_argsort", float(np.mean(ap_default)))
widgets.glue("numpy_version", np.__version__)
assert np.allclose(metrics.average_precision(qB, rB, query_L, retrieval_L, ties="average"), ap_avg)
assert abs(metrics.mean_average_precision(qB, rB, query_L, retrieval_L, ties="average") - 0.6013021) < 1e-7

# %% [markdown]
# Same codes, same labels: {glue:text}`golden_map:.3f` (stable), {glue:text}`golden_map_avg:.3f` (tie-averaged) or
# {glue:text}`golden_map_argsort:.3f` (numpy {glue:text}`numpy_version`'s default sort). A **permutation
# experiment** makes the point without any choice of sorting algorithm: shuffle the order of the database items
# (which means nothing) and recompute. The stable mAP moves; the tie-averaged mAP does
# not, and it equals the average of the stable mAP over shuffles.

# %%
rng = np.random.default_rng(0)
stable_over_perms = []
for _ in range(400):
    p = rng.permutation(len(rB))
    stable_over_perms.append(metrics.mean_average_precision(qB, rB[p], query_L, retrieval_L[p]))
stable_over_perms = np.array(stable_over_perms)
avg_map = metrics.mean_average_precision(qB, rB, query_L, retrieval_L, ties="average")
print(f"stable mAP over 400 database shuffles: min {stable_over_perms.min():.4f}, "
      f"max {stable_over_perms.max():.4f}, mean {stable_over_perms.mean():.4f}; tie-averaged {avg_map:.4f}")
assert abs(stable_over_perms.mean() - avg_map) < 0.01
assert stable_over_perms.max() - stable_over_perms.min() > 0.05      # the stable mAP moves with the order
for _ in range(5):                                                  # the tie-averaged one does not
    p = rng.permutation(len(rB))
    assert abs(metrics.mean_average_precision(qB, rB[p], query_L, retrieval_L[p], ties="average") - avg_map) < 1e-12

# %% [markdown]
# ## A baseline to evaluate: random projections of the tags
#
# To see the metrics on a realistic scale we need codes for thousands of items. The simplest hashing method is
# **locality-sensitive hashing by random projections** {cite}`charikar2002simhash`: centre the features $\mathbf x$, draw a Gaussian matrix
# $\mathbf W \in \mathbb R^{d\times c}$, and set $\mathbf b = \operatorname{sign}(\mathbf W^\top(\mathbf x - \bar{\mathbf x}))$.
# Two vectors at angle $\theta$ disagree on each bit with probability $\theta/\pi$, so the expected Hamming distance is
# $c\,\theta/\pi$. We hash the **tag vectors** of the toy data ({doc}`03_data` describes it) and retrieve text with text:
# no learning, no image network, but real multi-label relevance. The projection is fitted (the mean) on the
# training split only.

# %%
ds = data.toy(n=5000, seed=0)
print({k: len(getattr(ds, k)) for k in ("query", "database", "train", "val")})


def random_projection_codes(bits, seed=0):
    """Query and database codes of the tag vectors, LSH with a seeded Gaussian projection."""
    g = np.random.default_rng(seed)
    mean = ds.train.texts.mean(axis=0)
    W = g.standard_normal((ds.train.texts.shape[1], bits))
    return (codes.sign((ds.query.texts - mean) @ W).astype(np.int8),
            codes.sign((ds.database.texts - mean) @ W).astype(np.int8))


Lq, Ldb = ds.query.labels, ds.database.labels
qc, dc = random_projection_codes(32)
print("query codes", qc.shape, "database codes", dc.shape)
print(f"mAP@all (stable) = {metrics.mean_average_precision(qc, dc, Lq, Ldb):.4f}, "
      f"tie-averaged = {metrics.mean_average_precision(qc, dc, Lq, Ldb, ties='average'):.4f}")

# %% [markdown]
# ### Ties at scale
#
# With hundreds of queries the random part of the tie order averages out, but *systematic* orders do not. Two
# common ones: a database file stored sorted by class (many dataset files are), and the protocol of the evaluation
# code released with DCH {cite}`cao2018dch`, which breaks ties by the real-valued network outputs ("after sign with
# feature re-ranking"). Here the real-valued score is the projection $\mathbf W^\top(\mathbf x - \bar{\mathbf x})$
# before the sign.

# %%
def map_rerank_ties(fq, fd, ql, dl):
    """mAP when ties in Hamming distance are broken by the real-valued inner product (DCH-style)."""
    Dm_ = codes.hamming_distance(codes.sign(fq), codes.sign(fd))
    rel_ = (ql.astype(np.int32) @ dl.T.astype(np.int32)) > 0
    score = fq @ fd.T
    return float(np.mean([ap_from_ranking(rel_[i, np.lexsort((-score[i], Dm_[i]))]) for i in range(len(fq))]))


def projections(bits, seed=0):
    g = np.random.default_rng(seed)
    mean = ds.train.texts.mean(axis=0)
    W = g.standard_normal((ds.train.texts.shape[1], bits))
    return (ds.query.texts - mean) @ W, (ds.database.texts - mean) @ W


by_label = np.lexsort(Ldb.T[::-1])          # database rows sorted by their label vectors
rows = []
for bits in (8, 16, 32):
    fq, fd = projections(bits)
    q_, d_ = codes.sign(fq).astype(np.int8), codes.sign(fd).astype(np.int8)
    tie_avg = metrics.mean_average_precision(q_, d_, Lq, Ldb, ties="average")
    assert abs(metrics.mean_average_precision(q_, d_[by_label], Lq, Ldb[by_label], ties="average") - tie_avg) < 1e-12
    rows.append([bits, metrics.mean_average_precision(q_, d_, Lq, Ldb),
                 metrics.mean_average_precision(q_, d_[by_label], Lq, Ldb[by_label]),
                 metrics.mean_average_precision(q_, d_[by_label[::-1]], Lq, Ldb[by_label[::-1]]),
                 tie_avg, map_rerank_ties(fq, fd, Lq, Ldb)])
rows_a = np.array(rows)
order_spread = float(np.max(np.abs(rows_a[:, 2:4] - rows_a[:, 1:2])))
rerank_shift = float(np.max(np.abs(rows_a[:, 5] - rows_a[:, 1])))
assert order_spread > 0 and rerank_shift > 0
widgets.glue("order_spread", order_spread)
widgets.glue("rerank_shift", rerank_shift)
plots.table(rows, ["bits", "stable", "sorted database", "reversed", "tie-averaged", "re-ranked ties"])

# %% [markdown]
# Storing the same database in another order moves the stable mAP by up to {glue:text}`order_spread:.4f`, and
# re-ranking ties with real-valued scores moves it by up to {glue:text}`rerank_shift:.4f`: differences of the size
# that separate published methods in their tables. The tie-averaged value does not depend on the order (the cell
# checks it on the sorted database) and uses only the codes, which is why the package offers it
# ({ref}`dec-ties`).
#
# ### From scratch at scale
#
# The **from-scratch** version of the whole metric, on this scale, is one stable `argsort` per query. It is what
# most research code does (with an unstable sort); the package instead counts items per distance in a compiled
# pass and never sorts, which gives the same number.

# %%
def map_reference(qcodes, dcodes, ql, dl):
    Dm = codes.hamming_distance(qcodes, dcodes)
    rel = (ql.astype(np.int32) @ dl.T.astype(np.int32)) > 0
    aps = [ap_from_ranking(rel[i, np.argsort(Dm[i], kind="stable")]) for i in range(len(qcodes))]
    return float(np.mean(aps))


ref = map_reference(qc, dc, Lq, Ldb)
pkg = metrics.mean_average_precision(qc, dc, Lq, Ldb)
print(f"reference {ref:.6f}  package {pkg:.6f}")
assert abs(ref - pkg) < 1e-12

# %% [markdown]
# ## mAP@R, and the torchcmh trap
#
# Large benchmarks (NUS-WIDE, MS-COCO) report **mAP@R**: only the top $R$ of the ranking count, normalised by the
# number of relevant items *within* the top $R$,
#
# $$
# \mathrm{AP@R}(q) = \frac{1}{R'_q} \sum_{k=1}^{R} P@k \cdot \mathrm{rel}_k, \qquad R'_q = \sum_{k=1}^{R} \mathrm{rel}_k .
# $$ (eq-apr)
#
# `torchcmh`'s `calc_map_k(k)` is a different quantity under the same name: it takes the first $\min(k, R_q)$
# relevant items **wherever they are in the full ranking** and averages the precision at their ranks. For a
# query whose relevant items all sit beyond rank $k$ it still reports a positive number, so it is not a top-$k$
# metric at all. We implement both and compare.

# %%
def ap_at_R(rel_sorted, R):
    top = np.asarray(rel_sorted[:R], dtype=float)
    return ap_from_ranking(top)                      # eq-apr: normalised by the relevant items in the top R


def ap_torchcmh_style(rel_sorted, k):
    """The trap: precision at the ranks of the first min(k, R_q) relevant items, anywhere in the list."""
    rel_sorted = np.asarray(rel_sorted, dtype=float)
    hits = np.flatnonzero(rel_sorted)[:k]
    if len(hits) == 0:
        return 0.0
    return float(np.mean(np.arange(1, len(hits) + 1) / (hits + 1)))


Dm = codes.hamming_distance(qc, dc)
rel_m = (Lq.astype(np.int32) @ Ldb.T.astype(np.int32)) > 0
rankings = [rel_m[i, np.argsort(Dm[i], kind="stable")] for i in range(len(qc))]
rows = []
for R in (10, 100, 500, 2000):
    mine = np.mean([ap_at_R(r_, R) for r_ in rankings])
    pk = metrics.mean_average_precision(qc, dc, Lq, Ldb, top_k=R)
    trap = np.mean([ap_torchcmh_style(r_, R) for r_ in rankings])
    assert abs(mine - pk) < 1e-12
    rows.append([R, mine, pk, trap])
assert max(abs(r_[1] - r_[3]) for r_ in rows) > 0.01     # the two quantities differ
plots.table(rows, ["R", "mAP@R (eq-apr)", "package top_k", "torchcmh-style"])

# %% [markdown]
# The two differ (the cell asserts it) and agree only by accident. mAP@R rewards a clean top of the list; the torchcmh variant keeps reading the
# ranking until it has found $k$ relevant items, so it measures how early the first $k$ relevant items come, however
# deep that is. A paper that reports "mAP@500" computed the second way cannot be compared with one that computed
# {eq}`eq-apr`.
#
# ## Hash lookup: precision-recall by radius
#
# The other protocol treats the code as a hash key: retrieve every item within Hamming radius $r$. DCMH pools the
# counts over all queries:
#
# $$
# \begin{aligned}
# P(r) &= \frac{\sum_q \#\mathrm{rel}_{\le r}(q)}{\sum_q \#\mathrm{ret}_{\le r}(q)}, \\
# \mathrm{Rec}(r) &= \frac{\sum_q \#\mathrm{rel}_{\le r}(q)}{\sum_q R_q}, \qquad r = 0, \dots, c .
# \end{aligned}
# $$ (eq-pr-pooled)
#
# Sweeping $r$ traces a precision-recall curve. We compute it from the distance matrix and compare with
# `metrics.pr_curve`.

# %%
def pr_pooled_reference(Dm, rel, c):
    ret = np.array([(Dm <= r).sum() for r in range(c + 1)], dtype=float)
    hit = np.array([((Dm <= r) & rel).sum() for r in range(c + 1)], dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ret > 0, hit / ret, np.nan), hit / rel.sum()


curve = metrics.pr_curve(qc, dc, Lq, Ldb)
P_ref, R_ref = pr_pooled_reference(Dm, rel_m, 32)
assert np.allclose(curve.precision, P_ref, equal_nan=True) and np.allclose(curve.recall, R_ref)
plots.table([[r, curve.precision[r], curve.recall[r]] for r in range(0, 9)], ["radius", "precision", "recall"])

# %% [markdown]
# ## Precision within radius 2: per query or pooled?
#
# "Precision within Hamming radius 2" ($P@H{\le}2$) comes in two conventions that give very different numbers:
#
# - **per query** ({cite:t}`cao2018dch`, the package's default): precision of each query's radius-2 ball, **0 when the ball is empty**, averaged
#   over queries;
# - **pooled** ({cite:t}`jiang2017dcmh`): $P(2)$ of {eq}`eq-pr-pooled`, where queries with large balls weigh more and empty balls
#   weigh nothing.
#
# With long codes most balls are empty, so the per-query number collapses towards $0$ while the pooled one can stay
# high ({ref}`dec-radius`). Papers that report $P@H{\le}2$ falling with code length are usually showing the empty
# balls.

# %%
def precision_radius_reference(Dm, rel, r):
    ret = (Dm <= r).sum(1)
    hit = ((Dm <= r) & rel).sum(1)
    per_query = np.where(ret > 0, hit / np.maximum(ret, 1), 0.0).mean()
    pooled = hit.sum() / ret.sum() if ret.sum() else 0.0
    return per_query, pooled, (ret == 0).mean()


rows = []
for r in range(0, 5):
    pq, po, empty = precision_radius_reference(Dm, rel_m, r)
    assert abs(pq - metrics.precision_at_radius(qc, dc, Lq, Ldb, radius=r, mode="per_query")) < 1e-12
    assert abs(po - metrics.precision_at_radius(qc, dc, Lq, Ldb, radius=r, mode="pooled")) < 1e-12
    rows.append([r, pq, po, f"{empty:.1%}"])
plots.table(rows, ["r", "per query", "pooled", "empty balls"])

# %% [markdown]
# ## Top-k precision
#
# Finally $P@k$ averaged over queries (eq. {eq}`eq-pk` at fixed $k$), again with stable ties.

# %%
ks = np.array([1, 10, 50, 100, 500, 1000])
pk_pkg = metrics.precision_at_k(qc, dc, Lq, Ldb, ks)
pk_ref = np.array([np.mean([r_[:k].mean() for r_ in rankings]) for k in ks])
assert np.allclose(pk_pkg, pk_ref)
plots.table([[int(k), v] for k, v in zip(ks, pk_pkg)], ["k", "P@k"])

# %% [markdown]
# ## How the code length changes every metric
#
# Random projections get better with more bits: the Hamming distance becomes a finer estimate of the angle
# between tag vectors. The sweep below (five code lengths, three seeds each) is this chapter's "training run".

# %%
bit_grid = [8, 16, 32, 64, 128]
seeds = [0, 1, 2]
sweep = {"mAP (stable)": [], "mAP (tie-averaged)": [], "P@H≤2 per query": [], "P@H≤2 pooled": []}
spread = []
for bits in tqdm(bit_grid, desc="bits", disable=not widgets.live()):
    rows = []
    for s in seeds:
        q_, d_ = random_projection_codes(bits, seed=s)
        rows.append([metrics.mean_average_precision(q_, d_, Lq, Ldb),
                     metrics.mean_average_precision(q_, d_, Lq, Ldb, ties="average"),
                     metrics.precision_at_radius(q_, d_, Lq, Ldb, 2, mode="per_query"),
                     metrics.precision_at_radius(q_, d_, Lq, Ldb, 2, mode="pooled")])
    rows = np.array(rows)
    for key, v in zip(sweep, rows.mean(0)):
        sweep[key].append(v)
    spread.append(rows[:, 0].std())

nonempty = {bits: float((codes.hamming_distance(*random_projection_codes(bits), method="packed") <= 2).any(1).mean())
            for bits in bit_grid}
m_stable, per_q, pooled = (np.array(sweep[k]) for k in ("mAP (stable)", "P@H≤2 per query", "P@H≤2 pooled"))
# the claims of the text below, checked on every run
assert np.all(np.diff(m_stable) > 0)                                  # mAP grows with the code length
peak = int(np.argmax(per_q))
assert 0 < peak < len(bit_grid) - 1 and per_q[-1] < 0.5 * per_q[peak]  # per query: a peak, then a collapse
assert np.all(pooled[peak:] > per_q[peak:])                             # pooled stays above it
widgets.glue("perq_peak_bits", bit_grid[peak])
widgets.glue("perq_peak", per_q[peak])
widgets.glue("perq_128", per_q[-1])
widgets.glue("pooled_128", pooled[-1])
widgets.glue("nonempty_64", nonempty[64])
plots.table([[b] + [sweep[k][i] for k in sweep] + [nonempty[b]] for i, b in enumerate(bit_grid)],
            ["bits", *sweep, "queries with a non-empty radius-2 ball"])

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-lsh-sweep", "caption": "Left: the four scores of random-projection codes of the tag vectors (text queries, text database) against the code length, each the mean of three seeds. Right: hash-lookup precision-recall curves (pooled), one per code length."}}
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
plots.sweep_curve(bit_grid, sweep, ax=axes[0], logx=True, ylabel="score")
# the two mAPs nearly coincide: each score gets its own dash and marker, so none hides another
for line, ls, marker in zip(axes[0].get_lines(), ("-", "--", ":", "-."), ("o", "s", "^", "D")):
    line.set(linestyle=ls, marker=marker, markerfacecolor="none" if ls != "-" else line.get_color())
axes[0].legend(fontsize="small")
curves = {f"{b} bits": metrics.pr_curve(*random_projection_codes(b), Lq, Ldb) for b in (16, 32, 64)}
plots.pr_curves(curves, ax=axes[1])
plt.tight_layout()
plt.show()

# %% [markdown]
# mAP grows with every step of the code length ({numref}`fig-lsh-sweep`). $P@H{\le}2$ behaves differently under
# the two conventions: per query it peaks at {glue:text}`perq_peak_bits` bits ({glue:text}`perq_peak:.3f`) and then
# collapses ({glue:text}`perq_128:.3f` at 128 bits) once most radius-2 balls are empty, while the pooled value stays
# above it ({glue:text}`pooled_128:.3f` at 128 bits), because empty balls enter neither of its sums. At 64 bits only
# a fraction {glue:text}`nonempty_64:.3f` of the queries retrieves anything within radius 2, mostly those whose tag
# vector has a near-duplicate in the database. The two conventions disagree even on the *direction* of the trend.
#
# ## Try it: the number of bits
#
# In a live kernel, choose a code length and a seed and press **Run** to re-hash the tags and re-evaluate;
# {numref}`fig-lsh-sweep` shows the same measurement for five code lengths.

# %%
def evaluate_bits(bits=32, seed=0):
    q_, d_ = random_projection_codes(bits, seed=seed)
    print(f"{bits} bits, seed {seed}")
    print(f"  mAP stable {metrics.mean_average_precision(q_, d_, Lq, Ldb):.4f}  "
          f"tie-averaged {metrics.mean_average_precision(q_, d_, Lq, Ldb, ties='average'):.4f}  "
          f"mAP@100 {metrics.mean_average_precision(q_, d_, Lq, Ldb, top_k=100):.4f}")
    print(f"  P@H<=2 per query {metrics.precision_at_radius(q_, d_, Lq, Ldb, 2):.4f}  "
          f"pooled {metrics.precision_at_radius(q_, d_, Lq, Ldb, 2, mode='pooled'):.4f}")
    plots.pr_curves({f"{bits} bits": metrics.pr_curve(q_, d_, Lq, Ldb)})
    plt.show()


panel = widgets.retrain_panel(evaluate_bits, static="the figure above shows the same scores for five code lengths.",
                              bits=widgets.bits_dropdown(32),
                              seed=widgets.int_slider("seed", 0, 0, 9))

# %% [markdown]
# ## Traps in research metric code
#
# Each of these appears in public hashing code; the package avoids all of them and its tests pin the behaviour.
#
# 1. **Unstable tie order.** `np.argsort` / `torch.sort` make mAP depend on the sorting algorithm; the MATLAB
#    reference is stable. Report the tie rule, or the tie-averaged AP.
# 2. **"mAP@k" that is not top-$k$**: averaging the first $\min(k, R_q)$ relevant items wherever they rank (torchcmh).
# 3. **NaN for queries with no relevant item** ($0/0$), which poisons the mean, or silently dropping them, which
#    changes the denominator. DCMH counts them as 0; DeepHash drops them. Say which.
# 4. **`topK=-1` slicing** (`ranking[:topK]`) that silently drops the last database item.
# 5. **Recall from retrieved instead of relevant-retrieved items**, which can exceed 1.
# 6. **Precision-by-radius curves that skip the largest radius**, or average only over queries with precision
#    $> 0$ (which hides the empty balls).
# 7. **$P@H{\le}2$ conventions**: "empty lookup counts 0" per query against pooled (micro) precision can differ by
#    a factor of several, as the table above shows.
# 8. **Model selection on the query set**: choosing the epoch with the best test mAP. The book selects on a
#    validation split ({doc}`03_data`, {ref}`dec-selection`).
#
# ## Summary
#
# - AP averages $P@k$ at the ranks of the relevant items, eq. {eq}`eq-ap`; on the golden case the package gives
#   {glue:text}`golden_map:.7f` with stable ties and {glue:text}`golden_map_avg:.7f` tie-averaged, both checked by
#   hand and by brute force.
# - Ties are everywhere in Hamming space; the stable order is reproducible but arbitrary, the tie-averaged AP is
#   invariant to the database order.
# - mAP@R, eq. {eq}`eq-apr`, is a top-$R$ metric; torchcmh's `calc_map_k` is not.
# - Hash lookup gives a PR curve by radius, eq. {eq}`eq-pr-pooled`; $P@H{\le}2$ per query and pooled answer
#   different questions.
#
# ## Exercises
#
# **Exercise 1.** Show that the tie-averaged AP of a query equals the mean of its stable AP over uniformly
# random shuffles of the database.
#
# :::{dropdown} Solution
# A uniformly random shuffle of the database, followed by a stable sort by distance, orders each tie group
# uniformly at random and independently of the others. The expectation of the stable AP over shuffles is therefore
# the expectation of AP over all tie orders, which is the definition of the tie-averaged AP. The permutation
# experiment above checks this numerically.
# :::
#
# **Exercise 2.** A query has $R_q = 1$ relevant item, tied with $n - 1$ irrelevant items at the smallest
# distance. What are its best-case, worst-case and tie-averaged AP?
#
# :::{dropdown} Solution
# The relevant item lands at rank $k \in \{1,\dots,n\}$ with probability $1/n$ each and then $\mathrm{AP} = 1/k$.
# Best case $1$, worst case $1/n$, average $\frac1n\sum_{k=1}^n \frac1k = H_n / n$ (a harmonic number).
# :::
#
# **Exercise 3.** Construct a query for which torchcmh's "mAP@1" is $1/2$ while the true AP@1 is $0$.
#
# :::{dropdown} Solution
# Rank 1 irrelevant, rank 2 relevant. torchcmh takes the first relevant item (rank 2) and reports $P@2 = 1/2$; AP@1
# looks only at rank 1, which holds no relevant item, so it is $0$.
# :::
#
# **Exercise 4.** Why does per-query $P@H{\le}2$ collapse at long codes while the pooled precision stays high?
#
# :::{dropdown} Solution
# With more bits, a ball of radius 2 covers a vanishing part of the space ({doc}`01_hamming_space`), so most queries retrieve
# nothing and each such query contributes $0$ to the per-query mean. The pooled ratio adds up relevant and retrieved
# items over the queries that do retrieve something; empty balls add nothing to either sum, so it reflects only the
# few queries with near-duplicates in the database, which are mostly relevant.
# :::
