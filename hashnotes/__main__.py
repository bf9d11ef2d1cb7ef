"""The command line, ``hashnotes`` (or ``python -m hashnotes``): ``train``, ``bench`` and ``index``.

This module only parses arguments and prints. The work is the library's: datasets come from
:func:`hashnotes.data.load` (names and paths, the same defaults as from Python), models from
:func:`hashnotes.methods.build`, runs from :mod:`hashnotes.runs`, benchmarks from :mod:`hashnotes.bench`, the
``index`` command from :mod:`hashnotes.index`. No module of the package imports this one.

Threads: at start the command line calls :func:`hashnotes.threads.apply_default` (``--threads N`` wins, then
``HASHNOTES_THREADS``, then ``OMP_NUM_THREADS``, then the cores this process may use), so torch and the metric
kernels use one count for the whole run; on a machine shared with other jobs set ``HASHNOTES_THREADS=1``
(:mod:`hashnotes.threads` gives the measurements). Bad arguments and missing or malformed data exit with
code 2 and a line ``error: ...`` on stderr.
"""
from __future__ import annotations

import argparse
import json
import re
import sys

PROG = "hashnotes"
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


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions as written (the method list keeps its lines); every option's default after its help."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if "%(default)" in text or default is None or default is argparse.SUPPRESS or isinstance(default, bool) \
                or not action.option_strings:
            return text
        shown = " ".join(map(str, default)) if isinstance(default, (list, tuple)) else default
        return f"{text} (default: {shown})"


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message):  # argparse's own errors: usage + "error: ..." and exit 2, as documented
        self.print_usage(sys.stderr)
        self.exit(2, f"error: {message}\n")


def _wrap(text: str) -> str:
    import textwrap

    return textwrap.fill(text, width=88)


def _method_list() -> str:
    from . import methods

    width = max(map(len, methods.names()))
    return "methods:\n" + "\n".join(f"  {name:<{width}}  {methods.SUMMARIES[name]}" for name in methods.names())


def _add_data_args(t) -> None:
    """The data, device and thread options shared by ``train`` and ``bench``."""
    from .data.catalog import DATASETS

    t.add_argument("--data", default="toy", metavar="NAME|PATH",
                   help=f"a dataset name ({', '.join(DATASETS)}; toy is embedded) or a folder/file in any "
                        "supported layout (DCMH .mat, name list + image folder, CLIP-toolkit index/caption/label, "
                        "HDF5 train/query/database, pre-extracted feature .mat)")
    t.add_argument("--root", default=None, metavar="DIR", help="folder holding the files of a named real dataset")
    t.add_argument("--layout", default="auto", metavar="NAME", help="force a layout for --data PATH ('auto' detects it)")
    t.add_argument("--image-features", default="auto", metavar="auto|none|descriptor|WEIGHTS",
                   help="image input for real photos: 'descriptor' (scikit-image HOG + colour + LBP), 'none' "
                        "(pixels to a CNN trained from scratch), or a CNN-F (.mat) / ResNet-34 (.pth) weights file; "
                        "'auto': descriptor for real pixel images, none for toy and feature data")
    t.add_argument("--image-size", type=_int_arg(8), default=224, metavar="PX", help="network input side for image files")
    t.add_argument("--images-root", default=None, metavar="DIR", help="folder with the image files, when not beside the lists")
    t.add_argument("--missing-images", default="error", choices=("error", "drop"),
                   help="listed image files that are not found: stop, or drop those pairs")
    t.add_argument("--cache", default=None, metavar="DIR", help="folder for decoded pixels and computed image features")
    t.add_argument("--bits", nargs="+", type=_int_arg(1), default=[16, 32, 64], metavar="N", help="code lengths")
    t.add_argument("--preset", default="small", choices=("small", "paper"),
                   help="settings preset: small (the CPU settings) or paper (the published ones)")
    t.add_argument("--epochs", type=_int_arg(1), default=None, metavar="N",
                   help="override the preset's number of epochs (methods that train in epochs)")
    t.add_argument("--device", type=_device_arg, default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N, mps")
    t.add_argument("--toy-n", type=_int_arg(20), default=10000, metavar="N", help="number of toy pairs")
    t.add_argument("--threads", type=_int_arg(1), default=None, metavar="N",
                   help="CPU threads for torch and the metric kernels, for the whole run (default: "
                        "$HASHNOTES_THREADS, else $OMP_NUM_THREADS, else the cores this process may use)")
    t.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bars on stderr (default: on when the output is a terminal)")


def _parser() -> argparse.ArgumentParser:
    from . import __version__

    methods_text = _method_list()
    p = _Parser(prog=PROG, description="Deep cross-modal hashing: train, benchmark and search.\n\n" + methods_text,
                epilog="Quick start: hashnotes train dcmh cca --bits 16 --epochs 2   (embedded toy data, seconds)")
    p.add_argument("--version", action="version", version=f"hashnotes {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")
    t = sub.add_parser("train", help="train methods and report retrieval mAP on the query/database split",
                       description=_wrap("Train methods and report retrieval mAP. --data takes a dataset name "
                                         "or a path to data in any layout hashnotes.data.load reads. Under torchrun "
                                         "(torchrun --nproc_per_node N -m hashnotes train ...) every rank trains "
                                         "its share of each batch and rank 0 writes the results.") + "\n\n"
                                   + methods_text,
                       epilog="example: hashnotes train dcmh cca --bits 16 --epochs 2")
    t.add_argument("methods", nargs="+", metavar="METHOD", help="method names (listed above)")
    _add_data_args(t)
    t.add_argument("--seed", type=_int_arg(0), default=0, metavar="N", help="seed of the split and of training")
    t.add_argument("--save-dir", default=None, metavar="DIR", help="save each trained model here as METHOD-BITS.pt")
    t.add_argument("--json", action="store_true", help="print one JSON object per (method, bits) line")
    b = sub.add_parser("bench", help="every method at every bit length over several seeds, into a results file",
                       description=_wrap("Run every (method, bits, seed) on one seeded split and append one row "
                                         "per run to OUT/results.jsonl (and OUT/results.csv). A rerun resumes: runs "
                                         "already in the file are skipped, and it says how many. Ends with a "
                                         "summary table (mean and standard deviation over seeds).") + "\n\n"
                                   + methods_text,
                       epilog="example: hashnotes bench --methods dcmh cca random --bits 16 --seeds 2 "
                              "--epochs 2 --out runs/quick")
    b.add_argument("--methods", nargs="+", required=True, metavar="METHOD", help="method names (listed above)")
    _add_data_args(b)
    b.add_argument("--seeds", type=_int_arg(1), default=3, metavar="N", help="training seeds 0..N-1")
    b.add_argument("--split-seed", type=_int_arg(0), default=0, metavar="N", help="seed of the one split")
    b.add_argument("--top-r", type=_int_arg(1), default=1000, metavar="R", help="R of mAP@R")
    b.add_argument("--out", required=True, metavar="DIR", help="folder for results.jsonl and results.csv")
    from . import index  # the `index` command (faiss); its parser and logic live in hashnotes/index.py
    index.add_parser(sub)
    return p


def _progress(args) -> bool:
    if args.progress is not None:
        return args.progress
    return sys.stdout.isatty() and sys.stderr.isatty()


def _load(args, seed: int):
    from . import data

    return data.load(args.data, root=args.root, seed=seed, toy_n=args.toy_n, layout=args.layout,
                     image_features=args.image_features, image_size=args.image_size,
                     images_root=args.images_root, cache=args.cache, missing_images=args.missing_images)


def _device(name: str) -> str:
    from .train import resolve_device

    return str(resolve_device(name))


def _format_row(row: dict) -> str:
    from .runs import COLUMNS

    cells = []
    for c in COLUMNS:
        v = row.get(c, "")
        if isinstance(v, float):
            v = f"{v:.1f}" if c == "seconds" else f"{v:.4f}"
        cells.append(f"{str(v):>12}" if c != "method" else f"{str(v):<8}")
    return " ".join(cells)


def run(args) -> list[dict]:
    """``hashnotes train``: print a table (or JSON lines) of one row per (method, bits); return the rows."""
    import torch

    from . import runs
    from ._io import check_writable
    from .train import distributed

    device = _device(args.device)
    ctx = distributed.init(torch.device(device))  # a single process unless launched by torchrun
    save_dir = check_writable(args.save_dir, "--save-dir") if args.save_dir is not None and ctx.is_main else None
    models = runs.build_all(args.methods, args.bits, args.preset, args.seed, args.epochs, device)  # names first
    ds = _load(args, args.seed)
    if not args.json and ctx.is_main:
        print(_format_row({c: c for c in runs.COLUMNS}), flush=True)
    rows = []
    for row in runs.train_rows(models, ds, data=args.data, preset=args.preset, seed=args.seed, device=device,
                               progress=_progress(args) and ctx.is_main, save_dir=save_dir,
                               world_size=ctx.world_size):
        rows.append(row)
        if row.get("save_error"):
            print(f"error: could not save {row['method']} {row['bits']} bits: {row['save_error']}", file=sys.stderr,
                  flush=True)
        if ctx.is_main:
            print(json.dumps(row) if args.json else _format_row(row), flush=True)
    failed = [r["save_error"] for r in rows if r.get("save_error")]
    if failed:
        raise OSError(f"{len(failed)} of {len(rows)} models could not be saved (any previous file is "
                      f"unchanged): {'; '.join(failed)}")
    return rows


def run_bench(args) -> list[dict]:
    """``hashnotes bench``: the runs not yet in OUT, how many were skipped, and a summary table."""
    from . import runs
    from ._io import check_writable
    from .bench import run_benchmark
    from .methods import build_run

    device = _device(args.device)
    runs.build_all(args.methods, args.bits, args.preset, 0, args.epochs, device)  # every name before any data
    out = check_writable(args.out, "--out")  # before any data is read or model trained
    ds = _load(args, args.split_seed)
    names = [m.lower() for m in args.methods]
    seeds = range(args.seeds)
    planned, done = runs.bench_plan(out, ds, args.data, names, args.bits, seeds, args.preset, args.epochs,
                                    args.top_r)
    rows = run_benchmark(ds, args.data, names, args.bits, seeds, out, preset=args.preset, epochs=args.epochs,
                         device=device, top_r=args.top_r, progress=_progress(args) and planned > done,
                         build_model=build_run, log=lambda msg: print(msg, file=sys.stderr, flush=True))
    print(f"bench: {planned - done} of {planned} runs trained, {done} skipped (already in {out / 'results.jsonl'})",
          flush=True)
    table = runs.summary_rows(rows, args.data, names, args.bits, seeds, args.preset, args.epochs)
    print(f"{'method':<8} {'bits':>4} {'seeds':>5} {'I->T mAP':>17} {'T->I mAP':>17} {'collapsed':>9}")
    for r in table:
        cells = [f"{r[k][0]:.4f} ± {r[k][1]:.4f}" for k in ("map_i2t", "map_t2i")]
        print(f"{r['method']:<8} {r['bits']:>4} {r['seeds']:>5} {cells[0]:>17} {cells[1]:>17} {r['collapsed']:>9}",
              flush=True)
    return rows


def build_model(method: str, bits: int, preset: str, seed: int, epochs=None, device: str = "auto"):
    """Kept for code written against earlier versions: use :func:`hashnotes.methods.build_run`."""
    from .methods import build_run

    return build_run(method, bits, preset, seed, epochs, device)


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        from . import threads

        if getattr(args, "threads", None) is not None and args.command != "index":
            threads.set_num_threads(args.threads)
        threads.apply_default()  # one count for torch and the metric kernels, unless --threads chose one
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
