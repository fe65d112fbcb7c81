"""Workloads: seeded datasets of token prompts and request arrival times.

A workload JSON (all optional):
  {"dataset": "random"|"fixed", "num_prompts": 32, "input_len": 128, "output_len": 64,
   "range_ratio": 0.5, "request_rate": null|float, "arrival": "poisson"|"fixed",
   "max_concurrency": null|int, "warmups": 1, "repetitions": 3, "seed": 0}
random: lengths drawn uniformly in [len*(1-range_ratio), len*(1+range_ratio)] (vLLM's random
dataset); fixed: every prompt exactly input_len tokens and every output exactly output_len.
"""
from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass, fields
from typing import Any

from .. import events


@dataclass
class Workload:
    dataset: str = "random"
    num_prompts: int = 16
    input_len: int = 32
    output_len: int = 16
    range_ratio: float = 0.5
    request_rate: float | None = None       # None/inf: all requests at t=0
    arrival: str = "poisson"
    max_concurrency: int | None = None
    warmups: int = 1
    repetitions: int = 1
    seed: int = 0

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Workload":
        names = {f.name for f in fields(cls)}
        for k in d:
            if k not in names:
                raise events.UsageError("bad_workload", f"workload field '{k}' is unknown; allowed: {sorted(names)}")
        w = cls(**d)
        if w.dataset not in ("random", "fixed"):
            raise events.UsageError("bad_workload", "workload field 'dataset' must be 'random' or 'fixed'")
        if w.arrival not in ("poisson", "fixed"):
            raise events.UsageError("bad_workload", "workload field 'arrival' must be 'poisson' or 'fixed'")
        for k in ("num_prompts", "input_len", "output_len", "repetitions"):
            if not isinstance(getattr(w, k), int) or getattr(w, k) < 1:
                raise events.UsageError("bad_workload", f"workload field '{k}' must be a positive integer")
        if w.request_rate is not None and (w.request_rate <= 0 or math.isinf(w.request_rate)):
            w.request_rate = None
        return w

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class BenchRequest:
    prompt_token_ids: list[int]
    max_tokens: int


def make_requests(w: Workload, vocab_size: int, seed_offset: int = 0, avoid: set[int] | None = None) -> list[BenchRequest]:
    rng = random.Random(w.seed * 1_000_003 + seed_offset)
    avoid = avoid or set()
    reqs = []
    for _ in range(w.num_prompts):
        if w.dataset == "fixed":
            n_in, n_out = w.input_len, w.output_len
        else:
            lo = lambda n: max(1, int(n * (1 - w.range_ratio)))
            hi = lambda n: max(1, int(n * (1 + w.range_ratio)))
            n_in, n_out = rng.randint(lo(w.input_len), hi(w.input_len)), rng.randint(lo(w.output_len), hi(w.output_len))
        ids = []
        while len(ids) < n_in:
            t = rng.randrange(vocab_size)
            if t not in avoid:
                ids.append(t)
        reqs.append(BenchRequest(ids, n_out))
    return reqs


def arrival_offsets(w: Workload, n: int, seed_offset: int = 0) -> list[float]:
    """Seconds after the start at which each request is sent (vLLM: Poisson = exponential gaps)."""
    if w.request_rate is None:
        return [0.0] * n
    rng = random.Random(w.seed * 7919 + 17 + seed_offset)
    t, out = 0.0, []
    for _ in range(n):
        out.append(t)
        t += rng.expovariate(w.request_rate) if w.arrival == "poisson" else 1.0 / w.request_rate
    return out
