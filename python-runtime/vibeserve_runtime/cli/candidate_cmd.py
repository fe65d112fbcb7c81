"""`_candidate <task>`: the child process that runs a stack's own engine code for check and bench.

It writes its raw observations (logits, tokens, timings) to --output; the trusted parent process
judges them (checker/) or turns them into metrics (bench/).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .. import events
from ..bench.repetition import repeat_until
from ..bench.workload import (
    REAL_TEXT_DATASETS,
    Workload,
    pass_payload,
    pass_seed,
    profile_requests,
    timed_pass,
    warmup_requests,
)
from ..materialize import load_stack_dir
from ..types import Request, SamplingParams
from .engine_loader import assert_runs_stack_code, build_engine
from .phases import Phases, buckets_of
from .profile_pass import profile_pass

# the side-by-side harness (bench/scenarios/stack_child.py) takes the same loop from here
from .timed_pass import greedy as _greedy, run_pass as _run_rep


def _seconds(value, most: float) -> float:
    """A duration the stack's own code reported, kept within [0, most]."""
    return min(max(float(value), 0.0), most) if isinstance(value, (int, float)) else 0.0


def check_probe(engine, inp: dict) -> dict:
    """The stack's side of every check rule; probe_s holds each probe's wall seconds."""
    prompts, forced, n = inp["prompts"], inp["forced"], inp["new_tokens"]
    total = 2 * len(prompts) + 1
    out: dict = {"tf_logits": [], "alone": []}
    phases = Phases(with_import=False)
    for i, (p, f) in enumerate(zip(prompts, forced)):
        out["tf_logits"].append(engine.teacher_forced_logits(p, f).float().cpu())
        events.progress("candidate", i + 1, total, "teacher-forced logits")
    phases.lap("teacher_forced")
    for i, p in enumerate(prompts):
        out["alone"].append(list(engine.generate([p], _greedy(n))[0]))
        events.progress("candidate", len(prompts) + i + 1, total, "greedy alone")
    phases.lap("alone")

    # The same prompts inside a mixed-length batch with staggered arrivals (prefills meet decodes);
    # the step at which each token arrives shows whether tokens stream incrementally.
    reqs = [(f"p{i}", p, n) for i, p in enumerate(prompts)]
    reqs += [(f"x{j}", q, m) for j, (q, m) in enumerate(inp["fillers"])]
    first, later = reqs[::2], reqs[1::2]
    tokens = {rid: [] for rid, _, _ in reqs}
    steps = {rid: [] for rid, _, _ in reqs}
    finished: set[str] = set()
    for rid, p, m in first:
        engine.add_request(Request(rid, list(p), _greedy(m)))
    step = 0
    while engine.has_unfinished_requests() or later:
        if step == 2 and later:
            for rid, p, m in later:
                engine.add_request(Request(rid, list(p), _greedy(m)))
            later = []
        for o in engine.step():
            tokens[o.request_id].extend(o.new_token_ids)
            steps[o.request_id].extend([step] * len(o.new_token_ids))
            if o.finished:
                finished.add(o.request_id)
        step += 1
        if step > 100_000:
            raise RuntimeError("engine did not finish the check batch within 100000 steps")
    out["batch"] = {rid: tokens[rid] for rid in tokens}
    out["stream_steps"] = steps
    out["finished"] = sorted(finished)
    out["stats"] = engine.stats()
    phases.lap("batch")
    if inp.get("speculation"):
        out["speculation"] = speculation_probe(engine, inp["speculation"])
        phases.lap("speculation")
    if inp.get("structured_output"):
        out["structured_output"] = structured_output_probe(engine, inp["structured_output"])
        phases.lap("structured_output")
    out["probe_s"] = phases.s
    events.progress("candidate", total, total, "mixed batch")
    return out


def speculation_probe(engine, cases: list[dict]) -> dict:
    """The checker's speculation cases (checker/speculation.py): each alone, then all in one batch."""
    params = [
        SamplingParams(
            max_tokens=c["max_tokens"],
            ignore_eos=True,
            stop_token_ids=list(c["stop_token_ids"]),
            prediction=list(c["prediction"]),
        )
        for c in cases
    ]
    prompts = [list(c["prompt"]) for c in cases]
    alone = [list(engine.generate([p], sp)[0]) for p, sp in zip(prompts, params)]
    batch = [list(t) for t in engine.generate(prompts, params)]
    stats = {k: v for k, v in engine.stats().items() if k.startswith("spec_")}
    return {"alone": alone, "batch": batch, "stats": stats}


def structured_output_probe(engine, cases: list[dict]) -> dict:
    """The checker's JSON-schema requests (checker/structured_output.py): greedy alone, greedy in one
    batch, sampled with a seed in one batch."""
    prompts = [list(c["prompt"]) for c in cases]

    def params(**kw) -> list[SamplingParams]:
        return [SamplingParams(max_tokens=c["max_tokens"], json_schema=c["json_schema"], **kw) for c in cases]

    alone = [list(engine.generate([p], sp)[0]) for p, sp in zip(prompts, params())]
    batch = [list(t) for t in engine.generate(prompts, params())]
    sampled = [list(t) for t in engine.generate(prompts, params(temperature=1.0, seed=7))]
    return {"alone": alone, "batch": batch, "sampled": sampled}


def bench_offline(engine, inp: dict) -> dict:
    """inp: {"workload": Workload fields, "vocab": int, "avoid": [token ids], "profile": bool,
    "turns": bool}. Each pass's requests are rebuilt here from their seeds; the trusted parent
    rebuilds them too and checks every record against its own copy. With turns, each repetition
    starts only when the parent sends a line on stdin (cli/side_by_side.py interleaves stacks)."""
    w = Workload.from_dict(inp["workload"])
    vocab, avoid = int(inp["vocab"]), set(inp.get("avoid") or ())
    # real text (bench/code_edit.py, json_extraction.py) is built from the stack's tokenizer
    tok = engine.tokenizer if w.dataset in REAL_TEXT_DATASETS else None
    phases = Phases(with_import=False)  # phase_s: warmup, timed (turns' waits left out), profile
    warm = pass_payload(w, warmup_requests(w, vocab, avoid, tok), pass_seed(0, 0))
    for _ in range(w.warmups):  # untimed: compiles, captures and allocations for every shape happen here
        _run_rep(engine, warm, w.max_concurrency)
    phases.lap("warmup")
    events.progress("bench", 0, w.repetitions, "warmed up")

    def timed(rep: int, k: int) -> dict:
        return _run_rep(
            engine, pass_payload(w, timed_pass(w, vocab, rep, k, avoid, tok), pass_seed(rep, k)), w.max_concurrency
        )

    reps = []
    phases.s["timed"] = 0.0
    for r in range(w.repetitions):
        if inp.get("turns") and not sys.stdin.readline():
            break  # the parent stopped giving turns
        phases.skip()
        reps.append({"passes": repeat_until(w.min_duration_s, lambda k: timed(r, k))})
        phases.lap("timed")
        events.progress("bench", r + 1, w.repetitions, f"repetition {r + 1}: {len(reps[-1]['passes'])} pass(es)")
    out = {"reps": reps, "stats": engine.stats()}
    phases.skip()
    if inp.get("profile", True):
        out["profile"] = profile_pass(
            engine, pass_payload(w, profile_requests(w, vocab, avoid, tok), pass_seed(0, 0)), w.max_concurrency
        )
    phases.lap("profile")
    out["phase_s"] = phases.s
    return out


def run(args) -> int:
    import torch

    phases = Phases()
    stack_dir, spec = load_stack_dir(args.stack)
    assert_runs_stack_code(stack_dir)
    inp = json.loads(Path(args.input).read_text())
    if inp.get("gpu_memory_utilization"):  # engines loaded side by side share the GPU (cli/side_by_side.py)
        spec["params"]["gpu_memory_utilization"] = float(inp["gpu_memory_utilization"])
    events.progress("candidate", 0, 1, "building engine")
    # capture_cap: the largest decode batch the parent's task sends (cli/offline_bench.py, cli/check_cmd.py)
    engine = build_engine(spec, args.device, stack_dir, capture_cap=inp.get("capture_cap"))
    built = phases.lap("load")
    capture = _seconds(getattr(engine.runner, "capture_s", 0.0), built)
    first = _seconds(getattr(engine.runner, "first_forward_s", 0.0), capture)  # kernels and libraries warming
    phases.s.update(
        load=round(built - capture, 3), first_forward=round(first, 3), graph_capture=round(capture - first, 3)
    )
    with torch.inference_mode():
        out = check_probe(engine, inp) if args.task == "check_probe" else bench_offline(engine, inp)
    out["phase_s"] = {**phases.s, **out.get("phase_s", {})}
    out["captured_buckets"] = buckets_of(getattr(engine.runner, "captured_buckets", None))
    torch.save(out, args.output)
    events.result(output=args.output)
    return events.EXIT_OK
