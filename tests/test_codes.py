"""Tests for hashnotes._checks and hashnotes.codes."""
import numpy as np
import pytest
import torch

from hashnotes import _checks, codes


def _rand_codes(rng, n, c):
    return np.where(rng.random((n, c)) < 0.5, 1, -1).astype(np.int8)


# ----------------------------------------------------------------------------------------- sign


def test_sign_zero_is_plus_one_numpy_float():
    x = np.array([[-2.5, -0.0, 0.0, 1e-300, 3.0]], dtype=np.float32)
    s = codes.sign(x)
    assert s.dtype == np.float32
    np.testing.assert_array_equal(s, [[-1, 1, 1, 1, 1]])


def test_sign_numpy_int_gives_int8():
    s = codes.sign(np.array([-3, 0, 7]))
    assert s.dtype == np.int8
    np.testing.assert_array_equal(s, [-1, 1, 1])


def test_sign_torch_keeps_dtype_and_grad_free():
    x = torch.tensor([[-1.0, 0.0, -0.0, 2.0]], dtype=torch.float64, requires_grad=True)
    s = codes.sign(x)
    assert isinstance(s, torch.Tensor) and s.dtype == torch.float64
    assert s.tolist() == [[-1.0, 1.0, 1.0, 1.0]]


def test_sign_nan_raises():
    with pytest.raises(ValueError, match="NaN"):
        codes.sign(np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match="NaN"):
        codes.sign(torch.tensor([np.nan, 1.0]))


# ------------------------------------------------------------------------------ {0,1} <-> {-1,+1}


def test_to_pm1_to_01_round_trip():
    rng = np.random.default_rng(0)
    b01 = (rng.random((5, 13)) < 0.5).astype(np.uint8)
    pm = codes.to_pm1(b01)
    assert pm.dtype == np.int8 and set(np.unique(pm)) <= {-1, 1}
    np.testing.assert_array_equal(pm, 2 * b01.astype(int) - 1)
    np.testing.assert_array_equal(codes.to_01(pm), b01)
    np.testing.assert_array_equal(codes.to_pm1(b01.astype(bool)), pm)


def test_to_pm1_rejects_non_binary():
    with pytest.raises(ValueError, match="bits01 must contain only 0 and 1"):
        codes.to_pm1(np.array([[0, 2]]))
    with pytest.raises(ValueError, match="codes must contain only -1 and \\+1"):
        codes.to_01(np.array([[0, 1]]))


# ------------------------------------------------------------------------------------- packing


@pytest.mark.parametrize("c", [1, 12, 63, 64, 65, 70, 128, 200])
def test_pack_unpack_round_trip(c):
    rng = np.random.default_rng(c)
    b = _rand_codes(rng, 9, c)
    p = codes.pack_bits(b)
    assert p.dtype == np.uint64 and p.shape == (9, (c + 63) // 64)
    np.testing.assert_array_equal(codes.unpack_bits(p, c), b)


@pytest.mark.parametrize("c", [5, 64, 70])
def test_pack_bit_layout_and_zero_padding(c):
    # code with a single +1 at bit j -> word j // 64 equals 1 << (j % 64), all other words 0
    for j in range(c):
        b = -np.ones((1, c), dtype=np.int8)
        b[0, j] = 1
        p = codes.pack_bits(b)
        expected = np.zeros((1, (c + 63) // 64), dtype=np.uint64)
        expected[0, j // 64] = np.uint64(1) << np.uint64(j % 64)
        np.testing.assert_array_equal(p, expected)
    # all +1: padding bits beyond c are 0
    p = codes.pack_bits(np.ones((1, c), dtype=np.int8))
    total = sum(bin(int(w)).count("1") for w in p[0])
    assert total == c


def test_unpack_rejects_bad_input():
    p = codes.pack_bits(np.ones((2, 70), dtype=np.int8))
    with pytest.raises(ValueError, match="shape"):
        codes.unpack_bits(p, 200)
    with pytest.raises(ValueError, match="padding"):
        codes.unpack_bits(p, 65)
    with pytest.raises(ValueError, match="uint64"):
        codes.unpack_bits(p.astype(np.int64), 70)


# ------------------------------------------------------------------------------------ Hamming


@pytest.mark.parametrize("c", [1, 12, 64, 70, 129, 300])
def test_hamming_packed_equals_inner_equals_brute_force(c):
    rng = np.random.default_rng(100 + c)
    a, b = _rand_codes(rng, 23, c), _rand_codes(rng, 31, c)
    brute = (a[:, None, :] != b[None, :, :]).sum(-1)
    packed = codes.hamming_distance(a, b)
    inner = codes.hamming_distance(a, b, method="inner")
    assert packed.shape == (23, 31) and np.issubdtype(packed.dtype, np.integer)
    np.testing.assert_array_equal(packed, brute)
    np.testing.assert_array_equal(inner, brute)


def test_hamming_threaded_path(monkeypatch):
    monkeypatch.setattr(codes, "_PARALLEL_MIN_PAIRS", 0)
    rng = np.random.default_rng(3)
    a, b = _rand_codes(rng, 41, 70), _rand_codes(rng, 29, 70)
    np.testing.assert_array_equal(codes.hamming_distance(a, b), (a[:, None, :] != b[None, :, :]).sum(-1))


def test_hamming_accepts_torch_and_float_codes():
    rng = np.random.default_rng(1)
    a, b = _rand_codes(rng, 4, 16), _rand_codes(rng, 5, 16)
    ref = codes.hamming_distance(a, b)
    np.testing.assert_array_equal(codes.hamming_distance(torch.tensor(a, dtype=torch.float32),
                                                         torch.tensor(b, dtype=torch.float32)), ref)


def test_hamming_validation():
    a = np.ones((3, 8), dtype=np.int8)
    with pytest.raises(ValueError, match="same width"):
        codes.hamming_distance(a, np.ones((3, 9), dtype=np.int8))
    with pytest.raises(ValueError, match="to_pm1"):
        codes.hamming_distance(a, np.ones((3, 8)) * (np.arange(8) % 2))
    with pytest.raises(ValueError, match="method"):
        codes.hamming_distance(a, a, method="xor")
    with pytest.raises(ValueError, match="unsupported bit length"):
        codes.hamming_distance(np.ones((1, 4097)), np.ones((1, 4097)))
    with pytest.raises(ValueError, match="non-empty"):
        codes.hamming_distance(np.ones((0, 8)), a)


# ------------------------------------------------------------------------------------- checks


def test_check_bits():
    assert _checks.check_bits(np.int64(32)) == 32
    assert codes.check_bits is _checks.check_bits  # ARCHITECTURE names it codes.check_bits
    for bad in (0, -1, 4097, 2.0, True, "32", None):
        with pytest.raises(ValueError, match="unsupported bit length"):
            _checks.check_bits(bad)


def test_check_codes_messages():
    with pytest.raises(ValueError, match="qB must be a 2-D array"):
        _checks.check_codes(np.ones(4), "qB")
    with pytest.raises(ValueError, match=r"qB contains NaN"):
        _checks.check_codes(np.array([[1.0, np.nan]]), "qB")
    with pytest.raises(ValueError, match=r"qB contains infinite"):
        _checks.check_codes(np.array([[1.0, np.inf]]), "qB")
    with pytest.raises(ValueError, match=r"only -1 and \+1.*index \(0, 1\): 3"):
        _checks.check_codes(np.array([[1, 3]]), "qB")
    with pytest.raises(ValueError, match=r"\{0,1\} bits.*to_pm1"):
        _checks.check_codes(np.array([[0, 1], [1, 1]]), "qB")
    with pytest.raises(ValueError, match="to_pm1"):
        _checks.check_codes(np.ones((2, 2), dtype=bool), "qB")
    with pytest.raises(ValueError, match="expected 16"):
        _checks.check_codes(np.ones((2, 8)), "qB", bits=16)
    out = _checks.check_codes(torch.ones(2, 3, requires_grad=True), "qB", bits=3)
    assert out.dtype == np.int8 and out.shape == (2, 3)


def test_check_labels_messages():
    with pytest.raises(ValueError, match="L must be binary"):
        _checks.check_labels(np.array([[0, 2]]), "L")
    with pytest.raises(ValueError, match="L contains NaN"):
        _checks.check_labels(np.array([[0.0, np.nan]]), "L")
    with pytest.raises(ValueError, match="L has 2 rows"):
        _checks.check_labels(np.ones((2, 3)), "L", n_rows=4)
    with pytest.raises(ValueError, match="L has 3 label columns"):
        _checks.check_labels(np.ones((2, 3)), "L", n_cols=4)
    with pytest.raises(ValueError, match="non-empty"):
        _checks.check_labels(np.ones((2, 0)), "L")
    out = _checks.check_labels(np.array([[True, False]]), "L")
    assert out.dtype == np.uint8 and out.tolist() == [[1, 0]]


def test_check_same_width_and_as_numpy():
    with pytest.raises(ValueError, match="a has 2 columns .* but b has 3"):
        _checks.check_same_width(np.ones((1, 2)), np.ones((1, 3)), "a", "b")
    t = torch.ones(2, 2, requires_grad=True)
    arr = _checks.as_numpy(t)
    assert isinstance(arr, np.ndarray) and arr.shape == (2, 2)
    x = np.zeros(3)
    assert _checks.as_numpy(x) is x
