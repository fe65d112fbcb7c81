"""How long a served repetition will take, and which engines a workload can afford (compare_served.py).

Projection: a warm-up pass sends the workload's own shapes at its concurrency, and its first wave
pays for compilation and graph capture. Scaling the whole pass to the repetition's size multiplies
that one-off cost (16× for 512 requests at 16 in flight), so a fast engine looked slow and was
left out. A closed-loop workload is projected from a request latency of the warmed-up part of the
pass instead: the lower quartile, which excludes the first wave whenever the pass holds two.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


def projected_repetition_s(
    latencies_s: list[float], pass_s: float, pass_requests: int, num_prompts: int, max_concurrency: int | None
) -> float:
    """Seconds one repetition of `num_prompts` requests will take, from a warm-up pass."""
    if not max_concurrency or not latencies_s:
        return pass_s * num_prompts / max(1, pass_requests)
    steady = sorted(latencies_s)[len(latencies_s) // 4]
    return steady * math.ceil(num_prompts / max_concurrency)


@dataclass
class Affordable:
    engines: dict[str, float]  # engine -> projected seconds per repetition
    skipped: dict[str, float] = field(default_factory=dict)  # engine -> its projection, left out
    reserve_released: bool = False  # the later workloads' reserve went to this one


def affordable(projected: dict[str, float], reps: int, left_s: float, reserve_s: float) -> Affordable:
    """Every engine's repetitions must fit in the time left. The time kept for later workloads is given
    up first (this workload is the headline; a later one records what it could not measure), then
    the slowest engine goes, whoever it is: no engine is favoured, so a result never lacks the peer
    for a stack's sake or the other way round."""
    out = Affordable(dict(sorted(projected.items(), key=lambda kv: kv[1])))

    def fits(reserve: float) -> bool:
        return sum(out.engines.values()) * reps <= left_s - reserve

    while out.engines and not fits(0.0 if out.reserve_released else reserve_s):
        if not out.reserve_released and reserve_s > 0 and fits(0.0):
            out.reserve_released = True
            break
        slowest = max(out.engines, key=out.engines.get)
        out.skipped[slowest] = out.engines.pop(slowest)
    return out
