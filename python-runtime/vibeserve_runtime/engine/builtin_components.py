"""Registers the library's own implementations of every dimension."""

from __future__ import annotations

from ..components.attention.sdpa import SDPAAttention
from ..components.execution.eager import EagerRunner
from ..components.execution.torch_compile import TorchCompileRunner
from ..components.kv_cache.contiguous import ContiguousKVCache
from ..components.kv_cache.paged import PagedKVCache
from ..components.linear.int8_weight_only import Int8WeightOnlyLinear
from ..components.linear.native import NativeLinear
from ..components.moe.loop import LoopMoE
from ..components.sampling.gumbel import GumbelSampler
from ..components.sampling.sort_based import SortBasedSampler
from ..components.scheduler.chunked_prefill import ChunkedPrefillScheduler
from ..components.scheduler.continuous import ContinuousScheduler
from ..components.scheduler.static import StaticScheduler
from ..components.speculation.predicted_outputs import PredictedOutputsProposer
from ..components.speculation.prompt_lookup import PromptLookupProposer
from ..components.structured_output.jump_forward import JumpForwardDecoding
from ..components.structured_output.token_mask import TokenMaskDecoding
from ..models.rope import RotaryEmbedding
from .registry import register_component


def _triton_paged():
    from ..components.attention.triton_paged import TritonPagedAttention

    return TritonPagedAttention()


def _triton_cascade():
    from ..components.attention.triton_cascade import TritonCascadeAttention

    return TritonCascadeAttention()


def _cuda_graphs(model, kv, params, device):
    from ..components.execution.cuda_graphs import CudaGraphRunner

    return CudaGraphRunner(model, kv, params, device, capture_cap=params.get("capture_cap"))


def _fp8(weight, bias=None):
    from ..components.linear.fp8 import Fp8Linear

    return Fp8Linear(weight, bias)


def _fused_moe(*args):
    from ..components.moe.fused_triton import FusedTritonMoE

    return FusedTritonMoE(*args)


def _dense_decode_moe(*args):
    from ..components.moe.dense_decode import DenseDecodeMoE

    return DenseDecodeMoE(*args)


def _fused_tuned_moe(*args):
    from ..components.moe.fused_tuned import TunedFusedMoE

    return TunedFusedMoE(*args)


def _contiguous(ctx):
    return ContiguousKVCache(
        ctx.num_layers,
        ctx.num_kv_heads,
        ctx.head_dim,
        ctx.params["max_batch_size"],
        ctx.params["block_size"],
        ctx.max_model_len,
        ctx.dtype,
        ctx.device,
    )


def _paged(ctx):
    return PagedKVCache(
        ctx.num_layers,
        ctx.num_kv_heads,
        ctx.head_dim,
        ctx.num_blocks(),
        ctx.params["block_size"],
        ctx.max_model_len,
        ctx.dtype,
        ctx.device,
        prefix_caching=ctx.params["prefix_caching"],
    )


def _proposer(cls):
    return lambda p: cls(p["ngram_min"], p["ngram_max"])


def _scheduler(cls):
    return lambda kv, p: cls(kv, p["max_batch_size"], p["max_num_batched_tokens"], p["chunk_size"])


for dim, name, factory in [
    ("attention", "sdpa", SDPAAttention),
    ("attention", "triton_paged", _triton_paged),
    ("attention", "triton_cascade", _triton_cascade),
    ("kv_cache", "contiguous", _contiguous),
    ("kv_cache", "paged", _paged),
    ("scheduler", "static", _scheduler(StaticScheduler)),
    ("scheduler", "continuous", _scheduler(ContinuousScheduler)),
    ("scheduler", "chunked_prefill", _scheduler(ChunkedPrefillScheduler)),
    ("execution", "eager", EagerRunner),
    ("execution", "cuda_graphs", _cuda_graphs),
    ("execution", "torch_compile", TorchCompileRunner),
    ("linear", "native", NativeLinear),
    ("linear", "int8_weight_only", Int8WeightOnlyLinear),
    ("linear", "fp8", _fp8),
    ("moe", "loop", LoopMoE),
    ("moe", "fused_triton", _fused_moe),
    ("moe", "dense_decode", _dense_decode_moe),
    ("moe", "fused_tuned", _fused_tuned_moe),
    ("sampling", "sort_based", SortBasedSampler),
    ("sampling", "gumbel", GumbelSampler),
    ("rope", "standard", RotaryEmbedding),
    ("speculation", "none", lambda p: None),
    ("speculation", "prompt_lookup", _proposer(PromptLookupProposer)),
    ("speculation", "predicted_outputs", _proposer(PredictedOutputsProposer)),
    ("structured_output", "token_mask", TokenMaskDecoding),
    ("structured_output", "jump_forward", JumpForwardDecoding),
]:
    register_component(dim, name, factory, replace=False)
