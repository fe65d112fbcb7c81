"""What a timed repetition contains: every shape it hits was compiled in the untimed warm-up, nothing
but serving work runs inside it, it lasts at least the workload's minimum, and the bench verb
reports the median of several with their spread."""

import time

import pytest

from runtime_stacks import TINY_LLAMA, materialize, result_of, run_verb
from test_engine_components import spec
from vibeserve_runtime.bench.repetition import repeat_until
from vibeserve_runtime.bench.workload import Workload, make_requests, pass_payload, pass_seed
from vibeserve_runtime.cli.offline_bench import AVOID, offline_passes
from vibeserve_runtime.cli.candidate_cmd import _run_rep, bench_offline
from vibeserve_runtime.engine import Engine
from vibeserve_runtime.events import VibeError

# more requests than may run at once, so admission, prefill batches and decode batch sizes all vary
WORKLOAD = {
    "dataset": "fixed",
    "num_prompts": 7,
    "input_len": 12,
    "output_len": 5,
    "max_concurrency": 3,
    "warmups": 1,
    "repetitions": 2,
    "min_duration_s": 0.0,
    "seed": 3,
}


def engine_recording_shapes():
    """A tiny engine whose forwards note (time, tokens, sequences, longest query, block-table width)."""
    engine = Engine.from_spec(spec(params={"max_num_batched_tokens": 24}))
    run = engine.runner.run
    engine.shapes = []

    def recording(input_ids, meta, sample_idx):
        engine.shapes.append(
            (
                time.perf_counter(),
                (input_ids.shape[0], meta.context_lens.shape[0], meta.max_q, meta.block_tables.shape[1]),
            )
        )
        return run(input_ids, meta, sample_idx)

    engine.runner.run = recording
    return engine


def timed_window(out: dict) -> tuple[float, float]:
    records = [rec for rep in out["reps"] for p in rep["passes"] for rec in p["records"]]
    return min(r["start"] for r in records), max(r["times"][-1] for r in records)


def test_warmup_runs_every_shape_the_timed_passes_hit():
    engine = engine_recording_shapes()
    vocab = engine.meta["vocab_size"]
    out = bench_offline(engine, {"workload": WORKLOAD, "vocab": vocab, "avoid": sorted(AVOID), "profile": False})
    start, end = timed_window(out)
    warm = {shape for t, shape in engine.shapes if t < start}
    timed = {shape for t, shape in engine.shapes if start <= t <= end}
    assert len(timed) > 3, timed  # prefills of several sizes and decodes of several batch sizes
    assert timed <= warm, f"shapes first run inside a timed pass: {sorted(timed - warm)}"


def test_the_timed_loop_neither_profiles_nor_samples_occupancy():
    engine = Engine.from_spec(spec())
    profiled, stats_calls = [], []
    step, stats = engine.step, engine.stats
    engine.step = lambda: (profiled.append(engine.profile is not None), step())[1]
    engine.stats = lambda: (stats_calls.append(1), stats())[1]
    w = Workload.from_dict(WORKLOAD)
    rep = _run_rep(engine, pass_payload(w, make_requests(w, 256, 0), 0), w.max_concurrency)
    assert len(rep["records"]) == 7 and profiled and not any(profiled) and not stats_calls


def test_the_profile_runs_after_the_timed_repetitions():
    engine = Engine.from_spec(spec())
    steps = []
    step = engine.step
    engine.step = lambda: (steps.append((time.perf_counter(), engine.profile is not None)), step())[1]
    out = bench_offline(
        engine, {"workload": WORKLOAD, "vocab": engine.meta["vocab_size"], "avoid": [], "profile": True}
    )
    _, end = timed_window(out)
    profiled = [t for t, on in steps if on]
    assert profiled and min(profiled) > end
    assert out["profile"]["decode_profile"]["decode_step_ms"] > 0 and out["profile"]["kv_samples"]
    assert engine.profile is None  # steps after the profile pass run unprofiled again


def test_a_repetition_repeats_fresh_request_sets_until_its_minimum_duration():
    durations = iter([0.2, 0.2, 0.2, 0.2])
    passes = repeat_until(0.5, lambda k: {"k": k, "duration_s": next(durations)})
    assert [p["k"] for p in passes] == [0, 1, 2]
    assert len(repeat_until(0.0, lambda k: {"duration_s": 9.0})) == 1  # pass 0 always runs
    w = Workload.from_dict(WORKLOAD)
    sets = [make_requests(w, 256, pass_seed(0, k))[0].prompt_token_ids for k in range(3)]
    assert len({tuple(s) for s in sets}) == 3


def test_the_parent_checks_each_pass_against_its_own_copy_of_the_requests():
    w = Workload.from_dict(WORKLOAD)
    sent = make_requests(w, 256, pass_seed(1, 0), set(AVOID))
    rec = {"prompt_tokens": 1, "output_tokens": 5, "times": [1.0, 1.1], "start": 0.9}
    ok = offline_passes({"passes": [{"duration_s": 0.5, "steps": 9, "records": [dict(rec)] * len(sent)}]}, 1, w, 256)
    assert [r.prompt_tokens for r in ok[0]["records"]] == [12] * 7  # ours, not the stack's claim
    for forged in ([dict(rec)] * 6, [dict(rec, output_tokens=50)] * 7):
        with pytest.raises(VibeError) as e:
            offline_passes({"passes": [{"duration_s": 0.5, "steps": 9, "records": forged}]}, 1, w, 256)
        assert e.value.reason == "integrity_violation"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    return materialize(tmp_path_factory.mktemp("timing"), {**TINY_LLAMA, "name": "timing-tiny"})


def test_bench_runs_three_repetitions_by_default_and_reports_their_spread(stack):
    rc, evs, err = run_verb(
        "bench",
        "--stack",
        str(stack),
        "--dataset",
        "fixed",
        "--num-prompts",
        "4",
        "--input-len",
        "8",
        "--output-len",
        "4",
        "--min-duration-s",
        "0",
    )
    assert rc == 0, err[-1500:]
    res = result_of(evs)
    assert len(res["repetitions"]) == 3 and res["workload"]["warmups"] == 1
    s = res["spread"]["output_throughput"]
    assert s["n"] == 3 and s["min"] <= s["median"] == res["output_throughput"] <= s["max"]
    assert s["min"] == min(r["output_throughput"] for r in res["repetitions"])
    assert res["spread"]["median_tpot_ms"]["n"] == 3
    # the profile pass's figures are reported once, not as if a timed repetition had measured them
    assert res["decode_host_share"] >= 0 and not any("decode_host_share" in r for r in res["repetitions"])


def test_a_short_repetition_runs_until_the_minimum_duration(stack):
    rc, evs, err = run_verb(
        "bench",
        "--stack",
        str(stack),
        "--dataset",
        "fixed",
        "--num-prompts",
        "4",
        "--input-len",
        "8",
        "--output-len",
        "4",
        "--repetitions",
        "2",
        "--min-duration-s",
        "1.5",
    )
    assert rc == 0, err[-1500:]
    reps = result_of(evs)["repetitions"]
    for r in reps:
        assert r["duration_s"] >= 1.5
        assert r["completed"] == 4 * r["passes"] and r["total_input_tokens"] == 8 * r["completed"]
    # (whether a pass alone lasts 1.5 s depends on the machine; repeat_until's own test is exact)


def test_a_negative_minimum_duration_is_a_usage_error():
    with pytest.raises(VibeError) as e:
        Workload.from_dict({"min_duration_s": -1})
    assert e.value.kind == "usage" and "min_duration_s" in e.value.message


def test_stacks_side_by_side_take_turns_in_a_rotating_order(tmp_path, stack):
    """Two stacks loaded at once; repetition r runs both, starting with a different one each time.
    A stack that crashes or fails the integrity check leaves the others measured."""
    other = materialize(
        tmp_path,
        {**TINY_LLAMA, "name": "timing-other", "params": {**TINY_LLAMA["params"], "max_batch_size": 2}},
        "other",
    )
    broken = materialize(
        tmp_path,
        {**TINY_LLAMA, "name": "timing-broken", "params": {**TINY_LLAMA["params"], "max_model_len": 12}},
        "broken",
    )
    edited = materialize(tmp_path, {**TINY_LLAMA, "name": "timing-edited"}, "edited")
    loop = edited / "vibeserve_runtime" / "cli" / "timed_pass.py"
    loop.write_text(loop.read_text() + "\n# edited\n")
    rc, evs, err = run_verb(
        "bench",
        "--stack",
        str(stack),
        "--with",
        str(other),
        "--with",
        str(broken),
        "--with",
        str(edited),
        "--dataset",
        "fixed",
        "--num-prompts",
        "4",
        "--input-len",
        "16",
        "--output-len",
        "4",
        "--repetitions",
        "2",
        "--min-duration-s",
        "0",
        "--no-profile",
    )
    assert rc == 0, err[-1500:]
    res = result_of(evs)
    assert res["mode"] == "offline:side-by-side"
    by_name = {s["stack"]: s for s in res["stacks"]}
    for name in ("timing-tiny", "timing-other"):
        assert by_name[name]["spread"]["output_throughput"]["n"] == 2 and by_name[name]["completed"] == 4
    assert "prompt has 16 tokens" in by_name["timing-broken"]["error"]
    assert (
        by_name["timing-edited"]["error"].startswith("integrity_violation")
        and "cli/timed_pass.py" in by_name["timing-edited"]["error"]
    )
    turns = [
        (e["stack"], e["done"])
        for e in evs
        if e["event"] == "progress" and e.get("stage") == "bench" and e.get("done") and not e.get("heartbeat")
    ]
    assert turns == [("timing-tiny", 1), ("timing-other", 1), ("timing-other", 2), ("timing-tiny", 2)]


def test_engines_side_by_side_size_their_kv_pools_from_equal_shares_of_the_gpu():
    from vibeserve_runtime.cli.offline_bench import _memory_share

    spec = {"params": {}}
    assert _memory_share(spec, 0, 1) is None  # alone: the stack's own sizing
    shares = [_memory_share(spec, i, 3) for i in range(3)]
    assert shares == pytest.approx([0.85 / 3, 0.85 / 2.15, 0.85 / 1.3])
    # each takes its share of what the ones before it left: a third of the usable memory each
    free, pools = 1.0, []
    for s in shares:
        pools.append(free * s)
        free -= pools[-1]
    assert pools == pytest.approx([0.85 / 3] * 3)


@pytest.mark.parametrize(
    "n,concurrency,expected", [(7, 3, 7), (512, 32, 64), (70, 32, 70), (100, 32, 68), (100, None, 68), (5, 8, 5)]
)
def test_the_warmup_is_two_waves_and_the_last_partial_one(n, concurrency, expected):
    """The one warm-up rule (bench verb and harnesses): repetition 0's lengths, 2c of them and then
    the n mod c that end a pass, so a pass's tail batch size is warm too."""
    from vibeserve_runtime.bench.workload import warmup_requests

    w = Workload.from_dict(
        {**WORKLOAD, "dataset": "random", "range_ratio": 0.5, "num_prompts": n, "max_concurrency": concurrency}
    )
    warm, rep0 = warmup_requests(w, 256), make_requests(w, 256, pass_seed(0, 0))
    assert len(warm) == expected
    lengths = [len(q.prompt_token_ids) for q in rep0]
    c = concurrency or 32
    want = lengths if n <= 2 * c else lengths[: 2 * c] + (lengths[-(n % c) :] if n % c else [])
    assert [len(q.prompt_token_ids) for q in warm] == want
    assert all(a.prompt_token_ids != b.prompt_token_ids for a, b in zip(warm, rep0))
