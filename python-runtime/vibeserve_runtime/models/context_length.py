"""A model's context length (max positions) read from its config alone, without loading weights:
the server decides its context before the engine is built."""

from __future__ import annotations

import json
from pathlib import Path

from .loading import as_model_spec, find_packaged_gguf
from .presets import get_preset


def model_context_length(model_spec) -> int | None:
    """max_position_embeddings (n_positions for GPT-2) of the model a spec names; None if unknown."""
    spec = as_model_spec(model_spec)
    if spec.weights == "random":
        cfg = get_preset(spec.preset) if spec.preset else {}
    elif spec.weights == "path":
        cfg = json.loads((Path(spec.path) / "config.json").read_text())
    elif spec.weights == "gguf":
        import gguf

        from .gguf_loading import _field

        reader = gguf.GGUFReader(str(spec.path or find_packaged_gguf()))
        cfg = {"max_position_embeddings": _field(reader, f"{_field(reader, 'general.architecture')}.context_length")}
    else:
        return None
    cfg = {**cfg, **spec.config}
    n = cfg.get("max_position_embeddings") or cfg.get("n_positions")
    return int(n) if n else None
