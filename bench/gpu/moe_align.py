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
from moe_tiles import CONFIGS, add_shape_args, graph_time_us, moe_forward, random_moe_weights  # noqa: E402
from vibeserve_runtime.components.moe.routing import route  # noqa: E402
from vibeserve_runtime.kernels.moe_align import align_by_expert_fused, align_by_expert_torch  # noqa: E402

DEFAULT_TILES = CONFIGS[0]


def main() -> int:
    ap = argparse.ArgumentParser()
    add_shape_args(ap, "1,4,16,32,64,256")
    args = ap.parse_args()
    H, I, E = args.hidden, args.inter, args.experts
    gate, w_gate_up, w_down = random_moe_weights(args)
    out = {
        "device": torch.cuda.get_device_name(),
        "command": "python bench/gpu/moe_align.py " + " ".join(sys.argv[1:]),
        "shape": {"hidden": H, "inter": I, "experts": E, "top_k": args.top_k},
        "results": {},
    }
    for T in [int(t) for t in args.tokens.split(",")]:
        x = torch.randn(T, H, device=gate.device, dtype=gate.dtype)
        _, ids = route(x, gate, args.top_k)
        same = all(torch.equal(a, b) for a, b in zip(align_by_expert_torch(ids, E), align_by_expert_fused(ids, E)))
        row = {"layout_equal": same}
        for name, align in (("torch", align_by_expert_torch), ("fused", align_by_expert_fused)):
            row[f"align_{name}_us"] = round(graph_time_us(lambda: align(ids, E)), 2)
            row[f"layer_{name}_us"] = round(
                graph_time_us(lambda: moe_forward(x, gate, w_gate_up, w_down, args.top_k, DEFAULT_TILES, align)), 2
            )
        row["layer_speedup"] = round(row["layer_torch_us"] / row["layer_fused_us"], 3)
        out["results"][str(T)] = row
        print(
            f"T={T:4d} align {row['align_torch_us']:6.1f} -> {row['align_fused_us']:6.1f} us   "
            f"layer {row['layer_torch_us']:6.1f} -> {row['layer_fused_us']:6.1f} us  equal={same}",
            file=sys.stderr,
        )
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
