"""The package users install: a wheel built with ``python -m build`` installs into a fresh virtual environment,
where ``python -m hashnotes --help`` / ``--version`` run and ``import hashnotes`` is the installed copy.

The fresh environment borrows the heavy dependencies (torch, numpy, ...) from the test's own environment
through a plain path entry, so the test needs no network; the wheel itself is installed with ``--no-deps``
and must bring every module of the package (a missing file fails the import)."""
from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    r = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(REPO)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    wheels = list(out.glob("hashnotes-*.whl"))
    assert len(wheels) == 1
    return wheels[0]


def test_wheel_holds_the_package_and_one_version(wheel):
    import hashnotes

    assert wheel.name.startswith(f"hashnotes-{hashnotes.__version__}-")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
        text = z.read(meta).decode()
    src = {str(p.relative_to(REPO)) for p in (REPO / "hashnotes").rglob("*.py")}
    assert src <= names, sorted(src - names)[:5]
    # every data file the package reads at run time: the reference results the comparison chapter reads, the
    # real-data sections' shipped records, the sources data.download fetches from
    data = {str(p.relative_to(REPO)) for p in (REPO / "hashnotes").rglob("*")
            if p.suffix in (".json", ".jsonl", ".csv", ".npz") and "__pycache__" not in p.parts}
    assert {"hashnotes/data/sources.json"} <= data and any("results/sections/" in n for n in data)
    assert data <= names, sorted(data - names)
    assert f"Version: {hashnotes.__version__}" in text
    assert "Provides-Extra: book" in text and "Provides-Extra: test" in text
    assert not any(n.startswith(("tests/", "book/", "benchmarks/")) for n in names)


def test_wheel_installs_and_runs_in_a_fresh_environment(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / ("Scripts" if sys.platform == "win32" else "bin") / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # dependencies from this environment, appended after the fresh site-packages (no .pth of it is executed)
    Path(site, "_deps_from_test_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    r = subprocess.run([str(py), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    cwd = tmp_path  # not the repository: the source tree must not shadow the installed package
    where = subprocess.run([str(py), "-c", "import hashnotes, sys; print(hashnotes.__file__)"], cwd=cwd,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert where.startswith(site), where
    import hashnotes

    v = subprocess.run([str(py), "-m", "hashnotes", "--version"], cwd=cwd, capture_output=True, text=True)
    assert v.returncode == 0 and v.stdout.strip() == f"hashnotes {hashnotes.__version__}"
    h = subprocess.run([str(py), "-m", "hashnotes", "--help"], cwd=cwd, capture_output=True, text=True)
    assert h.returncode == 0 and "train" in h.stdout and "bench" in h.stdout
    rows = subprocess.run([str(py), "-c", "from hashnotes import bench; print(len(bench.reference_results('toy')))"],
                          cwd=cwd, capture_output=True, text=True)
    assert rows.returncode == 0 and int(rows.stdout) > 0, rows.stderr[-1000:]
    script = env_dir / "bin" / "hashnotes"
    if script.exists():
        s = subprocess.run([str(script), "--version"], cwd=cwd, capture_output=True, text=True)
        assert s.stdout.strip() == f"hashnotes {hashnotes.__version__}"
