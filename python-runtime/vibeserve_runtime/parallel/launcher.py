"""Start a tensor-parallel engine: this process becomes rank 0 (it owns the scheduler and is the
engine its caller uses); ranks 1..tp-1 are worker subprocesses that execute rank 0's batches."""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import cast

from ..engine.engine import Engine
from ..engine.spec import load_stack_spec, spec_to_dict
from .custom_components import stack_component_modules
from .process_group import TPGroup, apply_safe_comm_env, destroy_tp_group, free_port, init_tp_group
from .rank_engine import build_rank_engine
from .step_broadcast import BroadcastingRunner

PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


class TensorParallelEngine(Engine):
    """An Engine on rank 0 whose forward passes also run on the worker ranks. close() stops them."""

    tp: TPGroup | None = None
    workers: list = []
    rank_reports: list | None = []

    def close(self, timeout_s: float = 30.0) -> None:
        if self.tp is None:
            return
        try:
            self.runner.stop_workers()
            for p in self.workers:  # rank 0 hosts the rendezvous store: keep it up until they are gone
                p.wait(timeout=timeout_s)
        finally:
            for p in self.workers:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            destroy_tp_group()
            self.tp = None
        bad = [(r, p.returncode) for r, p in enumerate(self.workers, 1) if p.returncode != 0]
        if bad:
            print(f"tensor parallel: worker ranks exited abnormally after shutdown: {bad}", file=sys.stderr)

    def stats(self) -> dict:
        s = super().stats()
        if self.rank_reports:
            s["tensor_parallel"] = {
                "ranks": [r["device"] for r in self.rank_reports],
                "kv_heads_per_rank": [r["num_kv_heads"] for r in self.rank_reports],
            }
        return s

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _worker_env(spec, rank: int, ws: int, port: int) -> MutableMapping[str, str]:
    env = apply_safe_comm_env(dict(os.environ))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
    env.update(
        VIBESERVE_TP_RANK=str(rank),
        VIBESERVE_TP_WORLD_SIZE=str(ws),
        VIBESERVE_TP_ADDR="127.0.0.1",
        VIBESERVE_TP_PORT=str(port),
        VIBESERVE_TP_SPEC=json.dumps(spec_to_dict(spec)),
        VIBESERVE_TP_COMPONENT_MODULES=json.dumps(stack_component_modules(spec.components)),
    )
    return env


def launch_tensor_parallel_engine(spec, init_timeout_s: float = 120.0) -> TensorParallelEngine:
    """Weights come from spec.model (each rank loads them itself), so in-memory weights cannot be used."""
    spec = load_stack_spec(spec)
    ws = int(spec.components["tp"])
    if dist_initialized():
        raise RuntimeError(
            "tensor parallel: this process already belongs to a process group; close() the "
            "previous tensor-parallel engine first"
        )
    port = free_port()
    apply_safe_comm_env()
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "vibeserve_runtime.parallel.worker"], env=_worker_env(spec, r, ws, port), stdout=2
        )  # stdout is rank 0's event stream
        for r in range(1, ws)
    ]
    try:
        tp = init_tp_group(0, ws, spec.device, "127.0.0.1", port, timeout_s=init_timeout_s)
        engine, reports = build_rank_engine(spec, tp, TensorParallelEngine)
    except Exception as e:
        for p in workers:
            if p.poll() is None:
                p.kill()
        destroy_tp_group()
        codes = [p.wait() for p in workers]
        raise RuntimeError(
            f"tensor parallel start-up failed on rank 0 ({e}); worker exit codes {codes} "
            "(their errors are on stderr above)"
        ) from e
    engine = cast(TensorParallelEngine, engine)  # build_rank_engine built it as engine_cls
    engine.tp, engine.workers, engine.rank_reports = tp, workers, reports
    engine.runner = BroadcastingRunner(engine.runner, tp)
    atexit.register(engine.close)
    return engine


def dist_initialized() -> bool:
    import torch.distributed as dist

    return dist.is_initialized()
