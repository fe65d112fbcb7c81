"""Components a stack registered from its own code must be registered in every worker rank too.

Rank 0 lists the modules (outside this package) that define the stack's chosen components; each worker
imports them from the same files before it builds its engine, which registers them there.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from ..engine.registry import DIMENSIONS, get_component

PACKAGE_DIR = Path(__file__).resolve().parents[1]


def _defining_file(factory) -> str | None:
    """The source file of a factory; its module may be absent from sys.modules (the stack loader
    executes component files without registering them there)."""
    mod = sys.modules.get(getattr(factory, "__module__", None) or "")
    if mod is not None and getattr(mod, "__file__", None):
        return mod.__file__
    members = vars(factory).values() if isinstance(factory, type) else [factory]
    for fn in members:
        code = getattr(fn, "__code__", None)
        if code is not None:
            return code.co_filename
    return None


def stack_component_modules(components: dict) -> list[dict]:
    found = {}
    for dim in DIMENSIONS:
        if dim not in components:
            continue
        factory = get_component(dim, components[dim])
        path = _defining_file(factory)
        if path and Path(path).is_file() and PACKAGE_DIR not in Path(path).resolve().parents:
            name = getattr(factory, "__module__", None) or f"vibeserve_stack_component_{dim}"
            found[path] = {"name": name, "file": path}
    return list(found.values())


def import_component_modules(modules: list[dict]) -> None:
    for m in modules:
        if m["name"] in sys.modules:
            continue
        spec = importlib.util.spec_from_file_location(m["name"], m["file"])
        if spec is None:
            raise ImportError(f"tensor parallel worker: cannot import component module {m['name']} from {m['file']}")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[m["name"]] = mod
        spec.loader.exec_module(mod)
