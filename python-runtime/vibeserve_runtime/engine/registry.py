"""Component registry: (dimension, name) -> factory.

Dimensions are those of design_space.json plus `rope` (the rotary-embedding class, so a test can swap in
a deliberately wrong one). What a factory receives depends on its dimension:

    attention   factory() -> backend(q, k, v, k_cache, v_cache, meta, scale) -> out
    kv_cache    factory(ctx: BuildContext) -> KVCacheBase
    scheduler   factory(kv_cache, params: dict) -> SchedulerBase
    execution   factory(model, kv_cache, params: dict, device) -> runner with .run(input_ids, meta, sample_idx)
    linear      factory(weight [out, in], bias | None) -> nn.Module
    moe         factory(gate, w1, w2, w3, top_k, linear) -> nn.Module
    sampling    factory() -> sampler(logits, seqs) -> list[int]
    rope        factory(head_dim, max_positions, theta, scaling) -> nn.Module like models.rope.RotaryEmbedding
    speculation factory(params: dict) -> proposer with .propose(seq, k) -> list[int], or None (no drafts)
    structured_output factory(tokenizer, vocab_size, eos_token_id) -> backend (components/structured_output)

A choice outside design_space.json enters a stack under a name starting with `custom_` (the stack
schema's rule) and is built from what is registered here under that name: that is how a new
implementation (or a broken one in a test) enters a stack. `rope` is not searched, so any name
registered for it may be chosen.
"""

from __future__ import annotations

from typing import Callable

DIMENSIONS = (
    "attention",
    "kv_cache",
    "scheduler",
    "execution",
    "linear",
    "moe",
    "sampling",
    "rope",
    "speculation",
    "structured_output",
)

_REGISTRY: dict[str, dict[str, Callable]] = {d: {} for d in DIMENSIONS}


def register_component(dimension: str, name: str, factory: Callable, replace: bool = True) -> None:
    if dimension not in _REGISTRY:
        raise ValueError(f"unknown component dimension {dimension!r}; known: {', '.join(DIMENSIONS)}")
    if name in _REGISTRY[dimension] and not replace:
        raise ValueError(f"component {dimension}={name!r} is already registered")
    _REGISTRY[dimension][name] = factory


def unregister_component(dimension: str, name: str) -> None:
    _REGISTRY.get(dimension, {}).pop(name, None)


def get_component(dimension: str, name: str) -> Callable:
    _ensure_builtins()
    try:
        return _REGISTRY[dimension][name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY.get(dimension, {}))) or "none"
        raise ValueError(f"components.{dimension}: no implementation named {name!r} (registered: {known})") from None


def registered(dimension: str) -> list[str]:
    _ensure_builtins()
    return sorted(_REGISTRY.get(dimension, {}))


_loaded = False


def _ensure_builtins() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        from . import builtin_components  # noqa: F401  (registers on import)
