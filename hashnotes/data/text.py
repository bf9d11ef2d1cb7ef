"""Raw text (captions, tag strings) -> bag-of-words or tf-idf vectors with scikit-learn's vectorisers.

The vocabulary is fitted on the training split only, so that no query or database word leaks into
training; a model keeps its :class:`TextVectorizer` (``state_dict`` is plain data plus tensors, loadable
with ``torch.load(weights_only=True)``) and can then encode new strings.
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = ["TextVectorizer", "TOKEN_PATTERNS"]

# "words": scikit-learn's default word pattern (2+ letters/digits); "tags": comma/semicolon/pipe separated
# tags, each trimmed of surrounding blanks (a tag may contain spaces, e.g. "new york").
TOKEN_PATTERNS = {"words": r"(?u)\b\w\w+\b", "tags": r"[^,;|\s](?:[^,;|]*[^,;|\s])?"}
_FORMAT = "hashnotes.TextVectorizer"
_VERSION = 1


def _as_strings(texts, what: str = "texts") -> list[str]:
    if isinstance(texts, str):
        raise ValueError(f"{what} must be a list of strings (one per item), got a single string")
    try:
        out = list(texts)
    except TypeError as exc:
        raise ValueError(f"{what} must be a list of strings, got {type(texts).__name__}") from exc
    bad = [i for i, t in enumerate(out) if not isinstance(t, str)]
    if bad:
        raise ValueError(f"{what} must contain only strings; item {bad[0]} is {type(out[bad[0]]).__name__}")
    return out


class TextVectorizer:
    """Strings -> ``(n, d)`` float32 rows over a vocabulary fitted on training strings.

    Parameters
    ----------
    kind : {"binary", "count", "tfidf"}
        ``"binary"``: 0/1 bag of words (the DCMH-style tag vectors); ``"count"``: term counts;
        ``"tfidf"``: counts re-weighted by smoothed idf and L2-normalised per row (scikit-learn's
        ``TfidfTransformer`` defaults).
    tokens : {"words", "tags"} or a regular expression
        How a string is cut into terms (the ``token_pattern`` of ``CountVectorizer``; see ``TOKEN_PATTERNS``).
    min_df, max_df, max_features, lowercase, ngram_range
        As in ``sklearn.feature_extraction.text.CountVectorizer``; they act only when fitting.
    """

    KINDS = ("binary", "count", "tfidf")

    def __init__(self, kind: str = "binary", tokens: str = "words", min_df=1, max_df=1.0,
                 max_features: int | None = None, lowercase: bool = True, ngram_range=(1, 1)):
        if kind not in self.KINDS:
            raise ValueError(f"kind must be one of {self.KINDS}, got {kind!r}")
        if not isinstance(tokens, str) or not tokens:
            raise ValueError(f"tokens must be 'words', 'tags' or a regular expression, got {tokens!r}")
        if max_features is not None and (isinstance(max_features, bool) or not isinstance(max_features, numbers.Integral)
                                         or max_features < 1):
            raise ValueError(f"max_features must be a positive int or None, got {max_features!r}")
        ngram = tuple(int(x) for x in ngram_range)
        if len(ngram) != 2 or not 1 <= ngram[0] <= ngram[1]:
            raise ValueError(f"ngram_range must be (lo, hi) with 1 <= lo <= hi, got {ngram_range!r}")
        self.kind = kind
        self.tokens = tokens
        self.params = {"min_df": min_df, "max_df": max_df,
                       "max_features": None if max_features is None else int(max_features),
                       "lowercase": bool(lowercase), "ngram_range": list(ngram)}
        self._count = None
        self._tfidf = None

    # ---------------------------------------------------------------------------------------------- sklearn
    def _count_vectorizer(self, vocabulary=None):
        from sklearn.feature_extraction.text import CountVectorizer

        p = self.params
        return CountVectorizer(token_pattern=TOKEN_PATTERNS.get(self.tokens, self.tokens), lowercase=p["lowercase"],
                               ngram_range=tuple(p["ngram_range"]), min_df=p["min_df"], max_df=p["max_df"],
                               max_features=p["max_features"], binary=self.kind == "binary",
                               vocabulary=vocabulary, dtype=np.float64)

    @property
    def fitted(self) -> bool:
        return self._count is not None

    @property
    def vocabulary(self) -> tuple[str, ...]:
        """The terms, in column order."""
        self._require_fitted()
        return self._vocab

    @property
    def dim(self) -> int:
        return len(self.vocabulary)

    def _require_fitted(self) -> None:
        if self._count is None:
            raise ValueError("TextVectorizer is not fitted; call fit(training_strings) first")

    def fit(self, texts) -> "TextVectorizer":
        """Learn the vocabulary (and the idf for ``"tfidf"``) from ``texts`` (the training strings only)."""
        texts = _as_strings(texts)
        if not texts:
            raise ValueError("cannot fit a TextVectorizer on an empty list of strings")
        cv = self._count_vectorizer()
        try:
            counts = cv.fit_transform(texts)
        except ValueError as exc:  # e.g. "empty vocabulary", "max_df corresponds to < documents than min_df"
            raise ValueError(f"cannot build a vocabulary from {len(texts)} training strings "
                             f"(tokens={self.tokens!r}, params={self.params}): {exc}") from exc
        self._count = cv
        vocab = sorted(cv.vocabulary_.items(), key=lambda kv: kv[1])
        self._vocab = tuple(w for w, _ in vocab)
        self._tfidf = None
        if self.kind == "tfidf":
            from sklearn.feature_extraction.text import TfidfTransformer

            self._tfidf = TfidfTransformer().fit(counts)
        return self

    def transform(self, texts) -> np.ndarray:
        """``(n, d)`` float32 rows for ``texts``; terms outside the vocabulary are ignored."""
        self._require_fitted()
        texts = _as_strings(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        X = self._count.transform(texts)
        if self._tfidf is not None:
            X = self._tfidf.transform(X)
        return np.asarray(X.toarray(), dtype=np.float32)

    def fit_transform(self, texts) -> np.ndarray:
        return self.fit(texts).transform(texts)

    # ---------------------------------------------------------------------------------------------- state
    def state_dict(self) -> dict:
        """Plain data (str/int/float/bool/None/list/dict) and tensors: safe for ``torch.load(weights_only=True)``."""
        self._require_fitted()
        import torch

        idf = None if self._tfidf is None else torch.as_tensor(np.asarray(self._tfidf.idf_, dtype=np.float64))
        return {"format": _FORMAT, "version": _VERSION, "kind": self.kind, "tokens": self.tokens,
                "params": {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.params.items()},
                "vocabulary": list(self._vocab), "idf": idf}

    @classmethod
    def from_state_dict(cls, state: dict) -> "TextVectorizer":
        """Rebuild a fitted vectorizer from :meth:`state_dict` (no refitting: same columns, same idf)."""
        if not isinstance(state, dict) or state.get("format") != _FORMAT:
            raise ValueError("not a TextVectorizer state_dict (missing format='hashnotes.TextVectorizer')")
        if int(state.get("version", 0)) > _VERSION:
            raise ValueError(f"TextVectorizer state version {state['version']} is newer than this package "
                             f"reads ({_VERSION}); upgrade hashnotes")
        p = dict(state["params"])
        vec = cls(kind=state["kind"], tokens=state["tokens"], min_df=p["min_df"], max_df=p["max_df"],
                  max_features=p["max_features"], lowercase=p["lowercase"], ngram_range=p["ngram_range"])
        vocab = [str(w) for w in state["vocabulary"]]
        if len(set(vocab)) != len(vocab) or not vocab:
            raise ValueError("TextVectorizer state has an empty or repeated vocabulary")
        vec._count = vec._count_vectorizer(vocabulary={w: i for i, w in enumerate(vocab)})
        vec._vocab = tuple(vocab)
        if vec.kind == "tfidf":
            from sklearn.feature_extraction.text import TfidfTransformer

            idf = np.asarray(state["idf"], dtype=np.float64).reshape(-1)
            if idf.shape != (len(vocab),):
                raise ValueError(f"TextVectorizer state: idf has {idf.size} values for {len(vocab)} words")
            t = TfidfTransformer()
            t.idf_ = idf
            t.n_features_in_ = len(vocab)
            vec._tfidf = t
        return vec

    def __repr__(self) -> str:
        fitted = f", {len(self._vocab)} terms" if self.fitted else ", not fitted"
        return f"TextVectorizer(kind={self.kind!r}, tokens={self.tokens!r}{fitted})"
