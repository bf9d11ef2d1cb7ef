"""Binary codes: sign with sign(0)=+1, {0,1} <-> {-1,+1}, bit packing and exact Hamming distances.

Codes are row-major ``(n, c)`` arrays with entries in {-1, +1} (the papers' column-major
``B in {-1,+1}^{c x n}`` is ``B.T`` here). For fast kernels a code is packed into
``ceil(c / 64)`` unsigned 64-bit words: bit ``j`` of the code (``+1`` -> 1, ``-1`` -> 0) is bit
``j % 64`` of word ``j // 64``; the unused high bits of the last word are always 0, so they never
contribute to a Hamming distance.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic

from ._checks import _is_torch_tensor, as_numpy, check_bits, check_codes, check_finite, check_same_width
from .threads import get_num_threads

__all__ = [
    "sign", "to_pm1", "to_01", "pack_bits", "unpack_bits", "hamming_distance", "popcount64", "check_bits",
    "code_stats", "CodeCollapseWarning", "COLLAPSE_SHARE",
]


# --------------------------------------------------------------------------------------------------
# sign


def sign(x):
    """Elementwise sign with ``sign(0) = +1``, so the result is always in {-1, +1}.

    Parameters
    ----------
    x : numpy.ndarray, torch.Tensor or array_like
        Must not contain NaN.

    Returns
    -------
    Same kind as ``x``: a float tensor/array stays float (same dtype, same device); a numpy
    integer or boolean array gives ``int8``.
    """
    if _is_torch_tensor(x):
        import torch

        if x.is_floating_point() and bool(torch.isnan(x).any()):
            raise ValueError(f"x contains NaN (shape {tuple(x.shape)}); sign is undefined")
        one = torch.ones((), dtype=x.dtype, device=x.device)
        return torch.where(x >= 0, one, -one)
    x = check_finite(as_numpy(x), "x")
    if np.issubdtype(x.dtype, np.floating):
        return np.where(x >= 0, 1, -1).astype(x.dtype)
    return np.where(x >= 0, 1, -1).astype(np.int8)


def to_pm1(bits01) -> np.ndarray:
    """Map {0, 1} bits (or booleans) to {-1, +1} codes: 0 -> -1, 1 -> +1.

    Returns
    -------
    numpy.ndarray of int8, same shape as the input.
    """
    b = check_finite(as_numpy(bits01), "bits01")
    if b.dtype != np.bool_:
        ok = (b == 0) | (b == 1)
        if not ok.all():
            raise ValueError(f"bits01 must contain only 0 and 1 (shape {b.shape}); "
                             f"found e.g. {b[~ok].ravel()[0]!r}")
    return np.where(b != 0, 1, -1).astype(np.int8)


def to_01(codes) -> np.ndarray:
    """Map {-1, +1} codes to {0, 1} bits: -1 -> 0, +1 -> 1.

    Returns
    -------
    numpy.ndarray of uint8, same shape as the input.
    """
    c = check_finite(as_numpy(codes), "codes")
    if c.dtype == np.bool_:
        raise ValueError("codes is a boolean array; expected {-1,+1} codes")
    ok = (c == 1) | (c == -1)
    if not ok.all():
        raise ValueError(f"codes must contain only -1 and +1 (shape {c.shape}); "
                         f"found e.g. {c[~ok].ravel()[0]!r}")
    return (c > 0).astype(np.uint8)


# --------------------------------------------------------------------------------------------------
# packing


def _pack01(bits01: np.ndarray) -> np.ndarray:
    """Pack a 2-D {0,1}/bool matrix (n, m) into (n, ceil(m/64)) uint64 words, bit j -> word j//64."""
    n, m = bits01.shape
    n_words = (m + 63) // 64
    by = np.packbits(bits01.astype(bool, copy=False), axis=1, bitorder="little")
    padded = np.zeros((n, n_words * 8), dtype=np.uint8)
    padded[:, : by.shape[1]] = by
    return padded.view("<u8").astype(np.uint64, copy=False).reshape(n, n_words)


def pack_bits(codes) -> np.ndarray:
    """Pack {-1, +1} codes into 64-bit words.

    Parameters
    ----------
    codes : array_like or torch.Tensor, shape (n, c), entries in {-1, +1}

    Returns
    -------
    numpy.ndarray of uint64, shape (n, ceil(c / 64))
        Bit ``j % 64`` of word ``j // 64`` is 1 where ``codes[:, j] == +1``; padding bits are 0.
    """
    b = check_codes(codes, "codes")
    return _pack01(b > 0)


def unpack_bits(packed, c: int) -> np.ndarray:
    """Inverse of :func:`pack_bits`.

    Parameters
    ----------
    packed : numpy.ndarray of uint64, shape (n, ceil(c / 64))
    c : int
        Code length.

    Returns
    -------
    numpy.ndarray of int8, shape (n, c), entries in {-1, +1}
    """
    c = check_bits(c)
    p = as_numpy(packed)
    n_words = (c + 63) // 64
    if p.ndim != 2 or p.shape[1] != n_words:
        raise ValueError(f"packed must have shape (n, {n_words}) for c={c}, got {p.shape}")
    if p.dtype != np.uint64:
        raise ValueError(f"packed must be uint64, got dtype {p.dtype}")
    by = np.ascontiguousarray(p).astype("<u8", copy=False).view(np.uint8).reshape(p.shape[0], n_words * 8)
    bits = np.unpackbits(by, axis=1, bitorder="little")
    if bits[:, c:].any():
        raise ValueError(f"packed has non-zero padding bits beyond bit {c}; was it packed with c={c}?")
    return np.where(bits[:, :c] != 0, 1, -1).astype(np.int8)


# --------------------------------------------------------------------------------------------------
# numba kernels


@intrinsic
def _ctpop64(typingctx, x):
    """LLVM ``ctpop`` on a uint64 (a single POPCNT instruction on x86-64)."""
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return sig, codegen


@numba.njit(cache=True, inline="always")
def popcount64(x):
    """Number of set bits of a uint64 (usable inside other numba kernels)."""
    return _ctpop64(x)


@numba.njit(cache=True, inline="always")
def _hamming_row(a, i, b, j):
    d = 0
    for w in range(a.shape[1]):
        d += _ctpop64(a[i, w] ^ b[j, w])
    return d


@numba.njit(cache=True, nogil=True)
def _hamming_chunk(a, b, out, ch, n_chunks):
    for i in range(ch, a.shape[0], n_chunks):
        for j in range(b.shape[0]):
            out[i, j] = _hamming_row(a, i, b, j)


# Below this many row pairs a kernel runs on the calling thread: starting threads costs more.
_PARALLEL_MIN_PAIRS = 1 << 21


def _run_chunked(kernel, n_rows: int, n_cols: int, *args) -> None:
    """Call ``kernel(*args, chunk, n_chunks)`` for every chunk of rows (chunk ``c`` of ``n`` takes rows
    ``c, c + n, ...``). The kernels release the GIL, so for large inputs a thread pool with
    :func:`hashnotes.threads.get_num_threads` workers runs the chunks in parallel. (Asking numba for its
    thread count would start numba's OpenMP layer, which resets torch's thread count: see
    :mod:`hashnotes.threads`.)"""
    n_threads = get_num_threads()
    if n_rows < 2 or n_rows * n_cols < _PARALLEL_MIN_PAIRS or n_threads < 2:
        kernel(*args, 0, 1)
        return
    n_chunks = min(n_rows, 4 * n_threads)
    with ThreadPoolExecutor(max_workers=n_threads) as pool:
        # list() re-raises any exception from a worker
        list(pool.map(lambda ch: kernel(*args, ch, n_chunks), range(n_chunks)))


def hamming_distance(a, b, method: str = "packed") -> np.ndarray:
    """Exact Hamming distances between every row of ``a`` and every row of ``b``.

    Parameters
    ----------
    a : array_like or torch.Tensor, shape (n_a, c), entries in {-1, +1}
    b : array_like or torch.Tensor, shape (n_b, c), entries in {-1, +1}
    method : {"packed", "inner"}
        ``"packed"``: XOR + popcount on 64-bit words (numba, threads over rows of ``a``).
        ``"inner"``: the textbook identity ``d_H = (c - a b^T) / 2``. Both give identical integers.

    Returns
    -------
    numpy.ndarray of int32, shape (n_a, n_b)
    """
    a = check_codes(a, "a")
    b = check_codes(b, "b")
    check_same_width(a, b, "a", "b")
    c = a.shape[1]
    if method == "packed":
        out = np.empty((a.shape[0], b.shape[0]), dtype=np.int32)
        _run_chunked(_hamming_chunk, a.shape[0], b.shape[0], _pack01(a > 0), _pack01(b > 0), out)
        return out
    if method == "inner":
        # float64 products of +-1 entries summed over c <= 4096 terms are exact integers.
        ip = a.astype(np.float64) @ b.astype(np.float64).T
        return ((c - ip) / 2).round().astype(np.int32)
    raise ValueError(f"method must be 'packed' or 'inner', got {method!r}")


# --------------------------------------------------------------------------------------------------
# collapse


# A side (one modality's codes of one item set) is collapsed when one code holds more than this share of its
# items and more items than share any one label set (see code_stats).
COLLAPSE_SHARE = 0.5


class CodeCollapseWarning(UserWarning):
    """A trained model gives one code to most items of a modality (see :func:`code_stats`)."""


def code_stats(codes, labels=None) -> dict:
    """How a set of codes spreads over the code space: the signs of a collapse.

    Returns ``{"n", "distinct", "constant_bits", "top_share", "label_top_share", "collapsed"}``:
    ``distinct`` codes among the ``n`` rows, bits that take one value on every row, the share of rows that
    hold the most common code, the share of rows that hold the most common label row (None without
    ``labels``) and the verdict.

    ``collapsed`` is True when the most common code holds more than half of the rows (``COLLAPSE_SHARE``)
    and, with labels, more rows than carry any one label set. Why this rule: items that share a code are
    tied in every Hamming ranking, and the order among tied items is the database order, not the model's;
    once one code holds most items, mAP and precision measure that order. A perfect supervised code may
    give all items of one label set one code, so a bucket is only suspicious when it is larger than every
    label set -- it must then merge items the labels tell apart. A healthy code of 16 or more bits spreads
    the items over many codes; the collapses met in practice put every item (or all but a few) on one code.
    """
    c = check_codes(codes, "codes")
    n = len(c)
    if n == 0:
        raise ValueError("code_stats needs at least one code")
    packed = pack_bits(c)
    _, counts = np.unique(packed, axis=0, return_counts=True)
    constant = int((np.all(c == c[:1], axis=0)).sum())
    top = float(counts.max()) / n
    label_top = None
    if labels is not None:
        lab = np.asarray(labels)
        if lab.ndim != 2 or len(lab) != n:
            raise ValueError(f"labels must be (n, l) with n = {n} rows, got shape {lab.shape}")
        _, lc = np.unique(lab, axis=0, return_counts=True)
        label_top = float(lc.max()) / n
    collapsed = top > COLLAPSE_SHARE and (label_top is None or top > label_top)
    return {"n": int(n), "distinct": int(len(counts)), "constant_bits": constant, "top_share": round(top, 6),
            "label_top_share": None if label_top is None else round(label_top, 6), "collapsed": bool(collapsed)}
