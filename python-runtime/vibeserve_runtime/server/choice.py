"""One choice of a request: one engine request, read step by step as text pieces.

A request with n choices per prompt, or several prompts, runs one of these per choice (index =
prompt number * n + choice number, as in OpenAI's API).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import AsyncIterator

from ..types import Request as EngineRequest
from ..types import SamplingParams, TokenLogprob
from .async_engine import EngineDead, Overloaded
from .protocol import APIError
from .text import OutputText


@dataclass
class Choice:
    index: int
    prompt_ids: list[int]
    params: SamplingParams
    echo_text: str | None = None  # the prompt as the client sent it, when it asked for echo
    generate: bool = True  # False for max_tokens=0: the engine's one token is not shown


@dataclass
class Piece:
    """What one engine step added to a choice."""

    text: str
    finish_reason: str | None
    num_tokens: int  # completion tokens so far
    logprobs: list[TokenLogprob] = field(default_factory=list)
    prompt_logprobs: list[TokenLogprob | None] | None = None
    draft_counts: tuple[int, int] | None = None  # (drafted, accepted) so far (StepOutput.draft_counts)


async def run_choice(
    aengine, tokenizer, metrics, request_id: str, choice: Choice, stop: list[str]
) -> AsyncIterator[Piece]:
    text = OutputText(tokenizer, stop)
    start = time.perf_counter()
    first = True
    n_out = 0
    gen = aengine.generate(EngineRequest(request_id, choice.prompt_ids, choice.params))
    try:
        async for out in gen:
            if first:
                metrics.ttft.observe(time.perf_counter() - start)
                first = False
            n_out = out.num_output_tokens or n_out + len(out.new_token_ids)
            delta, stopped = text.push(out.new_token_ids, out.finished)
            piece = Piece(
                delta,
                out.finish_reason if out.finished else None,
                n_out,
                out.logprobs or [],
                out.prompt_logprobs,
                out.draft_counts,
            )
            if stopped and not out.finished:
                await gen.aclose()  # frees the request's KV blocks now
                piece.finish_reason = "stop"
                yield piece
                break
            yield piece
    except Overloaded as e:
        raise APIError(429, f"The server is at capacity ({e}); retry later.", "rate_limit_error", code="overloaded")
    except EngineDead as e:
        raise APIError(503, f"The engine stopped: {e}", "server_error")
    except ValueError as e:
        raise APIError(400, str(e), param="prompt")
    finally:
        await gen.aclose()  # however this ends (client gone, stop string), the engine lets go
    metrics.e2e.observe(time.perf_counter() - start)
    metrics.prompt_tokens.inc(len(choice.prompt_ids))
    metrics.generation_tokens.inc(n_out if choice.generate else 0)
