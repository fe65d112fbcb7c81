"""A JSON schema compiled to an llguidance grammar, with a clear error for what cannot be served."""

from __future__ import annotations

import json
from typing import Any

# Outputs print as json.dumps does (", " and ": ", no other whitespace): the model's usual spacing,
# and a single way to write a key, so the grammar forces every key's bytes (jump_forward skips them).
# A schema's own "x-guidance" options override these.
COMPILE_DEFAULTS = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}


def compile_json_schema(schema: Any) -> str:
    """The grammar for `schema`; ValueError naming what is wrong when llguidance cannot compile it
    (unknown types or formats, unimplemented keywords such as `not`)."""
    from llguidance import LLMatcher

    if not isinstance(schema, dict):
        raise ValueError(f"response_format: the JSON schema must be an object, got {type(schema).__name__}")
    try:
        grammar = LLMatcher.grammar_from_json_schema(json.dumps(schema), defaults=COMPILE_DEFAULTS)
    except Exception as e:  # llguidance raises ValueError or its own errors for a bad schema
        raise ValueError(f"response_format: unsupported JSON schema: {e}") from None
    error = LLMatcher.validate_grammar(grammar)
    if error:
        raise ValueError(f"response_format: unsupported JSON schema: {error}; simplify the schema")
    return grammar
