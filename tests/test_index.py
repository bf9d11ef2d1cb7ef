"""hashnotes.index: the exact faiss index equals the package's stable Hamming ranking; IVF/HNSW, files, CLI."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from hashnotes.codes import hamming_distance


@pytest.fixture(scope="module")
def faiss():
    return pytest.importorskip("faiss", reason="faiss-cpu is not installed (pip install 'hashnotes[index]')")


def stable_ranking(q, db, k):
    """The reference: exact distances (hashnotes.codes) and a stable argsort (ties by database index)."""
    d = hamming_distance(q, db)
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(d, order, axis=1), order


def tied_codes(rng, n, bits, n_distinct):
    """n codes drawn from only n_distinct distinct codes: most distances are shared by many items."""
    base = np.where(rng.random((n_distinct, bits)) < 0.5, 1, -1).astype(np.int8)
    return base[rng.integers(0, n_distinct, n)]


@pytest.mark.parametrize("bits", [1, 7, 8, 16, 63, 64, 100, 256])
def test_flat_equals_stable_hamming_ranking_with_heavy_ties(faiss, bits):
    from hashnotes.index import HammingIndex

    rng = np.random.default_rng(bits)
    db = tied_codes(rng, 3000, bits, n_distinct=6)
    q = np.concatenate([tied_codes(rng, 40, bits, 6), np.where(rng.random((40, bits)) < 0.5, 1, -1)]).astype(np.int8)
    index = HammingIndex(bits, "flat", threads=1)
    index.add(db[:1700]).add(db[1700:])  # two batches: positions continue
    assert index.ntotal == 3000 and len(index) == 3000
    for k in (1, 7, 100, 1500, 3000):
        want_d, want_i = stable_ranking(q, db, k)
        got = index.search(q, k)
        assert got.distances.dtype == np.int32 and got.indices.dtype == np.int64
        np.testing.assert_array_equal(got.indices, want_i, err_msg=f"bits={bits} k={k}")
        np.testing.assert_array_equal(got.distances, want_d, err_msg=f"bits={bits} k={k}")
    # the ties really are heavy: the 100th neighbour shares its distance with hundreds of items
    d = hamming_distance(q[:40], db)
    kth = np.sort(d, axis=1)[:, 99:100]
    assert ((d == kth).sum(1) > 100).mean() > 0.9


def test_flat_ties_with_two_threads_and_k_beyond_the_index(faiss):
    from hashnotes.index import HammingIndex

    rng = np.random.default_rng(1)
    db = tied_codes(rng, 500, 32, n_distinct=3)
    q = tied_codes(rng, 300, 32, n_distinct=3)  # many queries: faiss splits them over its threads
    got = HammingIndex(32, threads=2).add(db).search(q, 10_000)
    want_d, want_i = stable_ranking(q, db, 500)
    assert got.indices.shape == (300, 500)  # k is cut to the index size
    np.testing.assert_array_equal(got.indices, want_i)
    np.testing.assert_array_equal(got.distances, want_d)
    faiss.omp_set_num_threads(1)


def clustered(rng, n, bits=64, centres=20, flip=0.1):
    cent = np.where(rng.random((centres, bits)) < 0.5, 1, -1).astype(np.int8)
    x = cent[rng.integers(0, centres, n)]
    return np.where(rng.random((n, bits)) < flip, -x, x).astype(np.int8)


def test_ivf_scanning_every_list_is_exact_and_fewer_lists_are_consistent(faiss):
    from hashnotes.index import HammingIndex

    rng = np.random.default_rng(2)
    db, q = clustered(rng, 4000), clustered(rng, 50)
    index = HammingIndex(64, "ivf", nlist=16, nprobe=16, threads=1).add(db)
    assert index.is_trained and index.params["nlist"] == 16
    want_d, want_i = stable_ranking(q, db, 50)
    got = index.search(q, 50)  # nprobe = nlist: every code is scanned, so the distances are exact ...
    np.testing.assert_array_equal(got.distances, want_d)
    full = hamming_distance(q, db)
    np.testing.assert_array_equal(np.take_along_axis(full, got.indices, 1), got.distances)
    for row, g, w, kth in zip(full, got.indices, want_i, want_d[:, -1]):
        # ... and the items nearer than the k-th distance are the exact ones; at the k-th distance IVF keeps
        # tied items in the order it scans its lists, not by index (only the flat index is stable)
        assert set(g[row[g] < kth]) == set(w[row[w] < kth])
        assert len(set(g)) == len(g)
    index.set_search_params(nprobe=1)
    few = index.search(q, 50)
    found = few.indices >= 0
    # whatever it returns carries its true distance, nearest first, and is never better than exact
    np.testing.assert_array_equal(few.distances[found], np.take_along_axis(full, np.maximum(few.indices, 0), 1)[found])
    assert (np.diff(np.where(found, few.distances, 10**6), axis=1) >= 0).all()
    assert (few.distances[:, 0] >= want_d[:, 0]).all()
    assert (few.distances[~found] == -1).all()


def test_hnsw_recall_and_default_nlist(faiss):
    from hashnotes.index import HammingIndex, default_nlist, recall_at_k

    rng = np.random.default_rng(3)
    db, q = clustered(rng, 3000, centres=50), clustered(rng, 60, centres=50)
    exact = HammingIndex(64).add(db).search(q, 20)
    hnsw = HammingIndex(64, "hnsw", ef_search=400, threads=1).add(db)
    got = hnsw.search(q, 20)
    np.testing.assert_array_equal(np.take_along_axis(hamming_distance(q, db), got.indices, 1), got.distances)
    rec = recall_at_k(got, exact)
    assert rec["distance"] >= 0.99 and 0 < rec["ids"] <= rec["distance"]
    assert recall_at_k(exact, exact) == {"ids": 1.0, "distance": 1.0}
    assert default_nlist(1_000_000) == 4096 and default_nlist(100) == 2 and default_nlist(10) == 1


@pytest.mark.parametrize("kind", ["flat", "ivf", "hnsw"])
def test_save_load_roundtrip(faiss, kind, tmp_path):
    from hashnotes.index import HammingIndex

    rng = np.random.default_rng(4)
    db, q = clustered(rng, 2000, bits=40), clustered(rng, 30, bits=40)
    index = HammingIndex(40, kind, nlist=8, nprobe=2, ef_search=64).add(db)
    before = index.search(q, 25)
    path = index.save(tmp_path / "sub" / "codes.index")
    assert path.name == "codes.index" and path.exists()  # no suffix appended
    back = HammingIndex.load(path)
    assert (back.bits, back.kind, back.ntotal, back.params) == (40, kind, 2000, index.params)
    after = back.search(q, 25)
    np.testing.assert_array_equal(after.indices, before.indices)
    np.testing.assert_array_equal(after.distances, before.distances)


def test_bad_input(faiss, tmp_path):
    from hashnotes.index import HammingIndex

    codes = np.where(np.random.default_rng(5).random((100, 16)) < 0.5, 1, -1).astype(np.int8)
    with pytest.raises(ValueError, match="kind"):
        HammingIndex(16, "lsh")
    with pytest.raises(ValueError, match="bit length"):
        HammingIndex(0)
    index = HammingIndex(16)
    with pytest.raises(ValueError, match="empty"):
        index.search(codes, 5)
    with pytest.raises(ValueError, match="expected 16"):
        index.add(codes[:, :8])
    with pytest.raises(ValueError, match="0,1"):
        index.add((codes > 0).astype(np.int8))
    index.add(codes)
    with pytest.raises(ValueError, match="k must be"):
        index.search(codes, 0)
    with pytest.raises(ValueError, match="query_codes"):
        index.search(np.zeros((3, 16)), 5)
    with pytest.raises(ValueError, match="nlist = 200"):
        HammingIndex(16, "ivf", nlist=200).add(codes)
    with pytest.raises(FileNotFoundError, match="not found"):
        HammingIndex.load(tmp_path / "missing.index")
    bad = tmp_path / "bad.index"
    bad.write_bytes(b"not an index")
    with pytest.raises(ValueError, match="not a hashnotes index"):
        HammingIndex.load(bad)
    np.save(tmp_path / "other.npy", np.zeros(3))
    with pytest.raises(ValueError, match="not a hashnotes index"):
        HammingIndex.load(tmp_path / "other.npy")


def test_module_imports_and_explains_without_faiss(tmp_path):
    """Without faiss the package and this module import; using an index says how to install faiss, and the
    command exits 2 with an error line."""
    code = ("import sys; sys.modules['faiss'] = None\n"
            "import hashnotes.index as ix\n"
            "try:\n    ix.HammingIndex(8)\nexcept ImportError as e:\n    print('IMPORT-ERROR', e)\n"
            "from hashnotes.__main__ import main\n"
            f"sys.exit(main(['index', {str(tmp_path / 'none.pt')!r}]))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert "IMPORT-ERROR" in r.stdout and "hashnotes[index]" in r.stdout
    assert r.stderr.startswith("error: faiss is not installed")


def test_index_command_flat_is_the_exact_ranking(faiss, tmp_path):
    """Train CCA on a tiny toy set, then `python -m hashnotes index`: its neighbours are the stable ranking of
    the model's codes and its precision@k is hashnotes.metrics.precision_at_k."""
    from hashnotes import data, metrics
    from hashnotes.train import HashingMethod

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "hashnotes", *args], capture_output=True, text=True,
                              timeout=600)

    r = cli("train", "cca", "--data", "toy", "--toy-n", "300", "--bits", "16", "--save-dir", str(tmp_path))
    assert r.returncode == 0, r.stderr
    ckpt = tmp_path / "cca-16.pt"
    r = cli("index", str(ckpt), "--data", "toy", "--toy-n", "300", "-k", "20", "--threads", "1", "--json",
            "--out", str(tmp_path / "res.npz"), "--save-index", str(tmp_path / "db.index"))
    assert r.returncode == 0, r.stderr
    row = json.loads(r.stdout)
    assert (row["kind"], row["bits"], row["n_database"], row["n_queries"], row["k"]) == ("flat", 16, 270, 30, 20)
    ds = data.toy(n=300, seed=0)
    model = HashingMethod.load(ckpt)
    qB, dB = model.encode_image(ds.query.images), model.encode_text(ds.database.texts)
    want_d, want_i = stable_ranking(qB, dB, 20)
    with np.load(tmp_path / "res.npz") as z:
        np.testing.assert_array_equal(z["indices"], want_i)
        np.testing.assert_array_equal(z["distances"], want_d)
        np.testing.assert_array_equal(z["ids"], ds.database.ids[want_i])
    p20 = metrics.precision_at_k(qB, dB, ds.query.labels, ds.database.labels, [20])[0]
    assert row["precision_at_20"] == pytest.approx(p20, abs=1e-12)
    # the saved index is searched again (t2i needs the other modality's codes: a clear error)
    r = cli("index", str(ckpt), "--data", "toy", "--toy-n", "300", "--load-index", str(tmp_path / "db.index"),
            "--direction", "t2i")
    assert r.returncode == 2 and "error:" in r.stderr and "db.index" in r.stderr
    r = cli("index", str(ckpt), "--data", "toy", "--toy-n", "300", "--load-index", str(tmp_path / "db.index"),
            "-k", "20", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["precision_at_20"] == row["precision_at_20"]
    for args, needle in ((("index", str(tmp_path / "nope.pt")), "nope.pt"),
                         (("index", str(ckpt), "--data", "toy", "--toy-n", "300", "-k", "0"), "--k"),
                         (("index", str(ckpt), "--data", "nosuch"), "--data")):
        r = cli(*args)
        assert r.returncode == 2 and r.stderr.startswith("error:") and needle in r.stderr, r.stderr
