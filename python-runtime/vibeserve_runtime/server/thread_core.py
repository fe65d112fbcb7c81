"""An engine built in the server's own process, its core (engine_core.py) in a background thread:
for callers that hand create_app an Engine (tests, the GPU wheel probe) and `serve
--engine-in-process`. The engine is not thread-safe, so only that thread touches it; each step's
message reaches the event loop with one call_soon_threadsafe. `serve` normally runs the core in a
process of its own instead (process_core.py), out of reach of the server's GIL.
"""

from __future__ import annotations

import asyncio
import queue
import sys
import threading
import traceback
from typing import Any, Callable

from .core_protocol import EngineInfo, info_of
from .engine_core import EngineCore


class ThreadCore:
    def __init__(self, engine):
        self.engine = engine
        self.info: EngineInfo = info_of(engine, engine.stats())
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    async def start(self, on_message: Callable[[Any], None]) -> None:
        loop = asyncio.get_running_loop()

        def emit(msg) -> None:
            try:
                loop.call_soon_threadsafe(on_message, msg)
            except RuntimeError:  # the loop closed under us (shutdown): nobody is listening
                pass

        self._thread = threading.Thread(target=self._run, args=(emit,), name="engine-core", daemon=True)
        self._thread.start()

    def _run(self, emit) -> None:
        import torch

        try:
            with torch.inference_mode():
                EngineCore(self.engine).run(self._poll, emit)
        except Exception as e:  # an engine failure fails the requests in flight, not the server
            traceback.print_exc(file=sys.stderr)
            emit(("fatal", f"{type(e).__name__}: {e}"))

    def _poll(self, block: bool) -> list:
        if block and self._inbox.empty():
            self._wake.wait(0.05)
        self._wake.clear()
        ops = []
        while True:
            try:
                ops.append(self._inbox.get_nowait())
            except queue.Empty:
                return ops

    def submit(self, op: tuple) -> None:
        self._inbox.put(op)
        self._wake.set()

    async def close(self) -> None:
        self.submit(("shutdown",))
        if self._thread is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._thread.join, 5)
