"""A comparison on equal terms: one reduced budget, feature standardisation fitted on the training split, DCH's
class-balance weights for CDHCR, the collapse guard, and claims that refuse unequal budgets and collapsed runs."""
from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest
import torch

from hashnotes import bench, codes, methods
from hashnotes.data.base import PairSet
from hashnotes.losses import cauchy
from hashnotes.nets import FeatureMLP, feature_stats
from hashnotes.train.networks import BUDGET_FIELDS, SMALL_BUDGET

SUPERVISED = ("dcmh", "cdhcr", "tdh", "daph")


# ----------------------------------------------------------------------------- one budget
def test_supervised_small_presets_share_the_budget():
    cfgs = {m: methods.get(m).small(bits=32).config for m in SUPERVISED}
    for field, value in SMALL_BUDGET.items():
        got = {m: getattr(c, field) for m, c in cfgs.items()}
        assert set(map(repr, got.values())) == {repr(value)}, (field, got)
    # and so the claims see no budget difference between any two of them
    rows = [{"data": "t", "method": m, "bits": 32, "seed": 0, "config": dataclasses.asdict(c)} for m, c in cfgs.items()]
    for a in SUPERVISED:
        for b in SUPERVISED:
            assert bench.config_differences(rows, "t", a, b)["budget"] == {}


def test_budget_difference_makes_a_claim_untestable():
    base = dataclasses.asdict(methods.DCMH.small(bits=16).config)
    rows = []
    for m, epochs, value in (("tdh", 10, 0.9), ("dcmh", 30, 0.5)):
        for seed in range(3):
            cfg = {**base, "epochs": epochs, "seed": seed}
            rows.append({"data": "t", "method": m, "bits": 16, "seed": seed, "preset": "small", "config": cfg,
                         "map_i2t": value + 0.001 * seed, "map_t2i": value, "p_at_r2_i2t": value,
                         "p_at_r2_t2i": value, "collapsed": []})
    claim = next(c for c in bench.claim_checks(rows, "t") if c["claim"] == "TDH above DCMH")
    assert claim["verdict"] == "not testable here"
    assert claim["differences"]["budget"] == {"epochs": (10, 30)}
    assert "epochs 10 vs 30" in bench.describe_differences(claim["differences"], "tdh", "dcmh")
    # the same runs on one budget: the numbers decide
    for r in rows:
        r["config"]["epochs"] = 30
    claim = next(c for c in bench.claim_checks(rows, "t") if c["claim"] == "TDH above DCMH")
    assert claim["verdict"] == "held" and claim["differences"]["budget"] == {}
    assert "epochs" in BUDGET_FIELDS


def test_collapsed_runs_are_degenerate_not_evidence():
    cfg = dataclasses.asdict(methods.DCMH.small(bits=16).config)
    rows = []
    for m, value, collapsed in (("cdhcr", 0.1, ["query_image"]), ("dcmh", 0.5, [])):
        for seed in range(2):
            rows.append({"data": "t", "method": m, "bits": 16, "seed": seed, "preset": "small", "config": cfg,
                         "map_i2t": value, "map_t2i": value, "p_at_r2_i2t": value, "p_at_r2_t2i": value,
                         "collapsed": collapsed if seed == 0 else []})
    claim = next(c for c in bench.claim_checks(rows, "t") if c["claim"].startswith("the Cauchy"))
    assert claim["verdict"] == "degenerate" and claim["degenerate"] == 2  # not "not held"
    assert all(c["degenerate"] == ["cdhcr"] for c in claim["checks"])
    assert bench.summary(rows, keys=("map_i2t",))[("t", "cdhcr", 16)]["collapsed"] == 1


def test_summary_refuses_mixed_plans():
    rows = [{"data": "t", "method": "dcmh", "bits": 16, "seed": s, "preset": p, "map_i2t": 0.5, "map_t2i": 0.5}
            for s, p in ((0, "small"), (1, "paper"))]
    with pytest.raises(ValueError, match="different settings"):
        bench.summary(rows)


# ----------------------------------------------------------------------------- the collapse guard
def test_code_stats_hand_case():
    c = np.array([[1, 1, -1], [1, 1, -1], [1, -1, -1], [1, 1, -1]], dtype=np.int8)
    st = codes.code_stats(c)
    assert (st["n"], st["distinct"], st["constant_bits"], st["top_share"]) == (4, 2, 2, 0.75)
    assert st["collapsed"]  # 3 of 4 items on one code, no labels to excuse it
    # one label set held by all four items: one code for them all is what a perfect code may do
    same = np.ones((4, 2), dtype=np.uint8)
    assert not codes.code_stats(c, same)["collapsed"]
    two = np.array([[1, 0], [0, 1], [1, 0], [0, 1]], dtype=np.uint8)
    assert codes.code_stats(c, two)["collapsed"] and codes.code_stats(c, two)["label_top_share"] == 0.5
    spread = np.array([[1, 1], [1, -1], [-1, 1], [-1, -1]], dtype=np.int8)
    assert not codes.code_stats(spread)["collapsed"]
    with pytest.raises(ValueError, match="labels"):
        codes.code_stats(c, np.ones((3, 2)))


class _Constant(methods.RandomCodes):
    """Random codes for text, one code for every image: a method whose image codes collapse."""

    def encode_image(self, images):
        return np.ones((len(images), self.config.bits), dtype=np.int8)


def test_guard_flags_constant_codes():
    from hashnotes import data

    ds = data.toy(n=300, image_size=16, seed=1)
    m = _Constant(bits=16, seed=0)
    with pytest.warns(codes.CodeCollapseWarning, match="image codes collapsed"):
        m.fit(ds, progress=False)
    assert m.code_report["image"]["collapsed"] and m.code_report["image"]["distinct"] == 1
    assert m.code_report["image"]["constant_bits"] == 16 and not m.code_report["text"]["collapsed"]
    r = m.evaluate(ds)
    assert r["collapsed"] == ["query_image", "database_image"]
    assert r["codes"]["database_image"]["distinct"] == 1 and r["codes"]["query_text"]["distinct"] > 10
    row = bench.evaluate_row(m, ds, top_r=50)
    assert row["collapsed"] == ["query_image", "database_image"] and bench.is_degenerate(row)
    healthy = methods.RandomCodes(bits=16, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", codes.CodeCollapseWarning)
        healthy.fit(ds, progress=False)
    assert healthy.evaluate(ds)["collapsed"] == []


# ----------------------------------------------------------------------------- standardised features
def _feature_pairs(n, d, rng, shift):
    x = (rng.normal(size=(n, d)) * 0.01 + shift).astype(np.float32)  # tiny spread on a large shared mean
    labels = np.zeros((n, 3), dtype=np.uint8)
    labels[np.arange(n), rng.integers(0, 3, n)] = 1
    return PairSet(images=x, texts=rng.random((n, 6)).astype(np.float32), labels=labels,
                   ids=np.arange(n, dtype=np.int64))


def test_feature_stats_come_from_the_training_split_and_survive_save_load(tmp_path):
    rng = np.random.default_rng(0)
    train, other = _feature_pairs(60, 5, rng, 3.0), _feature_pairs(40, 5, rng, -7.0)
    model = methods.DCMH.small(bits=8, epochs=1, eval_every=0, feature_hidden=(16,), text_hidden=(8,))
    model.fit(train, progress=False)
    pre = model.modules["image"].net.preprocess  # Standardised(FeatureMLP).net
    mean, inv = feature_stats(train.images)
    np.testing.assert_allclose(pre.z_mean.numpy().ravel(), mean, rtol=1e-6)
    np.testing.assert_allclose(pre.z_inv_std.numpy().ravel(), inv, rtol=1e-5)
    np.testing.assert_allclose(mean, train.images.astype(np.float64).mean(0), rtol=1e-6)
    assert not np.allclose(mean, other.images.mean(0), atol=1.0)  # the other split's statistics differ
    z = pre(torch.from_numpy(train.images)).numpy()
    np.testing.assert_allclose(z.mean(0), 0.0, atol=1e-3)
    np.testing.assert_allclose(z.std(0), 1.0, rtol=1e-3)
    before = model.encode_image(other.images)
    path = model.save(tmp_path / "m.pt")
    loaded = methods.DCMH.load(path)
    lp = loaded.modules["image"].net.preprocess
    torch.testing.assert_close(lp.z_mean, pre.z_mean)
    np.testing.assert_array_equal(loaded.encode_image(other.images), before)
    off = methods.DCMH.small(bits=8, epochs=1, eval_every=0, feature_hidden=(16,), text_hidden=(8,),
                             standardize_features=False).fit(train, progress=False)
    assert off.modules["image"].net.preprocess.z_mean is None


def test_feature_stats_hand_case_and_errors():
    x = np.array([[1.0, 5.0], [3.0, 5.0]])
    mean, inv = feature_stats(x)
    np.testing.assert_allclose(mean, [2.0, 5.0])
    np.testing.assert_allclose(inv, [1.0, 1.0])  # std 1; a constant column keeps 1
    with pytest.raises(ValueError, match="NaN"):
        feature_stats(np.array([[1.0], [np.nan]]))
    net = FeatureMLP(2, 4, hidden=(3,), zscore=(mean, inv))
    np.testing.assert_allclose(net.preprocess(torch.tensor(x, dtype=torch.float32)).numpy(), [[-1, 0], [1, 0]])


# ----------------------------------------------------------------------------- DCH weights
def test_dch_weights_default_and_hand_case():
    assert methods.CDHCR.small(bits=8).config.dch_weights and methods.CDHCR.paper(bits=8).config.dch_weights
    # 4 pairs, 1 similar: |S| / |S_1| = 4 for it, |S| / |S_0| = 4/3 for the others
    S = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    torch.testing.assert_close(cauchy.dch_weights(S), torch.tensor([[4.0, 4 / 3], [4 / 3, 4 / 3]]))
    # the weighted loss is DCH's weights times the unweighted one, pair by pair
    F, G = torch.randn(2, 6, dtype=torch.float64), torch.randn(2, 6, dtype=torch.float64)
    B = torch.sign(F + G)
    w = cauchy.objective(F, G, B, S=S.double(), gamma=3.0, alpha=0.0, weights=0.25)["cauchy"]
    explicit = cauchy.objective(F, G, B, S=S.double(), gamma=3.0, alpha=0.0,
                                weights=torch.tensor([[4.0, 4 / 3], [4 / 3, 4 / 3]], dtype=torch.float64))["cauchy"]
    plain = cauchy.objective(F, G, B, S=S.double(), gamma=3.0, alpha=0.0)["cauchy"]
    assert float(w) == pytest.approx(float(explicit), rel=1e-12) and float(w) != pytest.approx(float(plain))
    # the method measures the similar fraction on its training labels
    m = methods.CDHCR.small(bits=8, epochs=1, eval_every=0, text_hidden=(8,))
    from hashnotes import data

    ds = data.toy(n=300, image_size=16, seed=4)
    m.fit(ds.train, progress=False)
    lab = ds.train.labels.astype(np.int64)
    p = float(((lab @ lab.T) > 0).mean())
    assert m.state.extra["similar_frac"] == pytest.approx(p)
