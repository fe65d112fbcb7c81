"""The engine core: the loop that admits requests and steps the engine, and nothing else (vLLM v1's
EngineCore). No HTTP, no text: every step's new token ids go out as one message, and turning them
into text and SSE events is the API server's work, off this loop.

It runs in the engine process (engine_process.py) or, for an engine built in the server's own
process, in a thread (thread_core.py); a transport gives it two callables:
  poll(block) -> list of ops (core_protocol.py); block=True may wait a while when there is no work
  emit(message)
"""

from __future__ import annotations

import time
from typing import Any, Callable

from .core_protocol import wire_output

# engine.stats() walks every running sequence's blocks: taken every step it cost the engine ~15%
# of its loop at 256 sequences. Metrics get it this often while the engine is busy, and at every
# change between busy and idle (so a scrape right after a request starts or ends is not stale).
STATS_INTERVAL_S = 0.25


class EngineCore:
    def __init__(self, engine):
        self.engine = engine
        self.num_aborted = 0
        self._last_stats = 0.0
        self._was_idle = True

    def stats(self) -> dict:
        return {**self.engine.stats(), "num_aborted": self.num_aborted}

    def run(self, poll: Callable[[bool], list], emit: Callable[[Any], None]) -> None:
        """Until a shutdown op; an exception of the engine propagates (the transport reports it)."""
        engine = self.engine
        while True:
            ops = poll(not engine.has_unfinished_requests())
            failed: list[tuple[str, str]] = []
            for op in ops:
                if op[0] == "shutdown":
                    return
                self._apply(op, failed)
            outputs = [wire_output(o) for o in engine.step()] if engine.has_unfinished_requests() else []
            if not (outputs or failed or ops):
                continue
            now, idle = time.monotonic(), not engine.has_unfinished_requests()
            stats = None
            if idle or self._was_idle or now - self._last_stats >= STATS_INTERVAL_S:
                stats, self._last_stats = self.stats(), now
            self._was_idle = idle
            emit(("step", outputs, failed, stats))

    def _apply(self, op: tuple, failed: list) -> None:
        if op[0] == "add":
            request = op[1]
            try:
                self.engine.add_request(request)
            except Exception as e:  # a request the engine refuses is answered, the engine goes on
                failed.append((request.request_id, str(e)))
        elif op[0] == "abort":
            if self.engine.abort_request(op[1]):
                self.num_aborted += 1
        else:
            raise ValueError(f"unknown engine core op {op[0]!r}")
