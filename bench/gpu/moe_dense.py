"""The Mixtral-shaped MoE layer at decode token counts, three ways, each inside a captured CUDA graph
and side by side in one run: the grouped GEMM over pairs sorted by expert (moe=fused_triton), and
moe=dense_decode's dense form with its down projection as one GEMM over the concatenated experts
([T, E·I] @ [E·I, H], the default) or as a batched GEMM per expert summed after ([E, T, I] @ [E, I, H]).
Outputs are checked against the grouped layer first. Prints one JSON object (µs per call).

  python bench/gpu/moe_dense.py [--tokens 1,4,16,32,64]
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
from vibeserve_runtime.components.moe.routing import route  # noqa: E402
from vibeserve_runtime.models.fused import silu_mul_weighted  # noqa: E402


def dense_bmm_down(m: DenseDecodeMoE, x):
    T, H = x.shape
    E, I = m.num_experts, m.inter
    weights, ids = route(x, m.gate, m.top_k)
    dense = torch.zeros(T, E, dtype=x.dtype, device=x.device).scatter_(1, ids, weights)
    h = (x @ m.w_gate_up.view(E * 2 * I, H).t()).view(T, E, 2 * I)
    act = silu_mul_weighted(h, dense).transpose(0, 1)  # [E, T, I]
    return torch.bmm(act, m.w_down_t).sum(0)  # [E, T, H] summed over experts


def main() -> int:
    ap = argparse.ArgumentParser()
    add_shape_args(ap, "1,4,16,32,64")
    args = ap.parse_args()
    H, I, E, k = args.hidden, args.inter, args.experts, args.top_k
    dt = torch.bfloat16
    grouped, dense = random_expert_layers(args, FusedTritonMoE, DenseDecodeMoE)
    stream_us = 3 * E * H * I * 2 / 3.35e12 * 1e6
    out = {
        "device": torch.cuda.get_device_name(),
        "command": "python bench/gpu/moe_dense.py " + " ".join(sys.argv[1:]),
        "shape": {"hidden": H, "inter": I, "experts": E, "top_k": k},
        "all_experts_stream_us": round(stream_us, 1),
        "results": {},
    }
    with torch.inference_mode():
        for T in [int(t) for t in args.tokens.split(",")]:
            x = torch.randn(T, H, device="cuda", dtype=dt)
            ref = grouped(x).float()
            row = {}
            for name, fn in (
                ("fused_triton", lambda: grouped(x)),
                ("dense_decode", lambda: dense(x)),
                ("dense_bmm_down", lambda: dense_bmm_down(dense, x)),
            ):
                err = ((fn().float() - ref).norm() / ref.norm()).item()
                row[name] = {"us": round(graph_time_us(fn), 2), "rel_err_vs_fused": err}
            out["results"][str(T)] = row
            print(f"T={T:3d} " + "  ".join(f"{n} {r['us']:7.1f} us" for n, r in row.items()), file=sys.stderr)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
