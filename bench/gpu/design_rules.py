"""The design space's rules in Python, as lib/designSpace.ts applies them: which choices the
hardware offers, which designs are valid, the generic default, one-step neighbours, and the design
id. The id must equal the TypeScript one (test/scenarios/designSweep.test.ts checks it), so that
a table measured here answers the designs a search proposes.

A context is a dict: {"hardware": {"kind", "device", "gpuCount", "computeCapability"?},
"arch": str, "model": {shape fact: int}?, "tokenizer": str, "constraints": {dimension: [choices]}}.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DESIGN_SPACE = REPO / "python-runtime" / "vibeserve_runtime" / "design_space.json"
# lib/searchStart.ts KNOWN_COMPUTE_CAPABILITY: the search's hardware target comes from the GPU kind.
KNOWN_COMPUTE_CAPABILITY = {"h100": 9.0, "h200": 9.0, "a100": 8.0, "l4": 8.9, "rtx-4090": 8.9}


def load_space(path: Path = DESIGN_SPACE) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def hardware_target(kind: str, gpus: int) -> dict[str, Any]:
    """lib/searchStart.ts hardwareTargetFor."""
    if kind == "cpu":
        return {"kind": "cpu", "device": "cpu", "gpuCount": 0}
    hw: dict[str, Any] = {"kind": kind, "device": "cuda", "gpuCount": gpus}
    if kind in KNOWN_COMPUTE_CAPABILITY:
        hw["computeCapability"] = KNOWN_COMPUTE_CAPABILITY[kind]
    return hw


def tokenizer_for(scenario: dict) -> str:
    tok = scenario.get("tokenizer") or {}
    if tok.get("kind"):
        return tok["kind"]
    weights = scenario["model"].get("weights")
    return "byte" if not weights or weights == "random" else "hf_json"


def model_shape_of(model: dict) -> dict[str, int]:
    """lib/designSpace.ts modelShapeOf: the shape facts the scenario's model config states."""
    c = model.get("config") or {}
    num = lambda k: c[k] if isinstance(c.get(k), (int, float)) and not isinstance(c.get(k), bool) and c[k] > 0 else None
    gpt2 = model["arch"] == "gpt2"
    hidden = num("n_embd") if gpt2 else num("hidden_size")
    heads = num("n_head") if gpt2 else num("num_attention_heads")
    facts = {
        "num_attention_heads": heads,
        "num_key_value_heads": heads if gpt2 else num("num_key_value_heads"),
        "intermediate_size": (num("n_inner") or (4 * hidden if hidden else None)) if gpt2 else num("intermediate_size"),
        "head_dim": num("head_dim") or (hidden // heads if hidden and heads else None),
    }
    return {k: v for k, v in facts.items() if v is not None}


def context_for(scenario: dict, hardware: dict) -> dict[str, Any]:
    return {
        "hardware": hardware,
        "arch": scenario["model"]["arch"],
        "model": model_shape_of(scenario["model"]),
        "tokenizer": tokenizer_for(scenario),
        "constraints": scenario.get("constraints") or {},
    }


def hardware_blocker(space: dict, dim: str, choice: str, hw: dict) -> str | None:
    d = space["dimensions"].get(dim, {}).get("choices", {}).get(choice)
    if d is None:
        return f"unknown choice {dim}={choice}"
    req = d.get("requires") or {}
    if req.get("device") == "cuda" and hw["device"] != "cuda":
        return f"{dim}={choice} needs a CUDA GPU"
    if "min_compute_capability" in req:
        cc, need = hw.get("computeCapability"), req["min_compute_capability"]
        if hw["device"] != "cuda" or cc is None:
            return f"{dim}={choice} needs compute capability >= {_js(need)}"
        if cc < need:
            return f"{dim}={choice} needs compute capability >= {_js(need)}, the GPU has {_js(cc)}"
    devices = hw.get("devices", hw["gpuCount"])
    if "min_devices" in req and devices < req["min_devices"]:
        unit = "GPUs" if hw["device"] == "cuda" else "devices"
        return f"{dim}={choice} needs {req['min_devices']} {unit}, the worker has {devices}"
    return None


def model_blocker(space: dict, dim: str, choice: str, ctx: dict) -> str | None:
    """lib/designSpace.ts modelBlocker: why a choice is not known to work for the model (`serves`)."""
    serves = space["dimensions"].get(dim, {}).get("choices", {}).get(choice, {}).get("serves")
    if not serves:
        return None
    if serves.get("arch") and ctx["arch"] not in serves["arch"]:
        return f"{dim}={choice} serves {', '.join(serves['arch'])} models, not {ctx['arch']}"
    for fact, bound in (serves.get("shape") or {}).items():
        v = (ctx.get("model") or {}).get(fact)
        if v is None:
            continue
        if ("min" in bound and v < bound["min"]) or ("max" in bound and v > bound["max"]):
            return (
                f"{dim}={choice} serves {fact} {bound.get('min', '')}..{bound.get('max', '')}, the model has {fact}={v}"
            )
        if "multiple_of" in bound and v % bound["multiple_of"]:
            return f"{dim}={choice} needs {fact} a multiple of {bound['multiple_of']}, the model has {fact}={v}"
    return None


def _applies(d: dict, arch: str) -> bool:
    return not d.get("appliesTo") or arch in d["appliesTo"]


def searched_dimensions(space: dict, ctx: dict) -> list[str]:
    return [n for n, d in space["dimensions"].items() if d["searchable"] and _applies(d, ctx["arch"])]


def offered_choices(space: dict, dim: str, ctx: dict) -> list[str]:
    d = space["dimensions"][dim]
    if dim == "tokenizer":
        return [ctx["tokenizer"]]
    if not d["searchable"] or not _applies(d, ctx["arch"]):
        return [d["default"]]
    allowed = (ctx.get("constraints") or {}).get(dim)
    return [
        c
        for c in d["choices"]
        if hardware_blocker(space, dim, c, ctx["hardware"]) is None
        and model_blocker(space, dim, c, ctx) is None
        and (allowed is None or c in allowed)
    ]


def applicable_params(space: dict, choices: dict) -> list[str]:
    # appliesWhen: dimension -> the choice, or the list of choices, under which the param matters
    return [
        n
        for n, p in space["params"].items()
        if all(choices.get(d) in (c if isinstance(c, list) else [c]) for d, c in (p.get("appliesWhen") or {}).items())
    ]


def _constraint_applies(c: dict, arch: str) -> bool:
    return not c.get("onlyForArch") or arch in c["onlyForArch"]


def _js(value: Any) -> str:
    """JSON.stringify's text of a value, as the TypeScript messages print it: no spaces, 9 for 9.0."""

    def js_numbers(v: Any) -> Any:
        if isinstance(v, float) and v.is_integer():
            return int(v)
        if isinstance(v, list):
            return [js_numbers(x) for x in v]
        if isinstance(v, dict):
            return {k: js_numbers(x) for k, x in v.items()}
        return v

    return json.dumps(js_numbers(value), separators=(",", ":"))


def _same(a: Any, b: Any) -> bool:
    return _js(a) == _js(b)


def validate_design(space: dict, choices: dict, params: dict, ctx: dict) -> list[str]:
    problems = []
    for dim, d in space["dimensions"].items():
        choice = choices.get(dim)
        if choice is None:
            problems.append(f'missing dimension "{dim}"')
            continue
        if choice not in d["choices"]:
            problems.append(f"unknown choice {dim}={choice} (known: {', '.join(d['choices'])})")
            continue
        blocker = hardware_blocker(space, dim, choice, ctx["hardware"])
        if blocker:
            problems.append(blocker)
        unserved = model_blocker(space, dim, choice, ctx) if _applies(d, ctx["arch"]) else None
        if unserved:
            problems.append(unserved)
        allowed = (ctx.get("constraints") or {}).get(dim)
        if allowed is not None and d["searchable"] and _applies(d, ctx["arch"]) and choice not in allowed:
            problems.append(f"{dim}={choice} is excluded by the search constraints (allowed: {', '.join(allowed)})")
    problems += [f'unknown dimension "{k}"' for k in choices if k not in space["dimensions"]]
    for c in space["constraints"]:
        if not _constraint_applies(c, ctx["arch"]) or not all(choices.get(d) == v for d, v in c["if"].items()):
            continue
        for d, allowed in c["then"].items():
            if choices.get(d, "") not in allowed:
                problems.append(f"constraint {c['id']}: {d} must be one of {', '.join(allowed)} ({c['why']})")
        if c.get("requiresParam") and params.get(c["requiresParam"]) is None:
            problems.append(f"constraint {c['id']}: parameter {c['requiresParam']} is required ({c['why']})")
        for k, allowed in (c.get("thenParams") or {}).items():
            if k in params and not any(_same(v, params[k]) for v in allowed):
                problems.append(f"constraint {c['id']}: parameter {k} must be one of {_js(allowed)} ({c['why']})")
    for name, value in params.items():
        p = space["params"].get(name)
        if p is None:
            problems.append(f'unknown parameter "{name}"')
        elif not any(_same(v, value) for v in p["values"]):
            problems.append(f"parameter {name}={_js(value)} is not one of {_js(p['values'])}")
    return problems


def repair_choices(space: dict, choices: dict, ctx: dict) -> dict | None:
    out = dict(choices)
    for _ in range(4):
        changed = False
        for c in space["constraints"]:
            if not _constraint_applies(c, ctx["arch"]) or not all(out.get(d) == v for d, v in c["if"].items()):
                continue
            for d, allowed in c["then"].items():
                if out.get(d, "") in allowed:
                    continue
                fix = next((x for x in offered_choices(space, d, ctx) if x in allowed), None)
                if fix is None:
                    return None
                out[d] = fix
                changed = True
        if not changed:
            break
    return out


def canonical_json(value: Any) -> str:
    """lib/designSpace.ts canonicalJson: sorted keys, no spaces, JSON.stringify's number forms."""
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(canonical_json(v) for v in value) + "]"
    if isinstance(value, dict):
        items = sorted(((k, v) for k, v in value.items() if v is not None), key=lambda kv: kv[0])
        return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{canonical_json(v)}" for k, v in items) + "}"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # JSON.stringify(16.0) is "16"
    return json.dumps(value, ensure_ascii=False)


def design_id(choices: dict, params: dict) -> str:
    return hashlib.sha256(canonical_json({"choices": choices, "params": params}).encode()).hexdigest()[:12]


def make_design(space: dict, choices: dict, params: dict, origin: str | None = None) -> dict[str, Any]:
    """lib/designSpace.ts makeDesign: applicable params only (defaults filled), dimension order, stable id."""
    kept = {
        n: params[n] if params.get(n) is not None else space["params"][n]["default"]
        for n in applicable_params(space, choices)
    }
    ordered = {d: choices[d] for d in space["dimensions"] if choices.get(d) is not None}
    design = {"id": design_id(ordered, kept), "choices": ordered, "params": kept, "builder": "template"}
    if origin:
        design["origin"] = origin
    return design


def enumerate_choice_combos(space: dict, ctx: dict) -> list[dict]:
    combos: list[dict] = [{}]
    for dim in space["dimensions"]:
        combos = [{**partial, dim: c} for partial in combos for c in offered_choices(space, dim, ctx)]
    defaults = lambda c: {p: space["params"][p]["default"] for p in applicable_params(space, c)}
    return [c for c in combos if not validate_design(space, c, defaults(c), ctx)]


def sample_design(space: dict, ctx: dict, rng: random.Random, origin: str = "sweep:diverse") -> dict[str, Any]:
    """A uniformly random valid design (choices, then applicable params)."""
    for _ in range(50):
        choices = {}
        for dim in space["dimensions"]:
            offered = offered_choices(space, dim, ctx)
            if not offered:
                raise ValueError(f'no choice of "{dim}" is available; relax the constraint on {dim}')
            choices[dim] = rng.choice(offered)
        params = {p: rng.choice(space["params"][p]["values"]) for p in applicable_params(space, choices)}
        if not validate_design(space, choices, params, ctx):
            return make_design(space, choices, params, origin)
    combos = enumerate_choice_combos(space, ctx)
    if not combos:
        raise ValueError("no valid design exists for this scenario and hardware")
    choices = rng.choice(combos)
    params = {p: rng.choice(space["params"][p]["values"]) for p in applicable_params(space, choices)}
    return make_design(space, choices, params, origin)


def default_design(space: dict, ctx: dict) -> dict[str, Any]:
    """The generic stack (the design space's `generic` overlay for the device), as lib/designSpace.ts
    defaultDesign: an excluded choice gives way to the dimension default, else the first offered."""
    overlay = space["generic"][ctx["hardware"]["device"]]
    choices = {}
    for dim, d in space["dimensions"].items():
        offered = offered_choices(space, dim, ctx)
        if not offered:
            raise ValueError(f'no choice of "{dim}" is available; relax the constraint on {dim}')
        wanted = [c for c in (overlay["choices"].get(dim), d["default"]) if c is not None and c in offered]
        choices[dim] = wanted[0] if wanted else offered[0]
    repaired = repair_choices(space, choices, ctx) or choices
    params = {k: overlay["params"].get(k, p["default"]) for k, p in space["params"].items()}
    return make_design(space, repaired, params, "default")


def neighbours(space: dict, design: dict, ctx: dict, origin: str = "sweep:neighbour") -> list[dict]:
    """One dimension changed (then repaired) or one parameter moved to an adjacent value."""
    out: dict[str, dict] = {}

    def add(choices: dict | None, params: dict) -> None:
        if choices is None:
            return
        d = make_design(space, choices, params, origin)
        if d["id"] != design["id"] and not validate_design(space, d["choices"], d["params"], ctx):
            out.setdefault(d["id"], d)

    for dim in searched_dimensions(space, ctx):
        for c in offered_choices(space, dim, ctx):
            if c != design["choices"].get(dim):
                add(repair_choices(space, {**design["choices"], dim: c}, ctx), design["params"])
    for name, value in design["params"].items():
        values = space["params"][name]["values"]
        i = next((k for k, v in enumerate(values) if _same(v, value)), -1)
        for j in (i - 1, i + 1):
            if 0 <= j < len(values):
                add(design["choices"], {**design["params"], name: values[j]})
    return list(out.values())


def distance(a: dict, b: dict) -> float:
    """The measured table's nearest-neighbour distance (lib/architect/objectiveTable.ts)."""
    d = sum(1.0 for k in set(a["choices"]) | set(b["choices"]) if a["choices"].get(k) != b["choices"].get(k))
    return d + sum(
        0.25
        for k in set(a["params"]) | set(b["params"])
        if json.dumps(a["params"].get(k)) != json.dumps(b["params"].get(k))
    )
