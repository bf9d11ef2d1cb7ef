"""Networks: CNN-F (VGG-F), a reduced CNN for small images, ResNet-34 and AlexNet trunks, text and feature MLPs.

Every network returns *linear* outputs (no tanh); a method applies its own output activation.
Every network starts with a :class:`Preprocess` module, so raw inputs (uint8 pixels, bag-of-words
counts) are converted the same way for every method and stored with the weights.

CNN-F follows Chatfield et al., "Return of the devil in the details", BMVC 2014, as used by DCMH
(Jiang & Li, CVPR 2017, Table 1). The AlexNet trunk is torchvision's ``alexnet`` layout (Krizhevsky et al.,
NIPS 2012, one-tower version), as used by DAPH (Tu et al., SIGIR 2023).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

__all__ = [
    "Preprocess",
    "feature_stats",
    "CNNF",
    "SmallCNN",
    "ResNet34Trunk",
    "AlexNetTrunk",
    "TextMLP",
    "FeatureMLP",
    "load_vggf_matconvnet",
    "channel_stats",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _as_tensor(x, device) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.to(device)
    return torch.as_tensor(np.asarray(x), device=device)


class Preprocess(nn.Module):
    """Turn raw inputs into the float tensor a network expects.

    Parameters
    ----------
    kind : {"meanstd", "mean_image", "none"}
        ``"meanstd"``: ``(x * scale - mean) / std`` per channel (pixels in [0, 1] when ``scale=1/255``).
        ``"mean_image"``: ``x - average_image`` in raw 0..255 units (MatConvNet CNN-F convention).
        ``"none"``: only a cast to float (text, features).
    mean, std : per-channel sequences for ``"meanstd"``.
    average_image : ``(C, H, W)`` array for ``"mean_image"`` (a ``(C,)`` array means per-channel).
    size : int or None
        When given, image batches whose spatial size differs are bilinearly resized to ``size x size``.
    center : ``(d,)`` array or None
        For vector inputs: subtract this mean (e.g. DCMH-MATLAB's centred bag of words).
    zscore : ``(mean, inv_std)`` pair of ``(d,)`` arrays, an int ``d``, or None
        For vector inputs: ``(x - mean) * inv_std`` (pre-extracted features; the statistics come from
        :func:`feature_stats` of the training split and are saved with the model). An int ``d`` registers
        identity statistics of that width, for a model whose saved statistics are loaded afterwards.
    """

    def __init__(self, kind: str = "none", mean=None, std=None, scale: float = 1.0 / 255.0,
                 average_image=None, size: int | None = None, center=None, zscore=None):
        super().__init__()
        if kind not in ("meanstd", "mean_image", "none"):
            raise ValueError(f"Preprocess kind must be 'meanstd', 'mean_image' or 'none', got {kind!r}")
        self.kind = kind
        self.scale = float(scale)
        self.size = None if size is None else int(size)
        if kind == "meanstd":
            if mean is None or std is None:
                raise ValueError("Preprocess(kind='meanstd') needs both mean and std")
            mean_t = torch.as_tensor(np.asarray(mean, dtype=np.float32)).view(1, -1, 1, 1)
            std_t = torch.as_tensor(np.asarray(std, dtype=np.float32)).view(1, -1, 1, 1)
            if torch.any(std_t <= 0):
                raise ValueError("Preprocess std must be positive in every channel")
            self.register_buffer("mean", mean_t)
            self.register_buffer("std", std_t)
        elif kind == "mean_image":
            if average_image is None:
                raise ValueError("Preprocess(kind='mean_image') needs average_image")
            avg = np.asarray(average_image, dtype=np.float32)
            if avg.ndim == 1:
                avg = avg.reshape(-1, 1, 1)
            if avg.ndim != 3:
                raise ValueError(f"average_image must be (C, H, W) or (C,), got shape {avg.shape}")
            self.register_buffer("average_image", torch.as_tensor(avg).unsqueeze(0))
        if center is not None:
            self.register_buffer("center", torch.as_tensor(np.asarray(center, dtype=np.float32)).view(1, -1))
        else:
            self.center = None
        if zscore is not None:
            if kind != "none":
                raise ValueError("Preprocess(zscore=...) is for vector inputs (kind='none')")
            if isinstance(zscore, (int, np.integer)):
                z_mean, z_inv = np.zeros(int(zscore), np.float32), np.ones(int(zscore), np.float32)
            else:
                z_mean, z_inv = (np.asarray(a, dtype=np.float32).reshape(-1) for a in zscore)
            if z_mean.shape != z_inv.shape or not np.isfinite(z_mean).all() or not (np.isfinite(z_inv).all()
                                                                                    and (z_inv > 0).all()):
                raise ValueError("Preprocess zscore needs finite (mean, inv_std) of one width with inv_std > 0")
            self.register_buffer("z_mean", torch.from_numpy(z_mean).view(1, -1))
            self.register_buffer("z_inv_std", torch.from_numpy(z_inv).view(1, -1))
        else:
            self.z_mean = self.z_inv_std = None

    def forward(self, x) -> torch.Tensor:
        dev = next(iter(self.buffers()), None)
        device = dev.device if dev is not None else (x.device if isinstance(x, torch.Tensor) else "cpu")
        x = _as_tensor(x, device)
        if x.dtype == torch.uint8 or not torch.is_floating_point(x):
            x = x.float()
        elif x.dtype != torch.float32:
            x = x.float()
        if self.kind == "none":
            if self.center is not None:
                x = x - self.center
            if self.z_mean is not None:
                if x.ndim != 2 or x.shape[1] != self.z_mean.shape[1]:
                    raise ValueError(f"inputs must be (n, {self.z_mean.shape[1]}), got shape {tuple(x.shape)}")
                x = (x - self.z_mean) * self.z_inv_std
            return x
        if x.ndim != 4:
            raise ValueError(f"images must be a 4-D batch (n, C, H, W), got shape {tuple(x.shape)}")
        if self.size is not None and (x.shape[-1] != self.size or x.shape[-2] != self.size):
            x = nn.functional.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        if self.kind == "meanstd":
            return (x * self.scale - self.mean) / self.std
        avg = self.average_image
        if avg.shape[-1] != x.shape[-1] or avg.shape[-2] != x.shape[-2]:
            if avg.shape[-1] == 1 and avg.shape[-2] == 1:
                return x - avg
            avg = nn.functional.interpolate(avg, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return x - avg


def feature_stats(x, eps: float = 1e-8) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, inv_std)`` per column of the feature rows ``x`` (float64 sums), for standardising inputs.

    A column of (near-)zero spread keeps ``inv_std = 1``: it is only centred. Pass the training split's
    features: the same statistics must then be applied to every item that is encoded.
    """
    x = np.asarray(x)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"feature_stats needs an (n, d) array with n >= 2, got shape {x.shape}")
    mean = np.zeros(x.shape[1])
    sq = np.zeros(x.shape[1])
    for s in range(0, len(x), 4096):  # chunks: a float64 copy of a large feature file is not needed
        c = np.asarray(x[s:s + 4096], dtype=np.float64)
        if not np.isfinite(c).all():
            raise ValueError("the features contain NaN or inf; clean them before training")
        mean += c.sum(0)
        sq += (c * c).sum(0)
    mean /= len(x)
    std = np.sqrt(np.maximum(sq / len(x) - mean * mean, 0.0))
    return mean, np.where(std > eps, 1.0 / np.maximum(std, eps), 1.0)


def channel_stats(images, max_items: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of uint8 images ``(n, C, H, W)`` in [0, 1] units (a seeded sample)."""
    n = len(images)
    if n == 0:
        raise ValueError("images is empty; cannot compute channel statistics")
    idx = np.arange(n)
    if n > max_items:
        idx = np.sort(np.random.default_rng(seed).choice(n, max_items, replace=False))
    x = np.asarray(images[idx], dtype=np.float64) / 255.0
    if x.ndim != 4:
        raise ValueError(f"images must be (n, C, H, W), got shape {x.shape}")
    mean = x.mean(axis=(0, 2, 3))
    std = x.std(axis=(0, 2, 3))
    return mean.astype(np.float32), np.maximum(std, 1e-3).astype(np.float32)


def _init_normal(layer: nn.Linear | nn.Conv2d, std: float) -> None:
    nn.init.normal_(layer.weight, 0.0, std)
    if layer.bias is not None:
        nn.init.normal_(layer.bias, 0.0, std)


# --------------------------------------------------------------------------------------------- CNN-F
class CNNF(nn.Module):
    """CNN-F (VGG-F) with a linear ``bits``-dimensional fc8, as in DCMH (Jiang & Li, CVPR 2017, Table 1).

    conv1 64x11x11/4 + ReLU + LRN + (pad 0,1,0,1) + maxpool 3/2; conv2 256x5x5 pad 2 + ReLU + LRN +
    maxpool 3/2; conv3-5 256x3x3 pad 1 + ReLU, maxpool 3/2 after conv5; fc6, fc7 4096 + ReLU
    (Linear layers; optional dropout, used by TDH); fc8 ``bits``, linear, initialised ``0.01*randn``.
    LRN is ``LocalResponseNorm(size=5, alpha=5e-4, beta=0.75, k=2)``, equal to MatConvNet/TF's
    window-5 LRN with alpha=1e-4 (PyTorch divides alpha by the window).

    Input: 224x224 RGB; ``preprocess`` subtracts the mean image in raw 0..255 units (set it from the
    MatConvNet file with :func:`load_vggf_matconvnet`; the default is the ImageNet per-channel mean).
    """

    def __init__(self, bits: int, dropout: float = 0.0, image_size: int = 224, average_image=None):
        super().__init__()
        if int(bits) < 1:
            raise ValueError(f"bits must be a positive int, got {bits!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.bits = int(bits)
        avg = average_image if average_image is not None else np.asarray(IMAGENET_MEAN) * 255.0
        self.preprocess = Preprocess("mean_image", average_image=avg, size=image_size)
        self.conv1 = nn.Conv2d(3, 64, 11, stride=4, padding=0)
        self.conv2 = nn.Conv2d(64, 256, 5, stride=1, padding=2)
        self.conv3 = nn.Conv2d(256, 256, 3, stride=1, padding=1)
        self.conv4 = nn.Conv2d(256, 256, 3, stride=1, padding=1)
        self.conv5 = nn.Conv2d(256, 256, 3, stride=1, padding=1)
        self.lrn = nn.LocalResponseNorm(size=5, alpha=5e-4, beta=0.75, k=2.0)
        self.pool = nn.MaxPool2d(3, stride=2)
        self.pad1 = nn.ZeroPad2d((0, 1, 0, 1))  # MatConvNet's asymmetric pool1 padding
        self.relu = nn.ReLU(inplace=True)
        self.fc6 = nn.Linear(256 * 6 * 6, 4096)
        self.fc7 = nn.Linear(4096, 4096)
        self.fc8 = nn.Linear(4096, self.bits)
        self.drop = nn.Dropout(dropout)
        _init_normal(self.fc8, 0.01)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """fc7 activations (4096-d) of a preprocessed batch."""
        x = self.pad1(self.lrn(self.relu(self.conv1(x))))
        x = self.pool(x)
        x = self.pool(self.lrn(self.relu(self.conv2(x))))
        x = self.relu(self.conv3(x))
        x = self.relu(self.conv4(x))
        x = self.pool(self.relu(self.conv5(x)))
        x = torch.flatten(x, 1)
        x = self.drop(self.relu(self.fc6(x)))
        return self.drop(self.relu(self.fc7(x)))

    def forward(self, x) -> torch.Tensor:
        return self.fc8(self.features(self.preprocess(x)))


def load_vggf_matconvnet(net: CNNF, path) -> CNNF:
    """Copy conv1-fc7 weights (and the average image) of MatConvNet's ``imagenet-vgg-f.mat`` into ``net``.

    Both the old (``layers{i}.filters/.biases``, ``normalization``) and the newer simplenn format
    (``layers{i}.weights = {W, b}``, ``meta.normalization``) are read. MatConvNet stores conv filters
    as ``(kh, kw, c_in, c_out)`` and fc6 as a 6x6x256 convolution; both are permuted to PyTorch order.
    fc8 is left as initialised. Returns ``net``.
    """
    from pathlib import Path

    import scipy.io

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(
            f"VGG-F weights not found at {str(p)!r}; download imagenet-vgg-f.mat from "
            "https://www.vlfeat.org/matconvnet/pretrained/ and pass its path")
    mat = scipy.io.loadmat(str(p), squeeze_me=True, struct_as_record=False)
    if "layers" not in mat:
        raise ValueError(f"{str(p)!r} has no 'layers' variable; is it a MatConvNet simplenn model?")
    layers = np.atleast_1d(mat["layers"])
    weighted = []
    for layer in layers:
        ltype = str(getattr(layer, "type", ""))
        if ltype != "conv":
            continue
        if hasattr(layer, "weights"):
            w, b = layer.weights[0], layer.weights[1]
        else:
            w, b = layer.filters, layer.biases
        weighted.append((str(getattr(layer, "name", "")), np.asarray(w, np.float32), np.asarray(b, np.float32)))
    if len(weighted) < 7:
        raise ValueError(f"{str(p)!r} holds {len(weighted)} conv layers; CNN-F needs at least 7 (conv1-5, fc6, fc7)")
    targets = [net.conv1, net.conv2, net.conv3, net.conv4, net.conv5, net.fc6, net.fc7]
    with torch.no_grad():
        for (name, w, b), mod in zip(weighted[:7], targets):
            if w.ndim == 2:  # fc7 squeezed to (in, out)
                w = w[None, None]
            if w.ndim != 4:
                raise ValueError(f"layer {name!r}: expected 4-D MatConvNet filters, got shape {w.shape}")
            wt = torch.as_tensor(np.ascontiguousarray(w.transpose(3, 2, 0, 1)))  # (out, in, kh, kw)
            if isinstance(mod, nn.Linear):
                wt = wt.reshape(wt.shape[0], -1)
            if tuple(wt.shape) != tuple(mod.weight.shape):
                raise ValueError(f"layer {name!r}: shape {tuple(wt.shape)} does not fit {tuple(mod.weight.shape)}")
            mod.weight.copy_(wt)
            mod.bias.copy_(torch.as_tensor(np.asarray(b, np.float32).reshape(-1)))
    norm = None
    if "meta" in mat and hasattr(mat["meta"], "normalization"):
        norm = mat["meta"].normalization
    elif "normalization" in mat:
        norm = mat["normalization"]
    if norm is not None and hasattr(norm, "averageImage"):
        avg = np.asarray(norm.averageImage, dtype=np.float32)
        avg = avg.transpose(2, 0, 1) if avg.ndim == 3 else avg.reshape(-1)
        net.preprocess = Preprocess("mean_image", average_image=avg, size=net.preprocess.size).to(
            net.conv1.weight.device)
    return net


# --------------------------------------------------------------------------------------------- small CNN
class SmallCNN(nn.Module):
    """A reduced CNN for small images (32x32 or 64x64): conv blocks -> 256 -> ``bits`` (linear).

    Each block is conv3x3 + BatchNorm + ReLU + maxpool 2; three blocks for 32 px, four for 64 px.
    Input is ``(x/255 - mean)/std`` with per-channel ``mean``/``std`` (see :func:`channel_stats`).
    """

    def __init__(self, bits: int, in_channels: int = 3, image_size: int = 32, width: int = 32,
                 hidden: int = 256, dropout: float = 0.0, mean=None, std=None):
        super().__init__()
        if int(bits) < 1:
            raise ValueError(f"bits must be a positive int, got {bits!r}")
        if image_size not in (32, 64):
            raise ValueError(f"SmallCNN image_size must be 32 or 64, got {image_size!r}")
        self.bits = int(bits)
        mean = (0.5,) * in_channels if mean is None else mean
        std = (0.25,) * in_channels if std is None else std
        self.preprocess = Preprocess("meanstd", mean=mean, std=std, size=image_size)
        n_blocks = 3 if image_size == 32 else 4
        chans = [in_channels] + [width * min(2 ** i, 4) for i in range(n_blocks)]
        blocks = []
        for cin, cout in zip(chans[:-1], chans[1:]):
            blocks += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                       nn.ReLU(inplace=True), nn.MaxPool2d(2)]
        self.body = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(chans[-1] * 4 * 4, hidden), nn.ReLU(inplace=True),
                                  nn.Dropout(dropout), nn.Linear(hidden, self.bits))
        self.body.to(memory_format=torch.channels_last)

    def forward(self, x) -> torch.Tensor:
        # channels-last activations: oneDNN's convolutions and pooling on a CPU run 1.4-1.6x faster in this
        # layout than in NCHW (the same values up to float rounding); Flatten sees NCHW order either way
        return self.head(self.body(self.preprocess(x).contiguous(memory_format=torch.channels_last)))


def _load_torchvision_state(net: nn.Module, path, arch: str, tv_name: str, skip: tuple = ()) -> nn.Module:
    """Load a torchvision state dict saved at ``path`` into ``net`` (same parameter names), leaving out the
    keys that start with a prefix in ``skip`` (the ImageNet classifier); every other key must match."""
    from pathlib import Path

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(
            f"{arch} weights not found at {str(p)!r}; save torchvision's {tv_name} ImageNet state dict "
            "(torch.save(model.state_dict(), path)) on a machine that has torchvision and pass that path")
    state = torch.load(str(p), map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{str(p)!r} does not hold a state dict (found {type(state).__name__})")
    state = {k: v for k, v in state.items() if not k.startswith(tuple(skip))}
    missing, unexpected = net.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("preprocess.")]
    if missing or unexpected:
        raise ValueError(f"{str(p)!r} does not match {arch}: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return net


# --------------------------------------------------------------------------------------------- ResNet-34
class _BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet34Trunk(nn.Module):
    """ResNet-34 up to global average pooling: images -> 512-d features.

    Parameter names follow torchvision's ``resnet34`` (``conv1``, ``bn1``, ``layer1.0.conv1`` ...), so a
    user-supplied ImageNet state dict (``weights_path``, e.g. a saved torchvision checkpoint) loads
    directly; its ``fc.*`` entries are ignored. Inputs are ImageNet mean/std normalised and resized to
    ``image_size``. ``out_dim`` is 512.
    """

    out_dim = 512

    def __init__(self, weights_path=None, image_size: int | None = 224):
        super().__init__()
        self.preprocess = Preprocess("meanstd", mean=IMAGENET_MEAN, std=IMAGENET_STD, size=image_size)
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        cfg = [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]
        cin = 64
        for i, (cout, blocks, stride) in enumerate(cfg, start=1):
            layer = [_BasicBlock(cin, cout, stride)] + [_BasicBlock(cout, cout, 1) for _ in range(blocks - 1)]
            setattr(self, f"layer{i}", nn.Sequential(*layer))
            cin = cout
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        if weights_path is not None:
            self.load_imagenet(weights_path)

    def load_imagenet(self, path) -> "ResNet34Trunk":
        """Load a torchvision-style ResNet-34 state dict from ``path`` (``fc.*`` keys are skipped)."""
        return _load_torchvision_state(self, path, "ResNet-34", "resnet34", skip=("fc.",))

    def forward(self, x) -> torch.Tensor:
        x = self.preprocess(x)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)


# --------------------------------------------------------------------------------------------- AlexNet
class AlexNetTrunk(nn.Module):
    """AlexNet up to fc7: images -> 4096-d features (after fc7's ReLU).

    ``features``: conv 64x11x11/4 pad 2, ReLU, maxpool 3/2; conv 192x5x5 pad 2, ReLU, maxpool 3/2; conv
    384x3x3, ReLU; conv 256x3x3, ReLU; conv 256x3x3, ReLU, maxpool 3/2 (6x6x256 at 224 px). ``classifier``:
    Dropout, fc6 9216 -> 4096, ReLU, Dropout, fc7 4096 -> 4096, ReLU. Parameter names are torchvision's
    ``alexnet`` (``features.0.weight`` ... ``classifier.4.bias``), so a user-supplied ImageNet state dict
    (``weights_path``: ``torch.save(torchvision.models.alexnet(weights="IMAGENET1K_V1").state_dict(), path)``)
    loads directly; its ``classifier.6`` (the 1000-way layer) is ignored. As in DAPH's networks, the 6x6
    feature map is flattened directly (torchvision's adaptive pooling is the identity at 224 px; other sizes
    are resized to ``image_size`` first). Inputs are ImageNet mean/std normalised. ``out_dim`` is 4096.
    """

    out_dim = 4096

    def __init__(self, weights_path=None, image_size: int = 224, dropout: float = 0.5):
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        if int(image_size) != 224:
            raise ValueError(f"AlexNetTrunk needs 224 px inputs (its fc6 is fixed to 6x6x256), got {image_size!r}")
        self.preprocess = Preprocess("meanstd", mean=IMAGENET_MEAN, std=IMAGENET_STD, size=224)
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2),
            nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2),
            nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2))
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True),
            nn.Dropout(dropout), nn.Linear(4096, 4096), nn.ReLU(inplace=True))
        if weights_path is not None:
            self.load_imagenet(weights_path)

    def load_imagenet(self, path) -> "AlexNetTrunk":
        """Load a torchvision AlexNet state dict from ``path`` (``classifier.6.*`` is skipped)."""
        return _load_torchvision_state(self, path, "AlexNet", "alexnet", skip=("classifier.6.",))

    def forward(self, x) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(self.preprocess(x)), 1))


# --------------------------------------------------------------------------------------------- MLPs
class _MLP(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, hidden: Sequence[int], dropout: float, activation: str,
                 init_std: float | None, center=None, zscore=None):
        super().__init__()
        if int(in_dim) < 1 or int(out_dim) < 1:
            raise ValueError(f"in_dim and bits must be positive ints, got {in_dim!r}, {out_dim!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        acts = {"relu": nn.ReLU, "tanh": nn.Tanh}
        if activation not in acts:
            raise ValueError(f"activation must be one of {sorted(acts)}, got {activation!r}")
        self.preprocess = Preprocess("none", center=center, zscore=zscore)
        dims = [int(in_dim), *[int(h) for h in hidden]]
        layers: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(a, b), acts[activation](), nn.Dropout(dropout)]
        layers.append(nn.Linear(dims[-1], int(out_dim)))
        self.net = nn.Sequential(*layers)
        if init_std is not None:
            for m in self.net:
                if isinstance(m, nn.Linear):
                    _init_normal(m, init_std)
        self.in_dim = int(in_dim)
        self.bits = int(out_dim)

    def forward(self, x) -> torch.Tensor:
        x = self.preprocess(x)
        if x.ndim != 2 or x.shape[1] != self.in_dim:
            raise ValueError(f"inputs must be (n, {self.in_dim}), got shape {tuple(x.shape)}")
        return self.net(x)


class TextMLP(_MLP):
    """Bag of words -> ``hidden`` (ReLU) -> ``bits`` (linear). DCMH: ``hidden=(8192,)``, ``init_std=0.01``.

    ``init_std=None`` keeps PyTorch's default initialisation; ``center`` (a ``(in_dim,)`` mean) reproduces
    DCMH-MATLAB's column-centred bag of words.
    """

    def __init__(self, in_dim: int, bits: int, hidden: Sequence[int] = (8192,), dropout: float = 0.0,
                 init_std: float | None = 0.01, center=None):
        super().__init__(in_dim, bits, hidden, dropout, "relu", init_std, center)


class FeatureMLP(_MLP):
    """Pre-extracted features (e.g. 4096-d VGG fc7) -> ``hidden`` -> ``out_dim`` (linear).

    ``zscore``: standardise the inputs first (``(mean, inv_std)`` from :func:`feature_stats`, or the width
    ``in_dim`` for identity statistics that a checkpoint then overwrites); None: raw inputs.
    """

    def __init__(self, in_dim: int, out_dim: int, hidden: Sequence[int] = (4096,), dropout: float = 0.0,
                 activation: str = "relu", init_std: float | None = None, zscore=None):
        super().__init__(in_dim, out_dim, hidden, dropout, activation, init_std, zscore=zscore)
