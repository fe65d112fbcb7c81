"""`materialize --spec <stack.json|inline json> --out <dir>`."""

from __future__ import annotations

import json
from pathlib import Path

from .. import events
from ..materialize import materialize


def read_json_arg(value: str, what: str) -> tuple[dict, Path | None]:
    """A JSON argument is either inline JSON or a path to a JSON file (→ base dir for relative paths)."""
    if value.lstrip().startswith("{"):
        try:
            return json.loads(value), None
        except json.JSONDecodeError as e:
            raise events.UsageError("bad_spec", f"{what}: inline JSON does not parse: {e}")
    p = Path(value).expanduser()
    if not p.is_file():
        raise events.UsageError("bad_spec", f"{what}: file {p} not found")
    try:
        return json.loads(p.read_text()), p.resolve().parent
    except json.JSONDecodeError as e:
        raise events.UsageError("bad_spec", f"{what}: {p} is not valid JSON: {e}")


def run(args) -> int:
    raw, base = read_json_arg(args.spec, "--spec")
    events.progress("materialize", 0, 2, "validating spec")
    res = materialize(raw, Path(args.out), base_dir=base)
    events.progress("materialize", 2, 2, f"wrote {res['files']} files")
    events.result(**res)
    return events.EXIT_OK
