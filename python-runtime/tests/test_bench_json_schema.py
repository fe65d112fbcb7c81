"""The json_schema workload (bench/json_extraction.py) and the structured-output figures of the
profile pass (bench/structured_output.py): real text through the chat template, each request's
schema requiring its sentinel id, the schema carried to the engine by the timing loop; the bench
verb runs it offline and reports what jump_forward would save."""

import json
import random

import jsonschema
import pytest

from runtime_stacks import TINY_LLAMA, error_of, materialize, result_of, run_verb
from vibeserve_runtime import events
from vibeserve_runtime.bench.json_extraction import json_extraction_request
from vibeserve_runtime.bench.structured_output import replay_forced, structured_output_figures
from vibeserve_runtime.bench.workload import Workload, make_requests, pass_payload, timed_pass
from vibeserve_runtime.tokenizers import ByteTokenizer

JSON_SCHEMA = {"dataset": "json_schema", "num_prompts": 3, "input_len": 320, "output_len": 160}


def test_requests_carry_their_sentinel_in_prompt_and_schema():
    tok = ByteTokenizer(512)
    w = Workload.from_dict(JSON_SCHEMA)
    reqs = make_requests(w, 512, 0, tokenizer=tok)
    assert reqs == make_requests(w, 512, 0, tokenizer=tok)  # seeded
    assert [q.json_schema for q in timed_pass(w, 512, 1, 0, tokenizer=tok)] != [q.json_schema for q in reqs]
    for q in reqs:
        sentinel = q.json_schema["properties"]["id"]["const"]
        assert f"Record {sentinel}:" in tok.decode(q.prompt_token_ids) and q.max_tokens == 160
    payload = pass_payload(w, reqs, 0)
    assert payload["requests"][0] == [reqs[0].prompt_token_ids, 160, None, reqs[0].json_schema]
    assert payload["stop_at_eos"] is True


def test_json_schema_needs_a_tokenizer_and_room():
    with pytest.raises(events.VibeError, match="tokenizer"):
        make_requests(Workload.from_dict(JSON_SCHEMA), 512, 0)
    with pytest.raises(ValueError, match="input_len"):
        json_extraction_request(ByteTokenizer(512), random.Random(0), 32, 96)


def _engine(structured_output="token_mask"):
    from vibeserve_runtime.engine import Engine

    components = {**TINY_LLAMA["components"], "structured_output": structured_output}
    return Engine.from_spec({**TINY_LLAMA, "components": components, "params": {"max_model_len": 512}})


def test_the_replay_counts_the_tokens_the_grammar_forces():
    engine = _engine()
    tok = engine.tokenizer
    schema = {
        "type": "object",
        "properties": {"id": {"const": "REC-7"}, "n": {"type": "integer"}},
        "required": ["id", "n"],
        "additionalProperties": False,
    }
    out = tok.encode('{"id": "REC-7", "n": 42}')  # the engine ends it at "}": the grammar is complete
    steps, forced = replay_forced(engine.structured.start(schema), out)
    # byte tokens: the prefill gives "{"; the next step drafts the forced `"id": "REC-7", "n": ` (20
    # bytes) and keeps them with "4"; "2" and "}" take a step each
    assert (steps, forced) == (4, 20)
    figs = structured_output_figures(
        engine.structured, [[[5], 64, None, schema], [[6], 64]], {0: out, 1: [9]}, 0.5, 2.0
    )
    assert figs["structured_forced_token_share"] == pytest.approx(20 / 24, abs=1e-3)
    assert figs["structured_tokens_per_step_jump_forward"] == 6.0
    assert figs["structured_mask_share"] == 0.25


def test_the_timing_loop_hands_each_request_its_schema():
    from vibeserve_runtime.cli.timed_pass import run_pass

    engine = _engine("jump_forward")
    schema = {
        "type": "object",
        "properties": {"ok": {"type": "boolean"}},
        "required": ["ok"],
        "additionalProperties": False,
    }
    rep = {"requests": [[[5, 17, 99], 32, None, schema], [[300, 7], 6]], "arrivals": [0.0, 0.0], "stop_at_eos": True}
    out = run_pass(engine, rep, None)
    assert out["records"][0]["finish_reason"] == "stop"
    assert engine.spec_counts["accepted_tokens"] > 0  # the schema reached the engine: keys were forced


def test_bench_runs_json_schema_offline_and_reports_the_structured_figures(tmp_path):
    workload = json.dumps({**JSON_SCHEMA, "min_duration_s": 0, "repetitions": 1, "max_concurrency": 2})
    spec = {
        **TINY_LLAMA,
        "params": {**TINY_LLAMA["params"], "max_model_len": 512},
        "components": {**TINY_LLAMA["components"], "structured_output": "jump_forward"},
    }
    rc, evs, err = run_verb("bench", "--stack", str(materialize(tmp_path, spec)), "--workload", workload, timeout=600)
    assert rc == 0, err[-2000:]
    res = result_of(evs)
    assert res["completed"] == 3
    assert res["structured_forced_token_share"] > 0.1 and res["structured_tokens_per_step_jump_forward"] > 1.0
    assert 0 <= res["structured_mask_share"] <= 1


def test_json_schema_is_refused_online():
    rc, evs, _ = run_verb("bench", "--url", "http://127.0.0.1:9", "--dataset", "json_schema", "--num-prompts", "2")
    assert rc == 3 and error_of(evs)["reason"] == "bad_workload"


def test_a_record_schema_accepts_the_record_it_describes():
    _, _, schema = json_extraction_request(ByteTokenizer(512), random.Random(3), 384, 96)
    sentinel = schema["properties"]["id"]["const"]
    record = {"id": sentinel, "name": "Ana Lind", "age": 40, "city": "Oslo", "occupation": "judge"}
    jsonschema.validate(record, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**record, "id": "REC-000000" if sentinel != "REC-000000" else "REC-1"}, schema)
