"""The messages between the API server and the engine core, and their framing on the socket pair
that joins the API process to the engine process (length-prefixed pickles, one frame a message).

API -> core:   ("add", Request) | ("abort", request_id) | ("shutdown",)
core -> API:   ("ready", EngineInfo)                      the engine is built (first frame)
             | ("start_failed", type name, message, VibeError fields or None)
             | ("step", outputs, failed, stats)          one per engine step, for every request
             | ("fatal", message)                         the engine failed; the core stops

One "step" message carries every request's new tokens of that step (vLLM v1's EngineCoreOutputs):
the cost of the channel is per step, not per token per request. An output is a tuple (request_id,
new token ids, finished, finish_reason, num_output_tokens, logprobs, prompt_logprobs, draft_counts), since
tuples pickle several times faster than dataclasses; `failed` lists (request_id, message) of
requests the engine refused; `stats` is the engine's stats() or None when it was not taken.
Both ends are the same stack's code, so pickle is safe here.
"""

from __future__ import annotations

import pickle
import socket
import struct
from dataclasses import dataclass, field
from typing import Any

from ..types import StepOutput

_HEADER = struct.Struct("!Q")


@dataclass
class EngineInfo:
    """What the API server needs of the engine without holding it."""

    tokenizer: Any
    vocab_size: int
    max_model_len: int
    max_batch_size: int
    stats: dict = field(default_factory=dict)
    pid: int | None = None  # the engine process; None when the core runs in this process


def info_of(engine, stats: dict, pid: int | None = None) -> EngineInfo:
    return EngineInfo(
        engine.tokenizer,
        int(engine.meta["vocab_size"]),
        int(engine.max_model_len),
        int(engine.spec.params.get("max_batch_size") or 16),
        stats,
        pid,
    )


def wire_output(o: StepOutput) -> tuple:
    return (
        o.request_id,
        o.new_token_ids,
        o.finished,
        o.finish_reason,
        o.num_output_tokens,
        o.logprobs,
        o.prompt_logprobs,
        o.draft_counts,
    )


def pack(msg: Any) -> bytes:
    body = pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(body)) + body


HEADER_SIZE = _HEADER.size


def body_size(header: bytes) -> int:
    return _HEADER.unpack(header)[0]


unpack = pickle.loads


class FrameBuffer:
    """Reassembles frames from whatever pieces a non-blocking read returned."""

    def __init__(self):
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Any]:
        self._buf += data
        out, pos, n = [], 0, len(self._buf)
        while n - pos >= HEADER_SIZE:
            size = _HEADER.unpack_from(self._buf, pos)[0]
            if n - pos - HEADER_SIZE < size:
                break
            start = pos + HEADER_SIZE
            out.append(pickle.loads(self._buf[start : start + size]))
            pos = start + size
        del self._buf[:pos]
        return out


def send_blocking(sock: socket.socket, msg: Any) -> None:
    sock.sendall(pack(msg))


def recv_blocking(sock: socket.socket) -> Any | None:
    """The next message, or None once the other end has closed the socket."""
    header = _recv_exactly(sock, HEADER_SIZE)
    if header is None:
        return None
    body = _recv_exactly(sock, body_size(header))
    return None if body is None else pickle.loads(body)


def _recv_exactly(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)
