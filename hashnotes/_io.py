"""Writes that a crash, a full disk or a second process cannot half-do.

* :func:`atomic_write_bytes` / :func:`atomic_write_text` / :func:`atomic_writer`: the new content goes to a
  temporary file in the destination's folder, is flushed and fsynced, and replaces the destination with
  ``os.replace`` (atomic on POSIX and Windows). A failure at any point leaves the previous file as it was
  and removes the temporary file.
* :func:`append_jsonl`: one row as one complete line, flushed and fsynced before it returns.
* :func:`repair_jsonl`: cuts a torn last line (what a kill or a full disk leaves) off a JSON-lines file,
  keeping a copy of the cut bytes beside it as ``<name>.torn-<timestamp>``.
* :func:`folder_lock`: an exclusive, non-blocking lock on a folder (``fcntl.flock`` on ``FOLDER/.lock``);
  a second holder is refused with a :class:`FolderLocked` error naming the process that holds it.
* :func:`check_writable`: fail before any work when a folder cannot be created or written.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

__all__ = ["atomic_write_bytes", "atomic_write_text", "atomic_writer", "append_jsonl", "repair_jsonl",
           "folder_lock", "FolderLocked", "check_writable"]


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (a no-op where directories cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(str(folder), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_writer(path, mode: str = "wb", **open_kwargs):
    """``with atomic_writer(path) as f: ...`` writes ``f`` to a temporary file in ``path``'s folder and, when
    the block ends without an exception, flushes, fsyncs and ``os.replace``-s it over ``path``. On any
    exception the temporary file is removed and ``path`` keeps its previous content."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_writer mode must be 'w' or 'wb', got {mode!r}")
    dest = Path(path)
    if dest.is_dir():
        raise IsADirectoryError(f"{str(dest)!r} is a directory")
    folder = dest.parent if str(dest.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=str(folder))
    try:
        with os.fdopen(fd, mode, **open_kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(folder)


def atomic_write_bytes(path, data: bytes) -> Path:
    """Replace ``path`` by ``data`` atomically (see :func:`atomic_writer`); returns the path."""
    with atomic_writer(path, "wb") as f:
        f.write(data)
    return Path(path)


def atomic_write_text(path, text: str, encoding: str = "utf-8", newline: str | None = None) -> Path:
    """Replace ``path`` by ``text`` atomically (see :func:`atomic_writer`); returns the path."""
    with atomic_writer(path, "w", encoding=encoding, newline=newline) as f:
        f.write(text)
    return Path(path)


def append_jsonl(path, row) -> None:
    """Append ``row`` as one JSON line: the whole line is written with one call, then flushed and fsynced.

    If the file does not end with a newline (a torn last line), a newline is written first so that the new
    row starts on a line of its own; :func:`repair_jsonl` is the way to remove such a tail."""
    line = json.dumps(row, allow_nan=True) + "\n"
    if "\n" in line[:-1]:  # json.dumps never emits a raw newline; guard anyway
        raise ValueError("a JSON-lines row must serialise to one line")
    with open(path, "a+b") as f:
        f.seek(0, os.SEEK_END)
        if f.tell() > 0:
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":
                line = "\n" + line
        f.write(line.encode("utf-8"))  # append mode: always at the end of the file
        f.flush()
        os.fsync(f.fileno())


def repair_jsonl(path) -> Path | None:
    """Cut a torn tail off the JSON-lines file ``path``; return the path of the saved copy, or None.

    The tail is everything after the last newline when that last line is not valid JSON (a row cut short by
    a kill or a full disk). The cut bytes are kept in ``<name>.torn-<timestamp>`` beside the file, then the
    file is truncated to its last complete line (fsynced). A last line that is valid JSON but lacks its
    newline (a complete JSON object) gets the newline. Invalid lines before the last one are not touched (they are not a torn write;
    the reader reports them)."""
    p = Path(path)
    if not p.is_file():
        return None
    size = p.stat().st_size
    if size == 0:
        return None
    with open(p, "rb") as f:
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return None
        # the last line starts after the last newline: look for it backwards, one block at a time
        start, pos, block = 0, size, 1 << 16
        while pos > 0:
            step = min(block, pos)
            pos -= step
            f.seek(pos)
            cut = f.read(step).rfind(b"\n")
            if cut >= 0:
                start = pos + cut + 1
                break
        f.seek(start)
        last = f.read()
    try:  # rows are JSON objects: a torn row is never a complete object
        valid = isinstance(json.loads(last.decode("utf-8")), dict)
    except (UnicodeDecodeError, ValueError):
        valid = False
    if valid:  # a complete row whose newline was lost: finish the line
        with open(p, "ab") as f:
            f.write(b"\n")
            f.flush()
            os.fsync(f.fileno())
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    copy = p.with_name(f"{p.name}.torn-{stamp}")
    n = 1
    while copy.exists():
        copy = p.with_name(f"{p.name}.torn-{stamp}-{n}")
        n += 1
    atomic_write_bytes(copy, last)
    with open(p, "r+b") as f:
        f.truncate(start)
        f.flush()
        os.fsync(f.fileno())
    return copy


class FolderLocked(OSError):
    """Another process holds the lock of a folder (``pid`` is its process id when it wrote one)."""

    def __init__(self, message: str, pid: int | None = None):
        super().__init__(message)
        self.pid = pid

    def __str__(self) -> str:
        return self.args[0]


@contextlib.contextmanager
def folder_lock(folder, what: str = "this folder"):
    """Hold an exclusive lock on ``folder`` (``folder/.lock``, ``fcntl.flock``, non-blocking) for the block.

    A second process (or a second lock in this one) is refused at once with :class:`FolderLocked`, whose
    message names ``what`` and the process id written in the lock file by the holder. The lock file stays
    behind; the kernel releases the lock when the holder exits, however it exits."""
    try:
        import fcntl
    except ImportError:  # Windows: no flock; run unlocked rather than not at all
        yield None
        return
    d = Path(folder)
    lock = d / ".lock"
    fd = os.open(str(lock), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
                pid = int(holder) if holder.isdigit() else None
            except OSError:
                pid = None
            who = f"process {pid}" if pid is not None else "another process"
            raise FolderLocked(f"{what} {str(d)!r} is in use by {who} (lock file {str(lock)!r}); wait for it to "
                               "finish or choose another folder", pid) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        os.fsync(fd)
        yield lock
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def check_writable(folder, flag: str) -> Path:
    """Create ``folder`` if needed and prove a file can be written in it; a ValueError naming ``flag``
    (e.g. ``--out``) and the reason otherwise. Returns the folder as a Path."""
    d = Path(folder).expanduser()
    if d.exists() and not d.is_dir():
        raise ValueError(f"{flag} {str(folder)!r} exists and is not a folder")
    try:
        d.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".hashnotes-write-test.", dir=str(d))
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ValueError(f"{flag} {str(folder)!r} cannot be written: {exc.strerror or exc}") from None
    return d


def sha256_file(path) -> str:
    """Hex sha256 of a whole file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
