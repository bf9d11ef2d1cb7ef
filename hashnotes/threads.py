"""One thread setting for the whole run: torch's intra-op threads and the metric kernels' workers.

Why this module exists. The metric and Hamming kernels (:mod:`hashnotes.codes`, :mod:`hashnotes.metrics`)
are plain ``numba.njit`` functions that release the GIL; :func:`hashnotes.codes._run_chunked` runs them
on a Python thread pool. They never use numba's own parallel back end. Asking numba for its thread count
(``numba.get_num_threads()``) nevertheless *starts* that back end, and when numba picks its OpenMP layer
(the default when TBB is absent) the start calls ``omp_set_num_threads(NUMBA_NUM_THREADS)`` on the calling
thread. Torch's CPU wheels ship their own ``libgomp.so.1``; numba's ``omppool`` extension links against
the same soname, so the dynamic loader hands it the copy torch already loaded and both share one set of
OpenMP controls. ``NUMBA_NUM_THREADS`` defaults to the number of CPUs, so after the first metric call
``torch.get_num_threads()`` jumped from the 1 the user set (``--threads 1``, ``OMP_NUM_THREADS=1``) to the
core count. The package therefore never touches numba's threading API: the kernels' worker count comes
from :func:`get_num_threads` below, and :func:`set_num_threads` is the one knob for both.

Results and the thread count: the metrics are exact integer computations and give identical numbers for
every thread count. Training is bitwise reproducible for a fixed seed *and* a fixed thread count; a
different count changes how torch splits its float reductions, so weights (and eventually a few code bits)
may differ in the last digits.
"""
from __future__ import annotations

import os
import sys

__all__ = ["set_num_threads", "get_num_threads", "thread_record"]

_SETTING: int | None = None


def _check_count(n, name: str = "threads") -> int:
    import numbers

    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise ValueError(f"{name} must be a positive int, got {n!r}")
    n = int(n)
    if n < 1:
        raise ValueError(f"{name} must be >= 1, got {n}")
    return n


def set_num_threads(n: int) -> int:
    """Use ``n`` threads for torch's CPU ops and for the metric kernels, for the rest of the process.

    Calls ``torch.set_num_threads(n)`` and records ``n`` for :func:`get_num_threads`. Returns ``n``.
    """
    global _SETTING
    n = _check_count(n)
    import torch

    torch.set_num_threads(n)
    _SETTING = n
    return n


def _env_threads() -> int | None:
    raw = os.environ.get("OMP_NUM_THREADS", "").strip()
    if not raw:
        return None
    try:
        v = int(raw.split(",")[0])
    except ValueError:
        return None
    return v if v >= 1 else None


def get_num_threads() -> int:
    """Workers for the metric kernels: the :func:`set_num_threads` value, else torch's current count
    (when torch is imported), else ``OMP_NUM_THREADS``, else the CPUs this process may use.

    Never starts numba's threading layer (see the module docstring)."""
    if _SETTING is not None:
        return _SETTING
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "get_num_threads"):
        return max(1, int(torch.get_num_threads()))
    env = _env_threads()
    if env is not None:
        return env
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def thread_record() -> dict:
    """JSON-safe record of every thread count that can change a result or its speed."""
    rec = {"setting": _SETTING, "metric_workers": get_num_threads(),
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
           "MKL_NUM_THREADS": os.environ.get("MKL_NUM_THREADS"),
           "NUMBA_NUM_THREADS": os.environ.get("NUMBA_NUM_THREADS")}
    torch = sys.modules.get("torch")
    if torch is not None:
        rec["torch"] = int(torch.get_num_threads())
        rec["torch_interop"] = int(torch.get_num_interop_threads())
    numba = sys.modules.get("numba")
    if numba is not None:
        # numba.config only reads the configuration; it does not start the threading layer
        rec["numba_configured"] = int(numba.config.NUMBA_NUM_THREADS)
        layer = None
        try:
            from numba.np.ufunc import parallel as _par

            if getattr(_par, "_is_initialized", False):
                layer = numba.threading_layer()
        except Exception:  # noqa: BLE001 - diagnostic only
            layer = None
        rec["numba_layer_started"] = layer
    return rec
