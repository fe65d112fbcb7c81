"""fp8 e4m3 weights with per-output-channel scales; activations quantized per row at run time;
the matmul is torch._scaled_mm (Hopper / Ada tensor cores, compute capability >= 8.9)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

FP8 = torch.float8_e4m3fn
FP8_MAX = torch.finfo(FP8).max


def require_fp8_device(device: torch.device) -> None:
    if device.type != "cuda":
        raise ValueError(
            "components.linear='fp8' needs a CUDA GPU with compute capability >= 8.9; "
            f"this stack runs on {device.type}. Use 'native' or 'int8_weight_only'."
        )
    cc = torch.cuda.get_device_capability(device)
    if cc < (8, 9):
        raise ValueError(f"components.linear='fp8' needs compute capability >= 8.9, this GPU has {cc[0]}.{cc[1]}")


class Fp8Linear(nn.Module):
    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None = None):
        super().__init__()
        require_fp8_device(weight.device)
        w = weight.float()
        scale = w.abs().amax(dim=1).clamp(min=1e-12) / FP8_MAX
        # stored as [in, out] column-major, the layout _scaled_mm wants for its second operand
        self.register_buffer("qweight_t", (w / scale[:, None]).to(FP8).t())
        self.register_buffer("w_scale", scale[None, :].contiguous())  # [1, out] fp32
        self.bias = None if bias is None else nn.Parameter(bias, requires_grad=False)
        self.out_dtype = weight.dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        x2 = x.reshape(-1, shape[-1])
        M = x2.shape[0]
        pad = (-M) % 16  # _scaled_mm wants M a multiple of 16
        if pad:
            x2 = F.pad(x2, (0, 0, 0, pad))
        xf = x2.float()
        x_scale = xf.abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / FP8_MAX  # [M, 1]
        xq = (xf / x_scale).to(FP8)
        out = torch._scaled_mm(xq, self.qweight_t, scale_a=x_scale, scale_b=self.w_scale, out_dtype=self.out_dtype)[:M]
        if self.bias is not None:
            out = out + self.bias
        return out.reshape(*shape[:-1], out.shape[-1])
