"""Models built from Hugging Face configs and state dicts, and where their weights come from."""

from __future__ import annotations

from typing import Any

from .parts import ModelParts
from .presets import ARCH_OF_MODEL_TYPE, PRESETS, get_preset

_LOADING = ("find_packaged_gguf", "load_model_weights")


def __getattr__(name: str) -> Any:
    """The weight loaders import torch: a process that only reads presets (a benchmark's parent,
    before its child starts) does not pay for that import."""
    if name in _LOADING:
        from . import loading

        return getattr(loading, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_model(hf_config: dict, hf_state_dict: dict, parts: ModelParts):
    """Consumes (pops) hf_state_dict so weights are not held twice while fusing projections."""
    from .gpt2 import GPT2LMHeadModel
    from .llama import LlamaForCausalLM

    arch = ARCH_OF_MODEL_TYPE[hf_config["model_type"]]
    model = (
        GPT2LMHeadModel(hf_config, hf_state_dict, parts)
        if arch == "gpt2"
        else LlamaForCausalLM(hf_config, hf_state_dict, parts)
    )
    leftover = [k for k in hf_state_dict if not k.endswith(("rotary_emb.inv_freq", ".attn.bias", ".attn.masked_bias"))]
    if leftover:
        raise ValueError(
            f"model weights: {len(leftover)} unused tensors, e.g. {leftover[:3]}; "
            "the checkpoint does not match the config's architecture"
        )
    return model.eval()


__all__ = ["build_model", "ModelParts", "PRESETS", "get_preset"]  # and, imported on first use, _LOADING
