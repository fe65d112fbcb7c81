"""Cascade attention decode against plain attention and the paged kernel, on CPU tensors under
TRITON_INTERPRET=1 (or on a GPU), for batches whose block tables share leading blocks in several ways."""

import os

os.environ.setdefault("TRITON_INTERPRET", "1")  # must be set before triton is imported

import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from vibeserve_runtime.kernels.cascade_attention import cascade_attention_decode, plan_shared_prefix  # noqa: E402
from vibeserve_runtime.kernels.paged_attention import paged_attention_decode  # noqa: E402

DEV = "cuda" if torch.cuda.is_available() and os.environ.get("TRITON_INTERPRET") != "1" else "cpu"
BS = 8


def tables_for(layout: list[tuple[int, int, int]], num_blocks: int) -> tuple[torch.Tensor, torch.Tensor]:
    """layout: per sequence (group, shared blocks, context tokens); sequences of one group take the same
    leading physical blocks (as many as their own count), then blocks of their own. Returns the block
    tables and the context lengths."""
    perm = iter(torch.randperm(num_blocks).tolist())
    prefix: dict[int, list[int]] = {}
    width = max(-(-ctx // BS) for _, _, ctx in layout)
    rows = []
    for group, shared, ctx in layout:
        blocks = prefix.setdefault(group, [next(perm) for _ in range(width)])[:shared]
        blocks += [next(perm) for _ in range(width - shared)]
        rows.append(blocks)
    return torch.tensor(rows, device=DEV), torch.tensor([ctx for _, _, ctx in layout], device=DEV)


def reference(q, k_cache, v_cache, tables, ctx, scale):
    out = torch.empty_like(q)
    rep = q.shape[1] // k_cache.shape[2]
    for b, n in enumerate(ctx.tolist()):
        slots = torch.arange(n, device=DEV)
        k = k_cache[tables[b, slots // BS], slots % BS].repeat_interleave(rep, 1)  # [n, H, D]
        v = v_cache[tables[b, slots // BS], slots % BS].repeat_interleave(rep, 1)
        out[b] = F.scaled_dot_product_attention(q[b][:, None], k.transpose(0, 1), v.transpose(0, 1), scale=scale)[:, 0]
    return out


LAYOUTS = {
    # group, shared leading blocks, context tokens
    "all_share": [(0, 4, 37), (0, 4, 40), (0, 4, 33), (0, 4, 45), (0, 4, 35)],
    "two_groups": [(0, 3, 30), (1, 2, 20), (0, 3, 26), (1, 2, 33), (0, 3, 41)],
    "none_share": [(0, 0, 17), (1, 0, 30), (2, 0, 9), (3, 0, 24)],
    "prefix_ends_mid_block": [(0, 3, 21), (0, 3, 30), (0, 3, 19)],  # the 1st and 3rd end inside block 3
    "block_aligned": [(0, 2, 16), (0, 2, 16), (0, 2, 24)],  # two whole contexts are the prefix
    "uneven_sharing": [(0, 4, 40), (0, 1, 36), (0, 3, 28), (5, 0, 12)],  # members share 1 to 4 blocks
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize(
    "heads,kv_heads,D", [(4, 2, 64), (8, 2, 128), (6, 2, 32), (4, 4, 80), (8, 1, 64), (4, 1, 256), (2, 2, 8)]
)
def test_cascade_matches_attention_and_the_paged_kernel(layout, heads, kv_heads, D):
    torch.manual_seed(0)
    num_blocks = 64
    tables, ctx = tables_for(LAYOUTS[layout], num_blocks)
    k_cache = torch.randn(num_blocks, BS, kv_heads, D, device=DEV)
    v_cache = torch.randn(num_blocks, BS, kv_heads, D, device=DEV)
    q = torch.randn(len(ctx), heads, D, device=DEV)
    scale = D**-0.5
    want = reference(q, k_cache, v_cache, tables, ctx, scale)
    # small tiles and several splits, so groups span tiles of members and the prefix spans splits
    got = cascade_attention_decode(q, k_cache, v_cache, tables, ctx, scale, tile_rows=16, splits=3)
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(
        got, paged_attention_decode(q, k_cache, v_cache, tables, ctx, scale), atol=1e-4, rtol=1e-4
    )


def test_the_plan_finds_each_groups_prefix():
    torch.manual_seed(0)
    tables, ctx = tables_for(LAYOUTS["uneven_sharing"] + [(7, 3, 30), (7, 3, 17)], 64)
    plan = plan_shared_prefix(tables, ctx, BS)
    # the leader (first of its group) attends the longest shared run of its members; a member its own,
    # cut at its context; a sequence alone shares nothing
    assert plan.prefix_lens.tolist() == [24, 8, 24, 0, 17, 17]
    order = plan.order.tolist()
    assert sorted(order) == list(range(6))
    groups = [order[s:e] for s, e in sorted(set(zip(plan.group_start.tolist(), plan.group_end.tolist())))]
    assert sorted(map(sorted, groups)) == [[0, 1, 2], [3], [4, 5]]


@pytest.mark.parametrize("heads,kv_heads,D", [(4, 2, 64), (8, 2, 128)])
def test_cascade_with_new_kv_stores_and_attends(heads, kv_heads, D):
    """The decode step's own K/V: stored in its slot and attended as the last token, as the paged kernel does."""
    torch.manual_seed(3)
    num_blocks = 64
    tables, ctx = tables_for(LAYOUTS["two_groups"], num_blocks)
    slots = torch.tensor(
        [int(tables[b, (n - 1) // BS]) * BS + (n - 1) % BS for b, n in enumerate(ctx.tolist())], device=DEV
    )
    k_cache = torch.randn(num_blocks, BS, kv_heads, D, device=DEV)
    v_cache = torch.randn(num_blocks, BS, kv_heads, D, device=DEV)
    q = torch.randn(len(ctx), heads, D, device=DEV)
    k_new = torch.randn(len(ctx), kv_heads, D, device=DEV)
    v_new = torch.randn(len(ctx), kv_heads, D, device=DEV)
    want_k, want_v = k_cache.clone(), v_cache.clone()
    want_k.view(-1, kv_heads, D)[slots] = k_new
    want_v.view(-1, kv_heads, D)[slots] = v_new
    want = reference(q, want_k, want_v, tables, ctx, D**-0.5)
    got = cascade_attention_decode(
        q, k_cache, v_cache, tables, ctx, D**-0.5, k_new=k_new, v_new=v_new, slot_mapping=slots, tile_rows=16
    )
    torch.testing.assert_close(k_cache, want_k)
    torch.testing.assert_close(v_cache, want_v)
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
