"""Cascade attention vs the paged kernel for one decode step's attention on the GPU, at the
shared-prefix-chat scenario's shape (scenarios/shared-prefix-chat.yaml: Llama-3.2-1B heads, 64
sequences behind one 2048-token system prompt, 128 tokens of their own), bf16 caches.

Cases: `shared` (every sequence's table starts with the prefix's blocks, as prefix caching leaves
them), and `unshared` (the same lengths, every block a sequence's own: the cascade kernel's cost where
it finds nothing to share). Per case: the paged kernel, the cascade kernel with its per-step plan
computed inside the timed call (what one layer pays when it plans), and the cascade kernel with the
plan made beforehand (what every further layer of the step pays). Each figure is the time per call,
averaged over --iters back-to-back calls, repeated --reps times after warm-up: median, min, max in ms,
timed as CUDA-graph replays (the GPU's time, as the engine's cuda_graphs execution pays it) and under
`eager` as calls launched one by one (at this size mostly the host's launch cost). Prints one JSON object (and writes it to --out).

Usage: python bench/gpu/cascade_attention.py [--out bench/results/cascade_attention_h100.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python-runtime"))

from vibeserve_runtime.kernels.cascade_attention import (  # noqa: E402
    cascade_attention_decode,
    plan_shared_prefix,
    prefix_splits,
)
from vibeserve_runtime.kernels.paged_attention import paged_attention_decode  # noqa: E402


def timed(fn, reps: int, iters: int, graph: bool, warmup: int = 5) -> dict:
    """ms per call: each repetition averages iters back-to-back calls between two CUDA events. With
    graph, the iters calls are captured once in a CUDA graph and each repetition replays it: the GPU's
    time alone, as an engine that runs decode in CUDA graphs pays it (eager calls of a small kernel
    measure the host's launch cost instead)."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    run = lambda: [fn() for _ in range(iters)]  # noqa: E731
    if graph:
        g = torch.cuda.CUDAGraph()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            fn()
        torch.cuda.current_stream().wait_stream(side)
        with torch.cuda.graph(g):
            run()
        run = g.replay
        run()
    per_call = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        run()
        b.record()
        torch.cuda.synchronize()
        per_call.append(a.elapsed_time(b) / iters)
    return {
        "median_ms": statistics.median(per_call),
        "min_ms": min(per_call),
        "max_ms": max(per_call),
        "reps": reps,
        "iters": iters,
    }


def graph_timed(fn, args) -> dict:
    """timed in a CUDA graph, or why it could not be captured (the call then has no GPU-only figure)."""
    try:
        return timed(fn, args.reps, args.iters, graph=True)
    except RuntimeError as e:
        return {"error": f"CUDA graph capture failed: {e}"[:500]}


def speedup(base: dict, other: dict) -> float | None:
    if "median_ms" not in base or "median_ms" not in other:
        return None
    return base["median_ms"] / other["median_ms"]


def block_tables(batch: int, shared_blocks: int, own_blocks: int, share: bool, device) -> torch.Tensor:
    """[batch, shared + own] block ids: the leading shared_blocks the same for all when share, else each its own."""
    width = shared_blocks + own_blocks
    ids = torch.randperm(batch * width + shared_blocks, device=device)
    tables = ids[: batch * width].view(batch, width).clone()
    if share:
        tables[:, :shared_blocks] = ids[batch * width :][None, :]
    return tables


def case(args, share: bool, dev: str = "cuda") -> dict:
    bs, D = args.block_size, args.head_dim
    shared_blocks, own_blocks = -(-args.shared // bs), -(-args.own // bs)
    tables = block_tables(args.batch, shared_blocks, own_blocks, share, dev)
    num_blocks = int(tables.max()) + 1
    k = torch.randn(num_blocks, bs, args.kv_heads, D, device=dev, dtype=torch.bfloat16)
    v = torch.randn(num_blocks, bs, args.kv_heads, D, device=dev, dtype=torch.bfloat16)
    q = torch.randn(args.batch, args.heads, D, device=dev, dtype=torch.bfloat16)
    lens = torch.full((args.batch,), args.shared + args.own, device=dev, dtype=torch.long)
    scale = D**-0.5
    plan = plan_shared_prefix(tables, lens, bs)
    splits = args.splits or prefix_splits(tables.shape[1] * bs)
    paged = paged_attention_decode(q, k, v, tables, lens, scale)
    cascade = cascade_attention_decode(q, k, v, tables, lens, scale, plan=plan, splits=splits, tile_rows=args.tile_rows)
    calls = {
        "paged": lambda: paged_attention_decode(q, k, v, tables, lens, scale),
        "cascade_with_plan": lambda: cascade_attention_decode(
            q, k, v, tables, lens, scale, splits=splits, tile_rows=args.tile_rows
        ),
        "cascade_planned": lambda: cascade_attention_decode(
            q, k, v, tables, lens, scale, plan=plan, splits=splits, tile_rows=args.tile_rows
        ),
        "plan_only": lambda: plan_shared_prefix(tables, lens, bs),
    }
    eager = {name: timed(fn, args.reps, args.iters, graph=False) for name, fn in calls.items()}
    figures = {name: graph_timed(fn, args) for name, fn in calls.items()}
    kv_token_bytes = 2 * args.kv_heads * D * 2  # K and V, bf16
    paged_bytes = args.batch * (args.shared + args.own) * kv_token_bytes
    return {
        "share": share,
        "splits": splits,
        "tile_rows": args.tile_rows,
        "prefix_lens_distinct": sorted(set(plan.prefix_lens.tolist())),
        "max_abs_diff_vs_paged": (cascade.float() - paged.float()).abs().max().item(),
        "paged_kv_bytes": paged_bytes,
        "paged_kv_GBps": paged_bytes / (figures["paged"].get("median_ms", eager["paged"]["median_ms"]) * 1e-3) / 1e9,
        "speedup_planned_vs_paged": speedup(figures["paged"], figures["cascade_planned"]),
        "speedup_with_plan_vs_paged": speedup(figures["paged"], figures["cascade_with_plan"]),
        "eager_speedup_planned_vs_paged": speedup(eager["paged"], eager["cascade_planned"]),
        "timing": "CUDA graph replays (GPU time); eager: the same calls launched one by one from Python",
        **figures,
        "eager": eager,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--shared", type=int, default=2048, help="shared system prompt tokens")
    ap.add_argument("--own", type=int, default=128, help="each sequence's own tokens after the prefix")
    ap.add_argument("--block-size", type=int, default=16)
    ap.add_argument("--heads", type=int, default=32, help="query heads (Llama-3.2-1B: 32)")
    ap.add_argument("--kv-heads", type=int, default=8, help="KV heads (Llama-3.2-1B: 8)")
    ap.add_argument("--head-dim", type=int, default=64, help="Llama-3.2-1B: 64")
    ap.add_argument("--splits", type=int, default=0, help="prefix splits (0: the component's choice)")
    ap.add_argument("--tile-rows", type=int, default=64, help="query rows per prefix-pass program")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if args.reps < 3:
        ap.error("--reps must be at least 3")
    if not torch.cuda.is_available():
        sys.exit("cascade_attention.py times GPU kernels: no CUDA device")
    torch.manual_seed(0)
    result = {
        "device": torch.cuda.get_device_name(),
        "shape": {
            k: getattr(args, k) for k in ("batch", "shared", "own", "block_size", "heads", "kv_heads", "head_dim")
        },
        "cases": {"shared": case(args, True), "unshared": case(args, False)},
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
