"""`protected`: the runtime entries a candidate stack may not change (checker/integrity.py is the
authority). The TypeScript builder mounts them read-only in the sandbox and hash-checks them."""

from __future__ import annotations

from .. import events
from ..checker.integrity import PROTECTED


def run(args) -> int:
    events.result(entries=list(PROTECTED))
    return events.EXIT_OK
