"""/tokenize, /detokenize and /tokenizer_info in vLLM's shapes: an evaluation harness (such as
lm-evaluation-harness's `local-completions` with its default tokenizer backend) then counts and
splits text with the served stack's own tokenizer, with no tokenizer download.

/tokenize gives exactly the ids /v1/completions feeds the model for that prompt (the server adds no
special tokens to prompts, so add_special_tokens is accepted and has no effect).
"""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from .chat import render_chat
from .protocol import APIError, ChatMessage


class TokenizeRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    prompt: str | None = None
    messages: list[ChatMessage] | None = None
    add_special_tokens: bool = False


class DetokenizeRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    tokens: list[int] = Field(default_factory=list)


def _special_token(tok, name: str) -> str | None:
    """The special token's text, when encoding that text gives the token back (a byte tokenizer's
    end-of-sequence id has no text, so a client could not find it by encoding)."""
    text, token_id = getattr(tok, name, None), getattr(tok, name + "_id", None)
    return text if text and token_id is not None and tok.encode(text) == [token_id] else None


def add_tokenizer_routes(app: FastAPI, info) -> None:
    """info: core_protocol.EngineInfo (the tokenizer, vocabulary and context of the served engine)."""
    tok = info.tokenizer
    vocab = info.vocab_size

    @app.post("/tokenize")
    async def tokenize(body: TokenizeRequest):
        if (body.prompt is None) == (body.messages is None):
            raise APIError(400, "send exactly one of 'prompt' and 'messages'", param="prompt")
        text = body.prompt if body.prompt is not None else render_chat(tok, [m.model_dump() for m in body.messages])
        ids = tok.encode(text)
        return {"count": len(ids), "max_model_len": info.max_model_len, "tokens": ids}

    @app.post("/detokenize")
    async def detokenize(body: DetokenizeRequest):
        if any(not 0 <= t < vocab for t in body.tokens):
            raise APIError(400, f"token ids must lie in [0, {vocab})", param="tokens")
        return {"prompt": tok.decode(body.tokens)}

    @app.get("/tokenizer_info")
    async def tokenizer_info():
        return {
            "tokenizer_class": type(tok).__name__,
            "eos_token": _special_token(tok, "eos_token"),
            "bos_token": _special_token(tok, "bos_token"),
            "pad_token": None,
            "chat_template": getattr(tok, "chat_template", None),
            "model_max_length": info.max_model_len,
            "vocab_size": vocab,
        }
