"""A stack spec (stack.json): validated against design_space.json and stack_schema.json, with every
default filled. materialize writes what this returns, every verb reads a stack back through it, and
the engine builds from it (engine/spec.py adds what only the running process knows).

Torch-free, so that materialize stays fast. Every problem is a usage error (reason bad_spec) naming
the offending field, e.g. "stack spec field 'components.execution': 'cuda_graphs' needs device cuda;
this stack's device is 'cpu'".
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from .events import UsageError
from .model_shape import model_config, model_shape, presets_without_torch, serves_problem

PACKAGE_DIR = Path(__file__).resolve().parent
DESIGN_SPACE_PATH = PACKAGE_DIR / "design_space.json"
STACK_SCHEMA_PATH = PACKAGE_DIR / "stack_schema.json"
TOP_LEVEL_FIELDS = ("name", "model", "components", "params", "device", "custom_components")
MODEL_FIELDS = ("arch", "preset", "config", "weights", "path", "seed", "dtype")
ARCHES = ("llama", "gpt2", "mixtral")  # Qwen2/SmolLM2 are llama-family presets
ARCH_ALIASES = {"qwen2": "llama", "mistral": "llama"}  # Hugging Face model types run by the llama code
WEIGHTS = ("random", "path", "gguf")
DTYPES = ("float32", "float16", "bfloat16")
DEVICES = ("cpu", "cuda")
# params the engine reads beyond the searchable ones in design_space.json: (type, default);
# a None default means the engine derives the value (see each comment)
ENGINE_PARAMS: dict[str, tuple[str, Any]] = {
    "max_model_len": ("int", None),  # the model's max positions, capped at 4096
    "kv_cache_tokens": ("int", None),  # paged pool size: from GPU memory, or max_batch * max_len
    "gpu_memory_utilization": ("float", 0.85),
    "tokenizer_path": ("str", None),  # read by tokenizers.load_tokenizer
}
# names used by older stack files
ALIASES = {"sampling": {"standard": "sort_based", "greedy": "sort_based"}}
# GPU-only Triton choices that TRITON_INTERPRET=1 can run on CPU tensors (slowly; for tests)
INTERPRETABLE = {("attention", "triton_paged"), ("attention", "triton_cascade")}
_PARAM_CHECKS = {
    "int": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0, "a positive integer"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "float": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 1, "a number in (0, 1]"),
    "str": (lambda v: isinstance(v, str) and v != "", "a non-empty string"),
    "int[]": (
        lambda v: (
            isinstance(v, list) and v and all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in v)
        ),
        "a non-empty list of positive integers",
    ),
}


def gpu_memory_utilization_of(spec: dict) -> float:
    """The share of free GPU memory the stack sizes its KV pool from (its param, else the default)."""
    return float(spec["params"].get("gpu_memory_utilization") or ENGINE_PARAMS["gpu_memory_utilization"][1])


@lru_cache(maxsize=1)
def design_space() -> dict[str, Any]:
    return json.loads(DESIGN_SPACE_PATH.read_text())


def param_types() -> dict[str, tuple[str, Any]]:
    """Every param a stack may set: name → (type, default)."""
    searchable = {k: (v["type"], v["default"]) for k, v in design_space()["params"].items()}
    return {**searchable, **ENGINE_PARAMS}


def bad_spec(field: str, message: str) -> Exception:
    """The usage error for a stack spec field, naming it."""
    return UsageError("bad_spec", f"stack spec field '{field}': {message}", field=field)


def normalize_spec(
    raw: dict[str, Any], base_dir: Path | None = None, triton_interpreted: bool = False, written_stack: bool = True
) -> dict[str, Any]:
    """Validate a stack spec against design_space.json and fill in every default.

    base_dir resolves a relative model.path. triton_interpreted: the caller runs Triton under
    TRITON_INTERPRET=1, so the INTERPRETABLE choices may run on CPU (a stack written to disk never
    depends on the writer's environment, so materialize leaves it off). written_stack: the spec is a
    stack written for the search, so it is held to stack_schema.json (its params' offered values) and
    must name its weight files; the in-process engine takes any well-typed value (tests use 4-token
    blocks) and may be handed its weights directly.
    """
    if not isinstance(raw, dict):
        raise bad_spec("<root>", "must be a JSON object")
    for key in raw:
        if key not in TOP_LEVEL_FIELDS:
            raise bad_spec(key, f"unknown field; allowed: {list(TOP_LEVEL_FIELDS)}")
    name = raw.get("name", "stack")
    if not isinstance(name, str) or not name:
        raise bad_spec("name", "must be a non-empty string")
    model = _normalize_model(raw.get("model"), base_dir, written_stack)
    device = raw.get("device", "cpu")
    if device not in DEVICES:
        raise bad_spec("device", f"got {device!r}; expected one of {list(DEVICES)}")
    components = _normalize_components(raw.get("components", {}) or {})
    params = _normalize_params(raw.get("params", {}) or {})

    _check_constraints(components, model)
    _check_device_requirements(components, device, model, triton_interpreted)
    _check_param_constraints(components, params)

    out = {"name": name, "model": model, "components": components, "params": params, "device": device}
    if raw.get("custom_components"):
        out["custom_components"] = raw["custom_components"]
    if written_stack:
        _validate_schema(out)
    return out


def _normalize_model(m: Any, base_dir: Path | None, written_stack: bool = True) -> dict[str, Any]:
    if not isinstance(m, dict):
        raise bad_spec("model", 'missing or not an object; e.g. {"arch": "llama", "preset": "tiny-llama"}')
    for key in m:
        if key not in MODEL_FIELDS:
            raise bad_spec(f"model.{key}", f"unknown field; allowed: {list(MODEL_FIELDS)}")
    arch = ARCH_ALIASES.get(m.get("arch"), m.get("arch"))
    if arch not in ARCHES:
        raise bad_spec("model.arch", f"got {arch!r}; expected one of {list(ARCHES)}")
    weights = m.get("weights", "random")
    if weights not in WEIGHTS:
        raise bad_spec("model.weights", f"got {weights!r}; expected one of {list(WEIGHTS)}")
    path = m.get("path")
    if weights != "random" and (path or written_stack):
        if not path:
            raise bad_spec("model.path", f"required when weights is {weights!r}")
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
        raise bad_spec("model.dtype", f"got {dtype!r}; expected one of {list(DTYPES)}")
    config = m.get("config", {}) or {}
    if not isinstance(config, dict):
        raise bad_spec("model.config", "must be an object of config overrides")
    if not m.get("preset") and not config and weights == "random":
        raise bad_spec("model.preset", "a random-weight model needs a preset or a config")
    if m.get("preset"):
        presets = presets_without_torch()
        if m["preset"] not in presets:
            raise bad_spec("model.preset", f"unknown preset {m['preset']!r}; known: {sorted(presets)}")
    seed = m.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise bad_spec("model.seed", "must be an integer")
    return {
        "arch": arch,
        "preset": m.get("preset"),
        "config": config,
        "weights": weights,
        "path": path,
        "seed": seed,
        "dtype": dtype,
    }


def _normalize_components(comps_raw: Any) -> dict[str, str]:
    if not isinstance(comps_raw, dict):
        raise bad_spec("components", "must be an object mapping dimension → choice")
    dims = design_space()["dimensions"]
    for dim in comps_raw:
        if dim not in dims:
            raise bad_spec(f"components.{dim}", f"unknown dimension; known: {sorted(dims)}")
    components: dict[str, str] = {}
    for dim, info in dims.items():
        if dim == "tp":
            continue
        choice = comps_raw.get(dim, info["default"])
        choice = ALIASES.get(dim, {}).get(choice, choice)
        if not isinstance(choice, str) or not choice:
            raise bad_spec(f"components.{dim}", "must be a string naming a choice")
        # A name outside the library is allowed only in the custom_ namespace, which a builder
        # registers from code inside the stack directory (see custom_components).
        if choice not in info["choices"] and not choice.startswith("custom_"):
            raise bad_spec(
                f"components.{dim}",
                f"unknown choice {choice!r}; expected one of "
                f"{sorted(info['choices'])} or 'custom_<name>' registered by the stack's code",
            )
        components[dim] = choice
    tp = str(comps_raw.get("tp", dims["tp"]["default"]))
    if tp not in dims["tp"]["choices"]:
        raise bad_spec("components.tp", f"unknown choice {tp!r}; expected one of {sorted(dims['tp']['choices'])}")
    components["tp"] = tp
    return components


def _normalize_params(params_raw: Any) -> dict[str, Any]:
    """Defaults of the searchable params are filled in; an engine param left out stays out, so that
    the engine derives it."""
    if not isinstance(params_raw, dict):
        raise bad_spec("params", "must be an object")
    known = param_types()
    params = {k: v["default"] for k, v in design_space()["params"].items()}
    for k, v in params_raw.items():
        if k not in known:
            raise bad_spec(f"params.{k}", f"unknown parameter; known: {sorted(known)}")
        if v is None and k in ENGINE_PARAMS and ENGINE_PARAMS[k][1] is None:
            continue  # null: the engine derives it
        ok, want = _PARAM_CHECKS[known[k][0]]
        if not ok(v):
            raise bad_spec(f"params.{k}", f"expected {want}, got {v!r}")
        params[k] = v
    return params


def _check_constraints(components: dict[str, str], model: dict) -> None:
    for c in design_space().get("constraints", []):
        if c.get("onlyForArch") and model["arch"] not in c["onlyForArch"]:
            continue
        if all(components.get(d) == v for d, v in c["if"].items()):
            for d, allowed in c.get("then", {}).items():
                if components.get(d) not in allowed:
                    raise bad_spec(
                        f"components.{d}",
                        f"constraint {c['id']}: must be one of {allowed} when {c['if']} ({c['why']}); "
                        f"got {components.get(d)!r}",
                    )


def _check_device_requirements(components: dict[str, str], device: str, model: dict, triton_interpreted: bool) -> None:
    dims = design_space()["dimensions"]
    cfg = model_config(model)
    shape = model_shape(cfg) if cfg else None
    for dim, choice in components.items():
        info = dims[dim]["choices"].get(choice, {})
        needs = info.get("requires", {}).get("device")
        if needs and needs != device and not (triton_interpreted and (dim, choice) in INTERPRETABLE):
            raise bad_spec(f"components.{dim}", f"{choice!r} needs device {needs}; this stack's device is {device!r}")
        # a component offered only for the models it is known to work on (design_space.json `serves`)
        problem = serves_problem(info["serves"], model["arch"], shape) if info.get("serves") else None
        if problem:
            raise bad_spec(f"components.{dim}", f"{dim}={choice!r} {problem}")
    if device == "cpu" and model["dtype"] == "float16":
        raise bad_spec("model.dtype", "float16 is not supported on cpu; use float32 or bfloat16")


def _check_param_constraints(components: dict[str, str], params: dict[str, Any]) -> None:
    """A constraint's thenParams: the values its choices allow a param (speculation verifies on the
    host before the next step, so it runs with neither async scheduling nor multi-step decode)."""
    for c in design_space().get("constraints", []):
        if c.get("thenParams") and all(components.get(d) == v for d, v in c["if"].items()):
            for k, allowed in c["thenParams"].items():
                if params.get(k) not in allowed:
                    raise bad_spec(
                        f"params.{k}",
                        f"constraint {c['id']}: must be one of {allowed} when {c['if']} "
                        f"({c['why']}); got {params.get(k)!r}",
                    )


@lru_cache(maxsize=1)
def _schema_validator():
    import jsonschema

    return jsonschema.Draft7Validator(json.loads(STACK_SCHEMA_PATH.read_text()))


def _validate_schema(spec: dict[str, Any]) -> None:
    """The shared JSON schema (also used by the TypeScript builder) has the last word."""
    if not STACK_SCHEMA_PATH.exists():
        return
    errs = sorted(_schema_validator().iter_errors(spec), key=lambda e: list(e.absolute_path))
    if errs:
        e = errs[0]
        field = ".".join(str(x) for x in e.absolute_path) or "<root>"
        raise bad_spec(field, e.message)
