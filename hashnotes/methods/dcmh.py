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
    output_init: ``"normal"`` keeps each network's own last-layer init (CNN-F fc8 ``0.01*randn``);
        ``"unit"`` re-initialises the last layer from a sample of training inputs so that every output
        unit has mean 0 and std 1 at the start (see :func:`unit_output_init`).
    output_norm: append ``BatchNorm1d(bits, affine=False)`` to both networks (outputs standardised per
        bit over the batch in training, by running statistics when encoding). Not in the paper.
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
    output_init: str = "normal"
    output_norm: bool = False
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
        if self.output_init not in ("normal", "unit"):
            raise ValueError(f"output_init must be 'normal' or 'unit', got {self.output_init!r}")
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer must be 'sgd' or 'adam', got {self.optimizer!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        object.__setattr__(self, "text_hidden", tuple(int(h) for h in self.text_hidden))
        object.__setattr__(self, "feature_hidden", tuple(int(h) for h in self.feature_hidden))


class _Standardised(torch.nn.Module):
    """``net`` followed by a per-bit BatchNorm without affine parameters."""

    def __init__(self, net: torch.nn.Module, bits: int):
        super().__init__()
        self.net = net
        self.norm = torch.nn.BatchNorm1d(bits, affine=False)

    def forward(self, x):
        return self.norm(self.net(x))


@torch.no_grad()
def unit_output_init(net: torch.nn.Module, inputs, n_sample: int = 512, seed: int = 0) -> None:
    """Data-dependent init of ``net``'s last Linear layer: outputs with mean 0 and std 1 per unit.

    The weights are redrawn ``N(0, 1)``, then each output unit is rescaled by the std of its response to
    the (centred) penultimate features of ``n_sample`` training inputs, and the bias removes the mean.
    With random-init small networks the default init gives outputs of ~0.05; the likelihood term's
    gradient is proportional to the other modality's outputs, so training then sits at the saddle
    ``F = G = 0`` while quantization and balance shrink the outputs further (DCMH escapes it through
    its ImageNet-pretrained CNN-F, whose fc7 features are large).
    """
    last = [m for m in net.modules() if isinstance(m, torch.nn.Linear)][-1]
    feats = []
    handle = last.register_forward_hook(lambda mod, inp, out: feats.append(inp[0].detach()))
    n = len(inputs)
    idx = np.sort(np.random.default_rng(seed).choice(n, min(n, n_sample), replace=False))
    x = inputs[idx]
    x = torch.as_tensor(np.asarray(x)) if not isinstance(x, torch.Tensor) else x
    was = net.training
    net.train()
    try:
        net(x.to(last.weight.device))
    finally:
        handle.remove()
        net.train(was)
    h = feats[0].double()
    mu = h.mean(0)
    g = torch.Generator().manual_seed(int(seed) + 1)
    W = torch.randn(last.weight.shape, generator=g, dtype=torch.float64)
    z = (h - mu) @ W.T
    W = W / z.std(0).clamp_min(1e-6)[:, None]
    last.weight.copy_(W.to(last.weight.dtype))
    last.bias.copy_((-(mu @ W.T)).to(last.bias.dtype))


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

        Deviations from :meth:`paper` and why: a 3-4 block :class:`~hashnotes.nets.SmallCNN` (width 16)
        instead of CNN-F (32/64 px images, no pretrained weights); text MLP 512 with PyTorch's default init;
        both networks end in a per-bit ``BatchNorm1d`` without affine parameters (``output_norm``);
        20 epochs, batch 64; Adam with a log-spaced lr 2e-3 -> 2e-4, no weight decay.
        Why: from a random init the outputs are ~0.05, the likelihood gradient of one modality is
        proportional to the other's outputs, so training sits at the saddle ``F = G = 0`` while
        quantization and the (stale-buffer) balance term shrink the outputs or make their mean oscillate;
        on the toy data DCMH then collapses to one code for every item (measured: log-likelihood stuck at
        ``n^2 log 2``). The paper escapes through ImageNet-pretrained CNN-F features. Standardised outputs
        start at scale 1 with zero mean per bit, and Adam makes progress in ~20 epochs where plain SGD on
        the ``1/(n b)``-scaled loss needs hundreds. The objective, its normalisation, the stale-buffer
        batch loss, the B-step and the loop order are unchanged.
        """
        settings = dict(bits=bits, epochs=20, batch_size=64, image_net="small", image_size=None, small_width=16,
                        text_hidden=(512,), text_init_std=None, output_norm=True, optimizer="adam",
                        weight_decay=0.0, lr_start=2e-3, lr_end=2e-4)
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
        if cfg.output_norm:
            image_net = _Standardised(image_net, cfg.bits)
            text_net = _Standardised(text_net, cfg.bits)
        if cfg.output_init == "unit" and fitting:
            for net, x in ((image_net, train.images), (text_net, train.texts)):
                unit_output_init(net, x, seed=cfg.seed)
        return image_net, text_net

    def b_step(self, state):
        """``B = sign(F + G)`` (exact minimiser of eq. (2) over B), with ``sign(0) = +1``.

        Exception, as in the MATLAB reference: before any network output exists (``F = G = 0`` at the
        start of epoch 1) ``B = 0``, so the quantization term acts as weight decay on the outputs in
        epoch 1. With ``sign(0) = +1`` every item would get the all-ones code there, and the alternation
        ``B = sign(F + G)``, ``F, G -> B`` keeps that single code as a fixed point (training collapses).
        """
        if state.epoch == 0 and not bool(state.F.any()) and not bool(state.G.any()):
            return torch.zeros_like(state.F)
        return super().b_step(state)

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
