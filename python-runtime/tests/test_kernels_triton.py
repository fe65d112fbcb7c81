"""Triton kernels against plain PyTorch, run on CPU tensors under TRITON_INTERPRET=1 (or on a GPU)."""
import os

os.environ.setdefault("TRITON_INTERPRET", "1")   # must be set before triton is imported

import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from vibeserve_runtime.kernels.int8_matmul import int8_weight_only_matmul  # noqa: E402
from vibeserve_runtime.kernels.moe_align import align_by_expert, align_by_expert_fused, align_by_expert_torch  # noqa: E402
from vibeserve_runtime.kernels.moe_grouped_gemm import _grouped_gemm_torch, grouped_gemm  # noqa: E402
from vibeserve_runtime.kernels.paged_attention import paged_attention_decode  # noqa: E402
from vibeserve_runtime.components.linear.int8_weight_only import quantize_per_channel  # noqa: E402

DEV = "cuda" if torch.cuda.is_available() and os.environ.get("TRITON_INTERPRET") != "1" else "cpu"


@pytest.mark.parametrize("block_size,heads,kv_heads", [(8, 4, 2), (16, 8, 8), (16, 6, 2)])
def test_paged_attention_matches_sdpa(block_size, heads, kv_heads):
    torch.manual_seed(0)
    D, num_blocks = 32, 40
    ctx = [1, 37, 70, 16]
    k_cache = torch.randn(num_blocks, block_size, kv_heads, D, device=DEV)
    v_cache = torch.randn(num_blocks, block_size, kv_heads, D, device=DEV)
    perm = torch.randperm(num_blocks).tolist()     # scattered, non-contiguous blocks
    max_blocks = -(-max(ctx) // block_size)
    tables = torch.tensor([perm[i * max_blocks:(i + 1) * max_blocks] for i in range(len(ctx))], device=DEV)
    q = torch.randn(len(ctx), heads, D, device=DEV)
    scale = D ** -0.5
    out = paged_attention_decode(q, k_cache, v_cache, tables, torch.tensor(ctx, device=DEV), scale)
    for b, n in enumerate(ctx):
        slots = torch.arange(n, device=DEV)
        k = k_cache[tables[b, slots // block_size], slots % block_size]    # [n, kvh, D]
        v = v_cache[tables[b, slots // block_size], slots % block_size]
        rep = heads // kv_heads
        want = F.scaled_dot_product_attention(q[b][:, None], k.repeat_interleave(rep, 1).transpose(0, 1),
                                              v.repeat_interleave(rep, 1).transpose(0, 1), scale=scale)[:, 0]
        torch.testing.assert_close(out[b], want, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("block_size,heads,kv_heads", [(8, 4, 2), (16, 6, 2)])
def test_paged_attention_with_new_kv_stores_and_attends(block_size, heads, kv_heads):
    """The decode step's own K/V: written to its slot, and attended to as the context's last token."""
    torch.manual_seed(3)
    D, num_blocks = 32, 40
    ctx = [1, 37, 70, 16]
    k_cache = torch.randn(num_blocks, block_size, kv_heads, D, device=DEV)
    v_cache = torch.randn(num_blocks, block_size, kv_heads, D, device=DEV)
    perm = torch.randperm(num_blocks).tolist()
    max_blocks = -(-max(ctx) // block_size)
    tables = torch.tensor([perm[i * max_blocks:(i + 1) * max_blocks] for i in range(len(ctx))], device=DEV)
    slots = torch.tensor([int(tables[b, (n - 1) // block_size]) * block_size + (n - 1) % block_size
                          for b, n in enumerate(ctx)], device=DEV)
    q = torch.randn(len(ctx), heads, D, device=DEV)
    k_new = torch.randn(len(ctx), kv_heads, D, device=DEV)
    v_new = torch.randn(len(ctx), kv_heads, D, device=DEV)
    want_k, want_v = k_cache.clone(), v_cache.clone()
    want_k.view(-1, kv_heads, D)[slots] = k_new
    want_v.view(-1, kv_heads, D)[slots] = v_new
    lens = torch.tensor(ctx, device=DEV)
    want = paged_attention_decode(q, want_k, want_v, tables, lens, D ** -0.5)
    out = paged_attention_decode(q, k_cache, v_cache, tables, lens, D ** -0.5, k_new=k_new, v_new=v_new,
                                 slot_mapping=slots)
    torch.testing.assert_close(k_cache, want_k)
    torch.testing.assert_close(v_cache, want_v)
    torch.testing.assert_close(out, want, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("M,N,K", [(1, 96, 200), (5, 64, 128), (33, 130, 64)])
def test_int8_matmul_matches_dequantized(M, N, K):
    torch.manual_seed(1)
    w = torch.randn(N, K, device=DEV) * 0.05
    x = torch.randn(M, K, device=DEV)
    q, scale = quantize_per_channel(w)
    got = int8_weight_only_matmul(x, q, scale)
    want = x @ (q.float() * scale[:, None]).T
    torch.testing.assert_close(got, want, atol=1e-3, rtol=1e-3)
    # and the quantization itself is close to the original weights
    assert ((q.float() * scale[:, None]) - w).abs().max() <= scale.max() / 2 + 1e-6


@pytest.mark.parametrize("n_pairs,E", [(1, 8), (2, 8), (32, 8), (37, 4), (64, 8), (300, 16), (1024, 8)])
def test_fused_align_gives_the_torch_layout(n_pairs, E):
    """One Triton program sorting the pairs by expert: the same layout, position for position, as
    the torch formulation, with skewed routing (some experts empty, one taking most pairs)."""
    g = torch.Generator().manual_seed(n_pairs)
    weights = torch.rand(E, generator=g) ** 4
    weights[torch.randperm(E, generator=g)[: E // 4]] = 0   # experts no pair goes to
    ids = torch.multinomial(weights, n_pairs, replacement=True, generator=g).to(DEV)
    pairs, block_expert = align_by_expert_fused(ids, E)
    want_pairs, want_blocks = align_by_expert_torch(ids, E)
    assert torch.equal(pairs, want_pairs) and torch.equal(block_expert, want_blocks)
    assert pairs.dtype == block_expert.dtype == torch.int64


@pytest.mark.parametrize("T,E,top_k", [(1, 4, 2), (7, 4, 2), (40, 8, 2)])
def test_grouped_gemm_matches_per_expert_loop(T, E, top_k):
    torch.manual_seed(2)
    H, N = 32, 48
    x = torch.randn(T, H, device=DEV)
    w = torch.randn(E, N, H, device=DEV)
    ids = torch.stack([torch.randperm(E)[:top_k] for _ in range(T)]).to(DEV)
    pairs, block_expert = align_by_expert(ids, E)
    got = grouped_gemm(x, w, pairs, block_expert, T * top_k, rows_per_token=top_k)
    want = torch.stack([x[p // top_k] @ w[ids.view(-1)[p]].T for p in range(T * top_k)])
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    # the CPU path used without Triton agrees too
    cpu = _grouped_gemm_torch(x.cpu(), w.cpu(), pairs.cpu(), block_expert.cpu(), torch.empty_like(want.cpu()), top_k)
    torch.testing.assert_close(cpu, want.cpu(), atol=1e-4, rtol=1e-4)
    # every pair appears exactly once in the sorted layout, inside a tile of its own expert
    valid = pairs[pairs >= 0]
    assert sorted(valid.tolist()) == list(range(T * top_k))
    tile_of = torch.nonzero(pairs >= 0)[:, 0] // 16
    assert torch.equal(block_expert[tile_of], ids.view(-1)[valid])
    # a strided weight (the transpose of an [E, K, N] tensor, as moe=dense_decode stores its down projections)
    strided = w.transpose(1, 2).contiguous().transpose(1, 2)
    assert strided.stride(2) != 1
    torch.testing.assert_close(grouped_gemm(x, strided, pairs, block_expert, T * top_k, rows_per_token=top_k), want,
                               atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("T", [5, 64, 100])
def test_dense_decode_moe_matches_the_grouped_layer(T):
    """moe=dense_decode: dense over all experts up to DENSE_MAX_TOKENS, the grouped GEMM above; both
    give the fused grouped layer's output on the same weights."""
    from vibeserve_runtime.components.linear.native import NativeLinear
    from vibeserve_runtime.components.moe.dense_decode import DENSE_MAX_TOKENS, DenseDecodeMoE
    from vibeserve_runtime.components.moe.fused_triton import FusedTritonMoE
    torch.manual_seed(3)
    E, H, inter, top_k = 8, 32, 48, 2
    gate, w1, w2, w3 = (torch.randn(E, H), torch.randn(E, inter, H) / 6, torch.randn(E, H, inter) / 7,
                        torch.randn(E, inter, H) / 6)
    x = torch.randn(T, H, device=DEV)
    dense = DenseDecodeMoE(gate, w1, w2, w3, top_k, NativeLinear).to(DEV)
    grouped = FusedTritonMoE(gate, w1, w2, w3, top_k, NativeLinear).to(DEV)
    calls = []
    dense._grouped = lambda *a, f=dense._grouped: (calls.append(1), f(*a))[1]
    torch.testing.assert_close(dense(x), grouped(x), atol=1e-4, rtol=1e-4)
    assert bool(calls) == (T > DENSE_MAX_TOKENS)
