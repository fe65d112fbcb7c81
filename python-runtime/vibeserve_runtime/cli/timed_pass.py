"""The timing loop of every offline measurement: one pass of requests through a stack's engine.

The bench verb's timed repetitions (cli/candidate_cmd.py) and the side-by-side harness
(bench/scenarios/stack_child.py) both time their passes here, so the two cannot drift apart. The
loop does nothing per step beyond what serving does: profiles and occupancy samples would add
device synchronisations and host work to every step, so they run in a pass of their own
(cli/profile_pass.py), which hands in an observer.
"""

from __future__ import annotations

import time

from ..types import Request, SamplingParams


def greedy(
    n: int, prediction: list[int] | None = None, stop_at_eos: bool = False, json_schema: dict | None = None
) -> SamplingParams:
    return SamplingParams(
        max_tokens=n, temperature=0.0, ignore_eos=not stop_at_eos, prediction=prediction, json_schema=json_schema
    )


def run_pass(engine, rep: dict, max_conc: int | None, observer=None) -> dict:
    """rep: {"requests": [[prompt ids, max tokens(, prediction ids or None(, JSON schema))], ...], "arrivals": [seconds after the start, ...],
    "stop_at_eos": whether a request ends at the end-of-sequence token (real text) or runs to max tokens}.
    observer (untimed passes only): .after_step(seconds the step took, requests it finished) and
    .after_output(request index, its new tokens)."""
    pending = sorted(((a, i) for i, a in enumerate(rep["arrivals"])), reverse=True)
    reqs = rep["requests"]
    stop_eos = bool(rep.get("stop_at_eos"))
    rec = {
        i: {"prompt_tokens": len(reqs[i][0]), "output_tokens": 0, "times": [], "start": 0.0} for i in range(len(reqs))
    }
    running = steps = 0
    t0 = time.perf_counter()
    while pending or engine.has_unfinished_requests():
        now = time.perf_counter() - t0
        while pending and pending[-1][0] <= now and (not max_conc or running < max_conc):
            _, i = pending.pop()
            rec[i]["start"] = time.perf_counter()
            prediction = list(reqs[i][2]) if len(reqs[i]) > 2 and reqs[i][2] is not None else None
            schema = reqs[i][3] if len(reqs[i]) > 3 else None
            sampling = greedy(reqs[i][1], prediction, stop_eos, schema)
            engine.add_request(Request(f"b{i}", list(reqs[i][0]), sampling, arrival_time=rec[i]["start"]))
            running += 1
        if not engine.has_unfinished_requests():
            if pending:
                time.sleep(max(0.0, min(pending[-1][0] - now, 0.05)))
            continue
        t_step = time.perf_counter()
        outs = engine.step()
        t = time.perf_counter()
        steps += 1
        finished = 0
        for o in outs:
            i = int(o.request_id[1:])
            if o.new_token_ids:
                rec[i]["times"].append(t)
                if observer is not None:
                    observer.after_output(i, o.new_token_ids)
            if o.finished:
                rec[i]["output_tokens"] = o.num_output_tokens or len(rec[i]["times"])
                rec[i]["finish_reason"] = o.finish_reason
                finished += 1
        running -= finished
        if observer is not None:
            observer.after_step(t - t_step, finished)
    return {"duration_s": time.perf_counter() - t0, "records": list(rec.values()), "steps": steps}
