"""The embedded toy generator: determinism, shapes, label/tag statistics, split preset, errors."""
import numpy as np
import pytest

from hashnotes import data


@pytest.fixture(scope="module")
def small():
    return data.toy(n=2000, seed=0)


def _all(ds, part):
    return np.concatenate([getattr(ds.query, part), getattr(ds.database, part)])


def test_shapes_and_types(small):
    ds = small
    assert ds.name == "toy"
    assert (len(ds.query), len(ds.database), len(ds.train), len(ds.val)) == (200, 1800, 800, 100)
    assert ds.query.images.dtype == np.uint8 and ds.query.images.shape[1:] == (3, 32, 32)
    assert ds.query.texts.dtype == np.float32 and ds.query.labels.dtype == np.uint8
    assert len(ds.label_names) == 16 == ds.query.n_labels
    assert len(ds.vocab) == ds.query.text_dim and 100 <= len(ds.vocab) <= 300
    assert len(set(ds.vocab)) == len(ds.vocab)
    assert "red disc" in ds.label_names
    assert ds.info["seed"] == 0 and ds.info["n_concepts"] == 16


def test_label_and_tag_statistics(small):
    L, T = _all(small, "labels"), _all(small, "texts")
    assert set(np.unique(L)) <= {0, 1} and set(np.unique(T)) <= {0.0, 1.0}
    per = L.sum(1)
    assert per.min() >= 2 and per.max() <= 4 and 2.8 < per.mean() < 3.2
    assert T.sum(1).min() >= 1
    assert np.all(L.sum(0) > 0)  # every concept occurs
    # co-occurrence structure: some concept pairs co-occur far more often than under independence
    f = L.mean(0)
    co = (L.T.astype(float) @ L) / len(L)
    lift = co / np.outer(f, f)
    np.fill_diagonal(lift, 1.0)
    assert lift.max() > 2.0 and lift.min() < 0.5


def test_text_is_noisy_but_informative(small):
    ds = small
    L, T = _all(ds, "labels"), _all(ds, "texts")
    syn = ds.info["synonyms"]
    col = {w: i for i, w in enumerate(ds.vocab)}
    hit = np.zeros_like(L, dtype=bool)
    for c, name in enumerate(ds.label_names):
        hit[:, c] = T[:, [col[w] for w in syn[name]]].sum(1) > 0
    recall = (hit & (L == 1)).sum() / L.sum()
    assert 0.6 < recall < 0.85  # tags are dropped with probability p_drop=0.25
    false_tags = (hit & (L == 0)).sum() / len(L)
    assert 0.0 < false_tags < 0.1  # occasional wrong tags
    assert all(2 <= len(v) <= 3 for v in syn.values())


def test_deterministic_and_seed_dependent():
    a, b, c = data.toy(n=300, seed=5), data.toy(n=300, seed=5), data.toy(n=300, seed=6)
    for part in ("query", "database", "train", "val"):
        for f in ("images", "texts", "labels", "ids"):
            assert np.array_equal(getattr(getattr(a, part), f), getattr(getattr(b, part), f))
    assert not np.array_equal(a.database.images, c.database.images)
    assert not np.array_equal(_all(a, "labels"), _all(c, "labels"))


def test_image_size_64_and_concept_range():
    ds = data.toy(n=200, image_size=64, n_concepts=24, seed=1)
    assert ds.database.images.shape[1:] == (3, 64, 64)
    assert len(ds.label_names) == 24 and "yellow triangle" in ds.label_names
    ds = data.toy(n=200, n_concepts=12, seed=1)
    assert ds.database.n_labels == 12


def test_images_show_objects_in_concept_colours():
    # one object per image, no clutter change: the object's colour family must dominate the saturated pixels
    pairs, names, _, _ = data.toy_pairs(n=200, seed=2)
    img = pairs.images.astype(float)
    sat = img.max(1) - img.min(1)  # (n, S, S) saturation proxy; background is near-grey
    assert np.mean(sat > 80) > 0.05
    red = [i for i, nm in enumerate(names) if nm.startswith("red")]
    has_red = pairs.labels[:, red].any(1)
    redness = ((img[:, 0] - img[:, 1:].max(1)) > 80).mean((1, 2))
    assert redness[has_red].mean() > 5 * redness[~has_red].mean()


def test_every_pair_keeps_a_tag_when_noise_removes_all():
    pairs, _, vocab, info = data.toy_pairs(n=300, seed=3, p_drop=0.99, p_partial=0.0, p_wrong=0.0,
                                          spurious_mean=0.0)
    T = pairs.texts
    assert T.sum(1).min() >= 1
    syn_cols = {w for ws in info["synonyms"].values() for w in ws}
    assert all(vocab[j] in syn_cols for j in np.nonzero(T.sum(0))[0])  # only concept synonyms remain


def test_split_overrides_and_none():
    ds = data.toy(n=400, split=None, n_query=40, n_val=10, n_train=100)
    assert (len(ds.query), len(ds.database), len(ds.train), len(ds.val)) == (40, 360, 100, 10)
    assert ds.split.preset == "custom"


@pytest.mark.parametrize("kwargs,match", [
    (dict(n_concepts=8), "n_concepts"),
    (dict(n_concepts=30), "n_concepts"),
    (dict(image_size=8), "image_size"),
    (dict(p_drop=1.5), "p_drop"),
    (dict(n=1), "n must be"),
    (dict(split="bogus"), "preset"),
])
def test_errors(kwargs, match):
    kw = dict(n=100)
    kw.update(kwargs)
    with pytest.raises(ValueError, match=match):
        data.toy(**kw)


def test_vocabulary_does_not_depend_on_n_or_seed():
    a, b, c = data.toy(n=300, seed=0), data.toy(n=2000, seed=0), data.toy(n=300, seed=9)
    assert a.vocab == b.vocab == c.vocab  # one column per word, for every size and seed
    assert data.toy(n=300, n_concepts=12).vocab != a.vocab  # it depends on the concepts only
    # which synonyms a concept uses depends on the seed, not on n
    assert a.info["synonyms"] == b.info["synonyms"]


def test_images_and_labels_unchanged_by_the_vocabulary_fix():
    """The recorded method-codes fixture holds toy(n=1000, image_size=16, seed=3) rows from before the
    vocabulary became independent of n: images and labels must still be those."""
    from pathlib import Path

    with np.load(Path(__file__).parent / "data" / "method_codes.npz") as z:
        img, lab = z["input_images"], z["input_labels"]
    ds = data.toy(n=1000, image_size=16, seed=3)
    assert np.array_equal(np.asarray(ds.database.images[:len(img)]), img)
    assert np.array_equal(ds.database.labels[:len(lab)], lab)
