"""The matrix products inside this package's Triton kernels, and when they run in full fp32.

Full precision (IEEE) where the operands are fp32, so the CPU tests compare against PyTorch without
TF32 rounding, and everywhere under the Triton interpreter (CPU tensors): its bf16 `tl.dot` (and its
int8 -> bf16 conversion) return garbage (Triton 3.6), so there the operands are upcast, which is
what the GPU's bf16 MMA with fp32 accumulation computes anyway. On the GPU bf16/fp16 operands keep the tensor-core path.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


def full_precision(t: torch.Tensor) -> bool:
    """The IEEE constexpr of a kernel whose dots take t's dtype and device."""
    return t.dtype == torch.float32 or not t.is_cuda


@triton.jit
def dot_into(acc, a, b, IEEE: tl.constexpr):
    """acc + a @ b, accumulated in fp32."""
    if IEEE:
        acc = tl.dot(a.to(tl.float32), b.to(tl.float32), acc, input_precision="ieee")
    else:
        acc = tl.dot(a, b, acc)
    return acc
