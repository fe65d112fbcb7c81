"""Plain PyTorch eager execution."""

from __future__ import annotations

import torch


class EagerRunner:
    name = "eager"

    def __init__(self, model, kv_cache, params: dict, device):
        self.model = model

    @torch.inference_mode()
    def run(self, input_ids, meta, sample_idx):
        return self.model.compute_logits(self.model(input_ids, meta)[sample_idx])
