"""Cascade (shared-prefix) attention decode: sequences whose block tables start with the same physical
blocks attend over that shared prefix together, and over their own suffix one by one.

Two launches per layer:
1. the prefix pass: one program per (tile of a group's members, kv head, split of the prefix) stacks
   the query heads of up to MEMBERS sequences into one [rows, head_dim] matrix, so each K/V tile of the
   prefix is loaded once per tile of members instead of once per sequence. Each program writes its
   rows' partial attention (normalized output and log-sum-exp) over its split of the prefix.
2. the suffix pass: the paged kernel's program per (sequence, kv head), started from the merged prefix
   partials (an exact log-sum-exp merge) and walking only the sequence's tokens after its prefix, plus
   the step's own K/V (stored into its cache slot in the same launch).

The grouping is computed on the device with fixed shapes (no host sync), so it can be captured in a
CUDA graph. A sequence that shares nothing has a prefix of 0 tokens: its partials are empty and the
suffix pass is then the paged kernel.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import triton
import triton.language as tl

from .dot import dot_into, full_precision
from .paged_attention import context_tile, fold_step_token, online_softmax_step, store_step_kv, walk_context


@dataclass
class SharedPrefixPlan:
    """Sequences grouped by their first block; all [B] tensors on the device."""

    order: torch.Tensor  # sequence indices sorted so a group's members are adjacent, its leader first
    group_start: torch.Tensor  # per sorted position: the sorted position of its group's leader
    group_end: torch.Tensor  # per sorted position: one past its group's last member
    prefix_lens: torch.Tensor  # per sequence: leading cached tokens attended in the prefix pass


def plan_shared_prefix(block_tables: torch.Tensor, n_cached: torch.Tensor, block_size: int) -> SharedPrefixPlan:
    """Groups the sequences whose block tables start with the same block. A member's prefix is the run of
    leading block ids it has in common with its group's leader (identical ids are the same physical
    memory, so the leader's table reads them for all), cut at its own cached tokens; the leader's is the
    longest of its members', so a group of one has none. Blocks two members share beyond what they share
    with the leader are read by each in its suffix pass."""
    B = block_tables.shape[0]
    dev = block_tables.device
    pos = torch.arange(B, device=dev)
    first, order = torch.sort(block_tables[:, 0], stable=True)
    starts = torch.ones(B, dtype=torch.bool, device=dev)
    starts[1:] = first[1:] != first[:-1]
    group_start = torch.cummax(torch.where(starts, pos, 0), 0).values
    group_id = torch.cumsum(starts, 0) - 1
    sizes = torch.zeros(B, dtype=torch.long, device=dev).scatter_add_(0, group_id, torch.ones_like(group_id))
    group_end = group_start + sizes[group_id]
    tables = block_tables[order]
    common = (tables == tables[group_start]).long().cumprod(1).sum(1)
    cached = n_cached[order].long()
    shared = torch.minimum(common * block_size, cached)
    members_shared = torch.where(starts, 0, shared)
    group_shared = torch.zeros(B, dtype=torch.long, device=dev).scatter_reduce_(0, group_id, members_shared, "amax")
    sorted_lens = torch.where(starts, torch.minimum(group_shared[group_id], cached), shared)
    prefix_lens = torch.empty_like(sorted_lens).scatter_(0, order, sorted_lens)
    return SharedPrefixPlan(order, group_start, group_end, prefix_lens)


@triton.jit
def _shared_prefix_kernel(
    q_ptr,
    k_ptr,
    v_ptr,
    bt_ptr,
    order_ptr,
    gstart_ptr,
    gend_ptr,
    plen_ptr,
    po_ptr,
    plse_ptr,
    scale,
    s_qb,
    s_qh,
    s_kb,
    s_kt,
    s_kh,
    s_btb,
    s_pob,
    s_poh,
    s_pos,
    s_plb,
    s_plh,
    GROUP: tl.constexpr,
    GROUP_PAD: tl.constexpr,
    MEMBERS: tl.constexpr,
    HEAD_DIM: tl.constexpr,
    BLOCK_D: tl.constexpr,
    BLOCK_SIZE: tl.constexpr,
    BLOCK_N: tl.constexpr,
    SPLITS: tl.constexpr,
    IEEE: tl.constexpr,
):
    p = tl.program_id(0)  # a sorted position; the group's every MEMBERS-th one leads a tile
    kvh = tl.program_id(1)
    split = tl.program_id(2)
    start = tl.load(gstart_ptr + p)
    end = tl.load(gend_ptr + p)
    n_members = tl.where((p - start) % MEMBERS == 0, tl.minimum(end - p, MEMBERS), 0)
    r = tl.arange(0, MEMBERS * GROUP_PAD)
    member = r // GROUP_PAD
    g = r % GROUP_PAD
    in_tile = member < n_members
    row_ok = in_tile & (g < GROUP)
    d = tl.arange(0, BLOCK_D)
    d_ok = d < HEAD_DIM
    n = tl.arange(0, BLOCK_N)
    seq = tl.load(order_ptr + p + member, mask=in_tile, other=0)
    plen = tl.load(plen_ptr + seq, mask=row_ok, other=0)
    heads = kvh * GROUP + g
    q = tl.load(
        q_ptr + seq[:, None] * s_qb + heads[:, None] * s_qh + d[None, :],
        mask=row_ok[:, None] & d_ok[None, :],
        other=0.0,
    )
    leader = tl.load(order_ptr + start)
    walk = tl.max(plen, 0)
    tiles = tl.cdiv(walk, BLOCK_N)
    per_split = tl.cdiv(tiles, SPLITS)
    lo = split * per_split
    hi = tl.minimum(lo + per_split, tiles)
    m_i = tl.full([MEMBERS * GROUP_PAD], float("-inf"), tl.float32)
    l_i = tl.zeros([MEMBERS * GROUP_PAD], tl.float32)
    acc = tl.zeros([MEMBERS * GROUP_PAD, BLOCK_D], tl.float32)
    for i in range(lo, hi):
        tok = i * BLOCK_N + n
        valid = tok < walk
        blk = tl.load(bt_ptr + leader * s_btb + tok // BLOCK_SIZE, mask=valid, other=0)
        off = blk * s_kb + (tok % BLOCK_SIZE) * s_kt + kvh * s_kh
        k = tl.load(k_ptr + off[:, None] + d[None, :], mask=valid[:, None] & d_ok[None, :], other=0.0)
        v = tl.load(v_ptr + off[:, None] + d[None, :], mask=valid[:, None] & d_ok[None, :], other=0.0)
        s = dot_into(tl.zeros([MEMBERS * GROUP_PAD, BLOCK_N], tl.float32), q, tl.trans(k), IEEE)
        s = tl.where(tok[None, :] < plen[:, None], s * scale, float("-inf"))
        m_i, l_i, acc = online_softmax_step(m_i, l_i, acc, s, v, IEEE)
    some = l_i > 0
    out = acc / tl.where(some, l_i, 1.0)[:, None]
    lse = tl.where(some, m_i + tl.log(tl.where(some, l_i, 1.0)), float("-inf"))
    tl.store(  # an empty row's output is never read: its lse of -inf is enough
        po_ptr + seq[:, None] * s_pob + heads[:, None] * s_poh + split * s_pos + d[None, :],
        out,
        mask=(row_ok & some)[:, None] & d_ok[None, :],
    )
    tl.store(plse_ptr + seq * s_plb + heads * s_plh + split, lse, mask=row_ok)


@triton.jit
def _suffix_kernel(
    q_ptr,
    k_ptr,
    v_ptr,
    bt_ptr,
    ctx_ptr,
    plen_ptr,
    po_ptr,
    plse_ptr,
    o_ptr,
    kn_ptr,
    vn_ptr,
    slot_ptr,
    scale,
    s_qb,
    s_qh,
    s_kb,
    s_kt,
    s_kh,
    s_btb,
    s_pob,
    s_poh,
    s_pos,
    s_plb,
    s_plh,
    s_ob,
    s_oh,
    s_knb,
    s_knh,
    s_vnb,
    s_vnh,
    GROUP: tl.constexpr,
    GROUP_PAD: tl.constexpr,
    HEAD_DIM: tl.constexpr,
    BLOCK_D: tl.constexpr,
    BLOCK_SIZE: tl.constexpr,
    BLOCK_N: tl.constexpr,
    SPLITS: tl.constexpr,
    IEEE: tl.constexpr,
    NEW_KV: tl.constexpr,
):
    b = tl.program_id(0)
    kvh = tl.program_id(1)
    ctx = tl.load(ctx_ptr + b)
    start = tl.load(plen_ptr + b)
    g = tl.arange(0, GROUP_PAD)
    g_ok = g < GROUP
    d = tl.arange(0, BLOCK_D)
    d_ok = d < HEAD_DIM
    heads = kvh * GROUP + g
    q = tl.load(q_ptr + b * s_qb + heads[:, None] * s_qh + d[None, :], mask=g_ok[:, None] & d_ok[None, :], other=0.0)
    m_i = tl.full([GROUP_PAD], float("-inf"), tl.float32)
    l_i = tl.zeros([GROUP_PAD], tl.float32)
    acc = tl.zeros([GROUP_PAD, BLOCK_D], tl.float32)
    # the prefix partials: each a softmax over its split, i.e. a running state with max lse and sum 1
    for sp in range(SPLITS):
        lse = tl.load(plse_ptr + b * s_plb + heads * s_plh + sp, mask=g_ok, other=float("-inf"))
        o = tl.load(
            po_ptr + b * s_pob + heads[:, None] * s_poh + sp * s_pos + d[None, :],
            mask=(lse > float("-inf"))[:, None] & d_ok[None, :],
            other=0.0,
        )
        m_new = tl.maximum(m_i, lse)
        m_ref = tl.where(m_new == float("-inf"), 0.0, m_new)
        alpha = tl.exp(m_i - m_ref)
        beta = tl.exp(lse - m_ref)
        l_i = l_i * alpha + beta
        acc = acc * alpha[:, None] + o * beta[:, None]
        m_i = m_new
    # the caches and block table seen from this program's kv head and sequence
    k_head, v_head, table = k_ptr + kvh * s_kh, v_ptr + kvh * s_kh, bt_ptr + b * s_btb
    if NEW_KV:
        kn_at, vn_at = kn_ptr + b * s_knb + kvh * s_knh, vn_ptr + b * s_vnb + kvh * s_vnh
        kn, vn = store_step_kv(k_head, v_head, kn_at, vn_at, tl.load(slot_ptr + b), d, d_ok, s_kb, s_kt, BLOCK_SIZE)
    n_cached = ctx - 1 if NEW_KV else ctx  # the new token (position ctx - 1) is not read back from the cache
    m_i, l_i, acc = walk_context(
        q, m_i, l_i, acc, k_head, v_head, table, start, n_cached, scale, s_kb, s_kt, d, d_ok, BLOCK_SIZE, BLOCK_N, IEEE
    )
    if NEW_KV:
        out = fold_step_token(q, kn, vn, m_i, l_i, acc, scale)
    else:
        out = acc / l_i[:, None]
    tl.store(
        o_ptr + b * s_ob + heads[:, None] * s_oh + d[None, :],
        out.to(o_ptr.dtype.element_ty),
        mask=g_ok[:, None] & d_ok[None, :],
    )


# rows x head_dim of the prefix pass's accumulator at most: 64 query rows at head_dim 128
PREFIX_TILE_ELEMENTS = 64 * 128


def prefix_splits(max_context: int, tokens_per_split: int = 256, most: int = 8) -> int:
    """Parts the prefix pass splits the prefix into, from the longest context the block table can hold (a
    host fact, so the launch shape does not depend on the data): enough programs to fill the device when
    one group holds the whole batch."""
    return max(1, min(most, max_context // tokens_per_split))


def cascade_attention_decode(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    block_tables: torch.Tensor,
    context_lens: torch.Tensor,
    scale: float,
    plan: SharedPrefixPlan | None = None,
    k_new: torch.Tensor | None = None,
    v_new: torch.Tensor | None = None,
    slot_mapping: torch.Tensor | None = None,
    splits: int | None = None,
    tile_rows: int = 64,
    block_n: int = 64,
    num_warps: int = 4,
    num_stages: int = 2,
) -> torch.Tensor:
    """paged_attention_decode's contract (q [B, H, D]; k/v_cache [num_blocks, block_size, kv_heads, D];
    optional k_new/v_new [B, kv_heads, D] stored at slot_mapping [B]), with the shared prefixes attended
    once per group. plan: from plan_shared_prefix on the same tables and cached lengths (context_lens,
    less the new token when k_new is given); computed here when not given. tile_rows: query rows
    (members x query heads per kv head) the prefix pass stacks per program."""
    B, H, D = q.shape
    _, block_size, kvh, _ = k_cache.shape
    if D < 8 or D > 256:
        raise ValueError(f"triton_cascade attention serves head_dim 8 to 256, got {D}")
    new_kv = k_new is not None
    if plan is None:
        plan = plan_shared_prefix(block_tables, context_lens - 1 if new_kv else context_lens, block_size)
    if splits is None:
        splits = prefix_splits(block_tables.shape[1] * block_size)
    group = H // kvh
    group_pad = triton.next_power_of_2(group)
    block_d = max(16, triton.next_power_of_2(D))
    # the prefix pass keeps a [rows, head_dim] fp32 accumulator in registers: fewer rows for wide heads
    rows = max(16, min(tile_rows, PREFIX_TILE_ELEMENTS // block_d))
    members = max(1, rows // group_pad)
    q = q.contiguous()
    out = torch.empty_like(q)
    part_out = torch.empty(B, H, splits, D, dtype=torch.float32, device=q.device)
    part_lse = torch.empty(B, H, splits, dtype=torch.float32, device=q.device)
    stages = num_stages if q.is_cuda else 1
    tile_n = context_tile(block_n, block_d, k_cache.element_size(), stages)
    ieee = full_precision(q)
    _shared_prefix_kernel[(B, kvh, splits)](
        q,
        k_cache,
        v_cache,
        block_tables,
        plan.order,
        plan.group_start,
        plan.group_end,
        plan.prefix_lens,
        part_out,
        part_lse,
        scale,
        q.stride(0),
        q.stride(1),
        k_cache.stride(0),
        k_cache.stride(1),
        k_cache.stride(2),
        block_tables.stride(0),
        part_out.stride(0),
        part_out.stride(1),
        part_out.stride(2),
        part_lse.stride(0),
        part_lse.stride(1),
        GROUP=group,
        GROUP_PAD=group_pad,
        MEMBERS=members,
        HEAD_DIM=D,
        BLOCK_D=block_d,
        BLOCK_SIZE=block_size,
        BLOCK_N=tile_n,
        SPLITS=splits,
        IEEE=ieee,
        num_warps=num_warps,
        num_stages=stages,
    )
    kn, vn, slots = (k_new, v_new, slot_mapping) if new_kv else (q, q, context_lens)  # unused when not new_kv
    _suffix_kernel[(B, kvh)](
        q,
        k_cache,
        v_cache,
        block_tables,
        context_lens,
        plan.prefix_lens,
        part_out,
        part_lse,
        out,
        kn,
        vn,
        slots,
        scale,
        q.stride(0),
        q.stride(1),
        k_cache.stride(0),
        k_cache.stride(1),
        k_cache.stride(2),
        block_tables.stride(0),
        part_out.stride(0),
        part_out.stride(1),
        part_out.stride(2),
        part_lse.stride(0),
        part_lse.stride(1),
        out.stride(0),
        out.stride(1),
        kn.stride(0),
        kn.stride(1),
        vn.stride(0),
        vn.stride(1),
        GROUP=group,
        GROUP_PAD=max(16, group_pad),
        HEAD_DIM=D,
        BLOCK_D=block_d,
        BLOCK_SIZE=block_size,
        BLOCK_N=tile_n,
        SPLITS=splits,
        IEEE=ieee,
        NEW_KV=new_kv,
        num_warps=num_warps,
        num_stages=stages,
    )
    return out
