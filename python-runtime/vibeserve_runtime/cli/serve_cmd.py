"""`serve --stack <dir>`: the stack's OpenAI-compatible server. Prints {"event":"ready","url":…}.

A stack with its own code copy is served by that copy: this process re-executes itself with the
stack directory first on sys.path (same pid and process group, so the caller's kill still works).

The engine runs in a process of its own (server/engine_process.py, started by
server/process_core.py), which dies with this one; this process only serves HTTP. With
--engine-in-process the engine loop runs in a thread of this process instead (the layout before the
split; for debugging and A/B measurements).

The port is taken before the engine is built, so a busy port is one `port_unavailable` error at
once. When stdout is a pipe or socket (a caller reading the events, such as `vibeserve serve`) and
its reader goes away, the server stops: a killed caller leaves no orphan holding the port.
"""

from __future__ import annotations

import asyncio
import os
import select
import socket
import stat
import sys
import threading
from pathlib import Path

from .. import events
from ..materialize import load_stack_dir
from .engine_loader import build_engine, require_device


def _running_stack_code(stack_dir: Path) -> bool:
    import vibeserve_runtime

    return Path(vibeserve_runtime.__file__).resolve().parent.parent == stack_dir.resolve()


def run(args) -> int:
    stack_dir, spec = load_stack_dir(args.stack)
    require_device(args.device or spec["device"])
    if (stack_dir / "vibeserve_runtime").is_dir() and not _running_stack_code(stack_dir):
        from .candidate_process import candidate_env

        env = candidate_env(stack_dir)
        if args.api_key:
            env["VIBESERVE_API_KEY"] = args.api_key  # kept out of the process list
        argv = [
            sys.executable,
            "-m",
            "vibeserve_runtime",
            "serve",
            "--stack",
            str(stack_dir),
            "--host",
            args.host,
            "--port",
            str(args.port),
            "--max-queue",
            str(args.max_queue),
        ]
        argv += ["--device", args.device] if args.device else []
        argv += ["--served-model-name", args.served_model_name] if args.served_model_name else []
        argv += ["--max-model-len", str(args.max_model_len)] if args.max_model_len else []
        argv += ["--engine-in-process"] if getattr(args, "engine_in_process", False) else []
        sys.stdout.flush()
        os.chdir(stack_dir)
        os.execve(sys.executable, argv, env)

    import uvicorn
    from ..gc_heap import freeze_startup_heap
    from ..server.app import create_app
    from ..server.process_core import ProcessCore
    from ..server.served_context import served_spec

    sock = _listen(args.host, args.port)
    events.progress("serve", 0, 2, "building engine")
    if getattr(args, "engine_in_process", False):
        engine = build_engine(served_spec(spec, args.max_model_len), args.device, stack_dir)
    else:
        engine = ProcessCore.launch(served_spec(spec, args.max_model_len), args.device, stack_dir)
    name = args.served_model_name or spec["name"]
    app = create_app(engine, name, api_key=args.api_key, max_queue=args.max_queue)
    events.progress("serve", 1, 2, "starting HTTP server")
    server = uvicorn.Server(
        uvicorn.Config(app, host=args.host, port=args.port, log_level="warning", timeout_graceful_shutdown=5)
    )

    async def main():
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.05)
        if server.started:
            freeze_startup_heap()  # the server's own imports and app: never rescanned while it streams
            port = server.servers[0].sockets[0].getsockname()[1]
            host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
            events.emit("ready", url=f"http://{host}:{port}", model=name, pid=os.getpid())
            _stop_when_reader_leaves(server)
        await task

    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(main())
    except SystemExit:  # uvicorn exits when it cannot bind
        pass
    if not server.started:
        raise events.InfraError("server_failed", f"the HTTP server on {args.host}:{args.port} did not start")
    return events.EXIT_OK


def _loop_factory():
    """uvloop's event loop where it is installed (as `uvicorn --loop auto` would pick, and vLLM runs
    its API server on): the server's per-token work is event-loop work. Else asyncio's own."""
    try:
        import uvloop  # pyright: ignore[reportMissingImports]  # optional, not a dependency
    except ImportError:
        return None
    return uvloop.new_event_loop


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise events.UsageError(
            "port_unavailable",
            f"cannot listen on {host}:{port}: {e.strerror or e}; stop what uses it or pick another --port",
        ) from None
    return sock


def _stop_when_reader_leaves(server) -> None:
    """A pipe's write end polls POLLERR once its last reader is closed, a socket pair's (Node's
    child-process pipes) POLLHUP once its peer is: then nobody can read this server's events or
    stop it, so it shuts down gracefully."""
    fd = sys.stdout.fileno()
    mode = os.fstat(fd).st_mode
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)) or not hasattr(select, "poll"):
        return

    def watch():
        poller = select.poll()
        poller.register(fd, select.POLLERR | select.POLLHUP)
        while not poller.poll(1000):
            if server.should_exit:
                return
        server.should_exit = True

    threading.Thread(target=watch, name="stdout-reader-watch", daemon=True).start()
