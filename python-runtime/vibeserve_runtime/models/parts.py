"""The component factories a model is built with (chosen by the stack spec, see engine.registry)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass
class ModelParts:
    linear: Callable  # (weight [out, in], bias | None) -> nn.Module
    attention: Any  # backend(q, k, v, k_cache, v_cache, meta, scale) -> out
    rope: Callable  # (head_dim, max_positions, theta, scaling) -> RotaryEmbedding
    moe: Callable | None = None  # (gate, w1, w2, w3, top_k, linear) -> nn.Module
