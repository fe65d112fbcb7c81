"""Paged decode attention at the batch-256 benchmark's shape (Llama-3-8B heads, 256 sequences, ~1100 cached
tokens in 16-token blocks scattered over the cache): checks each launch configuration against SDPA on the
gathered K/V in float32, then times it as achieved KV-read bandwidth. Also times the host side of one
256-sequence decode step's batch building.

Usage: python bench/gpu/paged_decode_sweep.py --out /tmp/paged_sweep.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python-runtime"))

from vibeserve_runtime.kernels.paged_attention import paged_attention_decode  # noqa: E402


def reference(q, k_cache, v_cache, tables, lens, scale):
    """float32 attention over each sequence's gathered K/V."""
    B, H, D = q.shape
    bs, kvh = k_cache.shape[1], k_cache.shape[2]
    out = torch.empty(B, H, D, dtype=torch.float32, device=q.device)
    for b in range(B):
        n = int(lens[b])
        j = torch.arange(n, device=q.device)
        k = k_cache[tables[b, j // bs], j % bs].float().repeat_interleave(H // kvh, 1).transpose(0, 1)
        v = v_cache[tables[b, j // bs], j % bs].float().repeat_interleave(H // kvh, 1).transpose(0, 1)
        out[b] = F.scaled_dot_product_attention(q[b].float()[:, None], k, v, scale=scale)[:, 0]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.manual_seed(0)
    B, H, KVH, D, bs = 256, 32, 8, 128, 16
    lens = torch.randint(1024, 1160, (B,), device="cuda")
    per = -(-int(lens.max()) // bs)
    nb = B * per + 64
    k = torch.randn(nb + 1, bs, KVH, D, device="cuda", dtype=torch.bfloat16)
    v = torch.randn_like(k)
    tables = torch.randperm(nb, device="cuda")[: B * per].view(B, per)
    q = torch.randn(B, H, D, device="cuda", dtype=torch.bfloat16)
    scale = D**-0.5
    kv_bytes = 2 * int(lens.sum()) * KVH * D * 2
    ref = reference(q, k, v, tables, lens, scale)
    rows = []
    for block_n, warps, stages in itertools.product((32, 64, 128), (4, 8), (2, 3, 4)):
        fn = lambda: paged_attention_decode(q, k, v, tables, lens, scale, block_n, warps, stages)  # noqa: E731
        try:
            out = torch.full_like(q, float("nan"))
            out = fn()
            err = ((out.float() - ref).norm() / ref.norm()).item()
            t = triton_bench(fn)
            rows.append(
                {
                    "block_n": block_n,
                    "num_warps": warps,
                    "num_stages": stages,
                    "rel_err": err,
                    "ms": t * 1e3,
                    "kv_read_GBps": kv_bytes / t / 1e9,
                }
            )
        except Exception as e:  # noqa: BLE001
            rows.append(
                {"block_n": block_n, "num_warps": warps, "num_stages": stages, "error": f"{type(e).__name__}: {e}"}
            )
    host = build_batch_host_time()
    Path(args.out).write_text(
        json.dumps(
            {"device": torch.cuda.get_device_name(), "kv_bytes": kv_bytes, "configs": rows, "build_batch_256": host},
            indent=1,
        )
    )
    print(f"kv bytes {kv_bytes / 1e9:.2f} GB; build_batch(256 decode seqs) host {host['ms']:.2f} ms")
    for r in sorted(rows, key=lambda r: r.get("ms", 1e9)):
        if "error" in r:
            print(r)
        else:
            print(
                f"block_n {r['block_n']:>3} warps {r['num_warps']} stages {r['num_stages']}: {r['ms']:.3f} ms "
                f"{r['kv_read_GBps']:,.0f} GB/s  rel_err {r['rel_err']:.2e}"
            )


def triton_bench(fn):
    import triton

    return triton.testing.do_bench(fn, warmup=25, rep=200, return_mode="median") / 1e3


def build_batch_host_time():
    """Host milliseconds of build_batch for 256 decoding sequences of ~1100 tokens (blocks of 16)."""
    from vibeserve_runtime.engine.batch import build_batch
    from vibeserve_runtime.engine.sequence import Sequence
    from vibeserve_runtime.types import Request, SamplingParams

    class KV:
        block_size, scratch_block = 16, 10**6

    from vibeserve_runtime.components.kv_cache.base import KVCacheBase

    KV.slot = KVCacheBase.slot
    seqs = []
    for i in range(256):
        s = Sequence(Request(f"r{i}", list(range(1100 + i % 7)), SamplingParams()), torch.device("cuda"))
        s.block_table = list(range(i * 80, i * 80 + 80))
        s.num_computed = len(s.token_ids) - 1
        seqs.append(s)
    batch = [(s, 1) for s in seqs]
    for _ in range(3):
        build_batch(batch, KV(), "cuda")
    torch.cuda.synchronize()
    ts = []
    for _ in range(20):
        t = time.perf_counter()
        build_batch(batch, KV(), "cuda")
        ts.append(time.perf_counter() - t)
    return {"ms": sorted(ts)[10] * 1e3}


if __name__ == "__main__":
    main()
