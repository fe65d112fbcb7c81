"""One request's outputs on the server side, between the engine's step messages and the request's
reader (vLLM's RequestOutputCollector). As there, a reader that has not taken the last output when
the next step's arrives gets both merged into one: a client that keeps up gets one SSE event per
step, and one that lags (or a server that falls behind under load) gets several tokens per event,
so the per-event work (detokenising, JSON, one socket write) shrinks exactly when it must. A
reader never falls a queue behind.
"""

from __future__ import annotations

import asyncio
from collections import deque

from ..types import StepOutput


MAX_SEPARATE_STEPS = 1  # outputs kept apart before merging (vLLM merges whenever the reader is behind)


class RequestStream:
    __slots__ = ("request_id", "abandoned", "_pending", "_error", "_waiter")

    def __init__(self, request_id: str):
        self.request_id = request_id
        self.abandoned = False  # its reader has gone; the engine has been told to abort it
        self._pending: deque[StepOutput] = deque()
        self._error: BaseException | None = None
        self._waiter: asyncio.Future | None = None

    def put(self, out: tuple) -> None:
        """An output in core_protocol's wire form: queued, or merged into the last one the reader has
        not taken once MAX_SEPARATE_STEPS are waiting."""
        rid, ids, finished, reason, n_out, logprobs, prompt_logprobs, draft_counts = out
        if len(self._pending) < MAX_SEPARATE_STEPS:
            self._pending.append(
                StepOutput(
                    rid,
                    list(ids),
                    finished,
                    reason,
                    0,
                    n_out,
                    list(logprobs) if logprobs is not None else None,
                    prompt_logprobs,
                    draft_counts,
                )
            )
        else:
            p = self._pending[-1]
            p.new_token_ids += ids
            p.finished, p.finish_reason, p.num_output_tokens = finished, reason, n_out
            p.draft_counts = draft_counts or p.draft_counts
            if logprobs is not None:
                p.logprobs = (p.logprobs or []) + list(logprobs)
            if prompt_logprobs is not None:
                p.prompt_logprobs = prompt_logprobs
        self._wake()

    def fail(self, error: BaseException) -> None:
        self._error = error
        self._wake()

    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    async def get(self) -> StepOutput:
        """The oldest output not taken yet, waiting for the next step when there is none. Outputs that
        arrived before an error are still handed out first."""
        while not self._pending:
            if self._error is not None:
                raise self._error
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._pending.popleft()
