"""DCMH: Deep Cross-Modal Hashing.

Q.-Y. Jiang and W.-J. Li, "Deep Cross-Modal Hashing", CVPR 2017, pp. 3232-3240.
Reference code: jiangqy/DCMH-CVPR2017 (MATLAB, the authors' recommended version). METHODS.md section 2.

Objective, eq. (2) (row-major ``(n, c)`` here; the paper's ``F in R^{c x n}`` is ``F.T``)::

    J = - sum_ij (S_ij Theta_ij - log(1 + e^Theta_ij))          # eq. (2) term 1, Theta = 0.5 F G^T
        + gamma (||B - F||_F^2 + ||B - G||_F^2)                 # eq. (2) term 2, quantization
        + eta (||F^T 1||^2 + ||G^T 1||^2)                       # eq. (2) term 3, bit balance

Alternating updates (section 3.2 of the paper): text net, image net (eq. (3) gradients through the
networks), then ``B = sign(F + G)`` (exact). The mini-batch loss is the MATLAB/TF normalisation
(METHODS 2.1, 9 row 4): ``(1/(n b)) [batch rows x all n buffer columns NLL + gamma ||B_b - F_b||^2 +
eta ||F_b^T 1 + F_rest^T 1||^2]``, with the other modality and the non-batch rows taken from the buffers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..losses.pairwise import dcmh_nll, dcmh_nll_full
from ..losses.regularizers import bit_balance, quantization
from ..nets import CNNF, FeatureMLP, SmallCNN, TextMLP, channel_stats, load_vggf_matconvnet
from ..train import AlternatingHashing, DataSpec, TrainConfig

__all__ = ["DCMHConfig", "DCMH"]


@dataclass(frozen=True)
class DCMHConfig(TrainConfig):
    """DCMH hyperparameters (defaults = the published settings, see :meth:`DCMH.paper`).

    gamma, eta: weights of the quantization and bit-balance terms (paper: 1, 1).
    image_net: ``"cnnf"`` (CNN-F, 224 px), ``"small"`` (:class:`~hashnotes.nets.SmallCNN`); feature inputs
        ``(n, d)`` always use a :class:`~hashnotes.nets.FeatureMLP` with ``feature_hidden``.
    image_size: network input side (CNN-F 224; SmallCNN 32 or 64; None = the data's size, 32 or 64).
    small_width: channel width of SmallCNN. vggf_path: MatConvNet ``imagenet-vgg-f.mat`` to initialise
        conv1-fc7 (the paper fine-tunes from ImageNet); None = random init.
    text_hidden: text MLP hidden sizes (paper: (8192,)); text_init_std: N(0, std) init of the text MLP
        (MATLAB: 0.01; None = PyTorch default). center_text: subtract the training BoW mean (MATLAB).
    dropout: dropout in fc6/fc7 and the MLPs (DCMH: 0).
    optimizer: ``"sgd"`` (paper) or ``"adam"``; momentum for SGD; weight_decay (MATLAB: 5e-4).
    lr_start, lr_end: per-epoch log-spaced learning rate ``logspace(log10 lr_start, log10 lr_end, epochs)``
        (MATLAB: 10^-1.5 -> 10^-3).
    """

    bits: int = 32
    epochs: int = 500
    batch_size: int = 128
    gamma: float = 1.0
    eta: float = 1.0
    image_net: str = "cnnf"
    image_size: int | None = 224
    small_width: int = 32
    vggf_path: str | None = None
    feature_hidden: tuple = (4096,)
    text_hidden: tuple = (8192,)
    text_init_std: float | None = 0.01
    center_text: bool = False
    dropout: float = 0.0
    optimizer: str = "sgd"
    momentum: float = 0.0
    weight_decay: float = 5e-4
    lr_start: float = 10 ** -1.5
    lr_end: float = 1e-3

    def __post_init__(self):
        super().__post_init__()
        for name in ("gamma", "eta", "weight_decay", "momentum"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
        for name in ("lr_start", "lr_end"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise ValueError(f"{name} must be a positive number, got {v!r}")
        if self.image_net not in ("cnnf", "small"):
            raise ValueError(f"image_net must be 'cnnf' or 'small', got {self.image_net!r}")
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer must be 'sgd' or 'adam', got {self.optimizer!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        object.__setattr__(self, "text_hidden", tuple(int(h) for h in self.text_hidden))
        object.__setattr__(self, "feature_hidden", tuple(int(h) for h in self.feature_hidden))


class DCMH(AlternatingHashing):
    """Deep Cross-Modal Hashing (Jiang & Li, CVPR 2017) on the shared alternating trainer.

    >>> model = DCMH.small(bits=32).fit(ds.train, val=ds.val)      # doctest: +SKIP
    >>> model.evaluate(ds)["map_i2t"]                               # doctest: +SKIP
    """

    config_class = DCMHConfig
    modality_order = ("text", "image")  # MATLAB: text loop first, then image (METHODS 2.2)
    init_buffers = "zeros"  # MATLAB: F = G = 0 (METHODS 9 row 6)
    name = "dcmh"

    @classmethod
    def paper(cls, bits: int = 32, **overrides) -> "DCMH":
        """The published settings: CNN-F at 224 px (give ``vggf_path`` for the ImageNet init), text MLP
        8192, gamma = eta = 1, batch 128, 500 epochs, plain SGD with weight decay 5e-4 and the MATLAB
        per-epoch learning rate ``logspace(-1.5, -3, 500)``, loss scaled by ``1/(n b)``."""
        return cls(DCMHConfig(bits=bits, **overrides))

    @classmethod
    def small(cls, bits: int = 32, **overrides) -> "DCMH":
        """A CPU preset for the toy data (about a minute on 2 cores for n = 2,000 training pairs).

        Deviations from :meth:`paper` and why: a 3-4 block :class:`~hashnotes.nets.SmallCNN` instead of
        CNN-F (32/64 px images, no pretrained weights); text MLP 512 with PyTorch's default init (the
        0.01 init trains slowly from scratch); 25 epochs with batch 64; Adam with a log-spaced lr
        1e-3 -> 1e-4 and weight decay 0 instead of SGD 10^-1.5 -> 10^-3 (plain SGD on the ``1/(n b)``-scaled
        loss needs hundreds of epochs from a random init). The objective, its normalisation, the
        stale-buffer batch loss, the B-step and the loop order are unchanged.
        """
        settings = dict(bits=bits, epochs=25, batch_size=64, image_net="small", image_size=None, small_width=32,
                        text_hidden=(512,), text_init_std=None, optimizer="adam", weight_decay=0.0,
                        lr_start=1e-3, lr_end=1e-4)
        settings.update(overrides)
        return cls(DCMHConfig(**settings))

    # ---- hooks ---------------------------------------------------------------------------------------
    def build_networks(self, train):
        cfg = self.config
        fitting = not isinstance(train, DataSpec) and not self.restoring
        shape = tuple(train.image_shape)
        if len(shape) == 1:
            image_net = FeatureMLP(shape[0], cfg.bits, hidden=cfg.feature_hidden, dropout=cfg.dropout)
        elif cfg.image_net == "cnnf":
            if shape[0] != 3:
                raise ValueError(f"CNN-F needs RGB images (3 channels), got image shape {shape}")
            image_net = CNNF(cfg.bits, dropout=cfg.dropout, image_size=cfg.image_size or 224)
            if cfg.vggf_path and fitting:
                load_vggf_matconvnet(image_net, cfg.vggf_path)
        else:
            size = cfg.image_size
            if size is None:
                size = 32 if shape[-1] <= 32 else 64
            mean = std = None
            if fitting:
                mean, std = channel_stats(train.images, seed=cfg.seed)
            image_net = SmallCNN(cfg.bits, in_channels=shape[0], image_size=size, width=cfg.small_width,
                                 dropout=cfg.dropout, mean=mean, std=std)
        center = None
        if cfg.center_text:
            center = np.asarray(train.texts, dtype=np.float64).mean(0) if fitting else np.zeros(train.text_dim)
        text_net = TextMLP(train.text_dim, cfg.bits, hidden=cfg.text_hidden, dropout=cfg.dropout,
                           init_std=cfg.text_init_std, center=center)
        return image_net, text_net

    def make_optimizer(self, net, modality):
        cfg = self.config
        if cfg.optimizer == "sgd":
            opt = torch.optim.SGD(net.parameters(), lr=cfg.lr_start, momentum=cfg.momentum,
                                  weight_decay=cfg.weight_decay)
        else:
            opt = torch.optim.Adam(net.parameters(), lr=cfg.lr_start, weight_decay=cfg.weight_decay)
        lrs = np.logspace(np.log10(cfg.lr_start), np.log10(cfg.lr_end), cfg.epochs)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: float(lrs[min(e, len(lrs) - 1)] / lrs[0]))
        return opt, sched

    def batch_loss(self, modality, idx, out, state):
        """The DCMH mini-batch loss (METHODS 2.1): batch rows x all buffer columns, scaled by 1/(n b)."""
        cfg = self.config
        own, other = state.buffer(modality), state.other(modality)
        S = (state.labels[idx] @ state.labels.T > 0).to(out.dtype)  # (b, n) share >= 1 label
        nll = dcmh_nll(out, other, S)  # eq. (2) term 1 (other modality from its buffer)
        quant = quantization(state.B[idx], out)  # eq. (2) term 2, batch columns
        rest = own.sum(0) - own[idx].sum(0)  # stale buffer columns outside the batch
        bal = bit_balance(out.sum(0) + rest)  # eq. (2) term 3, ||F 1||^2 with batch + stale columns
        scale = 1.0 / (state.n * out.shape[0])
        loss = scale * (nll + cfg.gamma * quant + cfg.eta * bal)
        return loss, {"nll": float(nll.detach()) * scale, "quantization": cfg.gamma * float(quant.detach()) * scale,
                      "balance": cfg.eta * float(bal.detach()) * scale}

    def objective(self, state):
        """Full eq. (2) on the buffers, as sums (not means): nll, quantization, balance, total."""
        cfg = self.config
        nll = float(dcmh_nll_full(state.F, state.G, state.labels, state.labels))
        quant = cfg.gamma * float(quantization(state.B, state.F) + quantization(state.B, state.G))
        bal = cfg.eta * float(bit_balance(state.F) + bit_balance(state.G))
        return {"nll": nll, "quantization": quant, "balance": bal, "total": nll + quant + bal}
