"""hashnotes.sections: a real-data section computes where the data is, shows the shipped record where it is not,
and a computed number outside the recorded seeds' spread fails the build."""
from __future__ import annotations

import json

import pytest

from hashnotes import sections


@pytest.fixture
def world(tmp_path, monkeypatch):
    """A data folder with one file, an empty one, and a private folder of shipped records."""
    full, empty, shipped = tmp_path / "data", tmp_path / "empty", tmp_path / "shipped"
    for d in (full, empty, shipped):
        d.mkdir()
    (full / "f.mat").write_bytes(b"real data")
    monkeypatch.setattr(sections, "SECTIONS_DIR", shipped)
    monkeypatch.delenv(sections.RECORD_ENV, raising=False)
    return full, empty, shipped


def _record(full, shipped, monkeypatch, values_by_seed, settings=None):
    monkeypatch.setenv(sections.RECORD_ENV, str(shipped))
    monkeypatch.setenv(sections.SEEDS_ENV, ",".join(map(str, values_by_seed)))
    sec = sections.Section("demo", ["f.mat"], "book/99_demo.ipynb", root=full, settings=settings)
    assert sec.seeds() == tuple(values_by_seed)
    for seed in sec.seeds():
        sec.keep(seed, values_by_seed[seed], data={"curve": [seed, 1.5]}, timings={"fit_s": 3.0 + seed})
    sec.finish()
    monkeypatch.delenv(sections.RECORD_ENV)
    return json.loads((shipped / "demo.json").read_text())


def test_recording_writes_every_seed_with_provenance(world, monkeypatch):
    full, _, shipped = world
    rec = _record(full, shipped, monkeypatch, {0: {"map": 0.30, "n": 7}, 1: {"map": 0.34, "n": 7}})
    assert sorted(rec["runs"]) == ["0", "1"] and rec["runs"]["1"]["values"]["map"] == 0.34
    assert rec["command"] == "python -m hashnotes.sections record book/99_demo.ipynb"
    assert len(rec["files"]["f.mat"]["sha256"]) == 64 and rec["environment"]["hashnotes"]


def test_without_the_data_the_shipped_seed_0_is_shown(world, monkeypatch):
    full, empty, shipped = world
    _record(full, shipped, monkeypatch, {0: {"map": 0.30, "n": 7}, 1: {"map": 0.34, "n": 7}})
    sec = sections.Section("demo", ["f.mat"], "book/99_demo.ipynb", root=empty)
    assert not sec.here and sec.seeds() == ()
    assert sec.values == {"map": 0.30, "n": 7} and sec.data == {"curve": [0, 1.5]} and sec.timings == {"fit_s": 3.0}
    note = sec.finish().note()
    assert note.startswith("Shipped results") and "f.mat" in note and "python -m hashnotes.sections record" in note
    assert sec.spread("map") == (0.30, 0.34)


def test_with_the_data_a_number_within_the_spread_agrees_and_one_outside_fails(world, monkeypatch):
    full, _, shipped = world
    _record(full, shipped, monkeypatch, {0: {"map": 0.30, "n": 7}, 1: {"map": 0.34, "n": 7}})
    ok = sections.Section("demo", ["f.mat"], "book/99_demo.ipynb", root=full)
    assert ok.here and ok.seeds() == (0,)
    ok.keep(0, {"map": 0.37, "n": 7})          # 0.03 above the range of width 0.04: agrees
    ok.finish()
    for bad_values, key in (({"map": 0.39, "n": 7}, "map"), ({"map": 0.31, "n": 8}, "n")):
        bad = sections.Section("demo", ["f.mat"], "book/99_demo.ipynb", root=full)
        bad.keep(0, bad_values)
        with pytest.raises(sections.SectionMismatch, match=key):
            bad.finish()


def test_a_record_made_with_other_settings_is_not_compared(world, monkeypatch):
    full, _, shipped = world
    _record(full, shipped, monkeypatch, {0: {"map": 0.30}}, settings={"preset": "reduced"})
    sec = sections.Section("demo", ["f.mat"], "book/99_demo.ipynb", root=full, settings={"preset": "full"})
    sec.keep(0, {"map": 0.70})
    sec.finish()                                 # not compared: other settings
    assert "not compared" in sec.note()


def test_placeholders_are_refused_and_a_missing_record_is_named(world):
    full, empty, _ = world
    sec = sections.Section("demo", ["f.mat"], "book/99_demo.ipynb", root=full)
    for bad in (float("nan"), None, "", float("inf")):
        with pytest.raises(ValueError, match="demo"):
            sec.keep(0, {"x": bad})
    with pytest.raises(FileNotFoundError, match=r"f\.mat.*python -m hashnotes\.sections record book/99_demo"):
        sections.Section("demo", ["f.mat"], "book/99_demo.ipynb", root=empty)


def test_the_recorder_refuses_without_data_or_seed_0(world, monkeypatch, capsys):
    _, empty, _ = world
    monkeypatch.setenv("HASHNOTES_DATA", str(empty / "nope"))
    with pytest.warns(UserWarning):
        assert sections.main(["record", "book/03_data.ipynb"]) == 2
    assert "needs the real data" in capsys.readouterr().err
    monkeypatch.setenv("HASHNOTES_DATA", str(empty))
    assert sections.main(["record", "book/03_data.ipynb", "--seeds", "1", "2"]) == 2
    assert "must include 0" in capsys.readouterr().err
