"""The book's real-data sections: computed where the data is, shipped with the package where it is not.

A chapter's real-data section opens a :class:`Section` naming the data files it needs. When they are found
(``data.shared_data_dir()``: ``$HASHNOTES_DATA`` or ``../shared/data``) the chapter computes its numbers and
hands them to :meth:`Section.keep`; :meth:`Section.finish` then checks them against the record that ships
with the package (``hashnotes/results/sections/<name>.json``) and raises when one lies outside the spread of
the recorded seeds. When the files are missing the section reads the shipped record instead, so the page
shows the real numbers, labelled as shipped and naming the command that made them.

The records are made by executing the chapters with the data present::

    python -m hashnotes.sections record book/03_data.ipynb book/07_ugach.ipynb   # all seeds, into the package
    python -m hashnotes.sections list                                             # what ships, and from where

While recording, :meth:`Section.seeds` yields every recorded seed (``RECORD_SEEDS``) instead of seed 0 alone,
and :meth:`Section.finish` writes the record (with the data files' sha256, the dataset and the environment,
:mod:`hashnotes.provenance`) rather than checking it.

"Within the seeds' spread": a number computed here may lie outside the range ``[lo, hi]`` of the recorded
seeds by no more than the range is wide (plus ``atol``, default ``1e-9``), so a section whose numbers do
not depend on the seed (label statistics, a data set's sizes) must reproduce them exactly. Words, flags and
other non-numbers must equal one of the recorded values. Timings are recorded but never checked: they
describe the recording machine.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ._io import sha256_file

__all__ = ["Section", "SectionMismatch", "RECORD_SEEDS", "SECTIONS_DIR", "shipped_record", "record_command",
           "agreement_problems"]

SECTIONS_DIR = Path(__file__).resolve().parent / "results" / "sections"
RECORD_ENV = "HASHNOTES_RECORD_SECTIONS"     # folder the recorder collects records in
SEEDS_ENV = "HASHNOTES_SECTION_SEEDS"        # comma-separated seeds a recording run computes
RECORD_SEEDS = (0, 1, 2)
_SCALARS = (bool, int, float, str)


class SectionMismatch(AssertionError):
    """A number computed here lies outside the shipped record's seed spread."""


def record_command(chapter: str | None) -> str:
    """The command that makes a section's record (the chapter whose execution computes it)."""
    return "python -m hashnotes.sections record" + (f" {chapter}" if chapter else "")


def shipped_record(name: str, folder: Path | None = None) -> dict | None:
    """The shipped record of section ``name`` (a dict), or None when none ships."""
    path = Path(folder or SECTIONS_DIR) / f"{name}.json"
    if not path.is_file():
        return None
    rec = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(rec, dict) or rec.get("section") != name or not isinstance(rec.get("runs"), dict):
        raise ValueError(f"{path}: not a section record for {name!r} (expected 'section' and 'runs')")
    return rec




def _check_scalar(name: str, key: str, v):
    if hasattr(v, "item") and getattr(v, "shape", None) == ():
        v = v.item()
    if v is None or not isinstance(v, _SCALARS):
        raise ValueError(f"section {name!r}: value {key!r} must be a number, a word or a flag, got {v!r}")
    if isinstance(v, float) and not math.isfinite(v):
        raise ValueError(f"section {name!r}: value {key!r} is {v!r}; a section never keeps a placeholder")
    if isinstance(v, str) and not v.strip():
        raise ValueError(f"section {name!r}: value {key!r} is an empty string")
    return v


def _plain(x):
    """JSON types only (numpy scalars and arrays as numbers and lists)."""
    if hasattr(x, "tolist"):
        return x.tolist()
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        raise ValueError(f"a section's data holds {x!r}")
    return x


def agreement_problems(values: dict, record: dict, atol: dict | None = None) -> list[str]:
    """The keys of ``values`` that do not agree with ``record``'s runs, each with why (empty: all agree)."""
    atol = atol or {}
    runs = [r.get("values", {}) for r in record["runs"].values()]
    problems = []
    for key, v in sorted(values.items()):
        seen = [r[key] for r in runs if key in r]
        if not seen:
            problems.append(f"{key}: not in the shipped record")
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or any(
                isinstance(s, bool) or not isinstance(s, (int, float)) for s in seen):
            if v not in seen:
                problems.append(f"{key}: {v!r} here, shipped {sorted(set(map(repr, seen)))}")
            continue
        lo, hi = min(seen), max(seen)
        margin = (hi - lo) + atol.get(key, 1e-9)
        if not lo - margin <= v <= hi + margin:
            problems.append(f"{key}: {v:.6g} here, shipped seeds {lo:.6g} to {hi:.6g} (allowed {lo - margin:.6g} "
                            f"to {hi + margin:.6g})")
    missing = sorted(set(runs[0]) - set(values)) if runs else []
    problems += [f"{key}: shipped but not computed here" for key in missing]
    return problems


class Section:
    """One real-data section of a chapter: its numbers, computed here or read from the shipped record.

    Parameters
    ----------
    name : str
        The record's name (``hashnotes/results/sections/<name>.json``).
    needs : list of str or tuple of str
        Data files (relative to the data folder) the section reads; a tuple lists alternatives.
    chapter : str
        The chapter notebook that computes it (``book/07_ugach.ipynb``), named in the recording command.
    seeded : bool
        Whether its numbers depend on a seed (then recording computes every seed of ``RECORD_SEEDS``).
    root : path, optional
        The data folder (default: ``data.shared_data_dir()``).
    atol : dict, optional
        Extra absolute tolerance per value key, on top of the seeds' spread.
    settings : dict, optional
        What the numbers were computed with beyond the seed (e.g. ``{"preset": "reduced"}``). A record made
        with other settings is shown, never compared with: the note says so.
    """

    def __init__(self, name: str, needs, chapter: str, seeded: bool = True, root=None, atol: dict | None = None,
                 settings: dict | None = None):
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"name: expected an identifier, got {name!r}")
        self.name, self.chapter, self.seeded, self.atol = name, chapter, bool(seeded), dict(atol or {})
        self.settings = _plain(dict(settings or {}))
        self.needs = [tuple(n) if isinstance(n, (list, tuple)) else (n,) for n in needs]
        if root is None:
            from .data import shared_data_dir

            root = shared_data_dir()
        self.root = None if root is None else Path(root)
        self.files: dict[str, Path] = {}
        self.missing: list[str] = []
        for alternatives in self.needs:
            hit = None if self.root is None else next(
                (self.root / a for a in alternatives if (self.root / a).exists()), None)
            if hit is None:
                self.missing.append(alternatives[0])
            else:
                self.files[str(hit.relative_to(self.root))] = hit
        self.here = self.root is not None and not self.missing
        self.recording = os.environ.get(RECORD_ENV) or None
        self.record = shipped_record(name)
        if not self.here and self.record is None:
            raise FileNotFoundError(
                f"section {name!r}: the data files {self.missing} are not in the data folder "
                f"({self.root or 'none found'}) and no shipped record {SECTIONS_DIR / (name + '.json')} exists; "
                f"make one with `{record_command(chapter)}` where the data is")
        self.comparable = self.record is not None and self.record.get("settings", {}) == self.settings
        self.runs: dict[int, dict] = {}
        self.dataset = None
        self.finished = False

    # ------------------------------------------------------------------ computing
    def seeds(self) -> tuple:
        """The seeds to compute: 0 in a build; every recorded seed while recording (seeded sections)."""
        if not self.here:
            return ()
        if self.recording and self.seeded:
            raw = os.environ.get(SEEDS_ENV, "")
            return tuple(int(s) for s in raw.split(",") if s.strip()) or RECORD_SEEDS
        return (0,)

    def keep(self, seed: int, values: dict | None = None, data: dict | None = None, timings: dict | None = None,
             dataset=None):
        """Add what seed ``seed`` computed: ``values`` (numbers and words, checked against the record),
        ``data`` (lists and tables for figures, not checked), ``timings`` (seconds, not checked)."""
        if not self.here:
            raise RuntimeError(f"section {self.name!r}: nothing to keep, the data is not here")
        run = self.runs.setdefault(int(seed), {"values": {}, "data": {}, "timings": {}})
        for key, v in (values or {}).items():
            run["values"][str(key)] = _check_scalar(self.name, key, v)
        for key, v in (timings or {}).items():
            run["timings"][str(key)] = float(_check_scalar(self.name, key, v))
        run["data"].update(_plain(data or {}))
        if dataset is not None:
            self.dataset = dataset

    # ------------------------------------------------------------------ reading
    def _run0(self) -> dict:
        if self.here:
            if 0 not in self.runs:
                raise RuntimeError(f"section {self.name!r}: seed 0 has not been kept yet")
            return self.runs[0]
        return self.record["runs"]["0"]

    @property
    def values(self) -> dict:
        """Seed 0's values: computed here, or shipped."""
        return dict(self._run0()["values"])

    @property
    def data(self) -> dict:
        return dict(self._run0().get("data", {}))

    @property
    def timings(self) -> dict:
        return dict(self._run0().get("timings", {}))

    def spread(self, key: str) -> tuple:
        """(lowest, highest) value of ``key`` over the shipped record's seeds."""
        seen = [r["values"][key] for r in (self.record or {"runs": {}})["runs"].values() if key in r["values"]]
        if not seen:
            raise KeyError(f"section {self.name!r}: no shipped value {key!r}")
        return min(seen), max(seen)

    def note(self) -> str:
        """One paragraph saying where the section's numbers come from."""
        rec = self.record
        made = ""
        if rec is not None:
            # the command without the notebook's repository path: the page names "this chapter" instead
            made = (f"`{record_command(None)}` run on this chapter (hashnotes {rec.get('hashnotes', '?')}, "
                    f"{rec.get('created', '?')[:10]}, seed{'s' if len(rec['runs']) > 1 else ''} "
                    f"{', '.join(sorted(rec['runs'], key=int))})")
        if self.here and self.recording:
            return f"Computed here from the data folder (seeds {', '.join(map(str, sorted(self.runs)))}), recording."
        if self.here:
            if rec is None:
                agree = "; no shipped record to compare with"
            elif not self.comparable:
                agree = (f", with other settings ({self.settings}) than the shipped results of {made} "
                         f"({rec.get('settings', {})}), so the two are not compared")
            else:
                agree = (f", and checked against the shipped results of {made}: they must agree within the seeds' "
                         "spread")
            return f"Computed here from the data folder (seed 0){agree}."
        return (f"Shipped results: the data folder lacks {', '.join(self.missing)}, so these numbers are the "
                f"ones made by {made} on the real data, shipped with the package. With the data present "
                f"(`hashnotes.data.download()` fetches it) the chapter recomputes them.")

    def show(self):
        """Display :meth:`note` (Markdown in a notebook, plain text elsewhere)."""
        try:
            from IPython.display import Markdown, display

            display(Markdown(f"*{self.note()}*"))
        except ImportError:  # pragma: no cover - IPython ships with the notebooks extra
            print(self.note())

    def glue(self, prefix: str = ""):
        """Glue every value and timing of seed 0 under ``prefix + key`` for the chapter's prose."""
        from .widgets import glue

        for key, v in {**self.values, **self.timings}.items():
            glue(prefix + key, v)

    # ------------------------------------------------------------------ closing
    def finish(self) -> "Section":
        """Check seed 0 against the shipped record (a build with the data), or write the record (recording)."""
        if self.finished or not self.here:
            self.finished = True
            return self
        if 0 not in self.runs:
            raise RuntimeError(f"section {self.name!r}: seed 0 was never kept")
        if self.recording:
            self._write(Path(self.recording))
        elif self.comparable:
            problems = agreement_problems(self.runs[0]["values"], self.record, self.atol)
            if problems:
                raise SectionMismatch(f"section {self.name!r}: computed here, outside the shipped seeds' spread "
                                      f"({SECTIONS_DIR / (self.name + '.json')}):\n  " + "\n  ".join(problems))
        self.finished = True
        return self

    def _write(self, folder: Path) -> Path:
        from . import __version__
        from ._io import atomic_write_text
        from .provenance import dataset_record, environment_record

        folder.mkdir(parents=True, exist_ok=True)
        rec = {
            "section": self.name,
            "chapter": self.chapter,
            "command": record_command(self.chapter),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "hashnotes": str(__version__),
            "seeded": self.seeded,
            "settings": self.settings,
            "files": {rel: {"sha256": sha256_file(p), "bytes": p.stat().st_size} for rel, p in sorted(self.files.items())
                      if p.is_file()},
            "dataset": dataset_record(self.dataset) if self.dataset is not None else None,
            "environment": environment_record(),
            "runs": {str(s): self.runs[s] for s in sorted(self.runs)},
        }
        return atomic_write_text(folder / f"{self.name}.json", json.dumps(rec, indent=1, sort_keys=True) + "\n")


# ---------------------------------------------------------------------------------------------- command line
def _execute(chapter: Path, out: Path, seeds: tuple, timeout: int) -> None:
    """Execute a copy of ``chapter`` with the recorder's variables set (nbclient, the build's environment)."""
    import nbformat
    from nbclient import NotebookClient

    env = {RECORD_ENV: str(out), SEEDS_ENV: ",".join(map(str, seeds)), "HASHNOTES_BOOK_BUILD": "1"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp) / "book"
            shutil.copytree(chapter.parent, work, ignore=shutil.ignore_patterns("_build", ".*", "*.py"))
            nb = nbformat.read(work / chapter.name, as_version=4)
            NotebookClient(nb, timeout=timeout, kernel_name="python3",
                           resources={"metadata": {"path": str(work)}}).execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m hashnotes.sections", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record", help="execute chapters with the data present and write their section records")
    r.add_argument("chapters", nargs="+", help="chapter notebooks (book/NN_name.ipynb)")
    r.add_argument("--seeds", type=int, nargs="+", default=list(RECORD_SEEDS))
    r.add_argument("--out", default=str(SECTIONS_DIR), help="folder for the records (default: the package's)")
    r.add_argument("--timeout", type=int, default=1200, help="seconds per cell")
    sub.add_parser("list", help="the shipped records: section, chapter, seeds, date")
    args = p.parse_args(argv)
    if args.cmd == "list":
        for path in sorted(SECTIONS_DIR.glob("*.json")):
            rec = shipped_record(path.stem)
            print(f"{rec['section']:28s} {rec.get('chapter', '?'):24s} seeds {','.join(sorted(rec['runs'], key=int)):8s}"
                  f" {rec.get('created', '?')}  {rec.get('command', '')}")
        return 0
    from .data import shared_data_dir

    if shared_data_dir() is None:
        print("error: recording needs the real data: no ../shared/data and no $HASHNOTES_DATA folder was found "
              "(hashnotes.data.download() fetches it)", file=sys.stderr)
        return 2
    chapters = [Path(c) for c in args.chapters]
    bad = [str(c) for c in chapters if c.suffix != ".ipynb" or not c.is_file()]
    if bad:
        print(f"error: not chapter notebooks: {bad}", file=sys.stderr)
        return 2
    if 0 not in args.seeds:
        print("error: --seeds must include 0 (the seed a build computes and the page shows)", file=sys.stderr)
        return 2
    out = Path(args.out)
    with tempfile.TemporaryDirectory() as tmp:
        for chapter in chapters:
            print(f"[sections] executing {chapter} (seeds {args.seeds})", flush=True)
            before = set(Path(tmp).glob("*.json"))
            _execute(chapter.resolve(), Path(tmp), tuple(args.seeds), args.timeout)
            made = sorted(set(Path(tmp).glob("*.json")) - before)
            if not made:
                print(f"error: {chapter} recorded no section (does it open a hashnotes.sections.Section?)",
                      file=sys.stderr)
                return 1
            print(f"[sections] {chapter}: {', '.join(m.stem for m in made)}", flush=True)
        out.mkdir(parents=True, exist_ok=True)
        for rec in sorted(Path(tmp).glob("*.json")):
            shutil.move(str(rec), str(out / rec.name))
            print(f"[sections] wrote {out / rec.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
