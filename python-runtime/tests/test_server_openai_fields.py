"""The served API's n, logprobs, echo, batched prompts and tokenizer endpoints, and its refusals
(unsupported fields, unknown paths and methods) in OpenAI's error shape, driven by the official
`openai` client against a really started `serve --port 0`."""

import math

import httpx
import openai
import pytest

from runtime_stacks import TINY_LLAMA, Server, materialize
from vibeserve_runtime.tokenizers.byte import ByteTokenizer

SPEC = {**TINY_LLAMA, "name": "tiny", "params": {"max_model_len": 256, "max_batch_size": 4}}
GREEDY = dict(model="tiny", temperature=0, extra_body={"ignore_eos": True})


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Server(materialize(tmp_path_factory.mktemp("srv-fields"), SPEC))
    yield s
    s.close()


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=60)


def test_n_choices_plain_and_streamed(client):
    r = client.completions.create(
        prompt="several", max_tokens=6, n=3, temperature=1.0, seed=5, model="tiny", extra_body={"ignore_eos": True}
    )
    assert sorted(c.index for c in r.choices) == [0, 1, 2]
    assert len({c.text for c in r.choices}) > 1  # seeded, yet the choices differ
    assert r.usage.completion_tokens == 18 and r.usage.prompt_tokens == len(b"several")
    again = client.completions.create(
        prompt="several", max_tokens=6, n=3, temperature=1.0, seed=5, model="tiny", extra_body={"ignore_eos": True}
    )
    assert [c.text for c in again.choices] == [c.text for c in r.choices]

    texts, finished = {}, set()
    for chunk in client.completions.create(
        prompt="several",
        max_tokens=6,
        n=3,
        temperature=1.0,
        seed=5,
        stream=True,
        model="tiny",
        extra_body={"ignore_eos": True},
    ):
        (c,) = chunk.choices
        texts[c.index] = texts.get(c.index, "") + c.text
        if c.finish_reason:
            finished.add(c.index)
    assert finished == {0, 1, 2} and texts == {c.index: c.text for c in r.choices}

    chat = client.chat.completions.create(messages=[{"role": "user", "content": "hi"}], max_tokens=4, n=2, **GREEDY)
    assert [c.index for c in chat.choices] == [0, 1]
    assert chat.choices[0].message.content == chat.choices[1].message.content  # greedy: the same answer


def test_batched_prompts_give_one_choice_each(client):
    r = client.completions.create(prompt=["first", "second one"], max_tokens=3, n=2, **GREEDY)
    assert [c.index for c in r.choices] == [0, 1, 2, 3]
    single = client.completions.create(prompt="second one", max_tokens=3, **GREEDY)
    assert r.choices[2].text == r.choices[3].text == single.choices[0].text
    assert r.usage.prompt_tokens == len(b"first") + len(b"second one")


def test_completion_logprobs(client):
    r = client.completions.create(prompt="score me", max_tokens=5, logprobs=2, **GREEDY)
    lp = r.choices[0].logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset) == 5
    assert "".join(lp.tokens) == r.choices[0].text
    for token, value, top in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs):
        assert value <= 0 and top[token] == value and len(top) <= 3
        assert max(top.values()) == pytest.approx(value)  # greedy: the chosen token is the likeliest
    assert lp.text_offset == [sum(len(t) for t in lp.tokens[:i]) for i in range(5)]

    streamed = [
        c.choices[0].logprobs
        for c in client.completions.create(prompt="score me", max_tokens=5, logprobs=2, stream=True, **GREEDY)
        if c.choices and c.choices[0].logprobs
    ]
    assert [v for s in streamed for v in s.token_logprobs] == pytest.approx(lp.token_logprobs)
    assert [o for s in streamed for o in s.text_offset] == lp.text_offset


def test_echo_scores_the_prompt(client):
    """What lm-evaluation-harness's local-completions sends for log-likelihood: echo + logprobs,
    max_tokens 0 (or 1, dropping the last entry); the prompt's first token has no logprob."""
    prompt = "The sky is blue"
    r = client.completions.create(prompt=prompt, max_tokens=0, logprobs=1, echo=True, model="tiny", temperature=0)
    (c,) = r.choices
    assert c.text == prompt and r.usage.completion_tokens == 0
    assert c.logprobs.tokens == list(prompt) and c.logprobs.token_logprobs[0] is None
    assert c.logprobs.top_logprobs[0] is None
    scores = c.logprobs.token_logprobs[1:]
    assert all(v < 0 for v in scores)

    one = client.completions.create(
        prompt=ByteTokenizer(512).encode(prompt), max_tokens=1, logprobs=1, echo=True, model="tiny", temperature=0
    )
    assert one.choices[0].text.startswith(prompt)
    assert one.choices[0].logprobs.token_logprobs[1:-1] == pytest.approx(scores, abs=1e-4)

    plain = client.completions.create(prompt="echo only", max_tokens=3, echo=True, **GREEDY)
    assert plain.choices[0].text.startswith("echo only") and plain.choices[0].logprobs is None
    streamed = "".join(
        c.choices[0].text
        for c in client.completions.create(prompt="echo only", max_tokens=3, echo=True, stream=True, **GREEDY)
        if c.choices
    )
    assert streamed == plain.choices[0].text


def test_chat_logprobs(client):
    msgs = [{"role": "user", "content": "hello"}]
    r = client.chat.completions.create(messages=msgs, max_tokens=4, logprobs=True, top_logprobs=3, **GREEDY)
    content = r.choices[0].logprobs.content
    assert len(content) == 4
    for item in content:
        assert len(item.top_logprobs) == 3 and item.top_logprobs[0].logprob == pytest.approx(item.logprob)
        assert item.bytes == list(item.token.encode())
    assert sum(math.exp(t.logprob) for t in content[0].top_logprobs) <= 1.0 + 1e-6
    no = client.chat.completions.create(messages=msgs, max_tokens=2, **GREEDY)
    assert no.choices[0].logprobs is None
    # a chunk may carry several tokens (the server merges steps while a reader lags): one entry each
    streamed = [
        item.logprob
        for c in client.chat.completions.create(messages=msgs, max_tokens=4, logprobs=True, stream=True, **GREEDY)
        if c.choices and c.choices[0].logprobs
        for item in c.choices[0].logprobs.content
    ]
    assert streamed == pytest.approx([item.logprob for item in content])


@pytest.mark.parametrize(
    "field,value",
    [
        ("tools", [{"type": "function", "function": {"name": "f"}}]),
        ("tool_choice", "auto"),
        ("functions", [{"name": "f"}]),
        # a schema keyword llguidance does not implement
        (
            "response_format",
            {"type": "json_schema", "json_schema": {"name": "x", "schema": {"not": {"type": "string"}}}},
        ),
        ("suffix", "tail"),
        ("best_of", 3),
        ("logit_bias", {"5": 10}),
    ],
)
def test_unsupported_fields_are_refused_by_name(client, field, value):
    create = client.completions.create if field in ("suffix", "best_of") else client.chat.completions.create
    kw = {"prompt": "x"} if field in ("suffix", "best_of") else {"messages": [{"role": "user", "content": "x"}]}
    with pytest.raises(openai.BadRequestError) as e:
        create(model="tiny", max_tokens=2, extra_body={field: value}, **kw)
    assert e.value.body["param"] == field and field in e.value.body["message"]


def test_no_op_values_of_unsupported_fields_are_accepted(client):
    r = client.chat.completions.create(
        model="tiny",
        max_tokens=2,
        messages=[{"role": "user", "content": "x"}],
        extra_body={"tools": [], "tool_choice": "none", "response_format": {"type": "text"}},
    )
    assert r.choices[0].finish_reason in ("stop", "length")
    assert client.completions.create(model="tiny", prompt="x", max_tokens=2, n=2, best_of=2).choices


def test_bad_values_name_their_field(client):
    for kw, field in [(dict(prompt="x", max_tokens=0), "max_tokens"), (dict(prompt="x", logprobs=21), "logprobs")]:
        with pytest.raises(openai.BadRequestError) as e:
            client.completions.create(model="tiny", **kw)
        assert e.value.body["param"] == field
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "x"}], top_logprobs=2)
    assert e.value.body["param"] == "top_logprobs"


def test_unknown_paths_and_methods_answer_in_openai_shape(server, client):
    with pytest.raises(openai.NotFoundError) as e:
        client.post("/embeddings", body={"input": "x"}, cast_to=object)
    assert set(e.value.body) == {"message", "type", "param", "code"} and "/v1/embeddings" in e.value.body["message"]
    r = httpx.delete(server.url + "/v1/models")
    assert r.status_code == 405 and set(r.json()) == {"error"} and r.headers["allow"] == "GET"
    assert set(r.json()["error"]) == {"message", "type", "param", "code"}
    assert httpx.get(server.url + "/nowhere").json()["error"]["type"] == "invalid_request_error"


def test_tokenizer_endpoints_round_trip(server):
    ids = httpx.post(server.url + "/tokenize", json={"prompt": "héllo"}).json()
    assert ids["count"] == len("héllo".encode()) and ids["max_model_len"] == 512
    assert httpx.post(server.url + "/detokenize", json={"tokens": ids["tokens"]}).json() == {"prompt": "héllo"}
    info = httpx.get(server.url + "/tokenizer_info").json()
    assert info["eos_token"] is None and info["model_max_length"] == 512


def test_served_context_is_the_models_not_the_workloads(server, tmp_path):
    """stack.json holds the workload's length (256, as a search writes it); the tiny model has 512
    positions: the server offers those, or what --max-model-len asks for."""
    assert httpx.get(server.url + "/v1/models").json()["data"][0]["max_model_len"] == 512
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)
    long = client.completions.create(prompt="y" * 400, max_tokens=50, **GREEDY)
    assert long.usage.completion_tokens == 50
    s = Server(materialize(tmp_path, SPEC), "--max-model-len", "300")
    try:
        assert httpx.get(s.url + "/v1/models").json()["data"][0]["max_model_len"] == 300
    finally:
        s.close()
