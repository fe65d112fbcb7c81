"""Log-probabilities asked for per request (SamplingParams.logprobs / prompt_logprobs): equal to the
log-softmax of the engine's own teacher-forced logits, for prompts computed in chunks, next to a
prefix-cache hit and under multi-step decode; requests that do not ask get none."""

import pytest
import torch

from vibeserve_runtime.engine import Engine
from vibeserve_runtime.types import Request, SamplingParams

PROMPT = list(range(10, 40))


def _engine(**params):
    return Engine.from_spec(
        {
            "name": "lp",
            "model": {"arch": "llama", "preset": "tiny-llama", "seed": 0},
            "components": {"kv_cache": "paged", "scheduler": "chunked_prefill"},
            "params": {"max_model_len": 128, "max_batch_size": 4, **params},
            "device": "cpu",
        }
    )


def _run(engine, requests):
    for r in requests:
        engine.add_request(r)
    outs = {r.request_id: [] for r in requests}
    while engine.has_unfinished_requests():
        for o in engine.step():
            outs.setdefault(o.request_id, []).append(o)
    return outs


def _reference(engine, tokens):
    """logprob of tokens[i] given tokens[:i], for i >= 1, from the engine's teacher-forced logits."""
    lp = torch.log_softmax(engine.teacher_forced_logits(tokens[:1], tokens[1:]), dim=-1)
    return [lp[i - 1, tokens[i]].item() for i in range(1, len(tokens))], lp


@pytest.mark.parametrize("params", [{"chunk_size": 8, "max_num_batched_tokens": 8}, {"decode_steps": 4}])
def test_prompt_and_generated_logprobs_match_teacher_forcing(params):
    engine = _engine(**params)
    # a request that warms the prefix cache with the same prompt, and one that asks nothing
    _run(engine, [Request("warm", PROMPT, SamplingParams(max_tokens=2, ignore_eos=True))])
    outs = _run(
        engine,
        [
            Request("a", PROMPT, SamplingParams(max_tokens=6, logprobs=3, prompt_logprobs=2, ignore_eos=True)),
            Request("b", PROMPT[:9], SamplingParams(max_tokens=6, ignore_eos=True)),
        ],
    )
    a = outs["a"]
    generated = [t for o in a for t in o.new_token_ids]
    want, lp = _reference(engine, PROMPT + generated)

    prompt_lps = a[0].prompt_logprobs
    assert len(prompt_lps) == len(PROMPT) and prompt_lps[0] is None
    assert [e.token_id for e in prompt_lps[1:]] == PROMPT[1:]
    got = [e.logprob for e in prompt_lps[1:]] + [e.logprob for o in a for e in o.logprobs]
    assert len(got) == len(want)
    assert max(abs(x - y) for x, y in zip(got, want)) < 1e-4
    assert all(o.prompt_logprobs is None for o in a[1:])

    first = a[0].logprobs[0]
    top_ids, top_vals = zip(*first.top)
    assert len(first.top) == 3 and list(top_vals) == sorted(top_vals, reverse=True)
    assert list(top_ids) == lp[len(PROMPT) - 1].topk(3).indices.tolist()
    assert len(prompt_lps[5].top) == 2

    assert all(o.logprobs is None and o.prompt_logprobs is None for o in outs["b"])


def test_logprobs_of_requests_that_end_or_abort_are_forgotten():
    engine = _engine()
    _run(engine, [Request("x", PROMPT, SamplingParams(max_tokens=1, logprobs=0, prompt_logprobs=0))])
    engine.add_request(Request("y", PROMPT, SamplingParams(max_tokens=5, logprobs=1, prompt_logprobs=1)))
    engine.abort_request("y")
    _run(engine, [])
    assert not engine._logprob_requests and not engine._prompt_logprob_requests


def test_prompt_logprobs_reach_the_client_when_the_prompt_ends_in_a_one_token_chunk():
    """Chunks of 8 leave the 17th prompt token alone in its step, which looks like a decode step:
    it must still run single, so the prompt logprobs go out with the first token."""
    engine = _engine(chunk_size=8, max_num_batched_tokens=8, decode_steps=4)
    outs = _run(engine, [Request("p", PROMPT[:17], SamplingParams(max_tokens=6, prompt_logprobs=0, ignore_eos=True))])
    first = outs["p"][0]
    assert first.prompt_logprobs is not None and len(first.prompt_logprobs) == 17
    assert all(e is not None for e in first.prompt_logprobs[1:])
    assert sum(len(o.new_token_ids) for o in outs["p"]) == 6
    assert not engine._prompt_logprob_requests


def test_once_its_prompt_logprobs_are_out_a_running_request_decodes_multi_step_again():
    """The prompt-logprob bookkeeping ends with the first token, not with the request: the rest of
    it runs decode_steps tokens per step like any other."""
    engine = _engine(decode_steps=4)
    engine.add_request(Request("p", PROMPT, SamplingParams(max_tokens=12, prompt_logprobs=0, ignore_eos=True)))
    sizes = []
    while engine.has_unfinished_requests():
        outs = engine.step()
        sizes += [len(o.new_token_ids) for o in outs if o.new_token_ids]
        if sizes and engine.has_unfinished_requests():
            assert not engine._prompt_logprob_requests
    assert sum(sizes) == 12 and max(sizes) == 4
