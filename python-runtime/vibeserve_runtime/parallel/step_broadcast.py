"""Rank 0 sends each forward pass's inputs to the other ranks; they run the same pass on their shard.

Only the runner is wrapped: the scheduler, KV-block bookkeeping and sampling exist on rank 0 alone,
and the block tables it computes index every rank's cache (all caches have the same block count).
"""

from __future__ import annotations

from dataclasses import fields, replace

import torch
import torch.distributed as dist


def _host_copy(t: torch.Tensor) -> torch.Tensor:
    # the batch's tensors are views of one flat buffer; pickling a view would ship the whole buffer
    return t.cpu() if t.is_cuda else t.clone()


def _to(meta, convert):
    moved = {
        f.name: convert(getattr(meta, f.name)) for f in fields(meta) if isinstance(getattr(meta, f.name), torch.Tensor)
    }
    return replace(meta, **moved)


def _broadcast(obj, tp):
    box = [obj]
    dist.broadcast_object_list(box, src=0, group=tp.control)
    return box[0]


def _pass_of(runner, uncaptured: bool):
    # a profiled pass runs outside the CUDA graphs (engine/component_profile.py); every rank must
    # take the same path, or their collectives would not pair up
    return getattr(runner, "forward_uncaptured", runner.run) if uncaptured else runner.run


class BroadcastingRunner:
    """Rank 0's runner: ships (input_ids, meta, sample_idx) to the workers, then runs its own shard."""

    def __init__(self, inner, tp):
        self.inner, self.tp = inner, tp
        self.name = getattr(inner, "name", type(inner).__name__)

    def run(self, input_ids, meta, sample_idx, uncaptured: bool = False):
        _broadcast((_host_copy(input_ids), _to(meta, _host_copy), _host_copy(sample_idx), uncaptured), self.tp)
        return _pass_of(self.inner, uncaptured)(input_ids, meta, sample_idx)

    def forward_uncaptured(self, input_ids, meta, sample_idx):
        return self.run(input_ids, meta, sample_idx, uncaptured=True)

    def stop_workers(self):
        _broadcast(None, self.tp)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def serve_steps(runner, tp) -> int:
    """A worker's loop: run every pass rank 0 sends until it sends None; returns the passes run."""
    n = 0
    while True:
        msg = _broadcast(None, tp)
        if msg is None:
            return n
        input_ids, meta, sample_idx, uncaptured = msg
        dev = tp.device
        _pass_of(runner, uncaptured)(input_ids.to(dev), _to(meta, lambda t: t.to(dev)), sample_idx.to(dev))
        n += 1
