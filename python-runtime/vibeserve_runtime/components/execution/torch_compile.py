"""torch.compile of the decode step (dynamic batch size); prefill chunks stay eager so their varying
lengths do not trigger recompiles."""

from __future__ import annotations

import torch

from .inductor_isa import settle_vec_isa


class TorchCompileRunner:
    name = "torch_compile"

    def __init__(self, model, kv_cache, params: dict, device):
        self.model = model
        if torch.device(device).type == "cpu":  # Inductor compiles C++ here: its ISA probe, once per host
            settle_vec_isa()

        def decode(input_ids, meta, sample_idx):
            return model.compute_logits(model(input_ids, meta)[sample_idx])

        self.decode = torch.compile(decode, dynamic=True)

    @torch.inference_mode()
    def run(self, input_ids, meta, sample_idx):
        if meta.is_decode:
            return self.decode(input_ids, meta, sample_idx)
        return self.model.compute_logits(self.model(input_ids, meta)[sample_idx])
