"""DAPH on the method interface: two stages, proxy artefacts, schedule, presets, save/load, CLI."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from hashnotes import data, methods
from hashnotes.data.base import PairSet
from hashnotes.losses import proxy
from hashnotes.methods.daph import DAPH, DAPHConfig
from hashnotes.train import DataSpec, HashingMethod

TINY = dict(epochs=2, proxy_epochs=2, batch_size=16, proxy_batch_size=16, small_width=8, text_hidden=(16,),
            proxy_width=16, class_hidden=16, eval_every=1)


def _pairs(n=40, d_img=6, d_txt=5, n_labels=4, seed=0):
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, n_labels)) < 0.4).astype(np.uint8)
    labels[labels.sum(1) == 0, 0] = 1
    return PairSet(images=rng.normal(size=(n, d_img)).astype(np.float32),
                   texts=rng.normal(size=(n, d_txt)).astype(np.float32), labels=labels,
                   ids=np.arange(n, dtype=np.int64))


@pytest.fixture(scope="module")
def toy():
    return data.toy(n=400, image_size=32, seed=3)


@pytest.fixture(scope="module")
def fitted(toy):
    return DAPH.small(bits=16, **TINY).fit(toy, device="cpu", progress=False)


def test_two_stages_history_and_proxy_artifacts(fitted, toy):
    m = fitted
    assert [h["phase"] for h in m.history] == ["proxy"] * 2 + ["hash"] * 2
    assert ["val_map_i2t" in h for h in m.history] == [False, False, True, True]  # only stage 2 is validated
    assert m.best_epoch in (3, 4)
    assert set(m.modules) == {"lipg", "ltpg", "cdpg", "image", "text"}
    assert {"loss/L1", "loss/L2", "loss/L3", "loss/Lqtf", "loss/total"} <= set(m.history[0])
    assert {"loss/image/same_image", "loss/text/similar_text", "loss/image/class", "lr_text"} <= set(m.history[-1])
    n, l = len(toy.train), toy.train.labels.shape[1]
    a = m.artifacts
    assert a["image_proxies"].shape == a["text_proxies"].shape == (n, 16)
    assert a["class_proxies"].shape == (l, 16)
    for key in ("image_proxies", "text_proxies", "class_proxies"):
        assert a[key].dtype == torch.int8 and set(a[key].unique().tolist()) <= {-1, 1}
    np.testing.assert_array_equal(a["proxy_labels"].numpy(), toy.train.labels)
    s = m.stage_seconds()
    assert s["proxy"] > 0 and s["hash"] > 0 and s["validation"] > 0


def test_proxies_are_generated_in_eval_mode_and_are_the_signs(toy):
    """With dropout on, train-mode outputs are random; the frozen proxies are the eval-mode signs."""
    m = DAPH.small(bits=16, **{**TINY, "proxy_epochs": 1}, label_dropout=0.5, class_dropout=0.5,
                   proxy_text_dropout=0.5)
    m.setup(toy.train, "cpu")
    m.proxy_epoch(0)
    m.freeze_proxies()
    cdpg = m.modules["cdpg"]
    assert cdpg.training  # training mode is restored after generation
    with torch.no_grad():
        train_mode = [torch.sign(cdpg()) for _ in range(3)]
        cdpg.eval()
        eval_mode = cdpg()
        idx = torch.arange(len(toy.train))
        y = torch.as_tensor(toy.train.labels, dtype=torch.float32)
        m.modules["lipg"].eval()
        v = m.modules["lipg"](torch.as_tensor(toy.train.images), y)
    assert not all(torch.equal(train_mode[0], t) for t in train_mode[1:])  # dropout changes them
    np.testing.assert_array_equal(m.artifacts["class_proxies"].numpy(), np.where(eval_mode.numpy() >= 0, 1, -1))
    np.testing.assert_array_equal(m.artifacts["image_proxies"].numpy(), np.where(v.numpy() >= 0, 1, -1))
    assert idx.numel() == m.artifacts["image_proxies"].shape[0]
    gen = m.generate_proxies()  # unit vectors, deterministic
    torch.testing.assert_close(gen["text"].norm(dim=1), torch.ones(len(toy.train)))
    torch.testing.assert_close(m.generate_proxies()["image"], gen["image"])


def test_save_load_gives_identical_codes_and_proxy_codes(fitted, toy, tmp_path):
    path = fitted.save(tmp_path / "daph.pt")
    back = HashingMethod.load(path)
    assert type(back) is DAPH and back.config == fitted.config and back.best_epoch == fitted.best_epoch
    assert set(back.modules) == set(fitted.modules) and set(back.artifacts) == set(fitted.artifacts)
    for key, value in fitted.artifacts.items():
        assert torch.equal(back.artifacts[key], value), key
    np.testing.assert_array_equal(back.encode_image(toy.query.images), fitted.encode_image(toy.query.images))
    np.testing.assert_array_equal(back.encode_text(toy.query.texts), fitted.encode_text(toy.query.texts))
    assert back.evaluate(toy)["map_i2t"] == fitted.evaluate(toy)["map_i2t"]


def test_codes_are_sign_of_tanh_outputs(fitted, toy):
    x = toy.query.texts[:20]
    with torch.no_grad():
        raw = fitted.modules["text"](torch.as_tensor(x))
    np.testing.assert_array_equal(fitted.encode_text(x), np.where(torch.tanh(raw).numpy() >= 0, 1, -1))


def test_stage2_schedule_image_then_text_drop_last_and_other_network_in_eval(toy, monkeypatch):
    m = DAPH.small(bits=8, **{**TINY, "proxy_epochs": 1, "epochs": 2, "batch_size": 48, "eval_every": 0})
    calls = []
    real = proxy.batch_loss

    def spy(out, **kw):
        nets = {k: m.modules[k].training for k in ("image", "text")}
        calls.append((out.shape[0], nets, kw["rule"]))
        return real(out, **kw)

    monkeypatch.setattr(proxy, "batch_loss", spy)
    orig = m.hash_modality
    order = []
    m.hash_modality = lambda modality, e, anchors=None: (order.append((e, modality)), orig(modality, e, anchors))[1]
    m.fit(toy.train, device="cpu", progress=False)
    assert order == [(0, "image"), (0, "text"), (1, "image"), (1, "text")]
    n = len(toy.train)
    per = n // 48  # drop_last: the incomplete batch is skipped
    assert len(calls) == 2 * 2 * per and all(c[0] == 48 for c in calls)
    image_calls = [c for i, c in enumerate(calls) if (i // per) % 2 == 0]
    text_calls = [c for i, c in enumerate(calls) if (i // per) % 2 == 1]
    assert all(c[1] == {"image": True, "text": False} for c in image_calls)
    assert all(c[1] == {"image": False, "text": True} for c in text_calls)
    assert {c[2] for c in calls} == {"identical"}  # the package's positives for both networks


def test_positives_code_reproduces_the_asymmetric_reference():
    m = DAPH.small(bits=8, positives="code")
    assert m.rule("image") == "identical" and m.rule("text") == "superset"
    assert DAPH.small(bits=8).rule("text") == "identical"


@pytest.mark.parametrize("kind", ["class_only", "data_aware_class"])
def test_ablations_build_and_train_what_they_say(kind, toy):
    m = DAPH.small(bits=8, **{**TINY, "eval_every": 0}, proxies=kind).fit(toy.train, device="cpu", progress=False)
    stage2 = [k for k in m.history[-1] if k.startswith("loss/image/")]
    assert stage2 == ["loss/image/class", "loss/image/total"]  # L_class alone
    if kind == "class_only":
        assert set(m.modules) == {"cdpg", "image", "text"}
        assert set(m.artifacts) == {"class_proxies", "proxy_labels"}
        assert m.history[0]["loss/L3"] == 0.0  # the class proxies never see the data
    else:
        assert {"lipg", "ltpg"} <= set(m.modules) and "image_proxies" in m.artifacts
        assert m.history[0]["loss/L3"] > 0.0


def test_feature_inputs_and_determinism():
    train, val = _pairs(n=48, seed=1), _pairs(n=16, seed=2)
    a = DAPH.small(bits=8, **TINY, seed=5).fit(train, val=val, device="cpu", progress=False)
    b = DAPH.small(bits=8, **TINY, seed=5).fit(train, val=val, device="cpu", progress=False)
    np.testing.assert_array_equal(a.encode_image(val.images), b.encode_image(val.images))
    assert torch.equal(a.artifacts["text_proxies"], b.artifacts["text_proxies"])
    image = a.modules["image"]  # Standardised(FeatureMLP) on the shared budget, with training-split statistics
    assert type(image).__name__ == "Standardised" and type(image.net).__name__ == "FeatureMLP"
    np.testing.assert_allclose(image.net.preprocess.z_mean.numpy().ravel(), train.images.mean(0), rtol=1e-5,
                               atol=1e-6)


def test_faithful_to_code_changes_stage_1():
    train = _pairs(n=32, seed=4)
    kw = dict(bits=8, **{**TINY, "epochs": 1, "proxy_epochs": 1, "eval_every": 0})
    a = DAPH.small(**kw).fit(train, device="cpu", progress=False)
    b = DAPH.small(**kw, faithful_to_code=True).fit(train, device="cpu", progress=False)
    assert b.history[0]["loss/L3"] > a.history[0]["loss/L3"]


def test_paper_preset_is_the_published_settings():
    c = DAPH.paper(bits=64).config
    assert (c.gamma, c.sigma, c.alpha, c.beta, c.eta) == (20.0, 0.2, 0.2, 0.2, 1.0)
    assert (c.proxy_epochs, c.proxy_batch_size, c.epochs, c.batch_size) == (80, 90, 220, 128)
    assert (c.proxy_lr, c.class_lr, c.lr_image, c.lr_text, c.weight_decay) == (2e-4, 1e-3, 5e-3, 5e-3, 1e-5)
    assert (c.optimizer, c.lr_schedule, c.image_net, c.image_size) == ("sgd", "constant", "alexnet", 224)
    assert (c.text_hidden, c.text_init_std, c.dropout, c.proxy_text_dropout, c.label_dropout) == \
        ((4096,), 0.3, 0.2, 0.5, 0.1)
    assert (c.class_hidden, c.class_dropout, c.class_init_std, c.image_dropout, c.proxy_width) == \
        (4096, 0.2, 0.2, 0.5, 512)
    assert not c.faithful_to_code and c.positives == "identical" and c.proxies == "data_aware"


def test_paper_networks_have_the_published_shapes():
    m = DAPH.paper(bits=32)
    with torch.random.fork_rng():
        mods = m.build(DataSpec((3, 224, 224), 50, 6))
    lipg, ltpg, cdpg, image, text = (mods[k] for k in ("lipg", "ltpg", "cdpg", "image", "text"))
    assert type(lipg.data[0]).__name__ == "AlexNetTrunk" and lipg.data[1].out_features == 512
    assert lipg.code.in_features == 512 and lipg.code.out_features == 32
    assert [x.out_features for x in lipg.label.modules() if isinstance(x, torch.nn.Linear)] == [512, 512]
    assert [x.out_features for x in ltpg.data.modules() if isinstance(x, torch.nn.Linear)] == [4096, 512]
    assert [x.out_features for x in cdpg.modules() if isinstance(x, torch.nn.Linear)] == [4096, 32]
    assert type(image[0]).__name__ == "AlexNetTrunk" and image[1].out_features == 32
    assert [x.out_features for x in text.modules() if isinstance(x, torch.nn.Linear)] == [4096, 32]
    code_layer = [x for x in text.modules() if isinstance(x, torch.nn.Linear)][-1]
    assert abs(code_layer.weight.std().item() - 0.3) < 0.01  # N(0, 0.3^2) on the code layer only
    first = [x for x in cdpg.modules() if isinstance(x, torch.nn.Linear)][0]
    assert abs(first.weight.std().item() - 0.2) < 0.02
    with torch.no_grad():
        out = cdpg()
    torch.testing.assert_close(out.norm(dim=1), torch.ones(6))


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="image_net"):
        DAPHConfig(image_net="cnnf")
    with pytest.raises(ValueError, match="image_size=224"):
        DAPHConfig(image_size=64)
    with pytest.raises(ValueError, match="proxies"):
        DAPHConfig(proxies="none")
    with pytest.raises(ValueError, match="positives"):
        DAPHConfig(positives="superset")
    with pytest.raises(ValueError, match="gamma"):
        DAPHConfig(gamma=0)
    with pytest.raises(ValueError, match="proxy_epochs"):
        DAPHConfig(proxy_epochs=0)
    with pytest.raises(ValueError, match="faithful_to_code"):
        DAPHConfig(faithful_to_code=1)
    with pytest.raises(ValueError, match="lr_text"):
        DAPHConfig(lr_text=-1.0)  # DeepConfig's own checks still run
    assert DAPHConfig(image_net="small").image_net == "small"


def test_registered_for_the_command_line():
    assert methods.get("daph") is DAPH and methods.DAPH is DAPH
    r = subprocess.run([sys.executable, "-m", "hashnotes", "train", "daph", "--data", "toy", "--toy-n", "300",
                        "--bits", "8", "--epochs", "1", "--threads", "1", "--json"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    row = json.loads(r.stdout.strip().splitlines()[-1])
    assert row["method"] == "daph" and row["bits"] == 8 and 0.0 <= row["map_i2t"] <= 1.0
    assert row["epochs"] == DAPH.small_settings["proxy_epochs"] + 1  # --epochs sets stage 2's


def test_trains_on_a_dcmh_format_dataset_with_lazily_read_pixels(tmp_path):
    """The real-data layout: MATLAB v7.3 (HDF5) IAll read batch by batch in both stages and in encoding."""
    import h5py
    import scipy.io

    rng = np.random.default_rng(0)
    n = 60
    img = rng.integers(0, 256, size=(n, 3, 20, 20), dtype=np.uint8)
    txt = (rng.random((n, 9)) < 0.3).astype(np.uint8)
    lab = (rng.random((n, 4)) < 0.4).astype(np.uint8)
    lab[np.arange(n), rng.integers(4, size=n)] = 1
    path = tmp_path / "nus-wide-tc21-iall.mat"
    with h5py.File(path, "w", userblock_size=512) as f:  # MATLAB -v7.3: HDF5, arrays stored transposed
        f.create_dataset("IAll", data=np.ascontiguousarray(img.transpose(2, 3, 1, 0).T)).attrs["MATLAB_class"] = \
            np.bytes_("uint8")
    with open(path, "r+b") as fh:
        fh.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, HDF5 schema 1.00 .")
    scipy.io.savemat(tmp_path / "nus-wide-tc21-yall.mat", {"YAll": txt})
    scipy.io.savemat(tmp_path / "nus-wide-tc21-lall.mat", {"LAll": lab})
    ds = data.nuswide(tmp_path, n_query=10, n_train=30, n_val=8, seed=1)
    assert not isinstance(ds.train.images, np.ndarray)  # read on demand
    m = DAPH.small(bits=8, **TINY).fit(ds, device="cpu", progress=False)
    assert m.dataset["name"] == "nuswide" and m.artifacts["image_proxies"].shape == (30, 8)
    eager = DAPH.small(bits=8, **TINY).fit(
        PairSet(images=np.asarray(ds.train.images[np.arange(30)]), texts=ds.train.texts, labels=ds.train.labels,
                ids=ds.train.ids), val=PairSet(images=np.asarray(ds.val.images[np.arange(8)]), texts=ds.val.texts,
                                               labels=ds.val.labels, ids=ds.val.ids), device="cpu", progress=False)
    assert torch.equal(m.artifacts["image_proxies"], eager.artifacts["image_proxies"])  # same numbers either way
    r = m.evaluate(ds)
    assert 0.0 <= r["map_i2t"] <= 1.0 and r["split"]["preset"] == "nuswide"
