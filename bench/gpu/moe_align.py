"""The fused MoE layer of a Mixtral-shaped model with its pairs sorted by expert two ways: the torch
formulation (about ten small kernels) and the single-program Triton kernel (kernels/moe_align.py).
Each inside a captured CUDA graph, side by side in one run, at decode token counts; the layout is
checked equal first. Prints one JSON object (µs per call, and the layer's speedup).

  python bench/gpu/moe_align.py [--tokens 1,4,16,32,64,256]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from moe_tiles import graph_time_us, moe_forward  # noqa: E402
from vibeserve_runtime.components.moe.routing import route  # noqa: E402
from vibeserve_runtime.kernels.moe_align import align_by_expert_fused, align_by_expert_torch  # noqa: E402

DEFAULT_TILES = (64, 64, 4, 3)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hidden", type=int, default=1024)
    ap.add_argument("--inter", type=int, default=3584)
    ap.add_argument("--experts", type=int, default=8)
    ap.add_argument("--top-k", type=int, default=2)
    ap.add_argument("--tokens", default="1,4,16,32,64,256")
    args = ap.parse_args()
    torch.manual_seed(0)
    dev, dt = "cuda", torch.bfloat16
    H, I, E = args.hidden, args.inter, args.experts
    gate = torch.randn(E, H, device=dev, dtype=dt) * 0.02
    w_gate_up = torch.randn(E, 2 * I, H, device=dev, dtype=dt) * 0.02
    w_down = torch.randn(E, H, I, device=dev, dtype=dt) * 0.02
    out = {"device": torch.cuda.get_device_name(), "command": "python bench/gpu/moe_align.py " + " ".join(sys.argv[1:]),
           "shape": {"hidden": H, "inter": I, "experts": E, "top_k": args.top_k}, "results": {}}
    for T in [int(t) for t in args.tokens.split(",")]:
        x = torch.randn(T, H, device=dev, dtype=dt)
        _, ids = route(x, gate, args.top_k)
        same = all(torch.equal(a, b) for a, b in zip(align_by_expert_torch(ids, E), align_by_expert_fused(ids, E)))
        row = {"layout_equal": same}
        for name, align in (("torch", align_by_expert_torch), ("fused", align_by_expert_fused)):
            row[f"align_{name}_us"] = round(graph_time_us(lambda: align(ids, E)), 2)
            row[f"layer_{name}_us"] = round(graph_time_us(
                lambda: moe_forward(x, gate, w_gate_up, w_down, args.top_k, DEFAULT_TILES, align)), 2)
        row["layer_speedup"] = round(row["layer_torch_us"] / row["layer_fused_us"], 3)
        out["results"][str(T)] = row
        print(f"T={T:4d} align {row['align_torch_us']:6.1f} -> {row['align_fused_us']:6.1f} us   "
              f"layer {row['layer_torch_us']:6.1f} -> {row['layer_fused_us']:6.1f} us  equal={same}", file=sys.stderr)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
