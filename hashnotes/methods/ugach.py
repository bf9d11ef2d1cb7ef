"""UGACH: Unsupervised Generative Adversarial Cross-modal Hashing.

J. Zhang, Y. Peng and M. Yuan, "Unsupervised Generative Adversarial Cross-modal Hashing", AAAI 2018.
Reference code: PKU-ICST-MIPL/UGACH_AAAI2018 (TensorFlow 1). Labels are never used for training: they
only evaluate.

**Correlation graph** (:func:`hashnotes.knn.correlation_graph`, built in :meth:`UGACH.prepare` from the
training features and kept as the artefact ``graph``): row ``i`` holds the ``k_img`` nearest items of ``i``
in image-feature space and the ``k_txt`` nearest in text-feature space (Euclidean, the item itself first).
Image ``i`` and text ``i`` are a pair, so for image query ``i`` the texts of row ``i`` are its "manifold"
positives, and for text query ``i`` the images.

**Players.** A generator ``G`` and a discriminator ``D``, each with an image and a text pathway
``h(x) = sigmoid(W_h tanh(W_c x + b_c) + b_h) in (0, 1)^c`` (:class:`HashPathway`). Codes are
``sign(h - 0.5)`` of the discriminator (the bit is ``1[h >= 0.5]``); the generator is discarded.

* ``D`` scores a generated item ``x^G`` for a query ``q`` against a manifold positive ``x^M`` with the
  hinge ``f = max(0, m + ||h(q) - h(x^M)||^2 - ||h(q) - h(x^G)||^2)`` and minimises it (margin
  ``m = c/8`` by default, the code's; the paper's text says ``m = 1``; ``margin`` overrides it).
* ``G`` draws items from a random candidate pool of ``pool_size`` other-modality items with
  ``p(x | q) = softmax(-||h_G(q) - h_G(x)||^2)`` and maximises the expected reward ``r = log(1 + e^f)``
  (``reward="sigmoid"``: the code's ``sigmoid(f)``). The selection is discrete, so its gradient is the policy
  gradient (REINFORCE). ``estimator="exact"`` (default) differentiates the expectation over the whole pool,
  with the reward of each pool item averaged over the query's manifold positives; ``estimator="sampled"``
  draws ``n_samples`` items, with ``log p`` over the pool (``softmax_over="pool"``, unbiased) or over the
  drawn items only (``softmax_over="samples"``, the code). :mod:`hashnotes.losses.adversarial` has the terms.

**Schedule** (:meth:`UGACH.phases`).

1. ``pretrain`` (``pretrain_epochs`` rounds; the best validated round is restored at the end): ``D`` alone,
   on triplets (query, random manifold positive, random non-neighbour), fresh each round, ``pretrain_passes``
   passes of mini-batch SGD per round (the code's 30 rounds x 1000 passes, batch 20, lr 0.01).
2. ``adversarial`` (``epochs`` rounds): ``G`` samples ``n_samples`` negatives per query (manifold positives
   excluded), ``D`` trains ``d_epochs`` epochs on those triplets (image queries, then text queries), then ``G``
   trains ``g_epochs`` epochs (the code's 30 rounds of 1 + 2 epochs).

Both directions update both pathways. Weight decay ``weight_decay * 1/2 ||W||^2`` on every tensor, biases
included (the code's ``tf.nn.l2_loss``), is the optimiser's L2 term. The learning rate is constant: the
code defines an exponential decay but never passes the step counter to it. Model selection is on the
validation split (the code selects on the test queries).

Inputs are feature vectors. Pixel images (``(n, C, H, W)`` uint8, e.g. the toy data) are first turned
into label-free descriptors (:func:`hashnotes.data.images.image_descriptors`: HOG, HSV colour histogram,
uniform LBP), computed once per array and cached.
"""
from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .. import knn
from .._checks import check_choice, check_int, check_number
from ..losses import adversarial
from ..train import HashingMethod, Phase, TrainConfig

__all__ = ["UGACHConfig", "UGACH", "HashPathway"]

OPTIMIZERS = ("sgd", "adam")
ESTIMATORS = ("exact", "sampled")
INPUT_NORMS = ("none", "standardize")


@dataclass(frozen=True)
class UGACHConfig(TrainConfig):
    """UGACH settings; the defaults are the released code's (:meth:`UGACH.paper`), with the paper's reward
    and the exact policy gradient (``reward="sigmoid", estimator="sampled", softmax_over="samples"``
    reproduce the code's generator step).

    Networks: hidden (common-layer width, 8192), init_std (truncated-normal std of the weights, biases 0;
        None: PyTorch's default init), input_norm (``"standardize"``: z-score each input feature with the
        training mean and std, kept in the module; ``"none"``: raw features, as the code).
    Graph: k_img, k_txt (nearest neighbours per modality, self included: 5 + 5).
    Game: margin (None: ``bits / 8``), pool_size (candidates per query, 300 = 15,000 / 50), n_samples
        (generated items per query, 2), reward (``"log1pexp"`` or ``"sigmoid"``), estimator
        (``"exact"`` or ``"sampled"``), softmax_over (``"pool"`` or ``"samples"``, sampled only).
    Schedule: epochs (adversarial rounds, 30), d_epochs (1) and g_epochs (2) per round, batch_size (D's
        adversarial batch, 1), g_batch_size (queries per G step, 1), pretrain_epochs (30), pretrain_passes
        (1000), pretrain_batch_size (20), pretrain_samples (1 triplet per query and direction).
    Optimiser: optimizer (``"sgd"`` or ``"adam"``), lr_d (0.001), lr_g (0.01), lr_pretrain (0.01),
        weight_decay (0.01).
    descriptor_size: side the pixel images are resized to before the descriptors (pixel inputs only).
    """

    epochs: int = 30
    batch_size: int = 1
    hidden: int = 8192
    init_std: float | None = 0.1
    input_norm: str = "none"
    k_img: int = 5
    k_txt: int = 5
    margin: float | None = None
    pool_size: int = 300
    n_samples: int = 2
    reward: str = "log1pexp"
    estimator: str = "exact"
    softmax_over: str = "pool"
    d_epochs: int = 1
    g_epochs: int = 2
    g_batch_size: int = 1
    pretrain_epochs: int = 30
    pretrain_passes: int = 1000
    pretrain_batch_size: int = 20
    pretrain_samples: int = 1
    optimizer: str = "sgd"
    lr_d: float = 1e-3
    lr_g: float = 1e-2
    lr_pretrain: float = 1e-2
    weight_decay: float = 0.01
    descriptor_size: int = 64

    def __post_init__(self):
        super().__post_init__()
        for name in ("hidden", "k_img", "k_txt", "pool_size", "n_samples", "d_epochs", "g_batch_size",
                     "pretrain_passes", "pretrain_batch_size", "pretrain_samples", "descriptor_size"):
            check_int(getattr(self, name), name)
        check_int(self.g_epochs, "g_epochs", minimum=0)
        check_int(self.pretrain_epochs, "pretrain_epochs", minimum=0)
        if self.init_std is not None:
            check_number(self.init_std, "init_std", strict=True)
        if self.margin is not None:
            check_number(self.margin, "margin")
        for name in ("lr_d", "lr_g", "lr_pretrain"):
            check_number(getattr(self, name), name, strict=True)
        check_number(self.weight_decay, "weight_decay")
        check_choice(self.input_norm, "input_norm", INPUT_NORMS)
        check_choice(self.reward, "reward", adversarial.REWARDS)
        check_choice(self.estimator, "estimator", ESTIMATORS)
        check_choice(self.softmax_over, "softmax_over", adversarial.SOFTMAX_OVER)
        check_choice(self.optimizer, "optimizer", OPTIMIZERS)
        if self.estimator == "exact" and self.softmax_over != "pool":
            raise ValueError("softmax_over='samples' needs estimator='sampled' (the exact estimator "
                             "sums over the whole pool)")

    @property
    def margin_value(self) -> float:
        """The margin in use: ``margin``, or ``bits / 8`` when it is None."""
        return float(self.bits) / 8.0 if self.margin is None else float(self.margin)


class HashPathway(nn.Module):
    """One modality's pathway: ``h(x) = sigmoid(W_h tanh(W_c z + b_c) + b_h)`` with ``z`` the input, optionally
    standardised by the buffers ``mean`` and ``inv_std`` (identity by default)."""

    def __init__(self, d_in: int, hidden: int, bits: int, init_std: float | None = 0.1):
        super().__init__()
        self.register_buffer("mean", torch.zeros(d_in))
        self.register_buffer("inv_std", torch.ones(d_in))
        self.common = nn.Linear(d_in, hidden)
        self.hash = nn.Linear(hidden, bits)
        if init_std is not None:
            for layer in (self.common, self.hash):  # TensorFlow's truncated normal: redrawn beyond 2 std
                nn.init.trunc_normal_(layer.weight, std=init_std, a=-2 * init_std, b=2 * init_std)
                nn.init.zeros_(layer.bias)

    def set_standardization(self, x: np.ndarray) -> None:
        """Standardise inputs with the mean and std of the rows of ``x`` (features of zero spread keep 1)."""
        x = np.asarray(x, dtype=np.float64)
        std = x.std(0)
        self.mean.copy_(torch.from_numpy(x.mean(0)))
        self.inv_std.copy_(torch.from_numpy(np.where(std > 1e-8, 1.0 / np.maximum(std, 1e-8), 1.0)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = (x.to(self.mean.dtype) - self.mean) * self.inv_std
        return torch.sigmoid(self.hash(torch.tanh(self.common(z))))


class UGACH(HashingMethod):
    """Unsupervised Generative Adversarial Cross-modal Hashing (Zhang, Peng & Yuan, AAAI 2018).

    Four modules, ``gen_image``, ``gen_text``, ``dis_image``, ``dis_text`` (:class:`HashPathway`); codes
    from the discriminator, ``sign(h - 0.5)``; the correlation graph in ``artifacts["graph"]``.

    ``UGACH.paper()`` is the released code's settings (8192 hidden units, SGD, batch 1, 30 pre-training
    rounds of 1000 passes, 30 adversarial rounds). ``UGACH.small()`` departs as follows, and why: a common
    layer of 512 units with PyTorch's default init and standardised inputs (with raw 128-d SIFT histograms
    and 10-d topic vectors summing to 1, the code's init gives pre-activations near 0, and plain SGD at batch
    1 needs the code's ~10^7 steps); Adam with batches of 64 (D) and 128 queries (G); 5 pre-training rounds
    of 3 passes and 2 adversarial rounds, validated every round; a pool of 100 candidates. The graph, the
    game, the margin, the reward and the estimator are unchanged. (Two adversarial rounds: with four, on the
    toy split at 32 bits, validation chose the first; each round costs about 6 s there.)

    >>> model = UGACH.small(bits=32).fit(ds)                       # doctest: +SKIP
    >>> model.evaluate(ds)["map_i2t"]                              # doctest: +SKIP
    """

    name = "ugach"
    config_class = UGACHConfig
    encoders = {"image": "dis_image", "text": "dis_text"}
    small_settings = dict(hidden=512, init_std=None, input_norm="standardize", optimizer="adam",
                          lr_d=1e-4, lr_g=1e-3, lr_pretrain=1e-3, weight_decay=0.0, batch_size=64,
                          g_batch_size=128, pretrain_batch_size=64, pretrain_epochs=5, pretrain_passes=3,
                          epochs=2, pool_size=100)

    _MODALITIES = ("image", "text")
    # image descriptors of pixel arrays, keyed by content, shared by every UGACH model of the process (a
    # benchmark fits several models on the same split; the 10,000 toy descriptors take ~50 s to compute);
    # the last 4 arrays are kept, read-only (callers get copies)
    _feature_cache: "OrderedDict[str, np.ndarray]" = OrderedDict()

    # ---- inputs -------------------------------------------------------------------------------------
    def _image_dim(self, data) -> int:
        shape = tuple(data.image_shape)
        if len(shape) == 1:
            return int(shape[0])
        if len(shape) == 3:
            from ..data.images import descriptor_dim

            return descriptor_dim()
        raise ValueError(f"UGACH needs image features (n, d) or pixels (n, C, H, W), got item shape {shape}")

    def image_features(self, images) -> np.ndarray:
        """Float32 image features: feature rows as they are; uint8 pixels through
        :func:`~hashnotes.data.images.image_descriptors` (cached per array content for the whole process, last 4 arrays; a copy is returned)."""
        if np.ndim(images) == 2:
            x = np.asarray(images.detach().cpu() if isinstance(images, torch.Tensor) else images, dtype=np.float32)
            return x
        if np.ndim(images) != 4:
            raise ValueError(f"images must be (n, d) features or (n, C, H, W) pixels, got shape {np.shape(images)}")
        from ..data.images import image_descriptors

        arr = np.ascontiguousarray(images.cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images))
        key = hashlib.sha1(arr.tobytes()).hexdigest() + str(arr.shape) + str(self.config.descriptor_size)
        if key not in self._feature_cache:
            feats = image_descriptors(arr, size=self.config.descriptor_size)
            feats.flags.writeable = False
            self._feature_cache[key] = feats
            while len(self._feature_cache) > 4:
                self._feature_cache.popitem(last=False)
        self._feature_cache.move_to_end(key)
        return self._feature_cache[key].copy()

    def encode_image(self, images) -> np.ndarray:
        if np.ndim(images) == 4:
            images = self.image_features(images)
        return super().encode_image(images)

    def output(self, modality, x):
        if modality == "image" and x.ndim == 4:
            x = torch.from_numpy(self.image_features(x)).to(self.device)
        return self.modules[self.encoders[modality]](x)

    def binarize(self, out):
        """Codes ``sign(h - 0.5)`` with ``sign(0) = +1``: the bit is ``1[h >= 0.5]``."""
        return torch.where(out >= 0.5, torch.ones_like(out), -torch.ones_like(out))

    # ---- the interface -----------------------------------------------------------------------------
    def build(self, data):
        cfg = self.config
        dims = {"image": self._image_dim(data), "text": int(data.text_dim)}
        mods = {f"{player}_{m}": HashPathway(dims[m], cfg.hidden, cfg.bits, cfg.init_std)
                for player in ("gen", "dis") for m in self._MODALITIES}
        if cfg.input_norm == "standardize" and hasattr(data, "texts"):
            feats = {"image": self.image_features(data.images), "text": np.asarray(data.texts, dtype=np.float32)}
            for name, mod in mods.items():
                mod.set_standardization(feats[name.split("_")[1]])
        return mods

    def prepare(self, train):
        cfg = self.config
        feats = {"image": self.image_features(train.images), "text": np.asarray(train.texts, dtype=np.float32)}
        self.n = len(train)
        for m, k in (("image", cfg.k_img), ("text", cfg.k_txt)):
            if k > self.n:
                raise ValueError(f"k_{m[:3]}={k} exceeds the {self.n} training pairs")
        graph = knn.correlation_graph(feats["image"], feats["text"], cfg.k_img, cfg.k_txt)
        distinct = max(len(set(row)) for row in graph.tolist())
        if distinct >= self.n:
            raise ValueError(f"with k_img={cfg.k_img} and k_txt={cfg.k_txt} some query has all {self.n} training "
                             "items as neighbours, so no negative is left; lower k_img/k_txt or use more pairs")
        self.artifacts["graph"] = torch.from_numpy(graph).to(self.device)
        self.x = {m: torch.from_numpy(np.ascontiguousarray(v)).to(self.device) for m, v in feats.items()}
        self.rng = torch.Generator().manual_seed(int(cfg.seed))
        self.pool_size = min(cfg.pool_size, self.n)
        self.opt_pretrain = self._optimizer(self._params("dis"), cfg.lr_pretrain)
        self.opt_d = self.opt_g = None
        self.policy_entropy = math.nan

    def phases(self, train):
        cfg = self.config
        out = []
        if cfg.pretrain_epochs > 0:
            out.append(Phase("pretrain", cfg.pretrain_epochs, self.pretrain_epoch, restore_best=True))
        out.append(Phase("adversarial", cfg.epochs, self.adversarial_epoch, start=self.start_adversarial))
        return out

    # ---- helpers ------------------------------------------------------------------------------------
    def _params(self, player: str):
        return [p for m in self._MODALITIES for p in self.modules[f"{player}_{m}"].parameters()]

    def _optimizer(self, params, lr: float):
        wd = self.config.weight_decay
        if self.config.optimizer == "sgd":
            return torch.optim.SGD(params, lr=lr, weight_decay=wd)
        return torch.optim.Adam(params, lr=lr, weight_decay=wd, fused=True)

    @property
    def graph(self) -> torch.Tensor:
        """The correlation graph ``(n, k_img + k_txt)`` of training indices (an artefact)."""
        return self.artifacts["graph"]

    def _unique_positives(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Graph rows ``(b, K)`` and a mask of each index's first occurrence in its row."""
        g = self.graph[rows]
        same = g.unsqueeze(2) == g.unsqueeze(1)  # same[b, i, j]: entries i and j are the same item
        earlier = torch.tril(torch.ones(g.shape[1], g.shape[1], dtype=torch.bool, device=g.device), -1)
        return g, ~(same & earlier).any(2)

    def _draw(self, weights: torch.Tensor, k: int, replacement: bool) -> torch.Tensor:
        """``k`` column positions per row from nonnegative ``weights`` (b, m), on the method's generator."""
        w = weights.detach().to("cpu", torch.float64)
        if not replacement and int((w > 0).sum(1).min()) < k:
            replacement = True  # some row has fewer candidates than k (e.g. only the item itself): all rows repeat
        return torch.multinomial(w, k, replacement=replacement, generator=self.rng).to(weights.device)

    def _positives(self, rows: torch.Tensor, k: int) -> torch.Tensor:
        """``k`` distinct manifold positives per query (uniform over the row's distinct items)."""
        g, first = self._unique_positives(rows)
        return torch.gather(g, 1, self._draw(first.double(), k, replacement=False))

    def _is_positive(self, rows: torch.Tensor, cand: torch.Tensor) -> torch.Tensor:
        """(b, m) bool: candidate ``cand[b, j]`` is in graph row ``rows[b]``."""
        return (self.graph[rows].unsqueeze(1) == cand.unsqueeze(2)).any(2)

    def _random_negatives(self, rows: torch.Tensor, k: int) -> torch.Tensor:
        """``k`` uniform non-neighbours per query (rejection sampling; every row has n - K >= 1 of them)."""
        neg = torch.randint(self.n, (len(rows), k), generator=self.rng).to(rows.device)
        bad = self._is_positive(rows, neg)
        while bool(bad.any()):
            neg[bad] = torch.randint(self.n, (int(bad.sum()),), generator=self.rng).to(rows.device)
            bad = self._is_positive(rows, neg)
        return neg

    def candidate_pools(self, b: int) -> torch.Tensor:
        """(b, pool_size) random candidate pools, without replacement within a row."""
        keys = torch.rand(b, self.n, generator=self.rng)
        return torch.topk(keys, self.pool_size, dim=1).indices.to(self.graph.device)

    def _other(self, modality: str) -> str:
        return "text" if modality == "image" else "image"

    def _hinge_step(self, opt, q_mod: str, q, pos, neg) -> float:
        """One D step on triplets: queries of ``q_mod``, positive and negative items of the other modality."""
        o = self._other(q_mod)
        d_q, d_o = self.modules[f"dis_{q_mod}"], self.modules[f"dis_{o}"]
        h_q = d_q(self.x[q_mod][q])
        h_pn = d_o(self.x[o][torch.cat([pos, neg])])
        terms = adversarial.batch_loss(h_q, h_pn[:len(pos)], h_pn[len(pos):], self.config.margin_value)
        loss = terms["total"] / len(q)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return float(terms["total"].detach())

    def _train_d(self, opt, triplets: dict, batch_size: int, passes: int = 1) -> float:
        """``passes`` passes over the triplets of each direction (image queries first); mean hinge of the last."""
        total, count = 0.0, 0
        for p in range(passes):
            total, count = 0.0, 0
            for q_mod in self._MODALITIES:
                q, pos, neg = triplets[q_mod]
                order = torch.randperm(len(q), generator=self.rng).to(q.device)
                for s in range(0, len(q), batch_size):
                    idx = order[s:s + batch_size]
                    total += self._hinge_step(opt, q_mod, q[idx], pos[idx], neg[idx])
                    count += len(idx)
        return total / max(count, 1)

    # ---- phase 1: discriminator pre-training ---------------------------------------------------------
    def pretrain_triplets(self) -> dict:
        """Per direction ``(query, positive, negative)`` index tensors: every training item as a query,
        ``pretrain_samples`` random manifold positives and random non-neighbours each."""
        k = self.config.pretrain_samples
        rows = torch.arange(self.n, device=self.graph.device)
        out = {}
        for q_mod in self._MODALITIES:
            q = rows.repeat_interleave(k)
            pos = self._positives(rows, k).reshape(-1)
            neg = self._random_negatives(rows, k).reshape(-1)
            out[q_mod] = (q, pos, neg)
        return out

    def pretrain_epoch(self, e: int) -> dict:
        """One pre-training round: fresh triplets, ``pretrain_passes`` passes of D."""
        for m in self.modules.values():
            m.train()
        hinge = self._train_d(self.opt_pretrain, self.pretrain_triplets(), self.config.pretrain_batch_size,
                              self.config.pretrain_passes)
        return {"loss/hinge": hinge, "loss/total": hinge}

    # ---- phase 2: the adversarial game ---------------------------------------------------------------
    def start_adversarial(self) -> None:
        """Fresh optimisers for the game (D restarts from the best pre-trained state)."""
        cfg = self.config
        self.opt_d = self._optimizer(self._params("dis"), cfg.lr_d)
        self.opt_g = self._optimizer(self._params("gen"), cfg.lr_g)

    @torch.no_grad()
    def generate_triplets(self) -> dict:
        """Per direction: every item as a query, ``n_samples`` items drawn from the generator's policy over a
        random pool with the query's manifold positives removed, each paired with a distinct positive."""
        cfg = self.config
        out = {}
        rows = torch.arange(self.n, device=self.graph.device)
        h = {m: self.modules[f"gen_{m}"](self.x[m]) for m in self._MODALITIES}
        entropy = []
        for q_mod in self._MODALITIES:
            o = self._other(q_mod)
            negs = []
            for s in range(0, self.n, 1024):
                r = rows[s:s + 1024]
                pool = self.candidate_pools(len(r))
                allowed = ~self._is_positive(r, pool)
                empty = ~allowed.any(1)  # a pool made only of positives: its negatives are drawn uniformly
                allowed[empty, 0] = True
                logp = adversarial.log_policy(adversarial.policy_scores(h[q_mod][r], h[o][pool]), allowed)
                pick = self._draw(logp.exp(), cfg.n_samples, replacement=True)
                neg = torch.gather(pool, 1, pick)
                if bool(empty.any()):
                    neg[empty] = self._random_negatives(r[empty], cfg.n_samples)
                negs.append(neg)
                entropy.append(-(logp.exp() * logp.masked_fill(~allowed, 0.0)).sum(1))
            neg = torch.cat(negs).reshape(-1)
            out[q_mod] = (rows.repeat_interleave(cfg.n_samples), self._positives(rows, cfg.n_samples).reshape(-1), neg)
        self.policy_entropy = float(torch.cat(entropy).mean())  # nats; log(pool_size) for a uniform policy
        return out

    def pool_rewards(self, q_mod: str, q: torch.Tensor, pool: torch.Tensor, h_dis: dict,
                     reward: str | None = None) -> torch.Tensor:
        """Reward of every pool item for each query (b, m): the reward of ``f`` averaged over the query's
        distinct manifold positives (the expectation over the true correlation distribution).

        ``q_mod``: the queries' modality; ``h_dis``: the discriminator's outputs of all training items per
        modality; ``reward``: ``"log1pexp"`` or ``"sigmoid"`` (default: the config's)."""
        o = self._other(q_mod)
        g, first = self._unique_positives(q)
        hq = h_dis[q_mod][q]
        d_pos = adversarial.squared_distances(hq, h_dis[o][g])  # (b, K)
        d_gen = adversarial.squared_distances(hq, h_dis[o][pool])  # (b, m)
        f = torch.relu(self.config.margin_value + d_pos.unsqueeze(2) - d_gen.unsqueeze(1))  # (b, K, m)
        r = adversarial.reward(f, self.config.reward if reward is None else reward)
        w = first.to(r.dtype).unsqueeze(2)
        return (r * w).sum(1) / w.sum(1)

    def _generator_step(self, q_mod: str, q: torch.Tensor, h_dis: dict) -> tuple[float, float]:
        cfg = self.config
        o = self._other(q_mod)
        pool = self.candidate_pools(len(q))
        uniq, inv = torch.unique(pool, return_inverse=True)
        h_q = self.modules[f"gen_{q_mod}"](self.x[q_mod][q])
        h_c = self.modules[f"gen_{o}"](self.x[o][uniq])[inv]  # (b, m, c)
        scores = adversarial.policy_scores(h_q, h_c)
        with torch.no_grad():
            r_pool = self.pool_rewards(q_mod, q, pool, h_dis)
            expected = float((torch.softmax(scores, 1) * r_pool).sum(1).mean())
        if cfg.estimator == "exact":
            terms = adversarial.generator_loss_exact(scores, r_pool)
        else:
            with torch.no_grad():
                pick = self._draw(torch.softmax(scores, 1), cfg.n_samples, replacement=True)
                pos = self._positives(q, cfg.n_samples)
                hq = h_dis[q_mod][q]
                f = adversarial.triplet_score(hq.unsqueeze(1).expand(-1, cfg.n_samples, -1).reshape(-1, hq.shape[1]),
                                              h_dis[o][pos].reshape(-1, hq.shape[1]),
                                              h_dis[o][torch.gather(pool, 1, pick)].reshape(-1, hq.shape[1]),
                                              cfg.margin_value).reshape(len(q), cfg.n_samples)
                r = adversarial.reward(f, cfg.reward)
            terms = adversarial.generator_loss_sampled(scores, pick, r, cfg.softmax_over)
        loss = terms["total"] / len(q)
        self.opt_g.zero_grad()
        loss.backward()
        self.opt_g.step()
        return float(loss.detach()), expected

    def _train_g(self) -> tuple[float, float]:
        with torch.no_grad():
            h_dis = {m: self.modules[f"dis_{m}"](self.x[m]) for m in self._MODALITIES}
        losses, rewards = [], []
        for q_mod in self._MODALITIES:
            order = torch.randperm(self.n, generator=self.rng).to(self.graph.device)
            for s in range(0, self.n, self.config.g_batch_size):
                lo, ex = self._generator_step(q_mod, order[s:s + self.config.g_batch_size], h_dis)
                losses.append(lo)
                rewards.append(ex)
        return float(np.mean(losses)), float(np.mean(rewards))

    def adversarial_epoch(self, e: int) -> dict:
        """One round: G generates D's triplets, ``d_epochs`` of D on them, ``g_epochs`` of G.

        History row: ``loss/d_hinge`` (D's mean hinge, also ``loss/total``), ``loss/g`` (G's loss per query),
        ``g/expected_reward`` (G's expected pool reward), ``g/entropy`` (mean entropy of G's policy over
        the pools that generated D's triplets, in nats; ``log(pool_size)`` is uniform) and ``d/fooled``
        (fraction of those triplets with ``f > 0`` before D's epoch: generated items within the margin)."""
        cfg = self.config
        for m in self.modules.values():
            m.train()
        triplets = self.generate_triplets()
        with torch.no_grad():
            active = []
            for q_mod in self._MODALITIES:
                q, pos, neg = triplets[q_mod]
                o = self._other(q_mod)
                f = adversarial.triplet_score(self.modules[f"dis_{q_mod}"](self.x[q_mod][q]),
                                              self.modules[f"dis_{o}"](self.x[o][pos]),
                                              self.modules[f"dis_{o}"](self.x[o][neg]), cfg.margin_value)
                active.append(float((f > 0).double().mean()))
        hinge = math.nan
        for _ in range(cfg.d_epochs):
            hinge = self._train_d(self.opt_d, triplets, cfg.batch_size)
        g_loss, g_reward = math.nan, math.nan
        for _ in range(cfg.g_epochs):
            g_loss, g_reward = self._train_g()
        return {"loss/d_hinge": hinge, "loss/g": g_loss, "g/expected_reward": g_reward,
                "g/entropy": self.policy_entropy, "d/fooled": float(np.mean(active)), "loss/total": hinge}
