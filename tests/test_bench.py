"""The benchmark runner: rows with provenance, resume without rerunning, CSV beside JSONL, mean/std summary;
the random-codes floor."""
from __future__ import annotations

import json

import numpy as np
import pytest

from hashnotes import bench, data, methods, metrics


@pytest.fixture(scope="module")
def ds():
    return data.toy(n=400, image_size=32, seed=2)


def test_random_codes_are_a_deterministic_floor(ds):
    m = methods.RandomCodes(bits=32, seed=1).fit(ds, progress=False)
    a, b = m.encode_image(ds.query.images), m.encode_image(ds.query.images)
    np.testing.assert_array_equal(a, b)  # a function of the item
    assert a.dtype == np.int8 and set(np.unique(a)) == {-1, 1}
    assert abs(float(a.mean())) < 0.1  # balanced bits
    other = methods.RandomCodes(bits=32, seed=2).fit(ds, progress=False)
    assert (other.encode_image(ds.query.images) != a).mean() > 0.4  # the seed keys the hash
    # image and text codes share nothing: mAP is the relevant fraction, within sampling noise
    rel = (ds.query.labels.astype(int) @ ds.database.labels.T.astype(int) > 0).mean()
    r = m.evaluate(ds)
    assert abs(r["map_i2t"] - rel) < 0.05 and abs(r["map_t2i"] - rel) < 0.05
    wide = methods.RandomCodes(bits=1000).fit(ds, progress=False).encode_text(ds.query.texts)
    assert wide.shape == (len(ds.query), 1000)


def test_run_resume_csv_and_summary(ds, tmp_path):
    calls = []

    def build(method, bits, preset, seed, epochs, device):
        calls.append((method, bits, seed))
        return getattr(methods.get(method), preset)(bits=bits, seed=seed)

    kw = dict(ds=ds, data_name="toy400", method_names=["random", "cca"], bits_list=[8, 16], seeds=[0, 1],
              out_dir=tmp_path, progress=False, build_model=build, log=lambda *_: None, top_r=50)
    rows = bench.run_benchmark(**kw)
    assert len(rows) == 8 and len(calls) == 8
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    assert len(lines) == 8
    row = json.loads(lines[0])
    for key in ("map_i2t", "map_t2i", "map_at_r_i2t", "p_at_r2_t2i", "pr_i2t", "train_seconds", "config",
                "dataset", "environment"):
        assert key in row
    assert row["dataset"]["split"] == ds.split.as_dict() and row["top_r"] == 50
    assert row["environment"]["torch_threads"] >= 1
    # the recorded scores are the metrics of the codes
    m = build(row["method"], row["bits"], "small", row["seed"], None, "cpu").fit(ds, progress=False)
    qi, dt = m.encode_image(ds.query.images), m.encode_text(ds.database.texts)
    assert row["map_i2t"] == pytest.approx(metrics.mean_average_precision(qi, dt, ds.query.labels, ds.database.labels))
    # a rerun resumes: nothing is trained again; one more seed trains only that seed
    calls.clear()
    assert len(bench.run_benchmark(**kw)) == 8 and calls == []
    rows = bench.run_benchmark(**{**kw, "seeds": [0, 1, 2]})
    assert len(rows) == 12 and sorted({c[2] for c in calls}) == [2] and len(calls) == 4
    csv_lines = (tmp_path / "results.csv").read_text().splitlines()
    assert len(csv_lines) == 13 and csv_lines[0].startswith("data,method,bits,seed")
    s = bench.summary(rows)
    mean, std, n = s[("toy400", "cca", 16)]["map_i2t"]
    vals = [r["map_i2t"] for r in rows if r["method"] == "cca" and r["bits"] == 16]
    assert n == 3 and mean == pytest.approx(np.mean(vals)) and std == pytest.approx(np.std(vals, ddof=1))


def test_read_rows_tolerates_only_a_truncated_last_line(tmp_path):
    p = tmp_path / "results.jsonl"
    p.write_text('{"a": 1}\n{"a": 2')
    with pytest.warns(UserWarning, match="truncated"):
        assert bench.read_rows(p) == [{"a": 1}]
    p.write_text('{"a": 1}\nnot json\n{"a": 2}\n')
    with pytest.raises(ValueError, match="line 2 is not JSON"):
        bench.read_rows(p)


def _row(data, method, bits, seed, m_i2t, m_t2i, p=0.0):
    return {"data": data, "method": method, "bits": bits, "seed": seed, "map_i2t": m_i2t, "map_t2i": m_t2i,
            "p_at_r2_i2t": p, "p_at_r2_t2i": p}


def test_claim_checks_verdicts_from_means_and_spreads():
    rows = []
    for seed, jitter in enumerate((-0.01, 0.0, 0.01)):
        for bits, base in ((16, 0.70), (32, 0.72), (64, 0.60)):
            rows.append(_row("toy", "dcmh", bits, seed, base + jitter, base + 0.01 + jitter, p=0.1))
            rows.append(_row("toy", "cca", bits, seed, 0.50 + jitter, 0.50 + jitter))
            rows.append(_row("toy", "tdh", bits, seed, base - 0.05 + jitter, base + 0.05 + jitter))
            rows.append(_row("toy", "cdhcr", bits, seed, 0.6, 0.6, p=0.5 if bits > 16 else 0.05))
    checks = {c["claim"]: c for c in bench.claim_checks(rows, "toy")}
    assert checks["DCMH above CCA"]["verdict"] == "held"
    assert len(checks["DCMH above CCA"]["checks"]) == 6  # 3 lengths x 2 directions
    falling = checks["DCMH's mAP does not fall as the code grows"]
    assert falling["verdict"] == "partly"  # 16 -> 32 rises, 32 -> 64 falls by more than the spread
    assert [c["holds"] for c in falling["checks"] if c["direction"] == "i2t"] == [True, False]
    assert checks["TDH above DCMH"]["verdict"] == "partly"  # below for I->T, above for T->I
    assert checks["the Cauchy likelihood raises precision within radius 2 over the sigmoid"]["verdict"] == "partly"
    assert checks["UGACH above CCA without labels"]["verdict"] == "not testable"
    c = checks["DCMH above CCA"]["checks"][0]
    assert c["margin"] == pytest.approx(0.20) and c["spread"] == pytest.approx(0.02)


@pytest.mark.parametrize("track", sorted(bench.REFERENCE_TRACKS))
def test_reference_results_are_complete_runs_of_one_split(track):
    """Every shipped track holds each (method, bits) for the same seeds, on one split, with its provenance."""
    rows = bench.reference_results(track)
    assert rows and {r["data"] for r in rows} == {rows[0]["data"]}
    assert len({str(r["dataset"]["split"]["digest"]) for r in rows}) == 1
    runs = {(r["method"], r["bits"], r["seed"]) for r in rows}
    assert len(runs) == len(rows)  # no run twice
    methods_, bits, seeds = ({k[i] for k in runs} for i in range(3))
    assert runs == {(m, b, s) for m in methods_ for b in bits for s in seeds}
    assert {"dcmh", "cdhcr", "tdh", "ugach", "daph", "cca", "random"} <= methods_ and bits == {16, 32, 64}
    for r in rows:
        assert 0 <= r["map_i2t"] <= 1 and r["environment"]["hashnotes"] and r["config"]["bits"] == r["bits"]


def test_reference_results_reject_an_unknown_track():
    with pytest.raises(ValueError, match="track"):
        bench.reference_results("flickr")


def test_reference_index_benchmark_has_exact_and_approximate_rows():
    idx = bench.reference_index_benchmark()
    kinds = {k for _, k in idx}
    assert {"flat", "ivf"} <= kinds
    for (n, kind), rows in idx.items():
        assert n >= 1_000_000 and all(0 <= r["recall"] <= 1 and r["qps"] > 0 for r in rows)
        if kind == "flat":
            assert all(r["recall"] == 1.0 for r in rows)  # the exact scan is the reference


def test_train_flops_counts_forward_and_backward_per_item():
    """A bias-free 4 -> 3 linear layer: 2*4*3 FLOPs forward per item and as many for the weight gradient
    (the input needs no gradient); the gradients are cleared afterwards."""
    import torch

    net = torch.nn.Linear(4, 3, bias=False)
    assert bench.train_flops(net, torch.ones(5, 4)) == 2 * (2 * 4 * 3)
    assert net.weight.grad is None


def test_compare_is_the_claims_above_test():
    rows = bench.reference_results("toy")
    checks = bench.compare(rows, "toy", "dcmh", "cca")
    claim = next(c for c in bench.claim_checks(rows, "toy") if c["claim"] == "DCMH above CCA")
    assert checks == claim["checks"] and len(checks) == 6
    for c in checks:
        a, b = (bench.seed_stats(rows, "toy", m, c["bits"], f"map_{c['direction']}") for m in ("dcmh", "cca"))
        assert c["margin"] == a[0] - b[0] and c["spread"] == a[1] + b[1] and c["holds"] == (c["margin"] > c["spread"])
