"""The built book as a reader sees it: every page opened in headless Chromium (tests/pagecheck.py).

``python3 make.py test`` builds the HTML first and runs this file with ``--book-html``; each page must show
no MathJax error, no display equation wider than the text column, no raw markdown table, no image that fails
to load, no console error, no reference to a file outside the book (and the other checks of
``pagecheck.PAGE_CHECKS``). A full-page screenshot of each page is saved as a test artefact.

The planted-defect tests take one real built page, plant one defect of each kind in a scratch copy of the site,
and require the same checker to report it, so a check that cannot fail is itself a failure. Without Chromium
(not installable here) everything skips with the reason.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

import pagecheck

ROOT = Path(__file__).resolve().parents[1]
BASE_PAGE = "book/01_hamming_space.html"   # a chapter with math, figures, a table and a widget panel


def _site_path(config) -> Path:
    opt = config.getoption("--book-html")
    return Path(opt) if opt else ROOT / "_build" / "html"


def pytest_generate_tests(metafunc):
    if "page" in metafunc.fixturenames:
        site = _site_path(metafunc.config)
        pages = pagecheck.book_pages(site) if (site / "book").is_dir() else []
        params = pages or [pytest.param(None, marks=pytest.mark.skip(
            reason=f"no built book in {site} (python3 make.py test builds it before running this file)"))]
        metafunc.parametrize("page", params)


@pytest.fixture(scope="session")
def site(request) -> Path:
    path = _site_path(request.config)
    if not (path / "book").is_dir():
        if request.config.getoption("--book-html"):
            pytest.fail(f"--book-html {path}: no built book there")
        pytest.skip(f"no built book in {path} (python3 make.py test builds it before running this file)")
    return path


@pytest.fixture(scope="session")
def browser():
    reason = os.environ.get("HASHNOTES_NO_CHROMIUM") or pagecheck.chromium_missing()
    if reason:
        pytest.skip(f"headless Chromium is not available: {reason}")
    with pagecheck.Browser() as b:
        yield b


@pytest.fixture(scope="session")
def served(site):
    with pagecheck.serve(site) as base:
        yield base


@pytest.fixture(scope="session")
def screenshots(request) -> Path:
    opt = request.config.getoption("--screenshots")
    return Path(opt) if opt else ROOT / "_build" / "screenshots"


def test_every_chapter_has_a_page(site):
    sources = sorted((ROOT / "book").glob("[0-9][0-9]_*.py")) + sorted((ROOT / "book").glob("A[0-9]_*.*"))
    missing = [p.name for p in sources if not (site / "book" / (p.stem + ".html")).exists()]
    assert not missing, f"no built page for {missing}"
    assert (site / "book" / "references.html").exists() and (site / "book" / "00_preface.html").exists()


def test_page(page, site, browser, served, screenshots):
    shot = screenshots / (Path(page).stem + ".png")
    report = browser.check(served + page, page, pagecheck.is_notebook_page(page), shot,
                           pagecheck.site_files(site), served)
    assert shot.exists() and shot.stat().st_size > 10_000, "no screenshot written"
    assert not report.problems, report.summary()


# ----------------------------------------------------------------------------- planted defects
def _after_title(html: str, snippet: str) -> str:
    """``snippet`` right after the page's title inside the article (the text column)."""
    i = html.index("</h1>", html.index('<article class="bd-article"')) + len("</h1>")
    return html[:i] + snippet + html[i:]


def _one_widget_view(html: str) -> str:
    m = re.search(r'<script type="application/vnd.jupyter.widget-view\+json">.*?</script>', html, re.S)
    assert m, "the base page has no widget"
    return m.group(0)


def _first_output_image(html: str) -> str:
    m = re.search(r'<img[^>]+src="(\.\./_images/[^"]+)"', html)
    assert m, "the base page has no output image"
    return m.group(1)


OUTPUT = '<div class="cell_output docutils container"><div class="output stream highlight-myst-ansi notranslate">' \
         '<div class="highlight"><pre><span></span>{}</pre></div></div></div>'

DEFECTS = {
    # name: (plant(html) -> html, the problem kind the checker must report)
    "math-input-error": (lambda h: _after_title(h, '<p>the projection <span class="math notranslate nohighlight">'
                                               '\\(\\mathbf W^\top(\\mathbf x - \bar{\\mathbf x})\\)</span> with a TAB'
                                               ' and a BACKSPACE where \\top and \\bar were meant</p>'),
                         "mathjax-error"),
    "raw-tex": (lambda h: _after_title(h, "<p>MathJax never saw this: \\(d_H = \\tfrac12(c - q^\\top r)\\)</p>"),
                "raw-tex"),
    # half a formula in a list item (a continuation line that began with "+ "), as chapter 1's Exercise 1 had
    "raw-tex-list-item": (lambda h: _after_title(h, "<p>so $d_H(q, s) le d_H(q, r)</p><ul><li><p>d_H(\\mathbf r,"
                                                  "\\mathbf s)$. Finally</p></li></ul>"), "raw-tex"),
    "wide-equation": (lambda h: _after_title(h, '<div class="math notranslate nohighlight">\\[' + " + ".join(
        f"\\frac{{x_{{{i}}}}}{{y_{{{i}}}}}" for i in range(40)) + '\\]</div>'), "wide-equation"),
    "raw-markdown-table": (lambda h: _after_title(h, OUTPUT.format("| method | mAP |\n|---|---|\n| DCMH | 0.7 |")),
                           "raw-markdown-table"),
    "broken-image": (lambda h: _after_title(h, '<p><img alt="a plot" src="../_images/no-such-figure.png"></p>'),
                     "broken-image"),
    "console-error": (lambda h: _after_title(h, "<script>window.notDefinedAnywhere();</script>"), "console-error"),
    "outside-reference-text": (lambda h: _after_title(h, "<p>As METHODS §1.3 and decision 11 say.</p>"),
                               "outside-reference"),
    "outside-reference-path": (lambda h: _after_title(h, OUTPUT.format("real data in /work/shared/data")),
                               "outside-reference"),
    "outside-reference-link": (lambda h: _after_title(h, '<p>see <a href="../../shared/notes.md">the notes</a></p>'),
                               "outside-reference"),
    "bare-repository-path": (lambda h: _after_title(h, "<p>The sweep is experiments/cauchy_sweep.py.</p>"),
                             "outside-reference"),
    "double-parentheses": (lambda h: _after_title(h, '<p>from (<a href="#equation-eq-sign">(1.1)</a>)</p>'),
                           "double-parentheses"),
    "progress-bar": (lambda h: _after_title(h, OUTPUT.format("timing scans: 100%|██████████| 3/3 [00:02&lt;00:00,"
                                                              " 1.4it/s]")), "progress-bar"),
    "stderr-output": (lambda h: _after_title(h, '<div class="output stderr"><pre>UserWarning: x</pre></div>'),
                      "stderr-output"),
    "duplicate-widget": (lambda h: h.replace(_one_widget_view(h), _one_widget_view(h) * 2, 1), "duplicate-widget"),
    "widget-without-note": (lambda h: re.sub(r'class="hn-live-note"', 'class="something-else"', h),
                            "widget-without-note"),
    "unlinked-chapter": (lambda h: _after_title(h, "<p>as chapter 3 shows</p>"), "unlinked-chapter"),
    "uncaptioned-figure": (lambda h: _after_title(h, '<div class="cell_output docutils container">'
                                                     f'<img alt="x" src="{_first_output_image(h)}"></div>'),
                           "uncaptioned-figure"),
    "no-colab-button": (lambda h: re.sub(r'https://colab\.research\.google\.com/github/', 'https://example.org/', h),
                        "no-colab-button"),
}


@pytest.fixture(scope="session")
def scratch_site(site, tmp_path_factory):
    """A scratch copy of the built site (the real one is never changed)."""
    dst = tmp_path_factory.mktemp("planted") / "html"
    shutil.copytree(site, dst)
    return dst


@pytest.fixture(scope="session")
def served_scratch(scratch_site):
    with pagecheck.serve(scratch_site) as base:
        yield base


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_checker_reports_a_planted_defect(defect, scratch_site, browser, served_scratch):
    plant, kind = DEFECTS[defect]
    base = (scratch_site / BASE_PAGE).read_text(encoding="utf-8")
    planted = plant(base)
    assert planted != base, f"planting {defect} changed nothing"
    name = f"book/planted-{defect}.html"
    (scratch_site / name).write_text(planted, encoding="utf-8")
    report = browser.check(served_scratch + name, name, True, None, pagecheck.site_files(scratch_site),
                           served_scratch)
    assert kind in report.kinds(), f"the checker missed a planted {defect}:\n{report.summary()}"


# ----------------------------------------------------------------------------- figures and code cells (HTML alone)
def test_figures_have_captions_and_code_cells_fit_the_column(page, site):
    """Every figure on the page has a numbered caption; no code line is wider than the column (88 columns)."""
    problems = pagecheck.figure_and_code_problems((site / page).read_text(encoding="utf-8"))
    captions = [(k, d) for k, d in problems if k != "wide-code-cell"]
    assert not captions, f"{page}:\n" + "\n".join(f"  [{k}] {d}" for k, d in captions)
    wide = [d for k, d in problems if k == "wide-code-cell"]
    if wide:
        # KNOWN OPEN: the chapters' code cells are not yet formatted to 88 columns. Reported as an expected
        # failure (an "x" in the summary, with the count), never as a pass; a page whose cells fit passes.
        pytest.xfail(f"{page}: {len(wide)} code line(s) wider than 88 columns, first: {wide[0]}")


_CODE = '<div class="cell_input docutils container"><div class="highlight"><pre><span></span>{}</pre></div></div>'
_CAPTIONED = ('<figure class="align-default" id="fig-x"><div class="cell_output docutils container">'
              '<img alt="plot" src="../_images/x.png"></div><figcaption><p><span class="caption-number">'
              'Fig. 4.1 </span><span class="caption-text">What the plot shows.</span></p></figcaption></figure>')
STATIC_DEFECTS = {
    # name: (planted HTML, the problem kind the checker must report)
    "image-in-prose-without-caption": ('<p><img alt="a diagram" src="../_images/d.png"></p>', "uncaptioned-figure"),
    "output-image-without-caption": ('<div class="cell_output docutils container"><img alt="p" src="p.png"></div>',
                                     "uncaptioned-figure"),
    "output-svg-without-caption": ('<div class="cell_output docutils container"><svg width="10"></svg></div>',
                                   "uncaptioned-figure"),
    "caption-without-number": ('<figure><img alt="p" src="p.png"><figcaption><p>Words.</p></figcaption></figure>',
                               "uncaptioned-figure"),
    "empty-caption": (_CAPTIONED.replace("What the plot shows.", "").replace("Fig. 4.1 ", ""),
                      "uncaptioned-figure"),
    "wide-code-line": (_CODE.format("x = 1\n" + "y = " + "+".join(["1"] * 43) + "\n"), "wide-code-cell"),
}


def _page(body: str) -> str:
    return f'<html><body><nav><img src="logo.png"></nav><article class="bd-article">{body}</article></body></html>'


@pytest.mark.parametrize("defect", sorted(STATIC_DEFECTS))
def test_figure_and_code_check_reports_a_planted_defect(defect):
    planted, kind = STATIC_DEFECTS[defect]
    clean = _page(_CAPTIONED + _CODE.format("x = 1\n" + "y = " + "+".join(["1"] * 42) + "\n"))  # 87 columns
    assert pagecheck.figure_and_code_problems(clean) == []     # a captioned figure and narrow code pass
    found = pagecheck.figure_and_code_problems(_page(_CAPTIONED + planted))
    assert kind in {k for k, _ in found}, f"the checker missed a planted {defect}: {found}"


# ----------------------------------------------------------------------------- Markdown sources (no build needed)
def _sources():
    return sorted((ROOT / "book").glob("[0-9][0-9]_*.py")) + sorted((ROOT / "book").glob("A[0-9]_*.py")) + \
        sorted((ROOT / "book").glob("*.md"))


@pytest.mark.parametrize("source", _sources(), ids=lambda p: p.name)
def test_no_formula_is_cut_by_a_markdown_block(source):
    """No line inside an inline formula starts a list item, heading or quote (the TeX would show as text)."""
    problems = [p for cell in pagecheck.chapter_markdown(source) for p in pagecheck.markdown_math_problems(cell)]
    assert not problems, f"{source.name}:\n" + "\n".join(f"  [{k}] {d}" for k, d in problems)


MARKDOWN_DEFECTS = {
    # appendix A1's "Loss scale and weight decay" had this: a continuation line starting with "+ "
    "plus-list-item": "loss $\\frac{1}{nb}\\big[\\text{NLL} + \\gamma\\,q\n+ \\eta\\,b\\big]$, with",
    "minus-list-item": "so $a \\le b\n- c$ holds",
    "numbered-item": "the sum $x_1 + \\dots\n2. x_2$ here",
    "heading": "where $x\n# y$ is",
}


@pytest.mark.parametrize("defect", sorted(MARKDOWN_DEFECTS))
def test_the_source_check_reports_a_planted_cut_formula(defect):
    clean = "a formula $a + b$ and\n+ a real list item, $c$\n\n$$\nx\n+ y\n$$\n"
    assert pagecheck.markdown_math_problems(clean) == []
    found = pagecheck.markdown_math_problems(MARKDOWN_DEFECTS[defect])
    assert "math-broken-by-markdown" in {k for k, _ in found}, f"missed {defect}: {found}"


# ----------------------------------------------------------------------------- figures a reader cannot read
def _planted_figures():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    def ticks():      # Fig 8.5's defect: long category names on a narrow axis
        fig, ax = plt.subplots(figsize=(3, 2))
        ax.bar(range(12), range(12))
        ax.set_xticks(range(12), [f"configuration {i}" for i in range(12)])
        return fig

    def legend():     # Figs 9.1/9.2's defect: the legend box sits on a curve
        fig, ax = plt.subplots(figsize=(4, 3))
        x = np.linspace(0, 1, 50)
        ax.plot(x, np.full_like(x, 0.95), label="DCMH")
        ax.plot(x, 0.5 * x, label="TDH")
        ax.set_ylim(0, 1)
        ax.legend(loc="upper left")
        return fig

    def hidden():     # Fig 2.1's defect: two scores that nearly coincide drawn alike
        fig, ax = plt.subplots(figsize=(4, 3))
        ax.plot([16, 32, 64], [0.50, 0.55, 0.60], "o-", label="mAP (stable)")
        ax.plot([16, 32, 64], [0.50, 0.55, 0.6003], "o-", label="mAP (tie-averaged)")
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1))
        return fig

    def clean():
        fig, ax = plt.subplots(figsize=(5, 3))
        ax.plot([16, 32, 64], [0.50, 0.55, 0.60], "o-", label="mAP (stable)")
        ax.plot([16, 32, 64], [0.50, 0.55, 0.6003], "s--", mfc="none", label="mAP (tie-averaged)")
        ax.set_xticks([16, 32, 64], ["16", "32", "64"])
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1))
        return fig

    return {"tick-overlap": ticks, "legend-over-data": legend, "hidden-line": hidden}, clean


@pytest.mark.parametrize("kind", ["tick-overlap", "legend-over-data", "hidden-line"])
def test_the_figure_check_reports_a_planted_defect(kind):
    import matplotlib.pyplot as plt

    from hashnotes import figcheck

    planted, clean = _planted_figures()
    try:
        assert figcheck.figure_problems(clean()) == []
        found = figcheck.figure_problems(planted[kind]())
        assert kind in {k for k, _ in found}, f"missed a planted {kind}: {found}"
    finally:
        plt.close("all")


def test_an_installed_figure_check_stops_show():
    import matplotlib.pyplot as plt

    from hashnotes import figcheck

    planted, _ = _planted_figures()
    original = plt.show
    try:
        figcheck.install()
        planted["hidden-line"]()
        with pytest.raises(figcheck.FigureProblem, match="hidden"):
            plt.show()
    finally:
        plt.show = original
        plt.close("all")
