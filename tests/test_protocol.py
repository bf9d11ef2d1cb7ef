"""Protocol splits: disjointness, coverage, determinism, preset sizes, errors."""
import numpy as np
import pytest

from hashnotes.data import PROTOCOLS, PairSet, apply_split, make_split, toy_sizes


def _check_structure(sp, n):
    q, db, tr, va = sp.query, sp.database, sp.train, sp.val
    assert len(np.intersect1d(q, db)) == 0
    assert np.array_equal(np.sort(np.concatenate([q, db])), np.arange(n))
    assert np.all(np.isin(tr, db))
    assert np.all(np.isin(va, db)) and len(np.intersect1d(va, tr)) == 0
    for a in (q, db, tr, va):
        assert a.dtype == np.int64 and np.all(np.diff(a) > 0)  # sorted, no duplicates


@pytest.mark.parametrize("preset,n,sizes", [
    ("mirflickr25k", 20015, (2000, 18015, 10000, 1000)),
    ("nuswide", 195834, (2100, 193734, 10500, 1000)),
    ("iapr", 20000, (2000, 18000, 10000, 1000)),
    ("mscoco", 122218, (5000, 117218, 10000, 1000)),
    ("toy", 10000, (1000, 9000, 2000, 500)),
    ("toy", 2000, (200, 1800, 800, 100)),
])
def test_preset_sizes_and_structure(preset, n, sizes):
    sp = make_split(n, preset, seed=3)
    assert (len(sp.query), len(sp.database), len(sp.train), len(sp.val)) == sizes
    assert sp.preset == preset and sp.seed == 3
    _check_structure(sp, n)


def test_toy_rule():
    assert toy_sizes(10000) == (1000, 2000, 500)
    assert toy_sizes(2000) == (200, 800, 100)
    assert toy_sizes(20000) == (2000, 2000, 1000)
    assert set(PROTOCOLS) == {"mirflickr25k", "nuswide", "iapr", "mscoco", "toy", "scaled"}


def test_scaled_rule():
    from hashnotes.data import scaled_sizes

    assert scaled_sizes(730) == (73, 621, 36)  # 730 real MIRFLICKR photos: every non-val database item trains
    assert scaled_sizes(20015) == (2000, 10000, 1000)  # the DCMH MIRFLICKR-25K sizes
    assert scaled_sizes(200000) == (2000, 10000, 1000)
    sp = make_split(730, "scaled", seed=0)
    assert (len(sp.query), len(sp.database), len(sp.train), len(sp.val)) == (73, 657, 621, 36)
    _check_structure(sp, 730)


def test_determinism_and_seed_dependence():
    a, b, c = make_split(500, "toy", seed=1), make_split(500, "toy", seed=1), make_split(500, "toy", seed=2)
    for k in ("query", "database", "train", "val"):
        assert np.array_equal(getattr(a, k), getattr(b, k))
    assert not np.array_equal(a.query, c.query)
    assert a.as_dict() == b.as_dict() and a.as_dict()["digest"] != c.as_dict()["digest"]


def test_overrides_and_custom():
    sp = make_split(100, "toy", n_query=30, n_train=50, n_val=20)
    assert (len(sp.query), len(sp.database), len(sp.train), len(sp.val)) == (30, 70, 50, 20)
    _check_structure(sp, 100)
    sp = make_split(100, n_query=10)
    assert (len(sp.query), len(sp.train), len(sp.val), sp.preset) == (10, 90, 0, "custom")
    sp = make_split(100, n_query=10, n_val=9)
    assert (len(sp.train), len(sp.val)) == (81, 9)
    _check_structure(sp, 100)


@pytest.mark.parametrize("kwargs,match", [
    (dict(n=100, preset="nope"), "preset"),
    (dict(n=100), "n_query is required"),
    (dict(n=1000, preset="mirflickr25k"), "n_query=2000"),
    (dict(n=12000, preset="mirflickr25k"), "does not fit"),
    (dict(n=100, n_query=100), "n_query"),
    (dict(n=100, n_query=0), "n_query"),
    (dict(n=100, n_query=10, n_train=80, n_val=20), "does not fit"),
    (dict(n=100, n_query=10, n_train=0), "n_train"),
    (dict(n=100, n_query=-1), "n_query"),
    (dict(n=100, n_query=2.5), "n_query"),
    (dict(n=1, n_query=1), "n must be"),
])
def test_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_split(**kwargs)


def test_apply_split():
    n = 50
    rng = np.random.default_rng(0)
    pairs = PairSet(images=rng.random((n, 4)).astype(np.float32), texts=rng.random((n, 3)).astype(np.float32),
                    labels=(rng.random((n, 2)) < 0.5).astype(np.uint8), ids=np.arange(n, dtype=np.int64) + 100)
    sp = make_split(n, n_query=5, n_train=30, n_val=5)
    ds = apply_split(pairs, sp, "x", ["a", "b"], vocab=["u", "v", "w"], info={"k": 1})
    assert np.array_equal(ds.query.ids, sp.query + 100)
    assert np.array_equal(ds.train.texts, pairs.texts[sp.train])
    assert ds.describe()["split"]["n_train"] == 30 and ds.info == {"k": 1}
    with pytest.raises(ValueError, match="label_names"):
        apply_split(pairs, sp, "x", ["a"])
    with pytest.raises(ValueError, match="vocab"):
        apply_split(pairs, sp, "x", ["a", "b"], vocab=["u"])
    with pytest.raises(ValueError, match="different n"):
        apply_split(pairs.subset(np.arange(20)), sp, "x", ["a", "b"])
