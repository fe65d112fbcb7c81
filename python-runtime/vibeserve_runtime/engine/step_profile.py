"""Where a decode step's time goes: inside the model's forward passes, or on the host around them.

The host share of a decode step (scheduling, batch building, waiting for and handling the sampled
tokens) is what multi-step decode and CUDA graphs pay once per several tokens instead of once per
token, so the search reads it to decide whether such choices are worth a candidate. Only pure decode
steps count: a step with prompt tokens is dominated by its prefill. The forward's span is timed with
CUDA events on a GPU (read once the step's sampled tokens reached the host, so timing adds no
wait) and with the host clock on a CPU, where the forward runs synchronously.

Under async scheduling a step() call reads the tokens of the step launched by the call before it,
so a call counts when it reads a decode step and launches another; its wall time is then about the
larger of the host's work and the device's, and the host share is the part of the step the device
spends without a forward to run.
"""

from __future__ import annotations

import time

import torch


class ForwardSpan:
    """The span of one step's forward passes: CUDA events on a GPU, the host clock on a CPU. Each
    launched step has its own, so under async scheduling a step's span is read when its tokens are,
    after the next step was launched."""

    def __init__(self, device: torch.device):
        self._events = (
            (torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
            if device.type == "cuda"
            else None
        )
        self._t0 = self._seconds = 0.0

    def start(self) -> None:
        if self._events:
            self._events[0].record()
        else:
            self._t0 = time.perf_counter()

    def stop(self) -> None:
        if self._events:
            self._events[1].record()
        else:
            self._seconds = time.perf_counter() - self._t0

    def seconds(self) -> float:
        """Read after the step's sampled tokens reached the host: its events have passed, no wait."""
        if self._events:
            start, end = self._events
            end.synchronize()
            return start.elapsed_time(end) / 1e3
        return self._seconds


class DecodeStepProfile:
    def __init__(self, device: torch.device):
        self.device = device
        self.steps = 0  # decode scheduler steps timed (a multi-step step counts once)
        self.tokens = 0  # decode positions computed in them (batch size × steps run)
        self.wall_s = 0.0
        self.forward_s = 0.0
        self._t0 = 0.0

    def begin_step(self) -> None:
        self._t0 = time.perf_counter()

    def forward_span(self) -> ForwardSpan:
        return ForwardSpan(self.device)

    def end_step(self, tokens: int, span: ForwardSpan) -> None:
        """Counts the step as a decode step; call after its sampled tokens reached the host."""
        self.forward_s += span.seconds()
        self.wall_s += time.perf_counter() - self._t0
        self.steps += 1
        self.tokens += tokens

    def snapshot(self) -> dict:
        return {"steps": self.steps, "tokens": self.tokens, "wall_s": self.wall_s, "forward_s": self.forward_s}


def host_share_between(before: dict, after: dict) -> dict:
    """The profile of the decode steps run between two snapshots (empty when none ran)."""
    steps = after["steps"] - before["steps"]
    wall = after["wall_s"] - before["wall_s"]
    if steps <= 0 or wall <= 0:
        return {}
    forward = after["forward_s"] - before["forward_s"]
    tokens = after["tokens"] - before["tokens"]
    return {
        "decode_host_share": round(min(1.0, max(0.0, 1 - forward / wall)), 4),
        "decode_step_ms": round(1e3 * wall / steps, 4),
        "decode_ms_per_token": round(1e3 * wall / max(1, tokens), 5),
    }
