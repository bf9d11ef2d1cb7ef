#!/usr/bin/env python3
"""Build, test and sync hashnotes with the Python standard library only.

    python3 make.py book    # set up .venv, vendor web assets if possible, execute every chapter once, build (-W -n)
    python3 make.py test    # unit tests + every chapter executed (nbmake), the HTML built from those executions,
                            # then every built page opened in headless Chromium (tests/test_pages.py)
    python3 make.py setup   # create/refresh .venv only
    python3 make.py sync [--force] [book/NN_x.py ...]   # regenerate the .ipynb (no outputs) from the .py chapter(s);
                            # refuses to overwrite a notebook edited after its .py unless --force

Each chapter is executed once per command: the notebooks are copied to _stage/book, executed there in
place by nbmake (two workers), and the HTML is built from the executed copies with execution off.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
VBIN = VENV / ("Scripts" if os.name == "nt" else "bin")
VPY = VBIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".hashnotes-setup"
# Installed before the rest. From PyPI on Linux this is the CUDA build (several GB); a machine that should not
# download it installs torch from the CPU wheel index first (README, "Install"), and setup keeps that torch.
TORCH_PIN = "torch==2.13.0"
# The extras setup installs with the package; pyproject.toml is the one list of dependencies.
SETUP_EXTRAS = "book,notebooks,test,index"
ASSETS = ROOT / "book" / "_assets_offline"  # git-ignored; not named _static (JB injects that folder everywhere)
ASSET_STAMP = ASSETS / "assets.json"
NPM_SPECS = ["mathjax@3", "@jupyter-widgets/html-manager@1", "requirejs@2"]
STAGE = ROOT / "_stage"   # a copy of the book's sources; its notebooks are executed in place (nbmake skips _build/)
HTML = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
# Seconds per cell for nbmake. The heaviest cells (one TDH fit, two CDHCR fits) take 1-3 minutes alone and up
# to 5 when the two cores are shared with other work; 600 s bounds a stalled widget cell without failing those.
CELL_TIMEOUT = 600
# Read by hashnotes.widgets.live(): no progress bars, nothing live-only, in the built pages.
BUILD_ENV_FLAG = "HASHNOTES_BOOK_BUILD"

# The two commands README.md documents (tests/test_book.py checks README against this tuple).
README_COMMANDS = ("python3 make.py book", "python3 make.py test")


def say(msg: str) -> None:
    print(f"[make] {msg}", flush=True)


def run(cmd: list, **kw) -> int:
    say("$ " + " ".join(str(c) for c in cmd))
    return subprocess.call([str(c) for c in cmd], **kw)


def check(cmd: list, **kw) -> None:
    rc = run(cmd, **kw)
    if rc != 0:
        raise SystemExit(f"[make] command failed with exit code {rc}: {' '.join(map(str, cmd))}")


def _requirements_hash() -> str:
    h = hashlib.sha256()
    h.update(SETUP_EXTRAS.encode())
    for name in ("pyproject.toml",):
        h.update(name.encode())
        h.update((ROOT / name).read_bytes())
    return h.hexdigest()


def _venv_imports(module: str) -> bool:
    return VPY.exists() and subprocess.call(
        [str(VPY), "-c", f"import {module}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    ) == 0


def setup() -> None:
    """Create .venv and install the package; quick no-op when requirements are unchanged."""
    digest = _requirements_hash()
    if STAMP.exists() and STAMP.read_text().strip() == digest and _venv_imports("hashnotes"):
        say(f"setup: {VENV.name} is up to date (requirements hash {digest[:12]})")
        return
    if not VPY.exists():
        say(f"setup: creating virtual environment {VENV}")
        check([sys.executable, "-m", "venv", VENV])
    if _venv_imports("torch"):
        say("setup: torch already importable in the venv; not reinstalling it")
    else:
        say(f"setup: installing {TORCH_PIN} first from the configured index (to avoid the CUDA build, install "
            "torch from the CPU wheel index before running make.py)")
        check([VPY, "-m", "pip", "install", TORCH_PIN])
    say(f"setup: installing the package (editable) with the extras {SETUP_EXTRAS} (pyproject.toml)")
    check([VPY, "-m", "pip", "install", "-e", f"{ROOT}[{SETUP_EXTRAS}]"])
    STAMP.write_text(digest + "\n")
    say("setup: done")


def chapter_env() -> dict:
    """Environment of every chapter execution and of the tests: one math thread per worker, the build flag.

    Two workers share the machine's two cores, so each kernel gets one BLAS/OpenMP thread (two notebooks
    training at once with 2 threads each ran 2-5x slower). Set here, never in a chapter, so a reader's own
    kernel keeps all its threads. A caller's own setting wins.
    """
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    env[BUILD_ENV_FLAG] = "1"
    return env


def nbmake_args() -> list:
    """pytest options that execute notebooks and keep their outputs (written back into the staged copies)."""
    return ["--nbmake", f"--nbmake-timeout={CELL_TIMEOUT}", "--overwrite"]


def test() -> int:
    """Unit tests and every chapter (executed once, in the staged copy), then the HTML and the browser test.

    1. one pytest call: tests/ (without the page tests) and the staged notebooks under nbmake, two workers;
    2. jupyter-book builds the HTML from those executed notebooks (execution off, -W -n);
    3. one pytest call: tests/test_pages.py opens every built page in headless Chromium (installed here when
       missing) and saves a screenshot of each to _build/screenshots/.
    """
    setup()
    env = chapter_env()
    stage_book()
    rc = run(
        [VPY, "-m", "pytest", "-n", "2", *nbmake_args(), "--durations=12", "--ignore=tests/test_pages.py",
         "tests", STAGE / "book"],
        cwd=ROOT,
        env=env,
    )
    if rc == 5:
        say("test: pytest collected no tests; treating that as a failure")
        return 1
    if rc != 0:
        return rc
    rc = build_html(env)
    if rc != 0:
        return rc
    browser = ensure_chromium()
    if browser is not True:
        env["HASHNOTES_NO_CHROMIUM"] = browser
    return run([VPY, "-m", "pytest", "-n", "2", "tests/test_pages.py", f"--book-html={HTML}",
                f"--screenshots={SCREENSHOTS}"], cwd=ROOT, env=env)


def ensure_chromium() -> "bool | str":
    """True when headless Chromium and its driver are on PATH (apt-get installs them as root); else why not."""
    if shutil.which("chromium") and shutil.which("chromedriver"):
        return True
    apt = shutil.which("apt-get")
    if apt is None:
        return "chromium/chromedriver are not on PATH and there is no apt-get to install them"
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    prefix = [] if is_root else ([shutil.which("sudo"), "-n"] if shutil.which("sudo") else None)
    if prefix is None:
        return "chromium/chromedriver are not on PATH and installing them needs root (no sudo)"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    say("test: installing Chromium for the browser test (apt-get install chromium chromium-driver)")
    if run([*prefix, apt, "update", "-qq"], env=env) != 0:
        say("test: apt-get update failed; trying the install with the lists at hand")
    rc = run([*prefix, apt, "install", "-y", "-qq", "chromium", "chromium-driver"], env=env)
    if rc != 0 or not (shutil.which("chromium") and shutil.which("chromedriver")):
        return f"apt-get install chromium chromium-driver failed (exit {rc})"
    return True


def _safe_extract(tgz: Path, dest: Path) -> Path:
    with tarfile.open(tgz) as tar:
        for member in tar.getmembers():
            target = (dest / member.name).resolve()
            if not str(target).startswith(str(dest.resolve())):
                raise RuntimeError(f"unsafe path {member.name!r} in {tgz.name}")
        tar.extractall(dest)
    return dest / "package"


def vendor_assets() -> bool:
    """Put MathJax, RequireJS and the ipywidgets HTML manager into book/_assets_offline.

    Returns True when the local copies are available, False when pages must use the CDN.
    """
    if ASSET_STAMP.exists():
        say(f"book: offline web assets already in {ASSETS.relative_to(ROOT)} ({ASSET_STAMP.read_text().strip()})")
        return True
    npm = shutil.which("npm")
    if npm is None:
        say("book: npm not found; the pages will load MathJax/RequireJS/ipywidgets from the CDN")
        return False
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        try:
            out = subprocess.run(
                [npm, "pack", *NPM_SPECS], cwd=tmp, capture_output=True, text=True, timeout=180
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            say(f"book: npm pack failed ({exc}); the pages will load MathJax/RequireJS/ipywidgets from the CDN")
            return False
        tgzs = {p.name: p for p in tmp.glob("*.tgz")}
        if out.returncode != 0 or len(tgzs) != 3:
            lines = [ln.strip() for ln in out.stderr.splitlines() if ln.strip() and "complete log" not in ln]
            errors = [ln for ln in lines if "err" in ln.lower()]
            reason = (errors or lines or [f"exit {out.returncode}"])[0]
            say(f"book: npm pack failed ({reason}); the pages will load MathJax/RequireJS/ipywidgets from the CDN")
            return False
        if ASSETS.exists():
            shutil.rmtree(ASSETS)
        ASSETS.mkdir(parents=True)
        versions = {}
        for name, tgz in sorted(tgzs.items()):
            pkg = _safe_extract(tgz, tmp / name.removesuffix(".tgz"))
            meta = json.loads((pkg / "package.json").read_text())
            versions[meta["name"]] = meta["version"]
            if meta["name"] == "mathjax":
                shutil.copytree(pkg / "es5", ASSETS / "mathjax" / "es5")
                shutil.copy2(pkg / "LICENSE", ASSETS / "mathjax" / "LICENSE")
            elif meta["name"] == "requirejs":
                shutil.copy2(pkg / "require.js", ASSETS / "require.js")
            elif meta["name"] == "@jupyter-widgets/html-manager":
                dist = ASSETS / "html-manager" / "dist"
                dist.mkdir(parents=True)
                for f in (pkg / "dist").iterdir():  # the AMD bundle and its fonts; skip maps and the non-AMD build
                    if f.name.endswith(".map") or f.name in ("embed.js", "libembed-amd.js"):
                        continue
                    shutil.copy2(f, dist / f.name)
        ASSET_STAMP.write_text(json.dumps(versions, sort_keys=True) + "\n")
    say(f"book: vendored {', '.join(f'{k}@{v}' for k, v in sorted(versions.items()))} into {ASSETS.relative_to(ROOT)}")
    return True


_STAGE_CONFIG = r"""
import json, sys, yaml
src, dst, assets = sys.argv[1], sys.argv[2], sys.argv[3]
with open(src) as f:
    cfg = yaml.safe_load(f)
# The staged notebooks were executed by nbmake already: build from their outputs.
cfg.setdefault("execute", {})["execute_notebooks"] = "off"
conf = cfg.setdefault("sphinx", {}).setdefault("config", {})
conf["nb_execution_mode"] = "off"
if assets:
    conf["html_static_path"] = list(conf.get("html_static_path", [])) + [assets]
    conf["mathjax_path"] = "mathjax/es5/tex-mml-chtml.js"
    conf["nb_ipywidgets_js"] = {
        "require.js": {},
        "hashnotes-widgets-paths.js": {},
        "html-manager/dist/embed-amd.js": {"data-jupyter-widgets-cdn": "https://cdn.jsdelivr.net/npm/"},
    }
with open(dst, "w") as f:
    f.write("# generated by make.py from _config.yml: execution off (staged notebooks are executed), offline assets\n")
    yaml.safe_dump(cfg, f, sort_keys=False)
"""

# Chapter sources (.py) stay behind: only the notebooks are Sphinx sources. book/_ext (Sphinx helpers) is copied.
_STAGE_IGNORE = shutil.ignore_patterns("_assets_offline", "__pycache__", ".ipynb_checkpoints", "[0-9][0-9]_*.py",
                                       "A[0-9]_*.py", ".*")


def stage_book() -> Path:
    """Copy _toc.yml and book/ (without the jupytext .py sources) to _stage, with a generated _config.yml.

    The notebooks in the stage are then executed in place (nbmake --overwrite), so the committed notebooks
    stay output-free and each chapter runs once for both the execution check and the HTML.
    """
    if STAGE.exists():
        shutil.rmtree(STAGE)
    STAGE.mkdir(parents=True)
    shutil.copytree(ROOT / "book", STAGE / "book", ignore=_STAGE_IGNORE)
    shutil.copy2(ROOT / "_toc.yml", STAGE / "_toc.yml")
    assets = str(ASSETS) if vendor_assets() else ""
    check([VPY, "-c", _STAGE_CONFIG, ROOT / "_config.yml", STAGE / "_config.yml", assets])
    return STAGE


def build_html(env: dict | None = None) -> int:
    """jupyter-book build of the (executed) stage into _build/html, warnings as errors."""
    cmd = [VBIN / "jupyter-book", "build", STAGE, "--path-output", ROOT, "-W", "-n", "--keep-going", "--all"]
    rc = run(cmd, cwd=ROOT, env=env)
    if rc == 0:
        say(f"book: built without warnings; open {HTML / 'index.html'}")
    else:
        say(f"book: build failed (exit {rc}); see the warnings/errors above")
    return rc


def book() -> int:
    """Execute every chapter once (nbmake, two workers) in the stage, then build the HTML from the outputs."""
    setup()
    env = chapter_env()
    stage_book()
    rc = run([VPY, "-m", "pytest", "-n", "2", "-q", *nbmake_args(), "--durations=0", STAGE / "book"],
             cwd=ROOT, env=env)
    if rc != 0:
        say(f"book: a chapter failed to execute (pytest exit {rc}); see above")
        return 1 if rc == 5 else rc
    return build_html(env)


def chapter_sources() -> list[Path]:
    """Jupytext sources of the chapters (book/NN_name.py) and of notebook appendices (book/A<digit>_name.py)."""
    book_dir = ROOT / "book"
    return sorted([*book_dir.glob("[0-9][0-9]_*.py"), *book_dir.glob("A[0-9]_*.py")])


SETUP_MARKER = "# Setup, the same in every chapter (written by `python3 make.py sync`; edit make.py, not here)."


def _config_value(section: str, key: str) -> str:
    """``section: {key: value}`` from _config.yml (a top-level block with indented keys), standard library only."""
    import re

    inside = False
    for line in (ROOT / "_config.yml").read_text(encoding="utf-8").splitlines():
        if re.match(r"^[A-Za-z_][\w-]*:", line):
            inside = line.split(":", 1)[0] == section
        elif inside and (m := re.match(rf"^\s+{key}:\s*\"?([^\"#\s]+)", line)):
            return m.group(1)
    raise SystemExit(f"[make] _config.yml: no {section}.{key}")


def package_version() -> str:
    import re

    # the one version number: hashnotes/__init__.py (pyproject.toml reads it as a dynamic attribute)
    m = re.search(r'^__version__\s*=\s*"([^"]+)"', (ROOT / "hashnotes" / "__init__.py").read_text(encoding="utf-8"),
                  re.M)
    if m is None:
        raise SystemExit("[make] hashnotes/__init__.py: no __version__")
    return m.group(1)


def setup_cell() -> str:
    """The first code cell of every chapter: install the pinned package where missing, report the hardware.

    The repository URL comes from _config.yml (``repository.url``, the one place it is set) and the version
    from pyproject.toml; releases are tagged ``v<version>``. A GPU gets the larger ("full") training settings.
    No thread setting: a reader's kernel keeps all its cores (make.py limits threads for the build only).
    """
    url = _config_value("repository", "url")
    version = package_version()
    return f"""{SETUP_MARKER}
# Installs hashnotes {version} when it is not importable (e.g. in Colab) and reports the hardware: with a GPU
# the chapters train their larger ("full") settings, on a CPU the reduced ones each chapter states.
import importlib.util

if importlib.util.find_spec("hashnotes") is None:
    get_ipython().run_line_magic("pip", "install -q 'hashnotes @ git+{url}@v{version}'")

import torch

import hashnotes

GPU = torch.cuda.is_available()
PRESET = "full" if GPU else "reduced"
print(f"hashnotes {{hashnotes.__version__}}, torch {{torch.__version__}}; "
      + (f"GPU: {{torch.cuda.get_device_name(0)}}" if GPU else "no GPU") + f"; training settings: {{PRESET}}")"""


def write_setup_cell(py: Path) -> bool:
    """Put ``setup_cell()`` into ``py`` as its first code cell (replacing an older one); True if changed."""
    text = py.read_text(encoding="utf-8")
    lines = text.split("\n")
    starts = [i for i, ln in enumerate(lines) if ln.startswith("# %%")]
    code = [i for i in starts if "[markdown]" not in lines[i] and "[md]" not in lines[i]]
    header = '# %% tags=["hide-input"]'
    cell = [header, *setup_cell().split("\n"), ""]
    if code and (lines[code[0] + 1].startswith(SETUP_MARKER) or lines[code[0] + 1].startswith("# Colab bootstrap")):
        first = code[0]
        nxt = next((i for i in starts if i > first), len(lines))
        new = lines[:first] + cell + lines[nxt:]
    else:  # a new chapter: after the title cell
        after = next((i for i in starts if i > starts[0]), len(lines)) if starts else len(lines)
        new = lines[:after] + cell + lines[after:]
    out = "\n".join(new)
    if out != text:
        py.write_text(out, encoding="utf-8")
        return True
    return False


def _stable_cell_ids(nb_path: Path) -> None:
    """Replace jupytext's random cell ids by ids derived from the cell's content (no churn on re-sync)."""
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    seen = set()
    for cell in nb.get("cells", []):
        src = cell.get("source", "")
        src = "".join(src) if isinstance(src, list) else src
        base = hashlib.sha256((cell.get("cell_type", "") + "\0" + src).encode()).hexdigest()[:8]
        cid, k = base, 1
        while cid in seen:
            cid, k = f"{base}-{k}", k + 1
        seen.add(cid)
        if "id" in cell:
            cell["id"] = cid
    nb_path.write_text(json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _cells(nb_path: Path) -> list:
    """``(cell type, source)`` of every cell of a notebook but the setup cell (make.py writes that one)."""
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    out = []
    for cell in nb.get("cells", []):
        src = cell.get("source", "")
        src = "".join(src) if isinstance(src, list) else src
        if not src.startswith(SETUP_MARKER):
            out.append((cell.get("cell_type"), src.rstrip("\n")))
    return out


def sync(*files: str) -> int:
    """Regenerate book/NN_*.ipynb from its py:percent source, without outputs (all chapters, or ``files``).

    A notebook newer than its .py whose cells differ from the .py's (edited in Jupyter and not saved to the
    .py) is not overwritten: sync stops naming it, unless ``--force`` is given."""
    force = "--force" in files
    files = tuple(f for f in files if f != "--force")
    setup()
    sources = [Path(f).resolve() for f in files] if files else chapter_sources()
    bad = [str(p) for p in sources if p.suffix != ".py" or not p.exists()]
    if bad:
        raise SystemExit(f"[make] sync: not existing .py chapter sources: {bad}")
    if not sources:
        say("sync: no book/NN_*.py chapters found")
        return 0
    newer = {py for py in sources if py.with_suffix(".ipynb").exists()
             and py.with_suffix(".ipynb").stat().st_mtime > py.stat().st_mtime}
    refused = []
    for py in sources:
        if write_setup_cell(py):
            say(f"sync: wrote the setup cell into {py.name}")
        nb_path = py.with_suffix(".ipynb")
        fresh = nb_path.with_name(f".{nb_path.stem}.sync.ipynb")
        check([VPY, "-m", "jupytext", "--quiet", "--to", "ipynb", "--output", fresh, py])
        if py in newer and not force and _cells(fresh) != _cells(nb_path):
            fresh.unlink()
            refused.append(nb_path)
            continue
        _stable_cell_ids(fresh)
        os.replace(fresh, nb_path)
    done = len(sources) - len(refused)
    say(f"sync: wrote {done} notebook(s)")
    if refused:
        names = ", ".join(str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p) for p in refused)
        say(f"sync: NOT overwritten: {names} (newer than the .py, with other cells: edited in Jupyter?). Save the "
            "notebook to its .py first (JupyterLab does so with the pairing in jupytext.toml; or `jupytext --sync "
            "book/NN_x.ipynb`), or run `python3 make.py sync --force ...` to discard the notebook's edits")
        return 1
    return 0


COMMANDS = {"setup": lambda: setup() or 0, "test": test, "book": book, "sync": sync}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS or (len(argv) > 1 and argv[0] != "sync"):
        print(__doc__.strip())
        return 2
    os.chdir(ROOT)
    return COMMANDS[argv[0]](*argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
