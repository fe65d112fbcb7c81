"""Engine logprob entries (types.TokenLogprob) in the two shapes of the OpenAI API.

Legacy completions: {"tokens", "token_logprobs", "top_logprobs", "text_offset"}, where a token's
top_logprobs holds the k most likely tokens plus the token itself (OpenAI: "up to logprobs+1"), and
an echoed prompt's first token has null entries. Chat: {"content": [{"token", "logprob", "bytes",
"top_logprobs": [...k...]}]}. A token's text is its own decoding, so a token that is part of a
multi-byte character shows as U+FFFD; text_offset adds up those texts, as vLLM does.
"""

from __future__ import annotations

from ..types import TokenLogprob

# (token id, its entry); the entry is None for an echoed prompt's first token, which nothing predicts
Scored = tuple[int, TokenLogprob | None]


def token_text(tokenizer, token_id: int) -> str:
    return tokenizer.decode([token_id])


class CompletionLogprobs:
    """Builds the legacy `logprobs` object of one choice, chunk by chunk (text_offset runs on)."""

    def __init__(self, tokenizer, k: int):
        self.tok, self.k, self.offset = tokenizer, k, 0

    def format(self, items: list[Scored]) -> dict:
        out = {"tokens": [], "token_logprobs": [], "top_logprobs": [], "text_offset": []}
        for token_id, e in items:
            text = token_text(self.tok, token_id)
            out["tokens"].append(text)
            out["text_offset"].append(self.offset)
            self.offset += len(text)
            if e is None:
                out["token_logprobs"].append(None)
                out["top_logprobs"].append(None)
                continue
            out["token_logprobs"].append(e.logprob)
            top: dict[str, float] = {}
            for t, lp in e.top[: self.k]:  # most likely first: two ids with one text keep the larger value
                top.setdefault(token_text(self.tok, t), lp)
            top.setdefault(text, e.logprob)
            out["top_logprobs"].append(top)
        return out


def chat_logprobs(tokenizer, items: list[TokenLogprob], k: int) -> list[dict]:
    """The `content` list of a chat choice's logprobs."""

    def one(token_id: int, lp: float) -> dict:
        text = token_text(tokenizer, token_id)
        return {"token": text, "logprob": lp, "bytes": list(text.encode("utf-8"))}

    return [one(e.token_id, e.logprob) | {"top_logprobs": [one(t, lp) for t, lp in e.top[:k]]} for e in items]
