"""Retrieval at scale: faiss binary indexes over {-1,+1} codes, and the ``python -m hashnotes index`` command.

:mod:`hashnotes.metrics` scores a ranking of the *whole* database for every query. A search service needs
only the ``k`` nearest codes of a query, from collections of millions. faiss (Johnson, Douze & Jegou,
"Billion-scale similarity search with GPUs", 2019) has indexes for binary codes; this module wraps three of
them behind one small class, :class:`HammingIndex`:

``kind="flat"`` (``faiss.IndexBinaryFlat``)
    Exact: every query is compared with every database code (XOR + popcount). Its result is *identical* to the
    package's Hamming ranking -- ``hashnotes.codes.hamming_distance`` followed by a stable sort, ties broken by
    database index (the rule of :mod:`hashnotes.metrics`): faiss keeps, among equal distances, the smaller
    index, and the tests check this with heavily tied codes. Memory: ``ceil(c/8)`` bytes per code.
``kind="ivf"`` (``faiss.IndexBinaryIVF``)
    Approximate: the codes are clustered into ``nlist`` inverted lists (k-means on a seeded sample of the first
    codes added); a query scans only the ``nprobe`` lists whose centroids are nearest. Build: training + one
    assignment per code; memory: the code plus an 8-byte id per item.
``kind="hnsw"`` (``faiss.IndexBinaryHNSW``)
    Approximate: a hierarchical navigable small-world graph with ``hnsw_m`` links per node; ``ef_search``
    trades speed for recall. No training, slow to build, ``~ 8 hnsw_m`` extra bytes per item.

``benchmarks/bench_index.py`` measures build time, memory, queries per second and recall@100 against the
exact index at 1M and 10M codes.

Codes enter as the package's ``(n, c)`` int8 arrays of {-1, +1} and are packed with
:func:`hashnotes.codes.pack_bits` (bit ``j`` of a code is bit ``j % 8`` of byte ``j // 8``; faiss needs a
whole number of bytes, so ``c`` is padded with zero bits, which add nothing to a distance). A search returns
``(distances, indices)``: int32 Hamming distances and int64 positions in the order the codes were added,
``(n_queries, k)``, nearest first. ``k`` larger than the index is cut to the number of codes; where an
approximate index finds fewer than ``k`` candidates, the missing entries are ``-1`` in both arrays.

faiss is an optional dependency (``pip install "hashnotes[index]"``): this module imports without it, and
everything that needs it raises an ``ImportError`` that says how to install it. faiss runs its own OpenMP
threads; ``threads=`` sets them (``faiss.omp_set_num_threads``, a process-wide setting). On a machine whose
cores are shared, one thread is often faster than two.
"""
from __future__ import annotations

import io
import json
import math
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ._checks import check_bits, check_choice, check_codes, check_int
from .codes import pack_bits

__all__ = ["HammingIndex", "SearchResult", "KINDS", "require_faiss", "add_parser", "run"]

KINDS = ("flat", "ivf", "hnsw")
FORMAT = "hashnotes-index-1"
_INSTALL = 'faiss is not installed; install it with  pip install "hashnotes[index]"  (or  pip install faiss-cpu)'


def require_faiss():
    """Import and return the ``faiss`` module, or raise ``ImportError`` saying how to install it."""
    try:
        import faiss
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(_INSTALL) from e
    return faiss


def set_threads(threads) -> None:
    """``faiss.omp_set_num_threads(threads)`` after checking it (``None`` leaves faiss's setting alone)."""
    if threads is not None:
        require_faiss().omp_set_num_threads(check_int(threads, "threads"))


def pack_for_faiss(codes, bits: int | None = None, name: str = "codes") -> np.ndarray:
    """{-1,+1} codes ``(n, c)`` -> faiss's binary layout: ``(n, ceil(c/8))`` uint8, C-contiguous."""
    b = check_codes(codes, name, bits=bits)
    words = pack_bits(b)  # (n, ceil(c/64)) uint64, bit j of the code is bit j % 64 of word j // 64
    by = np.ascontiguousarray(words).astype("<u8", copy=False).view(np.uint8)
    return np.ascontiguousarray(by[:, : (b.shape[1] + 7) // 8])


class SearchResult(NamedTuple):
    """The ``k`` nearest database codes of every query, nearest first (ties: smaller index first)."""

    distances: np.ndarray  # (n_queries, k) int32 Hamming distances; -1 where no neighbour was found
    indices: np.ndarray  # (n_queries, k) int64 positions in the index; -1 where no neighbour was found


def default_nlist(n: int) -> int:
    """Inverted lists for ``n`` codes when none is given: the power of two nearest ``4 sqrt(n)``, at most
    4,096 (k-means cost grows with it) and at most ``n / 39`` (faiss asks for 39 training codes per list)."""
    target = 2 ** round(math.log2(max(1.0, 4 * math.sqrt(n))))
    return int(max(1, min(target, 4096, n // 39)))


class HammingIndex:
    """A faiss binary index over {-1,+1} codes of ``bits`` bits: ``add``, ``search``, ``save``, ``load``.

    Parameters
    ----------
    bits : int
        Code length ``c`` (1..4096).
    kind : {"flat", "ivf", "hnsw"}
        ``"flat"`` exact; ``"ivf"`` and ``"hnsw"`` approximate (see the module docstring).
    nlist : int, optional
        IVF: number of inverted lists. Default: :func:`default_nlist` of the first batch added (or trained on).
    nprobe : int
        IVF: lists scanned per query (more: slower, higher recall). Default 16.
    train_size : int
        IVF: at most this many codes (a seeded random sample of the training batch) train the k-means
        quantizer; default ``64 nlist``.
    hnsw_m, ef_construction, ef_search : int
        HNSW: links per node (16), candidate list while building (40) and while searching (128).
    seed : int
        Seed of the IVF training sample (faiss's k-means is seeded by faiss itself).
    threads : int, optional
        faiss OpenMP threads, set before building and searching (process-wide). Default: faiss's setting.

    Examples
    --------
    >>> index = HammingIndex(64)                     # doctest: +SKIP
    >>> index.add(db_codes)                          # (n, 64) int8 {-1,+1}
    >>> dist, idx = index.search(query_codes, k=100)
    """

    def __init__(self, bits: int, kind: str = "flat", *, nlist: int | None = None, nprobe: int = 16,
                 train_size: int | None = None, hnsw_m: int = 16, ef_construction: int = 40,
                 ef_search: int = 128, seed: int = 0, threads: int | None = None):
        check_choice(kind, "kind", KINDS)
        self.bits = check_bits(bits)
        self.kind = kind
        self.params = {
            "nlist": None if nlist is None else check_int(nlist, "nlist"),
            "nprobe": check_int(nprobe, "nprobe"),
            "train_size": None if train_size is None else check_int(train_size, "train_size"),
            "hnsw_m": check_int(hnsw_m, "hnsw_m", minimum=2),
            "ef_construction": check_int(ef_construction, "ef_construction"),
            "ef_search": check_int(ef_search, "ef_search"),
            "seed": check_int(seed, "seed", minimum=0),
        }
        self.threads = None if threads is None else check_int(threads, "threads")
        self._faiss_index = None
        self.info: dict = {}  # free JSON-safe notes saved with the index (the command records what it holds)
        self.timings: dict[str, float] = {}  # seconds of the last train / add / search
        if kind != "ivf":  # the IVF index is made when its nlist is known (first train or add)
            self._make(None)

    # ------------------------------------------------------------------------------------ construction
    @property
    def dim(self) -> int:
        """faiss's dimension: ``bits`` rounded up to a whole number of bytes."""
        return 8 * ((self.bits + 7) // 8)

    def _make(self, n_first: int | None) -> None:
        faiss = require_faiss()
        p = self.params
        if self.kind == "flat":
            self._faiss_index = faiss.IndexBinaryFlat(self.dim)
        elif self.kind == "hnsw":
            index = faiss.IndexBinaryHNSW(self.dim, p["hnsw_m"])
            index.hnsw.efConstruction = p["ef_construction"]
            self._faiss_index = index
        else:
            if p["nlist"] is None:
                p["nlist"] = default_nlist(n_first)
            # the factory string makes an index that owns its coarse quantizer
            self._faiss_index = faiss.index_binary_factory(self.dim, f"BIVF{p['nlist']}")
        self._apply_search_params()

    def _apply_search_params(self) -> None:
        if self.kind == "ivf":
            self._faiss_index.nprobe = self.params["nprobe"]
        elif self.kind == "hnsw":
            self._faiss_index.hnsw.efSearch = self.params["ef_search"]

    def set_search_params(self, nprobe: int | None = None, ef_search: int | None = None) -> "HammingIndex":
        """Change IVF's ``nprobe`` or HNSW's ``ef_search`` (search-time knobs; no rebuild)."""
        if nprobe is not None:
            self.params["nprobe"] = check_int(nprobe, "nprobe")
        if ef_search is not None:
            self.params["ef_search"] = check_int(ef_search, "ef_search")
        if self._faiss_index is not None:
            self._apply_search_params()
        return self

    @property
    def ntotal(self) -> int:
        """Number of codes in the index."""
        return 0 if self._faiss_index is None else int(self._faiss_index.ntotal)

    def __len__(self) -> int:
        return self.ntotal

    @property
    def is_trained(self) -> bool:
        return self._faiss_index is not None and bool(self._faiss_index.is_trained)

    def __repr__(self) -> str:
        extra = {"ivf": f", nlist={self.params['nlist']}, nprobe={self.params['nprobe']}",
                 "hnsw": f", hnsw_m={self.params['hnsw_m']}, ef_search={self.params['ef_search']}"}.get(self.kind, "")
        return f"HammingIndex(bits={self.bits}, kind={self.kind!r}, ntotal={self.ntotal}{extra})"

    # ------------------------------------------------------------------------------------ build
    def train(self, codes) -> "HammingIndex":
        """IVF: k-means of the inverted lists on (a seeded sample of at most ``train_size`` of) ``codes``.
        Called by the first :meth:`add` when needed; a no-op for the other kinds."""
        x = pack_for_faiss(codes, self.bits)
        self._train_packed(x)
        return self

    def _train_packed(self, x: np.ndarray) -> None:
        if self.kind != "ivf":
            return
        if self._faiss_index is None:
            self._make(len(x))
        if self._faiss_index.is_trained:
            raise ValueError("this IVF index is already trained (train it once, before the first add)")
        nlist = self.params["nlist"]
        if len(x) < nlist:
            raise ValueError(f"an IVF index with nlist = {nlist} needs at least {nlist} training codes, "
                             f"got {len(x)} (pass a smaller nlist)")
        size = self.params["train_size"] or 64 * nlist
        if len(x) > size:
            rows = np.sort(np.random.default_rng(self.params["seed"]).choice(len(x), size, replace=False))
            x = x[rows]
        set_threads(self.threads)
        t = time.perf_counter()
        self._faiss_index.train(x)
        self.timings["train"] = time.perf_counter() - t

    def add(self, codes) -> "HammingIndex":
        """Append ``codes`` ``(n, bits)`` of {-1,+1}; they get the positions ``ntotal .. ntotal + n - 1``."""
        x = pack_for_faiss(codes, self.bits)
        if self.kind == "ivf" and not self.is_trained:
            self._train_packed(x)
        set_threads(self.threads)
        t = time.perf_counter()
        self._faiss_index.add(x)
        self.timings["add"] = time.perf_counter() - t
        return self

    # ------------------------------------------------------------------------------------ search
    def search(self, query_codes, k: int) -> SearchResult:
        """The ``k`` nearest codes of every query (``k`` is cut to :attr:`ntotal`).

        Returns
        -------
        SearchResult(distances, indices)
            int32 and int64 arrays of shape ``(n_queries, min(k, ntotal))``, nearest first; among equal
            distances the smaller index comes first. ``-1`` marks slots an approximate index left empty.
        """
        k = check_int(k, "k")
        if self.ntotal == 0:
            raise ValueError("the index is empty: add database codes before searching")
        q = pack_for_faiss(query_codes, self.bits, name="query_codes")
        k = min(k, self.ntotal)
        set_threads(self.threads)
        t = time.perf_counter()
        dist, idx = self._faiss_index.search(q, k)
        self.timings["search"] = time.perf_counter() - t
        idx = np.ascontiguousarray(idx, dtype=np.int64)
        dist = np.ascontiguousarray(dist, dtype=np.int32)
        dist[idx < 0] = -1
        return SearchResult(dist, idx)

    # ------------------------------------------------------------------------------------ files
    def save(self, path) -> Path:
        """Write the index to ``path`` (one ``.npz``-format file: faiss's serialised index + a JSON header).

        The file is written under exactly the given name; :meth:`load` reads it back."""
        if self._faiss_index is None:
            raise ValueError("nothing to save: the IVF index has not been trained or filled yet")
        faiss = require_faiss()
        header = {"format": FORMAT, "bits": self.bits, "kind": self.kind, "params": self.params,
                  "ntotal": self.ntotal, "faiss": faiss.__version__, "info": self.info}
        blob = faiss.serialize_index_binary(self._faiss_index)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:  # a file object keeps numpy from appending ".npz"
            np.savez(fh, header=np.array(json.dumps(header)), faiss=np.asarray(blob, dtype=np.uint8))
        return path

    @classmethod
    def load(cls, path, threads: int | None = None) -> "HammingIndex":
        """Read an index written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"index file {str(path)!r} not found")
        try:
            z = np.load(path, allow_pickle=False)
            if not isinstance(z, np.lib.npyio.NpzFile):
                raise ValueError("a single numpy array, not an index archive")
            with z:
                header = json.loads(str(z["header"]))
                blob = z["faiss"]
        except (OSError, ValueError, KeyError) as e:
            raise ValueError(f"{str(path)!r} is not a hashnotes index file ({e})") from e
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise ValueError(f"{str(path)!r} is not a hashnotes index file (format "
                             f"{header.get('format') if isinstance(header, dict) else None!r}, expected {FORMAT!r})")
        faiss = require_faiss()
        p = header["params"]
        out = cls(header["bits"], header["kind"], nlist=p["nlist"], nprobe=p["nprobe"], train_size=p["train_size"],
                  hnsw_m=p["hnsw_m"], ef_construction=p["ef_construction"], ef_search=p["ef_search"],
                  seed=p["seed"], threads=threads)
        out._faiss_index = faiss.deserialize_index_binary(np.ascontiguousarray(blob, dtype=np.uint8))
        if int(out._faiss_index.d) != out.dim or out.ntotal != int(header["ntotal"]):
            raise ValueError(f"{str(path)!r} is damaged: its faiss index has d = {out._faiss_index.d}, "
                             f"ntotal = {out.ntotal}; the header says bits = {out.bits}, ntotal = {header['ntotal']}")
        out._apply_search_params()
        out.info = dict(header.get("info") or {})
        return out

    def nbytes(self) -> int:
        """Size of the serialised index in bytes (what :meth:`save` writes, less the header)."""
        if self._faiss_index is None:
            return 0
        return int(require_faiss().serialize_index_binary(self._faiss_index).size)


# ---------------------------------------------------------------------------------------------- command line
_DIRECTIONS = {"i2t": ("image", "text"), "t2i": ("text", "image")}


def add_parser(subparsers) -> None:
    """Add the ``index`` command to ``python -m hashnotes``'s subparsers."""
    p = subparsers.add_parser(
        "index", help="encode a data set with a trained model, build a faiss index of its database, search it",
        description="Encode the database split of a data set with a trained model (a checkpoint written by "
                    "model.save or train --save-dir), put the codes in a faiss binary index, and search it with "
                    "the encoded query split. Prints build and search times, queries/s and precision@k.")
    p.add_argument("checkpoint", help="path of the trained model (HashingMethod.load)")
    p.add_argument("--data", default="toy", help="data set, as for train (default: toy)")
    p.add_argument("--root", default=None, help="folder holding the dataset files (real datasets)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split (default 0, as for train)")
    p.add_argument("--toy-n", type=int, default=10000, help="number of toy pairs (default 10000)")
    p.add_argument("--direction", default="i2t", choices=tuple(_DIRECTIONS),
                   help="i2t: image queries against the text database (default); t2i the reverse")
    p.add_argument("--kind", default="flat", choices=KINDS, help="flat (exact, default), ivf or hnsw")
    p.add_argument("--nlist", type=int, default=None, help="IVF inverted lists (default: from the size)")
    p.add_argument("--nprobe", type=int, default=16, help="IVF lists scanned per query (default 16)")
    p.add_argument("--hnsw-m", type=int, default=16, help="HNSW links per node (default 16)")
    p.add_argument("--ef-search", type=int, default=128, help="HNSW search breadth (default 128)")
    p.add_argument("-k", "--k", type=int, default=100, help="neighbours per query (default 100)")
    p.add_argument("--threads", type=int, default=None, help="faiss threads (default: faiss's choice)")
    p.add_argument("--load-index", default=None, help="search this saved index instead of building one")
    p.add_argument("--save-index", default=None, help="save the built index to this file")
    p.add_argument("--out", default=None, help="write distances, database positions and ids to this .npz file")
    p.add_argument("--recall", action="store_true", help="also search an exact index and report recall@k")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")


def _precision_at_k(idx: np.ndarray, query_labels, db_labels) -> float:
    """Mean over queries of the fraction of the returned neighbours that share a label with the query
    (empty slots, -1, count as misses)."""
    ql = np.asarray(query_labels) != 0
    dl = np.asarray(db_labels) != 0
    hits = np.zeros(idx.shape, dtype=bool)
    for s in range(0, len(idx), 1024):  # 1,024 queries at a time keep the (q, k, l) temporary small
        blk = idx[s:s + 1024]
        hits[s:s + 1024] = (ql[s:s + 1024, None, :] & dl[np.maximum(blk, 0)]).any(axis=2) & (blk >= 0)
    return float(hits.mean())


def run(args) -> int:
    """The ``index`` command (``args`` from :func:`add_parser`). Returns the exit status: 0, or 2 when faiss
    is missing; bad arguments and missing files raise ``ValueError`` / ``FileNotFoundError``, which the
    command line reports as ``error: ...`` with status 2."""
    import sys

    try:
        require_faiss()
    except ImportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    k = check_int(args.k, "--k")
    if not Path(args.checkpoint).is_file():
        raise FileNotFoundError(f"checkpoint {args.checkpoint!r} not found")
    if args.load_index is not None and not Path(args.load_index).is_file():
        raise FileNotFoundError(f"index file {args.load_index!r} not found")
    from .data import DATASETS, load
    from .train import HashingMethod

    check_choice(args.data, "--data", DATASETS)
    model = HashingMethod.load(args.checkpoint)
    ds = load(args.data, root=args.root, seed=args.seed, toy_n=args.toy_n)
    q_mod, db_mod = _DIRECTIONS[args.direction]
    encode = {"image": model.encode_image, "text": model.encode_text}
    pick = {"image": lambda p: p.images, "text": lambda p: p.texts}
    t = time.perf_counter()
    db_codes = encode[db_mod](pick[db_mod](ds.database))
    q_codes = encode[q_mod](pick[q_mod](ds.query))
    t_encode = time.perf_counter() - t
    bits = db_codes.shape[1]
    t = time.perf_counter()
    if args.load_index is not None:
        index = HammingIndex.load(args.load_index, threads=args.threads)
        held = (index.ntotal, index.bits, index.info.get("modality"), index.info.get("data"))
        if held != (len(db_codes), bits, db_mod, args.data):
            raise ValueError(f"--load-index {args.load_index!r} holds {held[0]} {held[2]} codes of {held[1]} bits "
                             f"from --data {held[3]}, but --direction {args.direction} searches {len(db_codes)} "
                             f"{db_mod} codes of {bits} bits from --data {args.data}")
        index.set_search_params(nprobe=args.nprobe, ef_search=args.ef_search)
    else:
        index = HammingIndex(bits, args.kind, nlist=args.nlist, nprobe=args.nprobe, hnsw_m=args.hnsw_m,
                             ef_search=args.ef_search, seed=args.seed, threads=args.threads)
        index.info = {"modality": db_mod, "data": args.data, "seed": args.seed, "checkpoint": str(args.checkpoint)}
        index.add(db_codes)
    t_build = time.perf_counter() - t
    if args.save_index is not None:
        index.save(args.save_index)
    res = index.search(q_codes, k)
    t_search = index.timings["search"]
    row = {"kind": index.kind, "direction": args.direction, "data": args.data, "bits": int(bits),
           "n_database": int(len(db_codes)), "n_queries": int(len(q_codes)), "k": int(res.indices.shape[1]),
           "encode_seconds": round(t_encode, 4), "build_seconds": round(t_build, 4),
           "search_seconds": round(t_search, 4), "queries_per_second": round(len(q_codes) / max(t_search, 1e-9), 1),
           f"precision_at_{res.indices.shape[1]}": _precision_at_k(res.indices, ds.query.labels,
                                                                   ds.database.labels)}
    if args.recall:
        exact = HammingIndex(bits, "flat", threads=args.threads).add(db_codes).search(q_codes, k)
        row["recall_at_k"] = recall_at_k(res, exact)
    if args.out is not None:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        ids = np.where(res.indices >= 0, np.asarray(ds.database.ids)[np.maximum(res.indices, 0)], -1)
        with open(out, "wb") as fh:
            np.savez(fh, distances=res.distances, indices=res.indices, ids=ids,
                     query_ids=np.asarray(ds.query.ids), header=np.array(json.dumps(row)))
    if args.json:
        print(json.dumps(row), flush=True)
    else:
        for key, value in row.items():
            print(f"{key:>20}  {value:.4f}" if isinstance(value, float) else f"{key:>20}  {value}", flush=True)
    return 0


def recall_at_k(found: SearchResult, exact: SearchResult) -> dict:
    """Recall of an approximate search against the exact one, two ways, averaged over queries.

    ``"ids"``: the fraction of the exact ``k`` neighbours (stable tie rule) that were returned.
    ``"distance"``: the fraction of returned items at most as far as the exact ``k``-th neighbour -- an
    equally near item with another index counts as found, so ties at the ``k``-th distance cost nothing.
    """
    if found.indices.shape != exact.indices.shape:
        raise ValueError(f"found has shape {found.indices.shape} but exact has {exact.indices.shape}")
    kk = exact.indices.shape[1]
    hit_ids = np.array([np.intersect1d(a[a >= 0], b, assume_unique=True).size
                        for a, b in zip(found.indices, exact.indices)])
    ok = (found.indices >= 0) & (found.distances <= exact.distances[:, -1:])
    return {"ids": float(hit_ids.mean() / kk), "distance": float(ok.sum(1).mean() / kk)}
