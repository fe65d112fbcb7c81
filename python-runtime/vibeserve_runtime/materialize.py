"""Stack spec → self-contained stack directory (stack.json + a copy of the runtime code + serve.sh).

A stack directory is what check/bench/serve load. Its `vibeserve_runtime/` copy is the code the
candidate runs, so a builder may add or change components there; the trusted parts (reference,
checker, bench, cli, events, the spec's validation) are hash-checked against the installed runtime
(see checker/integrity.py).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from .events import UsageError
from .stack_spec import PACKAGE_DIR, bad_spec, normalize_spec

# params that name files: copied into <stack>/assets/ so that the stack directory is self-contained
TOKENIZER_FILE_PARAMS = ("tokenizer_path",)
_IGNORED = ("__pycache__", "*.pyc", "*.pyo", "tests", ".pytest_cache", "*.egg-info", ".mypy_cache")


def spec_hash(spec: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def file_hashes(root: Path) -> dict[str, str]:
    """sha256 of every file under root (relative posix path → hex), skipping caches."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if (
            p.is_file()
            and not any(part == "__pycache__" or part.endswith(".egg-info") for part in rel.parts)
            and p.suffix not in (".pyc", ".pyo")
        ):
            out[rel.as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def tree_hash(hashes: dict[str, str]) -> str:
    return hashlib.sha256("".join(f"{k}\0{v}\n" for k, v in sorted(hashes.items())).encode()).hexdigest()


SERVE_SH = """#!/usr/bin/env bash
# Serve this stack as an OpenAI-compatible HTTP server: ./serve.sh [--host H] [--port P] [--api-key K]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${VIBESERVE_PYTHON:-python3}"
export PYTHONPATH="$HERE${PYTHONPATH:+:$PYTHONPATH}"
exec "$PY" -m vibeserve_runtime serve --stack "$HERE" "$@"
"""


def materialize(
    spec_raw: dict[str, Any], out_dir: Path, base_dir: Path | None = None, source_package: Path = PACKAGE_DIR
) -> dict[str, Any]:
    spec = normalize_spec(spec_raw, base_dir)
    out_dir = Path(out_dir)
    if out_dir.exists() and (out_dir / "stack.json").exists():
        # Re-materializing replaces the code copy; anything else in the directory is left alone.
        shutil.rmtree(out_dir / "vibeserve_runtime", ignore_errors=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source_package, out_dir / "vibeserve_runtime", ignore=shutil.ignore_patterns(*_IGNORED))

    for key in TOKENIZER_FILE_PARAMS:
        src = spec["params"].get(key)
        if not src:
            continue
        p = Path(src).expanduser()
        if not p.is_absolute() and base_dir is not None:
            p = base_dir / p
        if not p.exists():
            raise bad_spec(f"params.{key}", f"{p} does not exist")
        dst = out_dir / "assets" / p.name
        dst.parent.mkdir(exist_ok=True)
        (shutil.copytree if p.is_dir() else shutil.copy2)(p, dst, **({"dirs_exist_ok": True} if p.is_dir() else {}))
        spec["params"][key] = f"assets/{p.name}"

    (out_dir / "stack.json").write_text(json.dumps(spec, indent=2) + "\n")
    serve = out_dir / "serve.sh"
    serve.write_text(SERVE_SH)
    serve.chmod(0o755)
    code = file_hashes(out_dir / "vibeserve_runtime")
    shash = spec_hash(spec)
    manifest = {"spec_hash": shash, "code_hash": tree_hash(code), "files": code}
    (out_dir / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return {
        "stack_dir": str(out_dir.resolve()),
        "spec_hash": shash,
        "code_hash": manifest["code_hash"],
        "files": len(code) + 3,
    }


def load_stack_dir(stack: str | Path) -> tuple[Path, dict[str, Any]]:
    """Resolve --stack (a directory or its stack.json) → (stack_dir, normalized spec)."""
    p = Path(stack).expanduser().resolve()
    spec_path = p if p.is_file() else p / "stack.json"
    if not spec_path.exists():
        raise UsageError("bad_spec", f"no stack.json at {spec_path}; run `materialize --spec ... --out {p}` first")
    try:
        raw = json.loads(spec_path.read_text())
    except json.JSONDecodeError as e:
        raise UsageError("bad_spec", f"{spec_path} is not valid JSON: {e}")
    spec = normalize_spec(raw, spec_path.parent)
    for key in TOKENIZER_FILE_PARAMS:  # assets are stored relative to the stack directory
        if spec["params"].get(key):
            spec["params"][key] = resolve_asset(spec_path.parent, spec["params"][key])
    return spec_path.parent, spec


def resolve_asset(stack_dir: Path, value: str | None) -> str | None:
    """A params path relative to the stack directory (as materialize writes them) → absolute."""
    if not value:
        return None
    p = Path(value).expanduser()
    return str(p if p.is_absolute() else (stack_dir / p))
