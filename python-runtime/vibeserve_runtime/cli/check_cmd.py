"""`check --stack <dir>`: correctness of a stack vs the fp32 transformers reference.

Runs in the trusted installed runtime; the stack's own engine runs in a child process
(candidate_process.py) and only its observations come back.
"""

from __future__ import annotations

import inspect
import json
import random
import time
from pathlib import Path

from .. import events
from ..checker import checks, reference_cache, speculation, structured_output
from ..checker.integrity import integrity_report
from ..checker.tolerances import MARGIN_FACTOR, logit_tolerance
from ..materialize import load_stack_dir
from ..stack_spec import gpu_memory_utilization_of
from ..tokenizers import tokenizer_of
from .candidate_process import CandidateRun, run_candidate
from .engine_loader import require_device
from .phases import Phases, buckets_of, of_child

# the rule each of the stack's probes (cli/candidate_cmd.check_probe) feeds; the mixed batch feeds
# max_tokens and streaming too, and is counted once, under batch_invariance
_PROBE_RULE = {
    "teacher_forced": "logits",
    "alone": "greedy_tokens",
    "batch": "batch_invariance",
    "speculation": "speculation_lossless",
    "structured_output": "structured_output",
}


def _prompts(n: int, new_tokens: int, vocab: int, max_len: int, seed: int) -> tuple[list, list]:
    rng = random.Random(seed)
    room = max(4, min(64, max_len - new_tokens - 8))
    lens = [min(room, x) for x in (3, 17, 33, 50, 9, 26, 41, 60)][:n]
    lens += [rng.randint(2, room) for _ in range(n - len(lens))]
    draw = lambda k: [rng.randrange(3, vocab) for _ in range(k)]
    fillers = [(draw(min(room, 11)), new_tokens + 5), (draw(min(room, 29)), max(2, new_tokens // 3))]
    return [draw(k) for k in lens], fillers


def write_report(report: dict, path: str | None) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(report, indent=2))


def run(args) -> int:
    phases, rules = Phases(), {}  # check.json's phase_s (docs/boundary.md)
    if args.memory_share < 1:
        raise events.UsageError(
            "bad_arguments", f"--memory-share must be ≥ 1 (checks sharing the GPU), got {args.memory_share}"
        )
    stack_dir, spec = load_stack_dir(args.stack)
    device = args.device or spec["device"]
    require_device(device)
    phases.lap("setup")
    total = 5
    events.progress("check", 0, total, "integrity of protected code")
    integ = integrity_report(stack_dir)
    integrity = checks._check("integrity", len(integ["changed"]), 0, integ["passed"], integ["detail"])
    phases.lap("integrity", into=rules)
    if not integ["passed"]:
        report = {"passed": False, "checks": [integrity], "reference": None, "report_path": args.report}
        report["phase_s"] = {**phases.s, "rules": rules, "total": phases.total()}
        write_report(report, args.report)
        events.result(**report)
        raise events.CandidateError("integrity_violation", integ["detail"])

    # where a check's time goes (seconds per phase), so slow checks can be aimed at
    timings: dict[str, float] = {}
    clock = [time.perf_counter()]

    def lap(name: str) -> None:
        now = time.perf_counter()
        timings[name] = round(now - clock[0], 3)
        clock[0] = now

    # The reference's outputs depend on the model, weights, settings and precision only: computed
    # once per search and reused from --reference-cache (checker/reference_cache.py).
    speculative = speculation.applies(spec)
    calibrated = args.tolerance is None
    settings = {"num_prompts": args.num_prompts, "new_tokens": args.new_tokens, "seed": args.seed}
    n = args.new_tokens
    out, ref, cache_note = None, None, {"used": False}
    if args.reference_cache and Path(args.reference_cache).resolve().is_relative_to(stack_dir.resolve()):
        raise events.UsageError(
            "bad_arguments", "--reference-cache must be outside the stack directory (the candidate writes there)"
        )
    early = None  # the stack's process, when it started before the reference's rows were read
    if args.reference_cache:
        inputs = reference_cache.key_inputs(
            spec, device, settings, calibrated, speculative, (inspect.getsource(_prompts),)
        )
        key = reference_cache.cache_key(inputs)
        # A cached entry's header says what the stack is sent: it starts now, and reading the rows
        # (importing torch, ~5 s on a GPU host) overlaps its start-up.
        sent = reference_cache.load_probe_inputs(args.reference_cache, key)
        if sent is not None:
            phases.lap("reference")  # keying the cache
            probe, json_state = _probe(spec, args, sent, rules, phases)
            phases.skip()
            early = CandidateRun(stack_dir, "check_probe", probe, args.device)
        out, why = reference_cache.load(args.reference_cache, key)
        if early is not None and (out is None or reference_cache.probe_inputs(out) != sent):
            early.close()  # the rows do not go with the header: recompute, and start the stack again
            early, out, why = None, None, why if out is None else "header and rows differ"
        cache_note = {
            "used": True,
            "key": key,
            "outcome": "reused" if out else "computed",
            "miss": None if out else why,
        }
        lap("reference_cache_read")
    if out is None:
        ref, out = _compute_reference(spec, device, n, args.seed, args.num_prompts, calibrated, speculative, lap, total)
        if args.reference_cache:
            try:
                reference_cache.store(args.reference_cache, key, inputs, out)
            except OSError as e:  # an unwritable cache costs the next check time, never this one's verdict
                cache_note["store_error"] = str(e)
            lap("reference_cache_write")
    else:
        events.progress("check", 2, total, "reference outputs reused from the cache")
    prompts, fillers, ref_tokens, ref_rows = out["prompts"], out["fillers"], out["tokens"], out["rows"]
    spec_cases = out["spec_cases"]

    events.progress("check", 3, total, "running the stack")
    if ref is not None:
        ref.offload()
    if early is None:
        phases.lap("reference")
        probe, json_state = _probe(spec, args, reference_cache.probe_inputs(out), rules, phases)
        phases.skip()
        obs = run_candidate(stack_dir, "check_probe", probe, device=args.device)
    else:  # the rows were read while the stack started: that time is the stack's, in its own phases
        phases.skip()
        obs = early.finish()
    json_cases, json_tokenizer, json_skipped = json_state
    lap("stack")
    phases.skip()  # the child's own phases are reported below
    if ref is not None:
        ref.reload()
    along = _Along(spec, device, ref)
    phases.lap("reference")

    events.progress("check", 4, total, "comparing")
    try:
        results, tol, scale = _compare(
            along,
            out["vocab_size"],
            spec,
            prompts,
            fillers,
            n,
            ref_tokens,
            ref_rows,
            obs,
            integrity,
            args.tolerance,
            out["same_precision"],
            spec_cases,
            out.get("router_ties"),
            rules,
        )
        phases.skip()
        if json_cases:
            results.insert(-1, structured_output.valid_json(json_cases, obs["structured_output"], json_tokenizer))
        elif json_skipped:
            results.insert(-1, structured_output.not_run(json_skipped))
        phases.lap("structured_output", into=rules)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError) as e:
        raise events.CandidateError("wrong_output", f"the stack's observations are malformed: {type(e).__name__}: {e}")
    lap("compare")
    if along.build_s:  # rebuilding a cached reference is the reference's time, not the rule's
        rules["batch_invariance"] = round(max(0.0, rules.get("batch_invariance", 0.0) - along.build_s), 3)
        phases.s["reference"] = round(phases.s.get("reference", 0.0) + along.build_s, 3)
    child = of_child(obs.get("phase_s"))
    for probe_name, secs in of_child(obs.get("probe_s")).items():
        if probe_name in _PROBE_RULE:
            rules[_PROBE_RULE[probe_name]] = round(rules.get(_PROBE_RULE[probe_name], 0.0) + secs, 3)
    passed = all(c["passed"] for c in results)
    report = {
        "passed": passed,
        "checks": results,
        "reference": out["name"],
        "report_path": args.report,
        "stack": spec["name"],
        "device": device,
        "tolerance": tol,
        "logit_scale": scale,
        "prompt_lens": [len(p) for p in prompts],
        "new_tokens": n,
        "engine_stats": obs.get("stats"),
        "timings_s": timings,
        "reference_cache": {**cache_note, "model_built_for_compare": along.built_here},
        "captured_buckets": buckets_of(obs.get("captured_buckets")),
    }
    report["phase_s"] = {**phases.s, **child, "rules": _in_check_order(rules, results), "total": phases.total()}
    write_report(report, args.report)
    events.progress("check", total, total, "passed" if passed else "failed")
    events.result(**report)
    if not passed:
        failed = [c for c in results if not c["passed"]]
        # the first words of each failed rule's detail, so a search's rejection says why without the report
        why = "; ".join(f"{c['name']}: {_shorten(c['detail'], 240)}" for c in failed)
        raise events.CandidateError("wrong_output", f"failed checks: {', '.join(c['name'] for c in failed)} ({why})")
    return events.EXIT_OK


def _probe(spec: dict, args, sent: dict, rules: dict, phases: Phases) -> tuple[dict, tuple]:
    """What the stack's process is sent (the reference's prompts and the tokens to teacher-force,
    never where the cache is) and the JSON-schema cases built here from the trusted tokenizer
    (checker/structured_output.py): (probe, (json_cases, json_tokenizer, json_skipped))."""
    probe = {**{k: sent[k] for k in ("prompts", "forced", "fillers")}, "new_tokens": args.new_tokens}
    if sent.get("speculation"):
        probe["speculation"] = sent["speculation"]
    json_cases, json_tokenizer, json_skipped = None, None, None
    if structured_output.applies(spec):
        json_tokenizer = tokenizer_of(spec)
        json_cases = structured_output.build_cases(json_tokenizer, args.seed)
        json_skipped = structured_output.context_too_short(json_cases, spec)
        if json_skipped:
            json_cases = None
        else:
            probe["structured_output"] = structured_output.requests(json_cases)
        phases.lap("structured_output", into=rules)
    probe["capture_cap"] = _largest_batch(probe)
    if args.memory_share > 1:  # checks sharing the GPU each size their KV pool from 1/N of the free memory
        probe["gpu_memory_utilization"] = gpu_memory_utilization_of(spec) / args.memory_share
    return probe, (json_cases, json_tokenizer, json_skipped)


def _largest_batch(probe: dict) -> int:
    """The largest decode batch check_probe (cli/candidate_cmd.py) runs: the mixed batch of the
    prompts and fillers, or every speculation or JSON-schema case at once. The stack captures CUDA
    graphs up to it (components/execution/cuda_graphs.py)."""
    return max(
        len(probe["prompts"]) + len(probe["fillers"]),
        len(probe.get("speculation") or ()),
        len(probe.get("structured_output") or ()),
    )


def _in_check_order(rules: dict[str, float], results: list[dict]) -> dict[str, float]:
    """Each rule's seconds (the stack's probe and the judging here), in the order of `checks`."""
    return {c["name"]: rules.get(c["name"], 0.0) for c in results}


def _shorten(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"


def _compute_reference(spec, device, n, seed, num_prompts, calibrated, speculative, lap, total):
    """(the built reference, its outputs): what every check of this model and settings compares against."""
    events.progress("check", 1, total, "building the fp32 transformers reference")
    from ..reference import HFReference

    try:
        ref = HFReference(spec["model"], device, spec["components"] if calibrated else None)
    except (FileNotFoundError, ValueError) as e:
        raise events.UsageError("missing_model" if isinstance(e, FileNotFoundError) else "bad_spec", str(e))
    max_len = min(spec["params"].get("max_model_len") or 4096, ref.max_positions)
    prompts, fillers = _prompts(num_prompts, n, ref.vocab_size, max_len, seed)
    lap("reference_build")

    events.progress("check", 2, total, "reference greedy decoding")
    ref_tokens, ref_rows = zip(*(ref.greedy(p, n) for p in prompts))
    if ref.rounds:
        events.progress(
            "check", 2, total, f"transformers at the stack's precision ({spec['model']['dtype']}, {ref.linear})"
        )
    lap("reference_greedy")
    # Every stack's bounds are calibrated on this run (checker/tolerances.py), unless --tolerance states one.
    same_precision, router_ties = (
        ref.same_precision_rows(prompts, ref_tokens, list(ref_rows)) if ref.calibrated else (None, None)
    )
    lap("calibration")
    # a speculative stack also gets requests built to tempt a wrong verify step (checker/speculation.py)
    spec_cases = speculation.build_cases(ref, prompts, ref_tokens, ref_rows, n, max_len, seed) if speculative else None
    return ref, {
        "name": ref.name,
        "vocab_size": ref.vocab_size,
        "prompts": prompts,
        "fillers": fillers,
        "tokens": [list(t) for t in ref_tokens],
        "rows": list(ref_rows),
        "same_precision": same_precision,
        "router_ties": router_ties,
        "spec_cases": spec_cases,
    }


class _Along:
    """The reference's rows along a stack's own tokens. Where those are the reference's greedy tokens
    the rows are the ones already computed (the very same call); otherwise the model is needed, and
    after a cache hit it is built here, once, only then."""

    def __init__(self, spec, device, ref):
        self.spec, self.device, self.ref, self.built_here = spec, device, ref, False
        self.build_s = 0.0

    def __call__(self, prompt, tokens, want, rows):
        if list(tokens) == list(want):
            return rows
        if self.ref is None:
            from ..reference import HFReference

            t0 = time.perf_counter()
            try:
                self.ref, self.built_here = HFReference(self.spec["model"], self.device, None), True
            except Exception as e:  # noqa: BLE001 - it built when the entry was made: not the candidate's fault
                raise events.InfraError("reference", f"rebuilding the cached reference failed: {type(e).__name__}: {e}")
            self.build_s = time.perf_counter() - t0
        return self.ref.logits_along(prompt, tokens)


def _compare(
    along,
    vocab_size,
    spec,
    prompts,
    fillers,
    n,
    ref_tokens,
    ref_rows,
    obs,
    integrity,
    tolerance=None,
    same_precision=None,
    spec_cases=None,
    router_ties=None,
    rule_s=None,
):
    """The rules' results; rule_s (where given) gains each rule's seconds of judging."""
    clock = _RuleClock({} if rule_s is None else rule_s)
    scale = checks.logit_scale(list(ref_rows))
    floor = tolerance or logit_tolerance(spec["model"]["dtype"], spec["components"]["linear"])
    logits = clock(
        lambda: checks.logits_close(obs["tf_logits"], list(ref_rows), floor, scale, same_precision, router_ties)
    )
    # A near tie is judged at the floor: beyond it a flipped token must be explained by the stack's
    # own error at that row (tolerated below), not by the bound's worst case elsewhere.
    margin_thr = MARGIN_FACTOR * floor * scale
    alone = [list(map(int, g))[:n] for g in obs["alone"]]
    for seq in alone + [list(v) for v in obs["batch"].values()]:
        if any(not 0 <= int(t) < vocab_size for t in seq):
            raise ValueError(f"the stack produced a token id outside the vocabulary [0, {vocab_size})")
    batch_main = [obs["batch"][f"p{i}"] for i in range(len(prompts))]
    wanted = {f"p{i}": n for i in range(len(prompts))} | {f"x{j}": m for j, (_, m) in enumerate(fillers)}
    # Within calibrated bounds a flipped expert route or a quantized weight may flip a token too:
    # excuse it where the stack's own teacher-forced error at that row explains the flip.
    tolerated = (
        checks.row_errors(obs["tf_logits"], list(ref_rows)) if same_precision is not None and logits["passed"] else None
    )
    results = [
        logits,
        clock(
            lambda: checks.tokens_agree(
                "greedy_tokens",
                alone,
                [list(t) for t in ref_tokens],
                list(ref_rows),
                margin_thr,
                f"stack greedy vs reference greedy, {n} tokens each, margin threshold {margin_thr:.3g}",
                tolerated,
            )
        ),
        # The same rounding can differ between a prompt alone and inside a batch (kernels may pick
        # tiles per batch size), so a flip there is excused by the same row error, where it applies.
        clock(
            lambda: checks.tokens_agree(
                "batch_invariance",
                batch_main,
                alone,
                [along(p, g, t, r) for p, g, t, r in zip(prompts, alone, ref_tokens, ref_rows)],
                margin_thr,
                "alone vs inside a staggered mixed-length batch",
                checks.errors_along(tolerated, alone, [list(t) for t in ref_tokens]) if tolerated else None,
            )
        ),
        clock(lambda: checks.max_tokens_respected(obs["batch"], wanted, obs["finished"])),
        clock(lambda: checks.streams_incrementally(obs["stream_steps"])),
        integrity,
    ]
    if spec_cases:
        results.insert(-1, clock(lambda: speculation.lossless(spec_cases, obs["speculation"], margin_thr, tolerated)))
    return results, logits["threshold"], scale


class _RuleClock:
    """Runs one rule's judging and adds its seconds under the rule's name."""

    def __init__(self, seconds: dict[str, float]):
        self.seconds = seconds

    def __call__(self, rule):
        t0 = time.perf_counter()
        result = rule()
        name = result["name"]
        self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - t0, 3)
        return result
