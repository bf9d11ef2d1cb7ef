"""CDHCR: Cauchy-distribution deep hashing for cross-media retrieval.

Tian F., Li C., Liu F., Li T., Zhang L., Liu Z., "Cross-media retrieval with deep hashing based on the
Cauchy distribution" (基于柯西分布的深度哈希跨媒体检索), *Computer Systems & Applications* (计算机系统应用)
30(8), 2021. No code was released and the equations were lost from our source; this is the
reconstruction of METHODS.md section 4 (DCMH's framework + DCH's Cauchy likelihood, Cao et al., CVPR 2018).
"CDHCR" is the package's name for it.

Objective, seed eq. (7) (row-major ``(n, c)`` here; the paper's ``F in R^{c x n}`` is ``F.T``)::

    J = sum_ij w_ij [log(phi_ij + gamma) - (1 - s_ij) log phi_ij - s_ij log gamma]   # eq. (5), Cauchy CE
        + alpha (||B - F||_F^2 + ||B - G||_F^2)                                     # eq. (6), quantization

with ``F = tanh(f(X))``, ``G = tanh(g(Y))``, ``phi`` the cosine (default) or inner-product Hamming
surrogate and ``p(s = 1) = gamma / (gamma + phi)`` (eq. (4)). B-step, eqs. (10)-(12): ``B = sign(F + G)``.
Everything else (buffers, text-then-image loops, stale columns, ``1/(n b)`` scaling, validation model
selection) is DCMH's loop in :class:`hashnotes.train.AlternatingHashing`; this class subclasses
:class:`~hashnotes.methods.dcmh.DCMH` and overrides only what differs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..losses import cauchy
from ..nets import FeatureMLP, ResNet34Trunk, SmallCNN, TextMLP, channel_stats
from ..train import DataSpec, TrainConfig
from .dcmh import DCMH

__all__ = ["CDHCRConfig", "CDHCR"]


@dataclass(frozen=True)
class CDHCRConfig(TrainConfig):
    """CDHCR hyperparameters (defaults = the published settings, see :meth:`CDHCR.paper`).

    gamma: Cauchy scale, the Hamming radius at which ``p(similar) = 1/2`` (paper: 10).
    alpha: weight of the quantization term (paper: 1).
    distance: ``"cosine"`` (DCH's ``c/2 (1 - cos)``, default) or ``"inner"`` (``(c - F.G)/2``).
    dch_weights: weight pairs by DCH's class balance ``1/p`` (similar) and ``1/(1-p)`` (dissimilar), ``p`` the
        similar fraction of the training set (default off: ``w = 1``, METHODS decision 20).
    eps: added to ``phi`` inside ``log phi`` and (squared) to the squared norms of the cosine distance.
    image_net: ``"resnet34"`` (ResNet-34 trunk -> ``image_hidden`` -> bits, the paper) or ``"small"``
        (:class:`~hashnotes.nets.SmallCNN`); feature inputs ``(n, d)`` use a FeatureMLP with ``feature_hidden``.
    image_size: network input side (ResNet 224; SmallCNN 32/64; None = the data's size).
    resnet_path: a torchvision ResNet-34 ImageNet state dict to initialise the trunk (None = random).
    text_hidden: text MLP hidden sizes (paper reconstruction: (4096, 4096)); text_init_std as in DCMH.
    lr_image, lr_text: RMSprop learning rates (paper: 1e-4, 3e-4); multiplied by ``lr_decay`` every
        ``lr_step`` epochs (paper: 0.5 every 15). weight_decay: RMSprop weight decay.
    """

    bits: int = 32
    epochs: int = 100
    batch_size: int = 128
    gamma: float = 10.0
    alpha: float = 1.0
    distance: str = "cosine"
    dch_weights: bool = False
    eps: float = 1e-6
    image_net: str = "resnet34"
    image_size: int | None = 224
    image_hidden: int = 4096
    resnet_path: str | None = None
    small_width: int = 32
    feature_hidden: tuple = (4096,)
    text_hidden: tuple = (4096, 4096)
    text_init_std: float | None = None
    center_text: bool = False
    dropout: float = 0.0
    lr_image: float = 1e-4
    lr_text: float = 3e-4
    lr_step: int = 15
    lr_decay: float = 0.5
    weight_decay: float = 0.0

    def __post_init__(self):
        super().__post_init__()
        for name, positive in (("gamma", True), ("alpha", False), ("eps", True), ("lr_image", True),
                               ("lr_text", True), ("lr_decay", True), ("weight_decay", False)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                    or (v <= 0 if positive else v < 0):
                raise ValueError(f"{name} must be a finite number {'> 0' if positive else '>= 0'}, got {v!r}")
        if self.distance not in cauchy.DISTANCES:
            raise ValueError(f"distance must be one of {cauchy.DISTANCES}, got {self.distance!r}")
        if self.image_net not in ("resnet34", "small"):
            raise ValueError(f"image_net must be 'resnet34' or 'small', got {self.image_net!r}")
        if isinstance(self.lr_step, bool) or not isinstance(self.lr_step, int) or self.lr_step < 1:
            raise ValueError(f"lr_step must be a positive int (epochs), got {self.lr_step!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if not isinstance(self.dch_weights, bool):
            raise ValueError(f"dch_weights must be True or False, got {self.dch_weights!r}")
        object.__setattr__(self, "text_hidden", tuple(int(h) for h in self.text_hidden))
        object.__setattr__(self, "feature_hidden", tuple(int(h) for h in self.feature_hidden))


class CDHCR(DCMH):
    """Cauchy deep hashing for cross-media retrieval (Tian et al. 2021) on the shared alternating trainer.

    Differs from :class:`~hashnotes.methods.dcmh.DCMH` in four hooks: tanh outputs, RMSprop with a step
    schedule, the Cauchy batch loss (``hashnotes.losses.cauchy``) and an objective without bit balance.

    >>> model = CDHCR.small(bits=32).fit(ds.train, val=ds.val)     # doctest: +SKIP
    >>> model.evaluate(ds)["p_at_r2_i2t"]                           # doctest: +SKIP
    """

    config_class = CDHCRConfig
    modality_order = ("text", "image")  # DCMH-MATLAB order (METHODS 4.3 [D])
    # Random buffers (the TF/torchcmh convention), not DCMH-MATLAB's zeros: with F = G = 0 the cosine
    # distance is constant (zero likelihood gradient) and B = sign(0) = +1 everywhere, so the first epoch
    # pulls every output to the same code; CDHCR has no bit-balance term to undo that collapse.
    init_buffers = "randn"
    name = "cdhcr"

    @classmethod
    def paper(cls, bits: int = 32, **overrides) -> "CDHCR":
        """The published settings: ResNet-34 trunk (give ``resnet_path`` for the ImageNet init) -> 4096 -> bits,
        text BoW -> 4096 -> 4096 -> bits, tanh outputs, alpha = 1, gamma = 10, cosine distance, RMSprop with
        lr 1e-4 (image) / 3e-4 (text) halved every 15 epochs, batch 128, 100 epochs (batch and epochs are
        METHODS decisions 22-23; the paper does not give them)."""
        return cls(CDHCRConfig(bits=bits, **overrides))

    @classmethod
    def small(cls, bits: int = 32, **overrides) -> "CDHCR":
        """A CPU preset for the toy data (about a minute on 2 cores for 2,000 training pairs).

        Deviations from :meth:`paper` and why: a 3-4 block :class:`~hashnotes.nets.SmallCNN` (width 32)
        instead of ResNet-34 (32/64 px images, no pretrained weights) and a text MLP 512 instead of
        4096-4096; 25 epochs with batch 64, and the learning rate halved every 10 epochs instead of 15
        (a quarter of the paper's 100 epochs). The paper's RMSprop rates 1e-4 (image) / 3e-4 (text) are
        kept: they also suit the small CNN from scratch (1e-3 saturated the tanh and collapsed all image codes
        to one within 2 epochs on the toy data). Objective, gamma, alpha and the loop are unchanged.
        """
        settings = dict(bits=bits, epochs=25, batch_size=64, image_net="small", image_size=None, small_width=32,
                        text_hidden=(512,), lr_image=1e-4, lr_text=3e-4, lr_step=10, lr_decay=0.5)
        settings.update(overrides)
        return cls(CDHCRConfig(**settings))

    # ---- hooks ---------------------------------------------------------------------------------------
    def build_networks(self, train):
        """Paper: ResNet-34 trunk -> Linear 4096 + ReLU -> Linear bits; text BoW -> 4096 -> 4096 -> bits.
        ``"small"``: :class:`~hashnotes.nets.SmallCNN` (per-channel input statistics of the training images)
        and a text MLP; ``(n, d)`` image features: a FeatureMLP. The tanh is :meth:`output_activation`."""
        cfg = self.config
        fitting = not isinstance(train, DataSpec) and not self.restoring
        shape = tuple(train.image_shape)
        if len(shape) == 1:
            image_net = FeatureMLP(shape[0], cfg.bits, hidden=cfg.feature_hidden, dropout=cfg.dropout)
        elif cfg.image_net == "small":
            size = cfg.image_size or (32 if shape[-1] <= 32 else 64)
            mean, std = channel_stats(train.images, seed=cfg.seed) if fitting else (None, None)
            image_net = SmallCNN(cfg.bits, in_channels=shape[0], image_size=size, width=cfg.small_width,
                                 dropout=cfg.dropout, mean=mean, std=std)
        else:
            if shape[0] != 3:
                raise ValueError(f"ResNet-34 needs RGB images (3 channels), got image shape {shape}")
            trunk = ResNet34Trunk(weights_path=cfg.resnet_path if fitting else None,
                                  image_size=cfg.image_size or 224)
            image_net = nn.Sequential(trunk, nn.Linear(trunk.out_dim, cfg.image_hidden), nn.ReLU(inplace=True),
                                      nn.Dropout(cfg.dropout), nn.Linear(cfg.image_hidden, cfg.bits))
        center = None
        if cfg.center_text:
            center = np.asarray(train.texts, dtype=np.float64).mean(0) if fitting else np.zeros(train.text_dim)
        text_net = TextMLP(train.text_dim, cfg.bits, hidden=cfg.text_hidden, dropout=cfg.dropout,
                           init_std=cfg.text_init_std, center=center)
        return image_net, text_net

    def b_step(self, state):
        """Seed eqs. (10)-(12): ``B = sign(F + G)``, ``sign(0) = +1`` (exact; the Cauchy term has no B)."""
        return cauchy.b_step(state.F, state.G)

    def output_activation(self, z: torch.Tensor) -> torch.Tensor:
        """tanh on both networks' outputs (seed §1.2)."""
        return torch.tanh(z)

    def make_optimizer(self, net, modality):
        """RMSprop (lr_image / lr_text), times ``lr_decay`` every ``lr_step`` epochs (seed §2.2)."""
        cfg = self.config
        lr = cfg.lr_image if modality == "image" else cfg.lr_text
        opt = torch.optim.RMSprop(net.parameters(), lr=lr, weight_decay=cfg.weight_decay)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.lr_step, gamma=cfg.lr_decay)
        return opt, sched

    def prepare(self, train, state):
        """With ``dch_weights``: the similar fraction of the training set (chunked, no n x n matrix)."""
        if self.config.dch_weights:
            L, n = state.labels, state.n
            similar = 0.0
            for s in range(0, n, 1024):
                similar += float((L[s:s + 1024] @ L.T > 0).sum())
            p = similar / (n * n)
            if not 0.0 < p < 1.0:
                raise ValueError(f"dch_weights=True needs both similar and dissimilar training pairs; "
                                 f"the similar fraction is {p}")
            state.extra["similar_frac"] = p

    def _weights(self, S, state):
        if not self.config.dch_weights:
            return None
        return cauchy.dch_weights(S, state.extra["similar_frac"])

    def batch_loss(self, modality, idx, out, state):
        """``(1/(n b)) [sum_{i in batch, j <= n} w_ij l_ij + alpha ||B_batch - out||^2]`` (METHODS 4.2), the
        other modality taken from its buffer."""
        cfg = self.config
        S = (state.labels[idx] @ state.labels.T > 0).to(out.dtype)  # (b, n): share >= 1 label
        loss = cauchy.batch_loss(out, state.other(modality), state.B[idx], S, gamma=cfg.gamma, alpha=cfg.alpha,
                                 distance=cfg.distance, weights=self._weights(S, state), eps=cfg.eps, n=state.n)
        return loss, {}

    def objective(self, state, chunk: int = 1024):
        """Full eq. (7) on the buffers, as sums: ``cauchy``, ``quantization``, ``total`` (row chunks)."""
        cfg = self.config
        F, G, L = state.F, state.G, state.labels
        total_ce = 0.0
        for s in range(0, state.n, chunk):
            S = (L[s:s + chunk] @ L.T > 0).to(F.dtype)
            phi = cauchy.distance_matrix(F[s:s + chunk], G, cfg.distance, cfg.eps)
            ell = cauchy.pair_loss(phi, S, cfg.gamma, cfg.eps)
            w = self._weights(S, state)
            total_ce += float((ell if w is None else ell * w).sum())
        quant = cfg.alpha * float(cauchy.quantization(state.B, F) + cauchy.quantization(state.B, G))
        return {"cauchy": total_ce, "quantization": quant, "total": total_ce + quant}

