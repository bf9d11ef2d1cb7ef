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
# # Why binary codes
#
# A photo archive with captions, a shop's catalogue, a news site: each holds items that come with a picture
# and a text. *Cross-modal retrieval* answers a query in one modality with items of the other: a sentence
# finds photos, a photo finds articles. A search service does this over millions of items, for every query,
# in milliseconds, and it keeps a description of every item in memory.
#
# This opening chapter says why the methods of this book describe each item by a short string of bits
# rather than by a vector of floats, and measures what that buys. It then names the difficulty every
# cross-modal method has to overcome, the *modality gap*, and measures that too. It ends with a one-page
# map of the five methods: what each one learns from, how it turns a relation between items into a
# probability, what a training step samples, and where its codes come from.

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
import time

import matplotlib.pyplot as plt
import numpy as np

from hashnotes import bench, codes, data, diagrams, widgets
from hashnotes.index import pack_for_faiss
from hashnotes.methods import CCA
from hashnotes.plots import table

try:
    import faiss
except ImportError:  # a reader's kernel without the package's optional index extra
    get_ipython().run_line_magic("pip", "install -q faiss-cpu")
    import faiss

rng = np.random.default_rng(0)

# %% [markdown]
# ## Floats or bits: what a collection costs
#
# The usual description of an item is an *embedding*, a vector of $d$ floats from a network, compared with
# an inner product: $d$ multiply-adds per comparison and $4d$ bytes per item in `float32`. A *binary code*
# of $c$ bits is $c/8$ bytes, and two codes are compared by their Hamming distance, the number of bits in
# which they differ. For codes $\mathbf b, \mathbf b' \in \{-1,+1\}^c$ it is
# $d_H = \tfrac12(c - \mathbf b^\top\mathbf b')$, computed as one XOR and one population count per 64 bits
# ({doc}`01_hamming_space` derives both and times the kernels).
#
# We measure memory and exhaustive search time on one collection of 100,000 items, held three ways:
# 64-bit codes, 64-dimensional float embeddings (the same number of dimensions) and 512-dimensional ones
# (a common size for learned image and text embeddings). The vectors are random: an exhaustive search
# compares the query with every item whatever the items contain, so its time does not depend on them. All
# three searches are faiss's exact ones (`IndexFlatIP` for floats,
# `IndexBinaryFlat` for codes), asked for the 100 nearest items of each of 1,000 queries, in one batch;
# each search is timed three times and the best run is kept.

# %%
N_ITEMS, N_QUERIES, TOP_K, BITS = 100_000, 1000, 100, 64


def best_of(search, repeats=3):
    """Shortest wall-clock time of ``repeats`` calls of ``search()``, in seconds."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        search()
        times.append(time.perf_counter() - t0)
    return min(times)


collection = {}
for d in (64, 512):
    items = rng.standard_normal((N_ITEMS, d), dtype=np.float32)
    queries = rng.standard_normal((N_QUERIES, d), dtype=np.float32)
    flat = faiss.IndexFlatIP(d)
    flat.add(items)
    seconds = best_of(lambda: flat.search(queries, TOP_K))
    collection[f"float32, d = {d}"] = (items.nbytes, seconds)

item_codes = codes.sign(rng.standard_normal((N_ITEMS, BITS))).astype(np.int8)
query_codes = codes.sign(rng.standard_normal((N_QUERIES, BITS))).astype(np.int8)
packed_items = pack_for_faiss(item_codes)  # (n, 8) bytes: 8 per 64-bit code
binary = faiss.IndexBinaryFlat(BITS)
binary.add(packed_items)
packed_queries = pack_for_faiss(query_codes)
seconds = best_of(lambda: binary.search(packed_queries, TOP_K))
collection[f"binary, c = {BITS}"] = (packed_items.nbytes, seconds)

rows = [
    [name, nbytes / N_ITEMS, nbytes / 2**20, 1e3 * s / N_QUERIES]
    for name, (nbytes, s) in collection.items()
]
table(
    rows,
    ["representation", "bytes per item", "MiB", "ms per query"],
    formats=[None, ",.0f", ".1f", ".3f"],
)

# %% tags=["hide-cell"]
# Numbers for the text below, and the claims it makes, checked on every run.
float64_bytes, float64_s = collection["float32, d = 64"]
float512_bytes, float512_s = collection["float32, d = 512"]
binary_bytes, binary_s = collection[f"binary, c = {BITS}"]
assert float64_bytes == 32 * binary_bytes and float512_bytes == 256 * binary_bytes
assert binary_s * 2 < min(float64_s, float512_s)  # codes search at least twice as fast
widgets.glue("n_items", N_ITEMS)
widgets.glue("binary_mib", binary_bytes / 2**20)
widgets.glue("float512_mib", float512_bytes / 2**20)
widgets.glue("speedup_64", float64_s / binary_s)
widgets.glue("speedup_512", float512_s / binary_s)
widgets.glue("binary_ms", 1e3 * binary_s / N_QUERIES)
widgets.glue("billion_codes_gb", 1e9 * BITS / 8 / 1e9)
widgets.glue("billion_float512_tb", 1e9 * 512 * 4 / 1e12)
# the approximate index measured at full size (appendix A2): the fastest IVF setting
# that finds at least 90% of the 100 nearest codes, at the largest size measured
reference = bench.reference_index_benchmark()
largest = max(n for n, _ in reference)
ivf = max(
    (p for p in reference[(largest, "ivf")] if p["recall"] >= 0.9),
    key=lambda p: p["qps"],
)
assert 1e3 / ivf["qps"] < 1.0  # under a millisecond per query
widgets.glue("ivf_millions", largest / 1e6)
widgets.glue("ivf_recall", ivf["recall"])
widgets.glue("ivf_ms", 1e3 / ivf["qps"])

# %% [markdown]
# The memory column is arithmetic and holds everywhere: a 64-bit code takes 8 bytes, 32 times less than 64
# floats and 256 times less than 512 floats. The {glue:text}`n_items:,` codes fill
# {glue:text}`binary_mib:.2f` MiB, which fits in a processor's cache; the 512-dimensional embeddings fill
# {glue:text}`float512_mib:.0f` MiB. At a billion items the codes need {glue:text}`billion_codes_gb:.0f` GB,
# one server's memory, and the 512-float embeddings {glue:text}`billion_float512_tb:.1f` TB.
#
# The time column depends on the machine and on what else runs on it; on the one that built this page the
# exact binary search took {glue:text}`binary_ms:.3f` ms per query, {glue:text}`speedup_64:.1f` times faster
# than the 64-float search and {glue:text}`speedup_512:.1f` times faster than the 512-float one. The folded
# cell above asserts only that it is at least twice as fast. Exhaustive search is the worst case for
# codes. Because a distance takes only $c+1$ values, all items within a small Hamming radius can also be
# found by looking up the few codes in that radius in a hash table, without scanning
# ({doc}`01_hamming_space`), and an approximate binary index scans only part of the collection: at
# {glue:text}`ivf_millions:.0f` million codes, faiss's inverted file answered a query in
# {glue:text}`ivf_ms:.2f` ms on one thread with a recall@100 of {glue:text}`ivf_recall:.0%`, counted by
# distance as in {doc}`A2_full_size`.
#
# The price is information. A code keeps the sign of each of $c$ numbers and nothing else, and many items
# tie at the same distance ({doc}`02_evaluation` shows what ties do to the usual score). A good hashing
# method makes those few bits the ones retrieval needs, and that is what the methods of this book learn.

# %% [markdown]
# ## The modality gap
#
# An image and a text are not described in one space. In the toy data of this book ({doc}`03_data`), an
# image is a $3 \times 32 \times 32$ array of pixels and a text a bag of words over a small vocabulary.
# There is no distance between a pixel array and a word count, so a cross-modal method needs *two*
# encoders, one per modality, whose codes meet in a shared Hamming space: the image and the text of one
# item should get nearby codes.
#
# That is not free. Sign random projections {cite}`charikar2002simhash` are a good hash *within* a
# modality: two vectors at a small angle get codes at a small Hamming distance. Hash the images and the
# texts this way, each with its own projections, and the image and text of one item get codes as far apart
# as those of two unrelated items. CCA {cite}`hotelling1936cca`, the classic linear baseline of the DCMH
# paper ({doc}`04_dcmh`), learns two projections whose outputs are maximally correlated. We compare the
# Hamming distance between the image code and the text code of the *same* database item with the distance
# to the text of every *other* item, at 32 bits, for both.

# %%
ds = data.toy(n=1200, seed=0)
db = ds.database
GAP_BITS = 32


def centred(x):
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    return x - x.mean(0)


pixels, words = centred(db.images), centred(db.texts)
image_planes = rng.standard_normal((pixels.shape[1], GAP_BITS))
text_planes = rng.standard_normal((words.shape[1], GAP_BITS))
random_projection = tuple(
    codes.sign(x @ planes).astype(np.int8)
    for x, planes in ((pixels, image_planes), (words, text_planes))
)
cca = CCA.small(bits=GAP_BITS).fit(ds.train, progress=widgets.live())
learned = (cca.encode_image(db.images), cca.encode_text(db.texts))

gap = {}
for name, (image_codes, text_codes) in {
    "random projections": random_projection,
    "CCA": learned,
}.items():
    dist = codes.hamming_distance(image_codes, text_codes)  # image i against text j
    same = np.eye(len(db), dtype=bool)
    gap[name] = {"same item": dist[same], "other items": dist[~same]}

print(f"{len(db)} database items: images {db.images.shape[1:]}, {words.shape[1]} words")
rows = [
    [name, g["same item"].mean(), g["other items"].mean(), np.mean(g["same item"] == 0)]
    for name, g in gap.items()
]
columns = [
    "codes",
    "mean d_H, same item",
    "mean d_H, other items",
    "same item at d_H = 0",
]
table(rows, columns, formats=[None, ".2f", ".2f", ".1%"])

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-modality-gap", "caption": "Hamming distance between the 32-bit image code of a toy database item and the text code of the same item (green) or of every other item (grey), as fractions of each group. Left: independent sign random projections per modality; right: CCA's learned projections."}}
fig, axes = plt.subplots(1, 2, figsize=(9, 3), sharey=True)
bins = np.arange(GAP_BITS + 2) - 0.5
for ax, (name, g) in zip(axes, gap.items()):
    for group, colour in (("other items", "tab:gray"), ("same item", "tab:green")):
        ax.hist(g[group], bins=bins, density=True, alpha=0.6, color=colour, label=group)
    ax.set_title(name)
    ax.set_xlabel("Hamming distance, image code to text code")
    ax.grid(alpha=0.3)
axes[0].set_ylabel("fraction")
axes[0].legend()
plt.show()

# %% tags=["hide-cell"]
# Numbers for the text below, and the claims it makes, checked on every run.
rp, cc = gap["random projections"], gap["CCA"]
# random projections: an item's image and text no closer than unrelated pairs
assert abs(rp["same item"].mean() - rp["other items"].mean()) < 1.0
# CCA: pairs closer by more than 3 bits on average, but still far from 0
assert cc["same item"].mean() < cc["other items"].mean() - 3
assert cc["same item"].mean() > 0.2 * GAP_BITS
for name, g in (("rp", rp), ("cca", cc)):
    widgets.glue(f"{name}_same", g["same item"].mean())
    widgets.glue(f"{name}_other", g["other items"].mean())
widgets.glue("cca_identical", (cc["same item"] == 0).mean() * 100)
widgets.glue("gap_bits", GAP_BITS)

# %% [markdown]
# With random projections the image and the text of an item are on average {glue:text}`rp_same:.1f` bits
# apart, and any image and any other text {glue:text}`rp_other:.1f` bits: half of the
# {glue:text}`gap_bits` bits, the distance of two random codes ({numref}`fig-modality-gap`, left). Each code
# is a fine description of its own modality and useless across the gap. CCA's codes bring an item's two
# halves to {glue:text}`cca_same:.1f` bits on average against {glue:text}`cca_other:.1f` for unrelated
# pairs, but only {glue:text}`cca_identical:.1f`% of the items get the same code for their image and their
# text: the gap narrows, and is still wide.
#
# Matching an item's two halves is not even the goal. Retrieval asks for every item that is *relevant* to
# the query, in practice every item sharing a label with it, and those are different pictures and
# different texts. The methods of this book close the gap with supervision: labels (or, without labels, a
# graph of neighbours) say which image-text pairs should be near, and two networks are trained so that
# their codes agree with it.

# %% [markdown]
# ## Five methods on one map
#
# Every method in this book trains an image network and a text network whose outputs' signs are the codes.
# They differ in four choices.
#
# - **Supervision.** What says that two items belong together: shared labels, turned into a similarity
#   $S_{ij}$ between pairs (DCMH, CDHCR); triplets "the query is nearer to this item than to that one" and a
#   graph of the labels (TDH); a graph of nearest neighbours in the features, with no labels at all
#   (UGACH); or learned *proxy codes*, targets that the labels and the data define (DAPH).
# - **Likelihood.** How a distance becomes a probability of "relevant": the logistic sigmoid of an inner
#   product (DCMH); a Cauchy function of the Hamming distance, which falls much faster near zero (CDHCR);
#   a sigmoid of the *difference* of two distances (TDH); a softmax over a pool, scored by a hinge (UGACH);
#   a softmax of one positive against many negatives (DAPH).
# - **Sampling.** What one training step looks at: a mini-batch of one modality against the stored
#   outputs of every training item of the other (DCMH, CDHCR); positives and negatives mined for every
#   anchor of the batch (TDH); items the generator samples for each query (UGACH); a batch against fixed
#   targets (DAPH).
# - **Codes.** Where the binary codes of the training items come from: a closed-form update between
#   network steps, exact for DCMH and CDHCR and relaxed for TDH; the discriminator's own signs (UGACH); the
#   signed outputs of a first training stage (DAPH).
#
# | method | supervision | likelihood | a step samples | codes from |
# |---|---|---|---|---|
# | {doc}`DCMH <04_dcmh>` | label pairs | sigmoid of an inner product | a batch vs all stored outputs | $\operatorname{sign}(\mathbf F+\mathbf G)$ |
# | {doc}`CDHCR <05_cauchy>` | weighted label pairs | Cauchy of a distance | as DCMH | as DCMH |
# | {doc}`TDH <06_tdh>` | label triplets, graph | sigmoid of a difference | mined triplets | a relaxed update |
# | {doc}`UGACH <07_ugach>` | a kNN graph | policy vs hinge | the generator's picks | the discriminator |
# | {doc}`DAPH <08_daph>` | labels, proxies | softmax ratio | a batch vs fixed proxies | stage-1 proxies |
#
# The papers are {cite:t}`jiang2017dcmh`, {cite:t}`tian2021cauchy`, {cite:t}`deng2018tdh`,
# {cite:t}`zhang2018ugach` and {cite:t}`tu2023daph`; each method's chapter derives it in full.
#
# {numref}`fig-method-map` draws the same map as a family: DCMH is the template, and each arrow names
# what the next method changes. The three methods in the frame share one training loop. Each method's
# chapter draws its own pipeline next to its objective.
# {doc}`09_comparison` runs all five on the same data.

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-method-map", "caption": "The five methods of the book and what each changes relative to DCMH. CDHCR and TDH keep DCMH's alternating two-network loop (the frame); DAPH replaces relations between items by fixed targets learned in a first stage; UGACH trains without labels, by a game between two networks on a graph of neighbours."}}
diagrams.method_map()
plt.show()
