"""A choice's pieces rendered as OpenAI choice objects: whole (a plain response) or one chunk per
piece (a stream). An echoed prompt, and its logprobs, come before the first piece's text."""

from __future__ import annotations

from .choice import Choice, Piece
from .logprob_format import CompletionLogprobs, chat_logprobs


class ChoiceOutput:
    def __init__(self, choice: Choice, tokenizer, chat: bool, top_k: int | None):
        """top_k: how many alternatives each token's logprobs list; None when none were asked for."""
        self.choice, self.tok, self.chat, self.top_k = choice, tokenizer, chat, top_k
        self.legacy = CompletionLogprobs(tokenizer, top_k) if top_k is not None and not chat else None
        self.parts: list[str] = []
        self.items: list = []
        self.finish_reason: str | None = None
        self.num_tokens = 0
        self.draft_counts: tuple[int, int] | None = None
        self._started = False

    def _take(self, piece: Piece) -> tuple[str, list]:
        """The text and logprob items this piece adds to the choice."""
        c, text, items = self.choice, "", []
        if not self._started:
            self._started = True
            if c.echo_text is not None:
                text = c.echo_text
                if self.legacy is not None:
                    scored = piece.prompt_logprobs or [None] * len(c.prompt_ids)
                    items = [(t, None if i == 0 else scored[i]) for i, (t, _) in enumerate(zip(c.prompt_ids, scored))]
        if c.generate:
            text += piece.text
            self.num_tokens = piece.num_tokens
            if self.top_k is not None:
                items += list(piece.logprobs) if self.chat else [(e.token_id, e) for e in piece.logprobs]
        self.finish_reason = piece.finish_reason or self.finish_reason
        self.draft_counts = piece.draft_counts or self.draft_counts
        return text, items

    def prediction_tokens(self) -> tuple[int, int]:
        """(accepted, rejected) draft tokens: of the tokens drafted from the request's prediction
        (speculation=predicted_outputs), those the model confirmed and those it replaced. An accepted
        token past where the choice stopped is not in the completion, so it counts as rejected."""
        drafted, accepted = self.draft_counts or (0, 0)
        accepted = min(accepted, self.num_tokens)
        return accepted, drafted - accepted

    def _logprobs(self, items: list) -> dict | None:
        if self.top_k is None:
            return None
        if self.chat:
            return {"content": chat_logprobs(self.tok, items, self.top_k)}
        return self.legacy.format(items)

    def add(self, piece: Piece) -> None:
        text, items = self._take(piece)
        self.parts.append(text)
        self.items += items

    def whole(self) -> dict:
        text = "".join(self.parts)
        body = {"message": {"role": "assistant", "content": text}} if self.chat else {"text": text}
        return {
            "index": self.choice.index,
            **body,
            "logprobs": self._logprobs(self.items),
            "finish_reason": self.finish_reason,
        }

    def chunk(self, piece: Piece) -> dict:
        text, items = self._take(piece)
        body = {"delta": {"content": text}} if self.chat else {"text": text}
        return {
            "index": self.choice.index,
            **body,
            "logprobs": self._logprobs(items) if items else None,
            "finish_reason": piece.finish_reason,
        }

    def role_chunk(self) -> dict:
        """A chat stream opens each choice with the assistant's role."""
        return {
            "index": self.choice.index,
            "delta": {"role": "assistant", "content": ""},
            "logprobs": None,
            "finish_reason": None,
        }


def usage_of(outputs: list[ChoiceOutput], prompt_tokens: int, predicted: bool) -> dict:
    """The response's `usage`; with a `prediction` in the request, OpenAI's completion_tokens_details
    of predicted outputs over every choice."""
    completion = sum(o.num_tokens for o in outputs)
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": prompt_tokens + completion,
    }
    if predicted:
        accepted, rejected = (sum(n) for n in zip(*(o.prediction_tokens() for o in outputs)))
        usage["completion_tokens_details"] = {
            "accepted_prediction_tokens": accepted,
            "rejected_prediction_tokens": rejected,
        }
    return usage
