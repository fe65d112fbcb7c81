"""The code_edit workload (bench/code_edit.py) and the speculation figures of the profile pass
(bench/speculation.py): real standard-library code through the tokenizer's chat template, the code
as each request's prediction, the same requests on both sides of the benchmark; the bench verb runs
it offline and reports what each speculation choice would accept."""

import json
import random

import pytest

from runtime_stacks import TINY_LLAMA, error_of, materialize, result_of, run_verb
from vibeserve_runtime import events
from vibeserve_runtime.bench.code_edit import code_edit_request
from vibeserve_runtime.bench.speculation import replay, speculation_figures
from vibeserve_runtime.bench.workload import Workload, make_requests, pass_payload, timed_pass, warmup_requests
from vibeserve_runtime.components.speculation.predicted_outputs import PredictedOutputsProposer
from vibeserve_runtime.tokenizers import ByteTokenizer, tokenizer_of

CODE_EDIT = {"dataset": "code_edit", "num_prompts": 3, "input_len": 384, "output_len": 96}


def test_code_edit_requests_are_real_code_with_the_code_as_prediction():
    tok = ByteTokenizer(512)
    w = Workload.from_dict(CODE_EDIT)
    reqs = make_requests(w, 512, 0, tokenizer=tok)
    assert reqs == make_requests(w, 512, 0, tokenizer=tok)  # seeded
    assert [q.prompt_token_ids for q in timed_pass(w, 512, 1, 0, tokenizer=tok)] != [q.prompt_token_ids for q in reqs]
    for q in reqs:
        prompt, prediction = tok.decode(q.prompt_token_ids), tok.decode(q.prediction)
        assert prediction.startswith("```python\ndef ") and prediction.endswith("\n```")
        assert prediction[len("```python\n") : -len("\n```")] in prompt and "Rename the function" in prompt
        assert len(q.prompt_token_ids) <= 384 and len(q.prediction) <= 96 - 16 and q.max_tokens == len(q.prediction) + 8
    warm = warmup_requests(w, 512, tokenizer=tok)
    assert len(warm) == 3 and warm[0].prompt_token_ids != reqs[0].prompt_token_ids
    payload = pass_payload(w, reqs, 0)
    assert payload["requests"][0] == [reqs[0].prompt_token_ids, reqs[0].max_tokens, reqs[0].prediction]
    # real text ends where the model ends it; token-id datasets run to max_tokens
    assert payload["stop_at_eos"] is True and pass_payload(Workload(), [], 0)["stop_at_eos"] is False


def test_code_edit_needs_a_tokenizer_and_room():
    w = Workload.from_dict(CODE_EDIT)
    with pytest.raises(events.VibeError, match="tokenizer"):
        make_requests(w, 512, 0)
    with pytest.raises(ValueError, match="no room"):
        code_edit_request(ByteTokenizer(512), random.Random(0), 64, 96)
    with pytest.raises(events.VibeError, match="dataset"):
        Workload.from_dict({"dataset": "code"})


def test_the_parent_loads_the_stacks_tokenizer_without_weights():
    assert isinstance(tokenizer_of(TINY_LLAMA), ByteTokenizer)


def test_replay_counts_what_the_verify_steps_would_accept():
    out = [5, 6, 7, 8, 9, 10, 11, 12]
    # the prediction is the output: after the prefill's token a step drafts 3 and keeps 4, then the
    # last step drafts the 2 that max_tokens leaves room for (and keeps 3)
    assert replay(PredictedOutputsProposer(2, 4), [1, 2], out, out, 3) == (2, 5, 5)
    # no prediction: one token per step
    assert replay(PredictedOutputsProposer(2, 4), [1, 2], out, None, 3) == (7, 0, 0)
    figs = speculation_figures([[[1, 2], 8, out], [[3], 8]], {0: out, 1: out}, {"num_speculative_tokens": 3})
    assert figs["speculation_tokens_per_step_predicted_outputs"] == pytest.approx(14 / 9, abs=1e-3)
    assert figs["speculation_acceptance_rate_predicted_outputs"] == 1.0
    assert figs["speculation_tokens_per_step_prompt_lookup"] >= 1.0


def test_bench_runs_code_edit_offline_and_reports_speculation(tmp_path):
    workload = json.dumps({**CODE_EDIT, "min_duration_s": 0, "repetitions": 1, "max_concurrency": 2})
    params = {**TINY_LLAMA["params"], "max_model_len": 512}
    plain = materialize(tmp_path, {**TINY_LLAMA, "name": "plain", "params": params}, "plain")
    spec = materialize(
        tmp_path,
        {
            **TINY_LLAMA,
            "name": "predicted",
            "params": params,
            "components": {**TINY_LLAMA["components"], "speculation": "predicted_outputs"},
        },
        "predicted",
    )
    results = {}
    for name, stack in (("plain", plain), ("predicted", spec)):
        rc, evs, err = run_verb("bench", "--stack", str(stack), "--workload", workload, timeout=600)
        assert rc == 0, err[-2000:]
        results[name] = res = result_of(evs)
        assert res["completed"] == 3 and res["total_input_tokens"] > 3 * 100
        # every stack reports what speculation would do on its outputs (the architect's signal)
        assert res["speculation_tokens_per_step_predicted_outputs"] >= 1.0
        assert 0 <= res["speculation_acceptance_rate_prompt_lookup"] <= 1
    # measured on the speculating stack (a random tiny model leaves the prediction at once: few drafts)
    drafted = results["predicted"]["speculation_draft_tokens"]
    assert drafted == 0 or 0 <= results["predicted"]["speculation_acceptance_rate"] <= 1
    assert "speculation_draft_tokens" not in results["plain"]
    assert results["predicted"]["total_output_tokens"] == results["plain"]["total_output_tokens"]


def test_code_edit_is_refused_online():
    rc, evs, _ = run_verb("bench", "--url", "http://127.0.0.1:9", "--dataset", "code_edit", "--num-prompts", "2")
    assert rc == 3 and error_of(evs)["reason"] == "bad_workload"


def test_the_timing_loop_hands_each_request_its_prediction():
    from vibeserve_runtime.cli.timed_pass import greedy, run_pass
    from vibeserve_runtime.engine import Engine

    spec = {**TINY_LLAMA, "components": {**TINY_LLAMA["components"], "speculation": "predicted_outputs"}}
    engine = Engine.from_spec(spec)
    prompts = [[5, 17, 99, 3, 250, 41], [300, 7, 8]]
    want = engine.generate(prompts, greedy(12))  # no prediction: plain decoding
    rep = {"requests": [[p, 12, w] for p, w in zip(prompts, want)], "arrivals": [0.0, 0.0]}
    out = run_pass(engine, rep, None)
    assert [r["output_tokens"] for r in out["records"]] == [12, 12]
    assert engine.stats()["spec_acceptance_rate"] == 1.0 and out["steps"] < 12


def test_served_requests_carry_their_prediction_or_schema_and_end_where_real_text_ends():
    """The online load generator sends what the offline pass hands the engine: a code edit's prediction as
    OpenAI's `prediction` text, a record's JSON schema as `response_format`; random prompts run to max_tokens."""
    from vibeserve_runtime.bench.online import request_body

    tok = ByteTokenizer(512)
    edit = make_requests(Workload.from_dict(CODE_EDIT), 512, 0, tokenizer=tok)[0]
    _, body = request_body("m", edit, "completions")
    assert body["prediction"] == {"type": "content", "content": tok.decode(edit.prediction)}
    assert body["prompt"] == edit.prompt_token_ids and body["ignore_eos"] is False
    record = make_requests(
        Workload.from_dict({"dataset": "json_schema", "num_prompts": 1, "input_len": 384, "output_len": 96}),
        512,
        0,
        tokenizer=tok,
    )[0]
    _, body = request_body("m", record, "completions")
    assert body["response_format"]["type"] == "json_schema" and body["ignore_eos"] is False
    assert body["response_format"]["json_schema"]["schema"] == record.json_schema and "prediction" not in body
    plain = make_requests(Workload.from_dict({"num_prompts": 1, "input_len": 8, "output_len": 4}), 512, 0)[0]
    _, body = request_body("m", plain, "completions")
    assert body["ignore_eos"] is True and "prediction" not in body and "response_format" not in body


def test_vllm_gets_its_own_prompt_lookup_speculation_on_a_code_edit_workload(tmp_path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "scenarios"))
    from served_engines import vllm_server

    edit = vllm_server(tmp_path, tmp_path, 1024, None, dataset="code_edit").command
    spec = json.loads(edit[edit.index("--speculative-config") + 1])
    assert spec["method"] == "ngram" and spec["num_speculative_tokens"] > 0
    assert "--speculative-config" not in vllm_server(tmp_path, tmp_path, 1024, None).command
