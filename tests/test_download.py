"""hashnotes.data.download against a local HTTP server on the loopback interface that serves ../shared/data in
the pinned sources' {repo}/{commit}/{path} layout (never the internet): every file arrives sha256-checked, the
derived files are rebuilt byte for byte, a cut download resumes with a range request, a corrupted file is
refused, and an unreachable server gives an error naming the file and its source."""
from __future__ import annotations

import contextlib
import hashlib
import http.server
import threading
from pathlib import Path

import importlib

import pytest

# the module (hashnotes.data.download is also the name of its function, which the package exports)
dl = importlib.import_module("hashnotes.data.download")

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data to serve (the real files)")


def _routes() -> dict:
    """URL path -> local file, for every pinned file of sources.json."""
    man = dl.sources()
    return {f"/{g['repo']}/{g['commit']}/{g['path']}{name}": SHARED / (g["dest"] + name)
            for g in man["groups"] for name in g["files"]}


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict = {}
    log: list = []
    cut_after: dict = {}       # path -> bytes to send before dropping the connection (once)
    corrupt: set = set()

    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802 - http.server's name
        path = self.path
        local = self.routes.get(path)
        if local is None:
            self.send_error(404)
            return
        body = local.read_bytes()
        if path in self.corrupt:
            body = body[:-1] + bytes([body[-1] ^ 1])
        start = 0
        rng = self.headers.get("Range")
        if rng:
            start = int(rng.split("=")[1].split("-")[0])
        self.log.append((path, rng))
        self.send_response(206 if rng else 200)
        self.send_header("Content-Length", str(len(body) - start))
        if rng:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.end_headers()
        cut = self.cut_after.pop(path, None)
        self.wfile.write(body[start:] if cut is None else body[start:start + cut])
        if cut is not None:
            self.close_connection = True


@contextlib.contextmanager
def _server():
    _Handler.routes, _Handler.log, _Handler.cut_after, _Handler.corrupt = _routes(), [], {}, set()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_every_data_set_arrives_checked_and_the_derived_files_are_rebuilt(tmp_path):
    with _server() as base:
        root = dl.download("all", tmp_path / "data", base_url=base, progress=False)
    for rel in ("mirflickr25k-lall.mat", "mirflickr25k-yall.mat", "mirflickr25k-all_tags.txt", "wiki/wikiData.mat",
                "mirflickr25k-yall-vocab.txt", "mirflickr_thumbs_index.csv", "mirflickr_thumbs_im1-1000/im731.jpg"):
        assert _sha(root / rel) == _sha(SHARED / rel), rel
    assert len(list((root / "mirflickr_thumbs_im1-1000").glob("*.jpg"))) == 1000
    from hashnotes import data

    photos = data.mirflickr_photos(root, size=16)        # the loaders read the downloaded folder
    assert len(photos.files) == 730
    n_requests = len(_Handler.log)
    with _server() as base:                              # a second call finds everything in place
        dl.download("all", root, base_url=base, progress=False)
        assert _Handler.log == []
    assert n_requests == len(_Handler.routes) == 1006      # 6 files and 1,000 thumbnails, one request each


def test_a_cut_download_resumes_with_a_range_request(tmp_path):
    with _server() as base:
        path = next(p for p in _Handler.routes if p.endswith("all_tags.txt"))
        _Handler.cut_after[path] = 100_000
        with pytest.raises(dl.DownloadError, match="all_tags"):
            dl.download("mirflickr25k", tmp_path, base_url=base, progress=False)
        part = tmp_path / "mirflickr25k-all_tags.txt.part"
        assert part.stat().st_size == 100_000
        dl.download("mirflickr25k", tmp_path, base_url=base, progress=False)
        assert (path, "bytes=100000-") in _Handler.log
    assert _sha(tmp_path / "mirflickr25k-all_tags.txt") == _sha(SHARED / "mirflickr25k-all_tags.txt")
    assert not part.exists()


def test_a_file_with_the_wrong_sha256_is_refused_and_removed(tmp_path):
    with _server() as base:
        path = next(p for p in _Handler.routes if p.endswith("wikiData.mat"))
        _Handler.corrupt.add(path)
        with pytest.raises(dl.DownloadError, match=r"wikiData\.mat.*sha256.*expected"):
            dl.download("wiki", tmp_path, base_url=base, progress=False)
    assert not (tmp_path / "wiki" / "wikiData.mat").exists()
    assert not (tmp_path / "wiki" / "wikiData.mat.part").exists()


def test_offline_the_error_names_the_file_and_its_source(tmp_path):
    with _server() as base:
        pass                                              # the port is closed again: nothing answers
    with pytest.raises(dl.DownloadError) as err:
        dl.download("wiki", tmp_path, base_url=base, progress=False, timeout=5)
    msg = str(err.value)
    assert "wikiData.mat" in msg and "llcing/Cross-modal-hashing-SRLCH@93a0b7b" in msg and "Offline?" in msg


def test_names_and_the_default_folder(tmp_path, monkeypatch):
    from hashnotes import data

    assert data.download is dl.download
    with pytest.raises(ValueError, match="unknown data set 'coco'"):
        dl.download("coco", tmp_path)
    monkeypatch.setenv("HASHNOTES_DATA", str(tmp_path / "mine"))
    assert dl.default_root() == tmp_path / "mine"
    monkeypatch.delenv("HASHNOTES_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    if dl.sys.platform.startswith("linux"):
        assert dl.default_root() == tmp_path / "cache" / "hashnotes" / "data"
    # the public addresses: raw files of each repository at its pinned commit
    man = dl.sources()
    g = man["groups"][0]
    assert dl._url(man, g, "data/x.mat", None) == f"https://raw.githubusercontent.com/{g['repo']}/{g['commit']}/data/x.mat"
    assert all(len(g["commit"]) == 40 for g in man["groups"])
