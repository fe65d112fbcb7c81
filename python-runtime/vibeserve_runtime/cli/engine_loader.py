"""Build the engine of a stack from its normalized spec (runs in the candidate's own code)."""

from __future__ import annotations

import importlib
import importlib.util
import os
from pathlib import Path
from typing import Any


def import_custom_components(spec: dict[str, Any], stack_dir: Path | None) -> None:
    """custom_components: {name: {dimension, module}}; importing a module registers its component
    (engine.registry.register_component). module is a dotted name or a .py path in the stack dir."""
    for name, c in (spec.get("custom_components") or {}).items():
        mod = c["module"]
        if mod.endswith(".py"):
            path = (stack_dir / mod) if stack_dir and not Path(mod).is_absolute() else Path(mod)
            s = importlib.util.spec_from_file_location(f"vibeserve_custom_{name}", path)
            if s is None or not path.is_file():
                raise FileNotFoundError(f"custom_components.{name}.module: {path} not found")
            m = importlib.util.module_from_spec(s)
            s.loader.exec_module(m)
        else:
            importlib.import_module(mod)


def cuda_device_count() -> int:
    """The CUDA devices this process may use, asked of the driver as torch.cuda does, without
    importing torch (~4 s on a GPU host, which a verb's parent would spend before its child starts)."""
    import ctypes

    try:
        driver = ctypes.CDLL("libcuda.so.1")
    except OSError:  # no NVIDIA driver on this machine
        return 0
    count = ctypes.c_int(0)
    if driver.cuInit(0) != 0 or driver.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return 0  # e.g. CUDA_VISIBLE_DEVICES hides every device, or the driver cannot start
    return count.value


def require_device(device: str) -> None:
    """A stack for a GPU sent to a machine without one is a routing mistake, not a candidate fault."""
    if device.startswith("cuda"):
        if cuda_device_count() == 0:
            from ..events import UsageError

            raise UsageError(
                "device_unavailable",
                f"the stack needs device {device!r} but this machine has no "
                "CUDA GPU visible to PyTorch; run it on a GPU worker or pass --device cpu",
            )


def build_engine(
    spec: dict[str, Any], device: str | None = None, stack_dir: Path | None = None, capture_cap: int | None = None
):
    """capture_cap: the largest decode batch the caller will send (Engine.from_spec)."""
    from ..engine import Engine
    from ..engine.spec import load_stack_spec
    from ..gc_heap import freeze_startup_heap

    import_custom_components(spec, stack_dir)
    spec = {k: v for k, v in spec.items() if k != "custom_components"}
    if device:
        spec["device"] = device
    engine = Engine.from_spec(load_stack_spec(spec), capture_cap=capture_cap)
    freeze_startup_heap()  # the model, its graphs and the imports: never rescanned while it serves
    return engine


def assert_runs_stack_code(stack_dir: Path) -> None:
    """A stack with its own code copy must run that copy, not the installed runtime."""
    import vibeserve_runtime

    if (stack_dir / "vibeserve_runtime").is_dir():
        here = Path(vibeserve_runtime.__file__).resolve().parent.parent
        if here != stack_dir.resolve():
            raise RuntimeError(
                f"expected to run the stack's code under {stack_dir}, imported {here} "
                f"(PYTHONPATH={os.environ.get('PYTHONPATH')})"
            )
