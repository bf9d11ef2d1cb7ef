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
