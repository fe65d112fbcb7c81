"""`bench` offline (the stack's engine), the hf-generate baseline, and the online load generator
against the real server; every run reports vLLM's metric names."""

import json

import pytest

from runtime_stacks import TINY_LLAMA, Server, error_of, materialize, result_of, run_verb

VLLM_KEYS = [
    "request_throughput",
    "output_throughput",
    "total_token_throughput",
    "completed",
    "total_input_tokens",
    "total_output_tokens",
    "duration_s",
] + [f"{s}_{m}_ms" for m in ("ttft", "tpot", "itl", "e2el") for s in ("mean", "median", "p99")]
# one pass per repetition, so the counts below are exact (test_bench_timing.py covers longer ones)
FIXED = ["--dataset", "fixed", "--num-prompts", "6", "--input-len", "16", "--output-len", "8", "--min-duration-s", "0"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    return materialize(tmp_path_factory.mktemp("bench"), {**TINY_LLAMA, "name": "bench-tiny"})


def _assert_metrics(res, n=6, out=8):
    for k in VLLM_KEYS:
        assert k in res, k
    assert res["completed"] == n and res["total_output_tokens"] == n * out and res["total_input_tokens"] == n * 16
    assert res["output_throughput"] > 0 and res["median_ttft_ms"] > 0 and res["median_tpot_ms"] > 0
    assert res["command"].split()[1:4] == ["-m", "vibeserve_runtime", "bench"]


def test_offline_bench(stack, tmp_path):
    rc, evs, err = run_verb(
        "bench", "--stack", str(stack), *FIXED, "--repetitions", "2", "--out", str(tmp_path / "b.json")
    )
    assert rc == 0, err[-1500:]
    res = result_of(evs)
    _assert_metrics(res)
    assert res["mode"] == "offline" and len(res["repetitions"]) == 2 and res["device"] == "cpu"
    assert json.loads((tmp_path / "b.json").read_text())["completed"] == 6
    assert (
        sum(
            1
            for e in evs
            if e["event"] == "progress" and e["stage"] == "bench" and e["done"] and not e.get("heartbeat")
        )
        == 2
    )
    assert 0 < res["kv_memory_efficiency"] <= 1 and res["peak_kv_tokens_used"] <= res["peak_kv_tokens_allocated"]
    # where a decode step's time goes, for the search (engine/step_profile.py)
    assert 0 <= res["decode_host_share"] <= 1 and res["decode_step_ms"] > 0
    # and where its forward's time goes, by component (engine/component_profile.py)
    shares = {k: v for k, v in res.items() if k.startswith("decode_device_share_")}
    assert set(shares) == {f"decode_device_share_{c}" for c in ("attention", "linear", "other")}, shares
    assert abs(sum(shares.values()) - 1) < 1e-3 and all(0 <= v <= 1 for v in shares.values())
    # all six prompts fit one batch of 8: none waits to be admitted
    assert res["ttft_queue_share"] < 0.2


def test_offline_bench_reports_time_spent_waiting_for_a_batch_slot(tmp_path):
    """With room for one sequence, five of six requests that arrive together wait for a slot: most
    of their time to first token is that wait, and all of it happens with the batch full."""
    one = materialize(
        tmp_path, {**TINY_LLAMA, "name": "bench-one", "params": {**TINY_LLAMA["params"], "max_batch_size": 1}}
    )
    rc, evs, err = run_verb("bench", "--stack", str(one), *FIXED)
    assert rc == 0, err[-1500:]
    res = result_of(evs)
    assert res["ttft_queue_share"] > 0.5 and res["queue_wait_batch_full_share"] > 0.95
    assert res["queue_peak_waiting_full"] == 5  # the batch lacked five slots at worst


def test_offline_bench_rejects_an_edited_timing_loop(tmp_path):
    stack = materialize(tmp_path)
    f = stack / "vibeserve_runtime" / "cli" / "timed_pass.py"
    f.write_text(f.read_text().replace('"duration_s": time.perf_counter() - t0', '"duration_s": 1e-3'))
    rc, evs, _ = run_verb("bench", "--stack", str(stack), *FIXED)
    assert rc == 2 and error_of(evs)["reason"] == "integrity_violation"


def test_offline_bench_with_poisson_arrivals_and_max_concurrency(stack):
    rc, evs, _ = run_verb("bench", "--stack", str(stack), *FIXED, "--request-rate", "50", "--max-concurrency", "2")
    res = result_of(evs)
    assert rc == 0 and res["workload"]["request_rate"] == 50 and res["workload"]["max_concurrency"] == 2
    _assert_metrics(res)


def test_hf_generate_baseline(stack):
    rc, evs, err = run_verb("bench", "--stack", str(stack), "--baseline", "hf-generate", *FIXED)
    assert rc == 0, err[-1500:]
    res = result_of(evs)
    assert res["mode"] == "baseline:hf-generate"
    _assert_metrics(res)


def test_online_against_the_real_server(stack):
    s = Server(stack)
    try:
        rc, evs, err = run_verb("bench", "--url", s.url, *FIXED, "--request-rate", "30", "--warmups", "1")
        assert rc == 0, err[-1500:]
        res = result_of(evs)
        assert res["mode"] == "online" and res["model"] == "bench-tiny"
        _assert_metrics(res)
        assert res["mean_itl_ms"] > 0
        rc, evs, _ = run_verb("bench", "--url", s.url, *FIXED, "--max-concurrency", "2", "--endpoint", "chat")
        res = result_of(evs)
        assert rc == 0 and res["completed"] == 6 and res["total_output_tokens"] == 48
    finally:
        s.close()


def test_unreachable_server_is_a_clear_usage_error():
    rc, evs, _ = run_verb("bench", "--url", "http://127.0.0.1:9", "--num-prompts", "2")
    err = error_of(evs)
    assert rc == 3 and err["reason"] == "unreachable_server" and "127.0.0.1:9" in err["message"]
