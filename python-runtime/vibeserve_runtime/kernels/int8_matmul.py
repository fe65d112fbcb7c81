"""y = x @ (q * scale[:, None]).T for int8 q [N, K] and per-output-channel scale [N].

Weight tiles are loaded as int8 and converted in registers: a decode step reads half the bytes of
bf16 weights, which is what bounds it.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .dot import dot_into, full_precision


@triton.jit
def _int8_matmul_kernel(
    x_ptr,
    w_ptr,
    s_ptr,
    y_ptr,
    M,
    N,
    K,
    s_xm,
    s_wn,
    s_ym,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
    IEEE: tl.constexpr,
):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    kk = tl.arange(0, BLOCK_K)
    acc = tl.zeros([BLOCK_M, BLOCK_N], tl.float32)
    for k0 in range(0, K, BLOCK_K):
        k = k0 + kk
        x = tl.load(x_ptr + m[:, None] * s_xm + k[None, :], mask=(m[:, None] < M) & (k[None, :] < K), other=0.0)
        w = tl.load(w_ptr + n[None, :] * s_wn + k[:, None], mask=(n[None, :] < N) & (k[:, None] < K), other=0)
        if IEEE:  # the interpreter's int8 -> bf16 conversion is wrong too (kernels/dot.py)
            acc = dot_into(acc, x, w.to(tl.float32), IEEE)
        else:
            acc = dot_into(acc, x, w.to(x.dtype), IEEE)
    scale = tl.load(s_ptr + n, mask=n < N, other=0.0).to(tl.float32)
    acc = acc * scale[None, :]
    tl.store(
        y_ptr + m[:, None] * s_ym + n[None, :], acc.to(y_ptr.dtype.element_ty), mask=(m[:, None] < M) & (n[None, :] < N)
    )


def int8_weight_only_matmul(
    x: torch.Tensor,
    qweight: torch.Tensor,
    scale: torch.Tensor,
    block_n: int | None = None,
    block_k: int = 256,
    num_warps: int = 4,
    num_stages: int = 3,
) -> torch.Tensor:
    M, K = x.shape
    N = qweight.shape[0]
    if block_n is None:
        # measured on an H100 at M <= 16 (bench/results/int8_tiles_h100.json): 32×256 tiles for the
        # narrow layers and 64×256 for the wide ones beat the former 16/32×128 by 5-20%
        block_n = 32 if N <= 8192 else 64
    if x.dtype == torch.float32:
        # fp32 activations: 64-wide K tiles. At 256 the fp32 tiles of a 64-row block need 176 KB of shared
        # memory over the pipeline's stages, and the launch fails on an H100 ("out of memory")
        block_k = min(block_k, 64)
    x = x.contiguous()
    y = torch.empty(M, N, device=x.device, dtype=x.dtype)
    block_m = 16 if M <= 16 else (32 if M <= 32 else 64)
    grid = (triton.cdiv(M, block_m), triton.cdiv(N, block_n))
    _int8_matmul_kernel[grid](
        x,
        qweight,
        scale,
        y,
        M,
        N,
        K,
        x.stride(0),
        qweight.stride(0),
        y.stride(0),
        BLOCK_M=block_m,
        BLOCK_N=block_n,
        BLOCK_K=block_k,
        IEEE=full_precision(x),
        num_warps=num_warps,
        num_stages=num_stages if x.is_cuda else 1,
    )
    return y
