"""The paged cache's bookkeeping: the used-block count it reports (from the free list, without
walking the pool) always equals the blocks something references, through prefix hits, growth and
frees; blocks come back oldest-freed first, so a finished request's prefix is reused before evicted."""

import torch

from vibeserve_runtime.components.kv_cache.paged import PagedKVCache
from vibeserve_runtime.types import Request, SamplingParams
from vibeserve_runtime.engine.sequence import Sequence

BS = 4


def seq(rid, tokens):
    return Sequence(Request(rid, list(tokens), SamplingParams()), torch.device("cpu"))


def referenced(kv):
    return sum(1 for r in kv.ref if r > 0)


def computed(kv, s):
    s.num_computed = len(s)
    kv.on_computed(s)


def test_used_blocks_match_the_references_through_hits_growth_and_frees():
    kv = PagedKVCache(1, 1, 8, 64, BS, 64, torch.float32, "cpu")
    prefix = list(range(100, 112))  # three full blocks shared by a and b
    a, b, c = seq("a", prefix + [1, 2]), seq("b", prefix + [7]), seq("c", range(40, 50))
    for s in (a, b, c):
        assert kv.allocate(s)
        computed(kv, s)
        assert kv.stats()["kv_blocks_used"] == referenced(kv)
    assert b.num_cached_prompt == 12  # b reused a's three prefix blocks
    assert kv.reserve(c, 20) and kv.stats()["kv_blocks_used"] == referenced(kv)
    kv.free(a)
    assert kv.stats()["kv_blocks_used"] == referenced(kv)
    kv.free(b)
    kv.free(c)
    assert kv.stats()["kv_blocks_used"] == referenced(kv) == 0
    # the freed prefix is still cached: a new request with it hits, taking its blocks off the free list
    d = seq("d", prefix + [9, 9])
    assert kv.allocate(d) and d.num_cached_prompt == 12
    assert kv.stats()["kv_blocks_used"] == referenced(kv) == len(d.block_table)


def test_fresh_blocks_come_from_the_oldest_freed():
    kv = PagedKVCache(1, 1, 8, 6, BS, 24, torch.float32, "cpu", prefix_caching=False)
    first, second = seq("x", range(8)), seq("y", range(8))
    assert kv.allocate(first) and kv.allocate(second)  # blocks 0,1 and 2,3
    kv.free(second)  # freed first: 3, 2 (tail first)
    kv.free(first)  # then 1, 0
    z = seq("z", range(24))
    assert kv.allocate(z)
    assert z.block_table == [4, 5, 3, 2, 1, 0]
