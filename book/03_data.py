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
# # Data: pictures, tags and protocol splits
#
# Cross-modal hashing is trained on **image-text pairs with labels**: a photo, the words attached to it, and a few
# concept labels that define which pairs are relevant to each other. This chapter shows the book's embedded toy
# dataset (it needs no download, and it is built so that neither modality is trivial), its label statistics, and the
# protocol split every experiment records. When the project's real data is present, it also shows real MIRFLICKR
# photos with their tags, MIRFLICKR-25K's label statistics next to the toy's, and the Wikipedia dataset.

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
import matplotlib.pyplot as plt
import numpy as np
from tqdm.auto import tqdm

from hashnotes import codes, data, metrics, plots, widgets

# %% [markdown]
# ## The toy dataset
#
# `data.toy()` draws $n$ seeded pairs. Each **concept** is an object kind, a shape in a colour ("red disc",
# "blue ring", ...). A pair has 2 to 4 concepts, drawn mostly from one of a few "scenes", so labels co-occur the way
# real concepts do (sky with clouds, sea with water). The **image** is a small RGB picture with one object per
# concept, on a noisy background. The **text** is a bag of tags: for each concept one or two synonyms
# ("crimson_circle" for *red disc*), sometimes only a partial word ("red"), sometimes nothing at all (dropped tags),
# occasionally a wrong concept, plus generic background tags. Row-major as everywhere in the package: images are
# `(n, 3, H, W)` uint8, texts `(n, vocabulary)` float32, labels `(n, labels)` uint8, one row per pair (the papers
# write these matrices column-major, e.g. $\mathbf Y \in \mathbb R^{d \times n}$, which is our `texts.T`).

# %%
ds = data.toy(n=10_000, seed=0)
print("label names:", ", ".join(ds.label_names))
print("image batch", ds.train.images.shape, ds.train.images.dtype, "| texts", ds.train.texts.shape,
      "| labels", ds.train.labels.shape)


def tags_of(text_row, vocab):
    return " ".join(vocab[j] for j in np.flatnonzero(text_row))


def labels_of(label_row, names):
    return ", ".join(names[j] for j in np.flatnonzero(label_row))


k = 12
fig = plots.show_pairs(ds.train.images[:k], [tags_of(t, ds.vocab) for t in ds.train.texts[:k]],
                       [labels_of(l, ds.label_names) for l in ds.train.labels[:k]], ncols=6)
plt.show()

# %% [markdown]
# ### Why the images need a CNN
#
# Every colour appears with several shapes and every shape with several colours, so a concept is a *conjunction*
# of colour and spatial structure. "Red disc + blue ring" and "red ring + blue disc" have the same colours in the
# same amounts; only where the colours sit tells them apart. A pixel statistic such as a colour histogram therefore
# carries little label information. We measure it: hash a global colour histogram with random projections (the LSH
# of chapter 2) and retrieve images with images.

# %%
def colour_histogram(images, bins=4):
    """Joint RGB histogram (bins^3 cells) of each image, normalised to sum 1."""
    q = (images.astype(np.int32) * bins) // 256                    # (n, 3, H, W) in 0..bins-1
    cell = (q[:, 0] * bins + q[:, 1]) * bins + q[:, 2]               # (n, H, W)
    h = np.stack([np.bincount(c_.ravel(), minlength=bins ** 3) for c_ in cell]).astype(np.float64)
    return h / h.sum(1, keepdims=True)


def lsh_codes(train_x, x_list, bits, seed=0):
    g = np.random.default_rng(seed)
    mean = train_x.mean(0)
    W = g.standard_normal((train_x.shape[1], bits))
    return [codes.sign((x - mean) @ W).astype(np.int8) for x in x_list]


hist_train, hist_q, hist_db = (colour_histogram(s.images) for s in (ds.train, ds.query, ds.database))
Lq, Ldb = ds.query.labels, ds.database.labels
chance = data.label_stats(Ldb)["relevant_pair_fraction"]
rows = []
for bits in tqdm([16, 32, 64], desc="LSH baselines"):
    qi, di = lsh_codes(hist_train, [hist_q, hist_db], bits)
    qt, dt = lsh_codes(ds.train.texts, [ds.query.texts, ds.database.texts], bits)
    rows.append((bits, metrics.mean_average_precision(qi, di, Lq, Ldb),
                 metrics.mean_average_precision(qt, dt, Lq, Ldb)))
print(f"chance level (fraction of relevant database items): {chance:.3f}")
print(f"{'bits':>5} {'I→I colour histogram':>21} {'T→T tags':>9}")
for bits, m_img, m_txt in rows:
    print(f"{bits:>5} {m_img:>21.3f} {m_txt:>9.3f}")

# %% [markdown]
# The colour histogram barely beats chance, while the tags, noisy as they are, carry a lot of label
# information. Learning to see *which colour is where* is the image network's job; learning that "crimson_circle"
# and "scarlet_dot" mean the same concept, and that "red" alone is ambiguous, is the text network's job.
#
# ### How noisy are the tags?
#
# The generator records its parameters in `ds.info`, including the synonyms of every concept. From them we measure
# the noise directly: the fraction of a pair's concepts that has no full synonym among its tags should be close to the
# drop probability `p_drop` (a few dropped concepts are restored when a pair would otherwise have no tag at all).

# %%
info = ds.info
col = {w: j for j, w in enumerate(ds.vocab)}
texts_all = np.concatenate([ds.query.texts, ds.database.texts])
labels_all = np.concatenate([ds.query.labels, ds.database.labels])
has_synonym = np.stack([texts_all[:, [col[w] for w in info["synonyms"][name]]].max(1) > 0
                        for name in ds.label_names], axis=1)                       # (n, concepts)
present = labels_all.astype(bool)
missing = (present & ~has_synonym).sum() / present.sum()
wrong = (~present & has_synonym).any(1).mean()
concept_words = {w for ws in info["synonyms"].values() for w in ws}
background = [j for j, w in enumerate(ds.vocab) if w not in concept_words and w not in
              {n_.split()[0] for n_ in ds.label_names} | {n_.split()[1] for n_ in ds.label_names}]
print(f"p_drop = {info['p_drop']}, measured fraction of concepts without a synonym tag = {missing:.3f}")
print(f"pairs with a synonym of a concept they do not show = {wrong:.3f} (p_wrong = {info['p_wrong']})")
print(f"background tags per pair: {texts_all[:, background].sum(1).mean():.2f}")
assert abs(missing - info["p_drop"]) < 0.02
assert abs(wrong - info["p_wrong"]) < 0.02

# %% [markdown]
# ## Label statistics
#
# Relevance is "shares at least one label", so what matters is how many labels a pair has and how they co-occur.
# `data.label_stats` summarises a label matrix without ever building the $n\times n$ relevance matrix; we check it
# against a brute-force count on the query set, where $1000\times1000$ is small.

# %%
stats = data.label_stats(labels_all, texts_all)
q_stats = data.label_stats(Lq)
S_q = (Lq.astype(np.int32) @ Lq.T.astype(np.int32)) > 0
np.fill_diagonal(S_q, False)
assert abs(q_stats["relevant_pair_fraction"] - S_q.sum() / (len(Lq) * (len(Lq) - 1))) < 1e-12
assert q_stats["labels_per_pair"]["mean"] == Lq.sum(1).mean()
print({k_: v for k_, v in stats.items() if k_ != "label_frequency"})

# %%
def label_figures(labels, names, title):
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), gridspec_kw={"width_ratios": [1, 1.4, 1.4]})
    per = labels.sum(1)
    axes[0].bar(*np.unique(per, return_counts=True), color="tab:blue")
    axes[0].set(xlabel="labels per pair", ylabel="pairs", title=f"{title}: labels per pair")
    freq = labels.mean(0)
    axes[1].bar(range(len(names)), freq, color="tab:orange")
    axes[1].set_xticks(range(len(names)))
    axes[1].set_xticklabels(names, rotation=90, fontsize=7)
    axes[1].set(ylabel="fraction of pairs", title="label frequency")
    co = labels.T.astype(np.int64) @ labels.astype(np.int64)       # co-occurrence counts (L^T L)
    plots.heatmap(co, names, names, ax=axes[2], title="co-occurrence (log scale)", log=True)
    fig.tight_layout()
    return fig


label_figures(labels_all, ds.label_names, "toy")
plt.show()

# %% [markdown]
# The block structure of the co-occurrence matrix is the scenes: concepts of the same scene appear together far more
# often than others. Because each pair has about three labels drawn from 16, close to half of all pairs are relevant
# to each other (`relevant_pair_fraction` above). That is typical of multi-label benchmarks, and it is why the mAP@all
# of a random ranking is far from 0: it is about this fraction.
#
# The **tag vocabulary** holds the concept synonyms, the colour and shape words, and background words:

# %%
tag_freq = texts_all.sum(0)
top = np.argsort(-tag_freq, kind="stable")[:20]
print(f"vocabulary size {len(ds.vocab)}; tags per pair {stats['tags_per_pair']}")
print("20 most frequent tags:", ", ".join(f"{ds.vocab[j]} ({int(tag_freq[j])})" for j in top))

# %% [markdown]
# ## The protocol split
#
# Every experiment in the book splits the pairs the same way (METHODS §1.2): a random **query** set; the rest is the
# retrieval **database**; the **training** set is drawn from the database; a **validation** set, disjoint from the
# training set, is the only data used to choose a model (an epoch, a hyperparameter). The query set is never looked
# at during training or selection. For the toy preset the sizes scale with $n$; for MIRFLICKR-25K they are DCMH's
# 2,000 / 18,015 / 10,000 (plus 1,000 validation pairs from the database).

# %%
sp = ds.split
q, db, tr, va = (set(a.tolist()) for a in (sp.query, sp.database, sp.train, sp.val))
assert not q & db, "query and database overlap"
assert tr <= db and va <= db and not tr & va
assert q | db == set(range(10_000))
assert set(ds.train.ids.tolist()) == tr            # the PairSets hold exactly those rows
record = sp.as_dict()
print(record)
assert data.make_split(10_000, preset="toy", seed=0).as_dict() == record       # same seed, same split
assert data.make_split(10_000, preset="toy", seed=1).as_dict()["digest"] != record["digest"]
print({name: p.sizes(p.n_total) for name, p in data.PROTOCOLS.items()})

# %% [markdown]
# `Split.as_dict()` is stored with every result: the preset, the seed, the sizes and a digest of each index set, so
# two numbers computed on different splits can never be silently compared.
#
# ## Real data (when available)
#
# The project keeps real data outside the repository. `data.shared_data_dir()` finds it (`../shared/data` or
# `$HASHNOTES_DATA`); without it the cells below print why and skip their work, so the book still builds.

# %%
root = data.shared_data_dir()
if root is None:
    print("No shared data directory (../shared/data or $HASHNOTES_DATA): the real-data sections are skipped.")
else:
    print("real data in", root)

# %% [markdown]
# ### Real MIRFLICKR photos with their tags
#
# MIRFLICKR-25K is 25,000 Flickr photos with their users' tags; the DCMH-cleaned release keeps 20,015 pairs, 24
# concept labels and a 1,386-word tag vocabulary. Thumbnails of 730 of those photos are available here. Compare
# their tags with the toy's: real tags are personal ("explore", "nikon", "2007"), many describe nothing visible, and
# the labels were assigned by annotators, not derived from the tags.

# %%
photos = None
if root is None or not (root / "mirflickr_thumbs_index.csv").is_file():
    print("Skipped: mirflickr_thumbs_index.csv and mirflickr_thumbs_im1-1000/ are not in the shared data directory.")
else:
    photos = data.mirflickr_photos(root, size=96)
    pick = np.random.default_rng(3).choice(len(photos.files), size=12, replace=False)
    fig = plots.show_pairs(photos.pairs.images[pick], [" ".join(photos.tags[i]) for i in pick],
                           [", ".join(photos.labels[i]) for i in pick], ncols=6)
    plt.show()

# %% [markdown]
# ### MIRFLICKR-25K next to the toy

# %%
mir = None
if root is None or not (root / "mirflickr25k-lall.mat").is_file():
    print("Skipped: mirflickr25k-lall.mat / mirflickr25k-yall.mat are not in the shared data directory.")
else:
    mir = data.mirflickr25k(root, images="names")
    L_mir = np.concatenate([mir.query.labels, mir.database.labels])
    T_mir = np.concatenate([mir.query.texts, mir.database.texts])
    s_mir = data.label_stats(L_mir, T_mir)
    rows = [("pairs", stats["n"], s_mir["n"]), ("labels", stats["n_labels"], s_mir["n_labels"]),
            ("labels per pair (mean)", stats["labels_per_pair"]["mean"], s_mir["labels_per_pair"]["mean"]),
            ("labels per pair (max)", stats["labels_per_pair"]["max"], s_mir["labels_per_pair"]["max"]),
            ("relevant pair fraction", stats["relevant_pair_fraction"], s_mir["relevant_pair_fraction"]),
            ("vocabulary", stats["vocab_size"], s_mir["vocab_size"]),
            ("tags per pair (mean)", stats["tags_per_pair"]["mean"], s_mir["tags_per_pair"]["mean"])]
    print(f"{'':>24} {'toy':>10} {'MIRFLICKR-25K':>14}")
    for name, a, b in rows:
        print(f"{name:>24} {a:>10.3g} {b:>14.3g}")
    print("protocol:", mir.split.as_dict())
    label_figures(L_mir, mir.label_names, "MIRFLICKR-25K")
    plt.show()

# %% [markdown]
# Both datasets have three to four labels per pair and roughly half of all pairs relevant to each other. MIRFLICKR's
# label frequencies are far more skewed (*people*, *sky*, *structures*, *plant_life* dominate), its label counts have
# a long tail, and its co-occurrence has structure of a different kind: near-duplicate labels such as *sea* and
# *water*, *people* and *female*/*male*/*portrait*.
#
# ### The Wikipedia dataset
#
# The Wikipedia dataset (Rasiwasia et al., 2010) is small and **single-label**: 2,866 article sections with one image
# each, in 10 categories; the common release has 128-d SIFT bag-of-visual-words image features and 10-d LDA topic
# text features, not raw pixels or words. With one label per item, "relevant" means "same category".

# %%
if root is None or not ((root / "wiki" / "wikiData.mat").is_file() or (root / "wikiData.mat").is_file()):
    print("Skipped: wiki/wikiData.mat is not in the shared data directory.")
else:
    wk = data.wiki(root)
    print(wk.split.as_dict())
    print("image features", wk.database.images.shape, "| text features", wk.database.texts.shape)
    counts = np.concatenate([wk.query.labels, wk.database.labels]).sum(0)
    s_wk = data.label_stats(np.concatenate([wk.query.labels, wk.database.labels]))
    assert s_wk["labels_per_pair"]["max"] == 1
    print(f"relevant pair fraction {s_wk['relevant_pair_fraction']:.3f} (single-label, 10 classes)")
    fig, ax = plt.subplots(figsize=(7, 2.8))
    ax.bar(wk.label_names, counts, color="tab:purple")
    ax.set(ylabel="pairs", title="Wikipedia: pairs per category")
    plt.xticks(rotation=45)
    plt.tight_layout()
    plt.show()

# %% [markdown]
# ## Try it: the toy generator's noise
#
# In a live kernel, change how often tags are dropped or wrong and how many background tags a pair gets, and press
# **Run**: the panel draws 500 new pairs, shows a few of them, and reports the tag-LSH mAP (T→T, 32 bits).
# The static figure below runs the same measurement for a sweep of the drop probability.

# %%
def tag_lsh_map(p_drop=0.25, p_wrong=0.05, spurious_mean=2.0, n=2000, bits=32, seed=0):
    d_ = data.toy(n=n, seed=seed, p_drop=p_drop, p_wrong=p_wrong, spurious_mean=spurious_mean)
    qt, dt = lsh_codes(d_.train.texts, [d_.query.texts, d_.database.texts], bits)
    return d_, metrics.mean_average_precision(qt, dt, d_.query.labels, d_.database.labels)


def noise_panel(p_drop=0.25, p_wrong=0.05, spurious_mean=2.0):
    d_, m = tag_lsh_map(p_drop, p_wrong, spurious_mean, n=500)
    print(f"T→T mAP with 32-bit LSH of the tags: {m:.3f}")
    plots.show_pairs(d_.train.images[:6], [tags_of(t, d_.vocab) for t in d_.train.texts[:6]],
                     [labels_of(l, d_.label_names) for l in d_.train.labels[:6]], ncols=6)
    plt.show()


panel = widgets.retrain_panel(
    noise_panel,
    p_drop=widgets.float_slider("p_drop", 0.25, 0.0, 0.9),
    p_wrong=widgets.float_slider("p_wrong", 0.05, 0.0, 0.5),
    spurious_mean=widgets.float_slider("background", 2.0, 0.0, 8.0, step=0.5),
)

# %%
drops = [0.0, 0.25, 0.5, 0.75]
maps = [tag_lsh_map(p_drop=p)[1] for p in tqdm(drops, desc="p_drop sweep")]
plots.sweep_curve(drops, {"T→T LSH, 32 bits": maps}, xlabel="p_drop (probability a concept's tags are dropped)",
                  ylabel="mAP", title="Tag noise against retrievability (toy, n=2000)")
plt.show()

# %% [markdown]
# ## Summary
#
# - The toy data is a set of seeded multi-label pairs whose labels are shape-colour conjunctions: a colour histogram
#   barely beats chance on it, so the image side needs a CNN; its tags are synonyms with drops, partial words, wrong
#   concepts and background words, so the text side needs a learned model too.
# - About three labels per pair and correlated scenes make about half of all pairs relevant, like MIRFLICKR-25K.
# - Every experiment uses a seeded query / database / train / validation split; the training and validation sets come
#   from the database, the query set is never used for selection, and `Split.as_dict()` is stored with every result.
#
# ## Exercises
#
# **Exercise 1.** Why does a colour histogram do slightly better than chance at all on the toy data?
#
# :::{dropdown} Solution
# Colours are not independent of the labels: a pair with *red disc* and *red ring* has more red than one without red
# concepts, and scenes make some colours co-occur. What the histogram cannot see is the shape that carries each colour.
# :::
#
# **Exercise 2.** With 16 concepts, about 3 labels per pair drawn *independently* and uniformly, what fraction
# of pairs would be relevant? Why is the toy's fraction different?
#
# :::{dropdown} Solution
# Two independent random 3-subsets of 16 labels are disjoint with probability $\binom{13}{3}/\binom{16}{3} = 286/560
# \approx 0.51$, so about $49\%$ of pairs would be relevant. Scenes concentrate labels, which makes pairs of the same
# scene share labels more often and pairs of different scenes less often; the net fraction moves away from the
# independent value (the `relevant_pair_fraction` printed above).
# :::
#
# **Exercise 3.** Which single change to the split would let information about the query set leak into model
# selection, and how does `Split.as_dict()` help detect it?
#
# :::{dropdown} Solution
# Choosing the validation set from the query set (or choosing the epoch by query mAP). `as_dict()` records the digest
# of every index set, and the package's tests assert that `val` lies inside the database, so a split that used query
# items for validation would either fail those checks or produce a different digest than the published one.
# :::
