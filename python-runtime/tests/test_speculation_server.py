"""OpenAI's `prediction` through the served API (server/protocol.py Prediction): a stack with
speculation=predicted_outputs drafts from it, and the answer is the one without it, whether the
prediction is right, wrong, or sent as content parts."""

import time

import openai
import pytest

from runtime_stacks import TINY_LLAMA, Server, materialize

SPEC = {
    **TINY_LLAMA,
    "name": "tiny",
    "components": {**TINY_LLAMA["components"], "speculation": "predicted_outputs"},
    "params": {"max_model_len": 256, "max_batch_size": 4, "num_speculative_tokens": 8},
}
GREEDY = dict(model="tiny", temperature=0, max_tokens=24)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Server(materialize(tmp_path_factory.mktemp("srv-spec"), SPEC))
    yield s
    s.close()


def _accepted(server, at_least: float) -> float:
    """The served spec_decode counter once the engine's stats have caught up (sent when it idles)."""
    deadline = time.time() + 10
    while True:
        v = server.metric("vibeserve:spec_decode_num_accepted_tokens")
        if v >= at_least or time.time() > deadline:
            return v
        time.sleep(0.2)


def test_prediction_is_drafted_from_and_changes_nothing(server):
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=60)
    ignore_eos = {"ignore_eos": True}
    plain = client.completions.create(prompt="the cat sat on", extra_body=ignore_eos, **GREEDY).choices[0].text
    assert _accepted(server, 0) == 0
    right = client.completions.create(
        prompt="the cat sat on",
        **GREEDY,
        extra_body={**ignore_eos, "prediction": {"type": "content", "content": plain}},
    )
    assert right.choices[0].text == plain
    # the prediction was drafted from and accepted (the random tiny model's bytes are not all valid
    # UTF-8, so its text does not re-encode to all of its tokens: only the start of it matches)
    assert _accepted(server, 1) >= 1
    wrong = client.completions.create(
        prompt="the cat sat on",
        **GREEDY,
        extra_body={**ignore_eos, "prediction": {"type": "content", "content": "x" * 40}},
    )
    assert wrong.choices[0].text == plain
    msgs = [{"role": "user", "content": "say something"}]
    chat = client.chat.completions.create(messages=msgs, extra_body=ignore_eos, **GREEDY).choices[0].message.content
    parts = [{"type": "text", "text": chat[:10]}, {"type": "text", "text": chat[10:]}]
    again = client.chat.completions.create(
        messages=msgs, **GREEDY, extra_body={**ignore_eos, "prediction": {"type": "content", "content": parts}}
    )
    assert again.choices[0].message.content == chat


def test_usage_counts_the_accepted_and_rejected_prediction_tokens(server):
    """usage.completion_tokens_details as OpenAI reports predicted outputs, in a plain answer and in
    a stream's usage chunk: the prediction's tokens drafted and kept, and drafted and replaced (a
    token never drafted costs nothing, so it is in neither); without a prediction, no details."""
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=60)
    ignore_eos = {"ignore_eos": True}
    plain = client.completions.create(prompt="the cat sat on", extra_body=ignore_eos, **GREEDY)
    assert plain.usage.completion_tokens == 24 and plain.usage.completion_tokens_details is None
    right = {**ignore_eos, "prediction": {"type": "content", "content": plain.choices[0].text}}
    got = client.completions.create(prompt="the cat sat on", **GREEDY, extra_body=right)
    details = got.usage.completion_tokens_details
    assert 1 <= details.accepted_prediction_tokens <= got.usage.completion_tokens
    wrong = client.completions.create(
        prompt="the cat sat on",
        **GREEDY,
        extra_body={**ignore_eos, "prediction": {"type": "content", "content": "x" * 40}},
    )
    assert wrong.usage.completion_tokens_details.accepted_prediction_tokens == 0
    stream = client.completions.create(
        prompt="the cat sat on", stream=True, stream_options={"include_usage": True}, **GREEDY, extra_body=right
    )
    last = list(stream)[-1]
    assert last.usage.completion_tokens == 24
    assert last.usage.completion_tokens_details.accepted_prediction_tokens == details.accepted_prediction_tokens
