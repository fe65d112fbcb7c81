"""`versions NAME...`: the installed version of each Python distribution (null when it is not
installed), so an exported stack's requirements.txt pins what the stack was verified with."""

from __future__ import annotations

import importlib.metadata as md

from .. import events


def installed_versions(names: list[str]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    return out


def run(args) -> int:
    events.result(versions=installed_versions(args.names))
    return events.EXIT_OK
