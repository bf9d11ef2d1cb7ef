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
# # Sigmoid or Cauchy?
#
# DCMH ({doc}`04_dcmh`) scores a pair of codes by the inner product and turns it into a probability with
# the logistic sigmoid. {cite:t}`tian2021cauchy` keep DCMH's whole framework (two networks, a shared binary
# matrix $\mathbf B$, alternating updates) and change only that one function: the probability that two
# items are similar becomes a **Cauchy** function of their Hamming distance, as in Deep Cauchy Hashing
# (DCH {cite}`cao2018dch`). This chapter asks what that change does, and when it helps.
#
# *Source.* The text of {cite:t}`tian2021cauchy` available to us lost its equations; the objective below is the
# book's reconstruction from DCMH and DCH, and the choices it needed are listed in the appendix
# ({ref}`dec-cdhcr-distance` and the sections after it). The package calls the method **CDHCR**. No absolute
# numbers of the paper survive, so none are quoted here ({ref}`dec-targets`).
#
# *Layout.* The papers write codes column-major, $\mathbf F\in\mathbb R^{c\times n}$; the package stores
# them row-major, `F` of shape `(n, c)`, so the paper's $\mathbf F_{*i}$ is `F[i]` ({ref}`dec-layout`).

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
import torch
from tqdm.auto import tqdm

from hashnotes import codes as hcodes
from hashnotes import data, methods, metrics, plots, widgets
from hashnotes.losses import cauchy


# %% [markdown]
# ## Why: a probability that only moves near $c/2$
#
# For binary codes $\mathbf b_i,\mathbf b_j\in\{-1,+1\}^c$ the inner product and the Hamming distance
# $d=d_H(\mathbf b_i,\mathbf b_j)$ are tied by $\mathbf b_i^\top\mathbf b_j=c-2d$. DCMH's likelihood is
#
# $$
# \begin{aligned}
# p(s_{ij}=1\mid\mathbf F_{*i},\mathbf G_{*j}) &= \sigma(\Theta_{ij}), \\
# \Theta_{ij} &= \tfrac12\mathbf F_{*i}^\top\mathbf G_{*j}=\tfrac c2-d\ \text{ for binary codes.}
# \end{aligned}
# $$ (eq-sigmoid-likelihood)
#
# At 32 bits a pair at distance 0 gets $\sigma(16)\approx1-10^{-7}$ and a pair at distance 8 gets
# $\sigma(8)\approx0.9997$: to the likelihood the two are practically the same. Only around $d=c/2$ does
# $\sigma$ change. A similar pair at distance 8 is therefore "done", and nothing pulls it into the small
# Hamming ball (radius 2, say) that a hash-table lookup searches.
#
# Tian et al. replace $\sigma(\Theta)$ by the Cauchy function of a distance $\varphi_{ij}$:
#
# $$
# p(s_{ij}=1\mid\mathbf F_{*i},\mathbf G_{*j})=\sigma_C(\varphi_{ij})=\frac{\gamma}{\gamma+\varphi_{ij}} .
# $$ (eq-cauchy-probability)
#
# It is $1$ at $\varphi=0$, $\tfrac12$ at $\varphi=\gamma$ and decays like $\gamma/\varphi$: the scale
# $\gamma$ is the radius at which a pair stops counting as similar, independent of $c$.

# %%
def sigmoid_probability(d, bits):
    """DCMH's p(similar) for binary codes at Hamming distance d (eq-sigmoid-likelihood)."""
    return 1.0 / (1.0 + np.exp(-(bits / 2 - d)))


def likelihood_panels(bits=32, gammas=(2, 5, 10, 20, 30, 50), axes=None):
    """p(similar | d) and the per-pair gradients |dl/dd| for sigmoid and Cauchy likelihoods."""
    d = np.linspace(0, bits, 400)
    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    ax_p, ax_sim, ax_dis = axes
    sig = sigmoid_probability(d, bits)
    ax_p.plot(d, sig, "k-", lw=2.5, label=r"sigmoid, $\Theta=c/2-d$")
    ax_sim.semilogy(d, 1 - sig, "k-", lw=2.5, label="sigmoid")          # d softplus(d - c/2)/dd
    ax_dis.semilogy(d, sig, "k-", lw=2.5, label="sigmoid")              # |d softplus(c/2 - d)/dd|
    for g, col in zip(gammas, plt.cm.viridis(np.linspace(0, 0.9, len(gammas)))):
        ax_p.plot(d, g / (g + d), color=col, label=rf"Cauchy $\gamma={g}$")
        ax_sim.semilogy(d, 1 / (d + g), color=col, label=rf"$\gamma={g}$")
        dd = np.maximum(d, 1e-2)
        ax_dis.semilogy(dd, g / (dd * (dd + g)), color=col, label=rf"$\gamma={g}$")
    for ax in axes:
        ax.axvline(2, color="tab:red", ls=":", lw=1)
        ax.axvline(bits / 2, color="gray", ls="--", lw=1)
        ax.set_xlabel("Hamming distance d")
    ax_p.set_ylabel("p(similar | d)")
    ax_p.set_title(f"likelihood, c = {bits} bits")
    ax_sim.set_title("similar pair: pull |dl/dd|")
    ax_dis.set_title("dissimilar pair: push |dl/dd|")
    ax_dis.set_ylim(1e-4, 10)
    ax_sim.set_ylim(1e-8, 1)
    ax_p.legend(fontsize=7)
    return axes


# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-cauchy-likelihood", "caption": "Sigmoid and Cauchy likelihoods at 32 bits. Left: p(similar) against the Hamming distance. Middle and right: the slope of the loss that pulls a similar pair together and pushes a dissimilar pair apart (log scale). Red dotted line: radius 2; grey dashed: c/2."}}
likelihood_panels(bits=32)
plt.tight_layout()
plt.show()

# %% [markdown]
# Read the panels of {numref}`fig-cauchy-likelihood` from left to right:
#
# * **Likelihood.** The sigmoid is flat at 1 from $d=0$ to about $d=c/2-4$. Every Cauchy curve falls
#   steadily from $d=0$; small $\gamma$ makes it fall fast.
# * **Pull on similar pairs.** For the sigmoid, $-\log\sigma(c/2-d)=\operatorname{softplus}(d-c/2)$ has
#   slope $\sigma(d-c/2)\approx e^{d-c/2}$: about $10^{-6}$ at $d=2$ and $3\cdot10^{-4}$ at $d=8$. The
#   Cauchy pull is $1/(d+\gamma)$, still $0.08$ at $d=2$ for $\gamma=10$. Similar pairs keep being pulled
#   into a small ball.
# * **Push on dissimilar pairs.** The sigmoid pushes every dissimilar pair below $c/2$ with slope close
#   to 1. The Cauchy push $\gamma/(d(d+\gamma))$ is huge at small $d$ and decays like $\gamma/d^2$; a
#   dissimilar pair well beyond $\gamma$ is left alone.
#
# In numbers, at $c=32$:

# %%
rows = []
for name, f in [("sigmoid", lambda d: sigmoid_probability(d, 32))] + [
        (f"Cauchy g={g}", (lambda g: lambda d: g / (g + d))(g)) for g in (2, 5, 10, 20, 30, 50)]:
    rows.append((name, *[f(d) for d in (0, 2, 4, 8, 16)]))
widgets.glue("sig_p0_minus_p4", rows[0][1] - rows[0][3])
widgets.glue("cauchy10_p0_minus_p4", next(r for r in rows if r[0] == "Cauchy g=10")[1]
             - next(r for r in rows if r[0] == "Cauchy g=10")[3])
plots.table(rows, ["p(similar | d)"] + [f"d = {d}" for d in (0, 2, 4, 8, 16)],
            formats=[None] + [".4f"] * 5)

# %% [markdown]
# The sigmoid gives $p(0)-p(4) =$ {glue:text}`sig_p0_minus_p4:.1e` at 32 bits; the Cauchy curve with $\gamma=10$
# gives {glue:text}`cauchy10_p0_minus_p4:.2f`. That difference is the whole argument of the paper (its Figure 2).
#
# ## The objective
#
# **Distance.** Network outputs are continuous, $\mathbf F=\tanh(f(\mathbf X))$ and
# $\mathbf G=\tanh(g(\mathbf Y))$, so the Hamming distance needs a continuous surrogate. The package
# offers two ({ref}`dec-cdhcr-distance`):
#
# $$
# \begin{aligned}
# \varphi^{\cos}_{ij} &= \frac c2\Big(1-\hat{\mathbf F}_{*i}^\top\hat{\mathbf G}_{*j}\Big),\qquad
# \hat{\mathbf x}=\frac{\mathbf x}{\sqrt{\|\mathbf x\|^2+\epsilon^2}}; \\
# \varphi^{\rm inner}_{ij} &= \tfrac12\big(c-\mathbf F_{*i}^\top\mathbf G_{*j}\big).
# \end{aligned}
# $$ (eq-distances)
#
# Both equal $d_H$ on binary codes. The cosine form (DCH's, the default) ignores the length of the
# outputs; the smoothed norm keeps zero vectors finite ($\varphi=c/2$ there).
#
# **Cauchy cross-entropy.** With $\sigma_C$ from {eq}`eq-cauchy-probability` and an optional pair weight
# $w_{ij}$ ({ref}`dec-cdhcr-weights`),
#
# $$
# \begin{aligned}
# \ell_{ij} &= -s_{ij}\log\sigma_C(\varphi_{ij})-(1-s_{ij})\log\big(1-\sigma_C(\varphi_{ij})\big) \\
# &= \log(\varphi_{ij}+\gamma)-(1-s_{ij})\log\varphi_{ij}-s_{ij}\log\gamma ,
# \end{aligned}
# $$ (eq-cauchy-ce)
#
# using $1-\sigma_C=\varphi/(\gamma+\varphi)$. The right-hand form is what the package computes, with
# $\varphi+\epsilon$ in the second log: a dissimilar pair at $\varphi=0$ costs
# $\log\gamma-\log\epsilon$, large but finite.
#
# **Objective.** Quantization ties the outputs to one code matrix, as in DCMH; there is no bit-balance term
# ({ref}`dec-cdhcr-balance`):
#
# $$
# \begin{aligned}
# \mathcal J &= \sum_{i,j=1}^n w_{ij}\,\ell_{ij}+\alpha\big(\|\mathbf B-\mathbf F\|_F^2+\|\mathbf B-\mathbf G\|_F^2\big), \\
# & \mathbf B\in\{-1,+1\}^{c\times n},\quad \alpha=1,\quad \gamma=10 .
# \end{aligned}
# $$ (eq-cdhcr-objective)
#
# **Gradients.** $\partial\ell_{ij}/\partial\varphi_{ij}=D_{ij}/w_{ij}$ with
#
# $$
# D_{ij}=w_{ij}\Big(\frac1{\varphi_{ij}+\gamma}-\frac{1-s_{ij}}{\varphi_{ij}}\Big),
# $$ (eq-dl-dphi)
#
# positive (pull) for similar pairs, $-\gamma/(\varphi(\varphi+\gamma))$ (push) for dissimilar ones.
# The chain rule through {eq}`eq-distances` gives, for the inner-product distance,
#
# $$
# \frac{\partial\mathcal J}{\partial\mathbf F_{*i}}=-\frac12\sum_j D_{ij}\mathbf G_{*j}+2\alpha(\mathbf F_{*i}-\mathbf B_{*i}),
# $$ (eq-grad-inner)
#
# the exact analogue of DCMH's $\tfrac12\sum_j(\sigma(\Theta_{ij})-s_{ij})\mathbf G_{*j}$; and for the cosine
# distance, with $c_{ij}=\hat{\mathbf F}_{*i}^\top\hat{\mathbf G}_{*j}$ and
# $\partial\hat{\mathbf x}/\partial\mathbf x=(\mathbf I-\hat{\mathbf x}\hat{\mathbf x}^\top)/\|\mathbf x\|$,
#
# $$
# \frac{\partial\mathcal J}{\partial\mathbf F_{*i}}=-\frac{c}{2\|\mathbf F_{*i}\|}\sum_j D_{ij}
# \big(\hat{\mathbf G}_{*j}-c_{ij}\hat{\mathbf F}_{*i}\big)+2\alpha(\mathbf F_{*i}-\mathbf B_{*i}),
# $$ (eq-grad-cosine)
#
# where $\|\cdot\|$ is the smoothed norm. The gradient for $\mathbf G$ swaps the roles and sums over $i$.
# The cosine gradient is orthogonal to $\hat{\mathbf F}_{*i}$: the likelihood only rotates the outputs, and
# quantization alone sets their length.
#
# **B-step.** The Cauchy term does not involve $\mathbf B$, and $\operatorname{tr}(\mathbf B^\top\mathbf B)=nc$
# is constant, so
#
# $$
# \begin{aligned}
# &\min_{\mathbf B}\ \alpha\big(\|\mathbf B-\mathbf F\|^2+\|\mathbf B-\mathbf G\|^2\big) \\
# \iff\ &\max_{\mathbf B}\operatorname{tr}\big(\mathbf B^\top(\mathbf F+\mathbf G)\big)
# \ \Rightarrow\ \mathbf B=\operatorname{sign}(\mathbf F+\mathbf G),
# \end{aligned}
# $$ (eq-cdhcr-bstep)
#
# with $\operatorname{sign}(0)=+1$: DCMH's update, unchanged. {numref}`fig-cdhcr-loop` is DCMH's loop
# ({numref}`fig-dcmh-loop`) with the two changed boxes: the Cauchy likelihood with its pair weights, and
# no bit-balance term.

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-cdhcr-loop", "caption": "One epoch of CDHCR: DCMH's alternating loop and code update, with the Cauchy likelihood {eq}`eq-cauchy-ce` of the Hamming surrogate $\\varphi_{ij}$, class-balance pair weights and no bit-balance term. (1) code update, (2) text step, (3) image step; dashed: the gradient."}}
from hashnotes import diagrams

diagrams.two_tower("CDHCR")
plt.show()

# %% [markdown]
# ## From scratch, checked against the package
#
# A NumPy version of {eq}`eq-cauchy-ce`-{eq}`eq-grad-cosine` on random tanh outputs, compared with
# `hashnotes.losses.cauchy.gradients` and with PyTorch autograd on `cauchy.objective`, in float64.

# %%
rng = np.random.default_rng(0)
n, c, gamma, alpha, eps = 9, 12, 10.0, 1.0, 1e-6
F = np.tanh(rng.normal(size=(n, c)))
G = np.tanh(rng.normal(size=(n, c)))
L = (rng.random((n, 5)) < 0.35).astype(float)
S = (L @ L.T > 0).astype(float)
B = np.where(F + G >= 0, 1.0, -1.0)


def scratch(F, G, S, B, distance):
    """Loss (eq-cdhcr-objective) and dJ/dF (eq-grad-inner / eq-grad-cosine), row-major."""
    c = F.shape[1]
    if distance == "inner":
        phi = 0.5 * (c - F @ G.T)
    else:
        nF = np.sqrt((F ** 2).sum(1, keepdims=True) + eps ** 2)
        nG = np.sqrt((G ** 2).sum(1, keepdims=True) + eps ** 2)
        Fh, Gh = F / nF, G / nG
        cos = Fh @ Gh.T
        phi = 0.5 * c * (1 - cos)
    loss = (np.log(phi + gamma) - (1 - S) * np.log(phi + eps) - S * np.log(gamma)).sum()
    loss += alpha * (((B - F) ** 2).sum() + ((B - G) ** 2).sum())
    D = 1 / (phi + gamma) - (1 - S) / (phi + eps)
    if distance == "inner":
        dF = -0.5 * D @ G
    else:
        dF = -(0.5 * c / nF) * (D @ Gh - (D * cos).sum(1, keepdims=True) * Fh)
    return loss, dF + 2 * alpha * (F - B)


T = lambda a: torch.tensor(a, dtype=torch.float64)
for distance in ("inner", "cosine"):
    loss_np, dF_np = scratch(F, G, S, B, distance)
    Fv = T(F).requires_grad_()
    terms = cauchy.objective(Fv, T(G), T(B), T(S), gamma, alpha, distance)
    J = terms["cauchy"] + terms["quantization"]
    (dF_auto,) = torch.autograd.grad(J, Fv)
    dF_pkg, _ = cauchy.gradients(T(F), T(G), T(B), T(S), gamma, alpha, distance)
    assert abs(loss_np - float(J.detach())) < 1e-9 * abs(loss_np)
    assert np.allclose(dF_np, dF_pkg.numpy(), rtol=1e-10, atol=1e-12)
    assert np.allclose(dF_np, dF_auto.numpy(), rtol=1e-10, atol=1e-12)
    print(f"{distance:>6}: J = {loss_np:.6f}, max |scratch - autograd| = "
          f"{np.abs(dF_np - dF_auto.numpy()).max():.1e}")

# the loss identity (eq-cauchy-ce) and the B-step (eq-cdhcr-bstep)
phi = T(rng.uniform(0.01, c, size=(n, n)))
p = cauchy.cauchy_probability(phi, gamma)
ce = -T(S) * torch.log(p) - (1 - T(S)) * torch.log(1 - p)
assert torch.allclose(cauchy.pair_loss(phi, T(S), gamma, eps=0.0), ce, rtol=0, atol=1e-12)
assert torch.equal(cauchy.b_step(T(F), T(G)), T(B))
print("identity and B-step: ok")

# %% [markdown]
# ## Training CDHCR on the toy data
#
# `methods.CDHCR` runs on the same alternating loop as DCMH (`train.AlternatingHashing`: buffers,
# text-then-image loops, B-step, validation model selection) and writes only what differs: tanh outputs,
# the Cauchy batch loss with DCH's class-balance pair weights, and an objective without bit balance.
# One more difference is deliberate: the buffers start random, not at zero as in DCMH-MATLAB. With
# $\mathbf F=\mathbf G=\mathbf 0$ every cosine distance is $c/2$ (no likelihood gradient at all) and
# $\mathbf B=\operatorname{sign}(\mathbf 0)=+\mathbf 1$, so the first epoch pulls every output towards the
# same code; DCMH's bit-balance term undoes that, CDHCR has none ({ref}`dec-cdhcr-init`).
# The `.small()` preset trains a small CNN and a text MLP on the toy images, on the same reduced budget as
# `DCMH.small()` (epochs, batches, Adam and its schedule, per-bit output normalisation before the tanh), so
# that the two differ in the likelihood and its terms, not in how long or how they train; `.paper()` holds the
# published settings (ResNet-34 trunk {cite}`he2016resnet`, RMSprop lr $10^{-4}$ / $3\cdot10^{-4}$, halved every
# 15 epochs, 100 epochs, $\alpha=1$, $\gamma=10$; {ref}`dec-cdhcr-schedule`). To fit the chapter's CPU budget
# we use a reduced toy set ({glue:text}`n_pairs:,` pairs: {glue:text}`n_train:,` training,
# {glue:text}`n_val:,` validation, {glue:text}`n_query:,` queries, {glue:text}`n_db:,` database items),
# {glue:text}`n_epochs` epochs, batches of {glue:text}`n_batch` and a CNN of half the width, for both methods;
# {repo}`experiments/cauchy_sweep.py` runs the full small preset (with a GPU, `PRESET == "full"`, this chapter
# does too).

# %%
ds = data.toy(n=1000 if PRESET == "reduced" else 10_000, seed=0)
print({k: len(getattr(ds, k)) for k in ("train", "val", "query", "database")})
# both methods get the same reduction on a CPU; with a GPU, their .small() presets as they are
REDUCED = dict(epochs=8, batch_size=32, small_width=16) if PRESET == "reduced" else {}
EPOCHS = REDUCED.get("epochs", methods.CDHCR.small().config.epochs)
for key, value in (("n_pairs", len(ds.query) + len(ds.database)), ("n_train", len(ds.train)), ("n_val", len(ds.val)),
                   ("n_query", len(ds.query)), ("n_db", len(ds.database)), ("n_epochs", EPOCHS),
                   ("n_batch", REDUCED.get("batch_size", methods.CDHCR.small().config.batch_size))):
    widgets.glue(key, value)
QL, DL = ds.query.labels, ds.database.labels


def fit(cls, bits, progress=False, val=None, **overrides):
    """A reduced .small() fit (REDUCED) on the reduced toy set; no validation unless val is given."""
    model = cls.small(bits=bits, eval_every=1 if val is not None else 0, **REDUCED, **overrides)
    return model.fit(ds.train, val=val, device="cpu", progress=progress)


def codes(model):
    return (model.encode_image(ds.query.images), model.encode_text(ds.query.texts),
            model.encode_image(ds.database.images), model.encode_text(ds.database.texts))


def precision_by_radius(model):
    """Per-query precision within radius r = 0..c (empty ball = 0), I->T and T->I."""
    qi, qt, di, dt = codes(model)
    return [metrics.precision_radius_curve(q, db, QL, DL) for q, db in ((qi, dt), (qt, di))]


def scores(model):
    qi, qt, di, dt = codes(model)
    p_i2t, p_t2i = precision_by_radius(model)
    assert abs(p_i2t[2] - metrics.precision_at_radius(qi, dt, QL, DL, radius=2)) < 1e-12
    return {"map_i2t": metrics.mean_average_precision(qi, dt, QL, DL),
            "map_t2i": metrics.mean_average_precision(qt, di, QL, DL),
            "p2_i2t": p_i2t[2], "p2_t2i": p_t2i[2]}


t0 = time.time()
model = fit(methods.CDHCR, 32, progress=widgets.live(), val=ds.val)
print(f"CDHCR, 32 bits, {EPOCHS} epochs: {time.time() - t0:.1f} s, best validation epoch {model.best_epoch}")
print({k: round(float(v), 4) for k, v in scores(model).items()})

# %% mystnb={"figure": {"name": "fig-cdhcr-curves", "caption": "Training CDHCR at 32 bits: the Cauchy and quantization terms of the objective on the buffers, and the validation mAP."}}
plots.training_curves(model.history)
plt.show()

# %% [markdown]
# ## Where do the pairs land?
#
# The likelihood argument predicts the *distribution* of Hamming distances: the Cauchy loss keeps pulling
# similar pairs towards $0$, the sigmoid stops once they are a few bits below $c/2$. Histograms of the distances
# between image-query codes and text-database codes, CDHCR and DCMH at 32 bits, trained the same way
# ({numref}`fig-cdhcr-hist`):

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-cdhcr-hist", "caption": "Hamming distances between image queries and the text database at 32 bits, relevant pairs (green) and irrelevant pairs (red), each group normalised; the dotted line is radius 2."}}
dcmh32 = fit(methods.DCMH, 32)
S_qd = (QL.astype(np.int32) @ DL.T.astype(np.int32)) > 0
fig, axes = plt.subplots(1, 2, figsize=(11, 3.3), sharey=True)
hist = {}
for ax, (name, m) in zip(axes, [("CDHCR", model), ("DCMH", dcmh32)]):
    qi, _, _, dt = codes(m)
    dist = hcodes.hamming_distance(qi, dt)
    plots.hamming_histogram(dist, S_qd, bits=32, ax=ax, density=True)
    ax.axvline(2.5, color="k", ls=":")
    hist[name] = {"within2": float((dist[S_qd] <= 2).mean()), "rel": float(dist[S_qd].mean()),
                  "irr": float(dist[~S_qd].mean())}
    ax.set_title(f"{name}: {hist[name]['within2']:.1%} of relevant pairs within radius 2")
plt.tight_layout()
plt.show()

# %%
for name, h in hist.items():
    for key, value in h.items():
        widgets.glue(f"hist_{name.lower()}_{key}", value)
    widgets.glue(f"hist_{name.lower()}_gap", h["irr"] - h["rel"])
# the text after the tables: CDHCR separates the two groups more, and puts more relevant pairs within radius 2
assert hist["CDHCR"]["irr"] - hist["CDHCR"]["rel"] > hist["DCMH"]["irr"] - hist["DCMH"]["rel"]
assert hist["CDHCR"]["within2"] > hist["DCMH"]["within2"]

# %% [markdown]
# ## How $\gamma$ sets the radius (the paper's Figure 3, reduced)
#
# Tian et al. plot precision within Hamming radius $r$ for $\gamma\in\{2,5,10,20,30,50\}$ at 64 bits on
# Flickr-25K. Here: the reduced toy set, 64 bits, the same short training, precision within radius $r$ per
# query (0 when the ball is empty, {ref}`dec-radius`), averaged over both directions, $r=0,\dots,c/2$
# ({numref}`fig-gamma-sweep`). The full-size table (the small preset on the toy split) is produced by
# {repo}`experiments/cauchy_sweep.py`.

# %%
GAMMAS = (2, 5, 10, 20, 30, 50)
sweep_models, sweep = {}, {}


collapsed = {}


def run_sweep(gammas):
    for g in tqdm(gammas, desc="gamma sweep, 64 bits", disable=not widgets.live()):
        sweep_models[g] = fit(methods.CDHCR, 64, gamma=float(g))
        p_i2t, p_t2i = precision_by_radius(sweep_models[g])
        sweep[g] = 0.5 * (p_i2t + p_t2i)
        # the collapse guard on the query and database codes: a collapsed model is flagged, never "best"
        collapsed[g] = sweep_models[g].evaluate(ds)["collapsed"]


run_sweep(GAMMAS[:2])  # three cells of two fits each, so no single cell runs long

# %%
run_sweep(GAMMAS[2:4])

# %% mystnb={"figure": {"name": "fig-gamma-sweep", "caption": "CDHCR at 64 bits for six values of the Cauchy scale γ: per-query precision within Hamming radius r, averaged over both directions."}}
run_sweep(GAMMAS[4:])
radii = np.arange(0, 33)
plots.precision_radius_curve({f"γ = {g}" + (" (collapsed)" if collapsed[g] else ""): (radii, sweep[g][:33])
                              for g in GAMMAS},
                             ylabel="precision within radius r (per query)")
plt.show()

# %%
shown = (0, 2, 4, 8, 16, 32)
peak_r = {g: int(np.argmax(sweep[g][:33])) for g in GAMMAS}
healthy = [g for g in GAMMAS if not collapsed[g]]
assert len(healthy) >= 2, collapsed  # the text compares at least two models that did not collapse
small_best = max(healthy, key=lambda g: sweep[g][2])
widgets.glue("best_gamma_r2", small_best)
widgets.glue("n_collapsed_gamma", len(GAMMAS) - len(healthy))
widgets.glue("peak_r_small", peak_r[healthy[0]])
widgets.glue("peak_r_large", peak_r[healthy[-1]])
widgets.glue("gamma_small", healthy[0])
widgets.glue("gamma_large", healthy[-1])
widgets.glue("peak_moves", "moves out with" if peak_r[healthy[-1]] > peak_r[healthy[0]] else "does not move out with")
plots.table([[g] + [sweep[g][r] for r in shown] + [peak_r[g], ", ".join(collapsed[g]) or "no"] for g in GAMMAS],
            ["γ"] + [f"r ≤ {r}" for r in shown] + ["radius of the peak", "collapsed codes"],
            formats=[None] + [".3f"] * len(shown) + [None, None])

# %% [markdown]
# ## CDHCR against DCMH at 16, 32 and 64 bits
#
# Same split, same networks, the same reduced budget ($\gamma=10$ for CDHCR). mAP is over the whole database with
# stable ties; P@r≤2 is per query, an empty ball counting 0.

# %%
table = {("CDHCR", 32): scores(model), ("DCMH", 32): scores(dcmh32), ("CDHCR", 64): scores(sweep_models[10])}
for bits in (16, 64):
    if ("CDHCR", bits) not in table:
        table[("CDHCR", bits)] = scores(fit(methods.CDHCR, bits))
    table[("DCMH", bits)] = scores(fit(methods.DCMH, bits))
# the method's point: does the Cauchy loss fill the radius-2 balls with more relevant items?
p2_wins = [(bits, k) for bits in (16, 32, 64) for k in ("p2_i2t", "p2_t2i")
           if table[("CDHCR", bits)][k] > table[("DCMH", bits)][k]]
widgets.glue("p2_wins", len(p2_wins))
widgets.glue("p2_win_bits", ", ".join(sorted({str(b) for b, _ in p2_wins}, key=int)) or "none")
assert any(b == 64 for b, _ in p2_wins)  # the text: at 64 bits, where a radius-2 ball is tiny, CDHCR leads
for (name, bits), s in table.items():
    for k, v in s.items():
        widgets.glue(f"{name.lower()}{bits}_{k}", v)
gap = {b: np.mean([table[("CDHCR", b)][k] - table[("DCMH", b)][k] for k in ("p2_i2t", "p2_t2i")]) for b in (16, 64)}
widgets.glue("p2_gap_16", gap[16])
widgets.glue("p2_gap_64", gap[64])
map_lead = all(table[("CDHCR", b)][k] > table[("DCMH", b)][k] for b in (16, 32, 64) for k in ("map_i2t", "map_t2i"))
widgets.glue("map_lead", "higher than DCMH's at every code length and in both directions" if map_lead
             else "not higher than DCMH's everywhere")
widgets.glue("random_precision", float(S_qd.mean()))
for bits in (16, 64):                                   # codes within radius 2, and all codes, at c bits
    widgets.glue(f"ball_{bits}", 1 + bits + bits * (bits - 1) // 2)
    widgets.glue(f"space_{bits}", 2 ** bits)
plots.table([[name, bits, *(table[(name, bits)][k] for k in ("map_i2t", "map_t2i", "p2_i2t", "p2_t2i"))]
             for bits in (16, 32, 64) for name in ("DCMH", "CDHCR")],
            ["method", "bits", "mAP I→T", "mAP T→I", "P@r≤2 I→T", "P@r≤2 T→I"])

# %% [markdown]
# **Reading the tables.** Relevance here is generous (two items sharing any concept), so random retrieval already
# has precision {glue:text}`random_precision:.2f`; numbers near that mean little was learned. A per-query P@r≤2
# of 0 means every radius-2 ball was empty. At 32 bits DCMH scored P@r≤2 = {glue:text}`dcmh32_p2_i2t:.3f` /
# {glue:text}`dcmh32_p2_t2i:.3f` (I→T / T→I) against {glue:text}`cdhcr32_p2_i2t:.3f` /
# {glue:text}`cdhcr32_p2_t2i:.3f` for CDHCR; CDHCR is ahead in {glue:text}`p2_wins` of the six (bits, direction)
# cases (at {glue:text}`p2_win_bits` bits). The histograms ({numref}`fig-cdhcr-hist`) show what happened, and it is less clean than the curves suggest:
# DCMH's relevant and irrelevant pairs sit at mean distances {glue:text}`hist_dcmh_rel:.1f` and
# {glue:text}`hist_dcmh_irr:.1f`, barely separated after this short run, with {glue:text}`hist_dcmh_within2:.1%`
# of the relevant pairs within radius 2; CDHCR moved them {glue:text}`hist_cdhcr_gap:.1f` bits apart on average
# (means {glue:text}`hist_cdhcr_rel:.1f` and {glue:text}`hist_cdhcr_irr:.1f`), with
# {glue:text}`hist_cdhcr_within2:.1%` of the relevant pairs inside radius 2. So part of DCMH's low P@r≤2 is its weak
# training in {glue:text}`n_epochs` epochs (its codes hardly separate the classes at all), not only the sigmoid's
# flat region.
#
# * **What P@r≤2 measures depends on $c$.** A radius-2 ball holds $1+c+\binom c2$ codes:
#   {glue:text}`ball_16:,` of {glue:text}`space_16:,` at 16 bits, {glue:text}`ball_64:,` of
#   {glue:text}`space_64:.1e` at 64 bits ({doc}`01_hamming_space`). At 16 bits even loosely trained
#   codes collide, so both methods have non-empty balls; at 64 bits only a loss that explicitly pulls similar
#   pairs into a small radius fills them. CDHCR's lead in P@r≤2 (mean over both directions) is
#   {glue:text}`p2_gap_16:.3f` at 16 bits and {glue:text}`p2_gap_64:.3f` at 64 bits.
# * **$\gamma$ is the radius.** In the sweep ({numref}`fig-gamma-sweep`; {glue:text}`n_collapsed_gamma` of the
#   six models collapsed and are left out of what follows) the best precision within radius 2 comes from
#   $\gamma =$ {glue:text}`best_gamma_r2`; the curve of $\gamma =$ {glue:text}`gamma_large` peaks at radius
#   {glue:text}`peak_r_large` against {glue:text}`peak_r_small` for $\gamma =$ {glue:text}`gamma_small`: the peak
#   {glue:text}`peak_moves` $\gamma$ here, where $p=\tfrac12$ at $\varphi=\gamma$ predicts it to move out. One
#   seed and a short run per value: read the sweep as a picture of the mechanism, not as a ranking of values.
# * **mAP moves less, and not only because of the likelihood.** CDHCR's mAP is {glue:text}`map_lead` in these
#   runs, but both are short and noisy ({glue:text}`n_query` queries, {glue:text}`n_epochs` epochs) and the methods
#   also differ in the output (tanh after the normalisation vs the normalised linear output), the pair weights,
#   and the bit-balance term; the table does not isolate the likelihood for mAP. For P@r≤2 the mechanism is
#   the one visible in the histograms.
# * **When Cauchy does not help.** For Hamming *ranking* (mAP over the whole database) only the order of
#   distances matters, and the sigmoid orders pairs fine; a too-small $\gamma$ can even hurt ranking (it stops
#   pushing dissimilar pairs that are already beyond $\gamma$). The Cauchy loss pays off for hash-table
#   lookup within a small radius, and more so with long codes.
#
# {repo}`experiments/cauchy_sweep.py` repeats both tables with the `.small()` presets on a larger toy split.

# %% [markdown]
# ## The pair weights, and what happens without them
#
# Eq. {eq}`eq-cdhcr-objective` weighs each pair by $w_{ij}$. CDHCR uses the class-balance weights of the Cauchy
# hashing loss it builds on {cite}`cao2018dch`: $w_{ij} = 1/p$ for a similar pair and $1/(1-p)$ for a dissimilar
# one, with $p$ the share of similar pairs in the training set, so that both kinds of pair carry half of the
# loss whatever $p$ is. With every pair weighing 1 instead, the side with more pairs wins. The ablation on the toy
# data, where $p$ is close to one half:

# %%
lab = ds.train.labels.astype(np.int64)
p_similar = float(((lab @ lab.T) > 0).mean())
weighted32 = table[("CDHCR", 32)]
unweighted32 = scores(fit(methods.CDHCR, 32, dch_weights=False))
widgets.glue("p_similar", p_similar)
widgets.glue("w_similar", 1 / p_similar)
widgets.glue("w_dissimilar", 1 / (1 - p_similar))
plots.table([["class-balance weights (CDHCR)", *(weighted32[k] for k in ("map_i2t", "map_t2i", "p2_i2t", "p2_t2i"))],
             ["every pair weighs 1", *(unweighted32[k] for k in ("map_i2t", "map_t2i", "p2_i2t", "p2_t2i"))]],
            ["CDHCR, 32 bits", "mAP I→T", "mAP T→I", "P@r≤2 I→T", "P@r≤2 T→I"])

# %% [markdown]
# Here $p =$ {glue:text}`p_similar:.2f`, so the weights are {glue:text}`w_similar:.2f` and
# {glue:text}`w_dissimilar:.2f`: nearly a constant factor, and the two runs differ only by the noise of a short run.
# Where similar pairs are rare the weights decide the outcome. On Wikipedia one pair in ten is similar; with unit
# weights "every pair far apart" is nearly optimal, and the training finds it: every image gets one code $A$ and
# every text $-A$, all queries tie, and mAP falls to the level of random codes. {doc}`09_comparison` runs both
# versions on that data set.

# %% [markdown]
# ## Explore: $\gamma$ and the code length
#
# Press *Run* to draw the likelihood and gradient panels for the chosen $\gamma$ and code length and to
# train a reduced CDHCR with them (a few seconds); nothing runs when the cell executes. The static
# {numref}`fig-gamma-sweep` is the rendered page's counterpart.

# %%
def explore(gamma=10.0, bits=32):
    likelihood_panels(bits=bits, gammas=(gamma,))
    plt.tight_layout()
    plt.show()
    m = fit(methods.CDHCR, bits, gamma=float(gamma))
    p_i2t, p_t2i = precision_by_radius(m)
    r = np.arange(bits // 2 + 1)
    plots.precision_radius_curve({"I->T": (r, p_i2t[r]), "T->I": (r, p_t2i[r])},
                                 title=f"CDHCR, gamma={gamma:.3g}, {bits} bits")
    plt.show()


panel = widgets.retrain_panel(explore, static="the sweep over six values of γ above was computed the same way.",
                              gamma=widgets.log_slider("gamma", 10.0, min_exp=0.0, max_exp=2.0, step=0.1),
                              bits=widgets.bits_dropdown(32))

# %% [markdown]
# ## Summary
#
# * CDHCR is DCMH with $\sigma(\tfrac c2-d)$ replaced by $\gamma/(\gamma+\varphi)$
#   (eq. {eq}`eq-cauchy-probability`); the cross-entropy {eq}`eq-cauchy-ce`, the gradients
#   {eq}`eq-grad-inner`-{eq}`eq-grad-cosine` and the B-step {eq}`eq-cdhcr-bstep` follow in a few lines.
# * The sigmoid's pull on a similar pair at distance $d$ is about $e^{d-c/2}$: nothing moves pairs from
#   $d=8$ to $d=2$. The Cauchy pull $1/(d+\gamma)$ keeps working, so similar pairs gather in a small ball,
#   which is what hash-table lookup within radius 2 needs.
# * $\gamma$ is a radius: $p=\tfrac12$ at $\varphi=\gamma$. Too small and dissimilar pairs are pushed
#   hard only when they are very close, too large and the curve flattens like the sigmoid's.
# * mAP ranks the whole database and is much less sensitive to where exactly the pairs sit; the
#   Cauchy loss is mainly a tool for lookup-style retrieval.
#
# ## Exercises
#
# **Exercise 1.** Show that for binary codes the cosine and inner-product distances of {eq}`eq-distances`
# coincide, and that for outputs of different lengths they do not. Which one is invariant to scaling the
# outputs?
#
# :::{dropdown} Solution
# For $\mathbf b\in\{\pm1\}^c$, $\|\mathbf b\|=\sqrt c$, so $\frac c2(1-\mathbf b_i^\top\mathbf b_j/c)=
# \frac12(c-\mathbf b_i^\top\mathbf b_j)=d_H$ (up to the $\epsilon$ of the smoothed norm). For
# $\mathbf F_{*i}=a\,\mathbf b_i$ with $a<1$ the inner form gives $\frac12(c-a\,\mathbf b_i^\top\mathbf G_{*j})$,
# which moves towards $c/2$ as $a\to0$; the cosine form does not change. The cosine form is scale
# invariant, and `cauchy.cosine_distance(3*F, G)` equals `cauchy.cosine_distance(F, G)`.
# :::
#
# **Exercise 2.** At what distance does the Cauchy push on a dissimilar pair equal the pull on a similar pair at
# the same distance? What does that say about pairs with both kinds of neighbours nearby?
#
# :::{dropdown} Solution
# Pull $1/(d+\gamma)$, push $\gamma/(d(d+\gamma))$: equal when $d=\gamma$. Closer than $\gamma$ the push
# dominates, farther the pull does. An item whose similar and dissimilar neighbours are mixed settles where
# the two balance, roughly at distance $\gamma$ from the dissimilar ones: $\gamma$ is the radius.
# :::
#
# **Exercise 3.** Repeat the $\gamma$ sweep at 16 bits. Why does $\gamma=50$ behave almost like $\gamma=\infty$
# there?
#
# :::{dropdown} Solution
# At 16 bits $\varphi\le16\ll\gamma=50$, so $\sigma_C(\varphi)\approx1-\varphi/\gamma$ is nearly linear: the
# pull on a similar pair, $1/(\varphi+\gamma)\approx1/\gamma$, is almost the same at every distance (no
# preferred ball), and the push on a dissimilar pair, $\gamma/(\varphi(\varphi+\gamma))\approx1/\varphi$,
# no longer depends on $\gamma$. Nothing in the loss marks a radius any more, as for $\gamma\to\infty$.
# Run `fit(methods.CDHCR, 16, gamma=50.0)` and compare its P@r≤2 with $\gamma=2$.
# :::
#
# **Exercise 4.** Turn off DCH's class-balance weights (`dch_weights=False`, every pair weighing 1). On the toy
# data about 45% of pairs are similar; predict whether that changes much here, then measure.
#
# :::{dropdown} Solution
# $w=1/p$ for similar and $1/(1-p)$ for dissimilar pairs, with $p\approx0.45$: $2.2$ and $1.8$, almost a
# constant factor, so little changes (a constant factor only rescales the likelihood against $\alpha$).
# The weights matter where similar pairs are rare, as on Wikipedia ({doc}`09_comparison`): there, with every
# pair weighing 1, CDHCR's codes collapse.
# :::
