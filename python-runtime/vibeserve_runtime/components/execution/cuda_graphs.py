"""Decode steps replayed from CUDA graphs captured per batch-size bucket.

A decode batch of B sequences is padded up to the smallest captured bucket >= B; padding rows write
their K/V into the cache's scratch block and attend to one scratch token, so they cannot disturb real
sequences. Block tables are padded to max_model_len, making every shape static. With
params.compile_decode the captured function is first compiled by torch.compile (fusing the small
elementwise kernels between GEMMs).
"""
from __future__ import annotations

import torch

from ..attention.metadata import AttentionMetadata


class CudaGraphRunner:
    name = "cuda_graphs"

    def __init__(self, model, kv_cache, params: dict, device, emulate: bool = False):
        """emulate=True (tests only) runs the padded static-shape path eagerly instead of capturing,
        so the bucket padding and scratch-block logic can be checked on CPU."""
        device = torch.device(device)
        self.capture = device.type == "cuda" and not emulate
        if device.type != "cuda" and not emulate:
            raise ValueError(f"components.execution='cuda_graphs' needs a CUDA device; this stack runs on "
                             f"{device.type}. Use 'eager' or 'torch_compile' on CPU.")
        unsafe = sorted({type(m).__name__ for m in model.modules() if getattr(m, "graph_safe", True) is False})
        if unsafe:
            raise ValueError(f"components.execution='cuda_graphs' cannot capture {', '.join(unsafe)} (data-dependent "
                             "shapes); use moe='fused_triton' with CUDA graphs, or execution='eager'/'torch_compile'")
        self.model = model
        self.kv = kv_cache
        max_bs = params.get("max_batch_size", 16)
        self.buckets = sorted({b for b in params.get("graph_batch_sizes", [1, 2, 4, 8, 16, 32]) if b <= max_bs} | {1})
        n = self.buckets[-1]
        scratch_slot = kv_cache.scratch_block * kv_cache.block_size
        self.buf = dict(
            input_ids=torch.zeros(n, dtype=torch.long, device=device),
            positions=torch.zeros(n, dtype=torch.long, device=device),
            slot_mapping=torch.full((n,), scratch_slot, dtype=torch.long, device=device),
            block_tables=torch.full((n, kv_cache.max_blocks_per_seq), kv_cache.scratch_block, dtype=torch.long, device=device),
            context_lens=torch.ones(n, dtype=torch.long, device=device),
        )
        self.scratch_slot = scratch_slot
        self.query_lens = torch.ones(n, dtype=torch.long, device=device)
        self.arange = torch.arange(n, device=device)
        self.zeros = torch.zeros(n, dtype=torch.long, device=device)
        fn = self._forward
        if params.get("compile_decode"):
            fn = torch.compile(fn, dynamic=False)
        self.graphs, self.outputs = {}, {}
        self.fn = fn
        pool = None
        if not self.capture:
            return
        with torch.inference_mode():
            for bs in reversed(self.buckets):
                meta = self._meta(bs)
                for _ in range(2):   # warm-up (and compile) outside capture
                    fn(self.buf["input_ids"][:bs], meta)
                torch.cuda.synchronize(device)
                g = torch.cuda.CUDAGraph()
                with torch.cuda.graph(g, pool=pool):
                    self.outputs[bs] = fn(self.buf["input_ids"][:bs], meta)
                pool = g.pool()
                self.graphs[bs] = g
        torch.cuda.synchronize(device)

    def _forward(self, input_ids, meta):
        return self.model.compute_logits(self.model(input_ids, meta))

    def _meta(self, bs: int) -> AttentionMetadata:
        b = self.buf
        return AttentionMetadata(positions=b["positions"][:bs], slot_mapping=b["slot_mapping"][:bs],
                                 block_tables=b["block_tables"][:bs], context_lens=b["context_lens"][:bs],
                                 query_lens=self.query_lens[:bs], token_batch_idx=self.arange[:bs],
                                 token_q_idx=self.zeros[:bs], max_q=1)

    @torch.inference_mode()
    def run(self, input_ids, meta, sample_idx):
        B = input_ids.shape[0]
        if not meta.is_decode or B > self.buckets[-1]:
            return self.model.compute_logits(self.model(input_ids, meta)[sample_idx])
        bs = next(b for b in self.buckets if b >= B)
        b = self.buf
        b["input_ids"][:B].copy_(input_ids)
        b["positions"][:B].copy_(meta.positions)
        b["slot_mapping"][:B].copy_(meta.slot_mapping)
        b["slot_mapping"][B:bs].fill_(self.scratch_slot)
        b["context_lens"][:B].copy_(meta.context_lens)
        b["context_lens"][B:bs].fill_(1)
        b["block_tables"][:bs].fill_(self.kv.scratch_block)
        b["block_tables"][:B, :meta.block_tables.shape[1]].copy_(meta.block_tables)
        if not self.capture:
            return self.fn(b["input_ids"][:bs], self._meta(bs))[:B][sample_idx]
        self.graphs[bs].replay()
        return self.outputs[bs][:B][sample_idx]
