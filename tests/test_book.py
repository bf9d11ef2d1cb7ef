"""The book's sources: .py/.ipynb pairs in sync and output-free, no control characters, the setup cell, the
toc globs, the bibliography, README vs make.py, make.py's build/test plan, and the book helpers
(hashnotes.plots, hashnotes.widgets). The built pages are checked in a browser by tests/test_pages.py."""
from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
CHAPTERS = sorted([*BOOK.glob("[0-9][0-9]_*.py"), *BOOK.glob("A[0-9]_*.py")])
SOURCES = sorted([*CHAPTERS, *BOOK.glob("*.md"), *BOOK.glob("*.bib")])
# Control characters other than newline: a TAB or BACKSPACE typed where "\t" or "\b" began a TeX command
# (\top, \bar) reached MathJax as "Math input error".
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")


def _load_make():
    spec = importlib.util.spec_from_file_location("hashnotes_make", ROOT / "make.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _toc_globs():
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    globs, files = [], []

    def walk(node):
        if isinstance(node, dict):
            if "glob" in node:
                globs.append(node["glob"])
            if "file" in node:
                files.append(node["file"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(toc)
    return toc, globs, files


def test_there_are_chapters():
    assert CHAPTERS, "no book/NN_*.py chapter found"


def pair_differences(py: Path, nb_path: Path) -> list[str]:
    """Where a chapter's paired forms differ: (cell_type, source) of every cell, in order."""
    import jupytext

    cells_py = [(c.cell_type, c.source) for c in jupytext.read(py).cells]
    cells_nb = [(c.cell_type, c.source) for c in jupytext.read(nb_path).cells]
    out = [f"cell {i}: {a[0]} {a[1][:60]!r} vs {b[0]} {b[1][:60]!r}"
           for i, (a, b) in enumerate(zip(cells_py, cells_nb)) if a != b]
    if len(cells_py) != len(cells_nb):
        out.append(f"{len(cells_py)} cells in {py.name}, {len(cells_nb)} in {nb_path.name}")
    return out


def control_characters(text: str) -> list[str]:
    """line:column and code of every control character (other than newline) in ``text``."""
    out = []
    for lineno, line in enumerate(text.split("\n"), 1):
        for m in CONTROL.finditer(line):
            out.append(f"line {lineno}, column {m.start() + 1}: U+{ord(m.group()):04X}")
    return out


@pytest.mark.parametrize("path", SOURCES, ids=[p.name for p in SOURCES])
def test_no_control_characters_in_book_sources(path):
    found = control_characters(path.read_text(encoding="utf-8"))
    assert not found, f"{path.name} has control characters (a TAB or BACKSPACE where \\t or \\b was meant?): {found}"


def test_control_character_check_finds_the_planted_defect():
    planted = "$\\mathbf W^\top(\\mathbf x - \bar{\\mathbf x})$\nfine line"   # TAB + BACKSPACE, as once in ch. 2
    assert control_characters(planted) == ["line 1, column 12: U+0009", "line 1, column 28: U+0008"]
    assert control_characters("$\\mathbf W^\\top$ and tabs\n") == []


def test_pair_check_finds_a_planted_difference(tmp_path):
    import jupytext

    py = tmp_path / "99_x.py"
    py.write_text(CHAPTERS[0].read_text(encoding="utf-8"), encoding="utf-8")
    nb = jupytext.read(py)
    jupytext.write(nb, tmp_path / "99_x.ipynb")
    assert pair_differences(py, tmp_path / "99_x.ipynb") == []
    nb.cells[-1].source += "\nedited only in the notebook"
    jupytext.write(nb, tmp_path / "99_x.ipynb")
    assert len(pair_differences(py, tmp_path / "99_x.ipynb")) == 1


@pytest.mark.parametrize("py", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_pair_in_sync_and_clean(py):
    import jupytext

    nb_path = py.with_suffix(".ipynb")
    assert nb_path.exists(), f"{nb_path.name} missing: run `python3 make.py sync`"
    diff = pair_differences(py, nb_path)
    assert not diff, f"{py.name} and {nb_path.name} differ (run `python3 make.py sync`): {diff}"
    from_py = jupytext.read(py)
    from_nb = jupytext.read(nb_path)
    for i, cell in enumerate(from_nb.cells):
        if cell.cell_type == "code":
            assert cell.get("outputs", []) == [], f"{nb_path.name} cell {i} has outputs"
            assert cell.get("execution_count") is None, f"{nb_path.name} cell {i} has an execution count"
    for nb in (from_py, from_nb):
        assert nb.metadata["kernelspec"]["name"] == "python3"
    header = py.read_text().split("# ---", 2)[1]
    assert "format_name: percent" in header and "name: python3" in header


@pytest.mark.parametrize("py", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_first_code_cell_is_the_setup_cell(py):
    """Every chapter starts with make.py's setup cell: the package pinned to its version from the one URL."""
    import jupytext

    make = _load_make()
    code = [c for c in jupytext.read(py).cells if c.cell_type == "code"]
    assert code and code[0].source == make.setup_cell(), f"{py.name}: run `python3 make.py sync`"
    cell = make.setup_cell()
    url = yaml_config()["repository"]["url"]
    version = re.search(r'^__version__ = "([^"]+)"', (ROOT / "hashnotes" / "__init__.py").read_text(), re.M).group(1)
    assert f"git+{url}@v{version}" in cell and 'PRESET = "full" if GPU else "reduced"' in cell
    assert "set_num_threads" not in py.read_text(), f"{py.name} throttles the reader's threads"


def yaml_config() -> dict:
    import yaml

    return yaml.safe_load((ROOT / "_config.yml").read_text())


def test_write_setup_cell_replaces_an_old_one_and_inserts_a_missing_one(tmp_path):
    make = _load_make()
    head = "# ---\n# jupyter:\n# ---\n\n# %% [markdown]\n# # Title\n\n"
    old = tmp_path / "98_old.py"
    old.write_text(head + "# %%\n# Colab bootstrap: old\nimport sys\n\n# %%\nx = 1\n")
    new = tmp_path / "97_new.py"
    new.write_text(head + "# %%\nx = 1\n")
    for path in (old, new):
        assert make.write_setup_cell(path) is True
        text = path.read_text()
        assert text.count(make.SETUP_MARKER) == 1 and "Colab bootstrap" not in text and text.endswith("x = 1\n")
        assert make.write_setup_cell(path) is False          # idempotent


def test_bibliography_has_the_works_the_book_relies_on():
    from pybtex.database import parse_file

    bib = parse_file(str(BOOK / "references.bib"))
    need = {"jiang2017dcmh": "2017", "zhang2018ugach": "2018", "tian2021cauchy": "2021", "deng2018tdh": "2018",
            "tu2023daph": "2023", "cao2018dch": "2018", "hotelling1936cca": "1936", "huiskes2008mirflickr": "2008",
            "chua2009nuswide": "2009", "grubinger2006iapr": "2006", "lin2014coco": "2014",
            "rasiwasia2010wiki": "2010", "wang2017irgan": "2017", "liu2023mith": "2023"}
    for key, year in need.items():
        assert key in bib.entries, key
        assert bib.entries[key].fields["year"] == year, key
    cited = set()
    for path in (p for p in SOURCES if p.suffix != ".bib"):
        for m in re.finditer(r"\{cite(?::[tp])?\}`([^`]+)`", path.read_text(encoding="utf-8")):
            cited |= {k.strip() for k in m.group(1).split(",")}
    assert cited, "no citations in the book"
    assert not cited - set(bib.entries), f"cited but not in references.bib: {sorted(cited - set(bib.entries))}"


def test_prose_cites_no_file_outside_the_book():
    """The source-side twin of the browser check: no project notes, decision numbers or paths outside."""
    bad = re.compile(r"METHODS|DESIGN\.md|seed (note|eq)|decision \d|\.\./shared|issue note")
    for path in SOURCES:
        for lineno, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
            assert not bad.search(line), f"{path.name}:{lineno}: {line.strip()}"


@pytest.mark.parametrize("py", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_chapter_listed_by_exactly_one_toc_glob(py):
    from sphinx.util.matching import patmatch

    _, globs, files = _toc_globs()
    docname = py.with_suffix("").relative_to(ROOT).as_posix()
    hits = [g for g in globs if patmatch(docname, g)] + [f for f in files if f == docname]
    assert len(hits) == 1, f"{docname} is matched by {hits} in _toc.yml"


def test_toc_globs_do_not_match_non_chapters():
    from sphinx.util.matching import patmatch

    toc, globs, _ = _toc_globs()
    assert toc["format"] == "jb-book"
    assert (ROOT / (toc["root"] + ".md")).exists()
    for name in ("book/00_preface", "book/references", "book/4_x", "book/_assets_offline/x", "hashnotes/x",
                 "book/_ext/x", "book/_static_files/x"):
        assert not any(patmatch(name, g) for g in globs), name
    for name in ("book/04_dcmh", "book/09_x", "book/10_x", "book/19_x", "book/02_evaluation", "book/A1_notation",
                 "book/A2_full_size"):
        assert sum(bool(patmatch(name, g)) for g in globs) == 1, name
    parts = {p["caption"]: p for p in toc["parts"]}
    assert parts["Appendix"]["numbered"] is False
    assert parts["Appendix"]["chapters"][-1] == {"file": "book/references"}    # the bibliography comes last


def test_readme_states_exactly_the_two_commands():
    make = _load_make()
    text = (ROOT / "README.md").read_text()
    found = re.findall(r"python3? make\.py\s+\S+", text)
    assert found, "README.md names no make.py command"
    assert set(found) == set(make.README_COMMANDS), found
    assert make.README_COMMANDS == ("python3 make.py book", "python3 make.py test")
    for cmd in make.README_COMMANDS:
        assert cmd.split()[-1] in make.COMMANDS


def test_make_test_executes_each_chapter_once_then_builds_then_checks_pages(monkeypatch):
    """make.py test: unit tests + staged notebooks (nbmake --overwrite) in one call, the build, the browser test."""
    make = _load_make()
    monkeypatch.setattr(make, "setup", lambda: None)
    monkeypatch.setattr(make, "stage_book", lambda: make.STAGE)
    monkeypatch.setattr(make, "ensure_chromium", lambda: True)
    for first_rc, build_rc, expected, n_calls in ((0, 0, 0, 3), (1, 0, 1, 1), (5, 0, 1, 1), (0, 2, 2, 2)):
        calls = []
        monkeypatch.setattr(make, "run", lambda cmd, **kw: (calls.append((cmd, kw)), first_rc if len(calls) == 1
                                                             else 0)[1])
        monkeypatch.setattr(make, "build_html", lambda env=None: (calls.append((["build"], {})), build_rc)[1])
        assert make.test() == expected
        assert len(calls) == n_calls
    first = [str(c) for c in calls[0][0]]
    assert first[1:4] == ["-m", "pytest", "-n"] and "--nbmake" in first and "--overwrite" in first
    assert first[-2:] == ["tests", str(make.STAGE / "book")] and "--ignore=tests/test_pages.py" in first
    env = calls[0][1]["env"]
    assert env[make.BUILD_ENV_FLAG] == "1" and env["OMP_NUM_THREADS"] and env["MKL_NUM_THREADS"]
    assert make.main(["no-such-command"]) == 2


def test_make_test_runs_the_page_tests_on_the_fresh_build(monkeypatch):
    make = _load_make()
    calls = []
    monkeypatch.setattr(make, "setup", lambda: None)
    monkeypatch.setattr(make, "stage_book", lambda: make.STAGE)
    monkeypatch.setattr(make, "build_html", lambda env=None: 0)
    monkeypatch.setattr(make, "ensure_chromium", lambda: "no apt-get here")
    monkeypatch.setattr(make, "run", lambda cmd, **kw: (calls.append((cmd, kw)), 0)[1])
    assert make.test() == 0
    last, kw = calls[-1]
    last = [str(c) for c in last]
    assert "tests/test_pages.py" in last and f"--book-html={make.HTML}" in last
    assert kw["env"]["HASHNOTES_NO_CHROMIUM"] == "no apt-get here"     # the page tests skip with this reason


def test_stage_config_turns_execution_off_and_keeps_the_book_config(tmp_path):
    import yaml

    make = _load_make()
    for assets in ("", "/abs/book/_assets_offline"):
        dst = tmp_path / "cfg.yml"
        subprocess.run([sys.executable, "-c", make._STAGE_CONFIG, str(ROOT / "_config.yml"), str(dst), assets],
                       check=True)
        base = yaml.safe_load((ROOT / "_config.yml").read_text())
        new = yaml.safe_load(dst.read_text())
        conf = new["sphinx"]["config"]
        assert new["execute"]["execute_notebooks"] == "off" and conf["nb_execution_mode"] == "off"
        for key in base["sphinx"]["config"]:
            if key != "html_static_path":
                assert conf[key] == base["sphinx"]["config"][key]
        for key in base:
            if key not in ("sphinx", "execute"):
                assert new[key] == base[key]
        if assets:
            assert conf["html_static_path"] == base["sphinx"]["config"]["html_static_path"] + [assets]
            assert conf["mathjax_path"] == "mathjax/es5/tex-mml-chtml.js"
            assert list(conf["nb_ipywidgets_js"]) == ["require.js", "hashnotes-widgets-paths.js",
                                                      "html-manager/dist/embed-amd.js"]
        else:
            assert "mathjax_path" not in conf and "nb_ipywidgets_js" not in conf
    base = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert base["only_build_toc_files"] is True and base["bibtex_bibfiles"] == ["book/references.bib"]
    assert base["execute"]["execute_notebooks"] == "force" and base["execute"]["allow_errors"] is False
    assert base["sphinx"]["config"]["nb_execution_raise_on_error"] is True
    assert (ROOT / base["sphinx"]["local_extensions"]["hashnotes_book"] / "hashnotes_book.py").exists()


def test_stage_copies_notebooks_not_sources(tmp_path, monkeypatch):
    make = _load_make()
    monkeypatch.setattr(make, "STAGE", tmp_path / "_stage")
    monkeypatch.setattr(make, "vendor_assets", lambda: False)
    monkeypatch.setattr(make, "check", lambda cmd, **kw: None)
    stage = make.stage_book()
    staged = {p.name for p in (stage / "book").iterdir()}
    for py in CHAPTERS:
        assert py.with_suffix(".ipynb").name in staged and py.name not in staged
    assert {"references.bib", "references.md", "_ext", "00_preface.md"} <= staged
    assert (stage / "_toc.yml").read_text() == (ROOT / "_toc.yml").read_text()
    assert "_build" not in stage.parts            # nbmake does not collect notebooks under a _build folder


# ----------------------------------------------------------------------------- plots and widgets
@pytest.fixture
def plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    yield plt
    plt.close("all")


def test_pr_and_radius_curves_draw_the_given_points(plt):
    from types import SimpleNamespace

    from hashnotes import plots

    curve = SimpleNamespace(radius=np.arange(4), precision=np.array([1.0, 0.8, 0.6, 0.5]),
                            recall=np.array([0.1, 0.4, 0.8, 1.0]))
    ax = plots.pr_curves({"a": curve})
    x, y = ax.lines[0].get_data()
    np.testing.assert_allclose(x, curve.recall)
    np.testing.assert_allclose(y, curve.precision)
    ax = plots.precision_radius_curve({"a": (curve.radius, curve.precision)})
    np.testing.assert_allclose(ax.lines[0].get_data()[0], curve.radius)
    with pytest.raises(ValueError, match="curves"):
        plots.pr_curves({})
    with pytest.raises(ValueError, match="differ"):
        plots.pr_curves({"a": {"recall": [0, 1], "precision": [1.0]}})


def test_training_curves_one_panel_per_loss_term_plus_validation(plt):
    from hashnotes import plots

    hist = [{"epoch": e, "loss/likelihood": 10.0 - e, "loss/quantization": 1.0 / (e + 1),
             "val_map_i2t": 0.5 + e / 100, "val_map_t2i": 0.6} for e in range(4)]
    fig = plots.training_curves(hist)
    visible = [a for a in fig.axes if a.get_visible()]
    assert [a.get_title() for a in visible] == ["likelihood", "quantization", "validation mAP"]
    np.testing.assert_allclose(visible[0].lines[0].get_data()[1], [10, 9, 8, 7])
    assert len(visible[2].lines) == 2
    fig = plots.training_curves([{"epoch": 0, "loss/a": 1.0}])
    assert len([a for a in fig.axes if a.get_visible()]) == 1
    with pytest.raises(ValueError, match="history"):
        plots.training_curves([])
    with pytest.raises(ValueError, match="keys"):
        plots.training_curves(hist, keys=["loss/nope"])


def test_image_grids_accept_chw_and_check_lengths(plt):
    from hashnotes import plots

    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, size=(5, 3, 8, 10), dtype=np.uint8)
    fig = plots.show_pairs(imgs, [f"tag{i}" for i in range(5)], [f"label{i}" for i in range(5)], ncols=3)
    shown = fig.axes[0].images[0].get_array()
    np.testing.assert_array_equal(np.asarray(shown), imgs[0].transpose(1, 2, 0))
    fig = plots.retrieval_gallery("q", imgs, np.array([1, 0, 1, 1, 0], bool), titles=list("abcde"))
    assert fig.axes[1].spines["top"].get_edgecolor()[:3] == pytest.approx((0.839, 0.153, 0.157), abs=1e-2)
    with pytest.raises(ValueError, match="captions"):
        plots.show_pairs(imgs, ["x"])
    with pytest.raises(ValueError, match="relevant"):
        plots.retrieval_gallery("q", imgs, np.ones(4, bool))
    with pytest.raises(ValueError, match="images"):
        plots.show_pairs(np.zeros((2, 2), np.uint8), ["a", "b"])


def test_hamming_histogram_counts(plt):
    from hashnotes import plots

    d = np.array([[0, 1, 1], [2, 4, 4]])
    rel = np.array([[1, 1, 0], [0, 0, 1]], bool)
    ax = plots.hamming_histogram(d, rel, bits=4)
    assert [p.get_height() for p in ax.containers[0]] == [1, 1, 0, 0, 1]  # relevant
    assert [p.get_height() for p in ax.containers[1]] == [0, 1, 1, 0, 1]  # irrelevant
    ax = plots.hamming_histogram(d, bits=4)
    assert [p.get_height() for p in ax.patches] == [1, 2, 1, 0, 2]
    with pytest.raises(ValueError, match="bits"):
        plots.hamming_histogram(d, bits=3)
    with pytest.raises(ValueError, match="integer"):
        plots.hamming_histogram(np.array([0.5]))


def test_sweep_and_heatmap(plt):
    from hashnotes import plots

    ax = plots.sweep_curve([16, 32, 64], {"I→T": [0.5, 0.6, 0.65]})
    np.testing.assert_allclose(ax.lines[0].get_data()[1], [0.5, 0.6, 0.65])
    with pytest.raises(ValueError, match="series"):
        plots.sweep_curve([16, 32], {"a": [1.0]})
    ax = plots.heatmap(np.eye(3), list("abc"), list("xyz"))
    np.testing.assert_array_equal(np.asarray(ax.images[0].get_array()), np.eye(3))
    with pytest.raises(ValueError, match="row_labels"):
        plots.heatmap(np.eye(3), list("ab"))


def test_retrain_panel_runs_nothing_until_clicked():
    from hashnotes import widgets

    calls = []

    def run(gamma, bits):
        calls.append((gamma, bits))

    panel = widgets.retrain_panel(run, gamma=widgets.gamma_slider(0.1), bits=widgets.bits_dropdown(16))
    assert calls == []
    button = [c for c in panel.children if type(c).__name__ == "Button"][0]
    button.click()
    assert calls == [(pytest.approx(0.1), 16)]
    with pytest.raises(ValueError, match="sliders"):
        widgets.retrain_panel(run, eta=widgets.eta_slider())
    with pytest.raises(ValueError, match="run"):
        widgets.retrain_panel(42, bits=widgets.bits_dropdown())
    with pytest.raises(ValueError, match="value"):
        widgets.bits_dropdown(48)
    with pytest.raises(ValueError, match="value"):
        widgets.log_slider("g", 1e5)
    with pytest.raises(ValueError, match="value"):
        widgets.float_slider("p", 2.0, 0.0, 1.0)
    assert widgets.float_slider("p", 0.5, 0.0, 1.0).value == 0.5


def test_sync_cell_ids_are_content_derived_and_unique(tmp_path):
    import json

    make = _load_make()
    cells = [{"cell_type": "code", "id": f"rand{i}", "metadata": {}, "source": src, "outputs": [],
              "execution_count": None} for i, src in enumerate(["x = 1", "x = 1", "y = 2"])]
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    make._stable_cell_ids(path)
    first = path.read_text()
    ids = [c["id"] for c in json.loads(first)["cells"]]
    assert len(set(ids)) == 3 and ids[1] == ids[0] + "-1"
    make._stable_cell_ids(path)
    assert path.read_text() == first
    cells[2]["source"] = "y = 3"
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    make._stable_cell_ids(path)
    new_ids = [c["id"] for c in json.loads(path.read_text())["cells"]]
    assert new_ids[:2] == ids[:2] and new_ids[2] != ids[2]


def test_make_book_executes_once_then_builds_with_warnings_as_errors(monkeypatch):
    make = _load_make()
    calls = []
    monkeypatch.setattr(make, "setup", lambda: None)
    monkeypatch.setattr(make, "stage_book", lambda: make.STAGE)
    for exec_rc, build_rc, expected in ((0, 0, 0), (0, 1, 1), (3, 0, 3)):
        calls.clear()
        monkeypatch.setattr(make, "run", lambda cmd, **kw: (calls.append(cmd), exec_rc if "pytest" in map(str, cmd)
                                                             else build_rc)[1])
        assert make.book() == expected
    make_calls = []
    monkeypatch.setattr(make, "run", lambda cmd, **kw: (make_calls.append([str(c) for c in cmd]), 0)[1])
    assert make.book() == 0
    execute, build = make_calls
    assert "--nbmake" in execute and "--overwrite" in execute and execute[-1] == str(make.STAGE / "book")
    assert build[0].endswith("jupyter-book") and build[1:3] == ["build", str(make.STAGE)]
    assert {"-W", "-n", "--keep-going"} <= set(build) and "--path-output" in build


def test_glue_records_plain_values_and_live_follows_the_build_flag(monkeypatch):
    import myst_nb

    from hashnotes import widgets

    got = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=True: got.update({name: (value, display)}))
    assert widgets.glue("ratio", np.float64(0.25)) is None           # nothing to display at the end of a cell
    assert widgets.glue("n", np.int64(20_015)) is None
    widgets.glue("leader", "CCA")
    assert got["ratio"] == (0.25, False) and type(got["ratio"][0]) is float       # not "np.float64(0.25)"
    assert type(got["n"][0]) is int
    assert repr(got["leader"][0]) == "CCA" and got["leader"][0]._repr_markdown_() == "CCA"   # no quotes
    with pytest.raises(ValueError, match="name"):
        widgets.glue("not a name", 1)
    monkeypatch.setenv(widgets.BUILD_ENV_FLAG, "1")
    assert widgets.live() is False
    monkeypatch.delenv(widgets.BUILD_ENV_FLAG)
    assert widgets.live() is True
    make = _load_make()
    assert make.BUILD_ENV_FLAG == widgets.BUILD_ENV_FLAG


def test_retrain_panel_shows_the_live_kernel_note_first(monkeypatch):
    import IPython.display

    from hashnotes import widgets

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda *objs, **kw: shown.extend(objs))
    widgets.retrain_panel(lambda bits: None, static="Figure 9.9 shows it.", bits=widgets.bits_dropdown(16))
    html = shown[0]._repr_html_()                       # displayed before the panel itself
    assert 'class="hn-live-note"' in html and "live kernel" in html and "Figure 9.9 shows it." in html
    shown.clear()
    widgets.retrain_panel(lambda bits: None, bits=widgets.bits_dropdown(16))
    notes = [o._repr_html_() for o in shown if hasattr(o, "_repr_html_")]
    assert len(notes) == 1 and "computed by the same code" in notes[0]


def test_table_renders_html_and_aligned_text():
    from hashnotes import plots

    t = plots.table([["DCMH", 20_015, 0.71234], ["CCA", 3, float("nan")]], ["method", "pairs", "mAP"])
    html = t._repr_html_()
    assert html.startswith("<table") and "<th" in html and "20,015" in html and "0.7123" in html and "|---" not in html
    assert "1e+04" not in repr(t) and repr(t).splitlines()[1].split() == ["DCMH", "20,015", "0.7123"]
    assert plots.table([[1.5]], ["x"], formats={"x": ".1f"}).cells == [["1.5"]]
    assert plots.table([["<b>"]], ["x"])._repr_html_().count("&lt;b&gt;") == 1       # escaped
    with pytest.raises(ValueError, match="rows"):
        plots.table([[1, 2]], ["a"])
    with pytest.raises(ValueError, match="formats"):
        plots.table([[1]], ["a"], formats={"b": ".2f"})
