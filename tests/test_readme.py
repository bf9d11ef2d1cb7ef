"""The README as a newcomer meets it: every command it shows is run here (or, where it needs the network or a
browser, its parts are checked and the test that runs its equivalent is named), and its Python example, run as
written on the shared real data, beats random codes."""
from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="tomllib (Python 3.11+) reads pyproject.toml here")

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def _commands() -> list[str]:
    """Every command line of the README's bash blocks, without its comment."""
    out = []
    for block in _blocks("bash"):
        for line in block.splitlines():
            cmd = line.split("#", 1)[0].strip()
            if cmd:
                out.append(cmd)
    return out


def _hashnotes(*args, timeout=900):
    """The ``hashnotes`` console script as a newcomer types it (``python -m hashnotes`` is the same program)."""
    env = {**os.environ, "HASHNOTES_THREADS": os.environ.get("HASHNOTES_THREADS", "1")}
    return subprocess.run([sys.executable, "-m", "hashnotes", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def _config_value(section: str, key: str) -> str:
    spec = importlib.util.spec_from_file_location("hashnotes_make", ROOT / "make.py")
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    return make._config_value(section, key)


# How each README command is checked: "run" (by a test below), or the test elsewhere that runs its equivalent.
COVERED = {
    "git clone https://github.com/hashnotes/hashnotes": "test_install_lines",
    "cd hashnotes": "test_install_lines",
    "python3 -m venv .venv && . .venv/bin/activate": "tests/test_wheel.py (a fresh virtual environment)",
    "pip install torch --index-url https://download.pytorch.org/whl/cpu": "test_install_lines",
    "pip install -e .": "tests/test_wheel.py (the package installs into a fresh environment and runs)",
    "python3 make.py book": "tests/test_book.py (README_COMMANDS and make.py's plan)",
    "python3 make.py test": "tests/test_book.py (README_COMMANDS and make.py's plan)",
    "hashnotes train dcmh cca --bits 16 --epochs 2": "test_quickstart_runs_as_written",
    'pip install -e ".[notebooks]"': "test_install_lines",
    "jupyter lab book/00_motivation.ipynb": "test_install_lines and tests/test_notebooks.py (the pairing)",
    "pytest --nbmake --nbmake-timeout=600 book": "test_nbmake_book_collects_every_chapter",
    "hashnotes bench --methods dcmh cca random --bits 16 --seeds 2 --epochs 2 --out runs/quick":
        "test_bench_command_runs",
}


def test_every_readme_command_is_checked():
    cmds = _commands()
    assert "hashnotes train dcmh cca --bits 16 --epochs 2" in cmds  # the quick start
    unchecked = [c for c in cmds if c not in COVERED]
    assert not unchecked, f"README commands no test checks (add them to COVERED with their test): {unchecked}"
    names = {n for n in globals() if n.startswith("test_")}
    for cmd, how in COVERED.items():
        assert cmd in cmds, f"COVERED names a command the README no longer shows: {cmd!r}"
        if how.startswith("test_"):
            assert all(part in names for part in re.findall(r"test_\w+", how.split(" and ")[0])), how
        else:
            assert (ROOT / how.split()[0]).is_file(), how


def test_install_lines():
    """What can be checked without the network: the clone URL is the repository's, the CPU index is PyTorch's
    CPU wheel index, the extras the README names exist, and the chapter it opens is there."""
    cmds = _commands()
    url = _config_value("repository", "url")
    clone = cmds.index(f"git clone {url}")
    assert cmds[clone + 1] == f"cd {url.rstrip('/').rsplit('/', 1)[1]}"  # into the folder git clone makes
    torch_line = next(c for c in _commands() if c.startswith("pip install torch"))
    assert torch_line.endswith("--index-url https://download.pytorch.org/whl/cpu")
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = meta["optional-dependencies"]
    for name in re.findall(r'\[(\w+)\]"', README):
        assert name in extras, name
    names = {re.split(r"[<>=!~ ]", d)[0].lower() for d in extras["notebooks"]}
    assert {"jupyterlab", "ipywidgets", "jupytext"} <= names
    assert meta["scripts"]["hashnotes"] == "hashnotes.__main__:main"
    assert (ROOT / "book" / "00_motivation.ipynb").is_file() and (ROOT / "jupytext.toml").is_file()


def test_packaging_metadata():
    """License expression and file, classifiers without a licence classifier (PEP 639), URLs, keywords, and the
    dependency list in one place (requirements.txt only points at pyproject.toml)."""
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert meta["license"] == "MIT" and meta["license-files"] == ["LICENSE"]
    assert "MIT License" in (ROOT / "LICENSE").read_text() and "hashnotes authors" in (ROOT / "LICENSE").read_text()
    assert not any(c.startswith("License ::") for c in meta["classifiers"])
    assert {"Source", "Issues"} <= set(meta["urls"]) and meta["keywords"]
    reqs = [ln.strip() for ln in (ROOT / "requirements.txt").read_text().splitlines()
            if ln.strip() and not ln.startswith("#")]
    assert reqs == ["-e .[book,notebooks,test,index]"]
    assert set("book,notebooks,test,index".split(",")) <= set(meta["optional-dependencies"])


def test_quickstart_runs_as_written():
    r = _hashnotes("train", "dcmh", "cca", "--bits", "16", "--epochs", "2")
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stdout.strip().splitlines()
    assert lines[0].split()[:4] == ["method", "bits", "map_i2t", "map_t2i"]
    rows = [ln.split() for ln in lines[1:]]
    assert [(x[0], x[1], x[6]) for x in rows] == [("dcmh", "16", "2"), ("cca", "16", "1")]  # CCA: one fit
    assert all(0.0 < float(v) <= 1.0 for x in rows for v in x[2:4])
    assert "Traceback" not in r.stderr


def test_bench_command_runs(tmp_path):
    """The README's bench command, on fewer toy pairs (the fast variant) and into a scratch folder."""
    cmd = next(c for c in _commands() if c.startswith("hashnotes bench"))
    args = cmd.split()[1:]
    args[args.index("--out") + 1] = str(tmp_path / "quick")
    r = _hashnotes(*args, "--toy-n", "600")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "bench: 6 of 6 runs trained, 0 skipped" in r.stdout
    table = [ln.split() for ln in r.stdout.strip().splitlines()[-3:]]
    assert [t[:3] for t in table] == [["dcmh", "16", "2"], ["cca", "16", "2"], ["random", "16", "2"]]


def test_nbmake_book_collects_every_chapter():
    """``pytest --nbmake ... book`` collects each chapter notebook (plain ``pytest`` collects only tests/)."""
    cmd = next(c for c in _commands() if c.startswith("pytest --nbmake"))
    r = subprocess.run([sys.executable, "-m", *cmd.split(), "--collect-only", "-q", "-p", "no:cacheprovider"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    collected = {Path(ln.split("::")[0]).name for ln in r.stdout.splitlines() if ".ipynb" in ln}
    chapters = {p.with_suffix(".ipynb").name for p in [*ROOT.glob("book/[0-9][0-9]_*.py"),
                                                       *ROOT.glob("book/A[0-9]_*.py")]}
    assert chapters and chapters <= collected, sorted(chapters - collected)


def test_python_example_beats_random_codes(monkeypatch, capsys):
    """The README's Python example, run as written from the repository root on ../shared/data (the 730 real
    MIRFLICKR photos, missing_images="drop"): DCMH's codes beat random codes in both directions."""
    if not (ROOT.parent / "shared" / "data" / "mirflickr_thumbs_im1-1000").is_dir():
        pytest.skip("../shared/data (the real MIRFLICKR photos) is absent: the README example reads it")
    (code,) = _blocks("python")
    assert 'data.load(data.shared_data_dir(), missing_images="drop")' in code
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("HASHNOTES_THREADS", os.environ.get("HASHNOTES_THREADS", "1"))
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)  # noqa: S102 - the README's own example
    out = capsys.readouterr().out
    ds, model = scope["ds"], scope["model"]
    assert out.splitlines()[0] == repr(ds) and len(repr(ds)) < 300  # a short description, not the arrays
    assert ds.train.images.ndim == 2  # descriptors, not pixels: the default for real photos
    from hashnotes import methods

    got = model.evaluate(ds)
    floor = methods.build("random", bits=16).fit(ds).evaluate(ds)
    for key in ("map_i2t", "map_t2i"):
        assert got[key] > floor[key] + 0.05, (key, got[key], floor[key])
