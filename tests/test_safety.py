"""Safety of what the package reads and writes: checkpoints that run no code and allocate nothing they do not
hold, writes that a crash or a full disk cannot half-do, resumes that lose no run and mix no plans, and one
benchmark per folder at a time."""
from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hashnotes import _io, bench, data, methods
from hashnotes.__main__ import main
from hashnotes.train import checkpoint
from hashnotes.train.base import DataSpec, HashingMethod

REPO = Path(__file__).resolve().parents[1]
SPEC = DataSpec((16,), 12, 4)


def _dcmh(bits: int = 8):
    """A DCMH model with built (unfitted) modules on feature inputs: a real registry checkpoint in no time."""
    m = methods.DCMH.small(bits=bits, device="cpu")
    m.spec = SPEC
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        m.modules = {k: v.eval() for k, v in m.build(SPEC).items()}
    m.history, m.best_epoch = [{"epoch": 1, "loss/total": 1.0}], 1
    return m


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    p = tmp_path_factory.mktemp("ckpt") / "dcmh.pt"
    _dcmh().save(p)
    return p


def _raw(path) -> dict:
    return torch.load(str(path), map_location="cpu", weights_only=True)


def _crafted(tmp_path, saved, name="crafted.pt", **changes) -> Path:
    ckpt = _raw(saved)
    for key, value in changes.items():
        if value is _DROP:
            ckpt.pop(key)
        else:
            ckpt[key] = value
    out = tmp_path / name
    torch.save(ckpt, str(out))
    return out


_DROP = object()


# ---------------------------------------------------------------------------------------------- no code runs
EVIL = textwrap.dedent("""
    from pathlib import Path
    Path(__file__).with_name("IMPORTED").write_text("the checkpoint ran this module")

    class Evil:
        config_class = dict

        @classmethod
        def from_state_dict(cls, state):
            return cls()
""")


def _python(code: str, cwd: Path, *args) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, *args] if not code else [sys.executable, "-c", code], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("where", ["class", "text_vectorizer"])
def test_a_checkpoint_naming_a_module_beside_it_imports_nothing(tmp_path, saved, where):
    (tmp_path / "evilmod.py").write_text(EVIL)
    if where == "class":
        _crafted(tmp_path, saved, "model.pt", **{"class": "evilmod:Evil"})
    else:
        _crafted(tmp_path, saved, "model.pt", text_vectorizer={"class": "evilmod:Evil", "state": {}})
    # python -c puts the working folder first on sys.path: the module would be importable by that name
    r = _python("import sys\nfrom pathlib import Path\nfrom hashnotes.train.base import HashingMethod\n"
                "try:\n    HashingMethod.load('model.pt')\n"
                "except ValueError as e:\n    print('refused:', e)\n"
                "    print('marker after load:', Path('IMPORTED').exists())\n"
                "    import evilmod  # the control: importing it by that name does run it\n"
                "    print('marker after import:', Path('IMPORTED').exists())\n    sys.exit(3)\n", tmp_path)
    assert r.returncode == 3, r.stderr
    assert "evilmod:Evil" in r.stdout and "nothing is imported" in r.stdout
    assert "marker after load: False" in r.stdout and "marker after import: True" in r.stdout
    assert "evilmod" not in sys.modules


def test_the_index_command_refuses_a_code_naming_checkpoint_without_importing_it(tmp_path, saved):
    pytest.importorskip("faiss")
    (tmp_path / "evilmod.py").write_text(EVIL)
    _crafted(tmp_path, saved, "model.pt", **{"class": "evilmod:Evil"})
    r = _python("", tmp_path, "-m", "hashnotes", "index", "model.pt", "--toy-n", "100")
    assert r.returncode == 2 and "error:" in r.stderr and "evilmod:Evil" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "IMPORTED").exists()


@pytest.mark.parametrize("name, needle", [
    ("os:system", "neither a registered hashnotes method"),           # a function
    ("builtins:eval", "neither a registered hashnotes method"),
    ("hashnotes.methods.dcmh:make_optimizer", "neither a registered hashnotes method"),  # a function of ours
    ("hashnotes.nets:SmallCNN", "neither a registered hashnotes method"),  # a class, but not a method
    ("hashnotes.methods.dcmh", "'module:ClassName' string"),
    ("dcmh:DCMH; import os", "'module:ClassName' string"),
    (42, "'module:ClassName' string"),
    (None, "'module:ClassName' string"),
])
def test_only_registered_or_defined_method_classes_load(tmp_path, saved, name, needle):
    p = _crafted(tmp_path, saved, **{"class": name})
    with pytest.raises(ValueError, match=needle) as info:
        HashingMethod.load(p)
    assert str(p) in str(info.value)


def test_text_vectoriser_classes_come_from_the_allow_list(tmp_path, saved):
    p = _crafted(tmp_path, saved, text_vectorizer={"class": "hashnotes.nets:SmallCNN", "state": {}})
    with pytest.raises(ValueError, match="text vectoriser class 'hashnotes.nets:SmallCNN'"):
        HashingMethod.load(p)
    p = _crafted(tmp_path, saved, text_vectorizer={"class": "hashnotes.data.text:TextVectorizer",
                                                   "state": {"format": "hashnotes.TextVectorizer"}})
    with pytest.raises(ValueError, match="not a valid hashnotes checkpoint"):  # a crafted state: KeyError inside
        HashingMethod.load(p)


def test_a_registered_class_still_checks_the_requested_base(saved):
    with pytest.raises(ValueError, match="holds a DCMH, not a CCA"):
        methods.CCA.load(saved)
    assert type(methods.DCMH.load(saved)) is methods.DCMH


# ---------------------------------------------------------------------------------------------- sizes
def _fast(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


@pytest.mark.parametrize("spec, needle", [
    ({"image_shape": [16], "text_dim": 2 ** 40, "n_labels": 4}, "text_dim=1099511627776 is beyond"),
    ({"image_shape": [3, 2 ** 20, 2 ** 20], "text_dim": 12, "n_labels": 4}, "image_shape"),
    ({"image_shape": [16], "text_dim": 12, "n_labels": 2 ** 31}, "n_labels=2147483648 is beyond"),
    ({"image_shape": [16], "text_dim": -3, "n_labels": 4}, "positive int"),
    ({"image_shape": "16", "text_dim": 12, "n_labels": 4}, "image_shape"),
    ({"image_shape": [16], "text_dim": 12.5, "n_labels": 4}, "positive int"),
    # within the bounds, but not what the stored tensors were built for: 10**7 x 512 floats would be 20 GB
    ({"image_shape": [16], "text_dim": 10 ** 7, "n_labels": 4}, "shape"),
    ({"image_shape": [2 ** 15], "text_dim": 12, "n_labels": 4}, "shape"),
    ({"image_shape": [16], "text_dim": 12}, "n_labels"),
])
def test_crafted_sizes_are_refused_before_anything_is_allocated(tmp_path, saved, spec, needle):
    p = _crafted(tmp_path, saved, spec=spec)
    with pytest.raises(ValueError, match=needle):
        assert _fast(lambda: HashingMethod.load(p)) < 0  # never reached
    assert _fast(lambda: pytest.raises(ValueError, HashingMethod.load, p)) < 10


@pytest.mark.parametrize("change, needle", [
    ({"bits": 2 ** 31}, "bits"),                    # the config's own check
    # sizes the config sets (2**20 x 2**20 floats would be 4 TB), refused by the stored shapes
    ({"text_hidden": (2 ** 20,)}, "shape"),
    ({"text_hidden": (2 ** 20, 2 ** 20)}, "module 'text' lacks"),
    ({"feature_hidden": (2 ** 20,)}, "shape"),
    ({"text_hidden": 2 ** 20}, "text_hidden must be a sequence"),
    ({"no_such_setting": 1}, "no_such_setting"),
    ({"epochs": "many"}, "config is invalid"),
])
def test_a_crafted_config_is_a_clear_error(tmp_path, saved, change, needle):
    cfg = {**_raw(saved)["config"], **change}
    p = _crafted(tmp_path, saved, config=cfg)
    with pytest.raises(ValueError, match=needle) as info:
        HashingMethod.load(p)
    assert str(p) in str(info.value)


@pytest.mark.parametrize("changes, needle", [
    ({"modules": _DROP}, "'modules' is missing"),
    ({"config": _DROP}, "'config' is missing"),
    ({"modules": [1, 2]}, "not a dict of state dicts"),
    ({"modules": {"image": {"w": 1}}}, "not a tensor"),
    ({"modules": {"image": {}}}, "modules"),
    ({"config": "bits=8"}, "'config' must be a dict"),
    ({"spec": None}, "'spec' must be a dict"),
    ({"artifacts": {"a": "b"}}, "not a tensor"),
    ({"history": "none"}, "'history' is not a list"),
    ({"best_epoch": "1"}, "'best_epoch'"),
    ({"dataset": [1]}, "'dataset' must be a dict"),
    ({"text_vectorizer": "TextVectorizer"}, "'text_vectorizer' must be None or a dict"),
])
def test_a_malformed_checkpoint_is_a_clear_error(tmp_path, saved, changes, needle):
    p = _crafted(tmp_path, saved, **changes)
    with pytest.raises(ValueError, match=needle):
        HashingMethod.load(p)


def test_a_module_missing_a_tensor_names_it(tmp_path, saved):
    mods = _raw(saved)["modules"]
    key = sorted(mods["text"])[0]
    mods["text"].pop(key)
    p = _crafted(tmp_path, saved, modules=mods)
    with pytest.raises(ValueError, match=f"module 'text' lacks \\[{key!r}\\]"):
        HashingMethod.load(p)


@pytest.mark.parametrize("name", sorted(methods.REGISTRY))
def test_the_shape_check_agrees_with_the_real_build_of_every_method(name):
    """A valid checkpoint of any registered method passes the shape check: the meta build gives the shapes
    the real build does (pixels and features, both presets where the build is cheap)."""
    cls = methods.get(name)
    cases = [("small", DataSpec((3, 32, 32), 20, 5)), ("small", DataSpec((3, 64, 64), 20, 5)),
             ("small", DataSpec((24,), 20, 5)), ("paper", DataSpec((24,), 20, 5))]
    for preset, spec in cases:
        m = getattr(cls, preset)(bits=16)
        m.restoring = True
        meta = checkpoint._shapes(m, spec)
        assert meta is not None, (preset, spec)
        with torch.random.fork_rng(devices=[]):
            real = {k: {kk: tuple(v.shape) for kk, v in mm.state_dict().items()} for k, mm in m.build(spec).items()}
        assert meta == real, (preset, spec)


def test_valid_checkpoints_still_load(tmp_path, saved):
    m = _dcmh()
    back = HashingMethod.load(saved)
    x = np.random.default_rng(0).normal(size=(5, 16)).astype(np.float32)
    t = np.random.default_rng(1).random((5, 12)).astype(np.float32)
    np.testing.assert_array_equal(back.encode_image(x), m.encode_image(x))
    np.testing.assert_array_equal(back.encode_text(t), m.encode_text(t))
    assert back.history == m.history and back.best_epoch == 1
    # a model fitted on raw strings keeps its (allow-listed) vectoriser
    from hashnotes.data.text import TextVectorizer

    vec = TextVectorizer().fit(["red car", "blue sky", "red sky", "green tree"])
    m.text_vectorizer = vec
    back = HashingMethod.load(m.save(tmp_path / "vec.pt"))
    assert back.text_vectorizer.vocabulary == vec.vocabulary


# ---------------------------------------------------------------------------------------------- corruptions
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), max_size=8),
       cut=st.one_of(st.none(), st.floats(0, 1)))
def test_random_byte_corruption_loads_or_is_a_value_error(saved, tmp_path, flips, cut):
    blob = bytearray(saved.read_bytes())
    for where, xor in flips:
        blob[int(where * len(blob))] ^= xor
    if cut is not None:
        blob = blob[:int(cut * len(blob))]
    p = tmp_path / "corrupt.pt"
    p.write_bytes(bytes(blob))
    try:
        model = HashingMethod.load(p)
    except ValueError as e:
        assert str(p) in str(e)
    else:
        assert isinstance(model, methods.DCMH)


_values = st.recursive(st.none() | st.booleans() | st.integers(-2 ** 62, 2 ** 62) | st.floats() | st.text(max_size=8)
                       | st.builds(lambda n: torch.zeros(n), st.integers(0, 4)),
                       lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=6), kids, max_size=3),
                       max_leaves=6)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.lists(st.sampled_from(["class", "config", "spec", "modules", "artifacts", "history", "best_epoch",
                                      "text_vectorizer", "extra", "bits", "text_dim", "image_shape", "n_labels",
                                      "image", "text", "epochs", "state"]), min_size=1, max_size=3),
       value=_values)
def test_random_entry_corruption_loads_or_is_a_value_error(saved, tmp_path, path, value):
    ckpt = _raw(saved)
    node = ckpt
    for key in path[:-1]:  # walk down as far as the path exists
        if isinstance(node, dict) and isinstance(node.get(key), dict):
            node = node[key]
    node[path[-1]] = value
    p = tmp_path / "entry.pt"
    torch.save(ckpt, str(p))
    try:
        HashingMethod.load(p)
    except ValueError as e:
        assert str(p) in str(e)


# ---------------------------------------------------------------------------------------------- atomic writes
def _disk_full_after(monkeypatch, n_bytes: int):
    """Make every file opened by the atomic writer fail with ENOSPC after ``n_bytes``."""
    real = os.fdopen

    class Full:
        def __init__(self, f):
            self.f, self.n = f, 0

        def write(self, b):
            self.n += len(b)
            if self.n > n_bytes:
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.f.write(b)

        def __getattr__(self, k):
            return getattr(self.f, k)

        def __enter__(self):
            return self

        def __exit__(self, *a):
            return self.f.__exit__(*a)

    monkeypatch.setattr(_io.os, "fdopen", lambda *a, **k: Full(real(*a, **k)))


def test_a_failed_checkpoint_write_keeps_the_previous_file(tmp_path, monkeypatch):
    p = _dcmh(bits=8).save(tmp_path / "m.pt")
    good = p.read_bytes()
    _disk_full_after(monkeypatch, 300)
    with pytest.raises(OSError, match="No space left"):
        _dcmh(bits=16).save(p)
    monkeypatch.undo()
    assert p.read_bytes() == good and sorted(os.listdir(tmp_path)) == ["m.pt"]
    assert HashingMethod.load(p).config.bits == 8
    # a failure at the rename (after the data was written and fsynced) also keeps it
    monkeypatch.setattr(_io.os, "replace", lambda *a: (_ for _ in ()).throw(OSError(errno.EIO, "I/O error")))
    with pytest.raises(OSError, match="I/O error"):
        _dcmh(bits=16).save(p)
    assert p.read_bytes() == good and sorted(os.listdir(tmp_path)) == ["m.pt"]


def test_atomic_text_and_csv_writes_keep_the_old_content(tmp_path, monkeypatch):
    p = _io.atomic_write_text(tmp_path / "a.txt", "old\n")
    bench._write_csv([{"data": "toy", "method": "cca", "bits": 8}], tmp_path / "results.csv")
    old_csv = (tmp_path / "results.csv").read_text()
    _disk_full_after(monkeypatch, 3)
    with pytest.raises(OSError):
        _io.atomic_write_text(p, "new content\n")
    with pytest.raises(OSError):
        bench._write_csv([{"data": "toy", "method": "dcmh", "bits": 16}] * 50, tmp_path / "results.csv")
    monkeypatch.undo()
    assert p.read_text() == "old\n" and (tmp_path / "results.csv").read_text() == old_csv
    assert sorted(os.listdir(tmp_path)) == ["a.txt", "results.csv"]


def _toy_args(tmp_path, *extra):
    return ["train", "random", "cca", "--data", "toy", "--toy-n", "200", "--bits", "8", "--device", "cpu",
            "--json", *extra]


def test_one_failed_save_does_not_stop_the_other_models(tmp_path, monkeypatch, capsys):
    real = checkpoint.write

    def write(model, path):
        if Path(path).name == "random-8.pt":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(model, path)

    monkeypatch.setattr(checkpoint, "write", write)
    code = main(_toy_args(tmp_path, "--save-dir", str(tmp_path / "models")))
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 2
    assert [r["method"] for r in rows] == ["random", "cca"]  # both rows, in order
    assert rows[0]["saved"] is None and "No space left" in rows[0]["save_error"]
    assert rows[1]["saved"].endswith("cca-8.pt") and (tmp_path / "models" / "cca-8.pt").is_file()
    assert "could not save random 8 bits" in err and "1 of 2 models could not be saved" in err
    assert "Traceback" not in err


def test_an_unwritable_out_or_save_dir_is_found_before_any_data_is_read(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")

    def no_data(*a, **k):
        raise AssertionError("data was read")

    monkeypatch.setattr(data, "toy", no_data)
    assert main(_toy_args(tmp_path, "--save-dir", str(blocker / "models"))) == 2
    assert "--save-dir" in capsys.readouterr().err
    assert main(["bench", "--methods", "random", "--bits", "8", "--toy-n", "200", "--out", str(blocker / "o"),
                 "--device", "cpu", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "cannot be written" in err and "Traceback" not in err


# ---------------------------------------------------------------------------------------------- JSON lines
def test_repair_cuts_a_torn_tail_and_keeps_a_copy(tmp_path):
    p = tmp_path / "results.jsonl"
    p.write_bytes(b'{"a": 1}\n{"a": 2}\n{"a": 3, "b": [1, 2')
    copy = _io.repair_jsonl(p)
    assert p.read_bytes() == b'{"a": 1}\n{"a": 2}\n'
    assert copy.name.startswith("results.jsonl.torn-") and copy.read_bytes() == b'{"a": 3, "b": [1, 2'
    assert _io.repair_jsonl(p) is None and p.read_bytes() == b'{"a": 1}\n{"a": 2}\n'  # clean: untouched
    p.write_bytes(b'{"a": 1}\n{"a": 2}')  # a complete row that lost its newline is kept
    assert _io.repair_jsonl(p) is None and p.read_bytes() == b'{"a": 1}\n{"a": 2}\n'
    p.write_bytes(b'{"a": 1')  # a torn first line
    assert _io.repair_jsonl(p).read_bytes() == b'{"a": 1' and p.read_bytes() == b""
    assert _io.repair_jsonl(tmp_path / "absent.jsonl") is None


def test_append_starts_a_fresh_line_after_a_torn_tail(tmp_path):
    p = tmp_path / "r.jsonl"
    p.write_bytes(b'{"a": 1}\n{"a": 2')
    _io.append_jsonl(p, {"a": 3})
    assert p.read_bytes() == b'{"a": 1}\n{"a": 2\n{"a": 3}\n'


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.dictionaries(st.text(max_size=5), st.one_of(st.integers(), st.text(max_size=6),
                                                                     st.floats(allow_nan=False)), max_size=3),
                     min_size=1, max_size=6),
       cut=st.floats(0, 1))
def test_repair_of_any_cut_keeps_exactly_the_complete_rows(tmp_path, rows, cut):
    d = tmp_path / f"case{time.perf_counter_ns()}"
    d.mkdir()
    p = d / "results.jsonl"
    for r in rows:
        _io.append_jsonl(p, r)
    full = p.read_bytes()
    n = int(cut * len(full))
    p.write_bytes(full[:n])
    copy = _io.repair_jsonl(p)
    kept = p.read_bytes()
    assert full.startswith(kept) and (kept == b"" or kept.endswith(b"\n"))
    assert [json.loads(line) for line in kept.splitlines()] == rows[:len(kept.splitlines())]
    if copy is not None:
        assert kept + copy.read_bytes() == full[:n]
    else:  # nothing cut: the file held complete rows only (perhaps without the last newline)
        assert kept.rstrip(b"\n") == full[:n].rstrip(b"\n")
    _io.append_jsonl(p, {"next": 1})  # the next row is a line of its own
    assert json.loads(p.read_bytes().splitlines()[-1]) == {"next": 1}


def test_foreign_json_in_a_results_file_is_a_clear_error(tmp_path):
    p = tmp_path / "results.jsonl"
    p.write_text('{"data": "toy"}\n[1, 2]\n')
    with pytest.raises(ValueError, match="line 2 is a JSON list, not a result row"):
        bench.read_rows(p)
    p.write_text('{"some": "thing"}\n')
    with pytest.raises(ValueError, match="lacks"):
        bench.run_benchmark(data.toy(n=200, seed=0), "toy", ["random"], [8], [0], tmp_path, progress=False,
                            build_model=lambda *a: pytest.fail("trained"), log=lambda *_: None)


# ---------------------------------------------------------------------------------------------- resume
@pytest.fixture(scope="module")
def toy():
    return data.toy(n=300, image_size=32, seed=2)


def _bench(ds, out, calls, **kw):
    def build(method, bits, preset, seed, epochs, device):
        calls.append((method, bits, seed))
        return getattr(methods.get(method), preset)(bits=bits, seed=seed)

    args = dict(ds=ds, data_name="toy", method_names=["random", "cca"], bits_list=[8], seeds=[0, 1], out_dir=out,
                progress=False, build_model=build, log=lambda *_: None, top_r=50)
    return bench.run_benchmark(**{**args, **kw})


def test_a_torn_last_row_is_rerun_and_nothing_is_lost(toy, tmp_path):
    calls = []
    rows = _bench(toy, tmp_path, calls)
    jsonl = tmp_path / "results.jsonl"
    full = jsonl.read_bytes()
    lines = full.splitlines(keepends=True)
    torn = b"".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2]  # the last write was cut half-way
    jsonl.write_bytes(torn)
    calls.clear()
    with pytest.warns(UserWarning, match="truncated"):
        assert len(bench.read_rows(jsonl)) == 3  # a reader skips it ...
    again = _bench(toy, tmp_path, calls)  # ... and the benchmark reruns just that run
    assert calls == [tuple(rows[-1][k] for k in ("method", "bits", "seed"))]
    assert len(again) == 4 and len(bench.read_rows(jsonl)) == 4  # every line valid, no warning
    assert [bench.run_key(r) for r in bench.read_rows(jsonl)] == [bench.run_key(r) for r in rows]
    copies = list(tmp_path.glob("results.jsonl.torn-*"))
    assert len(copies) == 1 and copies[0].read_bytes() == lines[-1][: len(lines[-1]) // 2]
    assert len((tmp_path / "results.csv").read_text().splitlines()) == 5
    calls.clear()
    assert len(_bench(toy, tmp_path, calls)) == 4 and calls == []  # and the next resume is clean


@pytest.mark.parametrize("other, needle", [
    (dict(ds_n=200), "dataset.sizes"),                   # --toy-n
    (dict(split_seed=5), "dataset.split"),               # --split-seed
    (dict(image_size=16), "dataset.image_shape"),        # --image-size
    (dict(top_r=20), "top_r: 50 vs 20"),                 # --top-r
])
def test_a_resume_with_other_data_options_is_refused_naming_the_difference(toy, tmp_path, other, needle):
    calls = []
    _bench(toy, tmp_path, calls)
    ds = data.toy(n=other.get("ds_n", 300), image_size=other.get("image_size", 32), seed=other.get("split_seed", 2))
    calls.clear()
    with pytest.raises(ValueError, match=needle) as info:
        _bench(ds, tmp_path, calls, **({"top_r": other["top_r"]} if "top_r" in other else {}))
    assert "another data or protocol plan" in str(info.value) and "--out" in str(info.value)
    assert calls == [] and len(bench.read_rows(tmp_path / "results.jsonl")) == 4  # nothing trained or written


def test_the_run_key_holds_the_data_plan(toy):
    row = {"data": "toy", "method": "cca", "bits": 8, "seed": 0, "preset": "small", "top_r": 50,
           "dataset": {"name": "toy", "sizes": {"train": 100}}}
    assert bench.run_key(row) == bench.run_key(json.loads(json.dumps(row)))
    for change in ({"top_r": 20}, {"dataset": {"name": "toy", "sizes": {"train": 101}}}):
        assert bench.run_key({**row, **change}) != bench.run_key(row)
    # where the files are identified by their digests, moving them does not change the plan
    a = {**row, "dataset": {"name": "x", "digest": "abc", "path": "/a"}}
    assert bench.run_key(a) == bench.run_key({**a, "dataset": {**a["dataset"], "path": "/b"}})


# ---------------------------------------------------------------------------------------------- lock
def test_a_second_lock_on_a_folder_is_refused_naming_the_holder(tmp_path):
    with _io.folder_lock(tmp_path, "the benchmark folder"):
        with pytest.raises(_io.FolderLocked, match=f"in use by process {os.getpid()}") as info:
            with _io.folder_lock(tmp_path, "the benchmark folder"):
                pass
        assert info.value.pid == os.getpid()
    with _io.folder_lock(tmp_path):  # released at the end of the block
        pass


def test_a_second_benchmark_into_the_same_out_is_refused(toy, tmp_path, capsys):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom hashnotes import _io\n"
         f"with _io.folder_lock({str(tmp_path)!r}):\n    print('locked', flush=True)\n    time.sleep(60)\n"],
        env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        calls = []
        with pytest.raises(_io.FolderLocked, match=f"process {holder.pid}"):
            _bench(toy, tmp_path, calls)
        assert calls == [] and not (tmp_path / "results.jsonl").exists()
        code = main(["bench", "--methods", "random", "--bits", "8", "--toy-n", "200", "--out", str(tmp_path),
                     "--device", "cpu", "--no-progress"])
        err = capsys.readouterr().err
        assert code == 2 and f"in use by process {holder.pid}" in err and "Traceback" not in err
    finally:
        holder.kill()
        holder.wait()
    calls = []
    assert len(_bench(toy, tmp_path, calls)) == 4  # free again once the holder is gone
