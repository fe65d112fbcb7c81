"""Times the fused MoE layer (routing + grouped GEMMs) of a Mixtral-shaped model per tile config of
the grouped GEMM (pairs sorted by the torch formulation, as when these figures were first taken), at decode and prefill token counts, each inside a captured CUDA graph (as served).
Prints one JSON object: per config and token count the layer time in µs and the weight bandwidth it
reaches, with the time every expert's weights take to stream at the device's nominal bandwidth.

  python bench/gpu/moe_tiles.py [--hidden 1024 --inter 3584 --experts 8 --top-k 2] [--tokens 1,4,16,64,2048]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python-runtime"))
from vibeserve_runtime.components.linear.native import NativeLinear  # noqa: E402
from vibeserve_runtime.components.moe.routing import route  # noqa: E402
from vibeserve_runtime.kernels.moe_align import align_by_expert_torch  # noqa: E402
from vibeserve_runtime.kernels.moe_grouped_gemm import grouped_gemm  # noqa: E402

# (block_n, block_k, num_warps, num_stages); the first is the kernel's default
CONFIGS = [
    (64, 64, 4, 3),
    (64, 128, 4, 3),
    (128, 64, 4, 3),
    (64, 256, 4, 3),
    (128, 128, 4, 3),
    (128, 128, 8, 3),
    (32, 128, 4, 4),
    (64, 128, 4, 4),
    (32, 256, 4, 3),
    (128, 256, 8, 3),
    (256, 64, 8, 3),
    (64, 64, 4, 5),
]


def moe_forward(x, gate, w_gate_up, w_down, top_k, cfg, align=align_by_expert_torch):
    bn, bk, warps, stages = cfg
    T = x.shape[0]
    weights, ids = route(x, gate, top_k)
    pairs, block_expert = align(ids, w_gate_up.shape[0])
    h = grouped_gemm(x, w_gate_up, pairs, block_expert, T * top_k, top_k, bn, bk, warps, stages)
    g, u = h.chunk(2, dim=-1)
    y = grouped_gemm(F.silu(g) * u, w_down, pairs, block_expert, T * top_k, 1, bn, bk, warps, stages)
    return (y.view(T, top_k, -1) * weights[..., None]).sum(dim=1)


def graph_time_us(fn, iters=200) -> float:
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        fn()
    g.replay()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(iters):
        g.replay()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) * 1e3 / iters


def add_shape_args(ap: argparse.ArgumentParser, tokens: str) -> None:
    ap.add_argument("--hidden", type=int, default=1024)
    ap.add_argument("--inter", type=int, default=3584)
    ap.add_argument("--experts", type=int, default=8)
    ap.add_argument("--top-k", type=int, default=2)
    ap.add_argument("--tokens", default=tokens)


def random_moe_weights(args, dev="cuda", dt=torch.bfloat16):
    """(gate [E, H], w_gate_up [E, 2I, H], w_down [E, H, I]) of the given shape, seeded."""
    torch.manual_seed(0)
    H, I, E = args.hidden, args.inter, args.experts
    return (
        torch.randn(E, H, device=dev, dtype=dt) * 0.02,
        torch.randn(E, 2 * I, H, device=dev, dtype=dt) * 0.02,
        torch.randn(E, H, I, device=dev, dtype=dt) * 0.02,
    )


def random_expert_layers(args, *classes, dt=torch.bfloat16) -> list:
    """One MoE layer (on CUDA) of each component class, all on the same seeded random weights
    (gate [E, H], w1 and w3 [E, I, H], w2 [E, H, I], the layout the components take)."""
    torch.manual_seed(0)
    H, I, E = args.hidden, args.inter, args.experts
    gate, w1, w2, w3 = (
        torch.randn(E, H, dtype=dt) * 0.02,
        torch.randn(E, I, H, dtype=dt) * 0.02,
        torch.randn(E, H, I, dtype=dt) * 0.02,
        torch.randn(E, I, H, dtype=dt) * 0.02,
    )
    return [cls(gate, w1, w2, w3, args.top_k, NativeLinear).cuda() for cls in classes]


def main() -> int:
    ap = argparse.ArgumentParser()
    add_shape_args(ap, "1,4,16,64,2048")
    ap.add_argument("--bandwidth-gbs", type=float, default=3350.0, help="nominal HBM bandwidth (H100 SXM: 3.35 TB/s)")
    args = ap.parse_args()
    dev, dt = "cuda", torch.bfloat16
    H, I, E = args.hidden, args.inter, args.experts
    gate, w_gate_up, w_down = random_moe_weights(args, dev, dt)
    weight_bytes = (w_gate_up.numel() + w_down.numel()) * w_gate_up.element_size()
    out = {
        "device": torch.cuda.get_device_name(),
        "shape": {"hidden": H, "inter": I, "experts": E, "top_k": args.top_k},
        "command": " ".join([sys.executable, *sys.argv]),
        "configs": [list(c) for c in CONFIGS],
        "all_experts_stream_us": weight_bytes / (args.bandwidth_gbs * 1e9) * 1e6,
        "results": {},
    }
    for T in [int(t) for t in args.tokens.split(",")]:
        x = torch.randn(T, H, device=dev, dtype=dt)
        ref = None
        row = {}
        for cfg in CONFIGS:
            key = "x".join(map(str, cfg))
            try:
                y = moe_forward(x, gate, w_gate_up, w_down, args.top_k, cfg)
                if ref is None:
                    ref = y
                err = (y.float() - ref.float()).abs().max().item()
                us = graph_time_us(lambda: moe_forward(x, gate, w_gate_up, w_down, args.top_k, cfg))
                row[key] = {"us": round(us, 2), "max_abs_diff_vs_default": err}
            except Exception as e:  # a config the compiler rejects (shared memory) is reported, not fatal
                row[key] = {"error": f"{type(e).__name__}: {str(e)[:160]}"}
        best = min((k for k in row if "us" in row[k]), key=lambda k: row[k]["us"])
        out["results"][str(T)] = {
            "by_config": row,
            "best": best,
            "speedup_best_vs_default": row["64x64x4x3"]["us"] / row[best]["us"],
        }
        print(
            f"T={T:5d} default {row['64x64x4x3']['us']:8.1f} us  best {best} {row[best]['us']:8.1f} us", file=sys.stderr
        )
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
