"""The model facts that the design space's `serves` rules read (head_dim, head counts, MLP width),
from a stack spec's model without torch or weights: its preset or its config.json, with the spec's
config overrides on top, as models/loading.py resolves them. materialize.py checks every choice
against them, so a component is never built for a model it does not serve."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def presets_without_torch() -> dict:
    # presets.py alone, without importing the models package (and torch): materialize stays fast
    spec = importlib.util.spec_from_file_location("_vibeserve_presets", PACKAGE_DIR / "models" / "presets.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.PRESETS


def model_config(model: dict) -> dict | None:
    """The Hugging Face config a normalized model spec resolves to; None where it cannot be read
    without loading the model (a GGUF file)."""
    if model.get("weights", "random") == "random":
        base = dict(presets_without_torch().get(model.get("preset") or "", {}))
    elif model.get("weights") == "path" and model.get("path") and (Path(model["path"]) / "config.json").is_file():
        base = json.loads((Path(model["path"]) / "config.json").read_text())
    else:
        return None
    return {**base, **(model.get("config") or {})}


def model_shape(cfg: dict) -> dict[str, int]:
    """The shape facts a `serves` rule may bound, in Hugging Face's Llama names (GPT-2's mapped);
    a fact the config does not determine is left out."""
    if cfg.get("model_type") == "gpt2" or "n_embd" in cfg:
        hidden, heads = cfg.get("n_embd"), cfg.get("n_head")
        facts = {
            "num_attention_heads": heads,
            "num_key_value_heads": heads,
            "intermediate_size": cfg.get("n_inner") or (4 * hidden if hidden else None),
        }
    else:
        hidden, heads = cfg.get("hidden_size"), cfg.get("num_attention_heads")
        facts = {
            "num_attention_heads": heads,
            "num_key_value_heads": cfg.get("num_key_value_heads") or heads,
            "intermediate_size": cfg.get("intermediate_size"),
        }
    facts["head_dim"] = cfg.get("head_dim") or (hidden // heads if hidden and heads else None)
    return {k: int(v) for k, v in facts.items() if v}


def serves_problem(serves: dict, arch: str, shape: dict[str, int] | None) -> str | None:
    """Why a choice with this `serves` rule cannot serve the model, or None. Facts the shape does not
    know (None: nothing known) are not held against the choice."""
    if serves.get("arch") and arch not in serves["arch"]:
        return f"serves {', '.join(serves['arch'])} models, not {arch}"
    for fact, bound in (serves.get("shape") or {}).items():
        v = (shape or {}).get(fact)
        if v is None:
            continue
        if v < bound.get("min", v) or v > bound.get("max", v):
            return f"serves {fact} {bound.get('min', '')}..{bound.get('max', '')}, the model has {fact}={v}"
        if v % bound.get("multiple_of", 1):
            return f"needs {fact} a multiple of {bound['multiple_of']}, the model has {fact}={v}"
    return None
