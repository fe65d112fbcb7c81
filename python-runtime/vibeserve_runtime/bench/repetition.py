"""One timed repetition: passes over request sets until their timed durations reach the minimum.

A repetition of a few hundred milliseconds is mostly noise (a scheduler tick, a cache miss, a
neighbour's burst); repeating fresh seeded request sets until `min_duration_s` of timed work has
run makes every repetition long enough to mean something. Pass 0 is always run; the time between
passes (building the next set) is not counted.
"""

from __future__ import annotations

from typing import Any, Callable

MAX_PASSES = 1000  # a bound for passes that take (almost) no time


def repeat_until(min_duration_s: float, run_pass: Callable[[int], dict[str, Any]]) -> list[dict[str, Any]]:
    """run_pass(k) runs pass k and returns its observations with `duration_s`; → every pass run."""
    passes: list[dict[str, Any]] = []
    timed = 0.0
    while not passes or (timed < min_duration_s and len(passes) < MAX_PASSES):
        p = run_pass(len(passes))
        passes.append(p)
        timed += float(p["duration_s"])
    return passes
