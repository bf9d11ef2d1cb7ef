"""UGACH on the method interface: codes 1[h >= 0.5], the graph artefact, no labels in training, the phases,
the discriminator's hinge step, the generator's exact and code estimators, a short fit, save/load, CLI."""
from __future__ import annotations

import copy
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from hashnotes import knn, methods
from hashnotes.data.base import PairSet
from hashnotes.losses import adversarial
from hashnotes.methods.ugach import UGACH, HashPathway, UGACHConfig

TINY = dict(hidden=16, pretrain_epochs=2, pretrain_passes=1, epochs=1, batch_size=16, g_batch_size=8,
            pool_size=20, eval_every=1)


def _clusters(n=120, n_cls=4, d_img=12, d_txt=6, noise=0.6, seed=0, item_seed=None):
    """Pairs whose image and text features both cluster by a hidden class (labels = the class). The class
    centres depend on ``seed`` only; ``item_seed`` draws other items around the same centres."""
    rng = np.random.default_rng(seed)
    ci, ct = 2.0 * rng.normal(size=(n_cls, d_img)), 2.0 * rng.normal(size=(n_cls, d_txt))
    if item_seed is not None:
        rng = np.random.default_rng(item_seed)
    cls = rng.integers(n_cls, size=n)
    labels = np.eye(n_cls, dtype=np.uint8)[cls]
    return PairSet(images=(ci[cls] + noise * rng.normal(size=(n, d_img))).astype(np.float32),
                   texts=(ct[cls] + noise * rng.normal(size=(n, d_txt))).astype(np.float32),
                   labels=labels, ids=np.arange(n, dtype=np.int64))


def test_codes_are_one_where_h_is_at_least_half():
    m = UGACH.small(bits=8, **TINY)
    h = torch.tensor([[0.0, 0.49999, 0.5, 0.50001, 1.0, 0.2, 0.7, 0.5]])
    np.testing.assert_array_equal(m.binarize(h).numpy(), [[-1, -1, 1, 1, 1, -1, 1, 1]])
    train = _clusters()
    m.fit(train, progress=False)
    with torch.no_grad():
        h_img = m.modules["dis_image"](torch.from_numpy(train.images))
    codes = m.encode_image(train.images)
    np.testing.assert_array_equal(codes, np.where(h_img.numpy() >= 0.5, 1, -1))  # sign(h - 0.5), sign(0) = +1
    assert codes.dtype == np.int8 and m.encoders == {"image": "dis_image", "text": "dis_text"}


def test_graph_artifact_from_training_features_and_no_labels():
    train = _clusters(seed=1)
    m = UGACH.small(bits=8, **TINY).fit(train, progress=False)
    assert set(m.modules) == {"gen_image", "gen_text", "dis_image", "dis_text"}
    np.testing.assert_array_equal(m.artifacts["graph"].numpy(), knn.correlation_graph(train.images, train.texts, 5, 5))
    # training never reads the labels: other labels give the same model (no validation split here)
    relabelled = PairSet(train.images, train.texts, np.roll(train.labels, 1, axis=1), train.ids)
    m2 = UGACH.small(bits=8, **TINY).fit(relabelled, progress=False)
    np.testing.assert_array_equal(m.encode_text(train.texts), m2.encode_text(train.texts))


def test_phases_history_and_pretrain_restore():
    train, val = _clusters(seed=2), _clusters(n=40, seed=3)
    m = UGACH.small(bits=8, **{**TINY, "pretrain_epochs": 3, "epochs": 2}).fit(train, val=val, progress=False)
    assert [h["phase"] for h in m.history] == ["pretrain"] * 3 + ["adversarial"] * 2
    assert all("val_map_i2t" in h for h in m.history)
    adv = m.history[-1]
    assert {"loss/d_hinge", "loss/g", "g/expected_reward", "d/fooled", "loss/total"} <= set(adv)
    assert 0.0 <= adv["d/fooled"] <= 1.0 and adv["g/expected_reward"] >= np.log(2) - 1e-6  # softplus(f >= 0)
    names = [p.name for p in m.phases(train)]
    assert names == ["pretrain", "adversarial"] and m.phases(train)[0].restore_best
    assert UGACH.small(bits=8, **{**TINY, "pretrain_epochs": 0}).phases(train)[0].name == "adversarial"


def test_a_short_fit_improves_validation_map_over_the_untrained_discriminator():
    train, val = _clusters(n=200, seed=4), _clusters(n=60, seed=4, item_seed=40)  # same clusters, other items
    m = UGACH.small(bits=16, **{**TINY, "hidden": 32, "pretrain_epochs": 4, "pretrain_passes": 2})
    with torch.random.fork_rng():
        torch.manual_seed(m.config.seed)
        m.setup(train, "cpu")
    before = m.validate(val, train)
    m.fit(train, val=val, progress=False)
    after = m.validate(val, train)
    assert after["val_map_i2t"] > before["val_map_i2t"] + 0.2
    assert after["val_map_t2i"] > before["val_map_t2i"] + 0.2


def _prepared(**over):
    train = _clusters(n=60, seed=5)
    m = UGACH.small(bits=8, **{**TINY, "optimizer": "sgd", "weight_decay": 0.0, "lr_d": 1.0, "lr_g": 1.0, **over})
    with torch.random.fork_rng():
        torch.manual_seed(0)
        m.setup(train, "cpu")
    m.start_adversarial()
    return m, train


def test_discriminator_step_is_the_mean_hinge():
    m, _ = _prepared()
    q, pos, neg = torch.tensor([0, 3, 7]), torch.tensor([1, 4, 9]), torch.tensor([20, 30, 40])
    ref = copy.deepcopy({k: m.modules[k] for k in ("dis_image", "dis_text")})
    params = [p for k in ("dis_image", "dis_text") for p in ref[k].parameters()]
    hq, hp, hn = ref["dis_image"](m.x["image"][q]), ref["dis_text"](m.x["text"][pos]), ref["dis_text"](m.x["text"][neg])
    margin = m.config.margin_value
    assert margin == 1.0  # bits / 8
    loss = sum(max(torch.zeros(()), margin + ((hq[i] - hp[i]) ** 2).sum() - ((hq[i] - hn[i]) ** 2).sum())
               for i in range(3)) / 3
    grads = torch.autograd.grad(loss, params)
    before = [p.detach().clone() for k in ("dis_image", "dis_text") for p in m.modules[k].parameters()]
    m._hinge_step(m.opt_d, "image", q, pos, neg)  # SGD, lr 1, no weight decay: theta -= grad
    after = [p.detach() for k in ("dis_image", "dis_text") for p in m.modules[k].parameters()]
    for b, a, g in zip(before, after, grads):
        torch.testing.assert_close(b - a, g, atol=1e-6, rtol=1e-5)


def _generator_update(m, q, pool, expected_loss):
    """Check one generator step on a fixed pool against a loss built from scratch (SGD, lr 1)."""
    m.candidate_pools = lambda b: pool
    ref = copy.deepcopy({k: m.modules[k] for k in ("gen_image", "gen_text")})
    params = [p for k in ("gen_image", "gen_text") for p in ref[k].parameters()]
    grads = torch.autograd.grad(expected_loss(ref), params)
    with torch.no_grad():
        h_dis = {mod: m.modules[f"dis_{mod}"](m.x[mod]) for mod in ("image", "text")}
    before = [p.detach().clone() for k in ("gen_image", "gen_text") for p in m.modules[k].parameters()]
    m._generator_step("image", q, h_dis)
    after = [p.detach() for k in ("gen_image", "gen_text") for p in m.modules[k].parameters()]
    for b, a, g in zip(before, after, grads):
        torch.testing.assert_close(b - a, g, atol=1e-6, rtol=1e-5)
    return h_dis


def test_exact_generator_step_maximises_the_expected_softplus_reward_over_the_pool():
    m, _ = _prepared()
    q = torch.tensor([2, 11])
    pool = torch.tensor([[0, 5, 9, 13, 21], [3, 4, 8, 30, 31]])
    with torch.no_grad():
        hd = {mod: m.modules[f"dis_{mod}"](m.x[mod]) for mod in ("image", "text")}
    graph = m.artifacts["graph"]

    def loss(ref):
        total = 0.0
        for b in range(2):
            hq = ref["gen_image"](m.x["image"][q[b]][None])[0]
            hc = ref["gen_text"](m.x["text"][pool[b]])
            p = torch.softmax(-((hq - hc) ** 2).sum(1), 0)
            positives = sorted(set(graph[q[b]].tolist()))  # the distinct manifold positives
            r = torch.zeros(5)
            for j in range(5):
                for x_m in positives:
                    f = torch.relu(m.config.margin_value + ((hd["image"][q[b]] - hd["text"][x_m]) ** 2).sum()
                                   - ((hd["image"][q[b]] - hd["text"][pool[b, j]]) ** 2).sum())
                    r[j] += torch.nn.functional.softplus(f) / len(positives)
            total = total - (p * r).sum()
        return total / 2

    _generator_update(m, q, pool, loss)


def test_code_generator_step_uses_sigmoid_reward_and_softmax_over_the_samples():
    m, _ = _prepared(reward="sigmoid", estimator="sampled", softmax_over="samples")
    q = torch.tensor([2, 11])
    pool = torch.tensor([[0, 5, 9, 13, 21], [3, 4, 8, 30, 31]])
    picks = torch.tensor([[1, 3], [4, 4]])  # pool positions drawn from the policy (a repeat in row 2)
    pos = torch.tensor([[2, 7], [11, 12]])
    m._draw = lambda w, k, replacement: picks
    m._positives = lambda rows, k: pos
    with torch.no_grad():
        hd = {mod: m.modules[f"dis_{mod}"](m.x[mod]) for mod in ("image", "text")}

    def loss(ref):
        total = 0.0
        for b in range(2):
            hq = ref["gen_image"](m.x["image"][q[b]][None])[0]
            hc = ref["gen_text"](m.x["text"][pool[b]])
            s = -((hq - hc) ** 2).sum(1)[picks[b]]
            logp = s - torch.logsumexp(s, 0)  # softmax over the two drawn items only
            for k in range(2):
                f = torch.relu(m.config.margin_value + ((hd["image"][q[b]] - hd["text"][pos[b, k]]) ** 2).sum()
                               - ((hd["image"][q[b]] - hd["text"][pool[b, picks[b, k]]]) ** 2).sum())
                total = total - torch.sigmoid(f) * logp[k] / 2
        return total / 2

    _generator_update(m, q, pool, loss)


def test_generated_negatives_avoid_manifold_positives():
    m, _ = _prepared(n_samples=3)
    trip = m.generate_triplets()
    graph = m.artifacts["graph"]
    for q_mod in ("image", "text"):
        q, pos, neg = trip[q_mod]
        assert len(q) == 3 * m.n
        assert not bool((graph[q] == neg[:, None]).any())  # never a graph neighbour
        assert bool((graph[q] == pos[:, None]).any(1).all())  # always one
    pre = m.pretrain_triplets()
    q, pos, neg = pre["text"]
    assert not bool((graph[q] == neg[:, None]).any()) and bool((graph[q] == pos[:, None]).any(1).all())


def test_pixel_inputs_use_label_free_descriptors(tmp_path):
    from hashnotes import data
    from hashnotes.data.images import image_descriptors

    ds = data.toy(n=150, image_size=32, seed=0)
    m = UGACH.small(bits=8, **TINY).fit(ds.train, val=ds.val, progress=False)
    feats = image_descriptors(ds.query.images)
    np.testing.assert_array_equal(m.encode_image(ds.query.images), m.encode_image(feats))
    back = UGACH.load(m.save(tmp_path / "u.pt"))
    np.testing.assert_array_equal(back.encode_image(ds.query.images), m.encode_image(ds.query.images))
    np.testing.assert_array_equal(back.encode_text(ds.query.texts), m.encode_text(ds.query.texts))
    assert back.history == m.history and back.best_epoch == m.best_epoch
    torch.testing.assert_close(back.artifacts["graph"], m.artifacts["graph"])


def test_presets_and_config_errors():
    p = UGACH.paper(bits=64)
    c = p.config
    assert (c.hidden, c.init_std, c.optimizer, c.batch_size, c.lr_d, c.lr_g, c.weight_decay) == \
        (8192, 0.1, "sgd", 1, 1e-3, 1e-2, 0.01)
    assert (c.k_img, c.k_txt, c.pool_size, c.n_samples, c.epochs, c.d_epochs, c.g_epochs) == (5, 5, 300, 2, 30, 1, 2)
    assert (c.pretrain_epochs, c.pretrain_passes, c.pretrain_batch_size, c.lr_pretrain) == (30, 1000, 20, 1e-2)
    assert c.margin_value == 8.0 and (c.reward, c.estimator, c.softmax_over) == ("log1pexp", "exact", "pool")
    assert UGACHConfig(bits=16, margin=1.0).margin_value == 1.0
    assert methods.get("ugach") is UGACH
    with pytest.raises(ValueError, match="softmax_over='samples' needs estimator='sampled'"):
        UGACHConfig(softmax_over="samples")
    for bad in (dict(reward="exp"), dict(estimator="mc"), dict(margin=-1.0), dict(k_img=0), dict(pool_size=0),
                dict(optimizer="rmsprop"), dict(input_norm="whiten")):
        with pytest.raises(ValueError):
            UGACHConfig(**bad)
    with pytest.raises(ValueError, match="no negative is left"):
        UGACH.small(bits=8, **TINY).fit(_clusters(n=5), progress=False)
    with pytest.raises(ValueError, match="exceeds the 3 training pairs"):
        UGACH.small(bits=8, **TINY).fit(_clusters(n=3), progress=False)
    with pytest.raises(ValueError, match="features"):
        UGACH.small(bits=8, **TINY).fit(PairSet(np.zeros((4, 2, 3), np.float32), np.zeros((4, 2), np.float32),
                                                np.ones((4, 1), np.uint8), np.arange(4)), progress=False)


def test_hash_pathway_standardisation_and_init():
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(500, 4))
    net = HashPathway(4, 8, 3, init_std=0.1)
    w = net.common.weight.detach()
    assert float(w.abs().max()) <= 0.2 + 1e-7 and float(net.common.bias.detach().abs().max()) == 0.0  # truncated at 2 std
    net.set_standardization(x)
    z = (torch.from_numpy(x).float() - net.mean) * net.inv_std
    assert z.mean(0).abs().max() < 1e-4 and (z.std(0) - 1).abs().max() < 1e-2
    h = net(torch.from_numpy(x).float())
    assert h.shape == (500, 3) and bool(((h > 0) & (h < 1)).all())


def test_cli_trains_ugach_on_toy():
    r = subprocess.run([sys.executable, "-m", "hashnotes", "train", "ugach", "--data", "toy", "--toy-n", "200",
                        "--bits", "8", "--epochs", "1", "--threads", "1", "--json"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    row = json.loads(r.stdout.strip().splitlines()[-1])
    assert row["method"] == "ugach" and row["bits"] == 8 and 0.0 <= row["map_i2t"] <= 1.0
    assert row["epochs"] == UGACH.small_settings["pretrain_epochs"] + 1


def test_pixel_descriptors_are_computed_once_per_process(monkeypatch):
    """Two UGACH models on the same pixel array share one descriptor computation; callers get copies, so
    changing one model's features cannot change the cached ones."""
    from hashnotes.data import images as img_mod

    calls = []
    real = img_mod.image_descriptors

    def counting(arr, size):
        calls.append(arr.shape)
        return real(arr, size=size)

    monkeypatch.setattr(img_mod, "image_descriptors", counting)
    monkeypatch.setattr(methods.UGACH, "_feature_cache", __import__("collections").OrderedDict())
    pix = np.random.default_rng(0).integers(0, 256, size=(6, 3, 32, 32), dtype=np.uint8)
    a, b = methods.UGACH.small(bits=16), methods.UGACH.small(bits=16)
    fa = a.image_features(pix)
    fa[:] = 0
    fb = b.image_features(pix)
    assert len(calls) == 1 and fb.flags.writeable and np.abs(fb).sum() > 0
    np.testing.assert_array_equal(fb, real(pix, size=a.config.descriptor_size))
    b.image_features(pix[::-1].copy())
    assert len(calls) == 2
