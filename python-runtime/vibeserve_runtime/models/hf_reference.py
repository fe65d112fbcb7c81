"""Build the Hugging Face transformers model for an (HF config, HF state dict) pair.

Going through a saved directory + from_pretrained lets transformers apply its own checkpoint
conversions (e.g. v5 fuses Mixtral's per-expert w1/w3 into experts.gate_up_proj).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import torch


def save_hf_directory(hf_config: dict, hf_state_dict: dict, path: str | Path) -> Path:
    from safetensors.torch import save_file

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(hf_config, indent=1))
    save_file({k: v.detach().contiguous().cpu() for k, v in hf_state_dict.items()}, str(path / "model.safetensors"))
    return path


def build_hf_reference(hf_config: dict, hf_state_dict: dict, dtype=torch.float32):
    import transformers

    with tempfile.TemporaryDirectory() as d:
        save_hf_directory(hf_config, hf_state_dict, d)
        model = transformers.AutoModelForCausalLM.from_pretrained(d, dtype=dtype)
    return model.eval()
