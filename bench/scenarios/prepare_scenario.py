"""The scenario file a run searches: the original with its file paths made absolute, or its CPU
variant for a dry run of the GPU scripts on a machine without a GPU.

  python bench/scenarios/prepare_scenario.py scenarios/mixtral-moe.yaml OUT.yaml [--cpu]

Paths (tokenizer.path, model.path) become absolute against the repository, so they stay valid
wherever the stack spec and the scenario copy are written. The CPU variant keeps the name,
architecture, tokenizer, objective and workload kind; it takes a tiny preset of the same
architecture in float32, a short workload and a small search, and drops constraint choices that
need CUDA, so the whole loop (Temporal search, checker, comparison) runs in a few minutes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

TINY = {"llama": "tiny-llama", "gpt2": "tiny-gpt2", "mixtral": "tiny-mixtral"}
REPO = Path(__file__).resolve().parents[2]
DESIGN_SPACE = REPO / "python-runtime" / "vibeserve_runtime" / "design_space.json"


def resolve_paths(sc: dict) -> dict:
    out = dict(sc)
    for section in ("tokenizer", "model"):
        part = out.get(section)
        if isinstance(part, dict) and part.get("path") and not Path(part["path"]).is_absolute():
            out[section] = {**part, "path": str(REPO / part["path"])}
    return out


def cpu_variant(sc: dict) -> dict:
    ds = json.loads(DESIGN_SPACE.read_text())["dimensions"]
    out = dict(sc)
    out["description"] = f"CPU dry run of: {sc.get('description', sc['name'])}"
    m = dict(sc["model"])
    m.update(preset=TINY[m["arch"]], dtype="float32")
    m.pop("config", None)
    out["model"] = m
    w = dict(sc["workload"])
    prompt_len = min(int(w["prompt_len"]), 32)
    if w.get("shared_prefix_len") is not None:
        # the same share of the shorter prompt, leaving each request at least one token of its own
        share = int(w["shared_prefix_len"]) / int(w["prompt_len"])
        w["shared_prefix_len"] = max(1, min(prompt_len - 1, round(share * prompt_len)))
    w.update(
        prompt_len=prompt_len,
        output_len=min(int(w["output_len"]), 12),
        num_requests=min(int(w["num_requests"]), 12),
    )
    a = dict(w.get("arrival") or {})
    if a.get("kind") == "max_concurrency":
        a["concurrency"] = min(int(a["concurrency"]), 4)
    elif "rate" in a:
        a["rate"] = min(float(a["rate"]), 8.0)
    w["arrival"] = a
    out["workload"] = w
    gpus = int((sc.get("hardware") or {}).get("gpus") or 1)
    # a multi-GPU scenario keeps its device count: on CPU, tensor-parallel ranks are gloo processes
    out["hardware"] = {"kind": "cpu", **({"gpus": gpus} if gpus > 1 else {})}
    s = dict(sc["search"])
    s.update(
        rounds=2,
        candidates_per_round=2,
        max_candidates=4,
        wall_time_minutes=6,
        check_timeout_s=240,
        bench_timeout_s=240,
    )
    out["search"] = s
    cons = {}
    for dim, allowed in (sc.get("constraints") or {}).items():
        cpu_ok = [
            c
            for c in allowed
            if ds.get(dim, {}).get("choices", {}).get(c, {}).get("requires", {}).get("device") != "cuda"
        ]
        if cpu_ok:
            cons[dim] = cpu_ok
    out["constraints"] = cons
    return out


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--cpu"]
    if len(args) != 2:
        sys.exit("usage: prepare_scenario.py <scenario.yaml> <out.yaml> [--cpu]")
    sc = resolve_paths(yaml.safe_load(Path(args[0]).read_text()))
    if "--cpu" in sys.argv:
        sc = cpu_variant(sc)
    Path(args[1]).parent.mkdir(parents=True, exist_ok=True)
    Path(args[1]).write_text(yaml.safe_dump(sc, sort_keys=False))
    print(args[1])
