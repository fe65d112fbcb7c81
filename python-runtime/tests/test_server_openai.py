"""The OpenAI-compatible server, really started (`serve --port 0`), driven by the official
`openai` client: completions and chat, streaming and not, usage, stop, errors, auth, overload,
disconnects and /metrics."""

import asyncio
import time

import httpx
import openai
import pytest

from runtime_stacks import TINY_LLAMA, Server, materialize

SPEC = {**TINY_LLAMA, "name": "tiny", "params": {"max_model_len": 256, "max_batch_size": 4}}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # the served context is the model's (512) unless asked: these tests want a short one
    s = Server(materialize(tmp_path_factory.mktemp("srv"), SPEC), "--max-model-len", "256")
    yield s
    s.close()


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=60)


def test_models_and_health(server, client):
    models = client.models.list()
    assert [m.id for m in models.data] == ["tiny"]
    assert httpx.get(server.url + "/health").json() == {"status": "ok"}


def test_completion_usage_and_greedy_determinism(client):
    r = client.completions.create(
        model="tiny", prompt="Hello there", max_tokens=12, temperature=0, extra_body={"ignore_eos": True}
    )
    assert r.object == "text_completion" and r.choices[0].finish_reason == "length"
    assert r.usage.prompt_tokens == len("Hello there".encode()) and r.usage.completion_tokens == 12
    assert r.usage.total_tokens == r.usage.prompt_tokens + 12
    again = client.completions.create(
        model="tiny", prompt="Hello there", max_tokens=12, temperature=0, extra_body={"ignore_eos": True}
    )
    assert again.choices[0].text == r.choices[0].text
    by_ids = client.completions.create(
        model="tiny", prompt=list(b"Hello there"), max_tokens=12, temperature=0, extra_body={"ignore_eos": True}
    )
    assert by_ids.usage.prompt_tokens == len(b"Hello there") and by_ids.usage.completion_tokens == 12


def test_seeded_sampling_is_reproducible(client):
    kw = dict(model="tiny", prompt="abc", max_tokens=16, temperature=1.0, top_p=0.9, extra_body={"ignore_eos": True})
    a = client.completions.create(seed=7, **kw).choices[0].text
    b = client.completions.create(seed=7, **kw).choices[0].text
    assert a == b


def test_streaming_matches_non_streaming_and_reports_usage(client):
    kw = dict(model="tiny", prompt="Stream me", max_tokens=20, temperature=0, extra_body={"ignore_eos": True})
    full = client.completions.create(**kw).choices[0].text
    chunks = list(client.completions.create(stream=True, stream_options={"include_usage": True}, **kw))
    usage = [c.usage for c in chunks if c.usage]
    text_chunks = [c for c in chunks if c.choices]
    # the first token comes before the rest, not in one blob at the end; steps that arrive while the
    # reader is behind come merged into one event, as vLLM's server sends them
    assert len(text_chunks) >= 2
    assert "".join(c.choices[0].text for c in text_chunks) == full
    assert text_chunks[-1].choices[0].finish_reason == "length"
    assert len(usage) == 1 and usage[0].completion_tokens == 20


def test_chat_streaming_and_not(client):
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi!"}]
    r = client.chat.completions.create(
        model="tiny", messages=msgs, max_tokens=8, temperature=0, extra_body={"ignore_eos": True}
    )
    assert r.object == "chat.completion" and r.choices[0].message.role == "assistant"
    assert r.usage.completion_tokens == 8 and r.usage.prompt_tokens > len("Be brief.Hi!")
    stream = client.chat.completions.create(
        model="tiny",
        messages=msgs,
        max_tokens=8,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"ignore_eos": True},
    )
    parts, usage = [], None
    for c in stream:
        if c.usage:
            usage = c.usage
        if c.choices and c.choices[0].delta.content:
            parts.append(c.choices[0].delta.content)
    assert "".join(parts) == r.choices[0].message.content and usage.completion_tokens == 8


def test_stop_sequence_truncates(client):
    kw = dict(model="tiny", prompt="The stop test", max_tokens=40, temperature=0, extra_body={"ignore_eos": True})
    full = client.completions.create(**kw).choices[0].text
    k = next(i for i, ch in enumerate(full) if i >= 3 and ch != "\ufffd")
    stop = full[k]
    want = full[: full.index(stop)]
    r = client.completions.create(stop=[stop], **kw)
    assert r.choices[0].text == want and r.choices[0].finish_reason == "stop"
    streamed = "".join(c.choices[0].text for c in client.completions.create(stop=stop, stream=True, **kw) if c.choices)
    assert streamed == want


def test_bad_requests_get_openai_errors(client):
    with pytest.raises(openai.BadRequestError) as e:
        client.completions.create(model="tiny", prompt="x" * 250, max_tokens=50)
    assert e.value.status_code == 400 and "maximum context length is 256" in str(e.value)
    assert e.value.body["code"] == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError):
        client.completions.create(model="tiny", prompt="x", temperature=7)
    with pytest.raises(openai.BadRequestError):
        client.completions.create(model="tiny", prompt=[1, 2, 100000])
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="tiny", messages=[])
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="other-model", prompt="x")


# A context long enough that the engine cannot finish the request before the disconnect is noticed,
# even on a fast machine (the engine generates in its own thread, whatever the client reads).
LONG_SPEC = {
    **SPEC,
    "model": {**TINY_LLAMA["model"], "config": {"max_position_embeddings": 8192}},
    "params": {"max_model_len": 8192, "max_batch_size": 2},
}


@pytest.fixture(scope="module")
def long_server(tmp_path_factory):
    s = Server(materialize(tmp_path_factory.mktemp("srv-long"), LONG_SPEC))
    yield s
    s.close()


def test_client_disconnect_aborts_and_frees_kv(long_server):
    server = long_server
    aborted_before = server.metric("vibeserve:num_requests_aborted")
    body = {
        "model": "tiny",
        "prompt": "disconnect",
        "max_tokens": 8000,
        "temperature": 0,
        "stream": True,
        "ignore_eos": True,
    }
    with httpx.Client(timeout=30) as c:
        with c.stream("POST", server.url + "/v1/completions", json=body) as r:
            lines = r.iter_lines()
            got = [next(lines) for _ in range(4)]
            assert any(g.startswith("data:") for g in got)
            assert server.metric("vibeserve:kv_cache_usage_perc") > 0
    deadline = time.time() + 20
    while time.time() < deadline and server.metric("vibeserve:num_requests_in_flight") > 0:
        time.sleep(0.1)
    assert server.metric("vibeserve:num_requests_aborted") == aborted_before + 1
    assert server.metric("vibeserve:num_requests_running") == 0
    assert server.metric("vibeserve:kv_cache_usage_perc") == 0


def test_metrics_count_tokens_and_ttft(server, client):
    before = server.metric("vibeserve:generation_tokens_total")
    client.completions.create(
        model="tiny", prompt="count", max_tokens=5, temperature=0, extra_body={"ignore_eos": True}
    )
    assert server.metric("vibeserve:generation_tokens_total") == before + 5
    assert server.metric("vibeserve:time_to_first_token_seconds_count") >= 1
    text = httpx.get(server.url + "/metrics").text
    for name in (
        "vibeserve:num_requests_waiting",
        "vibeserve:e2e_request_latency_seconds_bucket",
        "vibeserve:prompt_tokens_total",
        "vibeserve:request_success_total",
    ):
        assert name in text


def test_api_key_and_overload(tmp_path):
    spec = {**SPEC, "name": "guarded", "params": {"max_model_len": 256, "max_batch_size": 1}}
    s = Server(materialize(tmp_path, spec), "--max-queue", "1", api_key="s3cret")
    try:
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=s.url + "/v1", api_key="wrong", max_retries=0).models.list()
        assert httpx.get(s.url + "/health").status_code == 200  # probes need no key
        ok = openai.OpenAI(base_url=s.url + "/v1", api_key="s3cret", max_retries=0)
        assert ok.models.list().data[0].id == "guarded"

        async def burst():
            aclient = openai.AsyncOpenAI(base_url=s.url + "/v1", api_key="s3cret", max_retries=0, timeout=120)

            async def one():
                try:
                    await aclient.completions.create(
                        model="guarded", prompt="load", max_tokens=60, temperature=0, extra_body={"ignore_eos": True}
                    )
                    return 200
                except openai.APIStatusError as e:
                    return e.status_code

            return await asyncio.gather(*(one() for _ in range(8)))

        codes = asyncio.run(burst())
        assert set(codes) <= {200, 429} and codes.count(429) >= 1 and codes.count(200) >= 2
        assert httpx.get(s.url + "/health").json() == {"status": "ok"}
        assert ok.completions.create(model="guarded", prompt="after", max_tokens=3).usage.completion_tokens <= 3
    finally:
        s.close()


def test_engine_failure_answers_503_and_busy_port_is_reported(tmp_path, server):
    stack = materialize(tmp_path, {**SPEC, "name": "faulty"})
    f = stack / "vibeserve_runtime" / "engine" / "engine.py"
    marker = "    def step(self) -> list[StepOutput]:\n"
    f.write_text(f.read_text().replace(marker, marker + "        raise RuntimeError('kernel fault')\n"))
    s = Server(stack)
    try:
        c = openai.OpenAI(base_url=s.url + "/v1", api_key="x", max_retries=0)
        with pytest.raises(openai.APIStatusError) as e:
            c.completions.create(model="faulty", prompt="x", max_tokens=2)
        assert e.value.status_code == 503 and "kernel fault" in str(e.value)
        assert httpx.get(s.url + "/health").status_code == 503
    finally:
        s.close()
    port = server.url.rsplit(":", 1)[1]
    from runtime_stacks import error_of, run_verb

    rc, evs, err = run_verb("serve", "--stack", str(stack), "--port", port, timeout=120)
    assert rc == 3 and error_of(evs)["reason"] == "port_unavailable"
    assert "already in use" in error_of(evs)["message"] and "Traceback" not in err
