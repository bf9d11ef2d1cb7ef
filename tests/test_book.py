"""The book's sources: .py/.ipynb pairs in sync and output-free, the toc globs, README vs make.py,
and the book helpers (hashnotes.plots, hashnotes.widgets)."""
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
CHAPTERS = sorted(BOOK.glob("[0-9][0-9]_*.py"))


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


@pytest.mark.parametrize("py", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_pair_in_sync_and_clean(py):
    import jupytext

    nb_path = py.with_suffix(".ipynb")
    assert nb_path.exists(), f"{nb_path.name} missing: run `python3 make.py sync`"
    from_py = jupytext.read(py)
    from_nb = jupytext.read(nb_path)
    cells_py = [(c.cell_type, c.source) for c in from_py.cells]
    cells_nb = [(c.cell_type, c.source) for c in from_nb.cells]
    assert cells_py == cells_nb, f"{py.name} and {nb_path.name} differ: run `python3 make.py sync`"
    for i, cell in enumerate(from_nb.cells):
        if cell.cell_type == "code":
            assert cell.get("outputs", []) == [], f"{nb_path.name} cell {i} has outputs"
            assert cell.get("execution_count") is None, f"{nb_path.name} cell {i} has an execution count"
    for nb in (from_py, from_nb):
        assert nb.metadata["kernelspec"]["name"] == "python3"
    header = py.read_text().split("# ---", 2)[1]
    assert "format_name: percent" in header and "name: python3" in header


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
    for name in ("book/00_preface", "book/references", "book/4_x", "book/_assets_offline/x", "hashnotes/x"):
        assert not any(patmatch(name, g) for g in globs), name
    for name in ("book/04_dcmh", "book/09_x", "book/10_x", "book/19_x", "book/02_evaluation"):
        assert sum(bool(patmatch(name, g)) for g in globs) == 1, name


def test_readme_states_exactly_the_two_commands():
    make = _load_make()
    text = (ROOT / "README.md").read_text()
    found = re.findall(r"python3? make\.py\s+\S+", text)
    assert found, "README.md names no make.py command"
    assert set(found) == set(make.README_COMMANDS), found
    assert make.README_COMMANDS == ("python3 make.py book", "python3 make.py test")
    for cmd in make.README_COMMANDS:
        assert cmd.split()[-1] in make.COMMANDS


def test_make_test_runs_one_pytest_call_and_fails_on_no_tests(monkeypatch):
    make = _load_make()
    calls = []
    monkeypatch.setattr(make, "setup", lambda: None)
    for rc, expected in ((0, 0), (1, 1), (5, 1)):
        monkeypatch.setattr(make, "run", lambda cmd, **kw: (calls.append(cmd), rc)[1])
        assert make.test() == expected
    cmd = [str(c) for c in calls[0]]
    assert cmd[1:4] == ["-m", "pytest", "-n"] and "--nbmake" in cmd
    assert cmd[-2:] == ["tests", "book"]
    assert make.main(["no-such-command"]) == 2


def test_make_offline_config_keeps_the_book_config(tmp_path):
    import yaml

    make = _load_make()
    dst = tmp_path / "cfg.yml"
    subprocess.run([sys.executable, "-c", make._OFFLINE_CONFIG, str(ROOT / "_config.yml"), str(dst),
                    "book/_assets_offline"], check=True)
    base = yaml.safe_load((ROOT / "_config.yml").read_text())
    new = yaml.safe_load(dst.read_text())
    conf = new["sphinx"]["config"]
    assert conf["html_static_path"] == ["book/_assets_offline"]
    assert conf["mathjax_path"] == "mathjax/es5/tex-mml-chtml.js"
    assert set(conf["nb_ipywidgets_js"]) == {"require.js", "html-manager/dist/embed-amd.js"}
    for key in base["sphinx"]["config"]:
        assert conf[key] == base["sphinx"]["config"][key]
    for key in base:
        if key != "sphinx":
            assert new[key] == base[key]
    assert base["only_build_toc_files"] is True
    assert base["execute"]["execute_notebooks"] == "force" and base["execute"]["allow_errors"] is False
    assert base["sphinx"]["config"]["nb_execution_raise_on_error"] is True


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


def test_make_book_builds_with_warnings_as_errors(monkeypatch):
    make = _load_make()
    calls = []
    monkeypatch.setattr(make, "setup", lambda: None)
    monkeypatch.setattr(make, "check", lambda cmd, **kw: calls.append(("check", cmd)))
    monkeypatch.setattr(make, "run", lambda cmd, **kw: (calls.append(("run", cmd)), 1)[1])
    for vendored in (False, True):
        calls.clear()
        monkeypatch.setattr(make, "vendor_assets", lambda: vendored)
        assert make.book() == 1                      # the build's exit code is propagated
        build = [c for kind, c in calls if kind == "run"][0]
        args = [str(a) for a in build]
        assert args[0].endswith("jupyter-book") and args[1:3] == ["build", "."]
        assert {"-W", "-n", "--keep-going"} <= set(args)
        assert ("--config" in args) == vendored
        assert any(kind == "check" for kind, _ in calls) == vendored
