"""The engine's stack spec: a StackSpec from a stack.json path, a stack directory, a dict, or a StackSpec.

stack_spec.normalize_spec validates it and fills its defaults; this adds what only the process that
builds the engine knows: a device index (cuda:1 for a tensor-parallel rank), the `rope` dimension
(registry only, so a test can swap in a wrong RoPE), defaults of the params the engine derives, and
whether this host can run every choice (registered implementation, compute capability, GPU count).
Every problem is a ValueError naming the offending field.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from ..events import VibeError
from ..stack_spec import ENGINE_PARAMS, design_space, normalize_spec
from ..types import ModelSpec, StackSpec
from .registry import DIMENSIONS, get_component

# dimensions the engine builds that the design space does not search: name → default
ENGINE_ONLY_DIMENSIONS = {"rope": "standard"}


def load_stack_spec(path_or_dict) -> StackSpec:
    """A StackSpec from a stack.json path, a stack directory, a dict, or a StackSpec; validated."""
    data = _as_dict(path_or_dict)
    base_device, _, device_index = str(data.get("device", "cpu")).partition(":")
    components = dict(data.get("components") or {})
    engine_only = {dim: components.pop(dim, default) for dim, default in ENGINE_ONLY_DIMENSIONS.items()}
    try:
        spec = normalize_spec(
            {**data, "device": base_device, "components": components},
            triton_interpreted=os.environ.get("TRITON_INTERPRET") == "1",
            written_stack=False,
        )
    except VibeError as e:
        raise ValueError(e.message) from None
    device = f"{base_device}:{device_index}" if device_index else base_device
    engine_params = {k: default for k, (_, default) in ENGINE_PARAMS.items()}
    out = StackSpec(
        name=spec["name"],
        model=ModelSpec(**spec["model"]),
        components={**spec["components"], **engine_only},
        params={**engine_params, **spec["params"]},
        device=device,
    )
    _check_runnable_here(out)
    return out


def _as_dict(path_or_dict) -> dict[str, Any]:
    if isinstance(path_or_dict, StackSpec):
        return asdict(path_or_dict)
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
    if is_dataclass(data.get("model")):
        data = {**data, "model": asdict(data["model"])}
    return data


def _check_runnable_here(spec: StackSpec) -> None:
    """What the spec alone cannot tell: an implementation for every choice, and this host's GPUs."""
    dims = design_space()["dimensions"]
    for dim in DIMENSIONS:
        get_component(dim, spec.components[dim])  # fails early, naming the field, if nothing implements it
    if not spec.device.startswith("cuda"):
        return
    import torch

    tp = spec.components["tp"]
    need_gpus = dims["tp"]["choices"][tp].get("requires", {}).get("min_devices", 1)
    if need_gpus > 1 and torch.cuda.device_count() < need_gpus:
        raise ValueError(
            f"components.tp={tp!r} needs {need_gpus} GPUs on this host; PyTorch sees {torch.cuda.device_count()}. "
            "Use tp='1', or run on a host with more GPUs"
        )
    if not torch.cuda.is_available():
        return  # Engine.from_spec says so, naming the device
    for dim, choice in spec.components.items():
        need_cc = dims.get(dim, {}).get("choices", {}).get(choice, {}).get("requires", {}).get("min_compute_capability")
        if need_cc is not None:
            cc = torch.cuda.get_device_capability(torch.device(spec.device))
            if cc[0] + cc[1] / 10 < need_cc:
                raise ValueError(
                    f"components.{dim}={choice!r} needs compute capability >= {need_cc}, this GPU has {cc[0]}.{cc[1]}"
                )


def spec_to_dict(spec: StackSpec) -> dict:
    return asdict(spec)
