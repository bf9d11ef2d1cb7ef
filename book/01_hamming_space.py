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
# # Hamming space
#
# Every method in this book ends the same way: an image or a text becomes a short string of bits, and
# retrieval compares bit strings. This chapter is about that space of bit strings. We check the one
# identity every hashing paper uses, see how bits are packed into machine words, measure how fast a
# Hamming scan runs on your machine, and count how many codes sit inside a Hamming ball, which is why a
# lookup within radius 2 can be done with a hash table instead of a scan.

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
import time

import matplotlib.pyplot as plt
import numpy as np
from tqdm.auto import tqdm

from hashnotes import codes, plots, widgets

rng = np.random.default_rng(0)

# %% [markdown]
# ## Binary codes and the sign function
#
# A code of length $c$ is a vector $\mathbf b \in \{-1,+1\}^c$. Networks output real vectors
# $\mathbf f \in \mathbb R^c$ and the code is their sign. The package stores codes **row-major** ({ref}`dec-layout`):
# a set of $n$ codes is an array of shape `(n, c)`, one row per item. The papers write the same matrix
# column-major, $\mathbf B \in \{-1,+1\}^{c \times n}$, so the package's `B` is the papers' $\mathbf B^\top$.
#
# One detail matters: `np.sign(0)`, `torch.sign(0)` and MATLAB's `sign(0)` all return $0$, which is not a bit.
# The package defines
#
# $$
# \operatorname{sign}(x) = \begin{cases} +1 & x \ge 0 \\ -1 & x < 0 \end{cases}
# $$ (eq-sign)
#
# so that every code is strictly binary. An exact zero is rare for trained networks, but it does happen
# (a ReLU feature, or $\mathbf F + \mathbf G = 0$ in DCMH's update of $\mathbf B$), and one $0$ entry silently
# shifts every Hamming distance it touches by one half.

# %%
x = np.array([[0.7, -0.2, 0.0, 3.1], [-1.0, 0.0, 0.0, 2.0]])
print("np.sign      :", np.sign(x).tolist())
print("codes.sign   :", codes.sign(x).tolist())
assert set(np.unique(codes.sign(x))) == {-1.0, 1.0}
assert np.array_equal(codes.sign(x), np.where(x >= 0, 1.0, -1.0))  # eq-sign, written out

# %% [markdown]
# ## Hamming distance from an inner product
#
# The Hamming distance $d_H(\mathbf q, \mathbf r)$ counts the positions where two codes differ. For codes in
# $\{-1,+1\}^c$, each position contributes $q_j r_j = +1$ when the bits agree and $-1$ when they differ.
# With $a$ agreements and $d$ disagreements, $a + d = c$ and $\mathbf q^\top \mathbf r = a - d$, so
# $\mathbf q^\top \mathbf r = c - 2d$:
#
# $$
# d_H(\mathbf q, \mathbf r) = \tfrac12\left(c - \mathbf q^\top \mathbf r\right).
# $$ (eq-dh-inner)
#
# Equation {eq}`eq-dh-inner` is why hashing losses are written with inner products: a large inner product
# *is* a small Hamming distance, and the inner product is differentiable in the relaxed (real) codes.
# For a whole query set $\mathbf Q$ `(m, c)` against a database $\mathbf R$ `(n, c)`, all distances at once are
# $\tfrac12(c - \mathbf Q \mathbf R^\top)$: one matrix product.

# %%
c = 48
Q = codes.sign(rng.standard_normal((5, c)))
R = codes.sign(rng.standard_normal((7, c)))

D_count = (Q[:, None, :] != R[None, :, :]).sum(-1)          # the definition: count disagreements
D_inner = (c - Q @ R.T) / 2                                  # eq-dh-inner
print(D_count)
assert np.array_equal(D_count, D_inner)
assert np.array_equal(D_count, codes.hamming_distance(Q, R, method="inner"))
assert np.array_equal(D_count, codes.hamming_distance(Q, R, method="packed"))

# %% [markdown]
# ## Bit packing and popcount
#
# Storing a $\pm1$ code as `int8` spends 8 bits per bit. Packed, a 64-bit code is one machine word:
# the package maps $+1 \mapsto 1$, $-1 \mapsto 0$, and puts bit $j$ of the code into bit $j \bmod 64$ of word
# $\lfloor j/64 \rfloor$ (padding bits stay $0$). Then the distance is an XOR followed by a population count:
#
# $$
# d_H(\mathbf q, \mathbf r) = \sum_{w} \operatorname{popcount}\!\left(\tilde q_w \oplus \tilde r_w\right),
# $$ (eq-dh-popcount)
#
# where $\tilde q_w$ is the $w$-th packed word. Modern CPUs have a one-instruction `POPCNT`, and numpy has
# `np.bitwise_count`. Below we pack by hand with `np.packbits`, check the layout against the package, round-trip
# through `unpack_bits`, and evaluate {eq}`eq-dh-popcount` with numpy.

# %%
c = 100                                         # not a multiple of 64: two words, 28 padding bits
B = codes.sign(rng.standard_normal((6, c))).astype(np.int8)

bits = (B > 0)                                  # +1 -> 1, -1 -> 0
by = np.packbits(bits, axis=1, bitorder="little")            # bit j -> byte j//8, position j%8
by = np.pad(by, ((0, 0), (0, 16 - by.shape[1])))             # pad to 2 words of 8 bytes
mine = by.view("<u8")                                        # little-endian words: bit j -> word j//64
packed = codes.pack_bits(B)
print("packed words of item 0:", [hex(int(w)) for w in packed[0]])
assert packed.dtype == np.uint64 and packed.shape == (6, 2)
assert np.array_equal(mine, packed)
assert np.array_equal(codes.unpack_bits(packed, c), B)       # round trip

# popcount: a 64-bit word at a time, three ways
w = packed[0, 0]
assert bin(int(w)).count("1") == int(np.bitwise_count(w)) == int(codes.popcount64(w))

D_pop = np.bitwise_count(packed[:, None, :] ^ packed[None, :, :]).sum(-1)   # eq-dh-popcount
assert np.array_equal(D_pop, codes.hamming_distance(B, B))
print(D_pop)

# %% [markdown]
# ## How fast is a Hamming scan?
#
# Retrieval by *Hamming ranking* computes the distance from a query to every database code. We time four ways
# of computing an `(m, n)` distance matrix, on your machine, and report distances per second:
#
# - **naive**: a Python loop over pairs that counts disagreements (only a few thousand pairs, it is slow);
# - **inner product**: {eq}`eq-dh-inner` as one `float32` matrix product (BLAS);
# - **numpy packed**: XOR + `np.bitwise_count` on packed words, {eq}`eq-dh-popcount`, broadcast in numpy;
# - **package packed**: `codes.hamming_distance(method="packed")`, a compiled numba kernel (XOR + POPCNT,
#   parallel over queries).
#
# The numbers depend on the machine and on what else runs on it; the *ratios* are the lesson.

# %%
def best_time(fn, repeat=3):
    """Best wall-clock time of ``repeat`` calls (seconds) and the last result."""
    best, out = math.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def scan_rates(c, m=256, n=20_000, n_naive=2_000, seed=0):
    g = np.random.default_rng(seed)
    Qs = codes.sign(g.standard_normal((m, c))).astype(np.int8)
    Rs = codes.sign(g.standard_normal((n, c))).astype(np.int8)
    Qp, Rp = codes.pack_bits(Qs), codes.pack_bits(Rs)
    Qf, Rf = Qs.astype(np.float32), Rs.astype(np.float32)
    codes.hamming_distance(Qs[:2], Rs[:2])  # compile / load the numba kernel outside the timing

    def naive():
        return [int((Qs[i % m] != Rs[i]).sum()) for i in range(n_naive)]

    t_naive, d_naive = best_time(naive, repeat=1)
    t_inner, d_inner = best_time(lambda: ((c - Qf @ Rf.T) / 2).astype(np.int32))
    t_npk, d_npk = best_time(lambda: np.bitwise_count(Qp[:, None, :] ^ Rp[None, :, :]).sum(-1))
    t_pkg, d_pkg = best_time(lambda: codes.hamming_distance(Qs, Rs))
    assert np.array_equal(d_inner, d_pkg) and np.array_equal(d_npk, d_pkg)
    assert d_naive == [int(d_pkg[i % m, i]) for i in range(n_naive)]
    return {"naive": n_naive / t_naive, "inner product": m * n / t_inner,
            "numpy packed": m * n / t_npk, "package packed": m * n / t_pkg}


rates = {c: scan_rates(c) for c in tqdm([32, 64, 128], desc="timing scans", disable=not widgets.live())}
vs_naive = min(rates[c]["package packed"] / rates[c]["naive"] for c in rates)
assert vs_naive > 100, vs_naive          # the prose: orders of magnitude ahead of the Python loop, at every length
widgets.glue("scan_vs_naive", vs_naive)
widgets.glue("scan_packed_64_over_32", rates[64]["package packed"] / rates[32]["package packed"])
widgets.glue("scan_inner_64_over_32", rates[64]["inner product"] / rates[32]["inner product"])
plots.table([[m] + [rates[c][m] for c in rates] for m in rates[32]],
            ["distances per second"] + [f"c = {c}" for c in rates], formats=[None] + [".3g"] * len(rates))

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-scan-rates", "caption": "Hamming distances per second of the four implementations at 32, 64 and 128 bits, measured on the machine that built this page (log scale, best of three runs)."}}
fig, ax = plt.subplots(figsize=(7, 3.5))
methods = list(rates[32])
width = 0.25
for k, (cc, r) in enumerate(rates.items()):
    ax.bar(np.arange(len(methods)) + (k - 1) * width, [r[mth] for mth in methods], width, label=f"c = {cc}")
ax.set_xticks(range(len(methods)))
ax.set_xticklabels(methods)
ax.set_yscale("log")
ax.set_ylabel("Hamming distances / second")
ax.legend()
ax.grid(alpha=0.3, axis="y")
plt.show()

# %% [markdown]
# On the machine that built this page the package's packed kernel computed at least
# {glue:text}`scan_vs_naive:,.0f` times as many distances per second as the naive loop, at every code length
# ({numref}`fig-scan-rates`): interpreting one Python iteration costs far more than comparing 64 bits. The float
# matrix product is fast because BLAS is fast, but it moves 32 bits per code bit and its arithmetic grows with
# $c$; from 32 to 64 bits its rate changed by a factor of {glue:text}`scan_inner_64_over_32:.2f`. The packed
# kernel moves one bit per code bit and does one XOR and one POPCNT per 64 of them; its rate changed by a factor
# of {glue:text}`scan_packed_64_over_32:.2f`. Both a 32-bit and a 64-bit code fill one word, so what changes is
# the rest of the work (reading the codes, writing the `(m, n)` result, the kernel's loop overhead), not the
# arithmetic. Numpy's broadcast version does the same arithmetic but materialises an `(m, n, words)` temporary,
# which hurts as soon as it leaves the cache. Timings on a busy machine are noisy (rerun the cell to see the
# spread); only the orders of magnitude are asserted. Even a laptop scans millions of codes per query in
# milliseconds, which is why *Hamming ranking over the whole database* is the standard evaluation protocol
# ({doc}`02_evaluation`).

# %% [markdown]
# ## Hamming balls
#
# The Hamming ball of radius $r$ around a code $\mathbf q$ is every code within distance $r$. Choosing which $i$
# of the $c$ bits to flip gives $\binom{c}{i}$ codes at distance exactly $i$, so the ball holds
#
# $$
# V(c, r) = \sum_{i=0}^{r} \binom{c}{i}
# $$ (eq-ball)
#
# codes. We check {eq}`eq-ball` by brute force for $c = 12$: enumerate all $2^{12}$ codes and count.

# %%
c = 12
everything = np.array(list(itertools.product([-1, 1], repeat=c)), dtype=np.int8)   # all 4096 codes
center = everything[rng.integers(len(everything))][None, :]
dist = codes.hamming_distance(center, everything)[0]
for r in range(c + 1):
    assert (dist <= r).sum() == sum(math.comb(c, i) for i in range(r + 1))
print("V(12, r) for r = 0..4:", [int((dist <= r).sum()) for r in range(5)])

# %%
def ball_volume(c, r):
    """V(c, r) of eq-ball."""
    return sum(math.comb(c, i) for i in range(r + 1))


widgets.glue("ball_32_2", ball_volume(32, 2))
widgets.glue("ball_32_4", ball_volume(32, 4))
radii = np.arange(0, 6)
plots.table([[cc] + [ball_volume(cc, r) for r in radii] + [ball_volume(cc, 2) / 2**cc] for cc in (16, 32, 64)],
            ["c"] + [f"V(c, {r})" for r in radii] + ["fraction of the space within r = 2"],
            formats=[None] * (len(radii) + 1) + [".2e"])

# %% [markdown]
# A radius-2 ball is tiny: at 32 bits it holds {glue:text}`ball_32_2:,` of the $2^{32} \approx 4.3\times10^9$
# codes. Hashing methods try to put all relevant items of a query inside that small ball (the Cauchy loss of
# {doc}`05_cauchy` says so explicitly), and the next section shows why that is worth doing.

# %% [markdown]
# ## A radius-2 lookup is a hash-table lookup
#
# Put every database code into a hash table keyed by the packed code (a Python `dict` here). To find all items
# within radius $r$ of a query, *enumerate the $V(c, r)$ codes of the ball* and look each one up. The cost is
# $V(c, r)$ table probes, independent of the database size $n$, while a scan costs $n$ distances. At
# $c=32, r=2$ that is {glue:text}`ball_32_2:,` probes against, say, $10^6$ distances; at $r=4$ it is already
# {glue:text}`ball_32_4:,` probes, so lookup pays only for small radii, exactly the "precision within Hamming
# radius 2" protocol of {doc}`02_evaluation`.
#
# We build clustered codes (many items near a few centres, as a trained model would produce), answer the same
# queries both ways and check that the two result sets are identical.

# %%
def clustered_codes(n, c, n_centres, flip, seed, n_queries=50):
    """``n`` database and ``n_queries`` query codes: random centres with each bit flipped w.p. ``flip``."""
    g = np.random.default_rng(seed)
    centres = codes.sign(g.standard_normal((n_centres, c))).astype(np.int8)
    which = g.integers(n_centres, size=n + n_queries)
    flips = np.where(g.random((n + n_queries, c)) < flip, -1, 1).astype(np.int8)
    both = centres[which] * flips
    return both[:n], both[n:]


def ball_offsets(c, r):
    """All XOR masks (as packed uint64 words) of weight <= r: the ball's codes are q ^ mask."""
    masks = [np.zeros((1, (c + 63) // 64), dtype=np.uint64)]
    for i in range(1, r + 1):
        for pos in itertools.combinations(range(c), i):
            m = np.zeros((c + 63) // 64, dtype=np.uint64)
            for p in pos:
                m[p // 64] |= np.uint64(1) << np.uint64(p % 64)
            masks.append(m[None, :])
    return np.concatenate(masks)


def build_table(packed_db):
    table = {}
    for i, key in enumerate(map(bytes, packed_db)):
        table.setdefault(key, []).append(i)
    return table


def lookup(table, packed_q, offsets):
    hits = []
    for probe in packed_q[None, :] ^ offsets:
        hits.extend(table.get(bytes(probe), ()))
    return sorted(hits)


c, r, n = 32, 2, 50_000
db, queries = clustered_codes(n, c, n_centres=500, flip=0.03, seed=1)
db_packed, q_packed = codes.pack_bits(db), codes.pack_bits(queries)
offsets = ball_offsets(c, r)
assert len(offsets) == sum(math.comb(c, i) for i in range(r + 1))

t0 = time.perf_counter()
table = build_table(db_packed)
t_build = time.perf_counter() - t0
t0 = time.perf_counter()
by_lookup = [lookup(table, qp, offsets) for qp in q_packed]
t_lookup = time.perf_counter() - t0
t0 = time.perf_counter()
D = codes.hamming_distance(queries, db)
by_scan = [np.flatnonzero(row <= r).tolist() for row in D]
t_scan = time.perf_counter() - t0
assert by_lookup == by_scan
print(f"{len(table)} distinct codes in the table (built in {t_build:.2f} s); "
      f"{np.mean([len(h) for h in by_scan]):.1f} items per radius-{r} ball on average")
print(f"lookup: {len(offsets)} probes/query, {t_lookup / len(queries) * 1e3:.2f} ms/query (pure Python dict)")
print(f"scan:   {n} distances/query, {t_scan / len(queries) * 1e3:.2f} ms/query (compiled kernel)")

# %% [markdown]
# The lookup's cost does not grow with $n$: double the database and the scan doubles while the lookup still makes
# {glue:text}`ball_32_2:,` probes. (Our dictionary is pure Python, so at this small $n$ the compiled scan can still be competitive;
# a C hash table probes in nanoseconds.) The catch is the growth of {eq}`eq-ball` with $r$: the static figure
# below shows probes per query against radius next to the database size where a scan becomes cheaper.

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-ball-cost", "caption": "Left: table probes per query, $V(c, r)$, against the radius, next to the cost of scanning $10^6$ codes. Right: the fraction of all $2^c$ codes that lie in the ball."}}
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
rr = np.arange(0, 9)
for cc in (16, 32, 64):
    V = np.array([sum(math.comb(cc, i) for i in range(r_ + 1)) for r_ in rr], dtype=float)
    axes[0].semilogy(rr, V, marker="o", label=f"c = {cc}")
    axes[1].semilogy(rr, V / 2.0**cc, marker="o", label=f"c = {cc}")
axes[0].axhline(1e6, color="gray", ls="--", lw=1)
axes[0].text(0.1, 1.4e6, "a scan of 10^6 codes", fontsize=8, color="gray")
axes[0].set(xlabel="radius r", ylabel="probes per query  V(c, r)", title="Cost of a hash lookup")
axes[1].set(xlabel="radius r", ylabel="V(c, r) / 2^c", title="Fraction of Hamming space in the ball")
for ax in axes:
    ax.grid(alpha=0.3)
    ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Try it: lookup against scan
#
# With a live kernel, pick the code length, the radius and the database size and press **Run**: the panel builds
# the table, answers 20 queries both ways, checks that they agree, and prints the times. Nothing runs until you
# press the button; on the static page, {numref}`fig-ball-cost` shows how the two costs grow.

# %%
def lookup_vs_scan(bits=32, radius=2, n_items=50_000):
    g_db, g_q = clustered_codes(n_items, bits, n_centres=500, flip=0.03, seed=1, n_queries=20)
    offs = ball_offsets(bits, radius)
    t0 = time.perf_counter()
    tab = build_table(codes.pack_bits(g_db))
    found = [lookup(tab, qp, offs) for qp in codes.pack_bits(g_q)]
    t1 = time.perf_counter()
    scanned = [np.flatnonzero(row <= radius).tolist() for row in codes.hamming_distance(g_q, g_db)]
    t2 = time.perf_counter()
    assert found == scanned
    print(f"{len(offs)} probes per query; lookup (incl. building) {t1 - t0:.3f} s, scan {t2 - t1:.3f} s; "
          f"{np.mean([len(h) for h in found]):.1f} hits per query")


panel = widgets.retrain_panel(
    lookup_vs_scan,
    static="the probe counts it would print are plotted in the figure above.",
    bits=widgets.bits_dropdown(32),
    radius=widgets.int_slider("radius", 2, 0, 3),
    n_items=widgets.int_slider("n items", 50_000, 10_000, 200_000, step=10_000),
)

# %% [markdown]
# ## Summary
#
# - Codes are rows of $\pm1$; `codes.sign` maps $0$ to $+1$, eq. {eq}`eq-sign`, so codes are strictly binary
#   ({ref}`dec-sign`).
# - $d_H = \tfrac12(c - \mathbf q^\top\mathbf r)$, eq. {eq}`eq-dh-inner`: inner products of relaxed codes are what
#   hashing losses optimise.
# - Packed into 64-bit words, a distance is XOR + popcount, eq. {eq}`eq-dh-popcount`; a compiled packed scan is
#   orders of magnitude faster than a Python loop.
# - A Hamming ball holds $V(c, r) = \sum_{i \le r}\binom{c}{i}$ codes, eq. {eq}`eq-ball`, so a radius-2 search is a
#   few hundred hash-table probes, independent of the database size.
#
# ## Exercises
#
# **Exercise 1.** Prove that $d_H$ is a metric on $\{-1,+1\}^c$ and that $\|\mathbf q - \mathbf r\|_2^2 = 4\,
# d_H(\mathbf q, \mathbf r)$.
#
# :::{dropdown} Solution
# Non-negativity, symmetry and $d_H = 0 \iff \mathbf q = \mathbf r$ are immediate from counting disagreements. For the
# triangle inequality, a position where $\mathbf q$ and $\mathbf s$ differ must be a position where $\mathbf q$ and
# $\mathbf r$ differ or where $\mathbf r$ and $\mathbf s$ differ, so
# $d_H(\mathbf q,\mathbf s) \le d_H(\mathbf q,\mathbf r) + d_H(\mathbf r,\mathbf s)$. Finally $(q_j - r_j)^2$ is
# $0$ when the bits agree and $4$ when they differ.
# :::
#
# **Exercise 2.** What goes wrong in {eq}`eq-dh-inner` if one entry of $\mathbf q$ is $0$ (as `np.sign` would
# produce)?
#
# :::{dropdown} Solution
# A zero entry contributes $0$ to $\mathbf q^\top\mathbf r$ instead of $\pm1$, so $\tfrac12(c - \mathbf q^\top \mathbf r)$
# becomes a half-integer: the "distance" is off by $\tfrac12$ and ranking code that casts to integers rounds it one way
# or the other, silently. A hand-rolled packer (`B > 0`) maps the $0$ to bit $0$, as if it were $-1$, and gives an
# integer that disagrees with the inner-product formula. The package refuses such input (`codes.pack_bits` raises
# `ValueError`), which is why `codes.sign` never produces a $0$.
# :::
#
# **Exercise 3.** How many probes does a radius-3 lookup need at $c = 64$? For which database sizes is a scan
# cheaper, if a probe costs as much as 20 distance computations?
#
# :::{dropdown} Solution
# $V(64, 3) = 1 + 64 + 2016 + 41664 = 43745$ probes. At 20 distance-equivalents per probe that is about
# $8.7\times10^5$ distances, so a scan is cheaper for databases below roughly $870{,}000$ items.
# :::
#
# **Exercise 4.** Multi-index hashing {cite}`norouzi2012mih` splits a $c$-bit code into $m$ substrings. Show that if $d_H(\mathbf
# q,\mathbf r) \le r$, then at least one substring pair is within distance $\lfloor r/m \rfloor$.
#
# :::{dropdown} Solution
# The $m$ substrings partition the $c$ positions, so the $d_H(\mathbf q,\mathbf r) \le r$ disagreements are spread over
# $m$ substrings. If every substring had more than $\lfloor r/m \rfloor$ of them, the total would be at least
# $m(\lfloor r/m\rfloor + 1) > r$, a contradiction (pigeonhole).
# :::
