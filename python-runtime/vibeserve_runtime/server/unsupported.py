"""Request fields of the OpenAI API this server does not implement: a request that uses one gets a
400 naming it, rather than an answer that silently ignored what the client asked for. A field sent
with its no-op value (null, empty, 0, tool_choice "none") is fine. (response_format is served: protocol.py.)
"""

from __future__ import annotations

from typing import Any

from .protocol import APIError

UNSUPPORTED = {
    "tools": "tool calling",
    "tool_choice": "tool calling",
    "functions": "function calling",
    "function_call": "function calling",
    "suffix": "insertion (suffix)",
    "logit_bias": "logit bias",
    "presence_penalty": "presence penalty",
    "frequency_penalty": "frequency penalty",
}
NO_OP = {"tool_choice": ("none",), "function_call": ("none",)}


def _in_use(field: str, value: Any) -> bool:
    if value is None or value in ("", [], {}, 0) or value is False:
        return False
    return value not in NO_OP.get(field, ())


def refuse_unsupported(body) -> None:
    """Raises a 400 for the first unsupported field the request really uses."""
    sent = {**(body.model_extra or {}), **body.model_dump(exclude_unset=True)}
    for field, what in UNSUPPORTED.items():
        if field in sent and _in_use(field, sent[field]):
            raise APIError(
                400, f"'{field}' ({what}) is not supported by this server", param=field, code="unsupported_parameter"
            )
    best_of = sent.get("best_of")
    if best_of is not None and best_of != getattr(body, "n", 1):
        raise APIError(
            400,
            f"best_of={best_of} with n={getattr(body, 'n', 1)} (ranking candidates on the server) "
            "is not supported; send best_of equal to n or leave it out",
            param="best_of",
            code="unsupported_parameter",
        )
