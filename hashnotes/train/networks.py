"""The network and optimiser settings shared by the deep methods, and the builders that read them.

:class:`DeepConfig` holds every field once (DCMH, CDHCR and TDH differ only in their defaults);
:func:`build_pair_networks` turns it into an image network and a text network, :func:`make_optimizer`
into an optimiser with its per-epoch learning-rate schedule.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from .._checks import check_choice, check_int, check_number
from ..nets import CNNF, FeatureMLP, ResNet34Trunk, SmallCNN, TextMLP, channel_stats, feature_stats, load_vggf_matconvnet
from .base import DataSpec, TrainConfig

__all__ = ["DeepConfig", "Standardised", "SMALL_BUDGET", "BUDGET_FIELDS", "small_budget", "build_pair_networks",
           "build_feature_net", "make_optimizer", "learning_rates"]

IMAGE_NETS = ("cnnf", "resnet34", "small")
OPTIMIZERS = ("sgd", "adam", "rmsprop")
SCHEDULES = ("logspace", "step", "constant")


@dataclass(frozen=True)
class DeepConfig(TrainConfig):
    """Networks and optimiser of a deep method with one image and one text network.

    Networks:
        image_net: ``"cnnf"`` (CNN-F, 224 px; DCMH, TDH), ``"resnet34"`` (ResNet-34 trunk -> ``image_hidden``
            -> bits; CDHCR) or ``"small"`` (:class:`~hashnotes.nets.SmallCNN` for 32/64 px images). Feature
            inputs ``(n, d)`` always get a :class:`~hashnotes.nets.FeatureMLP` with ``feature_hidden``.
        image_size: network input side (None: the data's own size, 32 or 64, for ``"small"``).
        standardize_features: z-score feature inputs ``(n, d)`` per column with the training split's mean
            and standard deviation before the FeatureMLP (saved with the model, applied when encoding).
            Pre-extracted features arrive on any scale: Wikipedia's SIFT histograms sum to 1 (entries
            ~0.008), the photos' descriptors share a mean vector that is most of each row's energy; raw,
            such inputs give every item nearly the same output and the codes collapse.
        pretrained_path: ImageNet weights to start from: MatConvNet ``imagenet-vgg-f.mat`` for CNN-F, a
            torchvision ResNet-34 state dict for ResNet-34 (None: random initialisation).
        small_width: channel width of SmallCNN. image_hidden: width of ResNet-34's hidden fc layer.
        text_hidden: text MLP hidden sizes; text_init_std: ``N(0, std)`` initialisation of the text MLP
            (None: PyTorch's default). center_text: subtract the training bag-of-words mean.
        dropout: dropout in fc6/fc7 and the MLPs.
        output_norm: end both networks in a per-bit ``BatchNorm1d(bits, affine=False)`` (see :class:`Standardised`).
    Optimiser:
        optimizer: ``"sgd"``, ``"adam"`` or ``"rmsprop"``; lr_image, lr_text: initial learning rates;
            weight_decay: the optimiser's L2 weight decay.
        lr_schedule: ``"logspace"`` (log-linear from lr to ``lr * lr_end_ratio`` over the epochs, DCMH-MATLAB's
            ``logspace``), ``"step"`` (times ``lr_decay`` every ``lr_step`` epochs) or ``"constant"``.
    Speed (results do not depend on them beyond rounding):
        amp: run the networks' training forward passes under bfloat16 autocast; their outputs are cast back
            to float32 before any loss term, so the likelihoods and regularisers are computed in float32.
            Worth it on GPUs with bf16 matrix units; on a CPU it is usually slower.
        loader_workers: DataLoader worker processes that read and decode batches of on-disk images (image
            files, HDF5) ahead of the training step, with pinned memory on CUDA (0: read in the training loop).
    """

    image_nets: ClassVar[tuple] = IMAGE_NETS  # the image networks this config's method can build
    image_net: str = "cnnf"
    image_size: int | None = 224
    standardize_features: bool = True
    pretrained_path: str | None = None
    small_width: int = 32
    image_hidden: int = 4096
    feature_hidden: tuple = (4096,)
    text_hidden: tuple = (8192,)
    text_init_std: float | None = None
    center_text: bool = False
    dropout: float = 0.0
    output_norm: bool = False
    optimizer: str = "sgd"
    lr_image: float = 0.01
    lr_text: float = 0.01
    weight_decay: float = 0.0
    lr_schedule: str = "constant"
    lr_end_ratio: float = 1.0
    lr_step: int = 15
    lr_decay: float = 0.5
    amp: bool = False
    loader_workers: int = 0

    def __post_init__(self):
        super().__post_init__()
        check_choice(self.image_net, "image_net", self.image_nets)
        if self.image_size is not None:
            check_int(self.image_size, "image_size", minimum=8)
        if self.pretrained_path is not None and not isinstance(self.pretrained_path, str):
            raise ValueError(f"pretrained_path must be a file path (str) or None, got {self.pretrained_path!r}")
        check_int(self.small_width, "small_width")
        check_int(self.image_hidden, "image_hidden")
        for name in ("feature_hidden", "text_hidden"):
            hidden = getattr(self, name)
            if isinstance(hidden, (str, bytes)) or not hasattr(hidden, "__iter__"):
                raise ValueError(f"{name} must be a sequence of layer widths, got {hidden!r}")
            object.__setattr__(self, name, tuple(check_int(h, name) for h in hidden))
        if self.text_init_std is not None:
            check_number(self.text_init_std, "text_init_std", strict=True)
        check_int(self.loader_workers, "loader_workers", minimum=0)
        for name in ("center_text", "output_norm", "amp", "standardize_features"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        check_number(self.dropout, "dropout", maximum=1.0)
        check_choice(self.optimizer, "optimizer", OPTIMIZERS)
        check_choice(self.lr_schedule, "lr_schedule", SCHEDULES)
        for name in ("lr_image", "lr_text", "lr_end_ratio", "lr_decay"):
            check_number(getattr(self, name), name, strict=True)
        check_number(self.weight_decay, "weight_decay")
        check_int(self.lr_step, "lr_step")


# The one reduced budget of the supervised deep methods (DCMH, CDHCR, TDH and DAPH's hashing stage): their
# ``.small()`` presets start from these settings, so that a comparison between them differs only in what
# each method is (its objective, its loop, what its paper prescribes), never in how long or how it trains.
# BUDGET_FIELDS are the config fields that set the budget; a comparison between presets that differ in one
# of them is not a comparison of the methods (hashnotes.bench.claim_checks calls it "not testable").
SMALL_BUDGET = dict(
    epochs=20, batch_size=64, eval_every=10,
    optimizer="adam", lr_image=2e-3, lr_text=2e-3, lr_schedule="logspace", lr_end_ratio=0.1, weight_decay=0.0,
    lr_step=15, lr_decay=0.5,
    image_net="small", image_size=None, small_width=16, text_hidden=(512,), feature_hidden=(4096,),
    dropout=0.0, output_norm=True, standardize_features=True,
)
BUDGET_FIELDS = (*SMALL_BUDGET, "val_database", "restore_best", "amp")


def small_budget(**own) -> dict:
    """``SMALL_BUDGET`` with a method's own settings (fields the budget does not set, or a difference its
    paper prescribes, which the method's docstring names)."""
    return {**SMALL_BUDGET, **own}


class Standardised(nn.Module):
    """``net`` followed by a per-bit BatchNorm without affine parameters (``output_norm``).

    Outputs are standardised per bit over the batch in training and by the running statistics when
    encoding, so they start at scale 1 with zero mean whatever the initialisation.
    """

    def __init__(self, net: nn.Module, bits: int):
        super().__init__()
        self.net = net
        self.norm = nn.BatchNorm1d(bits, affine=False)

    def forward(self, x):
        return self.norm(self.net(x))


def build_feature_net(cfg: DeepConfig, data, fitting: bool, out_dim: int, dropout: float) -> FeatureMLP:
    """The FeatureMLP for feature inputs ``(n, d)``: standardised by the training split's statistics when
    ``cfg.standardize_features`` (identity statistics while a saved model is rebuilt: its own are loaded)."""
    d = int(data.image_shape[0])
    zscore = None
    if cfg.standardize_features:
        zscore = feature_stats(data.images) if fitting else d
    return FeatureMLP(d, out_dim, hidden=cfg.feature_hidden, dropout=dropout, zscore=zscore)


def build_image_net(cfg: DeepConfig, data, fitting: bool) -> nn.Module:
    """The image network of ``cfg`` for ``data`` (a PairSet while fitting, else a DataSpec)."""
    shape = tuple(data.image_shape)
    if len(shape) == 1:
        return build_feature_net(cfg, data, fitting, cfg.bits, cfg.dropout)
    if cfg.image_net == "small":
        size = cfg.image_size or (32 if shape[-1] <= 32 else 64)
        mean, std = channel_stats(data.images, seed=cfg.seed) if fitting else (None, None)
        return SmallCNN(cfg.bits, in_channels=shape[0], image_size=size, width=cfg.small_width,
                        dropout=cfg.dropout, mean=mean, std=std)
    if shape[0] != 3:
        raise ValueError(f"{cfg.image_net} needs RGB images (3 channels), got image shape {shape}")
    weights = cfg.pretrained_path if fitting else None
    if cfg.image_net == "cnnf":
        net = CNNF(cfg.bits, dropout=cfg.dropout, image_size=cfg.image_size or 224)
        if weights:
            load_vggf_matconvnet(net, weights)
        return net
    trunk = ResNet34Trunk(weights_path=weights, image_size=cfg.image_size or 224)
    return nn.Sequential(trunk, nn.Linear(trunk.out_dim, cfg.image_hidden), nn.ReLU(inplace=True),
                         nn.Dropout(cfg.dropout), nn.Linear(cfg.image_hidden, cfg.bits))


def build_text_net(cfg: DeepConfig, data, fitting: bool) -> nn.Module:
    """The text MLP of ``cfg`` for ``data``."""
    center = None
    if cfg.center_text:
        center = np.asarray(data.texts, dtype=np.float64).mean(0) if fitting else np.zeros(data.text_dim)
    return TextMLP(data.text_dim, cfg.bits, hidden=cfg.text_hidden, dropout=cfg.dropout,
                   init_std=cfg.text_init_std, center=center)


def build_pair_networks(cfg: DeepConfig, data, restoring: bool = False) -> dict[str, nn.Module]:
    """``{"image": ..., "text": ...}`` built from ``cfg`` (image first: the order fixes the random init).

    ``data`` is the training PairSet (input statistics, pretrained weights) or, when a saved model is
    rebuilt (``restoring``), its DataSpec.
    """
    fitting = not isinstance(data, DataSpec) and not restoring
    image_net = build_image_net(cfg, data, fitting)
    text_net = build_text_net(cfg, data, fitting)
    if cfg.output_norm:
        image_net, text_net = Standardised(image_net, cfg.bits), Standardised(text_net, cfg.bits)
    return {"image": image_net, "text": text_net}


def learning_rates(cfg: DeepConfig, modality: str, lr: float | None = None, epochs: int | None = None) -> np.ndarray:
    """The learning rate of each epoch for the ``modality`` network: ``epochs`` values (default
    ``cfg.epochs``) starting from ``lr`` (default ``cfg.lr_image`` / ``cfg.lr_text``)."""
    lr = (cfg.lr_image if modality == "image" else cfg.lr_text) if lr is None else float(lr)
    epochs = cfg.epochs if epochs is None else int(epochs)
    e = np.arange(epochs)
    if cfg.lr_schedule == "logspace":
        return np.logspace(np.log10(lr), np.log10(lr * cfg.lr_end_ratio), epochs)
    if cfg.lr_schedule == "step":
        return lr * cfg.lr_decay ** (e // cfg.lr_step)
    return np.full(epochs, lr)


def make_optimizer(cfg: DeepConfig, params, modality: str, lr: float | None = None, epochs: int | None = None):
    """``(optimizer, scheduler or None)`` for one network; the scheduler is stepped once per epoch.

    ``lr`` and ``epochs`` override the config's rate for ``modality`` and its number of epochs (a method
    with several stages, each with its own rate and length)."""
    lr = (cfg.lr_image if modality == "image" else cfg.lr_text) if lr is None else float(lr)
    # Adam: the fused kernel (one pass over each parameter for the whole update; a SmallCNN step's optimiser
    # part 1.16 -> 0.33 ms on 2 CPU cores); SGD and RMSprop: foreach, one multi-tensor kernel per update step
    # instead of a Python loop over the parameters (a SmallCNN epoch ~20% faster than the loop)
    kind = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop}[cfg.optimizer]
    speed = {"fused": True} if cfg.optimizer == "adam" else {"foreach": True}
    opt = kind(params, lr=lr, weight_decay=cfg.weight_decay, **speed)
    if cfg.lr_schedule == "logspace":
        lrs = learning_rates(cfg, modality, lr, epochs)
        return opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda e: float(lrs[min(e, len(lrs) - 1)] / lrs[0]))
    if cfg.lr_schedule == "step":
        return opt, torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.lr_step, gamma=cfg.lr_decay)
    return opt, None
