"""``python -m hashnotes bench``: any set of methods at any set of bit lengths, one split, several seeds.

Every (method, bits, seed) run trains on the split's training items (model selection on its validation
items), evaluates the query set against the database and appends one row to ``results.jsonl`` in the output
folder; ``results.csv`` holds the same rows' scalar columns. A rerun with the same arguments skips the runs
already written, so an interrupted benchmark resumes where it stopped. Rows carry the full provenance:
the method's config, the dataset record (name, sizes, split digests, source files) and the environment
(package and torch versions, threads, device).

:func:`summary` turns rows into mean and standard deviation over seeds, as the comparison chapter shows.
"""
from __future__ import annotations

import csv
import json
import math
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

__all__ = ["run_key", "data_plan", "read_rows", "evaluate_row", "run_benchmark", "summary", "seed_stats", "compare",
           "claim_checks", "config_differences", "describe_differences", "is_degenerate", "reference_results", "reference_index_benchmark", "train_flops", "REFERENCE_TRACKS",
           "SCALARS"]

# The benchmark runs shipped with the package (hashnotes/results/<track>.jsonl), each made by the command
# given here on a 2-core CPU; the comparison chapter reads them, and so does a reader's Colab kernel.
REFERENCE_TRACKS = {
    "toy": "python -m hashnotes bench --methods dcmh cdhcr tdh ugach daph cca random --bits 16 32 64 "
           "--data toy --seeds 3 --out OUT",
    "wiki": "python -m hashnotes bench --methods dcmh cdhcr tdh ugach daph cca random --bits 16 32 64 "
            "--data wiki --root DATA --seeds 3 --out OUT",
    "mirflickr_photos": "python -m hashnotes bench --methods dcmh cdhcr tdh ugach daph cca random --bits 16 32 64 "
                        "--data DATA --missing-images drop --seeds 3 --out OUT",
}

SCALARS = ("data", "method", "bits", "seed", "preset", "map_i2t", "map_t2i", "map_at_r_i2t", "map_at_r_t2i",
           "top_r", "p_at_r2_i2t", "p_at_r2_t2i", "train_seconds", "eval_seconds", "epochs", "best_epoch")


# the entries a row must have to be resumed (run_key) and where each is looked up
_KEY_FIELDS = ("data", "method", "bits", "seed", "preset")
# dataset-record entries that say where the data lay, not what it is (left out of the plan when the record
# identifies the content by its file digests)
_LOCATION_FIELDS = ("path", "root")


def data_plan(row: dict) -> dict:
    """The data and protocol a row was measured on: its dataset record (name, sizes, split and its digests,
    data shapes, text vectoriser, source files and digests, toy generator parameters) and its ``top_r``.
    Where the record holds file digests, the folder the files lay in is left out (moving the data does not
    change the plan). JSON-normalised, so a row read back from disk gives the same plan."""
    rec = dict(row.get("dataset") or {})
    if "digest" in rec:
        for k in _LOCATION_FIELDS:
            rec.pop(k, None)
    return json.loads(json.dumps({"dataset": rec, "top_r": row.get("top_r")}, sort_keys=True))


def _plan_digest(plan: dict) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(plan, sort_keys=True).encode()).hexdigest()[:16]


def run_key(row: dict) -> tuple:
    """What makes two rows the same run (for resuming): data name, method, bits, seed, preset, epoch override
    and a digest of :func:`data_plan` (the full data and protocol spec)."""
    missing = [k for k in _KEY_FIELDS if k not in row]
    if missing:
        raise ValueError(f"a results row lacks {missing}; is this a hashnotes results file?")
    return (row["data"], row["method"], int(row["bits"]), int(row["seed"]), row["preset"],
            row.get("epochs_override"), _plan_digest(data_plan(row)))


def _differences(a, b, where: str = "") -> list[str]:
    """``key: a vs b`` for every leaf in which two JSON values differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            sub = f"{where}.{k}" if where else str(k)
            if k not in a or k not in b:
                out.append(f"{sub}: {a.get(k, '(absent)')!r} vs {b.get(k, '(absent)')!r}")
            else:
                out.extend(_differences(a[k], b[k], sub))
        return out
    return [] if a == b else [f"{where}: {a!r} vs {b!r}"]


def read_rows(path) -> list[dict]:
    """The rows of a ``results.jsonl`` file (an empty list when it does not exist). A truncated last line,
    as an interrupted run may leave, is skipped with a warning (:func:`run_benchmark` cuts it off and keeps
    a copy before it resumes); any other malformed line, and a line that is JSON but not an object, is a
    ValueError naming the line."""
    p = Path(path)
    if not p.exists():
        return []
    if p.is_dir():
        raise ValueError(f"{str(p)!r} is a folder, not a results.jsonl file")
    try:
        lines = p.read_bytes().decode("utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise ValueError(f"{p}: not a text file ({e}); is this a hashnotes results file?") from None
    rows = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            if i == len(lines) - 1:
                import warnings

                warnings.warn(f"{p}: ignoring a truncated last line ({e})", stacklevel=2)
                continue
            raise ValueError(f"{p}: line {i + 1} is not JSON ({e}); is this a hashnotes results file?") from None
        if not isinstance(row, dict):
            raise ValueError(f"{p}: line {i + 1} is a JSON {type(row).__name__}, not a result row (an object); "
                             "is this a hashnotes results file?")
        rows.append(row)
    return rows


def evaluate_row(model, ds, top_r: int) -> dict:
    """The scores of one trained model: mAP@all and mAP@R both ways, precision within radius 2 (per query),
    the pooled hash-lookup PR curves, and the collapse guard's code statistics of the query and database
    codes of each modality (``codes``, ``collapsed``: :func:`hashnotes.train.base.code_summary`)."""
    from . import metrics
    from .train.base import code_summary

    qi, qt = model.encode_image(ds.query.images), model.encode_text(ds.query.texts)
    di, dt = model.encode_image(ds.database.images), model.encode_text(ds.database.texts)
    ql, dl = np.asarray(ds.query.labels), np.asarray(ds.database.labels)
    out = {"top_r": int(min(top_r, len(dl))),
           **code_summary({"query_image": qi, "query_text": qt, "database_image": di, "database_text": dt}, ql, dl)}
    for name, q, d in (("i2t", qi, dt), ("t2i", qt, di)):
        out[f"map_{name}"] = float(metrics.mean_average_precision(q, d, ql, dl))
        out[f"map_at_r_{name}"] = float(metrics.mean_average_precision(q, d, ql, dl, top_k=out["top_r"]))
        out[f"p_at_r2_{name}"] = float(metrics.precision_at_radius(q, d, ql, dl, radius=2))
        pr = metrics.pr_curve(q, d, ql, dl)
        out[f"pr_{name}"] = {"radius": pr.radius.tolist(),
                             "precision": [None if math.isnan(v) else float(v) for v in pr.precision],
                             "recall": pr.recall.tolist()}
    return out


def train_flops(net, x) -> float:
    """FLOPs of one forward and backward pass of ``net`` per item of the batch ``x`` (PyTorch's FLOP
    counter; the gradients are cleared afterwards)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        net(x).sum().backward()
    net.zero_grad(set_to_none=True)
    return counter.get_total_flops() / len(x)


def _write_csv(rows, path: Path) -> None:
    """The scalar columns of ``rows`` to ``path``, atomically (a crash leaves the previous file)."""
    from ._io import atomic_writer

    with atomic_writer(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=SCALARS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k) for k in SCALARS})


def run_benchmark(ds, data_name: str, method_names, bits_list, seeds, out_dir, preset: str = "small",
                  epochs=None, device: str = "cpu", top_r: int = 1000, progress: bool = True,
                  build_model=None, log=print) -> list[dict]:
    """Run every (method, bits, seed) not yet in ``out_dir/results.jsonl``; return all rows of the file.

    The folder is checked for writing before anything is trained and locked for the whole run (a second
    benchmark into it is refused, naming the process that holds it). A torn last line (a killed or
    disk-full write) is cut off first and kept as ``results.jsonl.torn-<timestamp>``; each new row is
    appended as one complete line, flushed and fsynced, and ``results.csv`` is replaced atomically.

    One folder holds one data and protocol plan per data name (:func:`data_plan`: the dataset record and
    ``top_r``): rows of the same data name measured on other data (another toy size, split seed, image size,
    files) or another ``top_r`` are refused with a ValueError naming each difference, rather than resumed or
    mixed into one summary; use another ``out_dir`` for another plan."""
    from ._io import check_writable, folder_lock

    if build_model is None:
        from .methods import build_run as build_model
    out = check_writable(out_dir, "--out")
    with folder_lock(out, "the benchmark folder"):
        return _run_locked(ds, data_name, method_names, bits_list, seeds, out, preset, epochs, device, top_r,
                           progress, build_model, log)


def _run_locked(ds, data_name, method_names, bits_list, seeds, out, preset, epochs, device, top_r, progress,
                build_model, log) -> list[dict]:
    """The body of :func:`run_benchmark`, run while the folder is locked."""
    from tqdm.auto import tqdm

    from . import provenance
    from ._io import append_jsonl, repair_jsonl

    jsonl = out / "results.jsonl"
    torn = repair_jsonl(jsonl)
    if torn is not None:
        log(f"{jsonl}: cut off a torn last line (an interrupted write); its bytes are kept in {torn}")
    rows = read_rows(jsonl)
    dataset = provenance.dataset_record(ds)
    here = data_plan({"dataset": dataset, "top_r": int(min(top_r, len(ds.database)))})
    for i, r in enumerate(rows):
        run_key(r)  # every row must be a result row
        if r["data"] == data_name and data_plan(r) != here:
            diffs = _differences(data_plan(r), here)
            raise ValueError(
                f"{jsonl} holds runs of --data {data_name} on another data or protocol plan (row {i + 1}; "
                f"folder vs this command: {'; '.join(diffs[:6])}{' ...' if len(diffs) > 6 else ''}); "
                "give another --out for this plan")
    done = {run_key(r) for r in rows}
    plan = [(m, b, s) for s in seeds for b in bits_list for m in method_names]
    key = _plan_digest(here)
    todo = [p for p in plan if (data_name, p[0], int(p[1]), int(p[2]), preset, epochs, key) not in done]
    if len(todo) < len(plan):
        log(f"resuming: {len(plan) - len(todo)} of {len(plan)} runs are already in {jsonl}")
    bar = tqdm(todo, desc="bench", disable=not progress, unit="run")
    for method, bits, seed in bar:
        bar.set_postfix_str(f"{method} {bits} bits seed {seed}")
        model = build_model(method, bits, preset, seed, epochs, device)
        t0 = time.perf_counter()
        model.fit(ds, device=device, progress=False)
        train_seconds = time.perf_counter() - t0
        t1 = time.perf_counter()
        scores = evaluate_row(model, ds, top_r)
        row = {"data": data_name, "method": method, "bits": int(bits), "seed": int(seed), "preset": preset,
               "epochs_override": epochs, **scores, "train_seconds": round(train_seconds, 3),
               "eval_seconds": round(time.perf_counter() - t1, 3), "epochs": len(model.history),
               "best_epoch": model.best_epoch, "config": asdict(model.config), "dataset": dataset,
               "environment": model.environment or provenance.environment_record()}
        append_jsonl(jsonl, row)
        rows.append(row)
        _write_csv(rows, out / "results.csv")
        msg = (f"{method:>7} {bits:>3} bits seed {seed}: I->T {row['map_i2t']:.4f}  T->I {row['map_t2i']:.4f}  "
               f"({train_seconds:.0f} s)")
        bar.write(msg, file=sys.stderr) if progress else log(msg)
    bar.close()
    _write_csv(rows, out / "results.csv")
    return rows


def _shipped(name: str, what: str):
    """The package data file ``hashnotes/results/<name>`` (a FileNotFoundError naming ``what`` if absent)."""
    from importlib import resources

    f = resources.files("hashnotes") / "results" / name
    if not f.is_file():
        raise FileNotFoundError(f"the package has no {what} ({f}); reinstall hashnotes")
    return f


def reference_results(track: str) -> list[dict]:
    """The rows of the benchmark run shipped with the package for ``track`` (a key of
    :data:`REFERENCE_TRACKS`; the command that made it is the value)."""
    from importlib import resources

    if track not in REFERENCE_TRACKS:
        raise ValueError(f"track: expected one of {sorted(REFERENCE_TRACKS)}, got {track!r}")
    with resources.as_file(_shipped(f"{track}.jsonl", f"results file for {track!r}")) as path:
        return read_rows(path)


def reference_index_benchmark() -> dict:
    """The faiss index benchmark shipped with the package (``benchmarks/bench_index.py --json-out``):
    ``{(n, kind): [row, ...]}``, each row with ``setting``, ``qps`` (queries per second, one thread),
    ``recall`` (recall@100 by distance), ``recall_ids``, ``build_s``, ``index_mb`` and ``peak_extra_mb``."""
    out: dict = {}
    for r in json.loads(_shipped("index.json", "index benchmark file").read_text()):
        out.setdefault((int(r["n"]), r["kind"]), []).append({**r, "recall": r["recall_dist"]})
    return out


def _mean_std(values) -> tuple:
    """``(mean, std, n)`` of one run's values over seeds (std with ddof=1; 0 for a single seed)."""
    v = np.asarray(values, dtype=np.float64)
    return float(v.mean()), (float(v.std(ddof=1)) if len(v) > 1 else 0.0), len(v)


def _plan(row: dict) -> tuple:
    """The settings a group of seeds must share: preset and epoch override."""
    return (row.get("preset"), row.get("epochs_override"))


def summary(rows, keys=("map_i2t", "map_t2i")) -> dict:
    """``{(data, method, bits): {key: (mean, std, n_seeds)}}`` over the seeds of each run (std with ddof=1;
    0 for a single seed), plus ``"collapsed"``: how many of those seeds' runs collapsed (:func:`is_degenerate`).

    Rows of one (data, method, bits) made with another preset or epoch override are not seeds of the same
    run: such a mixture is refused with a ValueError naming both settings."""
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["data"], r["method"], int(r["bits"])), []).append(r)
    out = {}
    for k, rs in sorted(groups.items()):
        plans = sorted({_plan(r) for r in rs}, key=str)
        if len(plans) > 1:
            raise ValueError(f"{k[0]} {k[1]} {k[2]} bits: the rows mix runs of different settings "
                             f"(preset, epochs) {plans}; summarise each plan's rows on their own")
        out[k] = {**{key: _mean_std([r[key] for r in rs]) for key in keys},
                  "collapsed": sum(is_degenerate(r) for r in rs)}
    return out


def is_degenerate(row: dict) -> bool:
    """True when the run's codes collapsed on any side (the row's ``collapsed`` list is not empty; see
    :func:`hashnotes.codes.code_stats`): its scores measure the database order, not the method."""
    return bool(row.get("collapsed"))


def _rows_of(rows, data: str, method: str, bits: int) -> list[dict]:
    return [r for r in rows if r["data"] == data and r["method"] == method and int(r["bits"]) == bits]


def seed_stats(rows, data: str, method: str, bits: int, key: str):
    """``(mean, std, n_seeds)`` of ``key`` over the rows of one (data, method, bits), as in :func:`summary`;
    None when there is no such row."""
    v = [r[key] for r in _rows_of(rows, data, method, bits)]
    return _mean_std(v) if v else None


# Config fields that say nothing about how a method trains (the run's identity, where it runs).
_IDENTITY_FIELDS = ("bits", "seed", "device", "encode_batch_size")


def config_differences(rows, data: str, a: str, b: str) -> dict:
    """Every config field in which the runs of methods ``a`` and ``b`` on track ``data`` differ.

    Returns ``{"budget": {field: (value_a, value_b)}, "method": {field: (value_a, value_b)},
    "only_a": [fields], "only_b": [fields]}``: ``budget`` holds the differing fields that set the training
    budget (:data:`hashnotes.train.networks.BUDGET_FIELDS`: epochs, batch, optimiser and schedule, output
    normalisation, validation cadence, network sizes), ``method`` the other differing fields both configs
    have (a method's own weights and loop settings), ``only_a`` / ``only_b`` the fields one config has and the
    other lacks. The identity fields (bits, seed, device, encoding batch) are left out. Each method's config
    is read from its first row; a method whose rows hold more than one config (apart from those fields) is
    refused with a ValueError."""
    from .train.networks import BUDGET_FIELDS

    def config(m):
        cfgs = []
        for r in rows:
            if r["data"] == data and r["method"] == m:
                c = {k: v for k, v in (r.get("config") or {}).items() if k not in _IDENTITY_FIELDS}
                if c not in cfgs:
                    cfgs.append(c)
        if len(cfgs) > 1:
            keys = sorted(k for k in set(cfgs[0]) | set(cfgs[1]) if cfgs[0].get(k) != cfgs[1].get(k))
            raise ValueError(f"{data}: the rows of {m} hold more than one config (they differ in {keys})")
        return cfgs[0] if cfgs else {}

    ca, cb = config(a), config(b)
    both = [k for k in ca if k in cb and ca[k] != cb[k]]
    return {"budget": {k: (ca[k], cb[k]) for k in both if k in BUDGET_FIELDS},
            "method": {k: (ca[k], cb[k]) for k in both if k not in BUDGET_FIELDS},
            "only_a": sorted(k for k in ca if k not in cb), "only_b": sorted(k for k in cb if k not in ca)}


def compare(rows, data: str, a: str, b: str, metric: str = "map") -> list[dict]:
    """Method ``a`` against ``b`` on track ``data`` at every bit length and in both directions: one entry per
    (bits, direction) with both ``(mean, std, n)``, the ``margin`` (difference of the means), the ``spread``
    (sum of the two standard deviations) and ``holds`` (margin > spread). Lengths where either is missing
    are left out."""
    bits_list = sorted({int(r["bits"]) for r in rows if r["data"] == data})
    out = []
    for d in ("i2t", "t2i"):
        for bits in bits_list:
            sa, sb = seed_stats(rows, data, a, bits, f"{metric}_{d}"), seed_stats(rows, data, b, bits, f"{metric}_{d}")
            if sa is None or sb is None:
                continue
            diff, spread = sa[0] - sb[0], sa[1] + sb[1]
            degenerate = sorted({m for m in (a, b) for r in _rows_of(rows, data, m, bits) if is_degenerate(r)})
            out.append({"bits": bits, "direction": d, "a": sa, "b": sb, "margin": diff, "spread": spread,
                        "holds": diff > spread, "degenerate": degenerate})
    return out


# --------------------------------------------------------------------------------------------- the claims
# Each claim a paper makes that a benchmark on a reduced setting can test: (name, source, kind, args).
CLAIMS = (
    ("DCMH above CCA", "DCMH (Jiang & Li 2017), Table 3", "above", ("dcmh", "cca", "map")),
    ("DCMH's mAP does not fall as the code grows", "DCMH (Jiang & Li 2017), Table 3", "not_falling", ("dcmh", "map")),
    ("the Cauchy likelihood raises precision within radius 2 over the sigmoid", "Tian et al. 2021",
     "above", ("cdhcr", "dcmh", "p_at_r2")),
    ("TDH above DCMH", "TDH (Deng et al. 2018)", "above", ("tdh", "dcmh", "map")),
    ("DAPH above DCMH", "DAPH (Tu et al. 2023)", "above", ("daph", "dcmh", "map")),
    ("DAPH above TDH", "DAPH (Tu et al. 2023)", "above", ("daph", "tdh", "map")),
    ("UGACH above CCA without labels", "UGACH (Zhang et al. 2018)", "above", ("ugach", "cca", "map")),
)


def _not_falling(rows, data: str, method: str, metric: str) -> list[dict]:
    """Each step to the next longer code of ``method``, both directions: holds when the longer code's mean is
    at least the shorter one's minus the two standard deviations."""
    bits_list = sorted({int(r["bits"]) for r in rows if r["data"] == data})
    out = []
    for d in ("i2t", "t2i"):
        series = [(bits, seed_stats(rows, data, method, bits, f"{metric}_{d}")) for bits in bits_list]
        series = [(bits, s) for bits, s in series if s is not None]
        for (b0, s0), (b1, s1) in zip(series, series[1:]):
            diff, spread = s1[0] - s0[0], s0[1] + s1[1]
            degenerate = [method] if any(is_degenerate(r) for bits in (b0, b1)
                                         for r in _rows_of(rows, data, method, bits)) else []
            out.append({"bits": (b0, b1), "direction": d, "a": s1, "b": s0, "margin": diff, "spread": spread,
                        "holds": diff >= -spread, "degenerate": degenerate})
    return out


def claim_checks(rows, data: str) -> list[dict]:
    """Each claim of :data:`CLAIMS` checked on the rows of track ``data``, every bit length, both directions.

    ``above`` (a over b) holds at a bit length and direction when the mean difference exceeds the sum of the
    two standard deviations over seeds; ``not_falling`` holds when each longer code's mean is at least the
    shorter one's minus their summed deviations. A case where a run of either method collapsed
    (:func:`is_degenerate`, any seed) is ``degenerate``: it is evidence neither for nor against the claim
    and is left out of the verdict. Over the remaining cases a claim is "held" when it holds everywhere,
    "not held" when it fails everywhere, "partly" otherwise; "degenerate" when every case is; "not
    testable" when a method is missing from the rows, and "not testable here" when the two methods were
    trained on different budgets (:func:`config_differences`: a difference in a budget field), whatever the
    numbers say. Each entry lists the per-(bits, direction) numbers behind the verdict, the config
    ``differences`` of the two methods, and the count of ``degenerate`` cases.
    """
    out = []
    for name, source, kind, args in CLAIMS:
        checks = compare(rows, data, *args) if kind == "above" else _not_falling(rows, data, *args)
        diffs = config_differences(rows, data, args[0], args[1]) if kind == "above" else None
        valid = [c for c in checks if not c["degenerate"]]
        if not checks:
            verdict = "not testable"
        elif diffs is not None and diffs["budget"]:
            verdict = "not testable here"
        elif not valid:
            verdict = "degenerate"
        elif all(c["holds"] for c in valid):
            verdict = "held"
        elif not any(c["holds"] for c in valid):
            verdict = "not held"
        else:
            verdict = "partly"
        out.append({"claim": name, "source": source, "data": data, "verdict": verdict, "checks": checks,
                    "differences": diffs, "degenerate": len(checks) - len(valid)})
    return out


def describe_differences(diffs: dict | None, a: str = "a", b: str = "b") -> str:
    """One line naming every config field in which two compared presets differ (for the claims table)."""
    if diffs is None:
        return "one method"
    parts = [f"{k} {va!r} vs {vb!r}" for k, (va, vb) in {**diffs["budget"], **diffs["method"]}.items()]
    for who, fields in ((a, diffs["only_a"]), (b, diffs["only_b"])):
        if fields:
            parts.append(f"only {who}: {', '.join(fields)}" if len(fields) <= 4 else
                         f"{len(fields)} fields only {who} has")
    text = "; ".join(parts) if parts else "none"
    return ("BUDGET differs: " if diffs["budget"] else "") + text
