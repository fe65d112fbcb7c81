"""Static batching: fill a batch, run it until every sequence in it finishes, then take the next."""

from __future__ import annotations

from .continuous import ContinuousScheduler


class StaticScheduler(ContinuousScheduler):
    name = "static"

    def can_admit(self) -> bool:
        return not self.running
