"""The Mixtral-shaped MoE layer per token count, side by side in one run, each inside a captured CUDA
graph: moe=fused_triton (the generic stack's), moe=dense_decode and moe=fused_tuned (Triton routing,
gate/up with the SiLU epilogue, split-K down projection and combine, tiles timed on this device).
For fused_tuned also each of its kernels alone and the tiles it chose. Outputs are checked against
fused_triton's. Prints one JSON object (µs per layer call).

  python bench/gpu/moe_tuned.py [--tokens 1,4,16,32,64,256,2048]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python-runtime"))
from moe_tiles import add_shape_args, graph_time_us, random_expert_layers  # noqa: E402
from vibeserve_runtime.components.moe.dense_decode import DenseDecodeMoE  # noqa: E402
from vibeserve_runtime.components.moe.fused_triton import FusedTritonMoE  # noqa: E402
from vibeserve_runtime.components.moe.fused_tuned import TunedFusedMoE  # noqa: E402
from vibeserve_runtime.components.moe.routing import route  # noqa: E402
from vibeserve_runtime.kernels.moe_align import align_by_expert  # noqa: E402
from vibeserve_runtime.kernels.moe_expert_mlp import combine, down_partials, gate_up_silu  # noqa: E402
from vibeserve_runtime.kernels.moe_routing import route_fused  # noqa: E402
from vibeserve_runtime.kernels.moe_tile_tuning import chosen_tiles, tiles_for  # noqa: E402


def tuned_kernels_us(m: TunedFusedMoE, x: torch.Tensor) -> dict:
    """Each kernel of the tuned layer alone, on the layer's own intermediates."""
    weights, ids = route_fused(x, m.gate, m.top_k)
    t = tiles_for(x, m.top_k, m.w_gate_up, m.w_down)
    pairs, blocks = align_by_expert(ids, m.num_experts, t.block_m)
    act = gate_up_silu(x, m.w_gate_up, pairs, blocks, m.top_k, t.block_m, t.gate_up)
    part = down_partials(act, m.w_down, pairs, blocks, t.block_m, t.down)
    return {
        "route_torch": graph_time_us(lambda: route(x, m.gate, m.top_k)),
        "route": graph_time_us(lambda: route_fused(x, m.gate, m.top_k)),
        "align": graph_time_us(lambda: align_by_expert(ids, m.num_experts, t.block_m)),
        "gate_up_silu": graph_time_us(
            lambda: gate_up_silu(x, m.w_gate_up, pairs, blocks, m.top_k, t.block_m, t.gate_up)
        ),
        "down": graph_time_us(lambda: down_partials(act, m.w_down, pairs, blocks, t.block_m, t.down)),
        "combine": graph_time_us(lambda: combine(part, weights, x.dtype)),
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    add_shape_args(ap, "1,4,16,32,64,256,2048")
    ap.add_argument("--bandwidth-gbs", type=float, default=3350.0, help="nominal HBM bandwidth (H100 SXM: 3.35 TB/s)")
    args = ap.parse_args()
    H, I, E, k = args.hidden, args.inter, args.experts, args.top_k
    dt = torch.bfloat16
    layers = dict(
        zip(
            ("fused_triton", "dense_decode", "fused_tuned"),
            random_expert_layers(args, FusedTritonMoE, DenseDecodeMoE, TunedFusedMoE),
        )
    )
    gate = layers["fused_triton"].gate
    stream_us = 3 * E * H * I * 2 / (args.bandwidth_gbs * 1e9) * 1e6
    out = {
        "device": torch.cuda.get_device_name(),
        "command": "python bench/gpu/moe_tuned.py " + " ".join(sys.argv[1:]),
        "shape": {"hidden": H, "inter": I, "experts": E, "top_k": k},
        "all_experts_stream_us": round(stream_us, 1),
        "results": {},
    }
    with torch.inference_mode():
        for T in [int(t) for t in args.tokens.split(",")]:
            x = torch.randn(T, H, device="cuda", dtype=dt)
            ref = layers["fused_triton"](x).float()
            row = {}
            for name, layer in layers.items():
                y = layer(x).float()  # fused_tuned times its tiles here, outside the graph
                row[name] = {
                    "us": round(graph_time_us(lambda: layer(x)), 2),
                    "rel_err_vs_fused_triton": ((y - ref).norm() / ref.norm()).item(),
                }
            # the tuned routing keeps fp32 logits where the torch one rounds them to bf16, so a near tie
            # can pick another expert: the error is also given over the tokens routed alike
            same = (route_fused(x, gate, k)[1] == route(x, gate, k)[1]).all(dim=1)
            y = layers["fused_tuned"](x).float()
            row["fused_tuned"]["tokens_routed_differently"] = int((~same).sum())
            row["fused_tuned"]["rel_err_where_routed_alike"] = ((y - ref)[same].norm() / ref[same].norm()).item()
            row["fused_tuned"]["kernels_us"] = {
                n: round(v, 2) for n, v in tuned_kernels_us(layers["fused_tuned"], x).items()
            }
            row["speedup_tuned_vs_fused_triton"] = round(row["fused_triton"]["us"] / row["fused_tuned"]["us"], 3)
            out["results"][str(T)] = row
            print(f"T={T:4d} " + "  ".join(f"{n} {row[n]['us']:7.1f} us" for n in layers), file=sys.stderr)
    out["tiles_chosen"] = chosen_tiles()
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
