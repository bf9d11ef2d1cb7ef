"""Command line: ``python -m hashnotes train METHOD [METHOD ...] --data toy|NAME|PATH --bits 16 32 64``.

Trains each method at each code length on the dataset's training split (validation split for model
selection), evaluates I->T and T->I mAP on query vs database, and prints a table, or with ``--json``
one JSON object per (method, bits) line. Every row records where it came from: the dataset (name or path,
layout, sizes, file digests, split), the method's config and the software and threads it ran with
(:mod:`hashnotes.provenance`). Bad arguments and missing or malformed data exit with code 2 and a line
``error: ...`` on stderr.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import time
from pathlib import Path

DATASETS = ("toy", "mirflickr25k", "nuswide", "iapr", "mscoco", "wiki")
_COLUMNS = ("method", "bits", "map_i2t", "map_t2i", "p_at_r2_i2t", "p_at_r2_t2i", "epochs", "seconds")
_DEVICE_RE = re.compile(r"(auto|cpu|cuda|cuda:\d+|mps)")


def _int_arg(lo: int, what: str = "an int"):
    def parse(s: str) -> int:
        try:
            v = int(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what} >= {lo}, got {s!r}") from None
        if v < lo:
            raise argparse.ArgumentTypeError(f"must be {what} >= {lo}, got {v}")
        return v
    return parse


def _device_arg(s: str) -> str:
    if not _DEVICE_RE.fullmatch(s or ""):
        hint = f" (did you mean {s.strip().lower()!r}?)" if _DEVICE_RE.fullmatch(s.strip().lower()) else ""
        raise argparse.ArgumentTypeError(f"must be auto, cpu, cuda, cuda:N or mps, got {s!r}{hint}")
    return s


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own errors: usage + "error: ..." and exit 2, as documented
        self.print_usage(sys.stderr)
        self.exit(2, f"error: {message}\n")


def _add_data_args(t) -> None:
    """The data, device and thread options shared by ``train`` and ``bench``."""
    t.add_argument("--data", default="toy", metavar="NAME|PATH",
                   help=f"a dataset name ({', '.join(DATASETS)}; default toy, embedded) or a folder/file in any "
                        "supported layout (DCMH .mat, name list + image folder, CLIP-toolkit index/caption/label, "
                        "HDF5 train/query/database, pre-extracted feature .mat)")
    t.add_argument("--root", default=None, help="folder holding the files of a named real dataset")
    t.add_argument("--layout", default="auto", help="force a layout for --data PATH (default: detect it)")
    t.add_argument("--image-features", default="auto", metavar="auto|none|descriptor|WEIGHTS",
                   help="image input for real photos: 'descriptor' (scikit-image HOG + colour + LBP), 'none' "
                        "(pixels to a CNN trained from scratch), or a CNN-F (.mat) / ResNet-34 (.pth) weights file; "
                        "'auto' (default): descriptor for real pixel images, none for toy and feature data")
    t.add_argument("--image-size", type=_int_arg(8), default=224, help="network input side for image files")
    t.add_argument("--images-root", default=None, help="folder with the image files, when not beside the lists")
    t.add_argument("--missing-images", default="error", choices=("error", "drop"),
                   help="listed image files that are not found: stop (default) or drop those pairs")
    t.add_argument("--cache", default=None, help="folder for decoded pixels and computed image features")
    t.add_argument("--bits", nargs="+", type=_int_arg(1), default=[16, 32, 64], help="code lengths (default 16 32 64)")
    t.add_argument("--preset", default="small", choices=("small", "paper"), help="settings preset")
    t.add_argument("--epochs", type=_int_arg(1), default=None, help="override the preset's number of epochs")
    t.add_argument("--device", type=_device_arg, default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N, mps")
    t.add_argument("--toy-n", type=_int_arg(20), default=10000, help="number of toy pairs (default 10000)")
    t.add_argument("--threads", type=_int_arg(1), default=None,
                   help="CPU threads for torch and the metric kernels, for the whole run (default: torch's choice)")


def _parser() -> argparse.ArgumentParser:
    from . import __version__

    p = _Parser(prog="python -m hashnotes", description="Deep cross-modal hashing: train, benchmark and search.")
    p.add_argument("--version", action="version", version=f"hashnotes {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    t = sub.add_parser("train", help="train methods and report retrieval mAP on the query/database split",
                       description="Train methods and report retrieval mAP. --data takes a dataset name or a "
                                   "path to data in any layout hashnotes.data.load reads (see the README's table). "
                                   "Under torchrun (torchrun --nproc_per_node N -m hashnotes train ...) every rank "
                                   "trains its share of each batch and rank 0 writes the results.")
    t.add_argument("methods", nargs="+", metavar="METHOD", help="method names, e.g. dcmh cca cdhcr tdh")
    _add_data_args(t)
    t.add_argument("--seed", type=_int_arg(0), default=0, help="seed of the split and of training (default 0)")
    t.add_argument("--save-dir", default=None, help="save each trained model here as METHOD-BITS.pt")
    t.add_argument("--progress", action="store_true", help="show progress bars (stderr)")
    t.add_argument("--json", action="store_true", help="print one JSON object per (method, bits) line")
    b = sub.add_parser("bench", help="every method at every bit length over several seeds, into a results file",
                       description="Run every (method, bits, seed) on one seeded split and append one row per run to "
                                   "OUT/results.jsonl (and OUT/results.csv). A rerun resumes: runs already in the "
                                   "file are skipped.")
    b.add_argument("--methods", nargs="+", required=True, metavar="METHOD",
                   help="e.g. dcmh cdhcr tdh ugach daph cca random")
    _add_data_args(b)
    b.add_argument("--seeds", type=_int_arg(1), default=3, help="training seeds 0..N-1 (default 3)")
    b.add_argument("--split-seed", type=_int_arg(0), default=0, help="seed of the one split (default 0)")
    b.add_argument("--top-r", type=_int_arg(1), default=1000, help="R of mAP@R (default 1000)")
    b.add_argument("--out", required=True, help="folder for results.jsonl and results.csv")
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    from . import index  # the `index` command (faiss); its parser and logic live in hashnotes/index.py
    index.add_parser(sub)
    return p


def _check_device(device: str) -> str:
    import torch

    from .train import resolve_device

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {device}: CUDA is not available on this machine; use auto or cpu")
    if device == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError("--device mps: Apple's MPS back end is not available on this machine; use auto or cpu")
    if device.startswith("cuda:") and int(device.split(":")[1]) >= torch.cuda.device_count():
        raise ValueError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return str(resolve_device(device))


def _check_save_dir(path) -> Path | None:
    if path is None:
        return None
    d = Path(path).expanduser()
    if d.exists() and not d.is_dir():
        raise ValueError(f"--save-dir {str(path)!r} exists and is not a folder")
    try:
        d.mkdir(parents=True, exist_ok=True)
        probe = d / ".hashnotes-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ValueError(f"--save-dir {str(path)!r} cannot be written: {exc.strerror or exc}") from exc
    return d


def load_dataset(name: str, root=None, seed: int = 0, toy_n: int = 10000, layout: str = "auto",
                 image_features: str = "auto", image_size: int = 224, images_root=None, cache=None,
                 missing_images: str = "error"):
    """The dataset ``name`` (or the data at path ``name``) cut by its protocol split (seeded).

    ``image_features="auto"`` replaces real pixel images by image descriptors (without pretrained weights a
    CNN trained from scratch on real photos learns nothing at this scale) and keeps toy pixels and stored
    features as they are.
    """
    import numpy as np

    from . import data

    if name == "toy":
        if root is not None:
            raise ValueError("--root does not apply to --data toy (the toy data is generated, not read); "
                             "drop --root, or pass --data PATH for data on disk")
        if image_features not in ("auto", "none"):
            raise ValueError("--image-features applies to real photos, not to --data toy")
        return data.toy(n=toy_n, seed=seed)
    feats = {"auto": "auto", "none": None, "descriptor": "descriptor"}.get(image_features, image_features)
    if feats not in ("auto", None, "descriptor") and not Path(feats).expanduser().is_file():
        raise FileNotFoundError(f"--image-features {image_features!r} is neither auto/none/descriptor nor a file")
    if name in DATASETS:
        if name == "wiki":
            ds = data.wiki(root=root, seed=seed)
        elif name == "mirflickr25k":  # training needs pixels: the loader explains where IAll is looked for
            ds = data.mirflickr25k(root=root, seed=seed, images="pixels")
        else:
            ds = {"nuswide": data.nuswide, "iapr": data.iapr, "mscoco": data.mscoco}[name](root=root, seed=seed)
        if feats not in ("auto", None):
            raise ValueError(f"--image-features {image_features} works with --data PATH; --data {name} reads its "
                             "images as stored (auto: descriptors for pixels)")
        if feats == "auto" and np.ndim(ds.train.images) == 4:
            ds = _with_descriptors(ds)
    else:
        path = Path(name).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"--data {name!r} is neither a dataset name ({', '.join(DATASETS)}) nor an "
                                    "existing file or folder")
        if root is not None:
            raise ValueError("--root is for named datasets; with --data PATH the path is the data "
                             "(use --images-root for the image folder)")
        ds = data.load(path, layout=layout, seed=seed, image_features=feats, image_size=image_size,
                       images_root=images_root, cache=cache, missing_images=missing_images)
    if np.ndim(ds.train.images) not in (2, 4):
        raise ValueError(f"--data {name}: the files give no image pixels or features "
                         f"(images have shape {np.shape(ds.train.images)}); training needs them")
    return ds


def _with_descriptors(ds):
    """``ds`` with every pixel image replaced by its :func:`~hashnotes.data.image_descriptors` row (each item
    described once: train and val are looked up in the database by id)."""
    import numpy as np

    from .data import PairSet, image_descriptors

    rows = {}
    for part in (ds.query, ds.database):
        for i, f in zip(part.ids.tolist(), image_descriptors(part.images)):
            rows[i] = f

    def convert(p):
        return PairSet(images=np.stack([rows[i] for i in p.ids.tolist()]), texts=p.texts, labels=p.labels,
                       ids=p.ids)

    info = {**ds.info, "images": "image descriptors (HOG + HSV histogram + LBP at 64 px) of the stored pixels"}
    return dataclasses.replace(ds, query=convert(ds.query), database=convert(ds.database), train=convert(ds.train),
                               val=convert(ds.val), info=info)


def build_model(method: str, bits: int, preset: str, seed: int, epochs=None, device: str = "auto"):
    """``methods.get(method).<preset>(bits=bits, ...)`` with the overrides its config supports."""
    from . import methods

    cls = methods.get(method)
    fields = {f.name for f in dataclasses.fields(cls.config_class)}
    overrides = {"seed": seed, "device": device}
    if epochs is not None:
        if epochs < 1:
            raise ValueError(f"--epochs must be >= 1, got {epochs}")
        overrides["epochs"] = epochs
    overrides = {k: v for k, v in overrides.items() if k in fields}
    return getattr(cls, preset)(bits=bits, **overrides)


def _config_record(model) -> dict | None:
    from .provenance import _jsonable

    cfg = getattr(model, "config", None)
    if cfg is None or not dataclasses.is_dataclass(cfg):
        return None
    return {"class": type(cfg).__name__, **_jsonable(dataclasses.asdict(cfg))}


def _load(args, seed: int):
    return load_dataset(args.data, root=args.root, seed=seed, toy_n=args.toy_n, layout=args.layout,
                        image_features=args.image_features, image_size=args.image_size,
                        images_root=args.images_root, cache=args.cache, missing_images=args.missing_images)


def run(args) -> list[dict]:
    import torch

    from . import threads
    from .provenance import dataset_record, environment_record
    from .train import distributed

    if args.threads is not None:
        threads.set_num_threads(args.threads)
    device = _check_device(args.device)
    ctx = distributed.init(torch.device(device))  # a single process unless launched by torchrun
    save_dir = _check_save_dir(args.save_dir) if ctx.is_main else None
    models = [(m, b, build_model(m, b, args.preset, args.seed, args.epochs, device))
              for m in args.methods for b in args.bits]  # validate every name/bits before loading data
    ds = _load(args, args.seed)
    dataset = dataset_record(ds)
    rows, failed_saves = [], []
    if not args.json and ctx.is_main:
        print(_format_row({c: c for c in _COLUMNS}), flush=True)
    for method, bits, model in models:
        t0 = time.perf_counter()
        model.fit(ds, device=device, progress=args.progress and ctx.is_main)
        res = model.evaluate(ds)
        seconds = time.perf_counter() - t0
        row = {"method": method.lower(), "bits": int(bits), "map_i2t": res["map_i2t"], "map_t2i": res["map_t2i"],
               "p_at_r2_i2t": res["p_at_r2_i2t"], "p_at_r2_t2i": res["p_at_r2_t2i"], "seconds": round(seconds, 3),
               "epochs": len(getattr(model, "history", []) or []), "best_epoch": getattr(model, "best_epoch", None),
               "preset": args.preset, "data": args.data, "split": res["split"], "device": device,
               "seed": args.seed, "world_size": ctx.world_size, "codes": res["codes"], "collapsed": res["collapsed"]}
        hist = getattr(model, "history", None) or []
        if hist and "seconds" in hist[0]:
            row["seconds_per_epoch"] = round(sum(h["seconds"] for h in hist) / len(hist), 4)
        if save_dir is not None:
            target = save_dir / f"{method.lower()}-{bits}.pt"
            try:  # the write is atomic: a failure leaves any previous file as it was
                row["saved"] = str(model.save(target))
            except OSError as exc:  # a full disk: report it, go on with the other models, fail at the end
                row["saved"], row["save_error"] = None, f"{target}: {exc.strerror or exc}"
                failed_saves.append(row["save_error"])
                print(f"error: could not save {method} {bits} bits: {row['save_error']}", file=sys.stderr, flush=True)
        row["config"] = _config_record(model)
        row["dataset"] = dataset
        row["environment"] = environment_record()  # after training: the thread counts it actually ran with
        rows.append(row)
        if ctx.is_main:
            print(json.dumps(row) if args.json else _format_row(row), flush=True)
    if failed_saves:
        raise OSError(f"{len(failed_saves)} of {len(rows)} models could not be saved (any previous file is "
                      f"unchanged): {'; '.join(failed_saves)}")
    return rows


def run_bench(args) -> list[dict]:
    from . import threads
    from .bench import run_benchmark

    if args.threads is not None:
        threads.set_num_threads(args.threads)
    device = _check_device(args.device)
    for m in args.methods:  # every name and bit length before any data is read
        for b in args.bits:
            build_model(m, b, args.preset, 0, args.epochs, device)
    from ._io import check_writable

    out = check_writable(args.out, "--out")  # before any data is read or model trained
    ds = _load(args, args.split_seed)
    return run_benchmark(ds, args.data, [m.lower() for m in args.methods], args.bits, range(args.seeds), out,
                         preset=args.preset, epochs=args.epochs, device=device, top_r=args.top_r,
                         progress=not args.no_progress, build_model=build_model,
                         log=lambda msg: print(msg, file=sys.stderr, flush=True))


def _format_row(row: dict) -> str:
    cells = []
    for c in _COLUMNS:
        v = row.get(c, "")
        if isinstance(v, float):
            v = f"{v:.1f}" if c == "seconds" else f"{v:.4f}"
        cells.append(f"{str(v):>12}" if c != "method" else f"{str(v):<8}")
    return " ".join(cells)


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "train":
            run(args)
        elif args.command == "bench":
            run_bench(args)
        elif args.command == "index":
            from . import index
            return index.run(args)
    except (FileNotFoundError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
