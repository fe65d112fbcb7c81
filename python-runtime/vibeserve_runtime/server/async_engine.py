"""The engine loop in one background thread; each request gets an asyncio queue of StepOutputs.

The engine is not thread-safe, so only the loop thread touches it: requests and aborts reach it
through an inbox, outputs go back with loop.call_soon_threadsafe. A bounded number of requests in
flight keeps an overloaded server answering (429) instead of growing without limit.
"""
from __future__ import annotations

import asyncio
import queue
import sys
import threading
import time
import traceback
from typing import AsyncIterator

from ..types import Request, StepOutput


class Overloaded(Exception):
    pass


class EngineDead(Exception):
    pass


class AsyncEngine:
    def __init__(self, engine, max_in_flight: int):
        self.engine = engine
        self.max_in_flight = max_in_flight
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._streams: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Queue]] = {}
        self._wake = threading.Event()
        self._stop = False
        self.error: str | None = None
        self.snapshot: dict = engine.stats()
        self.num_aborted = 0
        self._thread = threading.Thread(target=self._run, name="engine-loop", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and self.error is None

    @property
    def in_flight(self) -> int:
        return len(self._streams)

    def shutdown(self) -> None:
        self._stop = True
        self._wake.set()
        self._thread.join(timeout=5)

    # --- engine thread ---------------------------------------------------------------------
    def _deliver(self, rid: str, item) -> None:
        entry = self._streams.get(rid)
        if entry is not None:
            loop, q = entry
            loop.call_soon_threadsafe(q.put_nowait, item)

    def _run(self) -> None:
        import torch
        with torch.inference_mode():
            while not self._stop:
                try:
                    self._drain_inbox()
                    if self.engine.has_unfinished_requests():
                        for o in self.engine.step():
                            self._deliver(o.request_id, o)
                            if o.finished:
                                self._streams.pop(o.request_id, None)
                        self.snapshot = self.engine.stats()
                    else:
                        self._wake.wait(0.05)
                        self._wake.clear()
                except Exception as e:  # an engine failure fails the requests in flight, not the server
                    traceback.print_exc(file=sys.stderr)
                    self.error = f"{type(e).__name__}: {e}"
                    for rid in list(self._streams):
                        self._deliver(rid, EngineDead(self.error))
                    self._streams.clear()
                    return

    def _drain_inbox(self) -> None:
        while True:
            try:
                op, arg = self._inbox.get_nowait()
            except queue.Empty:
                return
            if op == "add":
                try:
                    self.engine.add_request(arg)
                except Exception as e:  # invalid request found by the engine: answer it, keep going
                    self._deliver(arg.request_id, ValueError(str(e)))
                    self._streams.pop(arg.request_id, None)
            elif op == "abort":
                if self.engine.abort_request(arg):
                    self.num_aborted += 1
                self.snapshot = self.engine.stats()

    # --- event-loop side -------------------------------------------------------------------
    async def generate(self, request: Request) -> AsyncIterator[StepOutput]:
        if not self.alive:
            raise EngineDead(self.error or "engine loop stopped")
        if self.in_flight >= self.max_in_flight:
            raise Overloaded(f"{self.in_flight} requests in flight (limit {self.max_in_flight})")
        q: asyncio.Queue = asyncio.Queue()
        request.arrival_time = request.arrival_time or time.time()
        self._streams[request.request_id] = (asyncio.get_running_loop(), q)
        self._inbox.put(("add", request))
        self._wake.set()
        finished = False
        try:
            while True:
                item = await q.get()
                if isinstance(item, Exception):
                    finished = True
                    raise item
                finished = item.finished
                yield item
                if finished:
                    return
        finally:
            if not finished:  # the client went away or the consumer stopped early: free its KV blocks
                self._streams.pop(request.request_id, None)
                self._inbox.put(("abort", request.request_id))
                self._wake.set()

    def abort(self, request_id: str) -> None:
        self._streams.pop(request_id, None)
        self._inbox.put(("abort", request_id))
        self._wake.set()
