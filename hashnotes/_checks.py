"""Shared input validation.

Every public function of the package validates what it is given with these helpers, so that bad
input fails early with a ``ValueError`` that names the argument and shows the offending shape or
value, instead of producing a silently wrong number.
"""
from __future__ import annotations

import numbers
import sys

import numpy as np

MAX_BITS = 4096


def _is_torch_tensor(x) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def as_numpy(x) -> np.ndarray:
    """Return ``x`` as a numpy array (torch tensors are detached and moved to the CPU).

    Parameters
    ----------
    x : array_like or torch.Tensor

    Returns
    -------
    numpy.ndarray
        No copy is made when ``x`` already is a numpy array.
    """
    if isinstance(x, np.ndarray):
        return x
    if _is_torch_tensor(x):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _describe_bad(x: np.ndarray, bad: np.ndarray) -> str:
    """Position and value of the first ``True`` entry of ``bad``."""
    pos = tuple(int(i) for i in np.argwhere(bad)[0])
    return f"first at index {pos}: {x[pos].item()!r}"


def _check_numeric(x: np.ndarray, name: str) -> None:
    if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise ValueError(f"{name} must be a numeric array, got dtype {x.dtype}")


def check_finite(x, name: str):
    """Raise ``ValueError`` if ``x`` contains NaN or infinity; return ``x`` (the one finite-check).

    Parameters
    ----------
    x : array_like or torch.Tensor
        A torch tensor is checked where it lives (no copy to the host) and returned as it is; anything
        else is returned as a numpy array.
    name : str
        Argument name used in the error message.
    """
    if _is_torch_tensor(x):
        if x.is_floating_point() or x.is_complex():
            finite = sys.modules["torch"].isfinite(x)
            if not bool(finite.all()):
                check_finite(x.detach().cpu().numpy(), name)  # same message, with the first bad entry
        return x
    x = as_numpy(x)
    _check_numeric(x, name)
    if np.issubdtype(x.dtype, np.inexact):
        nan = np.isnan(x)
        if nan.any():
            raise ValueError(f"{name} contains NaN ({int(nan.sum())} entries, "
                             f"{_describe_bad(x, nan)}); shape {x.shape}")
        inf = np.isinf(x)
        if inf.any():
            raise ValueError(f"{name} contains infinite values ({int(inf.sum())} entries, "
                             f"{_describe_bad(x, inf)}); shape {x.shape}")
    return x


def check_int(value, name: str, minimum: int | None = 1) -> int:
    """An integer (not a bool) that is at least ``minimum`` (no bound when None)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_number(value, name: str, minimum: float | None = 0.0, strict: bool = False,
                 maximum: float | None = None) -> float:
    """A finite real number (not a bool) that is ``>= minimum`` (``> minimum`` when ``strict``) and,
    when given, ``< maximum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if minimum is not None and (value <= minimum if strict else value < minimum):
        raise ValueError(f"{name} must be {'>' if strict else '>='} {minimum}, got {value!r}")
    if maximum is not None and value >= maximum:
        raise ValueError(f"{name} must be < {maximum}, got {value!r}")
    return float(value)


def check_choice(value, name: str, choices) -> None:
    """``value`` must be one of ``choices``."""
    if value not in tuple(choices):
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")


def check_bits(bits) -> int:
    """Validate a code length: an integer in ``1..4096``.

    Returns
    -------
    int
    """
    if isinstance(bits, (bool, np.bool_)) or not isinstance(bits, numbers.Integral):
        raise ValueError(f"unsupported bit length {bits!r}: bits must be an integer in 1..{MAX_BITS}")
    bits = int(bits)
    if not 1 <= bits <= MAX_BITS:
        raise ValueError(f"unsupported bit length {bits}: bits must be an integer in 1..{MAX_BITS}")
    return bits


def _check_2d_nonempty(x: np.ndarray, name: str, what: str) -> None:
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array {what}, got shape {x.shape}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} must be non-empty, got shape {x.shape}")


def check_codes(x, name: str, bits: int | None = None) -> np.ndarray:
    """Validate a matrix of binary codes in {-1, +1}, one row per item.

    Parameters
    ----------
    x : array_like or torch.Tensor, shape (n, c)
    name : str
        Argument name used in error messages.
    bits : int, optional
        Required code length ``c``.

    Returns
    -------
    numpy.ndarray of int8, shape (n, c)
    """
    x = as_numpy(x)
    _check_numeric(x, name)
    _check_2d_nonempty(x, name, "(n_items, bits)")
    check_finite(x, name)
    width = x.shape[1]
    if width > MAX_BITS:
        raise ValueError(f"unsupported bit length {width} in {name} (shape {x.shape}): "
                         f"at most {MAX_BITS} bits are supported")
    if bits is not None:
        bits = check_bits(bits)
        if width != bits:
            raise ValueError(f"{name} has {width} bits per code (shape {x.shape}), expected {bits}")
    if x.dtype == np.bool_:
        raise ValueError(f"{name} is a boolean array (shape {x.shape}); codes must be in {{-1,+1}}: "
                         "convert with hashnotes.codes.to_pm1")
    ok = (x == 1) | (x == -1)
    if not ok.all():
        if np.isin(x, (0, 1)).all():
            raise ValueError(f"{name} looks like {{0,1}} bits (shape {x.shape}); codes must be in "
                             "{-1,+1}: convert with hashnotes.codes.to_pm1")
        raise ValueError(f"{name} must contain only -1 and +1 (shape {x.shape}); "
                         f"found other values, {_describe_bad(x, ~ok)}")
    return x.astype(np.int8, copy=False)


def check_labels(x, name: str, n_rows: int | None = None, n_cols: int | None = None):
    """Validate a multi-hot label matrix with entries in {0, 1}.

    Rows with no label are allowed (such an item is relevant to nothing).

    Parameters
    ----------
    x : array_like or torch.Tensor, shape (n, l)
    name : str
        Argument name used in error messages.
    n_rows, n_cols : int, optional
        Required number of rows (items) and columns (labels).

    Returns
    -------
    numpy.ndarray of uint8, shape (n, l), or the torch tensor itself (checked on its device, not copied)
    """
    is_t = _is_torch_tensor(x)
    if not is_t:
        x = as_numpy(x)
        _check_numeric(x, name)
    shape = tuple(x.shape)
    if len(shape) != 2:
        raise ValueError(f"{name} must be a 2-D array (n_items, n_labels), got shape {shape}")
    if shape[0] == 0 or shape[1] == 0:
        raise ValueError(f"{name} must be non-empty, got shape {shape}")
    check_finite(x, name)
    if n_rows is not None and shape[0] != n_rows:
        raise ValueError(f"{name} has {shape[0]} rows (shape {shape}) but {n_rows} were expected "
                         "(one label row per code row)")
    if n_cols is not None and shape[1] != n_cols:
        raise ValueError(f"{name} has {shape[1]} label columns (shape {shape}) but {n_cols} were "
                         "expected (query and database labels must use the same label set)")
    if is_t:
        if x.dtype != sys.modules["torch"].bool and not bool(((x == 0) | (x == 1)).all()):
            check_labels(x.detach().cpu().numpy(), name)  # raises with the first bad entry
        return x
    if x.dtype != np.bool_:
        ok = (x == 0) | (x == 1)
        if not ok.all():
            raise ValueError(f"{name} must be binary (0/1 multi-hot), shape {x.shape}; "
                             f"found other values, {_describe_bad(x, ~ok)}")
    return x.astype(np.uint8, copy=False)


def check_same_width(a, b, name_a: str, name_b: str) -> None:
    """Raise ``ValueError`` unless 2-D arrays ``a`` and ``b`` have the same number of columns."""
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"{name_a} has {a.shape[1]} columns (shape {a.shape}) but {name_b} has "
                         f"{b.shape[1]} (shape {b.shape}); they must have the same width")
