"""Decode steps replayed from CUDA graphs captured per batch-size bucket.

A decode batch of B sequences is padded up to the smallest captured bucket >= B; padding rows write
their K/V into the cache's scratch block and attend to one scratch token, so they cannot disturb real
sequences. Block tables are padded to max_model_len, making every shape static. With
params.compile_decode the captured function is first compiled by torch.compile (fusing the small
elementwise kernels between GEMMs).

capture_cap (an engine-construction option, not a design param): the largest decode batch the
process will run. check and bench know their load, so they capture only the buckets up to the
smallest one >= it; a larger decode batch runs eagerly, as one above the largest bucket always
does. None (serve, which cannot know its load) captures every bucket.
"""

from __future__ import annotations

import time

import torch

from ..attention.metadata import AttentionMetadata


class CudaGraphRunner:
    name = "cuda_graphs"

    def __init__(self, model, kv_cache, params: dict, device, emulate: bool = False, capture_cap: int | None = None):
        """emulate=True (tests only) runs the padded static-shape path eagerly instead of capturing,
        so the bucket padding and scratch-block logic can be checked on CPU. After construction,
        captured_buckets lists the buckets replayed (emulated: run padded), capture_s the wall
        seconds their capture took (0 when nothing was captured) and first_forward_s the part of it
        that the very first forward took."""
        device = torch.device(device)
        self.capture = device.type == "cuda" and not emulate
        if device.type != "cuda" and not emulate:
            raise ValueError(
                f"components.execution='cuda_graphs' needs a CUDA device; this stack runs on "
                f"{device.type}. Use 'eager' or 'torch_compile' on CPU."
            )
        unsafe = sorted({type(m).__name__ for m in model.modules() if getattr(m, "graph_safe", True) is False})
        if unsafe:
            raise ValueError(
                f"components.execution='cuda_graphs' cannot capture {', '.join(unsafe)} (data-dependent "
                "shapes); use moe='fused_triton' with CUDA graphs, or execution='eager'/'torch_compile'"
            )
        self.model = model
        self.kv = kv_cache
        max_bs = params.get("max_batch_size", 16)
        self.buckets = sorted({b for b in params.get("graph_batch_sizes", [1, 2, 4, 8, 16, 32]) if b <= max_bs} | {1})
        if capture_cap is not None:
            top = next((b for b in self.buckets if b >= capture_cap), self.buckets[-1])
            self.buckets = [b for b in self.buckets if b <= top]
        self.captured_buckets = list(self.buckets)
        self.capture_s = 0.0
        self.first_forward_s = 0.0  # the part of capture_s that the first forward took
        n = self.buckets[-1]
        scratch_slot = kv_cache.scratch_block * kv_cache.block_size
        # rows: input ids, positions, slot mapping, context lens (the layout of meta.decode_inputs)
        self.inputs = torch.zeros(4, n, dtype=torch.long, device=device)
        self.inputs[2].fill_(scratch_slot)
        self.inputs[3].fill_(1)
        self.block_tables = torch.full(
            (n, kv_cache.max_blocks_per_seq), kv_cache.scratch_block, dtype=torch.long, device=device
        )
        self.scratch_slot = scratch_slot
        self.query_lens = torch.ones(n, dtype=torch.long, device=device)
        self.arange = torch.arange(n, device=device)
        self.zeros = torch.zeros(n, dtype=torch.long, device=device)
        fn = self._forward
        if params.get("compile_decode"):
            # one specialization per bucket; the default limit (8) would silently drop the rest to eager
            torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, len(self.buckets) + 4)
            fn = torch.compile(fn, dynamic=False)
        self.graphs, self.outputs = {}, {}
        self.fn = fn
        pool = None
        if not self.capture:
            return
        t0 = time.perf_counter()
        with torch.inference_mode():
            for bs in reversed(self.buckets):
                meta = self._meta(bs)
                for _ in range(2):  # warm-up (and compile) outside capture
                    fn(self.inputs[0, :bs], meta)
                    if not self.first_forward_s:  # kernels loaded or compiled, libraries initialised
                        torch.cuda.synchronize(device)
                        self.first_forward_s = time.perf_counter() - t0
                torch.cuda.synchronize(device)
                g = torch.cuda.CUDAGraph()
                with torch.cuda.graph(g, pool=pool):
                    self.outputs[bs] = fn(self.inputs[0, :bs], meta)
                pool = g.pool()
                self.graphs[bs] = g
        torch.cuda.synchronize(device)
        self.capture_s = time.perf_counter() - t0

    def _forward(self, input_ids, meta):
        return self.model.compute_logits(self.model(input_ids, meta))

    def _meta(self, bs: int) -> AttentionMetadata:
        x = self.inputs
        return AttentionMetadata(
            positions=x[1, :bs],
            slot_mapping=x[2, :bs],
            block_tables=self.block_tables[:bs],
            context_lens=x[3, :bs],
            query_lens=self.query_lens[:bs],
            token_batch_idx=self.arange[:bs],
            token_q_idx=self.zeros[:bs],
            max_q=1,
        )

    def _stage(self, input_ids, meta) -> int:
        """Copies a decode batch into the static inputs; returns the bucket it is padded to."""
        B = input_ids.shape[0]
        bs = next(b for b in self.buckets if b >= B)
        x = self.inputs
        if meta.decode_inputs is not None:
            x[:, :B].copy_(meta.decode_inputs)
        else:
            for row, t in enumerate((input_ids, meta.positions, meta.slot_mapping, meta.context_lens)):
                x[row, :B].copy_(t)
        if B < bs:  # padding rows: K/V to the scratch slot, attend to one scratch token
            x[2, B:bs].fill_(self.scratch_slot)
            x[3, B:bs].fill_(1)
            self.block_tables[B:bs, 0].fill_(self.kv.scratch_block)
        # columns past a row's context are never read (the kernels mask by context length, and any stale
        # entry is still a valid block id), so only the live part of the table is refreshed
        self.block_tables[:B, : meta.block_tables.shape[1]].copy_(meta.block_tables)
        return bs

    def _captured(self, input_ids, meta) -> bool:
        return meta.is_decode and input_ids.shape[0] <= self.buckets[-1]

    @staticmethod
    def _rows(logits, B: int, sample_idx):
        # a decode batch samples every row, in order
        return logits[:B] if sample_idx.shape[0] == B else logits[:B][sample_idx]

    @torch.inference_mode()
    def run(self, input_ids, meta, sample_idx):
        if not self._captured(input_ids, meta):
            return self.model.compute_logits(self.model(input_ids, meta)[sample_idx])
        bs = self._stage(input_ids, meta)
        if self.capture:
            self.graphs[bs].replay()
            logits = self.outputs[bs]
        else:
            logits = self.fn(self.inputs[0, :bs], self._meta(bs))
        return self._rows(logits, input_ids.shape[0], sample_idx)

    @torch.inference_mode()
    def forward_uncaptured(self, input_ids, meta, sample_idx):
        """The forward a replay would run, launched op by op (the component profile times its kernels)."""
        if not self._captured(input_ids, meta):
            return self.run(input_ids, meta, sample_idx)
        bs = self._stage(input_ids, meta)
        return self._rows(self.fn(self.inputs[0, :bs], self._meta(bs)), input_ids.shape[0], sample_idx)
