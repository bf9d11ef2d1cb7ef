"""The command line, run in a subprocess on a tiny toy configuration."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest


def _run(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "hashnotes", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_train_json_lines():
    r = _run("train", "dcmh", "cca", "--data", "toy", "--toy-n", "300", "--bits", "8", "--epochs", "1",
             "--threads", "1", "--json")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.strip().splitlines()]
    assert [(x["method"], x["bits"]) for x in rows] == [("dcmh", 8), ("cca", 8)]
    for x in rows:
        for key in ("map_i2t", "map_t2i", "p_at_r2_i2t", "p_at_r2_t2i"):
            assert 0.0 <= x[key] <= 1.0
        assert x["seconds"] > 0 and x["preset"] == "small" and x["data"] == "toy" and x["device"] == "cpu"
        assert x["split"]["n_query"] == 30 and x["split"]["n_train"] == 120
    assert rows[0]["epochs"] == 1


def test_table_output():
    r = _run("train", "cca", "--data", "toy", "--toy-n", "300", "--bits", "8")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0].split()[:4] == ["method", "bits", "map_i2t", "map_t2i"]
    assert lines[1].split()[0] == "cca" and lines[1].split()[1] == "8"


@pytest.mark.parametrize("args,needle", [
    (("train", "dcmh", "--data", "mirflickr25k", "--root", "/nonexistent/dir", "--bits", "8"), "/nonexistent/dir"),
    (("train", "nosuchmethod", "--bits", "8", "--toy-n", "300"), "unknown method"),
    (("train", "dcmh", "--bits", "0", "--toy-n", "300"), "bits"),
])
def test_errors_exit_2(args, needle):
    r = _run(*args)
    assert r.returncode == 2
    assert needle in r.stderr
