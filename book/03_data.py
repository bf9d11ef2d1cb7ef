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
# protocol split every experiment records. It then shows real MIRFLICKR photos with their tags, the label statistics
# of MIRFLICKR-25K {cite}`huiskes2008mirflickr` next to the toy's, and the Wikipedia dataset
# {cite}`rasiwasia2010wiki`: computed from the files where they are present, and otherwise the same numbers as
# shipped with the package.

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
from pathlib import Path

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
# write these matrices column-major, e.g. $\mathbf Y \in \mathbb R^{d \times n}$, which is our `texts.T`;
# see {ref}`dec-layout`).

# %% mystnb={"figure": {"name": "fig-toy-pairs", "caption": "Twelve toy pairs: the picture, its labels (blue, above) and its tags (below)."}}
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
# of {doc}`02_evaluation`) and retrieve images with images.

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
for bits in tqdm([16, 32, 64], desc="LSH baselines", disable=not widgets.live()):
    qi, di = lsh_codes(hist_train, [hist_q, hist_db], bits)
    qt, dt = lsh_codes(ds.train.texts, [ds.query.texts, ds.database.texts], bits)
    rows.append((bits, metrics.mean_average_precision(qi, di, Lq, Ldb),
                 metrics.mean_average_precision(qt, dt, Lq, Ldb)))
m_img_best = max(r_[1] for r_ in rows)
m_txt_worst = min(r_[2] for r_ in rows)
gain_img, gain_txt = m_img_best - chance, m_txt_worst - chance
assert 0 < gain_img < 0.03                   # the text below: the colour histogram barely beats chance ...
assert gain_txt > 5 * gain_img               # ... while the tags gain at least five times as much
widgets.glue("gain_ratio", gain_txt / gain_img)
widgets.glue("chance", chance)
widgets.glue("hist_map_best", m_img_best)
widgets.glue("tags_map_worst", m_txt_worst)
print(f"chance level (fraction of relevant database items): {chance:.3f}")
plots.table(rows, ["bits", "I→I colour histogram", "T→T tags"], formats=[None, ".3f", ".3f"])

# %% [markdown]
# The colour histogram barely beats chance: its best mAP is {glue:text}`hist_map_best:.3f` against a chance level
# of {glue:text}`chance:.3f`, while the tags, noisy as they are, reach at least {glue:text}`tags_map_worst:.3f`, a
# gain over chance {glue:text}`gain_ratio:.0f` times as large. Learning to see *which colour is where* is the image network's job; learning that "crimson_circle"
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
assert 0.35 < stats["relevant_pair_fraction"] < 0.65                   # "close to half", below
widgets.glue("toy_rel_frac", stats["relevant_pair_fraction"])
widgets.glue("toy_labels_mean", stats["labels_per_pair"]["mean"])
widgets.glue("toy_n_labels", stats["n_labels"])

# %% mystnb={"figure": {"name": "fig-toy-labels", "caption": "Toy labels: how many labels a pair has, how often each label occurs, and how often two labels occur together (log colour scale)."}}
def label_figures(summary, title):
    """Pairs per label count, label frequency and co-occurrence (log colour scale) of ``label_summary``."""
    names = summary["names"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), gridspec_kw={"width_ratios": [1, 1.4, 1.4]})
    axes[0].bar(*summary["per_pair"], color="tab:blue")
    axes[0].set(xlabel="labels per pair", ylabel="pairs", title=f"{title}: labels per pair")
    axes[1].bar(range(len(names)), summary["frequency"], color="tab:orange")
    axes[1].set_xticks(range(len(names)))
    axes[1].set_xticklabels(names, rotation=90, fontsize=7)
    axes[1].set(ylabel="fraction of pairs", title="label frequency")
    co = np.asarray(summary["cooccurrence"])       # co-occurrence counts (L^T L)
    plots.heatmap(co, names, names, ax=axes[2], title="co-occurrence (log scale)", log=True)
    fig.tight_layout()
    return fig


def label_summary(labels, names):
    """What the label figures draw: pairs per label count, label frequencies, the co-occurrence counts."""
    L = np.asarray(labels)
    ks, counts = np.unique(L.sum(1), return_counts=True)
    return {"per_pair": [ks.tolist(), counts.tolist()], "frequency": L.mean(0).tolist(),
            "cooccurrence": (L.T.astype(np.int64) @ L.astype(np.int64)).tolist(), "names": list(names)}


label_figures(label_summary(labels_all, ds.label_names), "toy")
plt.show()

# %% [markdown]
# The block structure of the co-occurrence matrix is the scenes: concepts of the same scene appear together far more
# often than others ({numref}`fig-toy-labels`). Because each pair has about {glue:text}`toy_labels_mean:.1f` labels
# drawn from {glue:text}`toy_n_labels`, close to half of all pairs are relevant to each other (a fraction of
# {glue:text}`toy_rel_frac:.3f`). That is typical of multi-label benchmarks, and it is why the mAP@all of a random
# ranking is far from 0: it is about this fraction.
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
# Every experiment in the book splits the pairs the same way ({ref}`dec-selection`): a random **query** set; the rest is the
# retrieval **database**; the **training** set is drawn from the database; a **validation** set, disjoint from the
# training set, is the only data used to choose a model (an epoch, a hyperparameter). The query set is never looked
# at during training or selection. For the toy preset the sizes scale with $n$; for MIRFLICKR-25K they are the ones
# of {cite:t}`jiang2017dcmh`: {glue:text}`mir_query:,` queries, a database of {glue:text}`mir_db:,` and
# {glue:text}`mir_train:,` training pairs, plus {glue:text}`mir_val:,` validation pairs from the database.

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
mir_p = data.PROTOCOLS["mirflickr25k"]
for key, value in (("mir_query", mir_p.n_query), ("mir_db", mir_p.n_total - mir_p.n_query),
                   ("mir_train", mir_p.n_train), ("mir_val", mir_p.n_val)):
    widgets.glue(key, value)
plots.table([[name, p.n_total, p.n_query, p.n_train, p.n_val] for name, p in data.PROTOCOLS.items()],
            ["preset", "pairs", "queries", "training pairs", "validation pairs"])

# %% [markdown]
# `Split.as_dict()` is stored with every result: the preset, the seed, the sizes and a digest of each index set, so
# two numbers computed on different splits can never be silently compared.
#
# ## Real data
#
# The project keeps real data outside the repository. `data.download(name)` fetches each data set from its public
# source, checking every file's sha256, into the folder named by `$HASHNOTES_DATA` or else the user's cache folder,
# and `data.shared_data_dir()` finds that folder again:
# `data.download("mirflickr25k")`, `data.download("mirflickr_photos")` and `data.download("wiki")` get what this
# chapter and {doc}`07_ugach` read. Where the files are present the cells below compute their numbers and check
# them against the results that ship with the package; where they are not, they show those shipped results, made
# on the real data by the command each cell names.

# %%
from hashnotes import sections

root = data.shared_data_dir()
print("data folder:", "none found" if root is None else f"found ({sum(1 for _ in root.iterdir())} entries)")

# %% [markdown]
# ### Real MIRFLICKR photos with their tags
#
# MIRFLICKR-25K is 25,000 Flickr photos with their users' tags {cite}`huiskes2008mirflickr`; the release cleaned
# for DCMH {cite}`jiang2017dcmh` keeps 20,015 pairs, 24 concept labels and a 1,386-word tag vocabulary (the next
# cells check these numbers against the files). Thumbnails of {glue:text}`photos_n` of those photos are available.
# Compare their tags with the toy's: real tags are personal ("explore", "nikon", "2007"), many describe nothing
# visible, and the labels were assigned by annotators, not derived from the tags.

# %%
PHOTO_FILES = ["mirflickr_thumbs_index.csv", "mirflickr_thumbs_im1-1000", "mirflickr25k-lall.mat",
               "mirflickr25k-yall.mat"]
photo_sec = sections.Section("data_mirflickr_photos", PHOTO_FILES, "book/03_data.ipynb", seeded=False)
photos = None
for seed in photo_sec.seeds():          # seed 0 only: which photos are shown is fixed below
    photos = data.mirflickr_photos(root, size=96)
    pick = np.random.default_rng(3).choice(len(photos.files), size=12, replace=False)
    photo_sec.keep(seed, {"n": len(photos.files)},
                   data={"pick": pick, "files": [Path(photos.files[i]).name for i in pick],
                         "labels": [photos.labels[i] for i in pick], "tags": [photos.tags[i] for i in pick]})
photo_sec.finish().show()
shown = photo_sec.data
assert photo_sec.values["n"] == 730 and len(shown["files"]) == 12      # "730 of those photos", the text above
widgets.glue("photos_n", photo_sec.values["n"])
plots.table([[f, ", ".join(lab), " ".join(t[:10]) + (" …" if len(t) > 10 else "")]
             for f, lab, t in zip(shown["files"], shown["labels"], shown["tags"])],
            ["photo", "labels (annotators)", "Flickr tags (users)"])

# %% mystnb={"figure": {"name": "fig-mir-photos", "caption": "The twelve real MIRFLICKR photos of the table above with their annotated labels (blue) and their Flickr tags."}}
if photos is not None:
    fig = plots.show_pairs(photos.pairs.images[shown["pick"]], [" ".join(t) for t in shown["tags"]],
                           [", ".join(lab) for lab in shown["labels"]], ncols=6)
    plt.show()
else:
    print("The photos themselves are not shipped (they are Flickr users' pictures under their own licences): "
          'data.download("mirflickr_photos") fetches the 1,000 thumbnails, and this cell then shows them.')

# %% [markdown]
# ### MIRFLICKR-25K next to the toy

# %%
mir_sec = sections.Section("data_mirflickr_labels", ["mirflickr25k-lall.mat", "mirflickr25k-yall.mat"],
                           "book/03_data.ipynb", seeded=False)
for seed in mir_sec.seeds():
    mir = data.mirflickr25k(root, images="names")
    L_mir = np.concatenate([mir.query.labels, mir.database.labels])
    s_mir = data.label_stats(L_mir, np.concatenate([mir.query.texts, mir.database.texts]))
    mir_sec.keep(seed, {"n": s_mir["n"], "n_labels": s_mir["n_labels"], "vocab_size": s_mir["vocab_size"],
                        "labels_mean": s_mir["labels_per_pair"]["mean"], "labels_max": s_mir["labels_per_pair"]["max"],
                        "relevant_fraction": s_mir["relevant_pair_fraction"],
                        "tags_mean": s_mir["tags_per_pair"]["mean"]},
                 data=label_summary(L_mir, mir.label_names))
mir_sec.finish().show()
m_, summ = mir_sec.values, mir_sec.data
assert (m_["n"], m_["n_labels"], m_["vocab_size"]) == (20_015, 24, 1_386)   # the release, as stated
rows = [("pairs", stats["n"], m_["n"]), ("labels", stats["n_labels"], m_["n_labels"]),
        ("labels per pair (mean)", stats["labels_per_pair"]["mean"], m_["labels_mean"]),
        ("labels per pair (max)", stats["labels_per_pair"]["max"], m_["labels_max"]),
        ("relevant pair fraction", stats["relevant_pair_fraction"], m_["relevant_fraction"]),
        ("vocabulary", stats["vocab_size"], m_["vocab_size"]),
        ("tags per pair (mean)", stats["tags_per_pair"]["mean"], m_["tags_mean"])]
fmt = lambda v: f"{v:,}" if isinstance(v, (int, np.integer)) else f"{v:.3f}"  # noqa: E731
display(plots.table(rows, ["", "toy", "MIRFLICKR-25K"], formats=[None, fmt, fmt]))
# the comparison in the text below
for mean_, rel_ in ((stats["labels_per_pair"]["mean"], stats["relevant_pair_fraction"]),
                    (m_["labels_mean"], m_["relevant_fraction"])):
    assert 2.5 <= mean_ <= 4.5 and 0.35 < rel_ < 0.65
f_toy, f_mir = np.array(stats["label_frequency"]), np.array(summ["frequency"])
skew_toy, skew_mir = f_toy.max() / f_toy.min(), f_mir.max() / f_mir.min()
assert skew_mir > 3 * skew_toy and m_["labels_max"] > stats["labels_per_pair"]["max"]
top4 = [summ["names"][j] for j in np.argsort(-f_mir, kind="stable")[:4]]
co = np.array(summ["cooccurrence"])
cond = co / np.maximum(np.diag(co)[:, None], 1)            # P(label b | label a)
np.fill_diagonal(cond, 0)
a_, b_ = np.unravel_index(np.argmax(cond), cond.shape)
widgets.glue("mir_skew", skew_mir)
widgets.glue("toy_skew", skew_toy)
widgets.glue("mir_top4", ", ".join(f"*{t}*" for t in top4))
widgets.glue("mir_pair", f"*{summ['names'][b_]}* given *{summ['names'][a_]}*")
widgets.glue("mir_pair_p", float(cond[a_, b_]))

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-mir-labels", "caption": "MIRFLICKR-25K labels, drawn as the toy's are in the figure above."}}
label_figures(summ, "MIRFLICKR-25K")
plt.show()

# %% [markdown]
# Both datasets have three to four labels per pair on average and roughly half of all pairs relevant to each other
# (the cell asserts both). MIRFLICKR's label frequencies are far more skewed: its most frequent label is
# {glue:text}`mir_skew:.0f` times as frequent as its rarest (the toy's: {glue:text}`toy_skew:.1f` times), and
# {glue:md}`mir_top4` dominate. Its label counts have a longer tail, and its co-occurrence has structure of a
# different kind: near-duplicate labels, the strongest being {glue:md}`mir_pair` (probability
# {glue:text}`mir_pair_p:.2f`).
#
# ### The Wikipedia dataset
#
# The Wikipedia dataset {cite}`rasiwasia2010wiki` is small and **single-label**: {glue:text}`wiki_pairs:,` article
# sections with one image each, in {glue:text}`wiki_classes` categories; the common release has
# {glue:text}`wiki_img_dim`-d SIFT bag-of-visual-words image features and {glue:text}`wiki_txt_dim`-d LDA topic
# text features, not raw pixels or words (the cell checks these sizes). With one label per item, "relevant" means
# "same category" ({ref}`dec-relevance`): two random items are relevant to each other with probability
# {glue:text}`wiki_rel:.3f`.

# %%
wiki_sec = sections.Section("data_wiki", [("wiki/wikiData.mat", "wikiData.mat")], "book/03_data.ipynb",
                            seeded=False)
for seed in wiki_sec.seeds():
    wk = data.wiki(root)
    labels_wk = np.concatenate([wk.query.labels, wk.database.labels])
    s_wk = data.label_stats(labels_wk)
    wiki_sec.keep(seed, {**{f"n_{k}": len(getattr(wk, k)) for k in ("query", "database", "train", "val")},
                         "img_dim": wk.database.images.shape[1], "txt_dim": wk.database.texts.shape[1],
                         "classes": len(wk.label_names), "labels_max": s_wk["labels_per_pair"]["max"],
                         "relevant_fraction": s_wk["relevant_pair_fraction"]},
                  data={"names": list(wk.label_names), "counts": labels_wk.sum(0)}, dataset=wk)
wiki_sec.finish().show()
w_ = wiki_sec.values
assert w_["n_query"] + w_["n_database"] == 2_866 and w_["img_dim"] == 128
assert w_["txt_dim"] == 10 and w_["classes"] == 10 and w_["labels_max"] == 1
for key, value in (("wiki_pairs", w_["n_query"] + w_["n_database"]), ("wiki_classes", w_["classes"]),
                   ("wiki_img_dim", w_["img_dim"]), ("wiki_txt_dim", w_["txt_dim"]),
                   ("wiki_rel", w_["relevant_fraction"])):
    widgets.glue(key, value)
plots.table([[k, w_[f"n_{k}"]] for k in ("query", "database", "train", "val")], ["part", "pairs"])

# %% mystnb={"figure": {"name": "fig-wiki", "caption": "The Wikipedia dataset: pairs per category."}}
fig, ax = plt.subplots(figsize=(7, 2.8))
ax.bar(wiki_sec.data["names"], wiki_sec.data["counts"], color="tab:purple")
ax.set(ylabel="pairs")
plt.xticks(rotation=45, ha="right")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Try it: the toy generator's noise
#
# In a live kernel, change how often tags are dropped or wrong and how many background tags a pair gets, and press
# **Run**: the panel draws 500 new pairs, shows a few of them, and reports the tag-LSH mAP (T→T, 32 bits).
# The static {numref}`fig-pdrop` runs the same measurement for a sweep of the drop probability.

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
    static="the figure below runs the same measurement for four drop probabilities.",
    p_drop=widgets.float_slider("p_drop", 0.25, 0.0, 0.9),
    p_wrong=widgets.float_slider("p_wrong", 0.05, 0.0, 0.5),
    spurious_mean=widgets.float_slider("background", 2.0, 0.0, 8.0, step=0.5),
)

# %% mystnb={"figure": {"name": "fig-pdrop", "caption": "Tag noise against retrievability: T→T mAP of 32-bit random projections of the tags, toy data with 2,000 pairs, for four drop probabilities."}}
drops = [0.0, 0.25, 0.5, 0.75]
maps = [tag_lsh_map(p_drop=p)[1] for p in tqdm(drops, desc="p_drop sweep", disable=not widgets.live())]
assert maps[0] > maps[-1]          # dropping more tags makes the text side harder to retrieve with
plots.sweep_curve(drops, {"T→T LSH, 32 bits": maps}, xlabel="p_drop (probability a concept's tags are dropped)",
                  ylabel="mAP")
plt.show()

# %% [markdown]
# ## Summary
#
# - The toy data is a set of seeded multi-label pairs whose labels are shape-colour conjunctions: a colour histogram
#   barely beats chance on it, so the image side needs a CNN; its tags are synonyms with drops, partial words, wrong
#   concepts and background words, so the text side needs a learned model too.
# - About {glue:text}`toy_labels_mean:.0f` labels per pair and correlated scenes make about half of all pairs
#   relevant, like MIRFLICKR-25K.
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
