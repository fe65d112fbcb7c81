"""The server's handle on the engine process (engine_process.py): vLLM's AsyncLLM / EngineCore
split. The engine steps in a process of its own, so the server's per-token work (detokenising,
JSON, SSE writes) never holds the GIL the engine loop needs, and the engine never waits for a
slow client.

launch() blocks until the engine is built (a failure re-raises the engine process's exception here,
under its own name, so `serve` classifies it as before). Then, on the server's event loop, a reader
task takes the engine's step messages off the socket, and ops go out through the loop's buffered
writer, so neither side ever blocks the other. An engine process that dies or fails ends with a
("fatal", ...) message to the server either way.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

from .core_protocol import HEADER_SIZE, EngineInfo, body_size, pack, recv_blocking, send_blocking, unpack


def _code_root() -> str:
    """The directory holding the vibeserve_runtime this server runs: the engine runs the same code
    (a stack's own copy when the server runs one)."""
    import vibeserve_runtime

    return str(Path(vibeserve_runtime.__file__).resolve().parent.parent)


def _start_error(name: str, message: str, vibe: dict | None) -> BaseException:
    if vibe is not None:
        from ..events import VibeError

        return VibeError(vibe["kind"], vibe["reason"], message, **(vibe.get("extra") or {}))
    return type(name, (RuntimeError,), {})(message)


class ProcessCore:
    def __init__(self, proc: subprocess.Popen, sock: socket.socket, info: EngineInfo):
        self.proc, self.info = proc, info
        self._sock = sock
        self._writer: asyncio.StreamWriter | None = None
        self._early: list[tuple] = []  # ops submitted before the reader connected
        self._reader_task: asyncio.Task | None = None
        self._closing = False
        atexit.register(self.kill)

    @classmethod
    def launch(cls, spec: dict, device: str | None, stack_dir: Path | None) -> "ProcessCore":
        """Starts the engine process and waits until its engine is built. Call it from the thread
        that lives as long as the server: the engine process dies with that thread's exit."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_code_root(), env.get("PYTHONPATH")) if p)
        cmd = [
            sys.executable,
            "-m",
            "vibeserve_runtime.server.engine_process",
            "--fd",
            str(theirs.fileno()),
            "--parent-pid",
            str(os.getpid()),
        ]
        proc = subprocess.Popen(cmd, pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stdout=2, env=env)
        theirs.close()
        try:
            send_blocking(ours, ("config", spec, device, str(stack_dir) if stack_dir else None))
            msg = recv_blocking(ours)
        except BaseException:
            _stop(proc, 0)
            ours.close()
            raise
        if msg is None or msg[0] != "ready":
            code = _stop(proc, 10)
            ours.close()
            if msg is not None and msg[0] == "start_failed":
                raise _start_error(*msg[1:])
            raise RuntimeError(
                f"the engine process exited with code {code} before its engine was ready (its log is above, on stderr)"
            )
        info: EngineInfo = msg[1]
        if isinstance(info.tokenizer, dict) and "rebuild_from_meta" in info.tokenizer:
            from ..tokenizers import load_tokenizer  # the engine's tokenizer does not pickle: load our own

            info.tokenizer = load_tokenizer(spec, info.tokenizer["rebuild_from_meta"])
        return cls(proc, ours, info)

    # --- on the server's event loop ------------------------------------------------------------
    async def start(self, on_message: Callable[[Any], None]) -> None:
        """Starts delivering the engine's messages to on_message, on the running event loop."""
        reader, self._writer = await asyncio.open_unix_connection(sock=self._sock)
        for op in self._early:
            self._writer.write(pack(op))
        self._early.clear()
        self._reader_task = asyncio.ensure_future(self._read(reader, on_message))

    async def _read(self, reader: asyncio.StreamReader, on_message) -> None:
        try:
            while True:
                header = await reader.readexactly(HEADER_SIZE)
                msg = unpack(await reader.readexactly(body_size(header)))
                on_message(msg)
                if msg[0] == "fatal":
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        if self._closing:
            return
        for _ in range(20):  # its exit code, when it has one
            if self.proc.poll() is not None:
                break
            await asyncio.sleep(0.05)
        code = self.proc.poll()
        on_message(
            (
                "fatal",
                f"the engine process (pid {self.proc.pid}) exited" + (f" with code {code}" if code is not None else ""),
            )
        )

    def submit(self, op: tuple) -> None:
        if self._writer is None:
            self._early.append(op)
        elif not self._writer.is_closing():
            self._writer.write(pack(op))

    async def close(self, timeout_s: float = 10.0) -> None:
        """Asks the engine to stop and waits for it; kills it past the timeout."""
        self._closing = True
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(pack(("shutdown",)))
            try:
                await asyncio.wait_for(self._writer.drain(), timeout_s)
            except (ConnectionError, asyncio.TimeoutError):
                pass
        deadline = time.monotonic() + timeout_s
        while self.proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        self.kill()
        if self._reader_task is not None:
            self._reader_task.cancel()
        if self._writer is not None:
            self._writer.close()

    def kill(self) -> None:
        """Ends the engine process now (also run at exit, whatever way the server ends): an
        end-of-file on its socket stops it between two steps, a signal if it does not stop."""
        if self.proc.poll() is None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        _stop(self.proc, 2)


def _stop(proc: subprocess.Popen, grace_s: float) -> int:
    if proc.poll() is None and grace_s:
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            pass
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()
