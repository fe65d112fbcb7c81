"""Process-group set-up for tensor parallelism: NCCL between GPUs, gloo between CPU processes.

A second gloo group carries the per-step batch (pickled host objects), so the data path (NCCL) only
ever sees the all-reduces of the model itself.
"""

from __future__ import annotations

import os
import socket
from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

# NVLink multicast (NVLS) and symmetric-memory multicast stay off on every process we start: the
# multi-GPU hosts this runs on do not support them reliably.
SAFE_COMM_ENV = {"NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1"}


def apply_safe_comm_env(env: MutableMapping[str, str] | None = None) -> MutableMapping[str, str]:
    """Sets the multicast-off variables in `env` (default: this process's environment)."""
    env = os.environ if env is None else env
    env.update(SAFE_COMM_ENV)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def backend_for(device: str) -> str:
    return "nccl" if device.startswith("cuda") else "gloo"


@dataclass
class TPGroup:
    rank: int
    world_size: int
    device: torch.device
    group: object  # data path: all-reduce of activations (nccl on GPU, gloo on CPU)
    control: object  # host objects: the per-step batch, start-up reports

    def all_reduce(self, t: torch.Tensor) -> torch.Tensor:
        dist.all_reduce(t, group=self.group)
        return t


def init_tp_group(
    rank: int, world_size: int, device: str, master_addr: str, master_port: int, timeout_s: float = 120.0
) -> TPGroup:
    """Joins the group of `world_size` ranks; rank r uses cuda:r on GPU hosts."""
    apply_safe_comm_env()
    if device.startswith("cuda"):
        if torch.cuda.device_count() < world_size:
            raise ValueError(
                f"components.tp={world_size} needs {world_size} visible GPUs; "
                f"this host shows {torch.cuda.device_count()}"
            )
        dev = torch.device("cuda", rank)
        torch.cuda.set_device(dev)
    else:
        dev = torch.device("cpu")
    backend = backend_for(device)
    timeout = timedelta(seconds=timeout_s)
    dist.init_process_group(
        backend,
        init_method=f"tcp://{master_addr}:{master_port}",
        rank=rank,
        world_size=world_size,
        timeout=timeout,
        **({"device_id": dev} if backend == "nccl" else {}),
    )
    control = dist.new_group(backend="gloo", timeout=timeout)  # its own group, so step messages never
    # interleave with the model's collectives
    return TPGroup(rank, world_size, dev, dist.group.WORLD, control)


def destroy_tp_group() -> None:
    """Leaves the group. NCCL's orderly teardown waits for the peers' matching teardown, and rank 0
    waits for its workers to exit before it tears down (it hosts the rendezvous store), so that
    would deadlock; nothing is in flight at this point, and an abort is local to this process."""
    if not dist.is_initialized():
        return
    if dist.get_backend() == "nccl":
        dist.distributed_c10d._abort_process_group()
    else:
        dist.destroy_process_group()
