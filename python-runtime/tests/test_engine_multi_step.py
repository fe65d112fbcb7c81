"""Multi-step decode (params.decode_steps): the same tokens as single steps, greedy and seeded, on every
cache layout and on the CUDA-graph runner's static-shape path; sequences that end mid-way keep only
their own tokens and give their blocks back; fewer scheduler steps, several tokens per output."""

import os

os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest  # noqa: E402

from vibeserve_runtime.components.execution.cuda_graphs import CudaGraphRunner  # noqa: E402
from vibeserve_runtime.engine import Engine  # noqa: E402
from vibeserve_runtime.types import Request, SamplingParams  # noqa: E402

from test_engine_components import PROMPTS, hf_greedy, spec  # noqa: E402


def run_staggered(engine, plist):
    """Half the prompts at once, the rest two steps later (prefills meet multi-step decodes);
    -> tokens per request, the outputs, and how many times the engine was stepped."""
    first, later = list(range(0, len(PROMPTS), 2)), list(range(1, len(PROMPTS), 2))
    for i in first:
        engine.add_request(Request(f"r{i}", PROMPTS[i], plist[i]))
    tokens = {f"r{i}": [] for i in range(len(PROMPTS))}
    outs, step = [], 0
    while engine.has_unfinished_requests() or later:
        if step == 2:
            for i in later:
                engine.add_request(Request(f"r{i}", PROMPTS[i], plist[i]))
            later = []
        for o in engine.step():
            tokens[o.request_id] += o.new_token_ids
            outs.append(o)
        step += 1
    return [tokens[f"r{i}"] for i in range(len(PROMPTS))], outs, step


@pytest.mark.parametrize("kv_cache,attention", [("paged", "sdpa"), ("paged", "triton_paged"), ("contiguous", "sdpa")])
def test_multi_step_gives_the_single_step_tokens(kv_cache, attention):
    want = hf_greedy("tiny-llama", "llama")
    # max_tokens differ per request, so sequences end inside a multi-step run
    plist = [SamplingParams(max_tokens=m, ignore_eos=True) for m in (8, 3, 6, 8)]
    single = Engine.from_spec(spec(kv_cache=kv_cache, attention=attention))
    multi = Engine.from_spec(spec(kv_cache=kv_cache, attention=attention, params={"decode_steps": 4}))
    assert multi.decode_steps == 4
    got_single, _, calls_single = run_staggered(single, plist)
    got_multi, outs, calls_multi = run_staggered(multi, plist)
    assert got_multi == got_single == [w[: p.max_tokens] for w, p in zip(want, plist)]
    assert max(len(o.new_token_ids) for o in outs) > 1  # some outputs carry several tokens
    assert calls_multi < calls_single  # fewer scheduler steps
    assert [o for o in outs if o.finished and o.finish_reason == "length"] and not multi.seqs
    if kv_cache == "paged":  # every block given back (minus the prefix cache's reusable ones)
        stats = multi.kv.stats([])
        assert stats["kv_blocks_used"] == 0, stats


def test_multi_step_stops_at_a_stop_token_and_drops_later_tokens():
    ref = hf_greedy("tiny-llama", "llama")[0]
    engine = Engine.from_spec(spec(params={"decode_steps": 8}))
    out = engine.generate([PROMPTS[0]], SamplingParams(max_tokens=8, stop_token_ids=[ref[2]], ignore_eos=True))[0]
    assert out == ref[:3]


def test_multi_step_seeded_sampling_matches_single_step():
    plist = [
        SamplingParams(max_tokens=7, temperature=0.9, top_k=50, top_p=0.95, seed=s, ignore_eos=True)
        for s in range(len(PROMPTS))
    ]
    for sampling in ("sort_based", "gumbel"):
        single = Engine.from_spec(spec(sampling=sampling))
        multi = Engine.from_spec(spec(sampling=sampling, params={"decode_steps": 4}))
        assert run_staggered(multi, plist)[0] == run_staggered(single, plist)[0], sampling


def test_multi_step_through_the_cuda_graph_runner_emulated_on_cpu():
    engine = Engine.from_spec(
        spec(kv_cache="paged", attention="triton_paged", params={"max_model_len": 96, "decode_steps": 4})
    )
    engine.runner = CudaGraphRunner(
        engine.model, engine.kv, {"max_batch_size": 4, "graph_batch_sizes": [1, 4]}, "cpu", emulate=True
    )
    plist = [SamplingParams(max_tokens=m, ignore_eos=True) for m in (8, 5, 8)]
    got = engine.generate(PROMPTS[:3], plist)  # 3 rows padded to the bucket of 4
    assert got == [w[: p.max_tokens] for w, p in zip(hf_greedy("tiny-llama", "llama")[:3], plist)]


def test_multi_step_runs_single_near_the_context_end():
    """A sequence one token short of max_model_len cannot take k more positions: that step runs single."""
    engine = Engine.from_spec(spec(params={"max_model_len": 24, "decode_steps": 8}))
    single = Engine.from_spec(spec(params={"max_model_len": 24}))
    p = SamplingParams(max_tokens=16, ignore_eos=True)
    assert engine.generate([PROMPTS[0]], p) == single.generate([PROMPTS[0]], p)  # 19-token prompt: 5 tokens fit


def test_a_sampler_without_device_sampling_keeps_single_steps():
    class HostOnlySampler:
        name = "host_only"

        def __call__(self, logits, seqs):
            return logits.argmax(dim=-1).tolist()

    engine = Engine.from_spec(spec(params={"decode_steps": 4}))
    engine2 = Engine(
        engine.spec,
        engine.model,
        engine.kv,
        engine.scheduler,
        engine.runner,
        HostOnlySampler(),
        engine.tokenizer,
        engine.hf_config,
        engine.meta,
    )
    assert engine2.decode_steps == 1
    assert engine2.generate(PROMPTS[:2], SamplingParams(max_tokens=4, ignore_eos=True)) == [
        w[:4] for w in hf_greedy("tiny-llama", "llama")[:2]
    ]
