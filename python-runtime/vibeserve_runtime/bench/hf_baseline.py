"""The naive baseline: transformers `generate`, one request at a time, on the stack's model."""

from __future__ import annotations

import time

import torch

from .metrics import RequestRecord
from .workload import BenchRequest


class _TokenClock:
    """A generate() streamer that timestamps every new token (the first put() is the prompt)."""

    def __init__(self):
        self.times: list[float] = []
        self._prompt_seen = False

    def put(self, value):
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        self.times.append(time.perf_counter())

    def end(self):
        pass


def build_baseline_model(model_spec: dict, device: str):
    from ..models.loading import torch_dtype
    from ..reference.hf_model import build_hf_model, load_weights

    cfg, sd, _ = load_weights(model_spec)
    return build_hf_model(cfg, sd, torch_dtype(model_spec["dtype"]), device)


@torch.inference_mode()
def run_hf_generate(model, reqs: list[BenchRequest], device: str) -> tuple[list[RequestRecord], float]:
    recs = []
    t0 = time.perf_counter()
    for r in reqs:
        clock = _TokenClock()
        ids = torch.tensor([r.prompt_token_ids], device=device)
        start = time.perf_counter()
        out = model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=r.max_tokens,
            min_new_tokens=r.max_tokens,
            do_sample=False,
            streamer=clock,
            pad_token_id=_pad_id(model),
        )
        if device == "cuda":
            torch.cuda.synchronize()
        end = time.perf_counter()
        n_out = out.shape[1] - ids.shape[1]
        rec = RequestRecord(
            prompt_tokens=len(r.prompt_token_ids), output_tokens=n_out, e2el_s=end - start, success=n_out > 0
        )
        if clock.times:
            rec.ttft_s = clock.times[0] - start
            rec.itl_s = [b - a for a, b in zip(clock.times, clock.times[1:])]
        recs.append(rec)
    return recs, time.perf_counter() - t0


def _pad_id(model) -> int:
    eos = model.config.eos_token_id
    return (eos[0] if isinstance(eos, list) else eos) or 0
