"""Open built book pages in headless Chromium and report what a reader would see wrong.

Used by tests/test_pages.py (every built page, and planted defects on scratch copies) and by hand::

    .venv/bin/python tests/pagecheck.py _build/html [page.html ...]

A page is loaded over HTTP from a local server (as a reader's browser loads it), at 1280 px wide, after
MathJax has typeset and the widget manager has drawn the saved widgets. ``PAGE_CHECKS`` (JavaScript run in
the page) returns the problems found in the DOM; the browser's console log adds every error and failed
request. Nothing here changes a page.
"""
from __future__ import annotations

import base64
import contextlib
import functools
import http.server
import json
import re
import shutil
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

WIDTH, HEIGHT = 1280, 900

# Text that points a reader at something outside the book (project-internal notes, other machines' paths).
OUTSIDE_PATTERNS = [
    (r"\bMETHODS(\.md)?\s*(§|section|\d)", "a reference to the project's method notes"),
    (r"\bMETHODS\.md\b|\bDESIGN\.md\b|\bARCHITECTURE\.md\b", "a reference to a repository document"),
    (r"\bseed (note|eq|eqs|equation)", "a reference to a source note outside the book"),
    (r"\bdecisions? \d+", "a numbered decision outside the book (cite the appendix by label)"),
    (r"\bissue (note|#?\d+)\b|\bthe issue's\b", "a reference to an issue tracker note"),
    (r"\.\./shared|\bshared/data\b", "a path outside the repository"),
    (r"(?<![\w.:/])/(?:work|home|root|tmp|usr|opt|mnt|Users|var|srv)/[\w.+-]+", "an absolute path of the build machine"),
    (r"site-packages", "a path of the build machine's Python"),
    (r"\b(?:experiments|benchmarks|tests|hashnotes|book)/[\w./-]*\.(?:py|md|ipynb|yml|bib|csv)\b",
     "a bare repository path (link it to the repository instead)"),
]

PAGE_CHECKS = r"""
const done = arguments[arguments.length - 1];
const opts = arguments[0];
const problems = [];
const add = (kind, detail) => problems.push({kind, detail: String(detail).slice(0, 300)});
const article = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
const skipSel = 'script, style, .cell_input, mjx-container, .MathJax, pre.literal-block, nav, .headerlink';
function textNodes(root, skipSelector) {
  const out = [];
  const w = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  let n;
  while ((n = w.nextNode())) {
    const el = n.parentElement;
    if (!el || (skipSelector && el.closest(skipSelector))) continue;
    if (n.nodeValue.trim()) out.push(n);
  }
  return out;
}
async function settle() {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    try { await MathJax.startup.promise; } catch (e) { add('mathjax', 'MathJax startup failed: ' + e); }
  }
  const views = Array.from(document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]'));
  const t0 = Date.now();
  while (views.length && Date.now() - t0 < opts.widget_wait_ms) {
    const pending = views.filter(s => !(s.parentElement && s.parentElement.querySelector('.jupyter-widgets, .widget-box, .widget-interact, .lm-Widget')));
    if (!pending.length) break;
    await new Promise(r => setTimeout(r, 200));
  }
  await new Promise(r => setTimeout(r, 300));
}
settle().then(() => {
  // 1. MathJax: errors, and TeX that was never typeset
  document.querySelectorAll('mjx-merror').forEach(e => add('mathjax-error', (e.getAttribute('data-mjx-error') || e.textContent)));
  const hasMath = document.querySelector('div.math, span.math') !== null;
  if (hasMath && !(window.MathJax && MathJax.startup && document.querySelector('mjx-container'))) add('mathjax-missing', 'the page has math but MathJax did not typeset it');
  for (const n of textNodes(article, 'script, style, .cell_input, .cell_output, pre, code, mjx-container')) {
    // delimiters MathJax never saw, or TeX commands left in the text (e.g. half of an inline formula that a
    // line starting with "+ " turned into a list item)
    if (/\\\(|\\\[|\$\$|\\begin\{/.test(n.nodeValue) || /\\(mathbf|mathrm|mathcal|mathbb|operatorname|t?frac|text|big[lr]?|le|ge|ne|cdot|sum|prod|sqrt|left|right|alpha|beta|gamma|eta|sigma|theta|lambda|top)(?![A-Za-z])/.test(n.nodeValue)) add('raw-tex', n.nodeValue.trim());
  }
  // 2. display equations wider than the text column (or running into their number)
  const col = article.getBoundingClientRect();
  const cs = getComputedStyle(article);
  const colLeft = col.left + parseFloat(cs.paddingLeft), colRight = col.right - parseFloat(cs.paddingRight);
  document.querySelectorAll('mjx-container[display="true"]').forEach(c => {
    const m = c.querySelector('mjx-math') || c;
    const r = m.getBoundingClientRect();
    const box = c.closest('div.math') || c;
    const label = (box.id || '') + ' ' + ((box.querySelector('.eqno') || {}).textContent || '');
    if (r.right > colRight + 1 || r.left < colLeft - 1 || r.width > c.clientWidth + 1) {
      add('wide-equation', `${label.trim() || 'equation'}: ${Math.round(r.width)} px wide, column ${Math.round(colRight - colLeft)} px`);
      return;
    }
    const eqno = box.querySelector('.eqno');
    if (eqno) {
      const e = eqno.getBoundingClientRect();
      const overlap = r.right > e.left + 1 && r.left < e.right - 1 && r.bottom > e.top + 1 && r.top < e.bottom - 1;
      if (overlap) add('wide-equation', `${label.trim()}: the equation runs into its number`);
    }
  });
  // 3. raw markdown (tables, emphasis) printed as text, in prose or in outputs
  for (const n of textNodes(article, 'script, style, .cell_input')) {
    for (const line of n.nodeValue.split('\n')) {
      if (/^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)+\|?\s*$/.test(line)) { add('raw-markdown-table', line.trim()); break; }
    }
  }
  // 4. images that do not load; figures without a numbered caption
  document.querySelectorAll('img').forEach(img => {
    if (!img.complete || img.naturalWidth === 0) add('broken-image', img.getAttribute('src'));
  });
  article.querySelectorAll('.cell_output img').forEach(img => {
    const fig = img.closest('figure');
    const cap = fig && fig.querySelector('figcaption');
    if (!cap || !cap.textContent.trim()) add('uncaptioned-figure', 'a figure without a caption in the output of a code cell');
    else if (!cap.querySelector('.caption-number')) add('uncaptioned-figure', 'a figure caption without a number: ' + cap.textContent.trim());
  });
  // 5. references a reader cannot follow
  const here = location.href;
  article.querySelectorAll('a[href]').forEach(a => {
    const href = a.getAttribute('href');
    if (/^(https?:|mailto:|#|javascript:)/.test(href)) return;
    opts.links.push(new URL(href, here).href);
  });
  const outside = opts.outside.map(([p, why]) => [new RegExp(p, 'i'), why]);
  for (const n of textNodes(article, 'script, style, .cell_input, a')) {
    for (const [re, why] of outside) {
      const m = n.nodeValue.match(re);
      if (m) add('outside-reference', `${why}: "${m[0]}" in "${n.nodeValue.trim().slice(0, 120)}"`);
    }
  }
  for (const n of textNodes(article, 'script, style, .cell_input, .cell_output, a, code, pre, h1, h2, h3, h4, .caption-number')) {
    const m = n.nodeValue.match(/\b[Cc]hapters? \d+\b/);
    if (m) add('unlinked-chapter', `"${m[0]}" is not a link: "${n.nodeValue.trim().slice(0, 120)}"`);
  }
  for (const n of textNodes(article, 'script, style, .cell_input')) {
    const m = n.nodeValue.match(/\(\(\d+(\.\d+)*\)\)/);
    if (m) add('double-parentheses', `equation reference printed as ${m[0]}`);
  }
  article.querySelectorAll('a[href*="#equation-"]').forEach(a => {
    const prev = a.previousSibling, next = a.nextSibling;
    const before = prev && prev.nodeType === Node.TEXT_NODE ? prev.nodeValue : '';
    const after = next && next.nodeType === Node.TEXT_NODE ? next.nodeValue : '';
    if (/^\(.*\)$/.test(a.textContent.trim()) && /\(\s*$/.test(before) && /^\s*\)/.test(after))
      add('double-parentheses', `equation reference printed as (${a.textContent.trim()})`);
  });
  // 6. build noise: stderr, progress bars, duplicated widgets, widgets without the live-kernel note
  article.querySelectorAll('.output.stderr, .stderr').forEach(e => add('stderr-output', e.textContent.trim().slice(0, 200) || '(empty)'));
  for (const n of textNodes(article, 'script, style, .cell_input')) {
    if (/\d+%\|[^|\n]*\|/.test(n.nodeValue) || /\bit\/s\]|s\/it\]/.test(n.nodeValue)) add('progress-bar', n.nodeValue.trim().slice(0, 120));
  }
  const states = Array.from(document.querySelectorAll('script[type="application/vnd.jupyter.widget-state+json"]'));
  for (const s of states) {
    if (/"_model_name":\s*"(Float|Int)ProgressModel"/.test(s.textContent)) add('progress-bar', 'a progress-bar widget is saved in the page');
  }
  const seen = new Map();
  document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').forEach(s => {
    let id = '';
    try { id = JSON.parse(s.textContent).model_id; } catch (e) { add('widget', 'unreadable widget view'); return; }
    if (seen.has(id)) add('duplicate-widget', `widget ${id} is shown twice`);
    seen.set(id, true);
    const cell = s.closest('div.cell') || s.parentElement;
    if (!cell.querySelector('.hn-live-note')) add('widget-without-note', 'a widget without the note that it needs a live kernel');
    const parent = s.parentElement;
    if (!(parent && parent.querySelector('.jupyter-widgets, .widget-box, .widget-interact, .lm-Widget'))) add('widget-not-rendered', `widget ${id} was not drawn`);
  });
  // 7. chapters (notebook pages) open in Colab
  if (opts.notebook && !document.querySelector('a[href^="https://colab.research.google.com/github/"]')) add('no-colab-button', 'no launch button for Colab');
  const stats = {equations: document.querySelectorAll('mjx-container[display="true"]').length,
                 images: document.querySelectorAll('img').length,
                 widgets: seen.size, height: document.documentElement.scrollHeight};
  done({problems, stats, links: opts.links});
}).catch(e => done({problems: [{kind: 'checker', detail: String(e)}], stats: {}, links: []}));
"""


@dataclass
class PageReport:
    """What one page showed: problems (kind, detail), console errors, numbers, the screenshot path."""

    page: str
    problems: list = field(default_factory=list)
    stats: dict = field(default_factory=dict)
    screenshot: Path | None = None

    def kinds(self) -> set:
        return {k for k, _ in self.problems}

    def summary(self) -> str:
        lines = [f"{self.page}: {len(self.problems)} problem(s)"]
        lines += [f"  [{k}] {d}" for k, d in self.problems]
        return "\n".join(lines)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # noqa: D401 - keep the test output clean
        pass


@contextlib.contextmanager
def serve(directory: Path):
    """Serve ``directory`` on 127.0.0.1 (a free port) for the duration of the block; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def chromium_missing() -> str | None:
    """Why the browser cannot run here, or None when chromium and chromedriver are both on PATH."""
    missing = [b for b in ("chromium", "chromedriver") if shutil.which(b) is None]
    if missing:
        return f"{' and '.join(missing)} not on PATH (Debian: apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "the selenium package is not installed (pip install selenium)"
    return None


class Browser:
    """Headless Chromium driven through chromedriver (selenium); one instance checks many pages."""

    def __init__(self, width: int = WIDTH, height: int = HEIGHT):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        opts = webdriver.ChromeOptions()
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-extensions", "--no-first-run",
                    f"--window-size={width},{height}", "--force-device-scale-factor=1", "--lang=en-US"):
            opts.add_argument(arg)
        opts.binary_location = _chromium_binary()
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(executable_path=shutil.which("chromedriver")), options=opts)
        self.driver.set_page_load_timeout(60)
        self.driver.set_script_timeout(60)
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                    {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    def close(self):
        self.driver.quit()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def check(self, url: str, page: str, notebook: bool, screenshot: Path | None = None,
              known_files: set | None = None, site_root: str | None = None) -> PageReport:
        """Load ``url``, wait for MathJax and widgets, run PAGE_CHECKS, collect console errors, screenshot."""
        self.driver.get_log("browser")  # drop what earlier pages logged
        self.driver.get(url)
        result = self.driver.execute_async_script(
            PAGE_CHECKS, {"outside": OUTSIDE_PATTERNS, "notebook": notebook, "widget_wait_ms": 10_000, "links": []})
        report = PageReport(page, [(p["kind"], p["detail"]) for p in result["problems"]], result["stats"])
        for entry in self.driver.get_log("browser"):
            if entry.get("level") == "SEVERE":
                report.problems.append(("console-error", entry.get("message", "")[:300]))
        if known_files is not None and site_root is not None:
            for link in result.get("links", []):
                target = link.split("#", 1)[0].split("?", 1)[0]
                if not target.startswith(site_root):
                    report.problems.append(("outside-reference", f"link outside the book: {link}"))
                    continue
                rel = target[len(site_root):] or "index.html"
                if rel.endswith("/"):
                    rel += "index.html"
                if rel not in known_files:
                    report.problems.append(("outside-reference", f"link to a file that is not in the book: {rel}"))
        if screenshot is not None:
            report.screenshot = self.screenshot(screenshot)
        return report

    def screenshot(self, path: Path) -> Path:
        """The whole page (not only the viewport) as a PNG."""
        height = int(self.driver.execute_script(
            "return Math.max(document.documentElement.scrollHeight, document.body.scrollHeight)"))
        height = min(height, 30_000)
        self.driver.execute_script("window.scrollTo(0, 0)")
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                    {"width": WIDTH, "height": height, "deviceScaleFactor": 1, "mobile": False})
        try:
            shot = self.driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
        finally:
            self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                        {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


def _chromium_binary() -> str:
    """The real Chromium binary (Debian's /usr/bin/chromium is a shell wrapper around it)."""
    for cand in ("/usr/lib/chromium/chromium", shutil.which("chromium") or ""):
        if cand and Path(cand).exists():
            return cand
    raise FileNotFoundError("chromium not found")


def site_files(root: Path) -> set:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def book_pages(root: Path) -> list[str]:
    """The book's pages in a built site (chapters, preface, appendices), as paths relative to ``root``."""
    return sorted(p.relative_to(root).as_posix() for p in (root / "book").glob("*.html"))


def is_notebook_page(page: str) -> bool:
    """Chapter pages come from notebooks (book/NN_name or book/A<digit>_name built from an .ipynb)."""
    import re

    return re.fullmatch(r"book/\d\d_.*\.html", page) is not None and not page.startswith("book/00_")


def check_site(root: Path, pages: list[str] | None = None, screenshots: Path | None = None) -> list[PageReport]:
    root = Path(root)
    pages = pages or book_pages(root)
    known = site_files(root)
    reports = []
    with serve(root) as base, Browser() as browser:
        for page in pages:
            shot = None if screenshots is None else Path(screenshots) / (Path(page).stem + ".png")
            reports.append(browser.check(base + page, page, is_notebook_page(page), shot, known, base))
    return reports


# ----------------------------------------------------------------------------- checks on the HTML alone
CODE_COLUMNS = 88   # ruff format's line length: a code line the text column shows without scrolling


def figure_and_code_problems(html: str, columns: int = CODE_COLUMNS) -> list[tuple[str, str]]:
    """Problems a page's HTML shows without a browser: every figure in the text column (an image in prose
    or in a cell's output, a plot drawn as SVG) without a numbered, non-empty caption ("uncaptioned-figure"),
    and every code line of a code cell longer than ``columns`` characters ("wide-code-cell")."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    article = soup.select_one("article.bd-article") or soup.select_one("main") or soup
    problems = []
    figures = article.select("img") + article.select(".cell_output svg")
    for fig in figures:
        outer = fig.find_parent("figure")
        cap = outer.find("figcaption") if outer is not None else None
        what = fig.get("src") or fig.get("alt") or fig.name
        if cap is None or not cap.get_text(strip=True):
            problems.append(("uncaptioned-figure", f"a figure without a caption: {what}"))
        elif cap.select_one(".caption-number") is None:
            problems.append(("uncaptioned-figure", f"a caption without a number: {cap.get_text(' ', strip=True)[:80]}"))
    for k, pre in enumerate(article.select(".cell_input pre")):
        for line in pre.get_text().split("\n"):
            if len(line) > columns:
                problems.append(("wide-code-cell", f"code cell {k + 1}: a line of {len(line)} characters "
                                                   f"(at most {columns}): {line.strip()[:80]}"))
    return problems



# ----------------------------------------------------------------------------- executed notebooks: placeholders
# A glued value a reader must never see in the prose: not-a-number, a missing value, an empty string, or words
# standing in for a result.
PLACEHOLDER = re.compile(r"^\s*['\"]?(nan|-?inf|none|nat|null|n/a|)['\"]?\s*$|not available|placeholder|skipped",
                         re.I)
# Output text that says a section did not run.
SKIPPED = re.compile(r"^\s*(skipped|skipping|no data folder found)\b", re.I | re.M)
GLUE_ROLE = re.compile(r"\{glue(?::(?:text|md|any|math))?\}`([A-Za-z_]\w*)")
_GLUE_PREFIX = "application/papermill.record/"


def _src(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def glued_values(nb: dict) -> dict:
    """name -> the text a glued value is pasted as (its text/markdown form), from an executed notebook."""
    out = {}
    for cell in nb.get("cells", []):
        for o in cell.get("outputs", []) or []:
            meta = (o.get("metadata") or {}).get("scrapbook")
            if not meta:
                continue
            prefix = meta.get("mime_prefix", "")
            data = {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in (o.get("data") or {}).items()}
            text = data.get("text/markdown", data.get("text/plain", ""))
            out[meta["name"]] = "".join(text) if isinstance(text, list) else str(text)
    return out


def _shown(o) -> str:
    """What a reader sees of one output (text of a stream/result, a marker for images and HTML), '' for glue."""
    if (o.get("metadata") or {}).get("scrapbook"):
        return ""
    if o.get("output_type") == "stream":
        text = o.get("text", "")
        return "".join(text) if isinstance(text, list) else text
    data = o.get("data") or {}
    if any(k.startswith("image/") for k in data):
        return "[image]"
    for key in ("text/html", "text/markdown", "text/plain"):
        if key in data:
            text = data[key]
            return "".join(text) if isinstance(text, list) else text
    return ""


def notebook_problems(nb: dict) -> list[tuple[str, str]]:
    """What an executed chapter would print as a placeholder or leave empty:

    * ``glue-placeholder``: a value glued into the prose that reads nan, None, inf, '' or stands in for one;
    * ``glue-missing``: a ``{glue:...}`` role naming a value no cell glued;
    * ``skipped-output``: a cell output saying its work was skipped;
    * ``empty-section``: a heading with nothing under it (no prose, no output) before the next heading of its
      level or above.
    """
    problems = []
    glued = glued_values(nb)
    for name, text in sorted(glued.items()):
        if PLACEHOLDER.search(text):
            problems.append(("glue-placeholder", f"{name} = {text.strip()!r}"))
    blocks = []      # (kind, text): markdown lines and what each output shows, in reading order
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            src = _src(cell)
            for name in GLUE_ROLE.findall(src):
                if name not in glued:
                    problems.append(("glue-missing", f"{{glue}}`{name}` is pasted but never glued"))
            in_fence = False
            for line in src.split("\n"):
                if line.startswith(("```", "~~~")):
                    in_fence = not in_fence
                if not in_fence and re.match(r"^#{1,6} ", line):
                    blocks.append(("heading", line))
                elif line.strip() and not re.fullmatch(r"\([\w-]+\)=", line.strip()):   # a MyST label is no content
                    blocks.append(("text", line))
        elif cell.get("cell_type") == "code":
            for o in cell.get("outputs", []) or []:
                shown = _shown(o)
                if SKIPPED.search(shown):
                    problems.append(("skipped-output", shown.strip()[:160]))
                elif shown.strip():
                    blocks.append(("output", shown))
    for i, (kind, line) in enumerate(blocks):
        if kind != "heading":
            continue
        level = len(line) - len(line.lstrip("#"))
        content = False
        for kind2, line2 in blocks[i + 1:]:
            if kind2 == "heading":
                if len(line2) - len(line2.lstrip("#")) <= level:
                    break
                content = True       # a subsection: its own content is checked on its own heading
                break
            content = True
            break
        if not content:
            problems.append(("empty-section", line.strip()))
    return problems


# ----------------------------------------------------------------------------- markdown sources: math the parser breaks
_LIST_START = re.compile(r"^\s*([-+*]|\d+[.)])\s")


def markdown_math_problems(text: str) -> list[tuple[str, str]]:
    """Lines of Markdown that end an inline formula early: a line that starts inside ``$...$`` with a list
    marker (``+ ``, ``- ``, ``* ``, ``1. ``), a heading ``#`` or a quote ``>``. Markdown reads such a line as
    a new block, so the formula is cut in two and its TeX is printed as text ("math-broken-by-markdown")."""
    problems = []
    open_math = False
    in_display = in_fence = False
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped.startswith(("```", "~~~")) and not open_math:
            in_fence = not in_fence                # code: no math inside
            continue
        if stripped.startswith(":::"):               # a directive fence (dropdown, admonition) ends a paragraph
            open_math = False
            continue
        if in_fence:
            continue
        if not stripped:
            open_math = False                      # a blank line ends the paragraph (and any formula)
            continue
        if stripped.startswith("$$"):
            one_line = len(stripped) > 4 and stripped.endswith("$$")   # $$ ... $$ on one line
            in_display = in_display if one_line else not in_display
            continue
        if in_display:
            continue
        if open_math and (_LIST_START.match(line) or stripped.startswith(("#", ">"))):
            problems.append(("math-broken-by-markdown", f"a line inside $...$ starts a new block: {stripped[:80]}"))
        body = re.sub(r"`[^`]*`", "", line.replace("\\$", ""))
        open_math ^= body.count("$") % 2 == 1
    return problems


def chapter_markdown(path: Path) -> list[str]:
    """The Markdown of a book source: a .md file whole, or each ``# %% [markdown]`` cell of a jupytext .py."""
    text = Path(path).read_text(encoding="utf-8")
    if Path(path).suffix == ".md":
        return [text]
    cells, current = [], None
    for line in text.split("\n"):
        if line.startswith("# %%"):
            if current is not None:
                cells.append("\n".join(current))
            current = [] if "[markdown]" in line else None
        elif current is not None:
            current.append(line[2:] if line.startswith("# ") else line.lstrip("#"))
    if current is not None:
        cells.append("\n".join(current))
    return cells

if __name__ == "__main__":
    site = Path(sys.argv[1] if len(sys.argv) > 1 else "_build/html")
    reps = check_site(site, sys.argv[2:] or None, screenshots=Path("_build/screenshots"))
    for rep in reps:
        print(rep.summary())
        print("  ", json.dumps(rep.stats))
    sys.exit(1 if any(r.problems for r in reps) else 0)
