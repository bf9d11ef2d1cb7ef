"""Provenance records: JSON-safe, loadable with torch.load(weights_only=True), and they change when the data do."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hashnotes import data, provenance
from hashnotes.data import writers as W


def _roundtrip(rec, tmp_path):
    json.dumps(rec)  # plain JSON types only
    torch.save({"rec": rec}, tmp_path / "r.pt")
    return torch.load(tmp_path / "r.pt", weights_only=True)["rec"]


def test_toy_record(tmp_path):
    ds = data.toy(n=200, seed=3)
    rec = provenance.dataset_record(ds)
    assert rec["name"] == "toy" and rec["sizes"] == {"query": 20, "database": 180, "train": 80, "val": 10}
    assert rec["split"] == ds.split.as_dict() and rec["toy"]["seed"] == 3 and rec["toy"]["n"] == 200
    assert rec["image_shape"] == [3, 32, 32] and rec["text_dim"] == len(ds.vocab) and rec["n_labels"] == 16
    assert _roundtrip(rec, tmp_path) == rec
    assert provenance.dataset_record(None) is None


def test_loaded_record_has_layout_path_and_digests_that_follow_the_files(tmp_path):
    ds0 = data.toy(n=60, image_size=16, seed=1)
    img, txt, lab = np.asarray(ds0.database.images), ds0.database.texts, ds0.database.labels
    W.write_dcmh_mat(tmp_path, img, txt, lab, prefix="set")
    rec = provenance.dataset_record(data.load(tmp_path, image_features=None, verbose=False))
    assert rec["layout"] == "dcmh-mat" and rec["path"] == str(tmp_path.resolve())
    assert rec["keys"] == {"images": "IAll", "texts": "YAll", "labels": "LAll"}
    assert rec["digest"]["labels"] == data.file_digest(tmp_path / "set-lall.mat")
    assert _roundtrip(rec, tmp_path) == rec
    lab2 = lab.copy()
    lab2[0] = 1 - lab2[0]
    W.write_dcmh_mat(tmp_path, img, txt, lab2, prefix="set")
    rec2 = provenance.dataset_record(data.load(tmp_path, image_features=None, verbose=False))
    assert rec2["digest"]["labels"]["sha256"] != rec["digest"]["labels"]["sha256"]
    assert rec2["digest"]["texts"] == rec["digest"]["texts"]


def test_file_digest_of_large_files_reads_both_ends(tmp_path):
    f = tmp_path / "big.bin"
    f.write_bytes(bytes(range(256)) * 4096)
    full = data.file_digest(f)
    part = data.file_digest(f, full_limit=1024)
    assert not full["partial"] and part["partial"] and full["bytes"] == part["bytes"] == 256 * 4096
    import hashlib

    assert full["sha256"] == hashlib.sha256(f.read_bytes()).hexdigest()[:16]
    b = bytearray(f.read_bytes())
    b[0] ^= 1
    f.write_bytes(bytes(b))
    assert data.file_digest(f, full_limit=1024)["sha256"] != part["sha256"]


def test_environment_record(tmp_path):
    from hashnotes import threads

    before = torch.get_num_threads()
    try:
        threads.set_num_threads(1)
        rec = provenance.environment_record()
    finally:
        torch.set_num_threads(before)
        threads._SETTING = None
    assert rec["torch_threads"] == 1 and rec["threads"]["setting"] == 1 and rec["threads"]["metric_workers"] == 1
    assert rec["torch"] == torch.__version__ and rec["versions"]["scikit-learn"]
    assert _roundtrip(rec, tmp_path) == rec


@pytest.mark.parametrize("bad", [0, "x"])
def test_dataset_record_of_a_bare_object_does_not_fail(bad):
    rec = provenance.dataset_record(type("X", (), {"name": bad})())
    assert rec["name"] == str(bad)
