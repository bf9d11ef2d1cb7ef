"""tools/colab.py: every chapter converts to plain Markdown and LaTeX with no MyST syntax left; glued values come
from the executed build; citations, cross-references and the install cell are what a Colab reader can use."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import colab  # noqa: E402

CHAPTERS = colab.chapter_notebooks()


def _stand_in_values(nb: dict) -> dict:
    """A value for every glue role of a notebook, of the type its format asks for (no executed build needed)."""
    values = {}
    for cell in nb["cells"]:
        for kind, text in re.findall(r"\{(glue:text|glue:md|glue)\}`([^`]*)`", colab._src(cell)):
            name, _, fmt = text.partition(":")
            plain = "1234" if fmt.endswith(("d", ",")) else "0.5" if fmt else "'word'"
            if name not in values or values[name]["text/plain"] == "'word'":   # a number when any role formats it
                values[name] = {"text/plain": plain, "text/markdown": "*word*"}
    return values


@pytest.fixture(scope="module")
def index():
    idx = colab.BookIndex()
    for path in CHAPTERS:
        idx.glue[path.stem] = _stand_in_values(json.loads(path.read_text(encoding="utf-8")))
    return idx


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_converts_with_no_myst_left(chapter, index):
    nb = colab.convert(json.loads(chapter.read_text(encoding="utf-8")), index, chapter.stem)
    assert colab.myst_leftovers(nb) == []
    md = "\n".join(colab._src(c) for c in nb["cells"] if c["cell_type"] == "markdown")
    assert md.count("<details") == md.count("</details>")
    code = [colab._src(c) for c in nb["cells"] if c["cell_type"] == "code"]
    assert code[0].startswith("# Installs hashnotes") and not any(colab.make.SETUP_MARKER in c for c in code)
    assert all(not (c.get("metadata") or {}).get("mystnb") for c in nb["cells"])


def test_references_citations_and_admonitions_become_links_and_details(index):
    page = "04_dcmh"
    conv = lambda s: colab.convert_markdown(s, index, page)  # noqa: E731
    url = index.cfg["book_url"]
    assert conv("as {cite}`jiang2017dcmh` showed") == f"as ([Jiang and Li, 2017]({url}book/references.html)) showed"
    assert conv("{cite:t}`jiang2017dcmh`") == f"[Jiang and Li (2017)]({url}book/references.html)"
    assert re.fullmatch(r"see \[Data: pictures, tags and protocol splits\]\(\S+/book/03_data\.html\)",
                        conv("see {doc}`03_data`"))
    assert re.fullmatch(r"eq\. \[\(4\.1\)\]\(\S+/book/04_dcmh\.html#equation-eq-dcmh-lik\)",
                        conv("eq. {eq}`eq-dcmh-lik`"))
    first_fig = next(n for n, (stem, _) in index.figures.items() if stem == "03_data")
    assert f"[Fig. 3.1]({url}book/03_data.html#{first_fig})" == conv(f"{{numref}}`{first_fig}`")
    assert "#dec-layout)" in conv("{ref}`dec-layout`")
    box = conv(":::{admonition} Two signs\n:class: warning\nText $x$.\n:::")
    assert box.startswith("<details open>\n<summary><b>Two signs</b></summary>") and box.endswith("</details>")
    assert conv(":::{dropdown} Solution\nIt is.\n:::").startswith("<details>\n<summary><b>Solution</b></summary>")
    assert conv("$$\nx\n$$ (eq-dcmh-lik)") == "$$\nx\n\\tag{4.1}\n$$"
    with pytest.raises(colab.ConversionError, match="unknown label"):
        conv("{ref}`no-such-label`")


def test_glued_values_are_formatted_as_the_role_says(index):
    idx = colab.BookIndex()
    idx.glue["x"] = {"m": {"text/plain": "0.123456"}, "n": {"text/plain": "20015"},
                     "w": {"text/plain": "sky", "text/markdown": "*sky*"}}
    assert colab.convert_markdown("{glue:text}`m:.3f`, {glue:text}`n:,`, {glue:text}`m:.0%`, {glue:md}`w`",
                                  idx, "x") == "0.123, 20,015, 12%, *sky*"
    with pytest.raises(colab.ConversionError, match="glued no such value"):
        colab.convert_markdown("{glue:text}`missing`", idx, "x")


PLANTED = {"role": "a {eq}`x` left", "fence": ":::{note}\nx\n:::", "label": "(sec-x)=\n# T",
           "directive": "```{figure} x.png\n```", "equation-label": "$$\nx\n$$ (eq-x)", "option": ":class: tip"}


@pytest.mark.parametrize("what", sorted(PLANTED))
def test_the_leftover_check_finds_planted_myst(what):
    nb = {"cells": [{"cell_type": "markdown", "source": PLANTED[what]}]}
    assert colab.myst_leftovers(nb), f"missed {what}"
    assert colab.myst_leftovers({"cells": [{"cell_type": "markdown", "source": "plain $x$ and `code`"}]}) == []


def test_one_setting_pins_the_install(index):
    cfg = colab.settings(ref="0123abc")
    cell = colab.install_cell(cfg)
    assert f'HASHNOTES_VERSION = "{cfg["version"]}"' in cell
    assert f'"hashnotes @ git+{cfg["repository"]}@0123abc"' in cell and "--force-reinstall" in cell
    assert cfg["version"] == colab.make.package_version() and "restart the runtime" in cell
    compile(cell, "install", "exec")


def _executed():
    stage = ROOT / "_stage" / "book"
    nbs = [p for p in sorted(stage.glob("[0-9][0-9]_*.ipynb")) if colab.glued(json.loads(p.read_text()))]
    return nbs or [pytest.param(None, marks=pytest.mark.skip(
        reason="no executed build in _stage/book (python3 make.py book executes the chapters there)"))]


@pytest.mark.parametrize("executed", _executed(), ids=lambda p: getattr(p, "stem", "none"))
def test_a_chapter_of_the_executed_build_carries_its_values(executed):
    idx = colab.BookIndex(executed=executed.parent)
    nb = colab.convert(json.loads((ROOT / "book" / executed.name).read_text()), idx, executed.stem)
    assert colab.myst_leftovers(nb) == []
    md = "\n".join(colab._src(c) for c in nb["cells"] if c["cell_type"] == "markdown")
    assert not re.search(r"\bnan\b|\bNone\b", md)


@pytest.mark.slow
def test_a_converted_chapter_runs_under_nbmake_in_a_fresh_environment_from_the_wheel(tmp_path, index):
    """The wheel in a fresh virtual environment (heavy dependencies borrowed from this one by a path entry, as
    tests/test_wheel.py does); chapter 1 converted for Colab executes there under nbmake, its install cell
    finding exactly the pinned version and installing nothing."""
    import subprocess
    import sysconfig
    import venv

    dist = tmp_path / "dist"
    r = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(ROOT)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    wheel = next(dist.glob("hashnotes-*.whl"))
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / ("Scripts" if sys.platform == "win32" else "bin") / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "_deps_from_test_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    r = subprocess.run([str(py), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    chapter = ROOT / "book" / "01_hamming_space.ipynb"
    nb = colab.convert(json.loads(chapter.read_text(encoding="utf-8")), index, chapter.stem)
    work = tmp_path / "run"
    work.mkdir()
    (work / chapter.name).write_text(json.dumps(nb), encoding="utf-8")
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(OMP_NUM_THREADS="1", PATH=f"{py.parent}:{env.get('PATH', '')}")
    r = subprocess.run([str(py), "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbmake", "--nbmake-timeout=600",
                        "--overwrite", chapter.name], cwd=work, env=env, capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    ran = json.loads((work / chapter.name).read_text(encoding="utf-8"))
    first = next(c for c in ran["cells"] if c["cell_type"] == "code")
    shown = "".join("".join(o.get("text", "")) for o in first["outputs"])
    assert "installing hashnotes" not in shown and f"hashnotes {index.cfg['version']}" in shown
