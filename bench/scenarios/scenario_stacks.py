"""The stacks a scenario comparison measures, as stack specs: the generic stack (the design space's
`generic` overlay, as lib/designSpace.ts defaultDesign builds it for a search), the search's best
design, or any recorded design; and materializing a spec into a stack directory.

Both harnesses use it: compare_stacks.py (offline, in-process engines) and compare_served.py
(every stack behind its own HTTP server).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from vibeserve_runtime.bench.workload import Workload

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench" / "gpu"))
sys.path.insert(0, str(REPO / "bench" / "peers"))
import design_rules as rules  # noqa: E402  (bench/gpu is not a package)
from write_checkpoint import checkpoint_model_spec  # noqa: E402


def scenario_workload(sc: dict, max_prompts: int | None = None) -> Workload:
    """The scenario's workload in the bench verb's terms, as lib/workflowSafe/benchWorkload.ts builds it for a
    search (test/search/benchWorkloadParity.test.ts holds the two equal)."""
    w = sc["workload"]
    a = w.get("arrival") or {"kind": "max_concurrency", "concurrency": 8}  # lib/scenario.ts's default
    n = int(w["num_requests"])
    return Workload(
        dataset=w.get("dataset", "random"),
        num_prompts=min(n, max_prompts) if max_prompts else n,
        input_len=int(w["prompt_len"]),
        output_len=int(w["output_len"]),
        range_ratio=0.0,
        request_rate=None if a["kind"] == "max_concurrency" else float(a["rate"]),
        arrival="fixed" if a["kind"] == "fixed_rate" else "poisson",
        max_concurrency=int(a["concurrency"]) if a["kind"] == "max_concurrency" else None,
        warmups=1,
        repetitions=1,
        seed=int(sc["model"].get("seed", 0)),
        shared_prefix_len=int(w["shared_prefix_len"]) if w.get("shared_prefix_len") is not None else None,
    )


def device_of(sc: dict) -> str:
    return "cpu" if (sc.get("hardware") or {}).get("kind", "cpu") == "cpu" else "cuda"


def model_spec(sc: dict, checkpoint: Path | None = None) -> dict[str, Any]:
    """The scenario's model; with a checkpoint directory, its weights come from there (every engine
    of a comparison then serves the same weights)."""
    m = sc["model"]
    if checkpoint is not None:
        return checkpoint_model_spec(m, checkpoint)
    return {
        "arch": m["arch"],
        "preset": m.get("preset"),
        "config": m.get("config") or {},
        "weights": m.get("weights", "random"),
        "path": m.get("path"),
        "seed": m.get("seed", 0),
        "dtype": m.get("dtype", "float32"),
    }


def design_spec(
    sc: dict, name: str, choices: dict[str, str], params: dict[str, Any], device: str, checkpoint: Path | None = None
) -> dict[str, Any]:
    """A stack spec for one design of the scenario: its choices and params, the scenario's model and
    tokenizer, a context as long as the workload's longest request."""
    comps = {k: v for k, v in choices.items()}
    tok = sc.get("tokenizer") or {"kind": rules.tokenizer_for(sc)}
    comps["tokenizer"] = tok["kind"]  # fixed by the scenario, not searched
    params = dict(params)
    params.setdefault("max_model_len", int(sc["workload"]["prompt_len"]) + int(sc["workload"]["output_len"]))
    if tok.get("path"):
        params["tokenizer_path"] = str(REPO / tok["path"])  # scenario paths are relative to the repository
    return {
        "name": f"{sc['name']}-{name}",
        "model": model_spec(sc, checkpoint),
        "components": comps,
        "params": params,
        "device": device,
    }


def generic_design(sc: dict, device: str) -> dict[str, Any]:
    """The generic stack's design for the scenario on this device (what a search starts from)."""
    hw = sc.get("hardware") or {}
    hardware = rules.hardware_target("cpu" if device == "cpu" else hw.get("kind", "h100"), int(hw.get("gpus") or 1))
    return rules.default_design(rules.load_space(), rules.context_for(sc, hardware))


def generic_spec(sc: dict, device: str, checkpoint: Path | None = None) -> dict[str, Any]:
    d = generic_design(sc, device)
    return design_spec(sc, "generic", d["choices"], d["params"], device, checkpoint)


def kv_cache_tokens_for(peak_sequences: int, max_model_len: int, headroom: float = 2.0) -> int:
    """One KV pool size for every engine of a comparison: room for `headroom` times the sequences the
    workload keeps in flight at their full length. Engines loaded side by side would otherwise size
    their pools from whatever GPU memory the others left free."""
    return int(headroom * peak_sequences * max_model_len)


def materialize(spec: dict, out_dir: Path) -> Path:
    shutil.rmtree(out_dir, ignore_errors=True)  # a stack of an earlier run of this scenario
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    spec_file = out_dir.parent / f"{out_dir.name}.spec.json"
    spec_file.write_text(json.dumps(spec, indent=2))
    p = subprocess.run(
        [sys.executable, "-m", "vibeserve_runtime", "materialize", "--spec", str(spec_file), "--out", str(out_dir)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if p.returncode != 0:
        tail = (p.stdout + p.stderr).strip().splitlines()[-3:]
        raise RuntimeError(f"materialize of {spec['name']} failed (exit {p.returncode}): {' | '.join(tail)}")
    return out_dir


def device_name(device: str) -> str:
    """The GPU's name as PyTorch reports it, or the CPU's."""
    import torch

    if device == "cuda" and torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    import os
    import platform

    return f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
