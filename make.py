#!/usr/bin/env python3
"""Build, test and sync hashnotes with the Python standard library only.

    python3 make.py book    # set up .venv, vendor web assets if possible, build the book (-W -n)
    python3 make.py test    # set up .venv, run every unit test and execute every chapter notebook
    python3 make.py setup   # create/refresh .venv only
    python3 make.py sync [book/NN_x.py ...]   # regenerate the .ipynb (no outputs) from the .py chapter(s)
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
TORCH_PIN = "torch==2.13.0"  # a CPU wheel on CPU-only machines; requirements.txt keeps torch>=2.2
ASSETS = ROOT / "book" / "_assets_offline"  # git-ignored; not named _static (JB injects that folder everywhere)
ASSET_STAMP = ASSETS / "assets.json"
NPM_SPECS = ["mathjax@3", "@jupyter-widgets/html-manager@1", "requirejs@2"]
BUILD_CONFIG = ROOT / "_build" / "_config_offline.yml"
HTML = ROOT / "_build" / "html"

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
    for name in ("requirements.txt", "pyproject.toml"):
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
        say(f"setup: installing {TORCH_PIN} first (a bare 'torch' could pull a multi-GB CUDA build)")
        check([VPY, "-m", "pip", "install", TORCH_PIN])
    say("setup: installing requirements.txt and the package (editable)")
    check([VPY, "-m", "pip", "install", "-r", ROOT / "requirements.txt", "-e", ROOT])
    STAMP.write_text(digest + "\n")
    say("setup: done")


def test() -> int:
    """Every unit test plus every chapter notebook, in one pytest call."""
    setup()
    # Two pytest workers share the machine; one math thread each avoids oversubscribing the cores
    # (two notebooks training at once with 2 threads each ran 2-5x slower and could hit the cell timeout).
    # A caller's own setting wins.
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    rc = run(
        [VPY, "-m", "pytest", "-n", "2", "--nbmake", "--nbmake-timeout=300", "tests", "book"],
        cwd=ROOT,
        env=env,
    )
    if rc == 5:
        say("test: pytest collected no tests; treating that as a failure")
        return 1
    return rc


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


_OFFLINE_CONFIG = r"""
import json, sys, yaml
src, dst, rel = sys.argv[1], sys.argv[2], sys.argv[3]
with open(src) as f:
    cfg = yaml.safe_load(f)
conf = cfg.setdefault("sphinx", {}).setdefault("config", {})
conf["html_static_path"] = list(conf.get("html_static_path", [])) + [rel]
conf["mathjax_path"] = "mathjax/es5/tex-mml-chtml.js"
conf["nb_ipywidgets_js"] = {
    "require.js": {},
    "html-manager/dist/embed-amd.js": {"data-jupyter-widgets-cdn": "https://cdn.jsdelivr.net/npm/"},
}
with open(dst, "w") as f:
    f.write("# generated by make.py from _config.yml: offline copies of MathJax / RequireJS / ipywidgets\n")
    yaml.safe_dump(cfg, f, sort_keys=False)
"""


def book() -> int:
    setup()
    cmd = [VBIN / "jupyter-book", "build", ".", "-W", "-n", "--keep-going", "--all"]
    if vendor_assets():
        BUILD_CONFIG.parent.mkdir(parents=True, exist_ok=True)
        check([VPY, "-c", _OFFLINE_CONFIG, ROOT / "_config.yml", BUILD_CONFIG,
               ASSETS.relative_to(ROOT).as_posix()])
        cmd += ["--config", BUILD_CONFIG]
    rc = run(cmd, cwd=ROOT)
    if rc == 0:
        say(f"book: built without warnings; open {HTML / 'index.html'}")
    else:
        say(f"book: build failed (exit {rc}); see the warnings/errors above")
    return rc


def chapter_sources() -> list[Path]:
    return sorted((ROOT / "book").glob("[0-9][0-9]_*.py"))


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


def sync(*files: str) -> int:
    """Regenerate book/NN_*.ipynb from its py:percent source, without outputs (all chapters, or ``files``)."""
    setup()
    sources = [Path(f).resolve() for f in files] if files else chapter_sources()
    bad = [str(p) for p in sources if p.suffix != ".py" or not p.exists()]
    if bad:
        raise SystemExit(f"[make] sync: not existing .py chapter sources: {bad}")
    if not sources:
        say("sync: no book/NN_*.py chapters found")
        return 0
    for py in sources:
        nb_path = py.with_suffix(".ipynb")
        check([VPY, "-m", "jupytext", "--quiet", "--to", "ipynb", "--output", nb_path, py])
        _stable_cell_ids(nb_path)
    say(f"sync: wrote {len(sources)} notebook(s)")
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
