"""The engine process: `python -m vibeserve_runtime.server.engine_process --fd N --parent-pid P`,
started by the API server (process_core.py) with one end of a socket pair as fd N.

It builds the stack's engine, answers "ready" with what the server needs (core_protocol.EngineInfo,
the tokenizer included) and runs the engine core (engine_core.py) on the socket until told to shut
down. It dies with the server: the kernel kills it when its parent dies (PR_SET_PDEATHSIG), and an
end-of-file on the socket or a new parent ends it too, so no engine outlives its server. Its stdout
is the server's stderr: the server's stdout carries JSON events only.
"""

from __future__ import annotations

import argparse
import os
import pickle
import select
import signal
import socket
import sys
import traceback
from pathlib import Path

from .core_protocol import FrameBuffer, info_of, send_blocking


class ParentGone(Exception):
    pass


def die_with_parent(parent_pid: int) -> None:
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # it died before the line above took effect
        os._exit(0)


class SocketTransport:
    """The core's side of the socket: poll() reads every op that has arrived, emit() writes a message."""

    IDLE_WAIT_S = 1.0

    def __init__(self, sock: socket.socket, parent_pid: int):
        self.sock, self.parent_pid = sock, parent_pid
        self.frames = FrameBuffer()

    def poll(self, block: bool) -> list:
        ops: list = []
        timeout = self.IDLE_WAIT_S if block else 0.0
        while select.select([self.sock], [], [], timeout)[0]:
            data = self.sock.recv(1 << 20)
            if not data:
                raise ParentGone("the API server closed its end of the socket")
            ops += self.frames.feed(data)
            # with ops in hand take only what has already arrived (a burst of clients joins one
            # step); with half a frame, wait for its rest
            timeout = 0.0 if ops else (self.IDLE_WAIT_S if block else 0.0)
        if not ops and os.getppid() != self.parent_pid:
            raise ParentGone("the API server is gone")
        return ops

    def emit(self, msg) -> None:
        try:
            send_blocking(self.sock, msg)
        except (BrokenPipeError, ConnectionResetError) as e:
            raise ParentGone(str(e)) from None


def _vibe_fields(e: BaseException) -> dict | None:
    from ..events import VibeError

    return {"kind": e.kind, "reason": e.reason, "extra": e.extra} if isinstance(e, VibeError) else None


def _ready_info(engine) -> object:
    info = info_of(engine, engine.stats(), os.getpid())
    try:
        pickle.dumps(info.tokenizer)
    except Exception:  # noqa: BLE001 - the server then loads it itself from the spec and this meta
        info.tokenizer = {"rebuild_from_meta": dict(engine.meta)}
    return info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fd", type=int, required=True)
    ap.add_argument("--parent-pid", type=int, required=True)
    args = ap.parse_args(argv)
    die_with_parent(args.parent_pid)
    # the server decides when to stop (Ctrl-C reaches the whole process group); a SIGTERM aimed at
    # this process still ends it, through SystemExit so that atexit hooks (tensor-parallel workers) run
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    from .. import events

    events.redirect_prints()
    sock = socket.socket(fileno=args.fd)
    from .core_protocol import recv_blocking

    config = recv_blocking(sock)
    if config is None:
        return 0
    _, spec, device, stack_dir = config
    try:
        from ..cli.engine_loader import build_engine

        engine = build_engine(spec, device, Path(stack_dir) if stack_dir else None)
        info = _ready_info(engine)
    except BaseException as e:  # noqa: BLE001 - every start-up failure goes back to the server
        traceback.print_exc(file=sys.stderr)
        send_blocking(sock, ("start_failed", type(e).__name__, str(e), _vibe_fields(e)))
        return 1
    transport = SocketTransport(sock, args.parent_pid)
    try:
        send_blocking(sock, ("ready", info))
        import torch
        from .engine_core import EngineCore

        with torch.inference_mode():
            EngineCore(engine).run(transport.poll, transport.emit)
    except ParentGone:
        return 0
    except Exception as e:  # an engine failure: the server answers 503 from now on
        traceback.print_exc(file=sys.stderr)
        try:
            transport.emit(("fatal", f"{type(e).__name__}: {e}"))
        except ParentGone:
            pass
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
