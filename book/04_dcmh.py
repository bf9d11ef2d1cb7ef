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
# # DCMH: deep cross-modal hashing
#
# *Deep Cross-Modal Hashing* {cite}`jiang2017dcmh` trains an image network and a text network
# end to end so that the signs of their outputs are binary codes in which an image and a text that share
# a label lie close in Hamming space. It is the template for the next two chapters: the Cauchy method and
# TDH reuse its alternating loop, its buffers and its closed-form code update.
#
# This chapter derives the objective term by term, checks every formula numerically against the package,
# trains a reduced DCMH on the toy data, and compares it with the classic CCA baseline {cite}`hotelling1936cca`.
#
# **Layout.** The papers write code matrices column-major, $\mathbf F \in \mathbb R^{c\times n}$ with one
# column per item. The package stores them row-major: `F` has shape `(n, c)`, one row per item, so `F` is
# the papers' $\mathbf F^\top$ ({ref}`dec-layout`).

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
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from hashnotes import data, metrics, plots, widgets
from hashnotes.losses import pairwise
from hashnotes.methods import CCA, DCMH

g = torch.Generator().manual_seed(0)

# %% [markdown]
# ## The likelihood of a pair
#
# Let $f(\mathbf x_i)\in\mathbb R^c$ be the image network's output for image $i$ and $g(\mathbf y_j)\in\mathbb
# R^c$ the text network's output for text $j$; write $\mathbf F_{*i}$ and $\mathbf G_{*j}$ for them. The
# label similarity is $S_{ij}=1$ when the two items share at least one label, else $0$. DCMH models it with
# a logistic likelihood of half the inner product:
#
# $$
# \Theta_{ij} = \tfrac12\,\mathbf F_{*i}^\top \mathbf G_{*j}, \qquad
# p(S_{ij}=1 \mid \mathbf F_{*i}, \mathbf G_{*j}) = \sigma(\Theta_{ij}) = \frac{1}{1+e^{-\Theta_{ij}}} .
# $$ (eq-dcmh-lik)
#
# Why an inner product? For binary codes $\mathbf b, \mathbf b' \in\{-1,+1\}^c$, each agreeing bit adds
# $+1$ to $\mathbf b^\top\mathbf b'$ and each disagreeing bit adds $-1$. With $d_H$ disagreements,
# $\mathbf b^\top\mathbf b' = (c-d_H) - d_H = c - 2d_H$, so
#
# $$
# \Theta = \tfrac12\,\mathbf b^\top \mathbf b' = \frac c2 - d_H(\mathbf b, \mathbf b') .
# $$ (eq-theta-hamming)
#
# Raising the likelihood of similar pairs therefore lowers their Hamming distance. A quick check:

# %%
c = 16
Fb = torch.where(torch.randn(6, c, generator=g) >= 0, 1.0, -1.0)
Gb = torch.where(torch.randn(9, c, generator=g) >= 0, 1.0, -1.0)
d_H = (Fb[:, None, :] != Gb[None, :, :]).sum(-1).float()
theta = pairwise.theta(Fb, Gb)            # the package: 0.5 * F @ G.T
assert torch.equal(theta, c / 2 - d_H)
print("Theta = c/2 - d_H holds for all", theta.numel(), "pairs")

# %% [markdown]
# The negative log-likelihood of all $n^2$ pairs is
#
# $$
# -\log p(\mathbf S\mid\mathbf F,\mathbf G) = -\sum_{i,j=1}^n \big(S_{ij}\Theta_{ij} - \log(1+e^{\Theta_{ij}})\big).
# $$ (eq-dcmh-nll)
#
# Written this way, $\log(1+e^{\Theta})$ overflows in float32 once $\Theta > 88$, and the TensorFlow reference
# turned into NaN after about 100 epochs for exactly this reason. The package computes
# $\operatorname{softplus}(\Theta) = \max(\Theta,0) + \log(1+e^{-|\Theta|})$, which is the same number and never
# overflows:

# %%
th = torch.tensor([-1000.0, -20.0, 0.0, 20.0, 1000.0])
naive = torch.log(1 + torch.exp(th))
stable = torch.nn.functional.softplus(th)
print("naive :", naive.tolist())
print("stable:", stable.tolist())
for s in (0.0, 1.0):  # -log p from eq-dcmh-lik, per pair, vs the package's term
    ref = -(s * torch.log(torch.sigmoid(th.double())) + (1 - s) * torch.log(1 - torch.sigmoid(th.double())))
    pkg = torch.stack([pairwise.nll(t.view(1, 1) * 2, torch.ones(1, 1), torch.full((1, 1), s)) for t in th])
    finite = torch.isfinite(ref)
    assert torch.isfinite(pkg).all()
    assert torch.allclose(pkg.double()[finite], ref[finite], atol=1e-4)
print("the package's likelihood term is finite at Theta = +-1000 and equals -log p elsewhere")

# %% [markdown]
# ## Quantization and bit balance
#
# The outputs are real; the codes are their signs. DCMH introduces one binary matrix
# $\mathbf B\in\{-1,+1\}^{c\times n}$ shared by an item's image and text and asks both outputs to stay close
# to it. It also asks every bit to be $+1$ on about half of the training items, which makes bits
# informative. The full objective (paper eq. 2) is
#
# $$
# \begin{aligned}
# \min_{\mathbf B,\theta_x,\theta_y}\ \mathcal J = {}& -\sum_{i,j}\big(S_{ij}\Theta_{ij}-\log(1+e^{\Theta_{ij}})\big) \\
# &+ \gamma\big(\|\mathbf B-\mathbf F\|_F^2+\|\mathbf B-\mathbf G\|_F^2\big)
# + \eta\big(\|\mathbf F\mathbf 1\|^2+\|\mathbf G\mathbf 1\|^2\big).
# \end{aligned}
# $$ (eq-dcmh-objective)
#
# $\mathbf F\mathbf 1$ sums each bit over the $n$ items (row-major: `F.sum(0)`); it is zero when every bit is
# balanced. The package returns the three terms separately; here they are from scratch:

# %%
n, c = 7, 5
F = torch.randn(n, c, generator=g, dtype=torch.float64)
G = torch.randn(n, c, generator=g, dtype=torch.float64)
B = torch.where(torch.randn(n, c, generator=g) >= 0, 1.0, -1.0).double()
L = (torch.rand(n, 4, generator=g) < 0.4).double()
S = (L @ L.T > 0).double()
gamma, eta = 1.0, 1.0

Theta = 0.5 * F @ G.T
J_nll = -(S * Theta - torch.log1p(torch.exp(Theta))).sum()      # fine here: |Theta| is small
J_quant = gamma * (((B - F) ** 2).sum() + ((B - G) ** 2).sum())
J_bal = eta * ((F.sum(0) ** 2).sum() + (G.sum(0) ** 2).sum())
pkg = pairwise.objective(F, G, B, S, gamma, eta)
for name, mine in (("nll", J_nll), ("quantization", J_quant), ("balance", J_bal)):
    assert torch.allclose(mine, pkg[name]), name
print({k: round(float(v), 4) for k, v in pkg.items()})

# %% [markdown]
# ## Gradients
#
# The networks are trained by back-propagating $\partial\mathcal J/\partial\mathbf F_{*i}$. With
# $\partial\log(1+e^\Theta)/\partial\Theta = \sigma(\Theta)$ and $\partial\Theta_{ij}/\partial\mathbf F_{*i}
# = \tfrac12\mathbf G_{*j}$ (paper eq. 3):
#
# $$
# \frac{\partial\mathcal J}{\partial\mathbf F_{*i}} = \frac12\sum_{j=1}^n\big(\sigma(\Theta_{ij})-S_{ij}\big)\mathbf G_{*j}
# + 2\gamma(\mathbf F_{*i}-\mathbf B_{*i}) + 2\eta\,\mathbf F\mathbf 1 .
# $$ (eq-dcmh-grad)
#
# In matrix form, with $\mathbf A = \sigma(\tfrac12\mathbf F^\top\mathbf G)-\mathbf S$, this is
# $\nabla_{\mathbf F}\mathcal J = \tfrac12\mathbf G\mathbf A^\top + 2\gamma(\mathbf F-\mathbf B) + 2\eta\mathbf F\mathbf 1\mathbf 1^\top$;
# row-major, `dF = 0.5 * A @ G + 2γ(F − B) + 2η·1(1ᵀF)`. The text gradient is symmetric with $\mathbf A^\top$.
# We compare the closed form with autograd in float64:

# %%
A = torch.sigmoid(0.5 * F @ G.T) - S
dF_scratch = 0.5 * A @ G + 2 * gamma * (F - B) + 2 * eta * F.sum(0, keepdim=True).expand_as(F)
dG_scratch = 0.5 * A.T @ F + 2 * gamma * (G - B) + 2 * eta * G.sum(0, keepdim=True).expand_as(G)

Fv, Gv = F.clone().requires_grad_(True), G.clone().requires_grad_(True)
pairwise.objective(Fv, Gv, B, S, gamma, eta)["total"].backward()
dF_pkg, dG_pkg = pairwise.gradients(F, G, B, S, gamma, eta)
assert torch.allclose(dF_scratch, Fv.grad, atol=1e-12) and torch.allclose(dG_scratch, Gv.grad, atol=1e-12)
assert torch.allclose(dF_pkg, Fv.grad, atol=1e-12) and torch.allclose(dG_pkg, Gv.grad, atol=1e-12)
print("max |closed form - autograd| =", float((dF_scratch - Fv.grad).abs().max()))

# %% [markdown]
# ## The closed-form code update
#
# With the networks fixed, only the quantization term depends on $\mathbf B$. Because
# $\|\mathbf B\|_F^2 = nc$ for every binary matrix,
#
# $$
# \gamma\big(\|\mathbf B-\mathbf F\|_F^2+\|\mathbf B-\mathbf G\|_F^2\big)
# = \text{const} - 2\gamma\,\operatorname{tr}\big(\mathbf B^\top(\mathbf F+\mathbf G)\big),
# $$ (eq-dcmh-bstep-trace)
#
# which each entry of $\mathbf B$ maximises on its own by taking the sign of the matching entry:
#
# $$
# \mathbf B = \operatorname{sign}(\mathbf F + \mathbf G).
# $$ (eq-dcmh-bstep)
#
# This is the exact minimiser, not a relaxation. The package breaks ties with $\operatorname{sign}(0)=+1$. We check
# it against all $2^{nc}$ binary matrices for a small case:

# %%
n, c = 3, 4
F3 = torch.randn(n, c, generator=g, dtype=torch.float64)
G3 = torch.randn(n, c, generator=g, dtype=torch.float64)
S3 = torch.eye(n, dtype=torch.float64)
all_B = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=n * c)), dtype=torch.float64).view(-1, n, c)
J_all = torch.stack([pairwise.objective(F3, G3, b, S3)["total"] for b in all_B])
B_brute = all_B[int(torch.argmin(J_all))]
B_closed = torch.where(F3 + G3 >= 0, 1.0, -1.0).double()
assert torch.equal(B_brute, B_closed)
print(f"sign(F+G) is the best of all {len(all_B)} binary matrices")

# %% [markdown]
# ## The alternating loop
#
# DCMH alternates three steps per epoch. The order below is the MATLAB reference's ({ref}`dec-loop-order`), and the package's
# `hashnotes.train.AlternatingHashing` implements it once for every method in this family:
#
# 1. $\mathbf B \leftarrow \operatorname{sign}(\mathbf F+\mathbf G)$, eq. {eq}`eq-dcmh-bstep`;
# 2. **text network**: $\lceil n/b\rceil$ mini-batches, each a fresh random subset of $b$ items. The batch
#    is forwarded, its outputs are written into the buffer $\mathbf G$, and the loss of the batch rows
#    against **all $n$ columns** of the stored image buffer $\mathbf F$ is back-propagated;
# 3. **image network**: the same with the roles swapped.
#
# {numref}`fig-dcmh-loop` draws one epoch: the two buffers, the likelihood that couples them, and the code
# update that reads both.

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-dcmh-loop", "caption": "One epoch of DCMH. Images and texts pass through their own networks into the buffers $\\mathbf F$ and $\\mathbf G$ (one row per training item). (1) The code update sets $\\mathbf B = \\operatorname{sign}(\\mathbf F+\\mathbf G)$; then the text network (2) and the image network (3) are trained on mini-batches, each batch against every stored row of the other buffer (dashed: the gradient of the pairwise likelihood with the quantization and bit-balance terms)."}}
from hashnotes import diagrams

diagrams.two_tower("DCMH")
plt.show()

# %% [markdown]
# The buffers hold the latest output of every item, so most of $\mathbf F$ is a little stale when the text
# network reads it. This is intended: the likelihood couples every pair, and the buffers make its full
# $n\times n$ form affordable. The mini-batch loss is scaled by $1/(nb)$ as in the references
# ({ref}`dec-dcmh-scale`). Before any
# output exists ($\mathbf F=\mathbf G=\mathbf 0$ at the start of epoch 1), the package sets $\mathbf B = \mathbf 0$
# as MATLAB's `sign` does. With $\operatorname{sign}(0)=+1$ every item would start with the same all-ones
# code, and that single code is a fixed point of the alternation ({ref}`dec-dcmh-init`).
#
# **The reduced model.** `DCMH.small()` swaps CNN-F for a small CNN on 32-pixel images and uses a
# 512-unit text MLP. Two further changes let it train from a random start in seconds:
# - a per-bit batch normalisation {cite}`ioffe2015batchnorm` at the end of both networks, so outputs start with
#   scale 1 and mean 0;
# - Adam {cite}`kingma2015adam` with a log-spaced learning rate.
#
# Without them the outputs start near 0.05. There, the likelihood gradient of one modality is proportional
# to the other's outputs, so it is tiny, while the quantization and balance terms shrink the outputs further.
# The cell after the training run measures this on the same data: without the two changes the likelihood stays
# at $n^2\log 2$ ({ref}`dec-dcmh-small`).
# The paper avoids this trap by starting from ImageNet-pretrained CNN-F features {cite}`chatfield2014cnnf`. `DCMH.paper()` keeps the
# published settings: CNN-F at 224 pixels, an 8192-unit text MLP, plain SGD with weight decay 5e-4, and
# a learning rate falling from $10^{-1.5}$ to $10^{-3}$ over 500 epochs.

# %%
# The reduced settings (a CPU) or the package's full .small() preset (a GPU, PRESET == "full").
REDUCED = dict(epochs=8, batch_size=32, small_width=8) if PRESET == "reduced" else {}
ds = data.toy(n=1200 if PRESET == "reduced" else 10_000, seed=0)
print({k: len(getattr(ds, k).ids) for k in ("train", "val", "query", "database")})
widgets.glue("n_train", len(ds.train))

# %% mystnb={"figure": {"name": "fig-dcmh-pairs", "caption": "Four training pairs of the toy data: picture, labels (blue) and the first tags."}}
plots.show_pairs(ds.train.images[:4], [", ".join(np.array(ds.vocab)[ds.train.texts[i] > 0][:6]) for i in range(4)],
                 [", ".join(np.array(ds.label_names)[ds.train.labels[i] > 0]) for i in range(4)])
plt.show()

# %%
BITS = 16
t0 = time.perf_counter()
dcmh = DCMH.small(bits=BITS, **REDUCED).fit(ds.train, val=ds.val, progress=widgets.live())
train_seconds = time.perf_counter() - t0
widgets.glue("epochs", dcmh.config.epochs)
print(f"trained in {train_seconds:.1f} s ({train_seconds / len(dcmh.history):.2f} s per epoch incl. validation); "
      f"best validation epoch {dcmh.best_epoch}")

# %% [markdown]
# Each history row holds the three terms of eq. {eq}`eq-dcmh-objective` on the buffers and the validation
# mAP ({numref}`fig-dcmh-curves`): validation items are the queries and training items the database, so the
# query set never chooses the model ({ref}`dec-selection`).

# %% mystnb={"figure": {"name": "fig-dcmh-curves", "caption": "Training DCMH.small on the toy data: the three terms of the objective on the buffers, per epoch, and the validation mAP in both directions."}}
plots.training_curves(dcmh.history)
plt.show()

# %% [markdown]
# The two changes of the reduced model matter. The same run without the output normalisation and with the
# paper's plain SGD schedule (everything else equal) hardly moves the likelihood away from its value at
# $\mathbf F = \mathbf G = \mathbf 0$, $n^2 \log 2$: the outputs stay tiny, and their signs are close to noise.

# %%
plain = DCMH.small(bits=BITS, **REDUCED, output_norm=False, optimizer="sgd", lr_image=10 ** -1.5, lr_text=10 ** -1.5,
                   lr_end_ratio=1e-3 / 10 ** -1.5, weight_decay=5e-4, eval_every=0).fit(ds.train, progress=False)
nll0 = len(ds.train) ** 2 * np.log(2)
ratio_plain = plain.history[-1]["loss/nll"] / nll0
ratio_small = dcmh.history[-1]["loss/nll"] / nll0
scale = lambda m: float((m.state.F.abs().mean() + m.state.G.abs().mean()) / 2)  # noqa: E731
scale_plain, scale_small = scale(plain), scale(dcmh)
map_plain, map_small = plain.evaluate(ds), dcmh.evaluate(ds)
mean_map = lambda r: (r["map_i2t"] + r["map_t2i"]) / 2  # noqa: E731
assert ratio_plain > 0.99 and ratio_small < 0.9 and scale_plain < 0.25 * scale_small    # the claims of the text
assert mean_map(map_plain) < mean_map(map_small)
for key, value in (("nll_ratio_plain", ratio_plain), ("nll_ratio_small", ratio_small), ("scale_plain", scale_plain),
                   ("scale_small", scale_small),
                   ("map_plain", mean_map(map_plain)), ("map_small", mean_map(map_small))):
    widgets.glue(key, value)
print(f"likelihood / (n^2 log 2) after {plain.config.epochs} epochs: plain {ratio_plain:.4f}, "
      f"DCMH.small {ratio_small:.4f}; mean output magnitude {scale_plain:.3g} (DCMH.small {scale_small:.3g})")

# %% [markdown]
# After {glue:text}`epochs` epochs the likelihood of the plain run is still {glue:text}`nll_ratio_plain:.4f` times
# $n^2\log 2$ (DCMH.small: {glue:text}`nll_ratio_small:.3f`), its outputs have a mean magnitude of
# {glue:text}`scale_plain:.2g` (DCMH.small: {glue:text}`scale_small:.2g`), and its mean mAP over both directions is {glue:text}`map_plain:.3f` against
# {glue:text}`map_small:.3f` for DCMH.small.

# %% [markdown]
# ## Results: DCMH against CCA
#
# CCA {cite}`hotelling1936cca` is the classic unsupervised baseline of the DCMH paper's Table 3. It projects both modalities onto
# their most correlated directions and takes signs. It ignores the labels, and on pixels it sees no shapes.
# Both methods are evaluated on the same query and database split.

# %%
cca = CCA.small(bits=BITS).fit(ds.train, progress=widgets.live())
res = {"DCMH": dcmh.evaluate(ds), "CCA": cca.evaluate(ds)}
# the text below, checked on every run: DCMH ranks better than the CCA baseline in both directions
assert res["DCMH"]["map_i2t"] > res["CCA"]["map_i2t"] and res["DCMH"]["map_t2i"] > res["CCA"]["map_t2i"]
for m in res:
    for k in ("map_i2t", "map_t2i", "p_at_r2_i2t", "p_at_r2_t2i"):
        widgets.glue(f"{m.lower()}_{k}", res[m][k])
p2_lead = {d: "DCMH" if res["DCMH"][f"p_at_r2_{d}"] > res["CCA"][f"p_at_r2_{d}"] else "CCA" for d in ("i2t", "t2i")}
widgets.glue("p2_lead", f"{p2_lead['i2t']} leads in both directions" if p2_lead["i2t"] == p2_lead["t2i"] else
             f"{p2_lead['i2t']} leads for image queries and {p2_lead['t2i']} for text queries")
plots.table([[name, r["map_i2t"], r["map_t2i"], r["p_at_r2_i2t"], r["p_at_r2_t2i"]] for name, r in res.items()],
            ["method", "I→T mAP", "T→I mAP", "I→T P@r≤2", "T→I P@r≤2"])

# %% [markdown]
# DCMH ranks the database better than CCA in both directions: mAP {glue:text}`dcmh_map_i2t:.3f` against
# {glue:text}`cca_map_i2t:.3f` (I→T) and {glue:text}`dcmh_map_t2i:.3f` against {glue:text}`cca_map_t2i:.3f`
# (T→I). Precision within Hamming radius 2 measures something else, the purity of a small ball
# ({ref}`dec-radius`), and here {glue:text}`p2_lead` (P@r≤2 in the table). A short run with the sigmoid likelihood spreads codes over the whole Hamming space, so few
# items fall within radius 2 of a query; {doc}`05_cauchy` is about exactly this weakness. The hash-lookup
# curves ({numref}`fig-dcmh-pr`) show the whole range of radii.

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-dcmh-pr", "caption": "Hash-lookup precision-recall curves of DCMH and CCA on the toy query set, image queries (left) and text queries (right)."}}
codes = {}
for name, model in (("DCMH", dcmh), ("CCA", cca)):
    codes[name] = dict(qi=model.encode_image(ds.query.images), qt=model.encode_text(ds.query.texts),
                       di=model.encode_image(ds.database.images), dt=model.encode_text(ds.database.texts))
ql, dl = ds.query.labels, ds.database.labels
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
plots.pr_curves({f"{m} I→T": metrics.pr_curve(k["qi"], k["dt"], ql, dl) for m, k in codes.items()}, ax=axes[0],
                title=f"{BITS} bits, image queries")
plots.pr_curves({f"{m} T→I": metrics.pr_curve(k["qt"], k["di"], ql, dl) for m, k in codes.items()}, ax=axes[1],
                title=f"{BITS} bits, text queries")
plt.show()

# %% [markdown]
# ## A text query and the images it retrieves
#
# A query text is encoded by the text network; the database images are encoded by the image network;
# ranking is by Hamming distance. A green frame means the image shares a label with the query.

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-dcmh-gallery", "caption": "The ten database images closest to a text query in Hamming distance (DCMH codes). Green frame: shares a label with the query; red: does not."}}
q = 3
words = np.array(ds.vocab)[ds.query.texts[q] > 0]
dist = (BITS - codes["DCMH"]["qt"][q].astype(int) @ codes["DCMH"]["di"].T.astype(int)) // 2
top = np.argsort(dist, kind="stable")[:10]
relevant = (ds.database.labels[top] @ ds.query.labels[q]) > 0
plots.retrieval_gallery("query tags: " + ", ".join(words), ds.database.images[top], relevant,
                        titles=[f"#{r + 1} d={dist[i]}" for r, i in enumerate(top)])
plt.show()
print("query labels:", ", ".join(np.array(ds.label_names)[ds.query.labels[q] > 0]))

# %% [markdown]
# ## Real photos: MIRFLICKR
#
# We repeat the experiment on the real MIRFLICKR photos that are among the 20,015 DCMH pairs ({doc}`03_data`).
# Each photo comes with its Flickr tags (the 1,386-word bag of words) and 24 concept labels. We keep 100 photos
# as queries, train on the others and use them as the database. Expect modest numbers: a few hundred training
# photos at 32 pixels and a network trained from scratch are far from the paper's 10,000 pairs and
# ImageNet-pretrained CNN-F. Also, many photos share the common labels *people*, *sky* or *structures*, so even
# random codes reach a fair mAP. The random-code baseline below shows that floor. Where the photos are not in the
# data folder ({doc}`03_data` says how to fetch them), the cell shows the results shipped with the package, made on
# these photos by the command it names, for three training seeds.

# %%
from hashnotes import sections

real_sec = sections.Section("dcmh_mirflickr_photos", ["mirflickr_thumbs_index.csv", "mirflickr_thumbs_im1-1000",
                                                      "mirflickr25k-lall.mat", "mirflickr25k-yall.mat"],
                            "book/04_dcmh.ipynb", settings={"preset": PRESET})
photos = None
for seed in real_sec.seeds():             # seed 0 in a build; every recorded seed while recording
    photos = data.mirflickr_photos(real_sec.root, size=64)
    P = photos.pairs
    order = np.random.default_rng(0).permutation(len(P.ids))          # the same 100 queries for every seed
    q_idx, db_idx = np.sort(order[:100]), np.sort(order[100:])
    mq, mdb = P.subset(q_idx), P.subset(db_idx)
    real_epochs = {"epochs": 5} if PRESET == "reduced" else {}
    t0 = time.perf_counter()
    real = DCMH.small(bits=BITS, **{**REDUCED, **real_epochs}, image_size=32, seed=seed).fit(
        mdb, progress=widgets.live())
    fit_s = time.perf_counter() - t0
    rq_t, rd_i = real.encode_text(mq.texts), real.encode_image(mdb.images)
    rq_i, rd_t = real.encode_image(mq.images), real.encode_text(mdb.texts)
    rng = np.random.default_rng(seed + 1)
    rand = lambda m: np.where(rng.random((m, BITS)) < 0.5, -1, 1).astype(np.int8)  # noqa: E731
    k = int(np.argmax(mq.labels.sum(1)))                               # the query with the most labels
    d = (BITS - rq_t[k].astype(int) @ rd_i.T.astype(int)) // 2
    top = np.argsort(d, kind="stable")[:10]
    real_sec.keep(seed, {"n_train": len(db_idx), "n_query": len(q_idx),
                         "map_i2t": metrics.mean_average_precision(rq_i, rd_t, mq.labels, mdb.labels),
                         "map_t2i": metrics.mean_average_precision(rq_t, rd_i, mq.labels, mdb.labels),
                         "map_random": metrics.mean_average_precision(rand(100), rand(len(db_idx)), mq.labels,
                                                                      mdb.labels)},
                  data={"query_tags": photos.tags[q_idx[k]][:8], "query_labels": photos.labels[q_idx[k]],
                        "top": db_idx[top], "distance": d[top], "relevant": (mdb.labels[top] @ mq.labels[k]) > 0,
                        "top_labels": [photos.labels[db_idx[i]] for i in top],
                        "top_files": [Path(photos.files[db_idx[i]]).name for i in top]},
                  timings={"fit_s": fit_s})
real_sec.finish().show()
rv, rd = real_sec.values, real_sec.data
real_sec.glue("real_")
# the text below: trained codes beat random ones in both directions
assert rv["map_i2t"] > rv["map_random"] and rv["map_t2i"] > rv["map_random"]
spread = {key: real_sec.spread(key) for key in ("map_i2t", "map_t2i", "map_random")} if real_sec.record else {}
plots.table([[name, rv[key], *((f"{v:.4f}" for v in spread[key]) if key in spread else ("-", "-"))]
             for name, key in (("DCMH I→T", "map_i2t"), ("DCMH T→I", "map_t2i"), ("random codes", "map_random"))],
            ["codes", "mAP (seed 0)", "lowest of the shipped seeds", "highest"], formats=[None, ".4f", None, None])

# %% [markdown]
# On {glue:text}`real_n_train` training photos and {glue:text}`real_n_query` queries, DCMH's codes reach an mAP of
# {glue:text}`real_map_i2t:.3f` (I→T) and {glue:text}`real_map_t2i:.3f` (T→I), against
# {glue:text}`real_map_random:.3f` for random codes: ahead of the floor, far below the paper's numbers for the
# reasons above. The ten photos nearest to the tags of the query with the most labels:

# %%
print("query tags:", ", ".join(rd["query_tags"]), "| query labels:", ", ".join(rd["query_labels"]))
plots.table([[r + 1, f, dist, "yes" if rel else "no", ", ".join(lab)]
             for r, (f, dist, rel, lab) in enumerate(zip(rd["top_files"], rd["distance"], rd["relevant"],
                                                         rd["top_labels"]))],
            ["rank", "photo", "Hamming distance", "shares a label", "labels"])

# %% mystnb={"figure": {"name": "fig-dcmh-real", "caption": "The real MIRFLICKR photos of the table above, retrieved for the Flickr tags of a query by DCMH.small trained on a few hundred photos (green: shares a label with the query)."}}
if real_sec.here:
    plots.retrieval_gallery("Flickr tags: " + ", ".join(rd["query_tags"]), photos.pairs.images[rd["top"]],
                            np.array(rd["relevant"]), titles=[f"#{r + 1} d={x}" for r, x in enumerate(rd["distance"])])
    plt.show()
else:
    print("The photos themselves are not shipped (they are Flickr users' pictures under their own licences): "
          'data.download("mirflickr_photos") fetches them, and this cell then shows the ten retrieved photos.')

# %% [markdown]
# ## How γ, η and the code length matter
#
# The static {numref}`fig-dcmh-sweep` is computed here on a smaller problem so the page builds quickly:
# {glue:text}`sweep_n:,` toy pairs ({glue:text}`sweep_train:,` for training), {glue:text}`sweep_epochs` epochs per
# run and no validation. One parameter varies at a time, the others stay at γ = η = 1 and 16 bits. Each point is
# one training run, so these numbers are noisier than those of the table above.

# %%
small_ds = data.toy(n=500 if PRESET == "reduced" else 2000, seed=1)
SWEEP = {**REDUCED, "epochs": 3 if PRESET == "reduced" else 10, "eval_every": 0}
widgets.glue("sweep_n", len(small_ds.query) + len(small_ds.database))
widgets.glue("sweep_train", len(small_ds.train))
widgets.glue("sweep_epochs", SWEEP["epochs"])

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-dcmh-sweep", "caption": "DCMH.small mAP against the quantization weight γ, the balance weight η and the code length, one short training run per point."}}
sweep = {"gamma": [0.1, 1.0, 10.0], "eta": [0.1, 1.0, 10.0], "bits": [8, 16, 32]}
cache = {}  # (gamma, eta, bits) -> (I->T, T->I); the default point is shared by the three sweeps
for param, values in sweep.items():
    for v in values:
        kw = {"gamma": 1.0, "eta": 1.0, "bits": 16, param: v}
        key = (kw["gamma"], kw["eta"], kw["bits"])
        if key not in cache:
            r = DCMH.small(**kw, **SWEEP).fit(small_ds.train, progress=False).evaluate(small_ds)
            cache[key] = (r["map_i2t"], r["map_t2i"])
sweep_maps = {p: np.array([cache[(v if p == "gamma" else 1.0, v if p == "eta" else 1.0, v if p == "bits" else 16)]
                           for v in vals]) for p, vals in sweep.items()}
fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
for ax, (param, values) in zip(axes, sweep.items()):
    plots.sweep_curve(values, {"I->T": sweep_maps[param][:, 0], "T->I": sweep_maps[param][:, 1]}, ax=ax,
                      xlabel=param, logx=param != "bits")
plt.tight_layout()
plt.show()

# %% [markdown]
# With a live kernel, the panel below retrains the same model for the values you choose and redraws its training
# curves. Nothing runs until you press the button.

# %%
def retrain(gamma=1.0, eta=1.0, bits=16):
    m = DCMH.small(bits=bits, gamma=gamma, eta=eta, **REDUCED)
    m.fit(small_ds.train, val=small_ds.val, progress=True)
    r = m.evaluate(small_ds)
    print(f"gamma={gamma:g} eta={eta:g} bits={bits}: I->T {r['map_i2t']:.4f}  T->I {r['map_t2i']:.4f}")
    plots.training_curves(m.history)
    plt.show()


panel = widgets.retrain_panel(retrain, button="Retrain", static="the sweep above shows the same model for three "
                              "values of each parameter.", gamma=widgets.gamma_slider(), eta=widgets.eta_slider(),
                              bits=widgets.bits_dropdown(16, options=(8, 16, 32, 64)))

# %% [markdown]
# ## Summary
#
# - DCMH scores a pair by $\Theta=\tfrac12\mathbf F_{*i}^\top\mathbf G_{*j}$. For binary codes
#   $\Theta = c/2-d_H$, so the logistic likelihood of eq. {eq}`eq-dcmh-lik` shapes Hamming distances directly.
# - Computing the likelihood with softplus keeps it finite at any $\Theta$.
# - Quantization ties both outputs to one code matrix $\mathbf B$, whose exact update is
#   $\operatorname{sign}(\mathbf F+\mathbf G)$. Bit balance keeps every bit informative.
# - Training alternates a text loop, an image loop and the code update. Each loop reads the other
#   modality's stale output buffer.
# - Started from random weights with small outputs and plain SGD, DCMH stays at $\mathbf F=\mathbf G\approx\mathbf 0$
#   (likelihood $n^2\log 2$, measured above). The paper starts from pretrained features; the reduced model
#   standardises its outputs and uses Adam.
# - On the toy data DCMH ranks better than CCA (higher mAP in both directions), which uses neither labels nor
#   shapes; within a small Hamming radius the short run is weak, which motivates {doc}`05_cauchy`.
#
# ## Exercises
#
# **Exercise 1.** Show that eq. {eq}`eq-dcmh-nll` for one pair equals the cross-entropy between $S_{ij}$ and
# $\sigma(\Theta_{ij})$.
#
# :::{dropdown} Solution
# $-[S\log\sigma(\Theta)+(1-S)\log(1-\sigma(\Theta))]$. Use $\log\sigma(\Theta) = \Theta - \log(1+e^\Theta)$ and
# $\log(1-\sigma(\Theta)) = -\log(1+e^\Theta)$. This gives $-S\Theta + S\log(1+e^\Theta) + (1-S)\log(1+e^\Theta)
# = \log(1+e^\Theta) - S\Theta$, the summand of eq. {eq}`eq-dcmh-nll`.
# :::
#
# **Exercise 2.** Why does the B-step use $\mathbf F+\mathbf G$ and not, say, $\operatorname{sign}(\mathbf F)$
# alone? What would change if the image and text had separate code matrices $\mathbf B^{(x)},\mathbf B^{(y)}$
# (paper eq. 1)?
#
# :::{dropdown} Solution
# $\mathbf B$ appears in both quantization terms. Eq. {eq}`eq-dcmh-bstep-trace` shows that the objective is
# linear in $\mathbf B$ with coefficient $\mathbf F+\mathbf G$, so each entry follows the sign of the sum:
# the modality with the larger output "wins" a disagreement. With separate matrices,
# $\mathbf B^{(x)}=\operatorname{sign}(\mathbf F)$ and $\mathbf B^{(y)}=\operatorname{sign}(\mathbf G)$, and
# nothing but the likelihood ties an item's image code to its text code.
# :::
#
# **Exercise 3.** The bit-balance term is $\eta\|\mathbf F\mathbf 1\|^2$. Compute its gradient with respect to
# one output $\mathbf F_{*i}$. Why does every row of a mini-batch receive the same balance gradient?
#
# :::{dropdown} Solution
# $\partial/\partial\mathbf F_{*i}\ \eta\|\mathbf F\mathbf 1\|^2 = 2\eta\,\mathbf F\mathbf 1$: the per-bit sum over
# all items, the same vector for every $i$. In the mini-batch loss that sum is formed from the batch rows
# plus the stale buffer rows, so it lags behind the network, which is one reason large learning rates
# make the mean output oscillate.
# :::
#
# **Exercise 4.** Run `python -m hashnotes train dcmh cca --data toy --bits 16 32 64 --preset small` and compare
# the I→T and T→I columns. Which direction is easier on the toy data, and why?
#
# :::{dropdown} Solution
# Expect text queries to do better (T→I above I→T): a text query's tags name its objects almost directly, so
# the text network's code is reliable, while an image query has to be encoded by the weaker image network; in
# T→I only the database side depends on it. The DCMH paper reports T→I above I→T on all three of its datasets.
# In this chapter's run T→I mAP is {glue:text}`dcmh_map_t2i:.3f` and I→T {glue:text}`dcmh_map_i2t:.3f`.
# :::
