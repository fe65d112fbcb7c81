"""`_candidate <task>`: the child process that runs a stack's own engine code for check and bench.

It writes its raw observations (logits, tokens, timings) to --output; the trusted parent process
judges them (checker/) or turns them into metrics (bench/).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from .. import events
from ..engine.step_profile import host_share_between
from ..materialize import load_stack_dir
from ..types import Request, SamplingParams
from .engine_loader import assert_runs_stack_code, build_engine


def _greedy(n: int) -> SamplingParams:
    return SamplingParams(max_tokens=n, temperature=0.0, ignore_eos=True)


def check_probe(engine, inp: dict) -> dict:
    prompts, forced, n = inp["prompts"], inp["forced"], inp["new_tokens"]
    total = 2 * len(prompts) + 1
    out: dict = {"tf_logits": [], "alone": []}
    for i, (p, f) in enumerate(zip(prompts, forced)):
        out["tf_logits"].append(engine.teacher_forced_logits(p, f).float().cpu())
        events.progress("candidate", i + 1, total, "teacher-forced logits")
    for i, p in enumerate(prompts):
        out["alone"].append(list(engine.generate([p], _greedy(n))[0]))
        events.progress("candidate", len(prompts) + i + 1, total, "greedy alone")

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
    events.progress("candidate", total, total, "mixed batch")
    return out


def bench_offline(engine, inp: dict) -> dict:
    warm = inp.get("warmup", [])
    if warm:
        engine.generate([p for p, _ in warm], _greedy(max(m for _, m in warm)))
    reps = []
    for r, rep in enumerate(inp["reps"]):
        reps.append(_run_rep(engine, rep, inp.get("max_concurrency")))
        events.progress("bench", r + 1, len(inp["reps"]), f"repetition {r + 1}")
    return {"reps": reps, "stats": engine.stats(), "decode_components": _component_probe(engine, inp)}


def _component_probe(engine, inp: dict) -> dict:
    """After the timed runs: the first repetition's concurrent prompts, a few tokens each, with one
    decode forward profiled by component (engine/component_profile.py)."""
    ask = getattr(engine, "profile_components_at_next_decode", None)
    requests = inp["reps"][0]["requests"] if inp.get("reps") else []
    if ask is None or not requests:
        return {}
    prompts = [p for p, _ in requests[:inp.get("max_concurrency") or len(requests)]]
    ask()
    engine.generate(prompts, _greedy(4))
    return engine.component_profile or {}


def _run_rep(engine, rep: dict, max_conc: int | None) -> dict:
    pending = sorted(((a, i) for i, a in enumerate(rep["arrivals"])), reverse=True)
    reqs = rep["requests"]
    rec = {i: {"prompt_tokens": len(reqs[i][0]), "output_tokens": 0, "times": [], "start": 0.0} for i in range(len(reqs))}
    running = steps = 0
    kv: list[dict] = []
    queue = QueueWait(engine)
    enable = getattr(engine, "enable_profile", None)   # an engine without one reports no decode profile
    profile = enable() if enable else None
    prof0 = profile.snapshot() if profile else None
    t0 = time.perf_counter()
    while pending or engine.has_unfinished_requests():
        now = time.perf_counter() - t0
        while pending and pending[-1][0] <= now and (not max_conc or running < max_conc):
            _, i = pending.pop()
            rec[i]["start"] = time.perf_counter()
            engine.add_request(Request(f"b{i}", list(reqs[i][0]), _greedy(reqs[i][1]), arrival_time=rec[i]["start"]))
            running += 1
        if not engine.has_unfinished_requests():
            if pending:
                time.sleep(max(0.0, min(pending[-1][0] - now, 0.05)))
            continue
        t_step = time.perf_counter()
        outs = engine.step()
        t = time.perf_counter()
        steps += 1
        if steps % 8 == 1:   # KV occupancy samples (cheap, but not free: not every step)
            kv.append({k: v for k, v in engine.stats().items() if k.startswith("kv_") and isinstance(v, (int, float))})
        finished = 0
        for o in outs:
            i = int(o.request_id[1:])
            if o.new_token_ids:
                rec[i]["times"].append(t)
            if o.finished:
                rec[i]["output_tokens"] = o.num_output_tokens or len(rec[i]["times"])
                rec[i]["finish_reason"] = o.finish_reason
                finished += 1
        running -= finished
        queue.after_step(t - t_step, finished)
    ttft_s = sum(r["times"][0] - r["start"] for r in rec.values() if r["times"])
    return {"duration_s": time.perf_counter() - t0, "records": list(rec.values()), "steps": steps, "kv_samples": kv,
            "decode_profile": host_share_between(prof0, profile.snapshot()) if profile else {},
            "admission": queue.summary(ttft_s)}


class QueueWait:
    """How much of the time to first token requests spent waiting to be admitted to the batch, and
    how much of that wait happened while the batch was at its size limit (so a larger limit would
    have admitted them). Each step adds (requests waiting after it) x (its duration): a request
    that arrived during the step counts from the step's start, which errs long by under one step."""

    def __init__(self, engine):
        self.scheduler = engine.scheduler
        self.max_batch = int(engine.spec.params.get("max_batch_size") or 0)
        self.wait_s = self.wait_full_s = 0.0
        self.peak_full = 0   # most requests seen waiting behind a full batch: the slots it lacked

    def after_step(self, seconds: float, finished: int) -> None:
        waiting = len(self.scheduler.waiting)
        if waiting:
            self.wait_s += waiting * seconds
            # the batch this step ran: those still running plus those it finished
            if self.max_batch and len(self.scheduler.running) + finished >= self.max_batch:
                self.wait_full_s += waiting * seconds
                self.peak_full = max(self.peak_full, waiting)

    def summary(self, ttft_s: float) -> dict:
        if ttft_s <= 0:
            return {}
        return {"ttft_queue_share": round(min(1.0, self.wait_s / ttft_s), 4),
                "queue_wait_batch_full_share": round(self.wait_full_s / self.wait_s, 4) if self.wait_s else 0.0,
                "queue_peak_waiting_full": self.peak_full}


def run(args) -> int:
    import torch

    stack_dir, spec = load_stack_dir(args.stack)
    assert_runs_stack_code(stack_dir)
    inp = json.loads(Path(args.input).read_text())
    events.progress("candidate", 0, 1, "building engine")
    engine = build_engine(spec, args.device, stack_dir)
    with torch.inference_mode():
        out = check_probe(engine, inp) if args.task == "check_probe" else bench_offline(engine, inp)
    torch.save(out, args.output)
    events.result(output=args.output)
    return events.EXIT_OK
