"""The command line, run in a subprocess: toy data, every on-disk layout, provenance in every row,
and the argument errors a new user runs into (exit 2, "error: ..." naming the argument)."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from hashnotes import data
from hashnotes.data import writers as W


def _run(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "hashnotes", *args], capture_output=True, text=True,
                          timeout=timeout)


def _rows(r):
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.strip().splitlines()]


def test_train_json_lines():
    r = _run("train", "dcmh", "cca", "--data", "toy", "--toy-n", "300", "--bits", "8", "--epochs", "1",
             "--threads", "1", "--json")
    rows = _rows(r)
    assert [(x["method"], x["bits"]) for x in rows] == [("dcmh", 8), ("cca", 8)]
    for x in rows:
        for key in ("map_i2t", "map_t2i", "p_at_r2_i2t", "p_at_r2_t2i"):
            assert 0.0 <= x[key] <= 1.0
        assert x["seconds"] > 0 and x["preset"] == "small" and x["data"] == "toy" and x["device"] == "cpu"
        assert x["split"]["n_query"] == 30 and x["split"]["n_train"] == 120
        # provenance: dataset, config, software and the threads the run actually used
        ds, env = x["dataset"], x["environment"]
        assert ds["name"] == "toy" and ds["sizes"]["train"] == 120 and ds["toy"]["n"] == 300
        assert ds["split"] == x["split"] and ds["text_dim"] > 0
        assert env["torch_threads"] == 1 and env["threads"]["setting"] == 1 and env["hashnotes"]
        assert env["threads"]["numba_layer_started"] is None
        assert x["config"]["bits"] == 8 and x["config"]["seed"] == 0
    assert rows[0]["epochs"] == 1 and rows[0]["config"]["epochs"] == 1


def test_table_output():
    r = _run("train", "cca", "--data", "toy", "--toy-n", "300", "--bits", "8")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0].split()[:4] == ["method", "bits", "map_i2t", "map_t2i"]
    assert lines[1].split()[0] == "cca" and lines[1].split()[1] == "8"


@pytest.mark.parametrize("args,needle", [
    (("train", "dcmh", "--data", "mirflickr25k", "--root", "/nonexistent/dir", "--bits", "8"), "/nonexistent/dir"),
    (("train", "nosuchmethod", "--bits", "8", "--toy-n", "300"), "unknown method"),
    (("train", "dcmh", "--bits", "0", "--toy-n", "300"), "argument --bits"),
    (("train", "cca", "--device", "gpu", "--toy-n", "300"), "argument --device"),
    (("train", "cca", "--device", "CPU", "--toy-n", "300"), "did you mean 'cpu'"),
    (("train", "cca", "--device", "", "--toy-n", "300"), "argument --device"),
    (("train", "cca", "--device", "mps", "--toy-n", "300"), "mps"),
    (("train", "cca", "--seed", "-1", "--toy-n", "300"), "argument --seed"),
    (("train", "cca", "--threads", "0", "--toy-n", "300"), "argument --threads"),
    (("train", "cca", "--epochs", "x", "--toy-n", "300"), "argument --epochs"),
    (("train", "cca", "--root", "/tmp", "--toy-n", "300"), "root does not apply to the toy data"),
    (("train", "cca", "--data", "/no/such/folder"), "does not exist, and it is not a dataset name"),
    (("train", "cca", "--toy-n", "300", "--image-features", "descriptor"), "applies to real photos"),
])
def test_errors_exit_2(args, needle, capsys):
    from hashnotes.__main__ import main

    try:  # in-process (a subprocess per case costs a torch import); argparse errors raise SystemExit(2)
        code = main(list(args))
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert needle in err and "error:" in err


def test_error_from_a_subprocess_has_no_traceback():
    r = _run("train", "cca", "--device", "gpu", "--toy-n", "300")
    assert r.returncode == 2 and "error: argument --device" in r.stderr and "Traceback" not in r.stderr


def test_bad_save_dir_fails_before_training(tmp_path):
    (tmp_path / "afile").write_text("x")
    r = _run("train", "dcmh", "--toy-n", "300", "--bits", "8", "--save-dir", str(tmp_path / "afile"))
    assert r.returncode == 2 and "--save-dir" in r.stderr and "not a folder" in r.stderr
    assert "epoch" not in r.stdout + r.stderr  # nothing was trained


def test_save_dir_is_created_and_used(tmp_path):
    out = tmp_path / "new" / "models"
    rows = _rows(_run("train", "cca", "--toy-n", "300", "--bits", "8", "--save-dir", str(out), "--json"))
    assert (out / "cca-8.pt").is_file() and rows[0]["saved"].endswith("cca-8.pt")


# --------------------------------------------------------------------------------------------- layouts
N = 80


@pytest.fixture(scope="module")
def toyset():
    ds = data.toy(n=100, image_size=32, seed=6)
    p = ds.database.subset(np.arange(N))
    img, txt, lab = np.asarray(p.images), p.texts.astype(np.uint8), p.labels
    caps = [", ".join(ds.vocab[j] for j in np.nonzero(r)[0]) for r in txt]
    return img, txt, lab, caps


def _write(layout, root, toyset):
    img, txt, lab, caps = toyset
    feats = data.image_descriptors(img, size=32)
    if layout == "dcmh-mat":
        W.write_dcmh_mat(root, img, txt, lab, prefix="toyset", merged=True, v73=True)
    elif layout == "feature-mat":
        W.write_feature_mat(root, feats, txt, lab, prefix="toyset")
    elif layout == "split-mat":
        q, db = np.arange(15), np.arange(15, N)
        W.write_split_mat(root, {"train": (feats[db[:50]], txt[db[:50]], lab[db[:50]]),
                                 "query": (feats[q], txt[q], lab[q]), "database": (feats[db], txt[db], lab[db])},
                          one_file=False)
    elif layout == "name-list":
        names = W.write_images(root / "images", img)
        W.write_name_list(root, names, txt, lab, style="djsrh", prefix="toyset")
    elif layout == "clip-index":
        names = W.write_images(root / "pics", img)
        W.write_clip_index(root, [f"/data/flickr/pics/{s}" for s in names], caps, lab, caption_txt=True)
    else:
        q, db = np.arange(15), np.arange(15, N)
        W.write_hdf5_split(root / "toy.h5", {"train": (img[db[:50]], txt[db[:50]], lab[db[:50]]),
                                             "query": (img[q], txt[q], lab[q]),
                                             "database": (img[db], txt[db], lab[db])})


@pytest.mark.parametrize("layout", sorted(data.LAYOUTS))
def test_every_layout_trains_and_evaluates_through_the_command_line(layout, tmp_path, toyset):
    _write(layout, tmp_path, toyset)
    r = _run("train", "cca", "--data", str(tmp_path), "--bits", "8", "--threads", "1", "--json")
    rows = _rows(r)
    assert f"layout {layout!r}" in r.stderr  # it says which layout it found
    x = rows[0]
    assert x["method"] == "cca" and 0 < x["map_i2t"] <= 1 and 0 < x["map_t2i"] <= 1
    ds = x["dataset"]
    assert ds["layout"] == layout and ds["path"] == str(tmp_path.resolve())
    assert all(len(d["sha256"]) == 16 for k, d in ds["digest"].items() if k != "image_files")
    assert sum(ds["sizes"][k] for k in ("query", "database")) == N
    if layout in ("feature-mat", "split-mat"):
        assert ds["image_shape"] == [data.descriptor_dim()]  # stored features, as they are
    else:
        assert ds["image_shape"] == [data.descriptor_dim()] and "descriptors" in ds["images"]  # auto: real pixels
    if layout == "clip-index":
        assert ds["text_vectorizer"]["kind"] == "binary"


def test_dcmh_end_to_end_on_image_files(tmp_path, toyset):
    _write("name-list", tmp_path, toyset)
    rows = _rows(_run("train", "dcmh", "--data", str(tmp_path), "--bits", "8", "--epochs", "2", "--threads", "1",
                      "--json"))
    assert rows[0]["epochs"] == 2 and rows[0]["dataset"]["layout"] == "name-list"
    # pixels on request: the image files go to the CNN (lazily, 32 px)
    rows = _rows(_run("train", "dcmh", "--data", str(tmp_path), "--bits", "8", "--epochs", "1", "--threads", "1",
                      "--image-features", "none", "--image-size", "32", "--json"))
    assert rows[0]["dataset"]["image_shape"] == [3, 32, 32]


def test_named_dataset_pixels_become_descriptors_once_per_item(tmp_path, toyset):
    """data.load(NAME) turns a named dataset's pixels into descriptors by default, as --data NAME does: each
    item is described once (train and val are looked up in the database by id)."""
    img, txt, lab, _ = toyset
    W.write_dcmh_mat(tmp_path, img, txt, lab, prefix="nus-wide-tc21")
    ds = data.load("nuswide", root=tmp_path, n_query=10, n_train=50, n_val=5)
    full = data.image_descriptors(img)
    for part in (ds.query, ds.database, ds.train, ds.val):
        np.testing.assert_array_equal(part.images, full[part.ids])
    assert "descriptors" in ds.info["images"] and ds.name == "nuswide"
    pixels = data.load("nuswide", root=tmp_path, n_query=10, n_train=50, n_val=5, image_features=None)
    assert pixels.train.images.ndim == 4


# --------------------------------------------------------------------------------------------- one way in
def test_help_lists_every_method_with_a_line_and_shows_defaults():
    from hashnotes import methods

    for args in ((), ("train",), ("bench",)):
        r = _run(*args, "--help")
        assert r.returncode == 0 and r.stdout.startswith(f"usage: hashnotes {' '.join(args)}".rstrip() + " ")
        lines = r.stdout.splitlines()
        for name in methods.REGISTRY:  # ugach, daph and random included: one line each, with its summary
            hits = [ln for ln in lines if ln.split()[:1] == [name]]
            assert len(hits) == 1 and methods.SUMMARIES[name] in hits[0], (args, name)
    r = _run("train", "--help")
    flat = " ".join(r.stdout.split())
    for shown in ("(default: toy)", "(default: 16 32 64)", "(default: small)", "(default: auto)",
                  "(default: 10000)", "--progress, --no-progress"):
        assert shown in flat, shown


def test_the_command_line_and_python_load_the_same_data(tmp_path, toyset):
    """--data PATH and data.load(PATH) use the same defaults: real pixel images become descriptors."""
    _write("name-list", tmp_path, toyset)
    rows = _rows(_run("train", "random", "--data", str(tmp_path), "--bits", "8", "--threads", "1", "--json"))
    ds = data.load(tmp_path, verbose=False)
    assert ds.train.images.ndim == 2 and rows[0]["dataset"]["image_shape"] == [ds.train.images.shape[1]]
    from hashnotes import provenance

    assert rows[0]["dataset"]["split"] == provenance.dataset_record(ds)["split"]


def test_progress_is_off_when_the_output_is_not_a_terminal_and_on_request():
    quiet = _run("train", "dcmh", "--toy-n", "300", "--bits", "8", "--epochs", "1", "--threads", "1")
    assert quiet.returncode == 0 and "it/s" not in quiet.stderr and "%|" not in quiet.stderr
    loud = _run("train", "dcmh", "--toy-n", "300", "--bits", "8", "--epochs", "1", "--threads", "1", "--progress")
    assert loud.returncode == 0 and "%|" in loud.stderr  # tqdm's bar


def test_the_thread_default_is_applied_at_start():
    """Without --threads the command line applies threads.apply_default(): HASHNOTES_THREADS here."""
    import os

    env = {**os.environ, "HASHNOTES_THREADS": "1", "OMP_NUM_THREADS": "2"}
    r = subprocess.run([sys.executable, "-m", "hashnotes", "train", "random", "--toy-n", "300", "--bits", "8",
                        "--json"], capture_output=True, text=True, timeout=600, env=env)
    row = _rows(r)[0]
    assert row["environment"]["threads"]["setting"] == 1 and row["environment"]["torch_threads"] == 1


def test_bench_says_what_it_skipped_and_ends_with_a_summary_table(tmp_path):
    args = ("bench", "--methods", "cca", "random", "--bits", "8", "--seeds", "2", "--toy-n", "300",
            "--threads", "1", "--top-r", "50", "--out", str(tmp_path / "runs"))
    first = _run(*args)
    assert first.returncode == 0, first.stderr
    assert "bench: 4 of 4 runs trained, 0 skipped" in first.stdout
    table = first.stdout.splitlines()[-3:]
    assert table[0].split()[:3] == ["method", "bits", "seeds"]
    from hashnotes import bench

    rows = bench.read_rows(tmp_path / "runs" / "results.jsonl")
    stats = bench.summary(rows)
    for line, name in zip(table[1:], ("cca", "random")):
        cells = line.split()
        assert cells[:3] == [name, "8", "2"]
        assert cells[3] == f"{stats[('toy', name, 8)]['map_i2t'][0]:.4f}"
    again = _run(*args)
    assert again.returncode == 0 and "bench: 0 of 4 runs trained, 4 skipped" in again.stdout
    assert "0run" not in again.stderr and "run/s" not in again.stderr  # no empty progress bar
    assert again.stdout.splitlines()[-3:] == table
