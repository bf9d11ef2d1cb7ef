"""A thread setting holds for the whole run: the metric kernels never start numba's OpenMP layer
(which shares torch's libgomp and used to reset torch from 1 thread to the core count)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

SCRIPT = r"""
import json, sys
import numpy as np
import torch
import hashnotes
from hashnotes import codes, metrics, threads
n = int(sys.argv[1])
if sys.argv[2] == "package":
    threads.set_num_threads(n)
else:
    torch.set_num_threads(n)
seen = [torch.get_num_threads()]
rng = np.random.default_rng(0)
q = np.where(rng.random((2500, 32)) < 0.5, 1, -1).astype(np.int8)   # 2500 x 2500 pairs: the threaded path
d = np.where(rng.random((2500, 32)) < 0.5, 1, -1).astype(np.int8)
L = (rng.random((2500, 6)) < 0.3).astype(np.uint8)
out = {"map": metrics.mean_average_precision(q, d, L, L), "map_tie": metrics.mean_average_precision(q, d, L, L, ties="average")}
seen.append(torch.get_num_threads())
metrics.pr_curve(q, d, L, L); codes.hamming_distance(q, d)
seen.append(torch.get_num_threads())
out.update(seen=seen, workers=threads.get_num_threads(), record=threads.thread_record())
print(json.dumps(out))
"""


def _run(n, how):
    r = subprocess.run([sys.executable, "-c", SCRIPT, str(n), how], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("how", ["torch", "package"])
def test_metric_calls_keep_one_thread(how):
    res = _run(1, how)
    assert res["seen"] == [1, 1, 1]  # before the fix: [1, 2, 2] on a 2-core machine
    assert res["workers"] == 1
    assert res["record"]["torch"] == 1 and res["record"]["numba_layer_started"] is None


def test_metrics_identical_for_every_thread_count():
    one, two = _run(1, "package"), _run(2, "package")
    assert two["seen"] == [2, 2, 2] and two["workers"] == 2
    assert one["map"] == two["map"] and one["map_tie"] == two["map_tie"]


def test_set_num_threads_validates():
    from hashnotes import threads

    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="threads"):
            threads.set_num_threads(bad)


FIT = r"""
import hashlib, json, sys
import numpy as np
from hashnotes import data, methods, threads
threads.set_num_threads(int(sys.argv[1]))
ds = data.toy(n=300, image_size=16, seed=4)
out = []
for _ in range(2):
    m = methods.DCMH.small(bits=16, epochs=2, seed=7, batch_size=32, device="cpu")
    m.fit(ds.train, val=ds.val, device="cpu", progress=False)
    codes = np.concatenate([m.encode_image(ds.query.images), m.encode_text(ds.query.texts)])
    out.append(hashlib.sha256(codes.tobytes()).hexdigest())
import torch
print(json.dumps({"codes": out, "torch": torch.get_num_threads()}))
"""


def _fit(n):
    r = subprocess.run([sys.executable, "-c", FIT, str(n)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_same_seed_and_thread_count_give_identical_codes():
    a, b, c = _fit(1), _fit(1), _fit(2)  # two fits in each process, two processes at one thread
    assert a["torch"] == b["torch"] == 1 and c["torch"] == 2  # the setting held through training
    assert a["codes"][0] == a["codes"][1] == b["codes"][0] == b["codes"][1]
    assert c["codes"][0] == c["codes"][1]


# ------------------------------------------------------------------ the default: cores this process may use


def _fake_cgroups(monkeypatch, tmp_path, proc_lines, files, affinity=8):
    """Point threads at a fake /proc/self/cgroup and /sys/fs/cgroup tree, and fake the affinity mask."""
    from hashnotes import threads

    root = tmp_path / "cgroup"
    root.mkdir(parents=True)
    for rel, text in files.items():
        f = root / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)
    proc = tmp_path / "proc_self_cgroup"
    proc.write_text("".join(line + "\n" for line in proc_lines))
    monkeypatch.setattr(threads, "_CGROUP_ROOT", str(root))
    monkeypatch.setattr(threads, "_PROC_SELF_CGROUP", str(proc))
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: set(range(affinity)), raising=False)
    for var in ("HASHNOTES_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    return threads


@pytest.mark.parametrize("cpu_max, want", [("max 100000", 8), ("200000 100000", 2), ("150000 100000", 1),
                                           ("50000 100000", 1), ("1600000 100000", 8)])
def test_cgroup_v2_quota_caps_the_affinity(monkeypatch, tmp_path, cpu_max, want):
    # v2 only (cgroup.controllers at the root); the process sits in /job/step, the quota on /job
    t = _fake_cgroups(monkeypatch, tmp_path, ["0::/job/step"],
                      {"cgroup.controllers": "cpu", "job/cpu.max": cpu_max, "job/step/cpu.max": "max 100000"})
    assert t.available_cpus() == want  # 1.5 CPUs of quota -> 1 thread (rounded down), never 0
    assert t.default_num_threads() == want
    quota = t.cgroup_cpu_quota()
    assert (quota is None) if cpu_max.startswith("max") else quota == pytest.approx(int(cpu_max.split()[0]) / 1e5)


def test_cgroup_v2_tightest_enclosing_quota_wins_and_hybrid_layout(monkeypatch, tmp_path):
    # hybrid layout: the unified hierarchy under root/unified, no cgroup.controllers at the root
    t = _fake_cgroups(monkeypatch, tmp_path, ["1:cpu,cpuacct:/", "0::/a/b"],
                      {"unified/cpu.max": "max 100000", "unified/a/cpu.max": "300000 100000",
                       "unified/a/b/cpu.max": "500000 100000", "cpu,cpuacct/cpu.cfs_quota_us": "-1",
                       "cpu,cpuacct/cpu.cfs_period_us": "100000"}, affinity=16)
    assert t.cgroup_cpu_quota() == pytest.approx(3.0) and t.available_cpus() == 3


@pytest.mark.parametrize("quota, want", [("-1", 4), ("100000", 1), ("250000", 2)])
def test_cgroup_v1_quota(monkeypatch, tmp_path, quota, want):
    t = _fake_cgroups(monkeypatch, tmp_path, ["5:cpuset:/", "3:cpu,cpuacct:/docker/abc"],
                      {"cpu,cpuacct/docker/abc/cpu.cfs_quota_us": quota,
                       "cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000"}, affinity=4)
    assert t.available_cpus() == want


def test_affinity_below_quota_and_unreadable_files(monkeypatch, tmp_path):
    t = _fake_cgroups(monkeypatch, tmp_path, ["0::/"], {"cgroup.controllers": "", "cpu.max": "800000 100000"},
                      affinity=2)
    assert t.available_cpus() == 2  # taskset to 2 CPUs inside a 8-CPU quota
    t = _fake_cgroups(monkeypatch, tmp_path / "x", ["0::/gone", "garbage line"],
                      {"cgroup.controllers": "", "gone/cpu.max": "not numbers"}, affinity=3)
    assert t.cgroup_cpu_quota() is None and t.available_cpus() == 3


def test_env_overrides_and_what_the_metric_kernels_use(monkeypatch, tmp_path):
    import torch

    t = _fake_cgroups(monkeypatch, tmp_path, ["0::/"], {"cgroup.controllers": "", "cpu.max": "100000 100000"})
    monkeypatch.setattr(t, "_SETTING", None)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert t.available_cpus() == 1
        assert t.get_num_threads() == 1  # torch's count, capped at the cores this process may use
        monkeypatch.setenv("OMP_NUM_THREADS", "3")
        assert t.default_num_threads() == 3  # a caller's OMP_NUM_THREADS (make.py sets 1 for the tests) wins
        monkeypatch.setenv("HASHNOTES_THREADS", "2")
        assert t.default_num_threads() == 2 and t.get_num_threads() == 2  # the package's override wins
        rec = t.thread_record()
        assert rec["HASHNOTES_THREADS"] == "2" and rec["available_cpus"] == 1 and rec["cgroup_cpu_quota"] == 1.0
        for bad in ("0", "-2", "two"):
            monkeypatch.setenv("HASHNOTES_THREADS", bad)
            with pytest.raises(ValueError, match="HASHNOTES_THREADS must be a positive integer"):
                t.default_num_threads()
        monkeypatch.setenv("HASHNOTES_THREADS", "1")
        assert t.apply_default() == 1 and torch.get_num_threads() == 1 and t.get_num_threads() == 1
        monkeypatch.setenv("HASHNOTES_THREADS", "2")
        assert t.apply_default() == 1  # an earlier choice in this process is kept
    finally:
        torch.set_num_threads(before)


def test_default_in_a_fresh_process_follows_the_environment():
    code = ("import json, torch; from hashnotes import threads; n = threads.apply_default(); "
            "print(json.dumps([n, torch.get_num_threads(), threads.get_num_threads()]))")
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "HASHNOTES_THREADS")}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env=dict(env, HASHNOTES_THREADS="1"))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1]) == [1, 1, 1]
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    from hashnotes import threads

    assert json.loads(r.stdout.strip().splitlines()[-1])[0] == threads.available_cpus()  # affinity and quota
