"""The JSON-extraction workload (workload dataset "json_schema"): real text, each request a chat
asking to extract one made-up record as JSON, with a JSON schema (OpenAI's response_format) that
requires the record's fields and its sentinel id as a `const`, so every answer is tied to its
request. The grammar forces the keys, quotes and the id; the model writes the values.

Prompts go through the tokenizer's chat template (the model's real input); max_tokens is
output_len (room for the record). The same seed gives the same requests on every machine."""

from __future__ import annotations

import random

FIRST = ("Alice", "Bruno", "Chen", "Dara", "Emeka", "Fatima", "Goran", "Hana", "Ivan", "Jonas", "Keiko", "Lucia")
LAST = ("Moreau", "Silva", "Wang", "Okafor", "Novak", "Haddad", "Berg", "Sato", "Petrov", "Lind", "Costa", "Reyes")
CITIES = ("Lyon", "Porto", "Osaka", "Lagos", "Zagreb", "Beirut", "Oslo", "Kyoto", "Riga", "Quito", "Austin", "Perth")
JOBS = ("nurse", "baker", "pilot", "teacher", "chemist", "plumber", "architect", "librarian", "welder", "judge")


def record_schema(sentinel: str) -> dict:
    return {
        "type": "object",
        "properties": {
            "id": {"const": sentinel},
            "name": {"type": "string", "maxLength": 60},
            "age": {"type": "integer", "minimum": 0, "maximum": 150},
            "city": {"type": "string", "maxLength": 40},
            "occupation": {"type": "string", "maxLength": 40},
        },
        "required": ["id", "name", "age", "city", "occupation"],
        "additionalProperties": False,
    }


def json_extraction_request(tokenizer, rng: random.Random, input_len: int, output_len: int):
    """(prompt ids, max tokens, JSON schema) of one request."""
    from ..server.chat import render_chat  # the chat template the server applies

    sentinel = f"REC-{rng.randrange(10**6):06d}"
    name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    age, city, job = rng.randint(18, 90), rng.choice(CITIES), rng.choice(JOBS)
    user = (
        "Extract the record below as JSON with the fields id, name, age, city and occupation.\n\n"
        f"Record {sentinel}: {name} is {age} years old, works as a {job} and lives in {city}."
    )
    prompt = tokenizer.encode(render_chat(tokenizer, [{"role": "user", "content": user}]))
    if len(prompt) > input_len:
        raise ValueError(
            f"json_schema: a record's prompt takes {len(prompt)} tokens, more than input_len={input_len}; "
            "give the workload at least 128 input tokens"
        )
    if output_len < 48:
        raise ValueError(f"json_schema: output_len={output_len} cannot hold a record; give at least 48 output tokens")
    return prompt, output_len, record_schema(sentinel)
