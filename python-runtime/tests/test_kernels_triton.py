"""Triton kernels against plain PyTorch, run on CPU tensors under TRITON_INTERPRET=1 (or on a GPU)."""

import os

os.environ.setdefault("TRITON_INTERPRET", "1")  # must be set before triton is imported

import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from vibeserve_runtime.kernels.int8_matmul import int8_weight_only_matmul  # noqa: E402
from vibeserve_runtime.kernels.moe_align import align_by_expert, align_by_expert_fused, align_by_expert_torch  # noqa: E402
from vibeserve_runtime.kernels.moe_grouped_gemm import _grouped_gemm_torch, grouped_gemm  # noqa: E402
from vibeserve_runtime.kernels.paged_attention import paged_attention_decode  # noqa: E402
from vibeserve_runtime.components.linear.int8_weight_only import quantize_per_channel  # noqa: E402

DEV = "cuda" if torch.cuda.is_available() and os.environ.get("TRITON_INTERPRET") != "1" else "cpu"


# head sizes of popular models (80, 96 and 112 are not powers of two), with GQA, MHA and MQA
HEAD_DIMS = [(16, 6, 2, 64), (16, 8, 1, 80), (16, 8, 2, 96), (8, 4, 4, 112), (16, 8, 8, 128), (16, 4, 1, 256)]


@pytest.mark.parametrize("block_size,heads,kv_heads,D", [(8, 4, 2, 32), (16, 8, 8, 32), (16, 6, 2, 32), *HEAD_DIMS])
def test_paged_attention_matches_sdpa(block_size, heads, kv_heads, D):
    torch.manual_seed(0)
    num_blocks = 40
    ctx = [1, 37, 70, 16]
    k_cache = torch.randn(num_blocks, block_size, kv_heads, D, device=DEV)
    v_cache = torch.randn(num_blocks, block_size, kv_heads, D, device=DEV)
    perm = torch.randperm(num_blocks).tolist()  # scattered, non-contiguous blocks
    max_blocks = -(-max(ctx) // block_size)
    tables = torch.tensor([perm[i * max_blocks : (i + 1) * max_blocks] for i in range(len(ctx))], device=DEV)
    q = torch.randn(len(ctx), heads, D, device=DEV)
    scale = D**-0.5
    out = paged_attention_decode(q, k_cache, v_cache, tables, torch.tensor(ctx, device=DEV), scale)
    for b, n in enumerate(ctx):
        slots = torch.arange(n, device=DEV)
        k = k_cache[tables[b, slots // block_size], slots % block_size]  # [n, kvh, D]
        v = v_cache[tables[b, slots // block_size], slots % block_size]
        rep = heads // kv_heads
        want = F.scaled_dot_product_attention(
            q[b][:, None],
            k.repeat_interleave(rep, 1).transpose(0, 1),
            v.repeat_interleave(rep, 1).transpose(0, 1),
            scale=scale,
        )[:, 0]
        torch.testing.assert_close(out[b], want, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("block_size,heads,kv_heads,D", [(8, 4, 2, 32), (16, 6, 2, 32), (16, 8, 2, 96), (16, 8, 1, 80)])
def test_paged_attention_with_new_kv_stores_and_attends(block_size, heads, kv_heads, D):
    """The decode step's own K/V: written to its slot (and nothing beyond its head_dim columns), and
    attended to as the context's last token."""
    torch.manual_seed(3)
    num_blocks = 40
    ctx = [1, 37, 70, 16]
    k_cache = torch.randn(num_blocks, block_size, kv_heads, D, device=DEV)
    v_cache = torch.randn(num_blocks, block_size, kv_heads, D, device=DEV)
    perm = torch.randperm(num_blocks).tolist()
    max_blocks = -(-max(ctx) // block_size)
    tables = torch.tensor([perm[i * max_blocks : (i + 1) * max_blocks] for i in range(len(ctx))], device=DEV)
    slots = torch.tensor(
        [int(tables[b, (n - 1) // block_size]) * block_size + (n - 1) % block_size for b, n in enumerate(ctx)],
        device=DEV,
    )
    q = torch.randn(len(ctx), heads, D, device=DEV)
    k_new = torch.randn(len(ctx), kv_heads, D, device=DEV)
    v_new = torch.randn(len(ctx), kv_heads, D, device=DEV)
    want_k, want_v = k_cache.clone(), v_cache.clone()
    want_k.view(-1, kv_heads, D)[slots] = k_new
    want_v.view(-1, kv_heads, D)[slots] = v_new
    lens = torch.tensor(ctx, device=DEV)
    want = paged_attention_decode(q, want_k, want_v, tables, lens, D**-0.5)
    out = paged_attention_decode(
        q, k_cache, v_cache, tables, lens, D**-0.5, k_new=k_new, v_new=v_new, slot_mapping=slots
    )
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
    weights[torch.randperm(E, generator=g)[: E // 4]] = 0  # experts no pair goes to
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
    torch.testing.assert_close(
        grouped_gemm(x, strided, pairs, block_expert, T * top_k, rows_per_token=top_k), want, atol=1e-4, rtol=1e-4
    )


@pytest.mark.parametrize("T", [5, 64, 100])
def test_dense_decode_moe_matches_the_grouped_layer(T):
    """moe=dense_decode: dense over all experts up to DENSE_MAX_TOKENS, the grouped GEMM above; both
    give the fused grouped layer's output on the same weights."""
    from vibeserve_runtime.components.linear.native import NativeLinear
    from vibeserve_runtime.components.moe.dense_decode import DENSE_MAX_TOKENS, DenseDecodeMoE
    from vibeserve_runtime.components.moe.fused_triton import FusedTritonMoE

    torch.manual_seed(3)
    E, H, inter, top_k = 8, 32, 48, 2
    gate, w1, w2, w3 = (
        torch.randn(E, H),
        torch.randn(E, inter, H) / 6,
        torch.randn(E, H, inter) / 7,
        torch.randn(E, inter, H) / 6,
    )
    x = torch.randn(T, H, device=DEV)
    dense = DenseDecodeMoE(gate, w1, w2, w3, top_k, NativeLinear).to(DEV)
    grouped = FusedTritonMoE(gate, w1, w2, w3, top_k, NativeLinear).to(DEV)
    calls = []
    dense._grouped = lambda *a, f=dense._grouped: (calls.append(1), f(*a))[1]
    torch.testing.assert_close(dense(x), grouped(x), atol=1e-4, rtol=1e-4)
    assert bool(calls) == (T > DENSE_MAX_TOKENS)


@pytest.mark.parametrize("T,E,top_k", [(1, 8, 2), (9, 8, 2), (20, 4, 1), (6, 6, 3)])
def test_fused_routing_picks_the_top_experts_and_renormalizes(T, E, top_k):
    from vibeserve_runtime.components.moe.routing import route
    from vibeserve_runtime.kernels.moe_routing import route_fused

    torch.manual_seed(4)
    H = 300  # not a multiple of the kernel's 256-wide chunks
    x, gate = torch.randn(T, H, device=DEV), torch.randn(E, H, device=DEV)
    weights, ids = route_fused(x, gate, top_k)
    want_w, want_ids = route(x, gate, top_k)  # fp32 inputs: no rounding of the logits either side
    assert torch.equal(ids, want_ids) and ids.dtype == torch.int64
    torch.testing.assert_close(weights, want_w.float(), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(weights.sum(-1), torch.ones(T, device=DEV))


def _expert_mlp_reference(x, w_gate_up, w_down, weights, ids):
    inter = w_gate_up.shape[1] // 2
    out = torch.zeros_like(x)
    for t in range(x.shape[0]):
        for k in range(ids.shape[1]):
            e = ids[t, k]
            h = w_gate_up[e] @ x[t]
            out[t] += weights[t, k] * (w_down[e] @ (F.silu(h[:inter]) * h[inter:]))
    return out


@pytest.mark.parametrize(
    "T,block_m,tiles,splits",
    [
        (3, 16, ((64, 64, 1), (64, 128, 2)), 1),  # a K step longer than half of K: the split collapses to one
        (40, 16, ((32, 32, 1), (32, 64, 3)), 2),  # K=96 in 3 parts of 32, rounded up to the 64-wide step: 64 + 32
        (70, 64, ((64, 64, 1), (128, 64, 1)), 1),  # taller tiles, as tried for prefill
        (20, 16, ((32, 32, 1), (32, 32, 3)), 3),
    ],
)
def test_expert_mlp_kernels_match_the_per_pair_loop(T, block_m, tiles, splits):
    """gate/up with the SiLU epilogue, the split-K down projection and the weighted combine, for any
    tile shape the tuner may pick, against a plain loop over (token, expert) pairs."""
    from vibeserve_runtime.kernels.moe_expert_mlp import GemmTiles, combine, down_partials, gate_up_silu

    torch.manual_seed(5)
    E, H, inter, top_k = 4, 64, 96, 2
    x = torch.randn(T, H, device=DEV)
    w_gate_up, w_down = torch.randn(E, 2 * inter, H, device=DEV) / 8, torch.randn(E, H, inter, device=DEV) / 10
    ids = torch.stack([torch.randperm(E)[:top_k] for _ in range(T)]).to(DEV)
    weights = torch.rand(T, top_k, device=DEV)
    (gn, gk, gs), (dn, dk, ds) = tiles
    pairs, block_expert = align_by_expert(ids, E, block_m)
    act = gate_up_silu(x, w_gate_up, pairs, block_expert, top_k, block_m, GemmTiles(gn, gk, gs))
    part = down_partials(act, w_down, pairs, block_expert, block_m, GemmTiles(dn, dk, ds))
    assert part.shape[0] == splits
    got = combine(part, weights, x.dtype)
    torch.testing.assert_close(got, _expert_mlp_reference(x, w_gate_up, w_down, weights, ids), atol=2e-4, rtol=2e-4)


@pytest.mark.parametrize("T", [1, 16, 130])
def test_tuned_moe_layer_matches_the_fused_triton_layer(T):
    """moe=fused_tuned against moe=fused_triton on the same weights (on a GPU the tiles are timed
    first; on CPU the default tiles run under the interpreter)."""
    from vibeserve_runtime.components.linear.native import NativeLinear
    from vibeserve_runtime.components.moe.fused_triton import FusedTritonMoE
    from vibeserve_runtime.components.moe.fused_tuned import TunedFusedMoE

    torch.manual_seed(6)
    E, H, inter, top_k = 8, 64, 96, 2
    gate, w1, w2, w3 = (
        torch.randn(E, H),
        torch.randn(E, inter, H) / 8,
        torch.randn(E, H, inter) / 10,
        torch.randn(E, inter, H) / 8,
    )
    x = torch.randn(T, H, device=DEV)
    tuned = TunedFusedMoE(gate, w1, w2, w3, top_k, NativeLinear).to(DEV)
    grouped = FusedTritonMoE(gate, w1, w2, w3, top_k, NativeLinear).to(DEV)
    torch.testing.assert_close(tuned(x), grouped(x), atol=2e-4, rtol=2e-4)
    assert tuned(x[:0]).shape == (0, H)


def test_tuned_moe_times_each_power_of_two_bucket_once():
    """prepare_for_tokens times the tiles of every token-count bucket up to the bound; layers of the
    same shape share them. Without a GPU (or in the interpreter) nothing is timed."""
    from vibeserve_runtime.components.linear.native import NativeLinear
    from vibeserve_runtime.components.moe.fused_tuned import TunedFusedMoE
    from vibeserve_runtime.kernels import moe_tile_tuning

    E, H, inter = 4, 80, 112  # a shape no other test uses
    layers = [
        TunedFusedMoE(
            torch.randn(E, H),
            torch.randn(E, inter, H),
            torch.randn(E, H, inter),
            torch.randn(E, inter, H),
            2,
            NativeLinear,
        ).to(DEV)
        for _ in range(2)
    ]
    for layer in layers:
        layer.prepare_for_tokens(20)
    buckets = sorted(k[-1] for k in moe_tile_tuning._chosen if k[3:5] == (H, inter))
    if moe_tile_tuning.can_time(torch.empty(1, device=DEV)):
        assert buckets == [1, 2, 4, 8, 16, 32]
    else:
        assert buckets == []


@pytest.mark.parametrize(
    "D,elem,stages,expected",
    [(128, 2, 2, 128), (256, 2, 2, 64), (256, 4, 2, 32), (64, 4, 2, 128), (256, 2, 1, 128), (256, 4, 3, 16)],
)
def test_the_context_tile_fits_shared_memory(D, elem, stages, expected):
    from vibeserve_runtime.kernels.paged_attention import TILE_SHARED_BYTES, context_tile

    tile = context_tile(128, D, elem, stages)
    assert tile == expected
    assert tile == 16 or 2 * tile * D * elem * stages <= TILE_SHARED_BYTES


def test_bf16_operands_give_the_fp32_products():
    """Every kernel on bf16 operands against fp32 math on the same bf16 values. The models run in
    bf16; the Triton interpreter's own bf16 dot is wrong (kernels/dot.py), which once rejected a
    correct MoE stack on CPU with logit errors of 10^10."""
    from vibeserve_runtime.kernels.moe_align import align_by_expert
    from vibeserve_runtime.kernels.moe_expert_mlp import down_partials, gate_up_silu
    from vibeserve_runtime.kernels.moe_tile_tuning import DEFAULT_TILES as tiles

    torch.manual_seed(7)
    bf = torch.bfloat16
    x, w = torch.randn(5, 64, device=DEV, dtype=bf), torch.randn(96, 64, device=DEV) * 0.05
    q, scale = quantize_per_channel(w)
    torch.testing.assert_close(
        int8_weight_only_matmul(x, q, scale.to(bf)).float(),
        x.float() @ (q.float() * scale.to(bf).float()[:, None]).T,
        atol=0.05,
        rtol=0.02,
    )

    E, H, inter, top_k, T = 4, 64, 96, 2, 3
    w_gate_up, w_down = (
        torch.randn(E, 2 * inter, H, device=DEV, dtype=bf) / 8,
        torch.randn(E, H, inter, device=DEV, dtype=bf) / 10,
    )
    ids = torch.tensor([[0, 1], [2, 3], [1, 2]], device=DEV)
    pairs, blocks = align_by_expert(ids, E, tiles.block_m)
    act = gate_up_silu(x[:T], w_gate_up, pairs, blocks, top_k, tiles.block_m, tiles.gate_up)
    down = down_partials(act, w_down, pairs, blocks, tiles.block_m, tiles.down).sum(0)
    for p, (t, e) in enumerate((t, e) for t in range(T) for e in ids[t].tolist()):
        g, u = (x[t].float() @ w_gate_up[e].float().T).chunk(2)
        torch.testing.assert_close(act[p].float(), F.silu(g) * u, atol=0.02, rtol=0.02)
        torch.testing.assert_close(down[p], act[p].float() @ w_down[e].float().T, atol=0.02, rtol=0.02)

    k_cache, v_cache = (torch.randn(4, 16, 2, 64, device=DEV, dtype=bf) for _ in range(2))
    qh = torch.randn(1, 4, 64, device=DEV, dtype=bf)
    out = paged_attention_decode(
        qh, k_cache, v_cache, torch.tensor([[2, 0]], device=DEV), torch.tensor([20], device=DEV), 0.125
    )
    k, v = (c[[2, 0]].flatten(0, 1)[:20].float().repeat_interleave(2, 1).transpose(0, 1) for c in (k_cache, v_cache))
    want = F.scaled_dot_product_attention(qh[0].float()[:, None], k, v, scale=0.125)[:, 0]
    torch.testing.assert_close(out[0].float(), want, atol=0.02, rtol=0.02)
