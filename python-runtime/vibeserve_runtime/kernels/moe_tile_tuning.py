"""Tile shapes for the expert-MLP kernels, chosen by timing them on the device for the shapes served.

A general-purpose engine ships tile tables for the models and GPUs it was tuned on and falls back to
one default shape elsewhere. A bespoke stack serves one model on one device, so it times a short list
of shapes on its own weights and keeps the fastest per (shape, token-count bucket) for the life of the
process, shared by every layer. The engine has every bucket up to its largest step timed when it is
built (TunedFusedMoE.prepare_for_tokens); a bucket first seen later is timed then.

Tried per bucket: the pair-tile height (16 rows for decode; 64 too once experts get many rows each),
then for that layout each gate/up shape and each down shape (with its K split). Each timing is the
median of a few runs with the L2 cache flushed, so the weights come from memory as when serving.
Inside a graph capture, on CPU, or under the interpreter there is nothing to time: the first shape
of each list is used.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Callable

import torch
import triton
import triton.testing

from .moe_align import align_by_expert
from .moe_expert_mlp import GemmTiles, down_partials, gate_up_silu

log = logging.getLogger(__name__)

GATE_UP_TILES = {
    16: [
        GemmTiles(64, 64),
        GemmTiles(64, 128),
        GemmTiles(32, 128, num_stages=4),
        GemmTiles(128, 64),
        GemmTiles(64, 128, num_stages=4),
        GemmTiles(32, 256),
        GemmTiles(128, 128, num_warps=8),
        GemmTiles(32, 256, num_stages=4),
        GemmTiles(16, 256, num_stages=4),
        GemmTiles(32, 128, num_stages=5),
    ],
    64: [GemmTiles(64, 64), GemmTiles(128, 64, num_warps=8), GemmTiles(64, 128, num_warps=8)],
}
DOWN_TILES = {
    16: [
        GemmTiles(64, 128, split=2),
        GemmTiles(64, 128),
        GemmTiles(64, 128, split=4),
        GemmTiles(32, 128, split=2, num_stages=4),
        GemmTiles(32, 256, split=2),
        GemmTiles(128, 128, split=4),
        GemmTiles(64, 256, split=4),
        GemmTiles(32, 128, split=4, num_stages=4),
        GemmTiles(64, 128, split=2, num_stages=4),
        GemmTiles(32, 256, split=4),
        GemmTiles(64, 64, split=4, num_stages=4),
    ],
    64: [GemmTiles(64, 64), GemmTiles(128, 64, num_warps=8), GemmTiles(64, 128, num_warps=8)],
}
# Pairs per expert (on average) from which taller tiles are tried: below it most of a 64-row tile is padding.
TALL_TILE_MIN_PAIRS_PER_EXPERT = 32


@dataclass(frozen=True)
class MoETiles:
    block_m: int
    gate_up: GemmTiles
    down: GemmTiles
    timed_us: float | None = None  # gate/up + down, when chosen by timing


DEFAULT_TILES = MoETiles(16, GATE_UP_TILES[16][0], DOWN_TILES[16][0])
_chosen: dict[tuple, MoETiles] = {}


def token_bucket(tokens: int) -> int:
    # triton types next_power_of_2 for use inside kernels (constexpr); on the host it returns an int
    return triton.next_power_of_2(max(1, tokens))  # pyright: ignore[reportReturnType]


def can_time(x: torch.Tensor) -> bool:
    return x.is_cuda and os.environ.get("TRITON_INTERPRET") != "1" and not torch.cuda.is_current_stream_capturing()


def block_heights(tokens: int, top_k: int, experts: int) -> list[int]:
    return [16, 64] if tokens * top_k >= TALL_TILE_MIN_PAIRS_PER_EXPERT * experts else [16]


@torch.compiler.disable
def tiles_for(x: torch.Tensor, top_k: int, w_gate_up: torch.Tensor, w_down: torch.Tensor) -> MoETiles:
    """The tiles for this layer shape and x's token-count bucket, timed on x the first time the bucket
    is seen (where timing is possible)."""
    tokens = x.shape[0]
    experts, _, hidden = w_gate_up.shape
    key = (str(x.device), x.dtype, experts, hidden, w_down.shape[2], top_k, token_bucket(tokens))
    if key in _chosen:
        return _chosen[key]
    if not can_time(x):
        return DEFAULT_TILES
    best: MoETiles | None = None
    # Timed on routing spread over every expert, as a real batch routes, rather than on x's own: the
    # CUDA graphs warm up on token 0 in every row, which sends every row to the same two experts.
    spread = spread_routing(tokens, top_k, experts, x.device)
    for block_m in block_heights(tokens, top_k, experts):
        timed = _time_layout(x, spread, w_gate_up, w_down, block_m)
        if timed and (best is None or timed.timed_us < best.timed_us):
            best = timed
    best = best or DEFAULT_TILES
    _chosen[key] = best
    log.info(
        "moe tiles for %s: block_m=%d gate_up=%s down=%s (%.1f us)",
        key,
        best.block_m,
        best.gate_up.label(),
        best.down.label(),
        best.timed_us or float("nan"),
    )
    return best


def spread_routing(tokens: int, top_k: int, experts: int, device) -> torch.Tensor:
    """[tokens, top_k] expert ids dealt round-robin: distinct per token, every expert equally loaded."""
    return (torch.arange(tokens * top_k, device=device) % experts).view(tokens, top_k)


def _time_layout(x, ids, w_gate_up, w_down, block_m: int) -> MoETiles | None:
    """The fastest gate/up and down tiles on this pair-tile height, or None if none runs."""
    top_k = ids.shape[1]
    pairs, blocks = align_by_expert(ids, w_gate_up.shape[0], block_m)
    gate_up = _timed(GATE_UP_TILES[block_m], lambda t: gate_up_silu(x, w_gate_up, pairs, blocks, top_k, block_m, t))
    if not gate_up:
        return None
    act = gate_up_silu(x, w_gate_up, pairs, blocks, top_k, block_m, gate_up[0][0])
    down = _timed(DOWN_TILES[block_m], lambda t: down_partials(act, w_down, pairs, blocks, block_m, t))
    if not down:
        return None
    (g, tg), (d, td) = gate_up[0], down[0]
    return MoETiles(block_m, g, d, tg + td)


def _timed(candidates: list[GemmTiles], run: Callable[[GemmTiles], object]) -> list[tuple[GemmTiles, float]]:
    """(tiles, µs) of every candidate that runs here, fastest first."""
    timed = [(t, us) for t in candidates if (us := time_us(lambda t=t: run(t))) is not None]
    return sorted(timed, key=lambda r: r[1])


def time_us(fn: Callable[[], object]) -> float | None:
    """Median µs of fn with the L2 flushed between runs, or None if this shape does not compile/run here."""
    try:
        return triton.testing.do_bench(fn, warmup=3, rep=15, return_mode="median") * 1e3
    except Exception as e:  # a tile shape the device cannot fit (shared memory, registers) is just not a candidate
        log.debug("tile shape skipped: %s", e)
        return None


def chosen_tiles() -> dict[str, dict]:
    """What was chosen so far, for reports: {key: {block_m, gate_up, down, timed_us}}."""
    return {
        str(k): {"block_m": t.block_m, "gate_up": t.gate_up.label(), "down": t.down.label(), "timed_us": t.timed_us}
        for k, t in _chosen.items()
    }
