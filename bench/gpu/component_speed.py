"""Speed of each dimension's implementations on the GPU, one figure each (fails soft per figure).

  linear_decode    one decode-sized GEMV (M=1) and M=16 of the Llama-3-8B shapes: native bf16 vs
                   int8_weight_only (Triton) vs fp8 (_scaled_mm), as achieved weight-read bandwidth
  paged_attention  decode attention over 256 sequences x 1024 tokens (8B shape): SDPA over gathered K/V
                   vs the Triton paged kernel, as achieved KV-read bandwidth
  moe              Mixtral-8x7B layer shape, 16 and 256 tokens: per-expert loop vs fused Triton grouped GEMM
  engine_decode    tiny end-to-end check: mixtral-8x7b-shape (2 layers) batch-8 decode tokens/s: loop, fused_triton, fused_triton + CUDA graphs

Usage: python bench/gpu/component_speed.py --out bench/results/component_speed_h100.json
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
import traceback
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python-runtime"))

from vibeserve_runtime.components.attention.metadata import AttentionMetadata  # noqa: E402
from vibeserve_runtime.components.attention.sdpa import sdpa_from_cache  # noqa: E402
from vibeserve_runtime.components.linear.int8_weight_only import Int8WeightOnlyLinear  # noqa: E402
from vibeserve_runtime.components.linear.native import NativeLinear  # noqa: E402
from vibeserve_runtime.components.moe.loop import LoopMoE  # noqa: E402
from vibeserve_runtime.kernels.paged_attention import paged_attention_decode  # noqa: E402


def bench(fn, iters=50):
    """Median seconds per call, timed with CUDA events over a short loop."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(5):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(iters):
            fn()
        b.record()
        torch.cuda.synchronize()
        ts.append(a.elapsed_time(b) / 1e3 / iters)
    return sorted(ts)[2]


def linear_decode():
    from vibeserve_runtime.components.linear.fp8 import Fp8Linear

    out = {}
    for name, (n, k) in {
        "qkv": (6144, 4096),
        "o": (4096, 4096),
        "gate_up": (28672, 4096),
        "down": (4096, 14336),
    }.items():
        w = torch.randn(n, k, device="cuda", dtype=torch.bfloat16) * 0.02
        layers = {"native": NativeLinear(w), "int8_weight_only": Int8WeightOnlyLinear(w)}
        try:
            layers["fp8"] = Fp8Linear(w)
        except Exception as e:  # noqa: BLE001
            out.setdefault("errors", {})[f"fp8 {name}"] = str(e)
        for m in (1, 16):
            x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
            ref = layers["native"](x).float()
            for lname, layer in layers.items():
                t = bench(lambda: layer(x))
                wbytes = n * k * {"native": 2, "int8_weight_only": 1, "fp8": 1}[lname]
                err = ((layer(x).float() - ref).norm() / ref.norm()).item()
                out[f"{name} M={m} {lname}"] = {
                    "us": t * 1e6,
                    "weight_read_GBps": wbytes / t / 1e9,
                    "speedup_vs_native": None,
                    "rel_error_vs_native": err,
                }
            base = out[f"{name} M={m} native"]["us"]
            for lname in layers:
                out[f"{name} M={m} {lname}"]["speedup_vs_native"] = base / out[f"{name} M={m} {lname}"]["us"]
    return out


def paged_attention():
    B, ctx, H, KVH, D, bs = 256, 1024, 32, 8, 128, 16
    nb = B * ctx // bs
    k = torch.randn(nb + 1, bs, KVH, D, device="cuda", dtype=torch.bfloat16)
    v = torch.randn_like(k)
    tables = torch.randperm(nb, device="cuda").view(B, ctx // bs)
    lens = torch.full((B,), ctx, device="cuda")
    q = torch.randn(B, H, D, device="cuda", dtype=torch.bfloat16)
    ar = torch.arange(B, device="cuda")
    meta = AttentionMetadata(
        positions=lens - 1,
        slot_mapping=ar,
        block_tables=tables,
        context_lens=lens,
        query_lens=torch.ones_like(lens),
        token_batch_idx=ar,
        token_q_idx=torch.zeros_like(ar),
        max_q=1,
    )
    kv_bytes = 2 * B * ctx * KVH * D * 2
    res = {}
    for name, fn in {
        "sdpa_gather": lambda: sdpa_from_cache(q, k, v, meta, D**-0.5),
        "triton_paged": lambda: paged_attention_decode(q, k, v, tables, lens, D**-0.5),
    }.items():
        t = bench(fn, iters=10)
        res[name] = {"ms": t * 1e3, "kv_read_GBps": kv_bytes / t / 1e9}
    err = (
        (
            paged_attention_decode(q, k, v, tables, lens, D**-0.5).float()
            - sdpa_from_cache(q, k, v, meta, D**-0.5).float()
        )
        .abs()
        .max()
        .item()
    )
    res["max_abs_diff"] = err
    res["speedup_triton_vs_sdpa"] = res["sdpa_gather"]["ms"] / res["triton_paged"]["ms"]
    return res


def moe():
    from vibeserve_runtime.components.moe.fused_triton import FusedTritonMoE

    E, H, I, top_k = 8, 4096, 14336, 2
    g = torch.Generator(device="cuda").manual_seed(0)
    mk = lambda *s: torch.randn(*s, device="cuda", dtype=torch.bfloat16, generator=g) * 0.02  # noqa: E731
    gate, w1, w2, w3 = mk(E, H), mk(E, I, H), mk(E, H, I), mk(E, I, H)
    impls = {
        "loop": LoopMoE(gate, w1, w2, w3, top_k, NativeLinear),
        "fused_triton": FusedTritonMoE(gate, w1, w2, w3, top_k, NativeLinear),
    }
    res = {}
    for T in (1, 16, 256):
        x = torch.randn(T, H, device="cuda", dtype=torch.bfloat16)
        ref = impls["loop"](x).float()
        for name, m in impls.items():
            t = bench(lambda: m(x), iters=10)
            res[f"T={T} {name}"] = {
                "ms": t * 1e3,
                "rel_error_vs_loop": ((m(x).float() - ref).norm() / ref.norm()).item(),
            }
        res[f"T={T} speedup_fused_vs_loop"] = res[f"T={T} loop"]["ms"] / res[f"T={T} fused_triton"]["ms"]
    return res


def engine_decode():
    from vibeserve_runtime.engine import Engine
    from vibeserve_runtime.types import SamplingParams

    res = {}
    for moe_choice, execution in (("loop", "eager"), ("fused_triton", "eager"), ("fused_triton", "cuda_graphs")):
        e = Engine.from_spec(
            {
                "name": "moe",
                "device": "cuda",
                "model": {
                    "arch": "mixtral",
                    "preset": "mixtral-8x7b-shape",
                    "dtype": "bfloat16",
                    "config": {"num_hidden_layers": 2},
                },
                "components": {
                    "moe": moe_choice,
                    "kv_cache": "paged",
                    "attention": "triton_paged",
                    "execution": execution,
                },
                "params": {
                    "max_batch_size": 8,
                    "graph_batch_sizes": [1, 2, 4, 8],
                    "max_model_len": 512,
                    "kv_cache_tokens": 8192,
                },
            }
        )
        prompts = [[(7 * i + j) % 32000 for j in range(64)] for i in range(8)]
        e.generate(prompts, SamplingParams(max_tokens=4, ignore_eos=True))
        torch.cuda.synchronize()
        t = time.perf_counter()
        out = e.generate(prompts, SamplingParams(max_tokens=64, ignore_eos=True))
        torch.cuda.synchronize()
        res[f"{moe_choice}+{execution}"] = {
            "output_tokens_per_s": sum(map(len, out)) / (time.perf_counter() - t),
            "layers": 2,
        }
        del e
        torch.cuda.empty_cache()
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("component_speed.py needs a CUDA GPU")
    r = {
        "command": " ".join(shlex.quote(a) for a in [sys.executable] + sys.argv),
        "device": f"{torch.cuda.get_device_name()} (cc {'.'.join(map(str, torch.cuda.get_device_capability()))})",
        "torch": torch.__version__,
        "figures": {},
        "errors": {},
    }
    for name, fn in (
        ("linear_decode", linear_decode),
        ("paged_attention", paged_attention),
        ("moe", moe),
        ("engine_decode", engine_decode),
    ):
        t = time.perf_counter()
        try:
            r["figures"][name] = fn()
        except Exception as e:  # noqa: BLE001
            r["errors"][name] = f"{type(e).__name__}: {e}"
            traceback.print_exc()
        torch.cuda.empty_cache()
        print(f"[{name}] {time.perf_counter() - t:.1f}s", file=sys.stderr, flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(r, indent=1))
    print(f"device: {r['device']}")
    for fig, vals in r["figures"].items():
        for k, v in vals.items():
            print(f"{fig:16} {k:34} {json.dumps(v) if isinstance(v, dict) else v}")
    for k, v in r["errors"].items():
        print(f"ERROR {k}: {v}")


if __name__ == "__main__":
    main()
