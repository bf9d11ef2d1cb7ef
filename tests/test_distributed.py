"""Two CPU processes with the gloo backend train one alternating model: identical codes on both ranks, and the
same codes as a single process (for networks without BatchNorm, where nothing but float summation order differs)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from hashnotes.data.base import PairSet


def _pairs(n, seed):
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, 4)) < 0.35).astype(np.uint8)
    labels[labels.sum(1) == 0, 0] = 1
    z = labels @ rng.normal(size=(4, 12))
    return PairSet(images=(z + 0.3 * rng.normal(size=z.shape)).astype(np.float32),
                   texts=(labels @ rng.normal(size=(4, 9)) + 0.3 * rng.normal(size=(n, 9))).astype(np.float32),
                   labels=labels, ids=np.arange(n, dtype=np.int64))


def _model(name):
    from hashnotes import methods

    # feature inputs, MLPs without BatchNorm or dropout: the distributed fit is the single-process algorithm
    lr = {"lr_image": 0.05, "lr_text": 0.05} if name == "dcmh" else {}  # CDHCR keeps its RMSprop rates
    return methods.get(name).paper(bits=8, epochs=3, batch_size=16, eval_every=1, feature_hidden=(16,),
                                   text_hidden=(16,), dropout=0.0, device="cpu", **lr)


def _fit_and_encode(name):
    torch.set_num_threads(1)
    train, val, query = _pairs(64, 0), _pairs(24, 1), _pairs(20, 2)
    m = _model(name).fit(train, val=val, device="cpu", progress=False)
    return m.encode_image(query.images), m.encode_text(query.texts), m.best_epoch, m.history


def _worker(rank, world, store, name, out):
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    try:
        qi, qt, best, hist = _fit_and_encode(name)
        np.savez(f"{out}-{rank}.npz", qi=qi, qt=qt, best=best,
                 nll=np.array([h.get("loss/nll", h.get("loss/cauchy", 0.0)) for h in hist]))
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("name", ["dcmh", "cdhcr"])
def test_two_gloo_processes_match_each_other_and_one_process(name, tmp_path):
    mp.spawn(_worker, args=(2, str(tmp_path / "store"), name, str(tmp_path / "codes")), nprocs=2, join=True)
    r0, r1 = (np.load(tmp_path / f"codes-{r}.npz") for r in (0, 1))
    for key in ("qi", "qt", "best", "nll"):
        np.testing.assert_array_equal(r0[key], r1[key], err_msg=f"ranks differ in {key}")
    qi, qt, best, hist = _fit_and_encode(name)
    assert int(r0["best"]) == best
    # the same algorithm: objectives agree to float rounding, codes bit for bit
    single = np.array([h.get("loss/nll", h.get("loss/cauchy", 0.0)) for h in hist])
    np.testing.assert_allclose(r0["nll"], single, rtol=1e-4)
    np.testing.assert_array_equal(r0["qi"], qi)
    np.testing.assert_array_equal(r0["qt"], qt)


def test_batch_smaller_than_world_is_an_error(tmp_path):
    mp.spawn(_small_batch_worker, args=(2, str(tmp_path / "store"), str(tmp_path / "msg")), nprocs=2, join=True)
    assert "smaller than the world size" in (tmp_path / "msg-0.txt").read_text()


def _small_batch_worker(rank, world, store, out):
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    from hashnotes import methods

    try:
        methods.DCMH.paper(bits=4, epochs=1, batch_size=1, feature_hidden=(4,), text_hidden=(4,)).fit(
            _pairs(8, 0), device="cpu", progress=False)
        msg = "no error"
    except ValueError as e:
        msg = str(e)
    finally:
        dist.destroy_process_group()
    with open(f"{out}-{rank}.txt", "w") as f:
        f.write(msg)


def test_torchrun_two_processes_through_the_command_line(tmp_path):
    import json
    import subprocess
    import sys

    import socket

    with socket.socket() as sock:  # a free port on the loopback interface for the rendezvous
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(port),
           "-m", "hashnotes", "train", "dcmh", "--toy-n", "300", "--bits", "8", "--epochs", "1", "--device", "cpu",
           "--threads", "1", "--json", "--save-dir", str(tmp_path)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == 1, r.stdout  # only rank 0 reports
    assert rows[0]["world_size"] == 2 and 0.0 <= rows[0]["map_i2t"] <= 1.0
    assert [p.name for p in tmp_path.iterdir()] == ["dcmh-8.pt"]
