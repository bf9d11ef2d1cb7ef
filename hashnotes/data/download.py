"""Fetch the real data the book reads from its public sources, each file pinned to a commit and sha256-checked.

``download(name, root=None)`` puts the files of ``name`` (``"mirflickr25k"``, ``"mirflickr_photos"``,
``"wiki"``, or ``"all"``) into ``root``: by default ``$HASHNOTES_DATA`` when set, else the user's cache folder
(:func:`default_root`). The sources are listed in ``sources.json`` beside this module: one group per public
repository, pinned to a commit, with every file's sha256 and size. A file already there with the right sha256
is kept; a partial download (``<file>.part``) is resumed with an HTTP range request; a finished file whose
sha256 differs is removed and reported. Two files are not published anywhere and are rebuilt from the fetched
ones, then checked the same way: the word of each ``YAll`` column (``mirflickr25k-yall-vocab.txt``, matched by
its occurrence in ``all_tags.txt``) and the thumbnails' index (``mirflickr_thumbs_index.csv``).

Without a network connection the error names the file, the address it was fetched from and what to do.
"""
from __future__ import annotations

import csv
import hashlib
import http.client
import io
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from .._io import sha256_file

__all__ = ["download", "default_root", "SOURCES", "sources", "DownloadError"]

SOURCES = Path(__file__).resolve().with_name("sources.json")
BASE_ENV = "HASHNOTES_DATA_BASE_URL"     # another address serving the same {repo}/{commit}/{path} layout
_CHUNK = 1 << 16


class DownloadError(ConnectionError):
    """A file could not be fetched (offline, not found, wrong content); the message names file and source."""


def sources() -> dict:
    """The parsed ``sources.json``."""
    return json.loads(SOURCES.read_text(encoding="utf-8"))


def default_root() -> Path:
    """``$HASHNOTES_DATA`` when set, else the user's cache folder: ``$XDG_CACHE_HOME/hashnotes/data`` (or
    ``~/.cache/hashnotes/data``) on Linux, ``~/Library/Caches/hashnotes/data`` on macOS and
    ``%LOCALAPPDATA%\\hashnotes\\data`` on Windows."""
    env = os.environ.get("HASHNOTES_DATA")
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "hashnotes" / "data"




def _plan(name: str, man: dict) -> tuple[list, list]:
    """(files to fetch as (dest, url-path, sha256, bytes, repo@commit), derived files) for dataset ``name``."""
    sets = man["datasets"]
    if name == "all":
        names = list(sets)
    elif name in sets:
        names = [name]
    else:
        raise ValueError(f"name: unknown data set {name!r}; choose one of {sorted(sets)} or 'all'")
    wanted, seen = [], set()
    while names:
        for item in sets[names.pop(0)]:
            if item.startswith("@"):
                names.append(item[1:])
            elif item not in seen:
                seen.add(item)
                wanted.append(item)
    fetch, derived = [], []
    for item in wanted:
        if item in man["derived"]:
            derived.append(item)
            continue
        hits = [(g["dest"] + f, g["path"] + f, sha, size, g) for g in man["groups"] for f, (sha, size) in
                g["files"].items() if (g["dest"] + f == item) or (item.endswith("/") and g["dest"] == item)]
        if not hits:
            raise ValueError(f"sources.json: no source for {item!r}")
        fetch += [(dest, path, sha, size, f"{g['repo']}@{g['commit']}", g) for dest, path, sha, size, g in hits]
    return fetch, derived


def _url(man: dict, group: dict, path: str, base: str | None) -> str:
    if base:
        return f"{base.rstrip('/')}/{group['repo']}/{group['commit']}/{path}"
    return man["url"].format(repo=group["repo"], commit=group["commit"], path=path)


def _fetch(url: str, dest: Path, sha: str, size: int, source: str, bar, timeout: float) -> None:
    """Download ``url`` into ``dest`` (resuming ``dest.part``), then check its size and sha256."""
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    if have > size:
        part.unlink()
        have = 0
    if have < size:
        req = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status = getattr(resp, "status", 200)
                mode = "ab" if have and status == 206 else "wb"
                if mode == "wb" and have:
                    bar.update(-have)          # the server ignored the range: start again
                    have = 0
                with open(part, mode) as out:
                    while True:
                        block = resp.read(_CHUNK)
                        if not block:
                            break
                        out.write(block)
                        bar.update(len(block))
        except urllib.error.HTTPError as exc:
            raise DownloadError(f"{dest.name}: {url} answered {exc.code} {exc.reason} (source {source}); the "
                                f"partial file {part} is kept and a second call resumes it") from exc
        except http.client.HTTPException as exc:          # the connection dropped mid-file
            raise DownloadError(f"{dest.name}: the transfer from {url} broke off ({type(exc).__name__}; source "
                                f"{source}); {part.name} is kept and a second call resumes it") from exc
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DownloadError(f"{dest.name}: could not fetch {url} ({reason}; source {source}). Offline? "
                                f"Connect and call download() again (it resumes {part.name}), or copy the file "
                                f"from that repository's commit to {dest} by hand") from exc
    got = part.stat().st_size
    if got < size:
        raise DownloadError(f"{dest.name}: {url} sent {got:,} of {size:,} bytes (source {source}); {part.name} is "
                            "kept and a second call resumes it")
    digest = sha256_file(part)
    if got != size or digest != sha:
        part.unlink()
        raise DownloadError(f"{dest.name}: the file fetched from {url} (source {source}) has {got:,} bytes and "
                            f"sha256 {digest}, expected {size:,} bytes and {sha}; it was removed")
    os.replace(part, dest)


# ------------------------------------------------------------------------------------------- derived files
def _vocab(root: Path) -> bytes:
    """The word of each ``YAll`` column: the tag of ``all_tags.txt`` whose rows are exactly the column's rows
    (columns with the same rows take their words in sorted order)."""
    import numpy as np

    import scipy.io

    Y = np.asarray(scipy.io.loadmat(root / "mirflickr25k-yall.mat")["YAll"])
    lines = (root / "mirflickr25k-all_tags.txt").read_text(encoding="utf-8").split("\n")[: Y.shape[0]]
    rows: dict[str, set] = {}
    for i, line in enumerate(lines):
        for tag in line.split(","):
            if tag:
                rows.setdefault(tag, set()).add(i)
    by_rows: dict[tuple, list] = {}
    for tag, r in rows.items():
        by_rows.setdefault(tuple(sorted(r)), []).append(tag)
    words, used = [], {}
    for j in range(Y.shape[1]):
        key = tuple(np.flatnonzero(Y[:, j]).tolist())
        tags = sorted(by_rows.get(key, []))
        k = used.get(key, 0)
        if k >= len(tags):
            raise ValueError(f"mirflickr25k-yall.mat column {j}: no tag of mirflickr25k-all_tags.txt occurs in "
                             "exactly its rows")
        used[key] = k + 1
        words.append(tags[k])
    return ("\n".join(words) + "\n").encode("utf-8")


def _thumbs_index(root: Path) -> bytes:
    """file, mirflickr_id, row in the 20,015 pairs (-1 when dropped), width, height, labels and tags."""
    from PIL import Image

    imgs = (root / "mirflickr25k-all_imgs.txt").read_text(encoding="utf-8").split("\n")
    tags = (root / "mirflickr25k-all_tags.txt").read_text(encoding="utf-8").split("\n")
    labels = (root / "mirflickr25k-labels_annotation.txt").read_text(encoding="utf-8").split("\n")
    row_of = {Path(p).name: i for i, p in enumerate(imgs) if p.strip()}
    folder = root / "mirflickr_thumbs_im1-1000"
    buf = io.StringIO(newline="")
    w = csv.writer(buf)                      # the csv module's own line ends (\r\n), as the index was written
    w.writerow(["file", "mirflickr_id", "row_in_20015", "width", "height", "labels", "tags"])
    for f in sorted(folder.glob("im*.jpg"), key=lambda p: int(p.stem[2:])):
        with Image.open(f) as im:
            width, height = im.size
        r = row_of.get(f.name, -1)
        w.writerow([f.name, int(f.stem[2:]), r, width, height, labels[r] if r >= 0 else "", tags[r] if r >= 0 else ""])
    return buf.getvalue().encode("utf-8")


_DERIVE = {"mirflickr25k-yall-vocab.txt": _vocab, "mirflickr_thumbs_index.csv": _thumbs_index}


def download(name: str = "all", root=None, *, progress: bool | None = None, base_url: str | None = None,
             timeout: float = 60.0) -> Path:
    """Fetch data set ``name`` into ``root`` (default :func:`default_root`) and return that folder.

    Parameters
    ----------
    name : str
        ``"mirflickr25k"`` (labels, bag-of-words tags, raw tags, label names, image names),
        ``"mirflickr_photos"`` (the 1,000 thumbnails and their index, with ``mirflickr25k``), ``"wiki"``
        (the Wikipedia features), or ``"all"``.
    root : path, optional
        Destination folder (created when missing). Point ``$HASHNOTES_DATA`` at it so the loaders and the
        book find it.
    progress : bool, optional
        A progress bar over the bytes to fetch (default: when stderr is a terminal or a notebook shows it).
    base_url : str, optional
        Another server with the same ``{repo}/{commit}/{path}`` layout (a mirror; also ``$HASHNOTES_DATA_BASE_URL``).
    """
    man = sources()
    fetch, derived = _plan(name, man)
    root = Path(root).expanduser() if root is not None else default_root()
    root.mkdir(parents=True, exist_ok=True)
    base = base_url or os.environ.get(BASE_ENV)
    todo = []
    for dest, path, sha, size, source, group in fetch:
        target = root / dest
        if target.is_file() and target.stat().st_size == size and sha256_file(target) == sha:
            continue
        todo.append((target, _url(man, group, path, base), sha, size, source))
    from tqdm.auto import tqdm

    if progress is None:
        progress = sys.stderr.isatty() or "ipykernel" in sys.modules
    resumed = sum(min(t.with_name(t.name + ".part").stat().st_size, s) for t, _, _, s, _ in todo
                  if t.with_name(t.name + ".part").exists())
    with tqdm(total=sum(s for _, _, _, s, _ in todo), initial=resumed, unit="B", unit_scale=True,
              desc=f"hashnotes data: {name}", disable=not progress or not todo) as bar:
        for target, url, sha, size, source in todo:
            target.parent.mkdir(parents=True, exist_ok=True)
            _fetch(url, target, sha, size, source, bar, timeout)
    for item in derived:
        sha, size = man["derived"][item]
        target = root / item
        if target.is_file() and sha256_file(target) == sha:
            continue
        content = _DERIVE[item](root)
        if hashlib.sha256(content).hexdigest() != sha or len(content) != size:
            raise ValueError(f"{item}: rebuilt from the fetched files, but its sha256 "
                             f"{hashlib.sha256(content).hexdigest()} differs from the pinned {sha}")
        part = target.with_name(target.name + ".part")
        part.write_bytes(content)
        os.replace(part, target)
    return root
