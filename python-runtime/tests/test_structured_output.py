"""Structured output (components/structured_output, design_space.json `structured_output`): a
request's JSON schema is followed by every output; token_mask and jump_forward give the same greedy
tokens (jump_forward in fewer steps, whatever it drafts); unconstrained requests in the same batch
are untouched; async scheduling and multi-step stacks fall back to one synchronous step for them;
the server takes response_format on both endpoints and refuses a schema it cannot serve with a 400."""

import json

import jsonschema
import pytest
from fastapi.testclient import TestClient

from vibeserve_runtime.components.structured_output.json_schema_grammar import compile_json_schema
from vibeserve_runtime.components.structured_output.token_mask import TokenMaskDecoding
from vibeserve_runtime.engine import Engine, register_component
from vibeserve_runtime.server.app import create_app
from vibeserve_runtime.types import Request, SamplingParams

from test_engine_components import PROMPTS, spec

SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"const": "REQ-4821"},
        "ok": {"type": "boolean"},
        "level": {"enum": ["low", "mid", "high"]},
        "count": {"type": "integer", "minimum": 0, "maximum": 999},
        "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "maxItems": 3},
    },
    "required": ["id", "ok", "level", "count", "tags"],
    "additionalProperties": False,
}
SCHEMA_B = {
    "type": "object",
    "properties": {"name": {"enum": ["x", "yy"]}, "n": {"type": "integer", "minimum": 0, "maximum": 9}},
    "required": ["name", "n"],
    "additionalProperties": False,
}
MAX = 120


def engine(structured_output, **kw):
    params = {"max_model_len": 256, **kw.pop("params", {})}
    return Engine.from_spec(spec(structured_output=structured_output, params=params, **kw))


def mixed_batch(eng, **sampling) -> tuple[list[list[int]], list[str]]:
    """Four requests at once: two schemas, and two unconstrained; (tokens, finish reasons)."""
    schemas = [SCHEMA, None, SCHEMA_B, None]
    reqs = []
    for i, (p, s) in enumerate(zip(PROMPTS, schemas)):
        sp = SamplingParams(max_tokens=MAX if s else 24, ignore_eos=s is None, json_schema=s, **sampling)
        reqs.append(Request(f"r{i}", list(p), sp))
        eng.add_request(reqs[-1])
    out = {r.request_id: [] for r in reqs}
    reasons = {}
    while eng.has_unfinished_requests():
        for o in eng.step():
            out[o.request_id] += o.new_token_ids
            if o.finished:
                reasons[o.request_id] = o.finish_reason
    return [out[r.request_id] for r in reqs], [reasons[r.request_id] for r in reqs]


def assert_valid(eng, tokens, schema):
    text = eng.tokenizer.decode(tokens)
    jsonschema.validate(json.loads(text), schema)
    return text


def test_a_schema_the_library_cannot_serve_is_refused_with_its_reason():
    with pytest.raises(ValueError, match="unsupported JSON schema.*not"):
        compile_json_schema({"not": {"type": "string"}})
    with pytest.raises(ValueError, match="must be an object"):
        compile_json_schema(["type", "object"])
    eng = engine("token_mask")
    with pytest.raises(ValueError, match="Unknown format"):
        eng.add_request(Request("bad", [5, 6], SamplingParams(json_schema={"type": "string", "format": "weird"})))
    assert not eng.has_unfinished_requests()  # nothing of it was queued


def test_token_mask_and_jump_forward_agree_token_for_token_and_jump_saves_steps():
    plain = engine("token_mask").generate([PROMPTS[1], PROMPTS[3]], SamplingParams(max_tokens=24, ignore_eos=True))
    masked_engine, jumping_engine = engine("token_mask"), engine("jump_forward")
    masked, masked_reasons = mixed_batch(masked_engine)
    jumped, jumped_reasons = mixed_batch(jumping_engine)
    assert jumped == masked and jumped_reasons == masked_reasons
    assert [masked[1], masked[3]] == plain  # unconstrained requests are untouched by their neighbours
    assert masked_reasons[0] == masked_reasons[2] == "stop"  # the grammar completed
    assert '"id": "REQ-4821"' in assert_valid(masked_engine, masked[0], SCHEMA)
    assert_valid(masked_engine, masked[2], SCHEMA_B)
    counts = jumping_engine.spec_counts
    assert counts["accepted_tokens"] >= 10, counts  # keys, quotes and the const came as forced drafts
    assert jumping_engine.num_steps < masked_engine.num_steps


def test_jump_forward_verifies_forced_tokens_rather_than_trusting_them():
    class WrongForcedTokens(TokenMaskDecoding):
        drafts_forced_tokens = True

        def forced_tokens(self, seq):
            return [40, 41, 42, 43]  # bytes the grammar never allows here

    register_component("structured_output", "custom_wrong_forced", WrongForcedTokens)
    want, _ = mixed_batch(engine("token_mask"))
    wrong_engine = engine("custom_wrong_forced")
    got, _ = mixed_batch(wrong_engine)
    assert got == want
    assert wrong_engine.spec_counts["draft_tokens"] > 0 and wrong_engine.spec_counts["accepted_tokens"] == 0


@pytest.mark.parametrize("params", [{"async_scheduling": True}, {"decode_steps": 4}])
def test_async_and_multi_step_stacks_mask_every_token(params):
    want, _ = mixed_batch(engine("token_mask"))
    got, _ = mixed_batch(engine("token_mask", params=params))
    assert got == want


def test_sampled_constrained_requests_follow_the_schema():
    eng = engine("jump_forward")
    tokens, reasons = mixed_batch(eng, temperature=1.0, seed=3)
    assert reasons[0] == reasons[2] == "stop"
    assert_valid(eng, tokens[0], SCHEMA)
    assert_valid(eng, tokens[2], SCHEMA_B)


def test_jump_forward_with_prompt_lookup_drafts_keeps_the_masked_output():
    want, _ = mixed_batch(engine("token_mask"))
    got, _ = mixed_batch(engine("jump_forward", speculation="prompt_lookup"))
    assert got == want


@pytest.fixture(scope="module")
def client():
    eng = engine("jump_forward")
    with TestClient(create_app(eng, "tiny")) as c:
        yield c


def test_the_server_takes_response_format_on_both_endpoints(client):
    fmt = {"type": "json_schema", "json_schema": {"name": "record", "schema": SCHEMA}}
    r = client.post(
        "/v1/completions", json={"prompt": "hi", "max_tokens": MAX, "temperature": 0, "response_format": fmt}
    )
    assert r.status_code == 200, r.text
    jsonschema.validate(json.loads(r.json()["choices"][0]["text"]), SCHEMA)
    r = client.post(
        "/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "hi"}], "max_tokens": MAX, "response_format": fmt},
    )
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["finish_reason"] == "stop"
    jsonschema.validate(json.loads(r.json()["choices"][0]["message"]["content"]), SCHEMA)
    r = client.post(
        "/v1/completions", json={"prompt": "hi", "max_tokens": 64, "response_format": {"type": "json_object"}}
    )
    # any object: a random model's free-text keys seldom close within max_tokens, but it is an object
    assert r.status_code == 200 and r.json()["choices"][0]["text"].startswith("{"), r.text


@pytest.mark.parametrize(
    "fmt,message",
    [
        ({"type": "json_schema", "json_schema": {"name": "x"}}, "needs json_schema.schema"),
        ({"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "wat"}}}, "Invalid type"),
    ],
)
def test_the_server_refuses_what_it_cannot_serve_with_a_400(client, fmt, message):
    r = client.post("/v1/completions", json={"prompt": "hi", "max_tokens": 8, "response_format": fmt})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == "response_format" and message in r.json()["error"]["message"]
