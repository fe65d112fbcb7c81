"""Stack spec → self-contained stack directory (stack.json + a copy of the runtime code + serve.sh).

A stack directory is what check/bench/serve load. Its `vibeserve_runtime/` copy is the code the
candidate runs, so a builder may add or change components there; the trusted parts (reference,
checker, bench, cli, events) are hash-checked against the installed runtime (see checker/integrity.py).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from .events import UsageError
from .model_shape import model_config, model_shape, presets_without_torch, serves_problem

PACKAGE_DIR = Path(__file__).resolve().parent
DESIGN_SPACE_PATH = PACKAGE_DIR / "design_space.json"
STACK_SCHEMA_PATH = PACKAGE_DIR / "stack_schema.json"
ARCHES = ("llama", "gpt2", "mixtral")  # Qwen2/SmolLM2 are llama-family presets
WEIGHTS = ("random", "path", "gguf")
DTYPES = ("float32", "float16", "bfloat16")
DEVICES = ("cpu", "cuda")
# params that name files: copied into <stack>/assets/ so that the stack directory is self-contained
TOKENIZER_FILE_PARAMS = ("tokenizer_path",)
ALIASES = {"sampling": {"standard": "sort_based", "greedy": "sort_based"}}  # names used by older stack files
_IGNORED = ("__pycache__", "*.pyc", "*.pyo", "tests", ".pytest_cache", "*.egg-info", ".mypy_cache")


def design_space() -> dict[str, Any]:
    return json.loads(DESIGN_SPACE_PATH.read_text())


def _bad(field: str, message: str) -> Exception:
    return UsageError("bad_spec", f"stack spec field '{field}': {message}", field=field)


def normalize_spec(raw: dict[str, Any], base_dir: Path | None = None) -> dict[str, Any]:
    """Validate a stack spec against design_space.json and fill in every default.

    Raises a usage error (reason bad_spec) that names the offending field.
    """
    if not isinstance(raw, dict):
        raise _bad("<root>", "must be a JSON object")
    ds = design_space()
    known_top = {"name", "model", "components", "params", "device", "custom_components"}
    for key in raw:
        if key not in known_top:
            raise _bad(key, f"unknown field; allowed: {sorted(known_top)}")

    name = raw.get("name", "stack")
    if not isinstance(name, str) or not name:
        raise _bad("name", "must be a non-empty string")

    m = raw.get("model")
    if not isinstance(m, dict):
        raise _bad("model", 'missing or not an object; e.g. {"arch": "llama", "preset": "tiny-llama"}')
    arch = m.get("arch")
    if arch not in ARCHES:
        raise _bad("model.arch", f"got {arch!r}; expected one of {list(ARCHES)}")
    weights = m.get("weights", "random")
    if weights not in WEIGHTS:
        raise _bad("model.weights", f"got {weights!r}; expected one of {list(WEIGHTS)}")
    path = m.get("path")
    if weights != "random":
        if not path:
            raise _bad("model.path", f"required when weights is {weights!r}")
        p = Path(path).expanduser()
        if not p.is_absolute() and base_dir is not None:
            p = (base_dir / p).resolve()
        if not p.exists():
            raise UsageError(
                "missing_model",
                f"stack spec field 'model.path': {p} does not exist; "
                "point it at a safetensors/Hugging Face directory or a .gguf file",
                field="model.path",
            )
        path = str(p)
    dtype = m.get("dtype", "float32")
    if dtype not in DTYPES:
        raise _bad("model.dtype", f"got {dtype!r}; expected one of {list(DTYPES)}")
    config = m.get("config", {}) or {}
    if not isinstance(config, dict):
        raise _bad("model.config", "must be an object of config overrides")
    if not m.get("preset") and not config and weights == "random":
        raise _bad("model.preset", "a random-weight model needs a preset or a config")
    if m.get("preset"):
        PRESETS = presets_without_torch()
        if m["preset"] not in PRESETS:
            raise _bad("model.preset", f"unknown preset {m['preset']!r}; known: {sorted(PRESETS)}")
    seed = m.get("seed", 0)
    if not isinstance(seed, int):
        raise _bad("model.seed", "must be an integer")
    model = {
        "arch": arch,
        "preset": m.get("preset"),
        "config": config,
        "weights": weights,
        "path": path,
        "seed": seed,
        "dtype": dtype,
    }

    comps_raw = raw.get("components", {}) or {}
    if not isinstance(comps_raw, dict):
        raise _bad("components", "must be an object mapping dimension → choice")
    components: dict[str, str] = {}
    for dim, info in ds["dimensions"].items():
        if dim == "tp":
            continue
        choice = comps_raw.get(dim, info["default"])
        choice = ALIASES.get(dim, {}).get(choice, choice)
        if not isinstance(choice, str) or not choice:
            raise _bad(f"components.{dim}", "must be a string naming a choice")
        # A name outside the library is allowed only in the custom_ namespace, which a builder
        # registers from code inside the stack directory (see custom_components).
        if choice not in info["choices"] and not choice.startswith("custom_"):
            raise _bad(
                f"components.{dim}",
                f"unknown choice {choice!r}; expected one of "
                f"{sorted(info['choices'])} or 'custom_<name>' registered by the stack's code",
            )
        components[dim] = choice
    for dim in comps_raw:
        if dim not in ds["dimensions"]:
            raise _bad(f"components.{dim}", f"unknown dimension; known: {sorted(ds['dimensions'])}")
    tp = str(comps_raw.get("tp", ds["dimensions"]["tp"]["default"]))
    if tp not in ds["dimensions"]["tp"]["choices"]:
        raise _bad("components.tp", f"got {tp!r}; expected one of {sorted(ds['dimensions']['tp']['choices'])}")
    components["tp"] = tp

    params_raw = raw.get("params", {}) or {}
    if not isinstance(params_raw, dict):
        raise _bad("params", "must be an object")
    params = {k: v["default"] for k, v in ds["params"].items()}
    for k, v in params_raw.items():
        spec = ds["params"].get(k)
        if spec is not None:
            ok = {
                "int": lambda x: isinstance(x, int) and not isinstance(x, bool) and x > 0,
                "bool": lambda x: isinstance(x, bool),
                "int[]": lambda x: isinstance(x, list) and x and all(isinstance(i, int) and i > 0 for i in x),
            }[spec["type"]](v)
            if not ok:
                raise _bad(f"params.{k}", f"expected {spec['type']} (e.g. {spec['default']!r}), got {v!r}")
        params[k] = v
    for k in ("max_model_len", "kv_cache_tokens"):
        if k in params and (not isinstance(params[k], int) or isinstance(params[k], bool) or params[k] <= 0):
            raise _bad(f"params.{k}", "must be a positive integer")

    device = raw.get("device", "cpu")
    if device not in DEVICES:
        raise _bad("device", f"got {device!r}; expected one of {list(DEVICES)}")
    _check_constraints(ds, components, device, model)
    _check_param_constraints(ds, components, params)

    out = {"name": name, "model": model, "components": components, "params": params, "device": device}
    if raw.get("custom_components"):
        out["custom_components"] = raw["custom_components"]
    _validate_schema(out)
    return out


def _validate_schema(spec: dict[str, Any]) -> None:
    """The shared JSON schema (also used by the TypeScript builder) has the last word."""
    if not STACK_SCHEMA_PATH.exists():
        return
    import jsonschema

    schema = json.loads(STACK_SCHEMA_PATH.read_text())
    errs = sorted(jsonschema.Draft7Validator(schema).iter_errors(spec), key=lambda e: list(e.absolute_path))
    if errs:
        e = errs[0]
        field = ".".join(str(x) for x in e.absolute_path) or "<root>"
        raise _bad(field, e.message)


def _check_constraints(ds: dict, components: dict[str, str], device: str, model: dict) -> None:
    for c in ds.get("constraints", []):
        if c.get("onlyForArch") and model.get("arch") not in c["onlyForArch"]:
            continue
        if all(components.get(d) == v for d, v in c["if"].items()):
            for d, allowed in c["then"].items():
                if components.get(d) not in allowed:
                    raise _bad(
                        f"components.{d}", f"constraint {c['id']}: must be one of {allowed} when {c['if']} ({c['why']})"
                    )
    cfg = model_config(model)
    shape = model_shape(cfg) if cfg else None
    for dim, choice in components.items():
        info = ds["dimensions"][dim]["choices"].get(choice, {})
        req = info.get("requires", {})
        if req.get("device") and req["device"] != device:
            raise _bad(f"components.{dim}", f"{choice!r} requires device {req['device']!r}, stack device is {device!r}")
        # a component offered only for the models it is known to work on (design_space.json `serves`)
        problem = serves_problem(info["serves"], model["arch"], shape) if info.get("serves") else None
        if problem:
            raise _bad(f"components.{dim}", f"{dim}={choice!r} {problem}")
    if model["dtype"] != "float32" and device == "cpu" and model["dtype"] == "float16":
        raise _bad("model.dtype", "float16 is not supported on cpu; use float32 or bfloat16")


def _check_param_constraints(ds: dict, components: dict[str, str], params: dict[str, Any]) -> None:
    """A constraint's thenParams: the values its choices allow a param (speculation verifies on the
    host before the next step, so it runs with neither async scheduling nor multi-step decode)."""
    for c in ds.get("constraints", []):
        if c.get("thenParams") and all(components.get(d) == v for d, v in c["if"].items()):
            for k, allowed in c["thenParams"].items():
                if params.get(k) not in allowed:
                    raise _bad(
                        f"params.{k}",
                        f"constraint {c['id']}: must be one of {allowed} when {c['if']} "
                        f"({c['why']}); got {params.get(k)!r}",
                    )


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
            raise _bad(f"params.{key}", f"{p} does not exist")
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
