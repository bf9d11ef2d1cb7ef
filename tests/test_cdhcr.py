"""Tests of hashnotes.methods.CDHCR: hooks vs the loss module, presets, schedule, a short fit, checkpoints."""
import dataclasses

import numpy as np
import pytest
import torch

from hashnotes import data, methods
from hashnotes.losses import cauchy
from hashnotes.methods.cdhcr import CDHCR, CDHCRConfig
from hashnotes.train import DataSpec, TrainState
from hashnotes.train.networks import make_optimizer


@pytest.fixture(scope="module")
def toy():
    return data.toy(n=400, seed=3)


def _state(n=12, c=8, seed=0, n_labels=4):
    g = torch.Generator().manual_seed(seed)
    F = torch.tanh(torch.randn(n, c, generator=g, dtype=torch.float64))
    G = torch.tanh(torch.randn(n, c, generator=g, dtype=torch.float64))
    labels = (torch.rand(n, n_labels, generator=g) < 0.3).to(torch.float64)
    labels[:, 0] = torch.where(labels.sum(1) == 0, 1.0, labels[:, 0])
    return TrainState(F, G, cauchy.b_step(F, G), labels, None, g, torch.device("cpu"), None)


# ----------------------------------------------------------------------------- hooks
@pytest.mark.parametrize("distance", ["cosine", "inner"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("modality", ["image", "text"])
def test_batch_loss_gradient_is_rows_of_closed_form(distance, weighted, modality):
    model = CDHCR.small(bits=8, distance=distance, dch_weights=weighted, gamma=4.0, alpha=0.7)
    state = _state()
    model.prepare_state(None, state)
    S = (state.labels @ state.labels.T > 0).to(torch.float64)
    if weighted:
        assert state.extra["similar_frac"] == pytest.approx(float(S.mean()))
    idx = torch.tensor([0, 3, 7, 11])
    own = state.buffer(modality)
    out = own[idx].clone().requires_grad_()
    terms = model.batch_loss(modality, idx, out, state)
    (g,) = torch.autograd.grad(terms["total"], out)
    W = cauchy.dch_weights(S, float(S.mean())) if weighted else None
    dF, dG = cauchy.gradients(state.F, state.G, state.B, S, 4.0, 0.7, distance, W)
    full = dF if modality == "image" else dG
    torch.testing.assert_close(g, full[idx], rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("weighted", [False, True])
def test_objective_matches_loss_module(weighted):
    model = CDHCR.small(bits=8, dch_weights=weighted)
    state = _state(n=2500, c=8, seed=1)  # more rows than one chunk of the objective
    model.prepare_state(None, state)
    got = model.objective(state)
    S = (state.labels @ state.labels.T > 0).to(torch.float64)
    W = cauchy.dch_weights(S) if weighted else None
    ref = cauchy.objective(state.F, state.G, state.B, S, 10.0, 1.0, "cosine", W)
    assert got["cauchy"] == pytest.approx(float(ref["cauchy"]), rel=1e-10)
    assert got["quantization"] == pytest.approx(float(ref["quantization"]), rel=1e-12)
    assert got["total"] == pytest.approx(got["cauchy"] + got["quantization"])


def test_b_step_and_activation():
    model = CDHCR.small(bits=8)
    state = _state()
    torch.testing.assert_close(model.b_step(state), torch.where(state.F + state.G >= 0, 1.0, -1.0).double())
    z = torch.tensor([[-50.0, 0.0, 3.0]])
    torch.testing.assert_close(model.output_activation(z), torch.tanh(z))


# ----------------------------------------------------------------------------- presets and optimiser
def test_paper_preset_and_schedule():
    model = CDHCR.paper(bits=64)
    cfg = model.config
    assert (cfg.gamma, cfg.alpha, cfg.distance, cfg.dch_weights) == (10.0, 1.0, "cosine", True)
    assert (cfg.lr_image, cfg.lr_text, cfg.lr_step, cfg.lr_decay) == (1e-4, 3e-4, 15, 0.5)
    assert (cfg.batch_size, cfg.epochs, cfg.image_net, cfg.text_hidden) == (128, 100, "resnet34", (4096, 4096))
    net = torch.nn.Linear(3, 2)
    for modality, lr in (("image", 1e-4), ("text", 3e-4)):
        opt, sched = make_optimizer(cfg, net.parameters(), modality)
        assert isinstance(opt, torch.optim.RMSprop)
        lrs = []
        for _ in range(46):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        assert lrs[0] == pytest.approx(lr) and lrs[14] == pytest.approx(lr)
        assert lrs[15] == pytest.approx(lr / 2) and lrs[30] == pytest.approx(lr / 4) and lrs[45] == pytest.approx(lr / 8)


def test_paper_networks_shapes_and_tanh_range():
    torch.manual_seed(0)
    model = CDHCR.paper(bits=16, image_size=64, image_hidden=32, text_hidden=(16, 16))
    nets = model.build(DataSpec((3, 32, 32), 20, 5))
    image_net, text_net = nets["image"], nets["text"]
    x = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    image_net.eval()
    with torch.no_grad():
        zi = model.output_activation(image_net(x))
        zt = model.output_activation(text_net(torch.rand(2, 20)))
    assert zi.shape == (2, 16) and zt.shape == (2, 16)
    # tanh range (a randomly initialised ResNet can saturate float32 tanh to exactly 1)
    assert bool((zi.abs() <= 1).all()) and bool((zt.abs() <= 1).all())
    assert sum(isinstance(m, torch.nn.Linear) for m in text_net.modules()) == 3


def test_bad_config_raises():
    for kw, msg in [({"gamma": 0.0}, "gamma"), ({"alpha": -1.0}, "alpha"), ({"distance": "l2"}, "distance"),
                    ({"image_net": "vgg"}, "image_net"), ({"lr_step": 0}, "lr_step"), ({"lr_text": float("nan")},
                                                                                        "lr_text"),
                    ({"bits": 0}, "bits")]:
        with pytest.raises(ValueError, match=msg):
            CDHCRConfig(**kw)


def test_dch_weights_need_both_kinds_of_pairs():
    model = CDHCR.small(bits=8, dch_weights=True)
    state = _state()
    state.labels = torch.ones_like(state.labels)
    with pytest.raises(ValueError, match="similar fraction"):
        model.prepare_state(None, state)


# ----------------------------------------------------------------------------- training
def test_short_fit_learns_is_deterministic_and_round_trips(toy, tmp_path):
    kw = dict(bits=16, epochs=4, batch_size=64, eval_every=2)
    m1 = CDHCR.small(**kw).fit(toy.train, val=toy.val, device="cpu", progress=False)
    m2 = CDHCR.small(**kw).fit(toy.train, val=toy.val, device="cpu", progress=False)
    c1 = m1.encode_image(toy.query.images)
    assert c1.dtype == np.int8 and set(np.unique(c1)) <= {-1, 1}
    np.testing.assert_array_equal(c1, m2.encode_image(toy.query.images))
    # history: the objective's terms each epoch, validation every 2 epochs (and the last)
    assert [h["epoch"] for h in m1.history] == [1, 2, 3, 4]
    assert {"loss/cauchy", "loss/quantization", "loss/total", "lr_image", "lr_text"} <= set(m1.history[0])
    assert "val_map_i2t" in m1.history[1] and "val_map_i2t" not in m1.history[0]
    assert m1.history[-1]["loss/cauchy"] < m1.history[0]["loss/cauchy"]
    # better than chance: random codes give mAP about the fraction of relevant pairs
    res = m1.evaluate(toy)
    S = (toy.query.labels.astype(int) @ toy.database.labels.T.astype(int)) > 0
    assert res["map_i2t"] > S.mean() + 0.05 and res["map_t2i"] > S.mean() + 0.05
    path = m1.save(tmp_path / "cdhcr.pt")
    m3 = CDHCR.load(path)
    assert isinstance(m3, CDHCR) and m3.config == m1.config
    np.testing.assert_array_equal(m3.encode_image(toy.query.images), c1)
    np.testing.assert_array_equal(m3.encode_text(toy.query.texts), m1.encode_text(toy.query.texts))


def test_registry_and_overrides():
    assert methods.get("cdhcr") is CDHCR and methods.CDHCR is CDHCR
    m = CDHCR.small(bits=32, gamma=2.0, distance="inner")
    assert (m.config.gamma, m.config.distance, m.config.bits) == (2.0, "inner", 32)
    assert dataclasses.replace(m.config, epochs=3).epochs == 3
