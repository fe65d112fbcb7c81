"""Speculative decoding from the request itself (components/speculation, engine/verify_step.py):
greedy output equals plain decoding token for token on every CPU-runnable cache and scheduler,
alone and in mixed batches, whatever the drafts (right, wrong, empty, longer than max_tokens,
through a stop token); rejected draft tokens' KV is rolled back and blocks are given back; sampling
and logprob requests decode plainly; drafts respect max_tokens, the context and the step's token
budget; spec validation keeps speculation away from async scheduling and multi-step decode."""

import json
import os

os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest  # noqa: E402

from vibeserve_runtime.components.execution.cuda_graphs import CudaGraphRunner  # noqa: E402
from vibeserve_runtime.components.speculation.ngram_index import NgramIndex  # noqa: E402
from vibeserve_runtime.components.speculation.predicted_outputs import PredictionCursor  # noqa: E402
from vibeserve_runtime.components.speculation.prompt_lookup import PromptLookupProposer  # noqa: E402
from vibeserve_runtime.engine import Engine  # noqa: E402
from vibeserve_runtime.engine.verify_step import accept  # noqa: E402
from vibeserve_runtime.types import Request, SamplingParams  # noqa: E402

from runtime_stacks import TINY_LLAMA, error_of, run_verb  # noqa: E402
from test_engine_components import COMBOS, PROMPTS, spec  # noqa: E402

N = 24
_plain: dict = {}


def plain(max_tokens=N, **components) -> list[list[int]]:
    """Plain greedy decoding's tokens for PROMPTS (the reference speculation must reproduce)."""
    key = (max_tokens, tuple(sorted(components.items())))
    if key not in _plain:
        _plain[key] = Engine.from_spec(spec(**components)).generate(PROMPTS, greedy(max_tokens))
    return _plain[key]


def greedy(n=N, **kw) -> SamplingParams:
    return SamplingParams(max_tokens=n, ignore_eos=True, **kw)


def speculative(kind, k=4, **components):
    params = {"num_speculative_tokens": k, **components.pop("params", {})}
    return Engine.from_spec(spec(speculation=kind, params=params, **components))


# --- the proposers ------------------------------------------------------------------------------
def test_ngram_index_finds_the_longest_earlier_ngram():
    idx = NgramIndex(1, 3)
    toks = [1, 2, 3, 9, 2, 3, 7, 1, 2, 3]
    idx.update(toks)
    n, ends = idx.find(toks)
    assert n == 3 and ends == [3]  # [1, 2, 3] occurred once before, followed by 9
    assert idx.find([5]) is None  # never seen
    idx.update(toks + [4])  # growing the list indexes the last n-grams
    assert idx.find([1, 2, 3])[1] == [3, 10]


class _Seq:
    def __init__(self, tokens, prediction=None, prompt_len=0):
        self.token_ids, self.draft_state, self.num_prompt_tokens = tokens, None, prompt_len
        self.params = SamplingParams(prediction=prediction)

    @property
    def output_token_ids(self):
        return self.token_ids[self.num_prompt_tokens :]


def test_prompt_lookup_proposes_what_followed_the_latest_occurrence():
    seq = _Seq([1, 2, 3, 4, 5, 8, 2, 3, 6, 7, 2, 3])
    assert PromptLookupProposer(1, 3).propose(seq, 3) == [6, 7, 2]  # latest [2, 3] is followed by 6, 7
    seq.token_ids += [4, 5]  # longest match wins: [3, 4, 5] -> 8
    assert PromptLookupProposer(1, 3).propose(_Seq(seq.token_ids), 2) == [8, 2]
    assert PromptLookupProposer(2, 3).propose(_Seq([1, 2, 3]), 4) == []


def test_prediction_cursor_follows_the_output_and_finds_it_again_after_an_edit():
    pred = [10, 11, 12, 13, 14, 15, 16, 17, 18, 19]
    c = PredictionCursor(pred, 2, 3)
    c.follow([])
    assert c.draft(3) == [10, 11, 12]
    c.follow([10, 11, 12])
    assert c.draft(2) == [13, 14]
    c.follow([10, 11, 12, 99, 98])  # the edit: lost, no n-gram of the output in the prediction
    assert c.draft(4) == []
    c.follow([10, 11, 12, 99, 98, 15, 16])  # the output picks the prediction up again after 16
    assert c.draft(2) == [17, 18]
    c.follow([10, 11, 12, 99, 98, 15, 16, 17, 18, 19])
    assert c.draft(3) == []  # the prediction is used up


def test_prediction_cursor_prefers_occurrences_after_the_point_it_was_lost():
    pred = [1, 2, 3, 5, 1, 2, 4, 6, 1, 2, 7]
    c = PredictionCursor(pred, 2, 2)
    c.follow([1, 2, 3, 5, 1, 2, 9, 1, 2])  # lost at position 6; [1, 2] occurs at 0, 4 and 8
    assert c.draft(1) == [7]


def test_accept_keeps_the_matching_prefix_and_the_models_token_after_it():
    a, b, c = object(), object(), object()
    drafts = {a: [5, 6, 7], c: [1]}
    # a: 5, 6 match, then the model says 8; b: undrafted, one row; c: its draft rejected
    assert accept([5, 6, 8, 0, 3, 2, 9], [a, b, c], drafts) == [[5, 6, 8], [3], [2]]
    assert accept([5, 6, 7, 4], [a], {a: [5, 6, 7]}) == [[5, 6, 7, 4]]  # all accepted plus a bonus token


# --- lossless -------------------------------------------------------------------------------------
@pytest.mark.parametrize("kv_cache,scheduler,attention", COMBOS)
def test_prompt_lookup_gives_the_plain_tokens(kv_cache, scheduler, attention):
    comps = dict(kv_cache=kv_cache, scheduler=scheduler, attention=attention)
    want = plain(**comps)
    engine = speculative("prompt_lookup", **comps)
    assert engine.generate(PROMPTS, greedy()) == want  # mixed-length batch
    assert [engine.generate([p], greedy())[0] for p in PROMPTS] == want  # each alone
    s = engine.stats()
    assert s["spec_accepted_tokens"] > 0 and s["spec_draft_tokens"] > s["spec_accepted_tokens"]
    assert s["kv_blocks_used"] == 0 and s["num_running"] == 0


@pytest.mark.parametrize(
    "kv_cache,scheduler", [("paged", "continuous"), ("paged", "chunked_prefill"), ("contiguous", "static")]
)
@pytest.mark.parametrize("k", [1, 3, 16])
def test_predicted_outputs_exact_prediction_accepts_everything(kv_cache, scheduler, k):
    want = plain()
    ref = Engine.from_spec(spec(kv_cache=kv_cache, scheduler=scheduler))
    ref.generate(PROMPTS, greedy())
    engine = speculative("predicted_outputs", k, kv_cache=kv_cache, scheduler=scheduler)
    got = engine.generate(PROMPTS, [greedy(prediction=w) for w in want])
    assert got == want
    s = engine.stats()
    assert s["spec_acceptance_rate"] == 1.0 and s["kv_blocks_used"] == 0
    # the N - 1 decode steps after a prefill become about (N - 1) / (k + 1) verify steps
    assert s["num_steps"] <= ref.stats()["num_steps"] - (N - 1) + -(-(N - 1) // (k + 1)) + 1


def _adversarial(want: list[int], eos: int) -> dict[str, tuple[SamplingParams, list[int]]]:
    """name -> (params, expected tokens) for one prompt whose plain output is `want`."""
    wrong = [(t + 1) % 500 for t in want]
    edited = want[:5] + [7, 7, 7] + want[8:]  # an edit in the middle, then the rest as predicted
    stop_at = want[N // 2]
    first = want.index(stop_at)
    return {
        "exact": (greedy(prediction=want), want),
        "wrong": (greedy(prediction=wrong), want),
        "empty": (greedy(prediction=[]), want),
        "edited": (greedy(prediction=edited), want),
        "shifted": (greedy(prediction=want[3:]), want),
        "longer_than_max_tokens": (greedy(prediction=want + wrong), want),
        "through_a_stop_token": (greedy(prediction=want, stop_token_ids=[stop_at]), want[: first + 1]),
        "eos_inside": (
            SamplingParams(max_tokens=N, prediction=want[:4] + [eos] + want[4:]),
            want[: want.index(eos) + 1] if eos in want else want,
        ),
    }


@pytest.mark.parametrize("kind", ["predicted_outputs", "prompt_lookup"])
def test_adversarial_predictions_change_nothing(kind):
    engine = speculative(kind, 4, scheduler="chunked_prefill")
    eos = engine.eos_token_id
    cases = {(i, name): case for i, w in enumerate(plain()) for name, case in _adversarial(w, eos).items()}
    for (i, name), (params, want) in cases.items():  # alone
        assert engine.generate([PROMPTS[i]], params)[0] == want, (i, name)
    keys = list(cases)  # all at once: ragged acceptance inside one batch
    got = engine.generate([PROMPTS[i] for i, _ in keys], [cases[key][0] for key in keys])
    assert {key: g for key, g in zip(keys, got)} == {key: cases[key][1] for key in keys}
    assert engine.stats()["kv_blocks_used"] == 0


def test_a_wrong_prediction_is_rejected_and_its_kv_rolled_back():
    want = plain()[0]
    engine = speculative("predicted_outputs", 8, params={"block_size": 4, "prefix_caching": False})
    # right about the first token only: the drafts after it are all wrong
    engine.add_request(Request("r", PROMPTS[0], greedy(prediction=want[:1] + [(t + 1) % 500 for t in want[1:]])))
    engine.step()  # the prefill: one token, no draft yet
    seq = engine.seqs["r"]
    out = engine.step()[0]  # 8 wrong draft tokens scored, all rejected
    assert out.new_token_ids == want[1:2]
    assert seq.num_computed == len(seq) - 1  # the rejected positions are no longer computed
    assert len(seq.block_table) == -(-len(seq) // 4)  # blocks reserved for the draft went back
    assert engine.stats()["spec_accepted_tokens"] == 0 and engine.stats()["spec_draft_tokens"] == 8


def test_prefix_cache_publishes_only_accepted_tokens():
    want = plain()[2]
    engine = speculative("predicted_outputs", 4)
    wrong = [(t + 3) % 500 for t in want]
    assert engine.generate([PROMPTS[2]], greedy(prediction=wrong[:10] + want[10:]))[0] == want
    # the prompt plus the first output tokens come from the cache: the hashes published were right
    longer = PROMPTS[2] + want[:16]
    hits = engine.stats()["prefix_cache_hit_tokens"]
    assert engine.generate([longer], greedy(8))[0] == want[16:24]
    assert engine.stats()["prefix_cache_hit_tokens"] - hits >= len(PROMPTS[2])


def test_sampling_and_logprob_requests_decode_plainly_beside_drafted_ones():
    sampled = SamplingParams(max_tokens=12, temperature=1.0, seed=7, ignore_eos=True)
    with_logprobs = greedy(12, logprobs=2)
    ref = Engine.from_spec(spec())
    want_sampled = ref.generate([PROMPTS[1]], sampled)[0]
    ref.add_request(Request("lp", PROMPTS[0], with_logprobs))
    ref_lp = []
    while ref.has_unfinished_requests():
        ref_lp += [lp.logprob for o in ref.step() for lp in (o.logprobs or [])]
    engine = speculative("prompt_lookup")
    got = engine.generate([PROMPTS[1], PROMPTS[2]], [sampled, greedy()])
    assert got == [want_sampled, plain()[2]]
    engine.add_request(Request("lp", PROMPTS[0], with_logprobs))
    drafted_before, lp = engine.stats()["spec_draft_tokens"], []
    while engine.has_unfinished_requests():
        lp += [x.logprob for o in engine.step() for x in (o.logprobs or [])]
    assert lp == pytest.approx(ref_lp, abs=1e-5) and engine.stats()["spec_draft_tokens"] == drafted_before


def test_drafts_stay_within_max_tokens_the_context_and_the_token_budget():
    want = plain()
    # the context: prompt 0 (19 tokens) may grow to 40 tokens, drafts included
    engine = speculative("predicted_outputs", 16, params={"max_model_len": 40})
    out = engine.generate([PROMPTS[0]], SamplingParams(max_tokens=100, ignore_eos=True, prediction=want[0] * 4))
    assert out[0] == want[0][:21]
    # the step budget: 4 decoding sequences and a 12-token budget leave 8 draft tokens per step
    engine = speculative(
        "predicted_outputs", 16, scheduler="chunked_prefill", params={"max_num_batched_tokens": 12, "chunk_size": 8}
    )
    seen = []
    real = engine.runner.run
    engine.runner.run = lambda ids, meta, idx: (seen.append(len(ids)), real(ids, meta, idx))[1]
    assert engine.generate(PROMPTS, [greedy(prediction=w) for w in want]) == want
    assert max(seen) <= 12


def test_no_room_in_the_cache_means_no_draft():
    want = plain()
    # room for two sequences of 64 tokens: drafts that would need another block are dropped, not preempting
    engine = speculative("predicted_outputs", 16, params={"max_model_len": 64, "kv_cache_tokens": 128})
    assert engine.generate(PROMPTS, [greedy(prediction=w) for w in want]) == want


def test_verify_steps_through_the_cuda_graph_runner_emulated_on_cpu():
    # verify steps run eagerly (several tokens per sequence); plain decode steps replay the buckets
    engine = speculative("prompt_lookup", 4, kv_cache="paged", attention="triton_paged", params={"max_model_len": 96})
    engine.runner = CudaGraphRunner(
        engine.model, engine.kv, {"max_batch_size": 4, "graph_batch_sizes": [1, 4]}, "cpu", emulate=True
    )
    want = plain(attention="triton_paged")
    assert engine.generate(PROMPTS, greedy()) == want
    assert engine.stats()["spec_accepted_tokens"] > 0


# --- validation -----------------------------------------------------------------------------------
@pytest.mark.parametrize("params", [{"async_scheduling": True}, {"decode_steps": 4}])
def test_speculation_refuses_async_scheduling_and_multi_step(tmp_path, params):
    with pytest.raises(ValueError, match="constraint prompt-lookup-verifies-synchronously"):
        Engine.from_spec(spec(speculation="prompt_lookup", params=params))
    bad = {
        **TINY_LLAMA,
        "components": {"speculation": "predicted_outputs"},
        "params": {**TINY_LLAMA["params"], **params},
    }
    rc, evs, _ = run_verb("materialize", "--spec", json.dumps(bad), "--out", str(tmp_path / "s"))
    err = error_of(evs)
    assert rc == 3 and err["reason"] == "bad_spec" and err["field"] == f"params.{next(iter(params))}"
    assert "predicted-outputs-verifies-synchronously" in err["message"]
