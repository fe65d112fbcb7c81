"""Stack specs: load stack.json, fill defaults, and validate against design_space.json.

Every problem is a ValueError naming the offending field, e.g.
"components.execution='cuda_graphs' needs device cuda; this stack's device is 'cpu'".
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path

from ..models.loading import as_model_spec
from ..types import StackSpec
from .registry import get_component, registered

DESIGN_SPACE_PATH = Path(__file__).resolve().parent.parent / "design_space.json"

# params the engine reads beyond the searchable ones in design_space.json
ENGINE_PARAMS = {
    "max_model_len": (int, None),  # default: the model's max positions, capped at 4096
    "kv_cache_tokens": (int, None),  # paged pool size; default from GPU memory, or max_batch * max_len
    "gpu_memory_utilization": (float, 0.85),
    "compile_decode": (bool, False),  # cuda_graphs: torch.compile the captured step
    "tokenizer_path": (str, None),  # read by tokenizers.load_tokenizer
}
# names used by older stack files
ALIASES = {"sampling": {"standard": "sort_based", "greedy": "sort_based"}}
NOT_COMPONENTS = {"tokenizer", "tp"}  # chosen by scenario / launcher, not built by the engine
# GPU-only Triton choices that TRITON_INTERPRET=1 can run on CPU tensors (slowly; for tests)
INTERPRETABLE = {("attention", "triton_paged")}


@lru_cache(maxsize=1)
def design_space() -> dict:
    return json.loads(DESIGN_SPACE_PATH.read_text())


def load_stack_spec(path_or_dict) -> StackSpec:
    """A StackSpec from a stack.json path, a stack directory, a dict, or a StackSpec; validated."""
    if isinstance(path_or_dict, StackSpec):
        spec = path_or_dict
    else:
        data = path_or_dict
        if isinstance(data, (str, Path)):
            p = Path(data)
            if p.is_dir():
                p = p / "stack.json"
            if not p.is_file():
                raise ValueError(f"stack spec: {p} does not exist")
            try:
                data = json.loads(p.read_text())
            except json.JSONDecodeError as e:
                raise ValueError(f"stack spec: {p} is not valid JSON ({e})") from None
        if not isinstance(data, dict):
            raise ValueError("stack spec: expected a JSON object")
        unknown = set(data) - set(StackSpec.__dataclass_fields__)
        if unknown:
            raise ValueError(f"stack spec: unknown field(s) {sorted(unknown)}")
        for f in ("name", "model"):
            if f not in data:
                raise ValueError(f"stack spec: missing field {f!r}")
        spec = StackSpec(
            name=data["name"],
            model=as_model_spec(data["model"]),
            components=dict(data.get("components") or {}),
            params=dict(data.get("params") or {}),
            device=data.get("device", "cpu"),
        )
    return normalize_spec(spec)


def normalize_spec(spec: StackSpec) -> StackSpec:
    """Validate and fill defaults; returns a new StackSpec."""
    ds = design_space()
    dims = ds["dimensions"]
    model = as_model_spec(spec.model)
    device = str(spec.device)
    if device.split(":")[0] not in ("cpu", "cuda"):
        raise ValueError(f"device: {device!r} is not 'cpu' or 'cuda'")
    comps = {}
    for dim, choice in spec.components.items():
        choice = ALIASES.get(dim, {}).get(choice, choice)
        if dim in NOT_COMPONENTS:
            comps[dim] = choice
            if dim == "tp":
                comps[dim] = choice = str(choice)
                _check_tp(choice, dims["tp"], device)
            continue
        if dim not in dims and dim != "rope":
            raise ValueError(f"components.{dim}: unknown dimension; known: {', '.join(sorted(dims))}")
        if choice not in dims.get(dim, {}).get("choices", {}) and choice not in registered(dim):
            known = sorted(set(dims.get(dim, {}).get("choices", {})) | set(registered(dim)))
            raise ValueError(f"components.{dim}={choice!r}: unknown choice; choose one of {', '.join(known)}")
        comps[dim] = choice
    for dim, d in dims.items():
        comps.setdefault(dim, d["default"])
    comps.setdefault("rope", "standard")

    for dim, choice in comps.items():
        req = dims.get(dim, {}).get("choices", {}).get(choice, {}).get("requires", {})
        if req.get("device") == "cuda" and not device.startswith("cuda"):
            if (dim, choice) in INTERPRETABLE and os.environ.get("TRITON_INTERPRET") == "1":
                continue
            raise ValueError(f"components.{dim}={choice!r} needs device cuda; this stack's device is {device!r}")
        if "min_compute_capability" in req and device.startswith("cuda"):
            import torch

            if torch.cuda.is_available():
                cc = torch.cuda.get_device_capability(torch.device(device))
                if cc[0] + cc[1] / 10 < req["min_compute_capability"]:
                    raise ValueError(
                        f"components.{dim}={choice!r} needs compute capability >= "
                        f"{req['min_compute_capability']}, this GPU has {cc[0]}.{cc[1]}"
                    )

    for c in ds.get("constraints", []):
        if c.get("onlyForArch") and model.arch not in c["onlyForArch"]:
            continue
        if all(comps.get(k) == v for k, v in c["if"].items()):
            for k, allowed in c.get("then", {}).items():
                if comps.get(k) not in allowed:
                    cond = ", ".join(f"{k2}={v2!r}" for k2, v2 in c["if"].items())
                    raise ValueError(
                        f"components.{k}={comps.get(k)!r} violates constraint {c['id']}: with {cond} "
                        f"it must be one of {allowed} ({c.get('why', '')})"
                    )

    params = {}
    known = {**{k: (v["type"], v.get("default")) for k, v in ds.get("params", {}).items()}, **ENGINE_PARAMS}
    for k, v in spec.params.items():
        if k not in known:
            raise ValueError(f"params.{k}: unknown parameter; known: {', '.join(sorted(known))}")
        params[k] = v if v is None else _check_param(k, v, known[k][0])
    for k, (_, default) in known.items():
        params.setdefault(k, default)
    for c in ds.get("constraints", []):  # thenParams: speculation runs without async scheduling or multi-step
        if c.get("thenParams") and all(comps.get(k) == v for k, v in c["if"].items()):
            for k, allowed in c["thenParams"].items():
                if params.get(k) not in allowed:
                    cond = ", ".join(f"{k2}={v2!r}" for k2, v2 in c["if"].items())
                    raise ValueError(
                        f"params.{k}={params.get(k)!r} violates constraint {c['id']}: with {cond} "
                        f"it must be one of {allowed} ({c.get('why', '')})"
                    )
    if comps["scheduler"] != "chunked_prefill" and params["max_num_batched_tokens"] < 1:
        raise ValueError("params.max_num_batched_tokens must be >= 1")
    for dim in ("attention", "kv_cache", "scheduler", "execution", "linear", "moe", "sampling", "rope", "speculation"):
        get_component(dim, comps[dim])  # fails early, naming the field, if nothing implements it
    return StackSpec(name=spec.name, model=model, components=comps, params=params, device=device)


def _check_tp(choice: str, dim: dict, device: str) -> None:
    """tp > 1 runs one process per GPU (NCCL), or processes sharing the CPU (gloo)."""
    if choice not in dim["choices"]:
        raise ValueError(f"components.tp={choice!r}: unknown choice; choose one of {', '.join(dim['choices'])}")
    need = dim["choices"][choice].get("requires", {}).get("min_devices", 1)
    if need > 1 and device.startswith("cuda"):
        import torch

        have = torch.cuda.device_count()
        if have < need:
            raise ValueError(
                f"components.tp={choice!r} needs {need} GPUs on this host; PyTorch sees {have}. "
                "Use tp='1', or run on a host with more GPUs"
            )


def _check_param(name, value, typ):
    ok = {
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0,
        int: lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0,
        "bool": lambda v: isinstance(v, bool),
        bool: lambda v: isinstance(v, bool),
        float: lambda v: isinstance(v, (int, float)) and 0 < v <= 1,
        str: lambda v: isinstance(v, str) and v,
        "int[]": lambda v: isinstance(v, list) and v and all(isinstance(x, int) and x > 0 for x in v),
    }[typ]
    if not ok(value):
        want = {
            "int": "a positive integer",
            int: "a positive integer",
            "bool": "true or false",
            bool: "true or false",
            float: "a number in (0, 1]",
            str: "a non-empty string",
            "int[]": "a non-empty list of positive integers",
        }[typ]
        raise ValueError(f"params.{name}={value!r}: expected {want}")
    return value


def spec_to_dict(spec: StackSpec) -> dict:
    return asdict(spec)
