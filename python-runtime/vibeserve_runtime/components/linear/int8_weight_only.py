"""int8 weights with one fp scale per output channel; activations stay in the model dtype.

On CUDA small-M (decode) calls go through a Triton kernel that dequantizes tiles in registers, so only
int8 bytes cross HBM; large-M (prefill) calls dequantize once and use cuBLAS.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

KERNEL_MAX_M = 64
INTERPRET = os.environ.get("TRITON_INTERPRET") == "1"  # lets CPU tests run the kernel path


def quantize_per_channel(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    w = weight.float()
    scale = w.abs().amax(dim=1).clamp(min=1e-8) / 127.0
    q = torch.round(w / scale[:, None]).clamp(-127, 127).to(torch.int8)
    return q, scale


class Int8WeightOnlyLinear(nn.Module):
    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None = None):
        super().__init__()
        q, scale = quantize_per_channel(weight)
        self.register_buffer("qweight", q)
        self.register_buffer("scale", scale.to(weight.dtype))
        self.bias = None if bias is None else nn.Parameter(bias, requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        x2 = x.reshape(-1, shape[-1])
        if (x2.is_cuda or INTERPRET) and x2.shape[0] <= KERNEL_MAX_M:
            from ...kernels.int8_matmul import int8_weight_only_matmul

            out = int8_weight_only_matmul(x2, self.qweight, self.scale)
            if self.bias is not None:
                out = out + self.bias
        else:
            out = F.linear(x2, self.qweight.to(x2.dtype) * self.scale[:, None], self.bias)
        return out.reshape(*shape[:-1], out.shape[-1])
