"""The parts a candidate may not change: its copy must hash-equal the installed runtime's own."""

from __future__ import annotations

from pathlib import Path

from ..materialize import PACKAGE_DIR, file_hashes

# Code only: the design space and schema are data the trusted process reads from its own copy.
PROTECTED = (
    "reference",
    "checker",
    "bench",
    "cli",
    "events.py",
    "__main__.py",
    "materialize.py",
    "stack_spec.py",
    "model_shape.py",
)


def _protected(hashes: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in hashes.items() if k.split("/")[0] in PROTECTED}


def integrity_report(stack_dir: Path, trusted_root: Path = PACKAGE_DIR) -> dict:
    code = Path(stack_dir) / "vibeserve_runtime"
    if not code.is_dir():
        return {"passed": True, "changed": [], "detail": "no code copy: the installed runtime runs this stack"}
    mine, theirs = _protected(file_hashes(trusted_root)), _protected(file_hashes(code))
    changed = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
    return {
        "passed": not changed,
        "changed": changed,
        "detail": "protected files identical to the installed runtime"
        if not changed
        else f"protected files differ from the installed runtime: {', '.join(changed[:8])}",
    }
