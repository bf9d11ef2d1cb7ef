"""TextVectorizer: scikit-learn bag of words / tf-idf, fitted on training strings only, state round trip."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from hashnotes.data import TextVectorizer

TRAIN = ["sky, clouds, sunset", "new york, sky", "dog,dog , park", "Sunset over the sea"]


def test_binary_tags_by_hand():
    vec = TextVectorizer(kind="binary", tokens="tags").fit(TRAIN[:3])
    assert set(vec.vocabulary) == {"sky", "clouds", "sunset", "new york", "dog", "park"}
    X = vec.transform(["SKY,new york, unknown", "dog, dog", ""])
    assert X.dtype == np.float32 and X.shape == (3, 6)
    col = {w: i for i, w in enumerate(vec.vocabulary)}
    expect = np.zeros((3, 6), np.float32)
    expect[0, [col["sky"], col["new york"]]] = 1
    expect[1, col["dog"]] = 1  # binary: repeated tags count once
    np.testing.assert_array_equal(X, expect)


def test_counts_words_and_min_df():
    vec = TextVectorizer(kind="count", tokens="words", min_df=2).fit(TRAIN)
    assert vec.vocabulary == ("sky", "sunset")  # only words in >= 2 training strings (alphabetical columns)
    np.testing.assert_array_equal(vec.transform(["sky sky sunset"]), [[2, 1]])


def test_tfidf_matches_the_formula():
    vec = TextVectorizer(kind="tfidf", tokens="words").fit(TRAIN)
    X = vec.transform(TRAIN)
    # smoothed idf: ln((1 + n) / (1 + df)) + 1, then each row scaled to unit L2 norm
    counts = TextVectorizer(kind="count", tokens="words").fit(TRAIN).transform(TRAIN).astype(np.float64)
    df = (counts > 0).sum(0)
    idf = np.log((1 + len(TRAIN)) / (1 + df)) + 1
    W = counts * idf
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    np.testing.assert_allclose(X, W, rtol=1e-6)


def test_vocabulary_comes_from_the_training_strings_only():
    vec = TextVectorizer(tokens="tags").fit(["a1, b2", "b2, c3"])
    assert vec.transform(["d4, e5"]).sum() == 0  # words seen only outside training have no column


@pytest.mark.parametrize("kind", TextVectorizer.KINDS)
def test_state_dict_round_trip_through_torch_weights_only(kind, tmp_path):
    vec = TextVectorizer(kind=kind, tokens="words", max_features=5).fit(TRAIN)
    torch.save({"text_vectorizer": vec.state_dict()}, tmp_path / "ckpt.pt")
    state = torch.load(tmp_path / "ckpt.pt", weights_only=True)["text_vectorizer"]
    back = TextVectorizer.from_state_dict(state)
    assert back.vocabulary == vec.vocabulary and len(vec.vocabulary) == 5
    new = ["the sunset, a dog in the park", "sky and sea", "nothing known"]
    np.testing.assert_array_equal(back.transform(new), vec.transform(new))


def test_errors():
    with pytest.raises(ValueError, match="kind"):
        TextVectorizer(kind="bm25")
    with pytest.raises(ValueError, match="not fitted"):
        TextVectorizer().transform(["x"])
    with pytest.raises(ValueError, match="single string"):
        TextVectorizer().fit("sky, sea")
    with pytest.raises(ValueError, match="only strings"):
        TextVectorizer().fit(["sky", 3])
    with pytest.raises(ValueError, match="cannot build a vocabulary"):
        TextVectorizer(tokens="words").fit(["a", "b"])  # no 2-letter word
    with pytest.raises(ValueError, match="format"):
        TextVectorizer.from_state_dict({"kind": "binary"})
