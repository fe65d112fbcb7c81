"""The engine as the API server sees it: generate() per request, over an engine core that runs in
a process of its own (process_core.py) or in a thread of this one (thread_core.py).

Every step message of the core is routed here in one pass: each request's new tokens go to its
RequestStream (request_stream.py), which wakes its reader at most once per step. A bounded number
of requests in flight keeps an overloaded server answering (429) instead of growing without limit.
A request whose reader leaves (client gone, stop string) is aborted in the engine and stays in
flight until the engine confirms, so the in-flight count and the engine's stats agree.
"""

from __future__ import annotations

import time
from typing import AsyncIterator

from ..types import Request, StepOutput
from .request_stream import RequestStream


class Overloaded(Exception):
    pass


class EngineDead(Exception):
    pass


class AsyncEngine:
    def __init__(self, core, max_in_flight: int):
        """core: a ProcessCore (already started) or a ThreadCore."""
        self.core = core
        self.info = core.info
        self.max_in_flight = max_in_flight
        self.error: str | None = None
        self.snapshot: dict = dict(core.info.stats)
        self.num_aborted = 0
        self._streams: dict[str, RequestStream] = {}
        self._started = False
        self._stopped = False

    @property
    def alive(self) -> bool:
        return self.error is None and not self._stopped

    @property
    def in_flight(self) -> int:
        return len(self._streams)

    async def start(self) -> None:
        if not self._started:
            self._started = True
            await self.core.start(self._on_message)

    async def shutdown(self) -> None:
        if not self._stopped:
            self._stopped = True
            await self.core.close()

    # --- the core's messages, on the event loop ------------------------------------------------
    def _on_message(self, msg: tuple) -> None:
        kind = msg[0]
        if kind == "step":
            _, outputs, failed, stats = msg
            if stats is not None:
                self.snapshot = stats
                self.num_aborted = stats.get("num_aborted", self.num_aborted)
            streams = self._streams
            for rid, error in failed:
                s = streams.pop(rid, None)
                if s is not None:
                    s.fail(ValueError(error))
            for out in outputs:
                s = streams.get(out[0])
                if s is None:
                    continue
                if out[2]:  # finished: the engine has let go of it
                    del streams[out[0]]
                if not s.abandoned:
                    s.put(out)
        elif kind == "fatal":
            self.error = msg[1]
            dead = EngineDead(self.error)
            for s in self._streams.values():
                s.fail(dead)
            self._streams.clear()

    # --- requests --------------------------------------------------------------------------------
    async def generate(self, request: Request) -> AsyncIterator[StepOutput]:
        """The request's outputs, one per engine step it took part in (merged when this reader
        lagged). Closing the iterator early aborts the request in the engine."""
        await self.start()
        if not self.alive:
            raise EngineDead(self.error or "engine loop stopped")
        if self.in_flight >= self.max_in_flight:
            raise Overloaded(f"{self.in_flight} requests in flight (limit {self.max_in_flight})")
        rid = request.request_id
        stream = RequestStream(rid)
        request.arrival_time = request.arrival_time or time.time()
        self._streams[rid] = stream
        self.core.submit(("add", request))
        finished = False
        try:
            while not finished:
                out = await stream.get()
                finished = out.finished
                yield out
        finally:
            if not finished:  # a failed request is already let go of, and abort() skips it
                self.abort(rid)

    def abort(self, request_id: str) -> None:
        s = self._streams.get(request_id)
        if s is not None and not s.abandoned:
            s.abandoned = True
            self.core.submit(("abort", request_id))
