"""Training runs as result rows: the work behind ``hashnotes train`` and ``hashnotes bench``'s report, callable
from Python.

:func:`build_all` builds every (method, bits) model before any data is read (so a wrong name fails at
once); :func:`train_rows` fits, evaluates and (optionally) saves each one, yielding one row per model with
its provenance (the dataset, the method's config, the software and threads it ran with). :func:`bench_plan`
counts the runs a benchmark folder already holds, and :func:`summary_rows` turns benchmark rows into one
line per (method, bits) (mean and standard deviation over seeds, :func:`hashnotes.bench.summary`).
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

__all__ = ["COLUMNS", "build_all", "train_rows", "config_record", "bench_plan", "summary_rows"]

# the columns of the train table
COLUMNS = ("method", "bits", "map_i2t", "map_t2i", "p_at_r2_i2t", "p_at_r2_t2i", "epochs", "seconds")


def build_all(method_names, bits_list, preset: str = "small", seed: int = 0, epochs=None, device: str = "auto"):
    """``[(method, bits, model), ...]`` for every method at every code length (:func:`hashnotes.methods.build`;
    ``epochs``, ``seed`` and ``device`` apply where a method's config has them)."""
    from . import methods

    return [(m.lower(), int(b), methods.build_run(m, b, preset, seed, epochs, device))
            for m in method_names for b in bits_list]


def config_record(model) -> dict | None:
    """The model's config as a JSON-safe dict with its class name, or None for a model without a config."""
    from .provenance import _jsonable

    cfg = getattr(model, "config", None)
    if cfg is None or not dataclasses.is_dataclass(cfg):
        return None
    return {"class": type(cfg).__name__, **_jsonable(dataclasses.asdict(cfg))}


def train_rows(models, ds, *, data: str, preset: str = "small", seed: int = 0, device: str = "cpu",
               progress: bool = False, save_dir=None, world_size: int = 1):
    """Fit each ``(method, bits, model)`` of ``models`` on ``ds`` (its training split; model selection on its
    validation split), evaluate the query set against the database, and yield one row per model.

    With ``save_dir`` each model is saved as ``METHOD-BITS.pt`` (atomically: a failed write leaves any previous
    file as it was); a failed save is recorded in the row (``saved: None``, ``save_error``) and the other
    models go on."""
    from .provenance import dataset_record, environment_record

    record = dataset_record(ds)
    for method, bits, model in models:
        t0 = time.perf_counter()
        model.fit(ds, device=device, progress=progress)
        res = model.evaluate(ds)
        seconds = time.perf_counter() - t0
        hist = getattr(model, "history", None) or []
        row = {"method": method, "bits": int(bits), "map_i2t": res["map_i2t"], "map_t2i": res["map_t2i"],
               "p_at_r2_i2t": res["p_at_r2_i2t"], "p_at_r2_t2i": res["p_at_r2_t2i"], "seconds": round(seconds, 3),
               "epochs": len(hist), "best_epoch": getattr(model, "best_epoch", None), "preset": preset,
               "data": data, "split": res["split"], "device": device, "seed": seed, "world_size": world_size,
               "codes": res["codes"], "collapsed": res["collapsed"]}
        if hist and "seconds" in hist[0]:
            row["seconds_per_epoch"] = round(sum(h["seconds"] for h in hist) / len(hist), 4)
        if save_dir is not None:
            target = Path(save_dir) / f"{method}-{bits}.pt"
            try:
                row["saved"] = str(model.save(target))
            except OSError as exc:  # a full disk: report it, go on with the other models
                row["saved"], row["save_error"] = None, f"{target}: {exc.strerror or exc}"
        row["config"] = config_record(model)
        row["dataset"] = record
        row["environment"] = environment_record()  # after training: the thread counts it actually ran with
        yield row


def bench_plan(out_dir, ds, data: str, method_names, bits_list, seeds, preset: str = "small", epochs=None,
               top_r: int = 1000) -> tuple[int, int]:
    """``(runs planned, runs already in out_dir/results.jsonl)`` for a benchmark command: the runs
    :func:`hashnotes.bench.run_benchmark` will skip, counted with its own :func:`~hashnotes.bench.run_key`."""
    import warnings

    from . import bench, provenance

    path = Path(out_dir) / "results.jsonl"
    with warnings.catch_warnings():  # a torn last line: run_benchmark reports it when it repairs the file
        warnings.simplefilter("ignore")
        rows = bench.read_rows(path) if path.is_file() else []
    done = set()
    for r in rows:
        try:
            done.add(bench.run_key(r))
        except ValueError:  # run_benchmark refuses the file, naming the problem
            continue
    base = {"data": data, "preset": preset, "epochs_override": epochs, "dataset": provenance.dataset_record(ds),
            "top_r": int(min(top_r, len(ds.database)))}
    plan = [bench.run_key({**base, "method": m.lower(), "bits": int(b), "seed": int(s)})
            for s in seeds for b in bits_list for m in method_names]
    return len(plan), sum(k in done for k in plan)


def summary_rows(rows, data: str, method_names, bits_list, seeds=None, preset: str = "small",
                 epochs=None) -> list[dict]:
    """One dict per (method, bits) of this command's runs among ``rows``: ``method``, ``bits``, ``seeds``,
    ``map_i2t`` and ``map_t2i`` as ``(mean, std)`` over seeds, and ``collapsed`` (how many seeds' runs
    collapsed). Rows of other data, seeds (when ``seeds`` is given), presets or epoch overrides in the same file
    are left out."""
    from . import bench

    names = [m.lower() for m in method_names]
    mine = [r for r in rows if r.get("data") == data and r.get("preset") == preset
            and r.get("epochs_override") == epochs and r.get("method") in names
            and int(r.get("bits", -1)) in {int(b) for b in bits_list}
            and (seeds is None or int(r.get("seed", -1)) in {int(x) for x in seeds})]
    stats = bench.summary(mine)
    out = []
    for m in names:
        for b in bits_list:
            s = stats.get((data, m, int(b)))
            if s is None:
                continue
            out.append({"method": m, "bits": int(b), "seeds": s["map_i2t"][2], "map_i2t": s["map_i2t"][:2],
                        "map_t2i": s["map_t2i"][:2], "collapsed": s.get("collapsed", 0)})
    return out
