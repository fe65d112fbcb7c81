"""Several async iterators read at once, as one stream of (index, item): the choices of a request
with n > 1 or several prompts are generated side by side and answered in the order they come.

An exception in one iterator is raised to the reader, and aclose() stops and closes them all (the
engine then aborts their requests and frees their KV blocks). A single iterator (n=1, one prompt:
nearly every request) is read directly, without a pump task and a queue hop per step.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, AsyncGenerator

_DONE = object()


class MergedStreams:
    def __init__(self, iterators: list[AsyncGenerator]):
        self._iterators = iterators
        self._queue: asyncio.Queue = asyncio.Queue()
        self._left = len(iterators)
        self._single = iterators[0] if len(iterators) == 1 else None
        self._tasks = (
            [] if self._single else [asyncio.ensure_future(self._pump(i, it)) for i, it in enumerate(iterators)]
        )

    async def _pump(self, index: int, iterator: AsyncGenerator) -> None:
        try:
            async for item in iterator:
                self._queue.put_nowait((index, item))
        except Exception as e:  # handed to the reader, which decides what the client hears
            self._queue.put_nowait((index, e))
            return
        self._queue.put_nowait((index, _DONE))

    def __aiter__(self):
        return self

    async def __anext__(self) -> tuple[int, Any]:
        if self._single is not None:
            return 0, await self._single.__anext__()
        while self._left:
            index, item = await self._queue.get()
            if item is _DONE:
                self._left -= 1
                continue
            if isinstance(item, Exception):
                raise item
            return index, item
        raise StopAsyncIteration

    async def aclose(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        for it in self._iterators:
            with contextlib.suppress(Exception):
                await it.aclose()
