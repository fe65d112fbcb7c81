"""vLLM metric definitions on hand-made records, and seeded workloads."""

import math

import pytest

from vibeserve_runtime.bench.metrics import RequestRecord, compute_metrics, median_of_runs
from vibeserve_runtime.bench.workload import Workload, arrival_offsets, make_requests
from vibeserve_runtime.events import VibeError


def test_metric_definitions():
    recs = [
        RequestRecord(
            prompt_tokens=10, output_tokens=5, ttft_s=0.1, itl_s=[0.02, 0.02, 0.02, 0.02], e2el_s=0.18, success=True
        ),
        RequestRecord(prompt_tokens=20, output_tokens=3, ttft_s=0.3, itl_s=[0.05, 0.15], e2el_s=0.5, success=True),
        RequestRecord(prompt_tokens=7, error="HTTP 500"),
    ]
    m = compute_metrics(recs, duration_s=2.0)
    assert m["completed"] == 2 and m["failed"] == 1 and m["errors"] == ["HTTP 500"]
    assert m["total_input_tokens"] == 30 and m["total_output_tokens"] == 8
    assert m["request_throughput"] == 1.0 and m["output_throughput"] == 4.0 and m["total_token_throughput"] == 19.0
    assert m["mean_ttft_ms"] == pytest.approx(200) and m["median_ttft_ms"] == pytest.approx(200)
    # TPOT per request: (e2el - ttft) / (out - 1) = 0.02 and 0.1
    assert m["mean_tpot_ms"] == pytest.approx(60) and m["p99_tpot_ms"] == pytest.approx(20 + 80 * 0.99)
    # ITL pooled over all gaps: [20, 20, 20, 20, 50, 150]
    assert m["mean_itl_ms"] == pytest.approx(280 / 6) and m["median_itl_ms"] == pytest.approx(20)
    assert m["mean_e2el_ms"] == pytest.approx(340)


def test_empty_and_median_of_runs():
    m = compute_metrics([], 1.0)
    assert m["completed"] == 0 and math.isnan(m["mean_ttft_ms"])
    runs = [{"output_throughput": x, "completed": 4, "median_ttft_ms": 10.0 * x} for x in (1.0, 3.0, 2.0)]
    med = median_of_runs(runs)
    assert med["output_throughput"] == 2.0 and med["completed"] == 4
    assert med["spread"]["output_throughput"] == {"median": 2.0, "min": 1.0, "max": 3.0, "n": 3}
    assert med["spread"]["median_ttft_ms"] == {"median": 20.0, "min": 10.0, "max": 30.0, "n": 3}


def test_workloads_are_seeded_and_validated():
    w = Workload.from_dict(
        {"dataset": "fixed", "num_prompts": 5, "input_len": 7, "output_len": 3, "request_rate": 10, "seed": 1}
    )
    a, b = make_requests(w, 100), make_requests(w, 100)
    assert [r.prompt_token_ids for r in a] == [r.prompt_token_ids for r in b]
    assert all(len(r.prompt_token_ids) == 7 and r.max_tokens == 3 for r in a)
    assert make_requests(w, 100, seed_offset=1)[0].prompt_token_ids != a[0].prompt_token_ids
    t = arrival_offsets(w, 200)
    assert t[0] == 0 and t == sorted(t) and 15 < t[-1] < 25  # Poisson at 10/s: ~20 s for 200
    fixed = arrival_offsets(Workload.from_dict({"request_rate": 4, "arrival": "fixed"}), 3)
    assert fixed == [0.0, 0.25, 0.5]
    r = make_requests(Workload.from_dict({"num_prompts": 50, "input_len": 20, "range_ratio": 0.5}), 100)
    assert {len(x.prompt_token_ids) for x in r} <= set(range(10, 31)) and len({len(x.prompt_token_ids) for x in r}) > 3
    with pytest.raises(VibeError) as e:
        Workload.from_dict({"num_promts": 3})
    assert e.value.kind == "usage" and "num_promts" in e.value.message
