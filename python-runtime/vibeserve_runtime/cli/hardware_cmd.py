"""`hardware`: what this machine offers (torch, CUDA, Triton, GPUs)."""

from __future__ import annotations

import os
import platform

from .. import events


def hardware_info() -> dict:
    import torch

    gpus = []
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            gpus.append(
                {
                    "index": i,
                    "name": p.name,
                    "memory_mib": p.total_memory // (1 << 20),
                    "compute_capability": f"{p.major}.{p.minor}",
                    "multiprocessors": p.multi_processor_count,
                }
            )
    try:
        import triton

        triton_version = triton.__version__
    except Exception:  # Triton is optional on CPU-only machines
        triton_version = None
    return {
        "device": "cuda" if gpus else "cpu",
        "gpus": gpus,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "triton": triton_version,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }


def run(args) -> int:
    events.progress("hardware", 0, 1, "probing torch/CUDA/Triton")
    events.result(**hardware_info())
    return events.EXIT_OK
