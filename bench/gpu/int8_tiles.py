"""The int8 weight-only matmul (kernels/int8_matmul.py) at decode batch sizes, per tile config, side
by side with the bf16 cuBLAS matmul of the same layer and the time its int8 weights take to stream.
Each call inside a captured CUDA graph. Shapes: the llama-int8 scenario's layers (hidden 2048,
intermediate 8192, 16 heads / 8 kv heads of 128). Prints one JSON object.

  python bench/gpu/int8_tiles.py [--m 1,4,16] [--bandwidth-gbs 3350]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python-runtime"))
from moe_tiles import graph_time_us  # noqa: E402
from vibeserve_runtime.components.linear.int8_weight_only import quantize_per_channel  # noqa: E402
from vibeserve_runtime.kernels.int8_matmul import int8_weight_only_matmul  # noqa: E402

LAYERS = {"qkv": (4096, 2048), "o": (2048, 2048), "gate_up": (16384, 2048), "down": (2048, 8192)}  # (N, K)
# (block_n, block_k, num_warps, num_stages); None = the kernel's own choice
CONFIGS = [
    None,
    (16, 256, 4, 3),
    (32, 128, 4, 3),
    (32, 256, 4, 3),
    (64, 128, 4, 3),
    (64, 256, 4, 3),
    (32, 512, 4, 3),
    (64, 512, 8, 3),
    (16, 512, 4, 4),
    (32, 256, 4, 5),
    (128, 128, 4, 3),
    (128, 256, 8, 3),
]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--m", default="1,4,16")
    ap.add_argument("--bandwidth-gbs", type=float, default=3350.0)
    args = ap.parse_args()
    torch.manual_seed(0)
    out = {
        "device": torch.cuda.get_device_name(),
        "command": "python bench/gpu/int8_tiles.py " + " ".join(sys.argv[1:]),
        "configs": [list(c) if c else "default" for c in CONFIGS],
        "results": {},
    }
    for name, (N, K) in LAYERS.items():
        w = torch.randn(N, K, device="cuda", dtype=torch.bfloat16) * 0.02
        q, scale = quantize_per_channel(w)
        scale = scale.to(torch.bfloat16)
        for M in [int(m) for m in args.m.split(",")]:
            x = torch.randn(M, K, device="cuda", dtype=torch.bfloat16)
            ref = F.linear(x, q.to(x.dtype) * scale[:, None])
            row = {
                "bf16_cublas_us": round(graph_time_us(lambda: F.linear(x, w)), 2),
                "int8_stream_us": round(N * K / (args.bandwidth_gbs * 1e9) * 1e6, 2),
                "by_config": {},
            }
            for cfg in CONFIGS:
                key = "default" if cfg is None else "x".join(map(str, cfg))
                kw = (
                    {}
                    if cfg is None
                    else {"block_n": cfg[0], "block_k": cfg[1], "num_warps": cfg[2], "num_stages": cfg[3]}
                )
                try:
                    err = (int8_weight_only_matmul(x, q, scale, **kw).float() - ref.float()).abs().max().item()
                    us = graph_time_us(lambda: int8_weight_only_matmul(x, q, scale, **kw))
                    row["by_config"][key] = {"us": round(us, 2), "max_abs_err": err}
                except Exception as e:  # a config the compiler rejects is reported, not fatal
                    row["by_config"][key] = {"error": f"{type(e).__name__}: {str(e)[:160]}"}
            ok = {k: v for k, v in row["by_config"].items() if "us" in v}
            row["best"] = min(ok, key=lambda k: ok[k]["us"])
            out["results"][f"{name} M={M}"] = row
            print(
                f"{name:8s} M={M:3d} bf16 {row['bf16_cublas_us']:7.1f}  int8 default {ok['default']['us']:7.1f}  "
                f"best {row['best']} {ok[row['best']]['us']:7.1f}  stream {row['int8_stream_us']:6.1f} us",
                file=sys.stderr,
            )
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
