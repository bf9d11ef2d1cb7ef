"""Networks: shapes, CNN-F layer facts, LRN equivalence, the MatConvNet loader, preprocessing, MLP init."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from hashnotes import nets


def test_cnnf_shapes_and_fc8_init():
    torch.manual_seed(0)
    net = nets.CNNF(bits=24).eval()
    x = np.random.default_rng(0).integers(0, 256, (2, 3, 224, 224), dtype=np.uint8)
    with torch.no_grad():
        out = net(x)
    assert out.shape == (2, 24)
    # the conv trunk ends at 256 x 6 x 6 for 224-px input, as fc6 expects
    with torch.no_grad():
        z = net.preprocess(x)
        z = net.pool(net.pad1(net.lrn(net.relu(net.conv1(z)))))
        assert z.shape[-2:] == (27, 27)
    assert net.conv1.weight.shape == (64, 3, 11, 11) and net.conv1.stride == (4, 4)
    assert net.conv2.weight.shape == (256, 64, 5, 5) and net.conv2.padding == (2, 2)
    assert net.fc6.weight.shape == (4096, 9216) and net.fc7.weight.shape == (4096, 4096)
    w = net.fc8.weight.detach()
    assert abs(float(w.std()) - 0.01) < 0.001 and abs(float(net.fc8.bias.detach().std()) - 0.01) < 0.005
    # other-size input is resized to 224 by the preprocessing
    with torch.no_grad():
        assert net(x[:, :, :100, :100]).shape == (2, 24)


def test_lrn_matches_the_tf_formula():
    """LocalResponseNorm(5, 5e-4, 0.75, 2) == TF lrn(depth_radius=2, bias=2, alpha=1e-4, beta=0.75)."""
    net = nets.CNNF(bits=8)
    x = torch.randn(2, 7, 3, 3, dtype=torch.float64)
    got = net.lrn(x)
    sq = x ** 2
    ref = torch.empty_like(x)
    for ch in range(7):
        lo, hi = max(0, ch - 2), min(7, ch + 3)
        ref[:, ch] = x[:, ch] / (2.0 + 1e-4 * sq[:, lo:hi].sum(1)) ** 0.75
    torch.testing.assert_close(got, ref)


def _fake_vggf(path, fmt: str):
    """A synthetic imagenet-vgg-f.mat with MatConvNet's layer layout (random weights)."""
    import scipy.io

    rng = np.random.default_rng(0)
    shapes = [("conv1", (11, 11, 3, 64)), ("conv2", (5, 5, 64, 256)), ("conv3", (3, 3, 256, 256)),
              ("conv4", (3, 3, 256, 256)), ("conv5", (3, 3, 256, 256)), ("fc6", (6, 6, 256, 4096)),
              ("fc7", (1, 1, 4096, 4096)), ("fc8", (1, 1, 4096, 1000))]
    layers, weights = [], {}
    for name, shp in shapes:
        w = (rng.standard_normal(shp) * 0.01).astype(np.float32)
        b = rng.standard_normal(shp[-1]).astype(np.float32)
        weights[name] = (w, b)
        if fmt == "new":
            wc = np.empty(2, dtype=object)
            wc[0], wc[1] = w, b
            layers.append({"name": name, "type": "conv", "weights": wc, "stride": [1, 1], "pad": [0, 0, 0, 0]})
        else:
            layers.append({"name": name, "type": "conv", "filters": w, "biases": b})
        layers.append({"name": name + "_relu", "type": "relu"})
    cell = np.empty(len(layers), dtype=object)
    for i, layer in enumerate(layers):
        cell[i] = layer
    avg = rng.uniform(90, 140, (224, 224, 3)).astype(np.float32)
    payload = {"layers": cell}
    if fmt == "new":
        payload["meta"] = {"normalization": {"averageImage": avg, "imageSize": [224, 224, 3]}}
    else:
        payload["normalization"] = {"averageImage": avg}
    scipy.io.savemat(str(path), payload)
    return weights, avg


@pytest.mark.parametrize("fmt", ["new", "old"])
def test_load_vggf_matconvnet(tmp_path, fmt):
    weights, avg = _fake_vggf(tmp_path / "vggf.mat", fmt)
    net = nets.CNNF(bits=16)
    fc8_before = net.fc8.weight.detach().clone()
    nets.load_vggf_matconvnet(net, tmp_path / "vggf.mat")
    w1 = weights["conv1"][0]
    # torch (out, in, kh, kw) == MatConvNet (kh, kw, in, out)
    assert float(net.conv1.weight.detach()[5, 2, 3, 7]) == pytest.approx(float(w1[3, 7, 2, 5]))
    np.testing.assert_allclose(net.conv3.bias.detach().numpy(), weights["conv3"][1])
    # fc6 as a Linear equals MatConvNet's 6x6 convolution on the pool5 map
    w6, b6 = weights["fc6"]
    x = torch.randn(2, 256, 6, 6)
    conv = torch.nn.functional.conv2d(x, torch.as_tensor(w6.transpose(3, 2, 0, 1).copy()), torch.as_tensor(b6))
    torch.testing.assert_close(net.fc6(torch.flatten(x, 1)), conv.flatten(1), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(net.fc7.weight.detach().numpy(), weights["fc7"][0][0, 0].T)
    torch.testing.assert_close(net.fc8.weight.detach(), fc8_before)  # fc8 stays as initialised
    np.testing.assert_allclose(net.preprocess.average_image[0].numpy(), avg.transpose(2, 0, 1))
    img = np.full((1, 3, 224, 224), 100, np.uint8)
    ref = torch.as_tensor(100.0 - avg.transpose(2, 0, 1))[None]
    torch.testing.assert_close(net.preprocess(img), ref)


def test_load_vggf_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="imagenet-vgg-f.mat"):
        nets.load_vggf_matconvnet(nets.CNNF(bits=8), tmp_path / "nope.mat")


@pytest.mark.parametrize("size", [32, 64])
def test_small_cnn(size):
    net = nets.SmallCNN(bits=12, image_size=size, width=8).eval()
    x = np.zeros((3, 3, size, size), np.uint8)
    assert net(x).shape == (3, 12)
    with pytest.raises(ValueError, match="image_size"):
        nets.SmallCNN(bits=12, image_size=48)


def test_preprocess_meanstd_and_validation():
    p = nets.Preprocess("meanstd", mean=(0.5, 0.25, 0.0), std=(0.5, 0.25, 1.0))
    x = np.full((1, 3, 2, 2), 255, np.uint8)
    out = p(x)
    torch.testing.assert_close(out[0, :, 0, 0], torch.tensor([1.0, 3.0, 1.0]))
    with pytest.raises(ValueError, match="std"):
        nets.Preprocess("meanstd", mean=(0.0,), std=(0.0,))
    with pytest.raises(ValueError, match="4-D"):
        p(np.zeros((3, 2, 2), np.uint8))
    mean, std = nets.channel_stats(np.stack([np.zeros((2, 4, 4)), np.full((2, 4, 4), 255)]).astype(np.uint8))
    np.testing.assert_allclose(mean, [0.5, 0.5])
    np.testing.assert_allclose(std, [0.5, 0.5])


def test_text_mlp_and_feature_mlp():
    torch.manual_seed(0)
    t = nets.TextMLP(50, 16, hidden=(300,))
    assert t(np.zeros((4, 50), np.float32)).shape == (4, 16)
    w = t.net[0].weight.detach()
    assert abs(float(w.std()) - 0.01) < 0.001  # DCMH's 0.01 * randn init
    with pytest.raises(ValueError, match=r"\(n, 50\)"):
        t(np.zeros((4, 49), np.float32))
    c = nets.TextMLP(3, 2, hidden=(4,), center=np.array([1.0, 2.0, 3.0]))
    torch.testing.assert_close(c.preprocess(np.array([[1.0, 2.0, 3.0]], np.float32)), torch.zeros(1, 3))
    f = nets.FeatureMLP(20, 8, hidden=(10, 6), activation="tanh")
    assert f(torch.zeros(5, 20)).shape == (5, 8)
    with pytest.raises(ValueError, match="activation"):
        nets.FeatureMLP(20, 8, activation="gelu")


def test_resnet34_trunk_structure_and_weights(tmp_path):
    net = nets.ResNet34Trunk(image_size=64).eval()
    n_params = sum(p.numel() for p in net.parameters())
    assert n_params == 21_284_672  # torchvision resnet34 (21,797,672) minus its fc layer (513,000)
    with torch.no_grad():
        assert net(np.zeros((2, 3, 64, 64), np.uint8)).shape == (2, 512)
    state = {k: torch.randn_like(v) if v.is_floating_point() else v for k, v in net.state_dict().items()
             if not k.startswith("preprocess.")}
    state["fc.weight"] = torch.zeros(1000, 512)
    torch.save(state, tmp_path / "r34.pth")
    other = nets.ResNet34Trunk(weights_path=tmp_path / "r34.pth", image_size=64)
    torch.testing.assert_close(other.layer3[2].conv1.weight, state["layer3.2.conv1.weight"])
    with pytest.raises(FileNotFoundError, match="ResNet-34"):
        nets.ResNet34Trunk(weights_path=tmp_path / "none.pth")


# torchvision.models.alexnet's parameter names and shapes (torchvision is not a dependency; its state dict is)
_TV_ALEXNET = {
    "features.0.weight": (64, 3, 11, 11), "features.0.bias": (64,),
    "features.3.weight": (192, 64, 5, 5), "features.3.bias": (192,),
    "features.6.weight": (384, 192, 3, 3), "features.6.bias": (384,),
    "features.8.weight": (256, 384, 3, 3), "features.8.bias": (256,),
    "features.10.weight": (256, 256, 3, 3), "features.10.bias": (256,),
    "classifier.1.weight": (4096, 9216), "classifier.1.bias": (4096,),
    "classifier.4.weight": (4096, 4096), "classifier.4.bias": (4096,),
    "classifier.6.weight": (1000, 4096), "classifier.6.bias": (1000,),
}


def test_alexnet_trunk_matches_torchvision_layout_and_loads_its_state_dict(tmp_path):
    net = nets.AlexNetTrunk().eval()
    own = {k: tuple(v.shape) for k, v in net.state_dict().items() if not k.startswith("preprocess.")}
    assert own == {k: s for k, s in _TV_ALEXNET.items() if not k.startswith("classifier.6.")}
    assert sum(p.numel() for p in net.parameters()) == 57_003_840  # torchvision's 61,100,840 minus fc8
    with torch.no_grad():
        assert net(np.zeros((2, 3, 32, 32), np.uint8)).shape == (2, 4096)  # resized to 224 px
    gen = torch.Generator().manual_seed(0)
    state = {k: 0.01 * torch.randn(s, generator=gen) for k, s in _TV_ALEXNET.items()}
    torch.save(state, tmp_path / "alexnet.pth")
    other = nets.AlexNetTrunk(weights_path=tmp_path / "alexnet.pth").eval()
    torch.testing.assert_close(other.features[8].weight, state["features.8.weight"])
    torch.testing.assert_close(other.classifier[4].bias, state["classifier.4.bias"])
    x = np.random.default_rng(0).integers(0, 256, (1, 3, 224, 224), dtype=np.uint8)
    with torch.no_grad():  # the same forward as torchvision's up to fc7 + ReLU (no avgpool: 6x6 at 224 px)
        t = (torch.as_tensor(x).float() / 255 - torch.tensor(nets.IMAGENET_MEAN).view(1, 3, 1, 1)) \
            / torch.tensor(nets.IMAGENET_STD).view(1, 3, 1, 1)
        for i in (0, 3, 6, 8, 10):
            pad = {0: 2, 3: 2}.get(i, 1)
            t = torch.relu(torch.nn.functional.conv2d(t, state[f"features.{i}.weight"], state[f"features.{i}.bias"],
                                                      stride=4 if i == 0 else 1, padding=pad))
            if i in (0, 3, 10):
                t = torch.nn.functional.max_pool2d(t, 3, 2)
        t = t.flatten(1)
        for i in (1, 4):
            t = torch.relu(t @ state[f"classifier.{i}.weight"].T + state[f"classifier.{i}.bias"])
        torch.testing.assert_close(other(x), t, rtol=1e-4, atol=1e-5)
    state.pop("features.0.bias")
    torch.save(state, tmp_path / "broken.pth")
    with pytest.raises(ValueError, match="does not match AlexNet.*features.0.bias"):
        nets.AlexNetTrunk(weights_path=tmp_path / "broken.pth")
    with pytest.raises(FileNotFoundError, match="AlexNet weights not found"):
        nets.AlexNetTrunk(weights_path=tmp_path / "none.pth")
    with pytest.raises(ValueError, match="224"):
        nets.AlexNetTrunk(image_size=64)
