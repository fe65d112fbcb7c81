"""The structured-output rule (design_space.json `structured_output`): a request with a JSON schema
(response_format) must get JSON that satisfies it, whatever the stack does to get there.

Each case's schema requires a fresh sentinel id (a `const`) that also stands in its prompt, so an
output is tied to its own request. The stack runs the cases greedily alone, greedily in one batch,
and sampled with a seed in one batch. Every output, decoded by the trusted tokenizer, must parse
as JSON, validate against its request's schema and carry its sentinel: a grammar applied to another
request of the batch shows as a wrong sentinel. Whether greedy tokens stay the same alone and batched
is the batch_invariance rule's question, which excuses flips at near ties (quantized kernels that
pick tiles by batch size flip them): here a difference is noted, not counted."""

from __future__ import annotations

import json
import random

from . import checks

NUM_CASES = 3
MAX_TOKENS = 96  # the schema's longest JSON is ~60 bytes: room even for a byte-level tokenizer


def applies(spec: dict) -> bool:
    return spec["components"].get("structured_output") is not None


def schema_for(sentinel: str) -> dict:
    """Bounded on every field, so even a random-weight model's JSON closes within MAX_TOKENS."""
    return {
        "type": "object",
        "properties": {
            "id": {"const": sentinel},
            "ok": {"type": "boolean"},
            "level": {"enum": ["low", "mid", "high"]},
            "count": {"type": "integer", "minimum": 0, "maximum": 999},
        },
        "required": ["id", "ok", "level", "count"],
        "additionalProperties": False,
    }


def build_cases(tokenizer, seed: int) -> list[dict]:
    rng = random.Random(seed * 11 + 5)
    cases = []
    for _ in range(NUM_CASES):
        sentinel = f"R{rng.randrange(10**5):05d}"
        text = f"Record {sentinel} passed its audit at level high, count {rng.randrange(1000)}. JSON:"
        cases.append({"sentinel": sentinel, "schema": schema_for(sentinel), "prompt": tokenizer.encode(text)})
    return cases


def context_too_short(cases: list[dict], spec: dict) -> str | None:
    """Why the stack's context cannot hold these requests (None when it can): a stack sized for short
    requests cannot serve a schema's JSON at all, so the rule is recorded as not run rather than failed."""
    context = spec["params"].get("max_model_len")
    need = max(len(c["prompt"]) for c in cases) + MAX_TOKENS
    if context is not None and int(context) < need:
        return f"not run: the stack's context ({context} tokens) is shorter than a JSON-schema request ({need})"
    return None


def not_run(reason: str) -> dict:
    return checks._check("structured_output", 0, 0, True, reason)


def requests(cases: list[dict]) -> list[dict]:
    """What the candidate is sent."""
    return [{"prompt": c["prompt"], "json_schema": c["schema"], "max_tokens": MAX_TOKENS} for c in cases]


def violations(case: dict, text: str) -> list[str]:
    """What is wrong with one output (empty when nothing)."""
    import jsonschema

    try:
        value = json.loads(text)
    except ValueError as e:
        return [f"not JSON ({e}): {text[:80]!r}"]
    found = []
    try:
        jsonschema.validate(value, case["schema"])
    except jsonschema.ValidationError as e:
        found.append(f"fails its schema ({e.message}): {text[:80]!r}")
    if case["sentinel"] not in text:
        found.append(f"lacks its sentinel {case['sentinel']}: {text[:80]!r}")
    return found


def valid_json(cases: list[dict], obs: dict, tokenizer) -> dict:
    """One check over every case. `obs`: {"alone", "batch", "sampled"}: token ids per case."""
    problems = []
    for run in ("alone", "batch", "sampled"):
        for i, (case, tokens) in enumerate(zip(cases, obs[run])):
            problems += [f"{run} #{i}: {v}" for v in violations(case, tokenizer.decode([int(t) for t in tokens]))]
        if len(obs[run]) != len(cases):
            problems.append(f"{run}: {len(obs[run])} outputs for {len(cases)} requests")
    notes = [
        f"greedy #{i}: batched differs from alone at token {checks._first_mismatch(list(map(int, a)), list(map(int, b)))}"
        for i, (a, b) in enumerate(zip(obs["alone"], obs["batch"]))
        if list(map(int, a)) != list(map(int, b))
    ]
    detail = (
        f"{len(cases)} JSON-schema requests (sentinel const in prompt and schema) greedy alone, batched, "
        "and sampled: each output parses, validates and carries its sentinel"
    )
    if problems or notes:
        detail += "; " + "; ".join((problems + notes)[:6])
    return checks._check("structured_output", len(problems), 0, not problems, detail)
