"""DAPH: Data-Aware Proxy Hashing for cross-modal retrieval, in two stages.

R.-C. Tu, X.-L. Mao, W. Ji, W. Wei, H. Huang. "Data-Aware Proxy Hashing for Cross-modal Retrieval."
SIGIR 2023 (doi 10.1145/3539618.3591660). Reference code: rongchengtu1/DAPH.

**Stage 1, the data-aware proxy network** (phase ``"proxy"``, not validated). Three generators, all ending in
an L2 normalisation, are trained together on ``L_D = L3 + alpha L2 + L1 + beta Lqtf``
(:func:`hashnotes.losses.proxy.proxy_loss`):

* LIPG (``"lipg"``, label-fused image-aware): image -> AlexNet fc7 -> 512 -> normalise, plus labels ->
  512 -> ReLU -> 512 -> normalise; their sum -> ``k`` -> normalise: the image-aware proxy ``v_i``;
* LTPG (``"ltpg"``, label-fused text-aware): the same with a text MLP ``d -> 4096 -> 512``: ``t_i``;
* CDPG (``"cdpg"``, class-based data-aware): class vector ``e_j`` -> 4096 -> ``k`` -> normalise: ``c_j``.

The class proxies are "data-aware" because ``L3`` ties them to the items' proxies: every batch pulls each
class proxy toward the proxies of the items carrying that class.

**Freezing.** Before stage 2 (the ``start`` of phase ``"hash"``) the generators are switched to evaluation
mode (the reference code leaves dropout on) and the signed proxies are written to ``self.artifacts``:
``image_proxies`` and ``text_proxies`` (int8 ``(n, k)``, one row per training item), ``class_proxies``
(int8 ``(l, k)``) and ``proxy_labels`` (uint8 ``(n, l)``). They are snapshotted for model selection, saved
in checkpoints and restored by ``load``.

**Stage 2, the modality hashing networks** (phase ``"hash"``, validated; model selection on the validation
split). Each epoch runs one epoch of the image network (IMHN: AlexNet -> ``k`` -> tanh), then one of the
text network (TMHN: ``d -> 4096 -> k`` -> tanh), on ``drop_last`` batches of a fresh permutation, against the
fixed proxies with ``L^m = L_same(A^v) + L_same(A^t) + L_class + eta (L_similar(A^v) + L_similar(A^t))``
(:func:`hashnotes.losses.proxy.batch_loss`). The two networks never interact.

Row-major ``(n, k)`` codes; codes are ``sign`` of the tanh outputs (``sign(0) = +1``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as nnf
from torch import nn

from .._checks import check_choice, check_int, check_number
from ..codes import sign
from ..losses import proxy
from ..nets import AlexNetTrunk, FeatureMLP, SmallCNN, TextMLP, channel_stats
from ..train import DataSpec, HashingMethod, Phase
from ..train.batches import Feeder, partition_batches
from ..train.networks import DeepConfig, Standardised, build_feature_net, make_optimizer, small_budget

__all__ = ["DAPHConfig", "DAPH", "ProxyGenerator", "ClassProxyNet", "IMAGE_NETS", "PROXIES", "POSITIVES"]

IMAGE_NETS = ("alexnet", "small")
PROXIES = ("data_aware", "data_aware_class", "class_only")
POSITIVES = ("identical", "code")


@dataclass(frozen=True)
class DAPHConfig(DeepConfig):
    """DAPH hyperparameters; the defaults are the published settings (:meth:`DAPH.paper`).

    Shared: gamma (scale, 20), sigma (margin, 0.2) of every softmax ratio.

    Stage 2 (:class:`~hashnotes.train.networks.DeepConfig`'s fields): ``epochs`` 220, ``batch_size`` 128
    (``drop_last``), SGD with lr 5e-3 for both networks and weight decay 1e-5 (the reference's StepLR(300)
    never fires: constant); ``image_net`` ``"alexnet"`` (224 px; ``pretrained_path``: a torchvision AlexNet
    ImageNet state dict, loaded into both LIPG's and IMHN's trunks) or ``"small"`` (SmallCNN for 32/64 px;
    feature inputs ``(n, d)`` get a FeatureMLP with ``feature_hidden``); ``text_hidden`` (4096,);
    ``text_init_std`` 0.3 initialises the weights of the text networks' code layers only (as the reference,
    None: PyTorch's default); ``dropout`` 0.2 is TMHN's. eta: weight of ``L_similar`` (1).
    positives: ``"identical"`` (the same label set, for both networks; the package's choice) or ``"code"``
    (the reference: identical for the image network, "anchor contains the item's labels" for the text one).

    Stage 1: proxy_epochs 80, proxy_batch_size 90 (all batches), proxy_lr 2e-4 (LIPG, LTPG), class_lr 1e-3
    (CDPG), the same ``optimizer`` and ``weight_decay``; alpha (balance, 0.2) and beta (quantization, 0.2);
    proxy_width 512 (the fused feature width); proxy_text_dropout 0.5 (LTPG), label_dropout 0.1 (label
    branches), class_hidden 4096, class_dropout 0.2 and class_init_std 0.2 (CDPG's weights); image_dropout
    0.5 (AlexNet's fc6/fc7, both stages). faithful_to_code: keep the reference's ``+|y_i|`` in ``L3``'s
    denominator (default False).

    proxies (the ablation): ``"data_aware"`` (DAPH), ``"data_aware_class"`` (the full stage 1, but stage 2
    learns from the class proxies alone, ``L_class``) or ``"class_only"`` (CDPG alone in stage 1, on
    ``L1 + alpha L2 + beta Lqtf`` of the class proxies, which then never see the data; stage 2 ``L_class``).
    """

    # stage 2: schedule
    epochs: int = 220
    batch_size: int = 128
    # stage 2: networks (IMHN has an AlexNet trunk, as LIPG in stage 1)
    image_nets: ClassVar[tuple] = IMAGE_NETS  # DAPH builds its own image trunks
    image_net: str = "alexnet"
    image_size: int | None = 224
    text_hidden: tuple = (4096,)
    text_init_std: float | None = 0.3
    dropout: float = 0.2
    # stage 2: optimiser (plain SGD at a constant rate, DeepConfig's defaults)
    lr_image: float = 5e-3
    lr_text: float = 5e-3
    weight_decay: float = 1e-5
    # the softmax ratios of both stages, and stage 2's terms
    gamma: float = 20.0
    sigma: float = 0.2
    eta: float = 1.0
    positives: str = "identical"
    # stage 1: schedule and optimiser
    proxy_epochs: int = 80
    proxy_batch_size: int = 90
    proxy_lr: float = 2e-4
    class_lr: float = 1e-3
    # stage 1: loss
    alpha: float = 0.2
    beta: float = 0.2
    faithful_to_code: bool = False
    # stage 1: LIPG and LTPG
    proxy_width: int = 512
    proxy_text_dropout: float = 0.5
    label_dropout: float = 0.1
    image_dropout: float = 0.5
    # stage 1: CDPG
    class_hidden: int = 4096
    class_dropout: float = 0.2
    class_init_std: float = 0.2
    # the ablation
    proxies: str = "data_aware"

    def __post_init__(self):
        super().__post_init__()
        if self.image_net == "alexnet" and self.image_size not in (None, 224):
            raise ValueError(f"image_net='alexnet' needs image_size=224 (or None), got {self.image_size!r}")
        check_number(self.gamma, "gamma", strict=True)
        check_number(self.sigma, "sigma", minimum=None)
        for name in ("eta", "alpha", "beta", "weight_decay"):
            check_number(getattr(self, name), name)
        for name in ("proxy_lr", "class_lr", "class_init_std"):
            check_number(getattr(self, name), name, strict=True)
        for name in ("proxy_epochs", "proxy_batch_size", "proxy_width", "class_hidden"):
            check_int(getattr(self, name), name)
        for name in ("proxy_text_dropout", "label_dropout", "class_dropout", "image_dropout"):
            check_number(getattr(self, name), name, maximum=1.0)
        check_choice(self.positives, "positives", POSITIVES)
        check_choice(self.proxies, "proxies", PROXIES)
        if not isinstance(self.faithful_to_code, bool):
            raise ValueError(f"faithful_to_code must be True or False, got {self.faithful_to_code!r}")


# --------------------------------------------------------------------------------------------- networks
def _normal_weight(layer: nn.Linear, std: float | None) -> None:
    """``N(0, std)`` weights (bias left at PyTorch's default), as the reference initialises its code layers."""
    if std is not None:
        nn.init.normal_(layer.weight, 0.0, float(std))


def _last_linear(net: nn.Module) -> nn.Linear:
    return [m for m in net.modules() if isinstance(m, nn.Linear)][-1]


class ProxyGenerator(nn.Module):
    """LIPG / LTPG: ``normalize(W (normalize(data(x)) + normalize(label(y))) + b)``, a unit vector in R^k.

    ``data`` maps the input to ``width`` (an image trunk + linear layer, or a text MLP); ``label`` is
    ``y -> width -> ReLU -> Dropout -> width``.
    """

    def __init__(self, data: nn.Module, n_labels: int, width: int, bits: int, label_dropout: float):
        super().__init__()
        self.data = data
        self.label = FeatureMLP(n_labels, width, hidden=(width,), dropout=label_dropout)
        self.code = nn.Linear(width, bits)

    def forward(self, x, labels) -> torch.Tensor:
        fused = nnf.normalize(self.data(x), dim=1) + nnf.normalize(self.label(labels), dim=1)
        return nnf.normalize(self.code(fused), dim=1)


class ClassProxyNet(nn.Module):
    """CDPG: class vectors ``e_j`` -> ``hidden`` -> ReLU -> Dropout -> ``k`` -> normalise (one unit proxy per
    class). ``forward()`` without input returns the proxies of all ``n_labels`` classes (the rows of I)."""

    def __init__(self, n_labels: int, bits: int, hidden: int, dropout: float, init_std: float):
        super().__init__()
        self.n_labels = int(n_labels)
        self.net = FeatureMLP(n_labels, bits, hidden=(hidden,), dropout=dropout)
        for layer in self.net.modules():
            if isinstance(layer, nn.Linear):
                _normal_weight(layer, init_std)

    def forward(self, classes=None) -> torch.Tensor:
        if classes is None:
            classes = torch.eye(self.n_labels, device=self.net.net[0].weight.device)
        return nnf.normalize(self.net(classes), dim=1)


# --------------------------------------------------------------------------------------------- the method
class DAPH(HashingMethod):
    """Data-Aware Proxy Hashing (Tu et al., SIGIR 2023): proxy codes first, then two hashing networks.

    Modules: ``lipg``, ``ltpg``, ``cdpg`` (stage 1; only ``cdpg`` with ``proxies="class_only"``), ``image``
    and ``text`` (stage 2, the encoders). Phases: ``Phase("proxy", proxy_epochs, select=False)`` then
    ``Phase("hash", epochs, start=freeze_proxies)``. The stages can also be run by hand: ``setup(train)``,
    ``proxy_epoch(e)`` for each stage-1 epoch, ``freeze_proxies()``, ``hash_epoch(e)``. After a fit,
    ``self.artifacts`` holds the signed proxies (see the module docstring) and :meth:`stage_seconds` the
    time of each stage.

    ``DAPH.small()``: stage 2 on the shared reduced budget of the supervised deep methods
    (:data:`~hashnotes.train.networks.SMALL_BUDGET`: SmallCNN width 16, text MLP 512, no dropout, per-bit output
    normalisation before the tanh, Adam 2e-3 -> 2e-4, 20 epochs of batch 64, validation every 10), instead of
    AlexNet and SGD at the published rates (from a random initialisation SGD at those rates barely moves in a
    few epochs; the published runs start from ImageNet features). Stage 1, which the other methods do not have,
    trains the proxy network 8 epochs with batch 64 and Adam at 1e-3, with a CDPG hidden layer of 512 and a
    fused width of 128 (hundreds of items, not tens of thousands). The text code layer keeps the paper's
    ``N(0, 0.3)`` initialisation. Losses, their weights (alpha, beta, gamma, sigma, eta), the masks and the
    evaluation-mode freezing are unchanged. Feature inputs are standardised with the training split's
    statistics (``standardize_features``): on the 730 MIRFLICKR photos the raw descriptors share a mean vector
    that is ~62% of each row's energy, and without it every image got one code at 16 bits.
    """

    config_class = DAPHConfig
    name = "daph"
    small_settings = small_budget(proxy_epochs=8, proxy_batch_size=64, proxy_lr=1e-3, class_lr=1e-3,
                                  proxy_width=128, proxy_text_dropout=0.0, label_dropout=0.0, class_hidden=512,
                                  class_dropout=0.0, image_dropout=0.0)

    # ---- networks ---------------------------------------------------------------------------------
    def _image_trunk(self, data, fitting: bool, out_dim: int) -> nn.Module:
        """Image input -> ``out_dim`` (linear): AlexNet fc7 + linear layer, SmallCNN, or a FeatureMLP."""
        cfg = self.config
        shape = tuple(data.image_shape)
        if len(shape) == 1:
            return build_feature_net(cfg, data, fitting, out_dim, cfg.image_dropout)
        if cfg.image_net == "small":
            size = cfg.image_size or (32 if shape[-1] <= 32 else 64)
            mean, std = channel_stats(data.images, seed=cfg.seed) if fitting else (None, None)
            return SmallCNN(out_dim, in_channels=shape[0], image_size=size, width=cfg.small_width,
                            dropout=cfg.image_dropout, mean=mean, std=std)
        if shape[0] != 3:
            raise ValueError(f"alexnet needs RGB images (3 channels), got image shape {shape}")
        trunk = AlexNetTrunk(weights_path=cfg.pretrained_path if fitting else None, dropout=cfg.image_dropout)
        return nn.Sequential(trunk, nn.Linear(trunk.out_dim, out_dim))

    def _text_net(self, data, out_dim: int, dropout: float) -> nn.Module:
        cfg = self.config
        net = TextMLP(data.text_dim, out_dim, hidden=cfg.text_hidden, dropout=dropout, init_std=None)
        _normal_weight(_last_linear(net), cfg.text_init_std)
        return net

    def build(self, data) -> dict[str, nn.Module]:
        """Stage 1's generators, then stage 2's networks (this order fixes the random initialisation)."""
        cfg = self.config
        fitting = not isinstance(data, DataSpec) and not self.restoring
        n_labels, bits, width = int(data.n_labels), int(cfg.bits), int(cfg.proxy_width)
        modules: dict[str, nn.Module] = {}
        if cfg.proxies != "class_only":
            modules["lipg"] = ProxyGenerator(self._image_trunk(data, fitting, width), n_labels, width, bits,
                                             cfg.label_dropout)
            modules["ltpg"] = ProxyGenerator(self._text_net(data, width, cfg.proxy_text_dropout), n_labels, width,
                                             bits, cfg.label_dropout)
        modules["cdpg"] = ClassProxyNet(n_labels, bits, cfg.class_hidden, cfg.class_dropout, cfg.class_init_std)
        modules["image"] = self._image_trunk(data, fitting, bits)
        modules["text"] = self._text_net(data, bits, cfg.dropout)
        if cfg.output_norm:  # stage 2's networks end in a per-bit BatchNorm before the tanh
            modules["image"] = Standardised(modules["image"], bits)
            modules["text"] = Standardised(modules["text"], bits)
        return modules

    def output(self, modality, x):
        """tanh of the modality network's output (codes are its sign)."""
        return torch.tanh(self.modules[self.encoders[modality]](x))

    # ---- training ---------------------------------------------------------------------------------
    def _optimizer(self, params, lr: float, epochs: int):
        return make_optimizer(self.config, params, "image", lr=lr, epochs=epochs)

    def prepare(self, train) -> None:
        cfg = self.config
        self._feeder = Feeder(train, self.device)
        self._labels = torch.as_tensor(np.asarray(train.labels), dtype=torch.float32, device=self.device)
        self._generator = torch.Generator().manual_seed(int(cfg.seed))
        self._n = int(len(train.labels))
        self.optimizers, self.schedulers = {}, {}
        for name in ("lipg", "ltpg", "cdpg", "image", "text"):
            if name not in self.modules:
                continue
            lr, epochs = {"lipg": (cfg.proxy_lr, cfg.proxy_epochs), "ltpg": (cfg.proxy_lr, cfg.proxy_epochs),
                          "cdpg": (cfg.class_lr, cfg.proxy_epochs), "image": (cfg.lr_image, cfg.epochs),
                          "text": (cfg.lr_text, cfg.epochs)}[name]
            self.optimizers[name], self.schedulers[name] = self._optimizer(self.modules[name].parameters(), lr, epochs)

    def phases(self, train) -> list[Phase]:
        cfg = self.config
        return [Phase("proxy", int(cfg.proxy_epochs), self.proxy_epoch, select=False),
                Phase("hash", int(cfg.epochs), self.hash_epoch, start=self.freeze_proxies)]

    def _stage1_modules(self) -> list[str]:
        return [m for m in ("lipg", "ltpg", "cdpg") if m in self.modules]

    def _step(self, names, loss, what: str, epoch: int) -> None:
        if not torch.isfinite(loss):
            raise FloatingPointError(f"DAPH {what} loss became {float(loss.detach())} at epoch {epoch + 1}; "
                                     "lower the learning rate")
        for n in names:
            self.optimizers[n].zero_grad(set_to_none=True)
        loss.backward()
        for n in names:
            self.optimizers[n].step()

    def _end_epoch(self, names) -> None:
        for n in names:
            if self.schedulers[n] is not None:
                self.schedulers[n].step()

    def proxy_epoch(self, e: int) -> dict:
        """One stage-1 epoch: batches of a fresh permutation (``proxy_batch_size``, the last one kept), one
        step of every generator on ``L_D``. Returns the history row (batch means of the summed terms)."""
        cfg = self.config
        names = self._stage1_modules()
        for n in names:
            self.modules[n].train()
        sums: dict[str, float] = {}
        iters = 0
        for idx in partition_batches(self._n, cfg.proxy_batch_size, self._generator, device=self.device):
            y = self._labels[idx]
            C = self.modules["cdpg"]()
            v = t = None
            if "lipg" in self.modules:
                v = self.modules["lipg"](self._feeder.get("image", idx), y)
                t = self.modules["ltpg"](self._feeder.get("text", idx), y)
            terms = proxy.proxy_loss(C, y if v is not None else None, v, t, alpha=cfg.alpha, beta=cfg.beta,
                                     gamma=cfg.gamma, sigma=cfg.sigma, faithful_to_code=cfg.faithful_to_code)
            self._step(names, terms["total"], "proxy", e)
            for k, val in terms.items():
                sums[k] = sums.get(k, 0.0) + float(val.detach())
            iters += 1
        self._end_epoch(names)
        return {f"loss/{k}": v / iters for k, v in sums.items()}

    @torch.no_grad()
    def generate_proxies(self) -> dict[str, torch.Tensor]:
        """The continuous stage-1 outputs in evaluation mode (no dropout): ``class`` (l, k) and, unless
        ``proxies="class_only"``, ``image`` and ``text`` (n, k) for every training item, in order."""
        names = self._stage1_modules()
        was = {n: self.modules[n].training for n in names}
        for n in names:
            self.modules[n].eval()
        try:
            out = {"class": self.modules["cdpg"]()}
            if "lipg" in self.modules:
                bs = int(self.config.encode_batch_size)
                parts = {"image": [], "text": []}
                for s in range(0, self._n, bs):
                    idx = torch.arange(s, min(s + bs, self._n), device=self.device)
                    y = self._labels[idx]
                    parts["image"].append(self.modules["lipg"](self._feeder.get("image", idx), y))
                    parts["text"].append(self.modules["ltpg"](self._feeder.get("text", idx), y))
                out.update({k: torch.cat(v) for k, v in parts.items()})
        finally:
            for n in names:
                self.modules[n].train(was[n])
        return out

    def freeze_proxies(self) -> None:
        """End of stage 1: generate the proxies in evaluation mode and store their signs as artefacts."""
        gen = self.generate_proxies()
        self.artifacts["class_proxies"] = sign(gen["class"]).to(torch.int8)
        self.artifacts["proxy_labels"] = self._labels.to(torch.uint8)
        if "image" in gen:
            self.artifacts["image_proxies"] = sign(gen["image"]).to(torch.int8)
            self.artifacts["text_proxies"] = sign(gen["text"]).to(torch.int8)

    def _anchors(self) -> dict:
        a = self.artifacts
        out = {"class_codes": a["class_proxies"].float(), "anchor_labels": a["proxy_labels"].float()}
        if self.config.proxies == "data_aware":
            out["image_anchors"] = a["image_proxies"].float()
            out["text_anchors"] = a["text_proxies"].float()
        else:
            out["anchor_labels"] = None
        return out

    def rule(self, modality: str) -> str:
        """The positive rule of a modality's network (see ``positives`` and :func:`~hashnotes.losses.proxy.selection_masks`)."""
        if self.config.positives == "code" and modality == "text":
            return "superset"
        return "identical"

    def hash_modality(self, modality: str, e: int, anchors: dict | None = None) -> dict:
        """One stage-2 epoch of one network (the other in eval mode): ``drop_last`` batches of a fresh
        permutation, a step on ``L^m`` each. Returns the batch means of its terms."""
        cfg = self.config
        anchors = self._anchors() if anchors is None else anchors
        other = "text" if modality == "image" else "image"
        self.modules[modality].train()
        self.modules[other].eval()
        sums: dict[str, float] = {}
        iters = 0
        for idx in partition_batches(self._n, cfg.batch_size, self._generator, drop_last=True, device=self.device):
            out = self.output(modality, self._feeder.get(modality, idx))
            terms = proxy.batch_loss(out, labels=self._labels[idx], gamma=cfg.gamma, sigma=cfg.sigma, eta=cfg.eta,
                                     rule=self.rule(modality), **anchors)
            self._step([modality], terms["total"], f"{modality} network", e)
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
            iters += 1
        return {k: v / iters for k, v in sums.items()}

    def hash_epoch(self, e: int) -> dict:
        """One stage-2 epoch: the image network's epoch, then the text network's."""
        anchors = self._anchors()
        row: dict = {f"lr_{m}": float(self.optimizers[m].param_groups[0]["lr"]) for m in ("image", "text")}
        total = 0.0
        for modality in ("image", "text"):
            terms = self.hash_modality(modality, e, anchors)
            row.update({f"loss/{modality}/{k}": v for k, v in terms.items()})
            total += terms["total"]
        self._end_epoch(["image", "text"])
        row["loss/total"] = total
        return row

    # ---- inspection -------------------------------------------------------------------------------
    def stage_seconds(self) -> dict[str, float]:
        """Training seconds of each stage and of validation (:meth:`HashingMethod.phase_seconds`)."""
        return self.phase_seconds()
