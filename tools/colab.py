#!/usr/bin/env python3
"""Colab notebooks from the book's chapters: plain Markdown and LaTeX, nothing that needs Jupyter Book.

    python tools/colab.py [--executed _stage/book] [--out _build/colab] [--ref v0.1.0] [book/NN_x.ipynb ...]

Each chapter notebook (book/NN_x.ipynb, output-free) becomes ``<out>/book/NN_x.ipynb``:

* ``{glue:text}`name:fmt``` / ``{glue:md}`name``` are replaced by the value the executed build glued
  (``--executed``: the notebooks ``make.py book`` executed, in ``_stage/book``), formatted as the role says;
* ``{cite}`` / ``{cite:t}`` become author-year text ("Jiang and Li, 2017", "Jiang and Li (2017)") linked to
  the rendered bibliography;
* ``{doc}``, ``{ref}``, ``{numref}``, ``{eq}`` and ``{repo}`` become links to the rendered pages (with the
  chapter titles, section headings, "Fig. 3.2" and "(4.1)" numbers the book shows) or to the repository file;
* ``:::{dropdown}`` and ``:::{admonition}`` fences become HTML ``<details>`` (dropdowns closed, admonitions
  open); ``(label)=`` targets become ``<a id>`` anchors; a labelled display equation gets ``\\tag{4.1}``;
* a code cell's figure caption (``mystnb.figure``) follows it as a Markdown cell;
* the setup cell is replaced by :func:`install_cell`: it installs the one pinned version from the one
  repository setting (``SETTINGS``) and reinstalls on a version mismatch.

Nothing of MyST is left (``myst_leftovers`` finds what would be; tests/test_colab.py checks every chapter).
"""
from __future__ import annotations

import argparse
import ast
import copy
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import make  # noqa: E402 - the book's one setup (repository URL, version, setup-cell marker), standard library only

__all__ = ["SETTINGS", "settings", "install_cell", "BookIndex", "convert", "myst_leftovers", "main"]


def settings(ref: str | None = None, book_url: str | None = None) -> dict:
    """The one setting for the Colab build: repository URL (from _config.yml), version (hashnotes/__init__.py),
    the git ref installed (``v<version>`` unless given), the rendered book's address (default: the GitHub Pages
    address of the repository)."""
    url = make._config_value("repository", "url").rstrip("/")
    version = make.package_version()
    owner, name = url.split("/")[-2:]
    return {"repository": url, "version": version, "ref": ref or f"v{version}",
            "book_url": (book_url or f"https://{owner}.github.io/{name}/").rstrip("/") + "/"}


SETTINGS = settings()


def install_cell(cfg: dict | None = None) -> str:
    """The converted notebooks' first code cell: hashnotes at exactly ``cfg['version']``, from the repository."""
    cfg = cfg or SETTINGS
    spec = f"hashnotes @ git+{cfg['repository']}@{cfg['ref']}"
    return f'''# Installs hashnotes {cfg["version"]} (from {cfg["repository"]} at {cfg["ref"]}) unless exactly that version is
# installed, then reports the hardware. With a GPU the chapter trains its larger ("full") settings.
import importlib.metadata
import subprocess
import sys

HASHNOTES_VERSION = "{cfg["version"]}"
HASHNOTES_SPEC = "{spec}"
try:
    installed = importlib.metadata.version("hashnotes")
except importlib.metadata.PackageNotFoundError:
    installed = None
if installed != HASHNOTES_VERSION:
    print(f"installing hashnotes {{HASHNOTES_VERSION}} (found {{installed}})")
    pip = [sys.executable, "-m", "pip", "install", "-q"]
    subprocess.check_call(pip + ["--force-reinstall", "--no-deps", HASHNOTES_SPEC])
    subprocess.check_call(pip + [HASHNOTES_SPEC])

import torch

import hashnotes

if hashnotes.__version__ != HASHNOTES_VERSION:
    raise RuntimeError(f"hashnotes {{hashnotes.__version__}} is imported, this notebook needs {{HASHNOTES_VERSION}}: "
                       "restart the runtime (Runtime > Restart session) and run this cell again")
GPU = torch.cuda.is_available()
PRESET = "full" if GPU else "reduced"
print(f"hashnotes {{hashnotes.__version__}}, torch {{torch.__version__}}; "
      + (f"GPU: {{torch.cuda.get_device_name(0)}}" if GPU else "no GPU") + f"; training settings: {{PRESET}}")'''


def _src(cell) -> str:
    s = cell.get("source", "")
    return "".join(s) if isinstance(s, list) else s


# ------------------------------------------------------------------------------------------------ the book
class BookIndex:
    """What the cross-references point at: page titles, section labels, figure and equation numbers, the
    bibliography, and the glued values of the executed build."""

    def __init__(self, book: Path = ROOT / "book", executed: Path | None = None, cfg: dict | None = None):
        self.book, self.cfg = Path(book), cfg or SETTINGS
        self.titles, self.labels, self.figures, self.equations = {}, {}, {}, {}
        for path in sorted(self.book.glob("*.ipynb")) + sorted(self.book.glob("*.md")):
            self._index(path)
        self.bib = self._bib(self.book / "references.bib")
        self.glue: dict[str, dict] = {}
        if executed is not None:
            for nb in sorted(Path(executed).glob("*.ipynb")):
                self.glue[nb.stem] = glued(json.loads(nb.read_text(encoding="utf-8")))

    @staticmethod
    def chapter_number(stem: str) -> int | None:
        m = re.match(r"(\d\d)_", stem)
        return int(m.group(1)) if m and m.group(1) != "00" else None

    def page_url(self, stem: str, anchor: str = "") -> str:
        return f"{self.cfg['book_url']}book/{stem}.html" + (f"#{anchor}" if anchor else "")

    def _index(self, path: Path):
        stem = path.stem
        if path.suffix == ".ipynb":
            cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        else:
            cells = [{"cell_type": "markdown", "source": path.read_text(encoding="utf-8")}]
        n = self.chapter_number(stem)
        eq = fig = 0
        pending = []
        for cell in cells:
            if cell["cell_type"] == "code":
                name = ((cell.get("metadata") or {}).get("mystnb") or {}).get("figure", {}).get("name")
                if name:
                    fig += 1
                    self.figures[name] = (stem, f"Fig. {n}.{fig}" if n else f"Fig. {fig}")
                continue
            for line in _src(cell).split("\n"):
                if m := re.fullmatch(r"\(([\w-]+)\)=\s*", line):
                    pending.append(m.group(1))
                    continue
                if m := re.match(r"#{1,6} (.*)", line):
                    title = _plain_title(m.group(1))
                    if line.startswith("# ") and stem not in self.titles:
                        self.titles[stem] = title
                    for label in pending:
                        self.labels[label] = (stem, title)
                    pending = []
                elif line.strip():
                    pending = []
                if m := re.fullmatch(r"\$\$\s*\(([\w-]+)\)\s*", line.strip()):
                    eq += 1
                    self.equations[m.group(1)] = (stem, f"{n}.{eq}" if n else f"{eq}")

    @staticmethod
    def _bib(path: Path) -> dict:
        from pybtex.database import parse_file

        out = {}
        for key, entry in parse_file(str(path)).entries.items():
            names = [" ".join(p.last_names) for p in entry.persons.get("author", [])]
            names = [re.sub(r"[{}]", "", n) for n in names]
            who = names[0] if len(names) == 1 else " and ".join(names) if len(names) == 2 else f"{names[0]} et al."
            out[key] = (who, entry.fields.get("year", "n.d."))
        return out


def _plain_title(text: str) -> str:
    return re.sub(r"\{[\w:-]+\}`([^`]*)`", r"\1", text).strip()


def glued(nb: dict) -> dict:
    """name -> {mime: text} of every value glued in an executed notebook."""
    out = {}
    for cell in nb.get("cells", []):
        for o in cell.get("outputs", []) or []:
            meta = (o.get("metadata") or {}).get("scrapbook")
            if not meta:
                continue
            prefix = meta.get("mime_prefix", "")
            out[meta["name"]] = {k[len(prefix):] if k.startswith(prefix) else k: ("".join(v) if isinstance(v, list)
                                                                                   else v)
                                 for k, v in (o.get("data") or {}).items()}
    return out


# ------------------------------------------------------------------------------------------------ conversion
_ROLE = re.compile(r"\{(glue:text|glue:md|glue|cite:t|cite:p|cite|doc|ref|numref|eq|repo)\}`([^`]*)`")


def _target(text: str) -> tuple[str | None, str]:
    """``title <target>`` -> (title, target); ``target`` -> (None, target)."""
    m = re.fullmatch(r"(.*?)\s*<([^>]+)>", text.strip(), re.S)
    return (m.group(1), m.group(2)) if m else (None, text.strip())


class ConversionError(ValueError):
    pass


def _glue_value(index: BookIndex, page: str, text: str, md: bool) -> str:
    name, _, fmt = text.partition(":")
    values = index.glue.get(page)
    if values is None:
        raise ConversionError(f"{page}: no executed notebook to take glued values from (pass --executed)")
    if name not in values:
        raise ConversionError(f"{page}: {name!r} is pasted but the executed notebook glued no such value")
    bundle = values[name]
    if md and "text/markdown" in bundle:
        return bundle["text/markdown"].strip()
    plain = bundle.get("text/plain", "").strip()
    try:
        value = ast.literal_eval(plain)
    except (ValueError, SyntaxError):
        value = plain
    if fmt:
        try:
            return format(value, fmt)
        except (TypeError, ValueError) as exc:
            raise ConversionError(f"{page}: glued {name} = {plain!r} does not take the format {fmt!r}") from exc
    return str(value)


def _role(index: BookIndex, page: str, kind: str, text: str) -> str:
    if kind.startswith("glue"):
        return _glue_value(index, page, text, md=kind == "glue:md")
    if kind.startswith("cite"):
        keys = [k.strip() for k in text.split(",") if k.strip()]
        missing = [k for k in keys if k not in index.bib]
        if missing:
            raise ConversionError(f"{page}: no bibliography entry {missing}")
        refs = index.page_url("references")
        if kind == "cite:t":
            return "; ".join(f"[{index.bib[k][0]} ({index.bib[k][1]})]({refs})" for k in keys)
        return "(" + "; ".join(f"[{index.bib[k][0]}, {index.bib[k][1]}]({refs})" for k in keys) + ")"
    title, target = _target(text)
    if kind == "doc":
        stem = Path(target).stem
        if stem not in index.titles:
            raise ConversionError(f"{page}: {{doc}} to an unknown page {target!r}")
        return f"[{title or index.titles[stem]}]({index.page_url(stem)})"
    if kind == "ref":
        if target not in index.labels:
            raise ConversionError(f"{page}: {{ref}} to an unknown label {target!r}")
        stem, heading = index.labels[target]
        return f"[{title or heading}]({index.page_url(stem, target)})"
    if kind == "numref":
        if target not in index.figures:
            raise ConversionError(f"{page}: {{numref}} to an unknown figure {target!r}")
        stem, number = index.figures[target]
        return f"[{number}]({index.page_url(stem, target)})"
    if kind == "eq":
        if target not in index.equations:
            raise ConversionError(f"{page}: {{eq}} to an unknown equation {target!r}")
        stem, number = index.equations[target]
        return f"[({number})]({index.page_url(stem, 'equation-' + target)})"
    if kind == "repo":
        return f"[`{title or target}`]({index.cfg['repository']}/blob/{index.cfg['ref']}/{target})"
    raise ConversionError(f"{page}: unknown role {kind}")


def convert_markdown(text: str, index: BookIndex, page: str) -> str:
    """One Markdown cell of chapter ``page`` in plain Markdown (see the module docstring)."""
    out, stack = [], []            # stack: the colon count of each open fence
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if m := re.fullmatch(r"(:{3,})\{(dropdown|admonition|note|tip|warning|important|seealso)\}\s*(.*)", stripped):
            colons, kind, title = m.groups()
            opts = {}
            while i + 1 < len(lines) and (o := re.fullmatch(r":(\w+):\s*(.*)", lines[i + 1].strip())):
                opts[o.group(1)] = o.group(2)
                i += 1
            title = title or kind.capitalize()
            state = "" if kind == "dropdown" else " open"
            out += [f"<details{state}>", f"<summary><b>{_inline(title, index, page)}</b></summary>", ""]
            stack.append(len(colons))
        elif stack and re.fullmatch(r":{3,}", stripped) and len(stripped) == stack[-1]:
            stack.pop()
            out += ["", "</details>"]
        elif m := re.fullmatch(r"\(([\w-]+)\)=", stripped):
            out.append(f'<a id="{m.group(1)}"></a>')
        elif m := re.fullmatch(r"\$\$\s*\(([\w-]+)\)", stripped):
            stem, number = index.equations.get(m.group(1), (page, None))
            out += ([f"\\tag{{{number}}}"] if number else []) + ["$$"]
        else:
            out.append(_inline(line, index, page))
        i += 1
    if stack:
        raise ConversionError(f"{page}: a ':::' fence is never closed")
    return "\n".join(out)


def _inline(line: str, index: BookIndex, page: str) -> str:
    return _ROLE.sub(lambda m: _role(index, page, m.group(1), m.group(2)), line)


def convert(nb: dict, index: BookIndex, page: str) -> dict:
    """A Colab notebook from the source notebook ``nb`` of chapter ``page`` (the notebook is not changed)."""
    nb = copy.deepcopy(nb)
    cells = []
    setup_done = False
    for cell in nb["cells"]:
        src = _src(cell)
        if cell["cell_type"] == "markdown":
            cell["source"] = convert_markdown(src, index, page)
            cells.append(cell)
            continue
        if cell["cell_type"] != "code":
            cells.append(cell)
            continue
        meta = cell.get("metadata") or {}
        fig = (meta.pop("mystnb", None) or {}).get("figure")
        if src.startswith(make.SETUP_MARKER):
            cell["source"] = install_cell(index.cfg)
            setup_done = True
        cell["outputs"], cell["execution_count"] = [], None
        cells.append(cell)
        if fig and fig.get("caption"):
            stem, number = index.figures.get(fig.get("name"), (page, "Fig."))
            cells.append({"cell_type": "markdown", "metadata": {}, "id": f"{cell.get('id', 'fig')}-caption",
                          "source": f'<a id="{fig.get("name")}"></a>**{number}** {_inline(fig["caption"], index, page)}'})
    if not setup_done:
        raise ConversionError(f"{page}: no setup cell (the first code cell make.py sync writes)")
    nb["cells"] = cells
    nb.setdefault("metadata", {})["colab"] = {"provenance": [], "name": f"{page}.ipynb"}
    nb["metadata"].pop("jupytext", None)
    nb["metadata"]["accelerator"] = "GPU"
    return nb


# MyST a plain Markdown renderer would print as text
_LEFTOVERS = [
    (re.compile(r"\{[\w:-]+\}`"), "a MyST role"),
    (re.compile(r"^\s*:{3,}", re.M), "a ':::' fence"),
    (re.compile(r"^\s*`{3,}\{", re.M), "a '```{directive}' fence"),
    (re.compile(r"^\s*\([\w-]+\)=\s*$", re.M), "a '(label)=' target"),
    (re.compile(r"^\s*\$\$\s*\([\w-]+\)\s*$", re.M), "an equation label '$$ (label)'"),
    (re.compile(r"^\s*:(class|name|open|label):", re.M), "a directive option"),
]


def myst_leftovers(nb: dict) -> list[str]:
    """Every piece of MyST syntax left in a notebook's Markdown cells (empty for a clean conversion)."""
    found = []
    for k, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        for rx, what in _LEFTOVERS:
            for m in rx.finditer(_src(cell)):
                found.append(f"cell {k}: {what}: {m.group(0).strip()[:60]}")
    return found


def chapter_notebooks(book: Path = ROOT / "book") -> list[Path]:
    return sorted([*book.glob("[0-9][0-9]_*.ipynb"), *book.glob("A[0-9]_*.ipynb")])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python tools/colab.py", description=__doc__.split("\n\n")[0])
    p.add_argument("chapters", nargs="*", help="chapter notebooks (default: every chapter)")
    p.add_argument("--executed", default=str(make.STAGE / "book"), help="executed notebooks to take glued values from")
    p.add_argument("--out", default=str(ROOT / "_build" / "colab"))
    p.add_argument("--ref", default=None, help="git ref to install (default v<version>)")
    p.add_argument("--book-url", default=None, help="the rendered book's address")
    args = p.parse_args(argv)
    executed = Path(args.executed)
    if not any(executed.glob("*.ipynb")):
        print(f"error: no executed notebooks in {executed} (python3 make.py book executes them there)",
              file=sys.stderr)
        return 2
    cfg = settings(args.ref, args.book_url)
    index = BookIndex(executed=executed, cfg=cfg)
    out = Path(args.out) / "book"
    out.mkdir(parents=True, exist_ok=True)
    bad = 0
    for path in [Path(c) for c in args.chapters] or chapter_notebooks():
        try:
            nb = convert(json.loads(path.read_text(encoding="utf-8")), index, path.stem)
        except ConversionError as exc:
            print(f"error: {exc}", file=sys.stderr)
            bad += 1
            continue
        left = myst_leftovers(nb)
        if left:
            print(f"error: {path.name}: MyST left after conversion:\n  " + "\n  ".join(left), file=sys.stderr)
            bad += 1
            continue
        (out / path.name).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"[colab] {out / path.name}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
