"""Entry point of ranks 1..tp-1 (`python -m vibeserve_runtime.parallel.worker`), started by the launcher.

Reads its rank and the stack spec from the environment; prints nothing on stdout (rank 0 owns it).
"""

from __future__ import annotations

import json
import os
import sys

import torch

from .custom_components import import_component_modules
from .process_group import destroy_tp_group, init_tp_group
from .rank_engine import build_rank_engine
from .step_broadcast import serve_steps


def main() -> int:
    rank, ws = int(os.environ["VIBESERVE_TP_RANK"]), int(os.environ["VIBESERVE_TP_WORLD_SIZE"])
    spec = json.loads(os.environ["VIBESERVE_TP_SPEC"])
    import_component_modules(json.loads(os.environ.get("VIBESERVE_TP_COMPONENT_MODULES", "[]")))
    if spec.get("device", "cpu") == "cpu":
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // ws))  # ranks share the host's cores
    tp = init_tp_group(
        rank, ws, spec.get("device", "cpu"), os.environ["VIBESERVE_TP_ADDR"], int(os.environ["VIBESERVE_TP_PORT"])
    )
    try:
        engine, _ = build_rank_engine(spec, tp)
        serve_steps(engine.runner, tp)
    finally:
        destroy_tp_group()
    return 0


if __name__ == "__main__":
    sys.stdout = sys.stderr
    code = main()
    sys.stderr.flush()
    # skip interpreter teardown: communication threads left by the backend may abort the process there
    os._exit(code)
