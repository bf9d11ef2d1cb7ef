"""Chapters as people edit them: jupytext.toml pairs book/NN_x.py with book/NN_x.ipynb (and nothing outside the
book), a save through jupytext keeps every cell and is byte-stable from the first save on, and the build
script's ``sync`` refuses to overwrite a notebook edited after its .py (unless ``--force``)."""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted([*ROOT.glob("book/[0-9][0-9]_*.py"), *ROOT.glob("book/A[0-9]_*.py")])
jupytext = pytest.importorskip("jupytext")


def _config():
    from jupytext.config import load_jupytext_configuration_file

    return load_jupytext_configuration_file(str(ROOT / "jupytext.toml"))


def test_the_config_pairs_book_chapters_only(tmp_path):
    """With the repository's jupytext.toml, a notebook in book/ (even one without pairing metadata of its own) is
    paired with the .py beside it; one elsewhere is not paired."""
    import subprocess
    import sys

    shutil.copy2(ROOT / "jupytext.toml", tmp_path / "jupytext.toml")
    nb = json.loads((ROOT / "book" / "01_hamming_space.ipynb").read_text(encoding="utf-8"))
    nb["metadata"].pop("jupytext", None)
    for folder in ("book", "experiments"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "z.ipynb").write_text(json.dumps(nb), encoding="utf-8")

    def paired(path):
        r = subprocess.run([sys.executable, "-m", "jupytext", "--paired-paths", path], cwd=tmp_path,
                           capture_output=True, text=True, timeout=120)
        return r.stdout.split()

    assert paired("book/z.ipynb") == ["book/z.py"]
    assert paired("experiments/z.ipynb") == []


@pytest.mark.parametrize("py", CHAPTERS, ids=lambda p: p.name)
def test_a_save_keeps_the_cells_and_is_byte_stable(py):
    """What JupyterLab does on save (jupytext writes the paired .py with the config): no cell changes, and a
    second save writes the same bytes as the first (no version numbers or key order that drift)."""
    cfg = _config()
    text = py.read_text(encoding="utf-8")
    nb = jupytext.reads(text, fmt="py:percent")
    first = jupytext.writes(nb, fmt="py:percent", config=cfg)
    again = jupytext.reads(first, fmt="py:percent")
    assert jupytext.writes(again, fmt="py:percent", config=cfg) == first
    cells = [(c.cell_type, c.source, dict(c.metadata)) for c in nb.cells]
    assert cells == [(c.cell_type, c.source, dict(c.metadata)) for c in again.cells]
    assert not re.search(r"^#\s+(jupytext_version|format_version):", first, flags=re.M)


# --------------------------------------------------------------------------------------------- make.py sync
def _make(monkeypatch):
    spec = importlib.util.spec_from_file_location("hashnotes_make", ROOT / "make.py")
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    monkeypatch.setattr(make, "setup", lambda: None)  # the test's environment is the venv
    monkeypatch.setattr(make, "VPY", Path(os.sys.executable))
    return make


CHAPTER = '''# %% [markdown]
# # A chapter
#
# Some text.

# %%
x = 1 + 1
'''


def _bump(path: Path, seconds: float) -> None:
    st = path.stat()
    os.utime(path, (st.st_atime + seconds, st.st_mtime + seconds))


def test_sync_refuses_to_overwrite_a_notebook_edited_after_its_source(tmp_path, monkeypatch, capsys):
    make = _make(monkeypatch)
    py = tmp_path / "01_x.py"
    py.write_text(CHAPTER, encoding="utf-8")
    assert make.sync(str(py)) == 0
    nb = py.with_suffix(".ipynb")
    cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
    assert [c["cell_type"] for c in cells] == ["markdown", "code", "code"]  # the setup cell was added
    # a resync of an unchanged pair (notebook newer than its .py, same cells) goes through
    _bump(nb, 5)
    assert make.sync(str(py)) == 0
    # an edit made in Jupyter: the notebook is newer and its cells differ
    edited = json.loads(nb.read_text(encoding="utf-8"))
    edited["cells"][-1]["source"] = "x = 3  # changed in Jupyter\n"
    nb.write_text(json.dumps(edited), encoding="utf-8")
    _bump(nb, 10)
    before = nb.read_bytes()
    assert make.sync(str(py)) == 1
    assert nb.read_bytes() == before and "NOT overwritten" in capsys.readouterr().out
    assert not list(tmp_path.glob(".*sync*"))  # no temporary file left behind
    assert make.sync("--force", str(py)) == 0
    assert "changed in Jupyter" not in nb.read_text(encoding="utf-8")


def test_sync_overwrites_a_notebook_older_than_its_source(tmp_path, monkeypatch):
    make = _make(monkeypatch)
    py = tmp_path / "02_y.py"
    py.write_text(CHAPTER, encoding="utf-8")
    assert make.sync(str(py)) == 0
    nb = py.with_suffix(".ipynb")
    py.write_text(CHAPTER.replace("1 + 1", "2 + 2"), encoding="utf-8")
    _bump(py, 10)  # the .py was edited last: its notebook is regenerated
    assert make.sync(str(py)) == 0
    assert "2 + 2" in nb.read_text(encoding="utf-8")


def test_a_real_chapter_resyncs_without_a_refusal(tmp_path, monkeypatch):
    """A clone may leave a chapter's notebook newer than its .py; with the same cells, sync goes through."""
    make = _make(monkeypatch)
    src = ROOT / "book" / "01_hamming_space.py"
    (tmp_path / "book").mkdir()
    shutil.copy2(ROOT / "jupytext.toml", tmp_path)  # the repository's jupytext settings apply, as in a clone
    py = tmp_path / "book" / src.name
    shutil.copy2(src, py)
    shutil.copy2(src.with_suffix(".ipynb"), py.with_suffix(".ipynb"))
    _bump(py.with_suffix(".ipynb"), 60)
    assert make.sync(str(py)) == 0
    assert py.with_suffix(".ipynb").read_bytes() == src.with_suffix(".ipynb").read_bytes()
