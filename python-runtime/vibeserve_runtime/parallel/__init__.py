"""Tensor parallelism: one process per device, weights sharded by heads and MLP columns, all-reduce
after the row-parallel projections. Rank 0 runs the engine (scheduler, KV-cache bookkeeping, sampling)
and sends every forward pass's batch to the other ranks, which only execute it."""

from .launcher import TensorParallelEngine, launch_tensor_parallel_engine

__all__ = ["TensorParallelEngine", "launch_tensor_parallel_engine"]
