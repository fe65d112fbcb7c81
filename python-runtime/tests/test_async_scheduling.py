"""Async scheduling (params.async_scheduling): the host builds step N+1 while the device runs step N,
step N's tokens feed step N+1's input ids on the device and reach the host one step late. On a CPU
the same logic runs with synchronous copies, so it is tested here: outputs are the synchronous
engine's token for token (mixed prompt lengths and max_tokens, staggered arrivals, every scheduler
and cache, multi-step runs, the CUDA-graph runner's static path), a stop read mid-overlap drops the
token computed after it, a length limit costs no extra step, preemption and aborts of sequences
whose token is in flight keep every other output intact and every block accounted for, and tokens
stream in order, one step() call later than without overlap."""

import os

os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

from vibeserve_runtime.components.execution.cuda_graphs import CudaGraphRunner  # noqa: E402
from vibeserve_runtime.components.kv_cache.paged import PagedKVCache  # noqa: E402
from vibeserve_runtime.engine import Engine  # noqa: E402
from vibeserve_runtime.engine.device_block_tables import DeviceBlockTables  # noqa: E402
from vibeserve_runtime.engine.launched_step import LaunchedStep  # noqa: E402
from vibeserve_runtime.engine.sequence import Sequence  # noqa: E402
from vibeserve_runtime.types import Request, SamplingParams  # noqa: E402

from runtime_stacks import TINY_LLAMA, materialize, result_of, run_verb  # noqa: E402
from test_engine_components import PROMPTS, hf_greedy, spec  # noqa: E402
from test_engine_multi_step import run_staggered  # noqa: E402

MIXED = [SamplingParams(max_tokens=m, ignore_eos=True) for m in (8, 3, 6, 1)]


def engines(**components):
    """The same stack without and with async scheduling."""
    params = components.pop("params", {})
    sync = Engine.from_spec(spec(**components, params=params))
    overlapped = Engine.from_spec(spec(**components, params={**params, "async_scheduling": True}))
    assert overlapped.async_scheduling and not sync.async_scheduling
    return sync, overlapped


def run(engine, requests, abort_at: dict | None = None):
    """Steps the engine over [(id, prompt, params)] until done, aborting abort_at[id] at that step call;
    -> outputs in the order they came, and the step call each came from."""
    for rid, prompt, params in requests:
        engine.add_request(Request(rid, list(prompt), params))
    outs, step = [], 0
    while engine.has_unfinished_requests():
        for rid, at in (abort_at or {}).items():
            if at == step:
                engine.abort_request(rid)
        outs += [(step, o) for o in engine.step()]
        step += 1
        assert step < 1000
    return outs


def tokens_of(outs) -> dict:
    got: dict = {}
    for _, o in outs:
        got.setdefault(o.request_id, []).extend(o.new_token_ids)
    return got


def assert_well_formed(outs):
    """Per request: output counts that grow with every token, one finished output, and it comes last."""
    seen: dict = {}
    for _, o in outs:
        n, done = seen.get(o.request_id, (0, False))
        assert not done, f"{o.request_id}: output after its finish"
        if o.finish_reason != "abort":
            assert o.num_output_tokens == n + len(o.new_token_ids), o
        seen[o.request_id] = (n + len(o.new_token_ids), o.finished)
    assert all(done for _, done in seen.values()), seen


# --- the same tokens --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "components",
    [
        {"kv_cache": "paged", "scheduler": "continuous"},
        {"kv_cache": "paged", "scheduler": "chunked_prefill"},
        {"kv_cache": "contiguous", "scheduler": "static"},
        {"kv_cache": "paged", "scheduler": "continuous", "attention": "triton_paged"},
        {"kv_cache": "paged", "scheduler": "chunked_prefill", "params": {"decode_steps": 4}},
        {"kv_cache": "contiguous", "scheduler": "continuous", "params": {"decode_steps": 4}},
    ],
    ids=[
        "paged-continuous",
        "paged-chunked",
        "contiguous-static",
        "triton-paged",
        "chunked-multi-step",
        "contiguous-multi-step",
    ],
)
def test_overlap_gives_the_synchronous_tokens(components):
    sync, overlapped = engines(**components)
    want = [w[: p.max_tokens] for w, p in zip(hf_greedy("tiny-llama", "llama"), MIXED)]
    got_sync, _, _ = run_staggered(sync, MIXED)
    got, outs, _ = run_staggered(overlapped, MIXED)
    assert got == got_sync == want
    assert_well_formed([(0, o) for o in outs])
    stats = overlapped.stats()
    assert stats["async_scheduling"] and stats["kv_blocks_used"] == 0 and stats["num_running"] == 0
    # the blocks published for reuse hold the sequences' real tokens: a second pass hits them and agrees
    if components["kv_cache"] == "paged":
        assert run_staggered(overlapped, MIXED)[0] == want


def test_overlap_through_the_cuda_graph_runner_emulated_on_cpu():
    """The graph runner copies meta.decode_inputs, whose input-id row the device filled from the step in flight."""
    _, overlapped = engines(kv_cache="paged", attention="triton_paged", params={"max_model_len": 96})
    overlapped.runner = CudaGraphRunner(
        overlapped.model, overlapped.kv, {"max_batch_size": 4, "graph_batch_sizes": [1, 4]}, "cpu", emulate=True
    )
    plist = [SamplingParams(max_tokens=m, ignore_eos=True) for m in (8, 5, 8)]
    assert overlapped.generate(PROMPTS[:3], plist) == [
        w[: p.max_tokens] for w, p in zip(hf_greedy("tiny-llama", "llama")[:3], plist)
    ]


def test_seeded_sampling_and_logprobs_match_without_overlap():
    sampled = [
        SamplingParams(
            max_tokens=6,
            temperature=0.9,
            top_k=50,
            top_p=0.95,
            seed=s,
            ignore_eos=True,
            logprobs=2,
            prompt_logprobs=1 if s == 1 else None,
        )
        for s in range(len(PROMPTS))
    ]
    sync, overlapped = engines()
    a = run(sync, [(f"r{i}", p, sp) for i, (p, sp) in enumerate(zip(PROMPTS, sampled))])
    b = run(overlapped, [(f"r{i}", p, sp) for i, (p, sp) in enumerate(zip(PROMPTS, sampled))])
    assert tokens_of(a) == tokens_of(b)

    def entries(outs):
        got: dict = {}
        for _, o in outs:
            for e in o.logprobs or []:
                got.setdefault(o.request_id, []).append((e.token_id, round(e.logprob, 4), [t for t, _ in e.top]))
        return got

    assert entries(a) == entries(b) and len(entries(b)["r0"]) == 6
    prompt = {
        o.request_id: [e and (e.token_id, round(e.logprob, 4)) for e in o.prompt_logprobs]
        for _, o in b
        if o.prompt_logprobs
    }
    assert prompt == {
        o.request_id: [e and (e.token_id, round(e.logprob, 4)) for e in o.prompt_logprobs]
        for _, o in a
        if o.prompt_logprobs
    } and list(prompt) == ["r1"]


# --- what runs when ---------------------------------------------------------------------------
def test_the_next_step_is_launched_before_the_last_one_is_read(monkeypatch):
    """Step N+1 is built and launched while step N's tokens are unread; its input ids for those
    positions come from step N's device tensor (the host does not have them yet)."""
    _, overlapped = engines()
    order = []
    launch = overlapped._launch

    def spy_launch(batch, components=False):
        for seq, n in batch:
            if seq.num_sampled:  # a decoding sequence: its last token is still on the device
                assert seq.num_pending == 1 and len(seq.token_ids) == seq.num_computed
        step = launch(batch, components)
        order.append(("launch", id(step)))
        return step

    read = LaunchedStep.host_tokens
    monkeypatch.setattr(overlapped, "_launch", spy_launch)
    monkeypatch.setattr(LaunchedStep, "host_tokens", lambda self: (order.append(("read", id(self))), read(self))[1])
    overlapped.generate([PROMPTS[0]], SamplingParams(max_tokens=5, ignore_eos=True))
    steps = [s for kind, s in order if kind == "launch"]
    assert len(steps) == 5  # a prefill and 4 decodes; the 5th token ends the request, so no 6th step
    expected = [("launch", steps[0])]
    for prev, nxt in zip(steps, steps[1:]):
        expected += [("launch", nxt), ("read", prev)]
    assert order == expected + [("read", steps[-1])]


def test_tokens_stream_in_order_one_step_call_later():
    sync, overlapped = engines()
    p = SamplingParams(max_tokens=6, ignore_eos=True)
    a = run(sync, [("r", PROMPTS[0], p)])
    b = run(overlapped, [("r", PROMPTS[0], p)])
    assert [o.new_token_ids for _, o in a] == [o.new_token_ids for _, o in b]  # one token per output, same order
    assert [s + 1 for s, _ in a] == [s for s, _ in b]
    assert_well_formed(b)
    assert b[-1][1].finish_reason == "length"


# --- stops, lengths, finishing on different steps ---------------------------------------------
def test_a_stop_read_mid_overlap_drops_the_token_computed_after_it():
    ref = hf_greedy("tiny-llama", "llama")[0]
    sync, overlapped = engines()
    p = SamplingParams(max_tokens=8, stop_token_ids=[ref[2]], ignore_eos=True)
    a, b = run(sync, [("r", PROMPTS[0], p)]), run(overlapped, [("r", PROMPTS[0], p)])
    assert tokens_of(b)["r"] == tokens_of(a)["r"] == ref[:3]
    assert b[-1][1].finished and b[-1][1].finish_reason == "stop"
    # the step after the stop token was launched before the stop was read: computed, never emitted
    assert overlapped.num_forward_tokens == sync.num_forward_tokens + 1
    assert overlapped.stats()["kv_blocks_used"] == 0 and not overlapped.seqs


def test_eos_read_mid_overlap():
    ref = hf_greedy("tiny-llama", "llama")[0]
    i = next(i for i in range(2, len(ref)) if ref[i] not in ref[:i])
    sync, overlapped = engines()
    for e in (sync, overlapped):
        e.eos_token_id = ref[i]
    p = SamplingParams(max_tokens=8)
    a, b = run(sync, [("r", PROMPTS[0], p)]), run(overlapped, [("r", PROMPTS[0], p)])
    assert tokens_of(b)["r"] == tokens_of(a)["r"] == ref[: i + 1]
    assert b[-1][1].finish_reason == "stop"


def test_a_length_limit_costs_no_extra_step():
    """max_tokens and the context end are known before the token is read: no step is scheduled past them."""
    sync, overlapped = engines(params={"max_model_len": 24})
    requests = [
        ("m", PROMPTS[1], SamplingParams(max_tokens=5, ignore_eos=True)),
        ("c", PROMPTS[0], SamplingParams(max_tokens=16, ignore_eos=True)),
    ]  # 19-token prompt: 5 fit
    a, b = run(sync, requests), run(overlapped, requests)
    assert tokens_of(a) == tokens_of(b) and len(tokens_of(b)["c"]) == 5
    assert overlapped.num_forward_tokens == sync.num_forward_tokens


@pytest.mark.parametrize("params", [{}, {"decode_steps": 4}], ids=["single", "multi-step"])
def test_requests_finishing_on_different_steps(params):
    ref = hf_greedy("tiny-llama", "llama")
    sync, overlapped = engines(scheduler="chunked_prefill", params=params)
    for e in (sync, overlapped):
        e.eos_token_id = ref[3][4]
    plist = [
        SamplingParams(max_tokens=8, stop_token_ids=[ref[0][2]], ignore_eos=True),  # stop token
        SamplingParams(max_tokens=2, ignore_eos=True),  # length, early
        SamplingParams(max_tokens=7, ignore_eos=True),  # length, late
        SamplingParams(max_tokens=8),
    ]  # EOS
    requests = [(f"r{i}", p, sp) for i, (p, sp) in enumerate(zip(PROMPTS, plist))]
    a, b = run(sync, requests), run(overlapped, requests)
    assert tokens_of(b) == tokens_of(a)
    assert [len(tokens_of(b)[f"r{i}"]) for i in range(4)] == [3, 2, 7, 5]
    assert_well_formed(b)
    finished_at = {o.request_id: s for s, o in b if o.finished}
    assert len(set(finished_at.values())) > 2  # they really ended on different steps
    assert overlapped.stats()["kv_blocks_used"] == 0


# --- preemption and aborts --------------------------------------------------------------------
@pytest.mark.parametrize(
    "components",
    [
        {"scheduler": "continuous"},
        {"scheduler": "chunked_prefill"},
        {"scheduler": "chunked_prefill", "params": {"decode_steps": 4}},
    ],
    ids=["continuous", "chunked", "chunked-multi-step"],
)
def test_preemption_of_sequences_with_a_token_in_flight(components):
    """A tiny KV pool: decodes preempt the newest sequences while their last token is still on the
    device; that token is still read and streamed, and the sequence is recomputed later (its prefill
    may take the token straight from the device)."""
    prompts = [p[:7] for p in (PROMPTS[0], PROMPTS[2], PROMPTS[0][3:], PROMPTS[2][5:])]
    params = SamplingParams(max_tokens=20, ignore_eos=True)
    roomy = Engine.from_spec(spec(kv_cache="paged", **{k: v for k, v in components.items() if k != "params"}))
    tight_params = {
        "kv_cache_tokens": 64,
        "max_model_len": 64,
        "async_scheduling": True,
        **components.get("params", {}),
    }
    tight = Engine.from_spec(spec(kv_cache="paged", scheduler=components["scheduler"], params=tight_params))
    in_flight_when_preempted = []
    preempt = tight.scheduler.preempt
    tight.scheduler.preempt = lambda seq: (in_flight_when_preempted.append(seq.num_pending), preempt(seq))[1]
    requests = [(f"r{i}", p, params) for i, p in enumerate(prompts)]
    a, b = run(roomy, requests), run(tight, requests)
    assert tokens_of(b) == tokens_of(a)
    assert_well_formed(b)
    assert tight.stats()["num_preemptions"] > 0 and any(in_flight_when_preempted)
    assert tight.stats()["kv_blocks_used"] == 0 and not tight.scheduler.waiting and not tight.scheduler.running


def test_a_sequence_preempted_with_its_token_in_flight_can_end_on_that_token():
    """Its stop token is read after the preemption moved it to the waiting queue: it ends from there."""
    ref = hf_greedy("tiny-llama", "llama")
    _, overlapped = engines(kv_cache="paged")
    overlapped.add_request(Request("a", PROMPTS[0], SamplingParams(max_tokens=8, ignore_eos=True)))
    overlapped.add_request(
        Request("b", PROMPTS[1], SamplingParams(max_tokens=8, stop_token_ids=[ref[1][1]], ignore_eos=True))
    )
    outs = overlapped.step() + overlapped.step()  # prefill, then the first decode launched
    b = overlapped.seqs["b"]
    assert b.num_pending == 1
    overlapped.scheduler.preempt(b)  # as a decode short of blocks would
    outs += overlapped.step()  # reads b's token (its stop) while b waits
    while overlapped.has_unfinished_requests():
        outs += overlapped.step()
    got = tokens_of([(0, o) for o in outs])
    assert got == {"a": ref[0], "b": ref[1][:2]}
    assert overlapped.stats()["kv_blocks_used"] == 0 and not overlapped.scheduler.waiting


@pytest.mark.parametrize("params", [{}, {"decode_steps": 4}], ids=["single", "multi-step"])
def test_a_sequence_readmitted_before_its_token_is_read_takes_it_from_the_device(monkeypatch, params):
    """Preempted with tokens in flight (one, or a multi-step run's four) and admitted again at once: its
    new prefill's last input ids are those tokens, still unread, copied on the device."""
    ref = hf_greedy("tiny-llama", "llama")
    _, overlapped = engines(params=params)
    from_device = []
    source_of = LaunchedStep.source_of
    monkeypatch.setattr(
        LaunchedStep,
        "source_of",
        lambda self, seq, p: (from_device.append(seq.num_computed == 0), source_of(self, seq, p))[1],
    )
    plist = [SamplingParams(max_tokens=8, ignore_eos=True)] * 2
    for i in range(2):
        overlapped.add_request(Request(f"r{i}", PROMPTS[i], plist[i]))
    outs = overlapped.step() + overlapped.step() + overlapped.step()  # prefill, then decodes in flight
    b = overlapped.seqs["r1"]
    assert b.num_pending > 0
    overlapped.scheduler.preempt(b)  # as a decode short of blocks would; the next schedule re-admits it
    while overlapped.has_unfinished_requests():
        outs += overlapped.step()
    assert tokens_of([(0, o) for o in outs]) == {"r0": ref[0], "r1": ref[1]}
    assert any(from_device)  # fed into a prefill (num_computed 0), not only into decodes
    assert overlapped.stats()["kv_blocks_used"] == 0


@pytest.mark.parametrize("params", [{}, {"decode_steps": 4}], ids=["single", "multi-step"])
def test_abort_of_a_running_request_with_a_token_in_flight(params):
    sync, overlapped = engines(params=params)
    requests = [
        ("x", PROMPTS[0], SamplingParams(max_tokens=100, ignore_eos=True)),
        ("y", PROMPTS[2], SamplingParams(max_tokens=12, ignore_eos=True)),
    ]
    expected = tokens_of(run(sync, requests))["y"]
    for rid, prompt, p in requests:
        overlapped.add_request(Request(rid, prompt, p))
    outs = [o for _ in range(3) for o in overlapped.step()]
    assert any(s.request_id == "x" for s in overlapped._in_flight.seqs)  # x has a token on the device
    assert overlapped.abort_request("x")
    while overlapped.has_unfinished_requests():
        outs += overlapped.step()
    x = [o for o in outs if o.request_id == "x"]
    assert x[-1].finished and x[-1].finish_reason == "abort" and not x[-1].new_token_ids  # nothing after it
    assert tokens_of([(0, o) for o in outs])["y"] == expected
    assert overlapped.stats()["kv_blocks_used"] == 0 and not overlapped.has_unfinished_requests()


def test_teacher_forcing_after_generate_reads_the_step_left_in_flight():
    _, overlapped = engines()
    overlapped.generate([PROMPTS[0]], SamplingParams(max_tokens=3, stop_token_ids=[0], ignore_eos=True))
    rows = overlapped.teacher_forced_logits(PROMPTS[1], [5, 6])
    assert rows.shape[0] == 3 and overlapped._in_flight is None


# --- the device block tables ------------------------------------------------------------------
def test_device_block_tables_follow_the_host_tables():
    """Rows are written once, then only their new entries; freed and re-admitted sequences get their rows
    rewritten; rows run out, are reclaimed, and the table grows when all are live."""
    kv = PagedKVCache(1, 1, 4, num_blocks=64, block_size=4, max_model_len=64, dtype=torch.float32, device="cpu")
    tables = DeviceBlockTables(kv, 2, "cpu")
    seqs = [Sequence(Request(f"s{i}", list(range(10 + 3 * i)), SamplingParams()), "cpu") for i in range(3)]

    def check(batch, new_entries):
        plan = tables.plan(batch)
        assert len(plan[1]) == new_entries
        width = max(len(s.block_table) for s in batch)
        got = tables.gather(*[torch.tensor(p, dtype=torch.long) for p in plan], width)
        for row, s in zip(got.tolist(), batch):
            assert row[: len(s.block_table)] == s.block_table

    for s in seqs[:2]:
        assert kv.allocate(s)
    check(seqs[:2], 3 + 4)  # first use: whole tables
    check(seqs[:2], 0)  # unchanged: nothing sent
    assert kv.reserve(seqs[0], 20)
    check(seqs[:2], 2)  # 3 -> 5 blocks: the two new entries
    kv.free(seqs[1])
    assert kv.allocate(seqs[2])
    check([seqs[0], seqs[2]], 4)  # s1's row reclaimed for s2, written whole
    assert kv.allocate(seqs[1])
    check(seqs, 4)  # three live rows: the table grew
    assert tables.table.shape[0] == 4


# --- the checker --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "spec_",
    [
        {**TINY_LLAMA, "name": "llama-async", "params": {**TINY_LLAMA["params"], "async_scheduling": True}},
        {
            **TINY_LLAMA,
            "name": "llama-async-chunked-multi-step",
            "components": {"kv_cache": "paged", "scheduler": "chunked_prefill"},
            "params": {**TINY_LLAMA["params"], "async_scheduling": True, "decode_steps": 4, "chunk_size": 32},
        },
    ],
    ids=["continuous", "chunked-multi-step"],
)
def test_the_checker_passes_a_stack_with_async_scheduling(tmp_path, spec_):
    stack = materialize(tmp_path, spec_)
    rc, evs, err = run_verb("check", "--stack", str(stack), "--new-tokens", "10", timeout=400)
    res = result_of(evs)
    assert rc == 0 and res["passed"], (res, err[-2000:])
    assert all(c["passed"] for c in res["checks"])
    assert res["engine_stats"]["async_scheduling"] is True
