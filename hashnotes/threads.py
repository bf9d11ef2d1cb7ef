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

The default thread count. :func:`available_cpus` is the number of cores this process may use: the CPUs in its
affinity mask (``os.sched_getaffinity``; ``taskset``, container cpusets), capped by the cgroup CPU quota
(cgroup v2 ``cpu.max``, v1 ``cpu.cfs_quota_us / cpu.cfs_period_us``, of the process's own cgroup and its
ancestors; a quota of 1.5 CPUs allows 1 thread: a thread pool larger than the quota is throttled mid-step).
``os.cpu_count()`` is neither: it counts the host's CPUs, so in a container limited to one CPU of a 64-core
host it said 64. :func:`default_num_threads` is the count a run uses when nobody chose one:
``HASHNOTES_THREADS`` if set, else ``OMP_NUM_THREADS`` if set, else :func:`available_cpus`;
:func:`apply_default` hands it to torch too.

A machine shared with other jobs: set ``HASHNOTES_THREADS=1``. The cores a process *may* use are not the cores
that are *free*: when another job keeps a core busy, torch's OpenMP threads wait for each other at every
parallel region. Measured here (2-core AMD EPYC VM, torch 2.13 CPU, a 2-epoch ``DCMH.small(bits=32)`` fit
on ``data.toy(seed=0)``, one process at a time, three rounds each, wall seconds):

===================================  ===========  ===========
machine                              1 thread     2 threads
===================================  ===========  ===========
idle (load average ~1: this run)     5.9 - 6.5    4.9 - 5.5
one core busy with another job       6.5 - 7.4    12.5 - 13.3
===================================  ===========  ===========

So one thread costs at most ~20% on an idle 2-core machine and saves half the time as soon as one other job
runs (the issue that asked for this module saw 80 s against 3.4 s with more jobs). The package does not guess
from the load average (it lags by a minute and counts this process's own threads); the variable is the choice.
"""
from __future__ import annotations

import math
import os
import sys

__all__ = ["set_num_threads", "get_num_threads", "thread_record", "available_cpus", "default_num_threads",
           "apply_default"]

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


# where the cgroup files live (tests point these at fake trees)
_CGROUP_ROOT = "/sys/fs/cgroup"
_PROC_SELF_CGROUP = "/proc/self/cgroup"
ENV_VAR = "HASHNOTES_THREADS"


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _ancestors(root: str, rel: str):
    """root/rel, its parent, ..., root (the quota of every enclosing cgroup applies)."""
    parts = [p for p in rel.strip("/").split("/") if p and p not in (".", "..")]
    for n in range(len(parts), -1, -1):
        yield os.path.join(root, *parts[:n])


def _cgroup_dirs():
    """(version, directory) of the cgroups of this process that may hold a CPU quota: the v2 unified cgroup
    (``0::/path``) and the v1 ``cpu`` controller's, each with its ancestors up to the mount root."""
    text = _read(_PROC_SELF_CGROUP)
    lines = text.splitlines() if text else []
    out = []
    for line in lines:
        fields = line.split(":", 2)
        if len(fields) != 3:
            continue
        _, controllers, rel = fields
        if controllers == "":
            # the unified hierarchy: at the root (v2 only) or at root/unified (the v1/v2 "hybrid" layout)
            hybrid = os.path.join(_CGROUP_ROOT, "unified")
            base = hybrid if os.path.isdir(hybrid) and not os.path.exists(
                os.path.join(_CGROUP_ROOT, "cgroup.controllers")) else _CGROUP_ROOT
            out += [(2, d) for d in _ancestors(base, rel)]
        elif "cpu" in controllers.split(","):
            for mount in (controllers, "cpu", "cpu,cpuacct", "cpuacct,cpu"):
                base = os.path.join(_CGROUP_ROOT, mount)
                if os.path.isdir(base):
                    out += [(1, d) for d in _ancestors(base, rel)]
                    break
    if not lines:  # no /proc/self/cgroup: the files at the root, if any
        out = [(2, _CGROUP_ROOT), (1, os.path.join(_CGROUP_ROOT, "cpu")),
               (1, os.path.join(_CGROUP_ROOT, "cpu,cpuacct"))]
    return out


def cgroup_cpu_quota() -> float | None:
    """CPUs' worth of time per period that the cgroup quotas allow this process (the smallest over its
    cgroups and their ancestors), or None when no quota is set or none can be read.

    cgroup v2: ``cpu.max`` holds ``"<quota> <period>"`` or ``"max <period>"``; v1: ``cpu.cfs_quota_us``
    (``-1``: none) and ``cpu.cfs_period_us``, in microseconds."""
    best = None
    for version, d in _cgroup_dirs():
        quota = period = None
        if version == 2:
            raw = _read(os.path.join(d, "cpu.max"))
            if raw:
                parts = raw.split()
                if len(parts) == 2 and parts[0] != "max":
                    quota, period = parts
        else:
            quota, period = _read(os.path.join(d, "cpu.cfs_quota_us")), _read(os.path.join(d, "cpu.cfs_period_us"))
        try:
            q, p = int(quota), int(period)
        except (TypeError, ValueError):
            continue
        if q > 0 and p > 0:
            best = q / p if best is None else min(best, q / p)
    return best


def _affinity_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


_QUOTA_CACHE: dict = {}


def _quota_cached() -> float | None:
    """:func:`cgroup_cpu_quota`, read once per process (and per pair of paths, so tests that point the paths
    at fake trees read those): it is asked on every metric call, and reading the files takes ~0.2 ms."""
    key = (_CGROUP_ROOT, _PROC_SELF_CGROUP)
    if key not in _QUOTA_CACHE:
        _QUOTA_CACHE[key] = cgroup_cpu_quota()
    return _QUOTA_CACHE[key]


def available_cpus() -> int:
    """Cores this process may use: its CPU affinity mask (read at every call), capped by the cgroup CPU quota
    (read once per process; rounded down, at least 1). Not ``os.cpu_count()``, which counts the host's CPUs
    whatever the process is allowed."""
    n = _affinity_count()
    quota = _quota_cached()
    if quota is not None:
        n = min(n, max(1, math.floor(quota + 1e-9)))
    return n


def _env_count(name: str, strict: bool) -> int | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        v = int(raw.split(",")[0])
    except ValueError:
        v = 0
    if v < 1:
        if strict:
            raise ValueError(f"{name} must be a positive integer, got {raw!r}")
        return None
    return v


def _env_threads() -> int | None:
    return _env_count("OMP_NUM_THREADS", strict=False)


def default_num_threads() -> int:
    """The thread count a run uses when nobody chose one: ``HASHNOTES_THREADS`` (the package's override, a
    positive integer), else ``OMP_NUM_THREADS`` (as torch reads it), else :func:`available_cpus`."""
    for name, strict in ((ENV_VAR, True), ("OMP_NUM_THREADS", False)):
        v = _env_count(name, strict)
        if v is not None:
            return v
    return available_cpus()


def apply_default() -> int:
    """Give torch and the metric kernels :func:`default_num_threads` unless :func:`set_num_threads` was
    already called in this process (an explicit choice wins). Returns the count in effect. For entry points
    (command line, benchmarks), once at start; a library import never changes the thread count."""
    if _SETTING is not None:
        return _SETTING
    return set_num_threads(default_num_threads())


def get_num_threads() -> int:
    """Workers for the metric kernels: the :func:`set_num_threads` value, else ``HASHNOTES_THREADS``, else
    torch's current count (when torch is imported) capped at :func:`available_cpus`, else ``OMP_NUM_THREADS``,
    else :func:`available_cpus`.

    Never starts numba's threading layer (see the module docstring)."""
    if _SETTING is not None:
        return _SETTING
    env = _env_count(ENV_VAR, strict=True)
    if env is not None:
        return env
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "get_num_threads"):
        return max(1, min(int(torch.get_num_threads()), available_cpus()))
    env = _env_threads()
    if env is not None:
        return env
    return available_cpus()


def thread_record() -> dict:
    """JSON-safe record of every thread count that can change a result or its speed."""
    rec = {"setting": _SETTING, "metric_workers": get_num_threads(),
           "available_cpus": available_cpus(), "affinity_cpus": _affinity_count(),
           "cgroup_cpu_quota": _quota_cached(), "os_cpu_count": os.cpu_count(),
           ENV_VAR: os.environ.get(ENV_VAR),
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
