"""Served side-by-side measurement of one scenario: every stack and every peer engine behind its own
OpenAI-compatible HTTP server, on one GPU, driven over HTTP/SSE by the runtime's load generator
(vLLM `bench serve` metric names and semantics), same token-id requests for all.

  python bench/scenarios/compare_served.py --scenario scenarios/gpt2-chat.yaml --out RESULT.json \
      [--search-json .vibeserve/artifacts/<id>/search.json | --design-from bench/results/<old>.json] \
      [--peers vllm,transformers-cb,llama.cpp] [--reps 3] [--time-budget-s 480]

Engines: `generic` (the design space's generic stack: vLLM's defaults in the library's terms,
docs/generic-stack.md), `searched` (the search's best design, or a recorded design), and the peers:
vLLM (`vllm serve` at its defaults, with its own n-gram speculation on a code-edit workload; needs
bench/peers/install_vllm.sh and `source bench/peers/env.sh`),
transformers' own continuous batching (bench/peers/transformers_cb_server.py) and, asked for by name,
llama.cpp (`llama-server`; needs bench/peers/build_llama_server.sh). The model's weights are written
once as a safetensors checkpoint (bench/peers/write_checkpoint.py; a GGUF-weights scenario's file
dequantized, with its own tokenizer) and every engine serves that checkpoint; llama.cpp, which serves
GGUF files only, gets it written as a GGUF by llama.cpp's own converter (bench/peers/write_gguf.py) in
the checkpoint's dtype, or Q8_0 where the stacks serve 8-bit weights, and a GGUF-weights scenario's own
file, quantized as it is.
Engines share the GPU, so each is given the same KV pool (vLLM through --kv-cache-memory-bytes;
transformers sizes its own from what is left, started last) with room for a quarter more than every
sequence in flight at full length.

A real-text workload (code_edit, json_schema) is made with the model's tokenizer, and each request
carries what the workload gives it: its prediction as OpenAI's `prediction`, its schema as
`response_format`; it ends where the model ends it, where random prompts run to their max_tokens.

Two workloads: the scenario's own, and a saturating run (1024-token prompts, 128 output tokens,
256 in flight, as `vllm bench serve` is commonly run; shorter prompts where the model's context is
shorter). Per workload: a warm-up per engine with the same request shapes at the same concurrency
(every batch size from 1 up to the concurrency, every prompt length), then repetitions in rotating
order so that drift hits every engine alike; medians with min–max. An engine whose warm-up
predicts a repetition longer than the run can afford is left out of that workload, and the reason
recorded. The output JSON is rewritten after every repetition.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/scenarios is not a package
from scenario_stacks import (  # noqa: E402
    REPO,
    design_spec,
    device_name,
    device_of,
    generic_spec,
    kv_cache_tokens_for,
    materialize,
    scenario_workload,
)
from compare_stacks import search_summary, summarize  # noqa: E402
from served_budget import affordable, projected_repetition_s  # noqa: E402
from served_engines import (  # noqa: E402
    EngineServer,
    llama_cpp_outtype,
    llama_cpp_server,
    llama_cpp_slots,
    transformers_cb_server,
    vibeserve_server,
    vllm_server,
)

from vibeserve_runtime.bench.metrics import compute_metrics  # noqa: E402
from vibeserve_runtime.bench.online import run_online  # noqa: E402
from vibeserve_runtime.bench.workload import (  # noqa: E402
    REAL_TEXT_DATASETS,
    Workload,
    arrival_offsets,
    make_requests,
    warmup_requests,
)
from vibeserve_runtime.models.presets import vocab_size_of  # noqa: E402
from vibeserve_runtime.tokenizers import tokenizer_of  # noqa: E402

PEERS = ("vllm", "transformers-cb", "llama.cpp")
DEFAULT_PEERS = ("vllm", "transformers-cb")
OURS = ("generic", "searched")
SATURATING = {"input_len": 1024, "output_len": 128, "max_concurrency": 256, "num_prompts": 512}
KEY_METRICS = (
    "output_throughput",
    "request_throughput",
    "median_ttft_ms",
    "p99_ttft_ms",
    "median_tpot_ms",
    "p99_tpot_ms",
    "median_itl_ms",
    "p99_itl_ms",
    "median_e2el_ms",
    "completed",
    "failed",
    "duration_s",
)


def saturating_workload(max_positions: int | None, seed: int) -> Workload:
    """1024/128 at 256 in flight; a model with a shorter context gets the longest prompt that fits."""
    s = dict(SATURATING)
    if max_positions and s["input_len"] + s["output_len"] > max_positions:
        s["input_len"] = max_positions - s["output_len"]
    return Workload(dataset="random", range_ratio=0.0, request_rate=None, warmups=1, repetitions=1, seed=seed, **s)


def searched_design(args) -> tuple[dict | None, str | None, dict | None]:
    """The design to measure as `searched`, where it came from, and the search's summary."""
    if args.search_json:
        summary = search_summary(Path(args.search_json))
        summary.pop("_best_stack_dir", None)
        d = json.loads(Path(args.search_json).read_text())
        best = (d.get("leaderboard") or [None])[0]
        if not best:
            return None, f"{args.search_json}: the search has no accepted candidate", summary
        return best["design"], f"search {d.get('searchId')}, leaderboard[0] {best.get('candidateId')}", summary
    if args.design_from:
        d = json.loads(Path(args.design_from).read_text())
        best = (d.get("search") or {}).get("best_design")
        if not best:
            return None, f"{args.design_from} records no best design", None
        return (
            best,
            (
                f"the best design of search {d['search'].get('search_id')} as recorded in "
                f"{Path(args.design_from).name}, re-measured (not a new search)"
            ),
            None,
        )
    return None, None, None


def ratio(med: dict[str, float | None], a: str, b: str, lower_better: bool) -> float | None:
    x, y = med.get(a), med.get(b)
    if not x or not y:
        return None
    return (y / x) if lower_better else (x / y)  # > 1 means `a` is better on the objective


class Comparison:
    def __init__(self, args, sc: dict):
        self.args, self.sc = args, sc
        self.device = args.device or device_of(sc)
        self.objective = sc.get("objective", "output_throughput")
        self.lower_better = self.objective.endswith("_ms")
        self.t0 = time.monotonic()
        self.deadline = self.t0 + args.time_budget_s
        self.out_path = Path(args.out)
        self.work = Path(args.work_dir) / sc["name"]
        self.servers: dict[str, EngineServer] = {}
        self._llama_cpp: tuple[Path, Path, int] | None = None  # its GGUF, log directory, context per slot
        self.result: dict[str, Any] = {
            "scenario": sc["name"],
            "scenario_file": args.scenario,
            "description": sc.get("description"),
            "device": args.device_name or device_name(self.device),
            "device_kind": self.device,
            "mode": "online",
            "command": args.run_command or " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
            "model": sc["model"],
            "objective": self.objective,
            "objective_direction": "lower" if self.lower_better else "higher",
            "repetitions": args.reps,
            "stacks": {},
            "peers": {},
            "workloads": {},
            "errors": [],
            "complete": False,
        }

    def save(self) -> None:
        self.out_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.out_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.result, indent=2, default=str))
        tmp.replace(self.out_path)

    def error(self, stack: str, message: str, **where) -> None:
        self.result["errors"].append({"stack": stack, "error": message, **where})
        print(f"compare-served: {stack}: {message}", file=sys.stderr)
        self.save()

    # --- engines ---------------------------------------------------------------------------
    def start_engines(self, workloads: dict[str, Workload]) -> None:
        from write_checkpoint import write_checkpoint

        sc, device = self.sc, self.device
        max_len = max(w.input_len + w.output_len for w in workloads.values())
        peak = max(w.max_concurrency or w.num_prompts for w in workloads.values())
        first = next(iter(workloads.values()))
        # four engines share the GPU here: a quarter more than every sequence in flight at full length
        kv_tokens = kv_cache_tokens_for(peak, max_len, headroom=1.25) if device == "cuda" else None
        self.result["kv_cache_tokens"] = kv_tokens
        peers = [p for p in self.args.peers.split(",") if p]
        # The model is written once as the checkpoint every engine loads: random weights drawn for the seed,
        # or a GGUF file dequantized (with its own tokenizer). llama.cpp serves a GGUF scenario's own file.
        checkpoint = write_checkpoint(generic_spec(sc, device)["model"], self.work / "checkpoint")
        self.result["checkpoint"] = str(checkpoint)
        own_gguf = sc["model"].get("weights") == "gguf"

        specs = {"generic": generic_spec(sc, device, checkpoint)}
        design, source, summary = searched_design(self.args)
        if design:
            specs["searched"] = design_spec(sc, "searched", design["choices"], design["params"], device, checkpoint)
            self.result["searched_source"] = source
        elif source:
            self.error("searched", source)
        self.result["search"] = summary
        log_dir = self.work / "logs"
        # vLLM checks at start that the GPU memory it may use is free: it starts first.
        if "vllm" in peers:
            per_token = _kv_bytes_per_token(json.loads((checkpoint / "config.json").read_text()))
            linear = specs["generic"]["components"].get("linear", "native")
            self.servers["vllm"] = vllm_server(
                checkpoint,
                log_dir,
                max_len,
                kv_tokens * per_token if kv_tokens else None,
                linear,
                dataset=workloads["scenario"].dataset,
            )
            self.result["peers"]["vllm"] = {"command": " ".join(shlex.quote(a) for a in self.servers["vllm"].command)}
        for name, spec in specs.items():
            spec["params"].update(max_model_len=max_len, **({"kv_cache_tokens": kv_tokens} if kv_tokens else {}))
            try:
                stack = materialize(spec, self.work / name)
            except Exception as e:
                self.error(name, str(e))
                continue
            self.servers[name] = vibeserve_server(name, stack, log_dir, max_queue=max(512, peak), max_model_len=max_len)
            self.result["stacks"][name] = {
                "engine": "vibeserve",
                "components": spec["components"],
                "params": spec["params"],
            }
        if "llama.cpp" in peers:
            self._add_llama_cpp(
                None if own_gguf else checkpoint,
                specs["generic"]["components"].get("linear", "native"),
                log_dir,
                max_len,
                first.max_concurrency or first.num_prompts,
            )
        # transformers sizes its cache from the memory left: it starts last.
        if "transformers-cb" in peers:
            srv = transformers_cb_server(checkpoint, log_dir, sc["model"].get("dtype", "bfloat16"), device)
            self.servers["transformers-cb"] = srv
            self.result["peers"]["transformers-cb"] = {"command": " ".join(shlex.quote(a) for a in srv.command)}
        for p in peers:
            if p not in PEERS:
                self.error(p, f"unknown peer engine {p!r}; known: {', '.join(PEERS)}")
        # vLLM alone first, our stacks together, llama.cpp and transformers last (see above)
        groups = [
            [n for n in self.servers if n == "vllm"],
            [n for n in self.servers if n in OURS],
            [n for n in self.servers if n in ("llama.cpp", "transformers-cb")],
        ]
        for group in groups:
            for name in group:
                self.servers[name].start()
            for name in group:
                srv = self.servers[name]
                try:
                    srv.wait_healthy(self.args.start_timeout_s)
                except Exception as e:
                    self._drop(name, f"did not start: {e}")
                    continue
                entry = self._entry(name)
                entry.update(
                    engine=srv.engine,
                    load_s=srv.load_s,
                    log=str(srv.log_path),
                    **({"version": srv.version} if srv.version else {}),
                )
                print(f"compare-served: {name} ready in {srv.load_s:.1f}s at {srv.url}", file=sys.stderr)
        self.save()

    def _add_llama_cpp(self, checkpoint: Path | None, linear: str, log_dir: Path, max_len: int, slots: int) -> None:
        """llama-server on a GGUF: the comparison's checkpoint written as one by llama.cpp's converter, or the
        scenario's own file for a GGUF-weights scenario. What cannot be served is recorded, not raised."""
        from write_gguf import ConversionError, gguf_path, write_gguf

        entry = self._entry("llama.cpp")
        m = self.sc["model"]
        try:
            if checkpoint is None:
                if not m.get("path"):
                    raise FileNotFoundError("the scenario's GGUF model names no `path`")
                gguf = Path(m["path"]) if Path(m["path"]).is_absolute() else REPO / m["path"]
                entry.update(gguf=str(gguf), gguf_source="the scenario's own GGUF file, served as it is quantized")
            else:
                outtype, why = llama_cpp_outtype(checkpoint, linear)
                gguf = gguf_path(checkpoint, outtype)
            # first, so that without llama-server there is nothing to convert for
            srv = llama_cpp_server(gguf, log_dir, max_len, slots, self.device)
            if checkpoint is not None:
                written = write_gguf(checkpoint, outtype)
                entry.update(
                    gguf=written["path"],
                    gguf_outtype=outtype,
                    gguf_outtype_reason=why,
                    gguf_source=f"the comparison's checkpoint {checkpoint}, written by llama.cpp's converter",
                    gguf_converter_command=written["command"],
                    gguf_converter=written["converter_source"],
                    gguf_vocabulary=written["vocabulary"],
                    gguf_reused=written["reused"],
                    gguf_write_s=written.get("seconds"),
                )
        except (FileNotFoundError, ValueError) as e:
            entry.update(error=str(e))
            self.error("llama.cpp", str(e))
            return
        except ConversionError as e:
            why = f"llama.cpp's converter cannot write this model as a GGUF: {e}"
            entry.update(error=why, gguf_converter_command=e.command)
            self.error("llama.cpp", why)
            return
        self.servers["llama.cpp"] = srv
        self._llama_cpp = (gguf, log_dir, max_len)
        entry.update(command=" ".join(shlex.quote(a) for a in srv.command))

    def _fit_llama_cpp(self, wname: str, w: Workload) -> None:
        """llama-server gives each of its `-np` slots a fixed slice of its context and serves that many
        clients at once: a user sizes both to the load, so each workload gets a server started for its
        own clients (it loads in about a second; its log is the workload's)."""
        srv = self.servers.get("llama.cpp")
        clients = w.max_concurrency or w.num_prompts
        if srv is None or self._llama_cpp is None:
            return
        entry = self._entry("llama.cpp")
        entry.setdefault("slots_by_workload", {})[wname] = clients
        if llama_cpp_slots(srv) == clients:
            return
        srv.stop()
        gguf, log_dir, max_len = self._llama_cpp
        srv = llama_cpp_server(gguf, log_dir, max_len, clients, self.device, log_name=f"llama.cpp.{wname}.log")
        self.servers["llama.cpp"] = srv
        srv.start()
        try:
            srv.wait_healthy(self.args.start_timeout_s)
        except Exception as e:
            self._drop("llama.cpp", f"did not start for {wname}: {e}")
            return
        entry.setdefault("commands_by_workload", {})[wname] = " ".join(shlex.quote(a) for a in srv.command)

    def _entry(self, name: str) -> dict:
        table = self.result["peers"] if name in PEERS else self.result["stacks"]
        return table.setdefault(name, {})

    def _drop(self, name: str, why: str) -> None:
        srv = self.servers.pop(name, None)
        if srv:
            srv.stop()
        self._entry(name).update(error=why)
        self.error(name, why)

    def stop_engines(self) -> None:
        for srv in self.servers.values():
            srv.stop()

    # --- measurement -----------------------------------------------------------------------
    def measure(self, wname: str, w: Workload, vocab: int, more_to_come: bool, tokenizer=None) -> None:
        """tokenizer: the model's, for a real-text workload (code_edit, json_schema: its requests are text)."""
        section = {"workload": w.to_dict(), "stacks": {}, "skipped": {}}
        self.result["workloads"][wname] = section
        self._fit_llama_cpp(wname, w)
        warm = warmup_requests(w, vocab, avoid=set(range(3)), tokenizer=tokenizer)
        warm_n = len(warm)
        projected: dict[str, float] = {}
        for name, srv in list(self.servers.items()):
            t = time.perf_counter()
            recs, dur = asyncio.run(
                run_online(
                    srv.url, name, warm, [0.0] * len(warm), w.max_concurrency, timeout_s=self.args.request_timeout_s
                )
            )
            failed = [r.error for r in recs if not r.success]
            if failed:
                self._drop(name, f"warm-up of {wname}: {len(failed)} of {len(recs)} requests failed: {failed[0]}")
                continue
            projected[name] = projected_repetition_s(
                [r.e2el_s for r in recs], dur, warm_n, w.num_prompts, w.max_concurrency
            )
            print(
                f"compare-served: {wname}: {name} warm ({time.perf_counter() - t:.1f}s, a repetition ~{projected[name]:.0f}s)",
                file=sys.stderr,
            )
        # Everything left must fit: repetitions of every engine, and what the next workloads need.
        fit = affordable(
            projected, self.args.reps, self.deadline - time.monotonic(), self.args.reserve_s if more_to_come else 0.0
        )
        if fit.reserve_released:
            section["reserve_released"] = "the time kept for the next workload went to this one"
        for name, secs in fit.skipped.items():
            section["skipped"][name] = (
                f"its warm-up predicts {secs:.0f}s per repetition, more than the "
                f"{self.args.time_budget_s:.0f}s run leaves for {self.args.reps} repetitions"
            )
            self.error(name, section["skipped"][name], workload=wname)
        active = fit.engines
        for name in active:
            section["stacks"][name] = {"runs": []}
        order = list(active)
        for r in range(self.args.reps):
            reqs = make_requests(w, vocab, r, avoid=set(range(3)), tokenizer=tokenizer)
            arrivals = arrival_offsets(w, len(reqs), r)
            for name in order[r % len(order) :] + order[: r % len(order)] if order else []:
                srv = self.servers[name]
                recs, dur = asyncio.run(
                    run_online(srv.url, name, reqs, arrivals, w.max_concurrency, timeout_s=max(120.0, 4 * active[name]))
                )
                m = compute_metrics(recs, dur)
                m["repetition"], m["position"] = r, order.index(name)
                section["stacks"][name]["runs"].append(m)
                print(
                    f"compare-served: {wname} rep {r + 1} {name:16s} output {m['output_throughput']:9.1f} tok/s  "
                    f"median TTFT {m['median_ttft_ms']:8.1f} ms  median TPOT {m['median_tpot_ms']:7.2f} ms  "
                    f"failed {m['failed']}",
                    file=sys.stderr,
                )
                self.finish()
                self.save()

    def finish(self) -> None:
        """Medians, the best peer and the ratios on the objective, per workload; the scenario's own
        workload is the headline."""
        for wname, section in self.result["workloads"].items():
            # the saturating run measures capacity: it is judged on throughput whatever the objective
            objective = self.objective if wname == "scenario" else "output_throughput"
            lower = objective.endswith("_ms")
            for s in section["stacks"].values():
                s["metrics"] = summarize(s["runs"])
            med = {n: s["metrics"].get(objective, {}).get("median") for n, s in section["stacks"].items()}
            peers = [p for p in PEERS if med.get(p)]
            best_peer = (min if lower else max)(peers, key=lambda p: med[p]) if peers else None
            ours = "searched" if med.get("searched") else "generic"
            section.update(
                objective=objective,
                best_peer=best_peer,
                ratio_vs_generic=ratio(med, "searched", "generic", lower),
                ratio_vs_peer=ratio(med, ours, best_peer, lower) if best_peer else None,
                generic_vs_peer=ratio(med, "generic", best_peer, lower) if best_peer else None,
                ratio_of=ours,
            )
        head = self.result["workloads"].get("scenario")
        if not head:
            return
        for name, s in head["stacks"].items():
            self._entry(name).update(runs=s["runs"], metrics=s["metrics"])
        best = head.get("best_peer")
        if best:
            self.result["stacks"]["peer"] = {"name": best, **self.result["peers"][best]}
        elif self.result["peers"]:
            why = "; ".join(f"{n}: {p.get('error', 'not measured')}" for n, p in self.result["peers"].items())
            self.result["stacks"]["peer"] = {"name": None, "engine": None, "error": why}
        for k in ("ratio_vs_generic", "ratio_vs_peer", "generic_vs_peer", "ratio_of"):
            self.result[k] = head.get(k)
        self.result["workload"] = head["workload"]


def offline_figures(path: Path) -> dict[str, Any]:
    """The in-process engine figures of the same stacks (compare_stacks.py), kept beside the served ones."""
    try:
        d = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        return {"file": str(path), "error": f"unreadable: {e}"}
    return {
        "file": str(path),
        "command": d.get("command"),
        "workload": d.get("workload"),
        "ratio_vs_generic": d.get("ratio_vs_generic"),
        "search": d.get("search"),
        "stacks": {n: {"metrics": s.get("metrics"), "mode": s.get("mode")} for n, s in (d.get("stacks") or {}).items()},
    }


def _kv_bytes_per_token(cfg: dict) -> int:
    """K and V of one token over every layer, in the checkpoint's dtype."""
    layers = cfg.get("num_hidden_layers") or cfg.get("n_layer")
    heads = cfg.get("num_attention_heads") or cfg.get("n_head")
    kv_heads = cfg.get("num_key_value_heads") or heads
    head_dim = cfg.get("head_dim") or (cfg.get("hidden_size") or cfg.get("n_embd")) // heads
    width = {"float32": 4}.get(cfg.get("torch_dtype") or cfg.get("dtype"), 2)
    return 2 * layers * kv_heads * head_dim * width


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--search-json", help="measure this search's best design as `searched`")
    ap.add_argument("--design-from", help="measure the best design recorded in an earlier results file as `searched`")
    ap.add_argument(
        "--peers",
        default=",".join(DEFAULT_PEERS),
        help=f"comma-separated, of {', '.join(PEERS)} ('' for none; default {','.join(DEFAULT_PEERS)})",
    )
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--no-saturating", action="store_true", help="measure only the scenario's workload")
    ap.add_argument(
        "--offline-from", help="compare_stacks.py's result for the same scenario: its in-process figures go beside"
    )
    ap.add_argument("--device", choices=["cpu", "cuda"])
    ap.add_argument("--device-name")
    ap.add_argument("--max-prompts", type=int, help="cap the requests per repetition (CPU dry runs)")
    ap.add_argument(
        "--time-budget-s", type=float, default=480.0, help="engines that cannot finish within it are left out"
    )
    ap.add_argument(
        "--reserve-s",
        type=float,
        default=150.0,
        help="seconds kept for the saturating run while the scenario's workload is measured",
    )
    ap.add_argument("--start-timeout-s", type=float, default=420.0)
    ap.add_argument("--request-timeout-s", type=float, default=600.0)
    ap.add_argument("--run-command", help="the command line that started the whole run (recorded)")
    ap.add_argument("--work-dir", default=str(REPO / ".vibeserve" / "compare-served"))
    args = ap.parse_args()

    sc = yaml.safe_load(Path(args.scenario).read_text())
    cmp = Comparison(args, sc)
    workloads = {"scenario": scenario_workload(sc, args.max_prompts)}
    spec = generic_spec(sc, cmp.device)
    model = spec["model"]
    vocab = vocab_size_of(model)
    # real-text requests (a code edit and its prediction, a record and its JSON schema) are the model's text
    tokenizer = tokenizer_of(spec) if workloads["scenario"].dataset in REAL_TEXT_DATASETS else None
    if not args.no_saturating:
        from vibeserve_runtime.models.presets import get_preset

        cfg = {**(get_preset(model["preset"]) if model.get("preset") else {}), **model["config"]}
        sat = saturating_workload(
            cfg.get("max_position_embeddings") or cfg.get("n_positions"), int(model.get("seed", 0))
        )
        if args.max_prompts:
            sat.num_prompts = min(sat.num_prompts, args.max_prompts)
        workloads["saturating"] = sat
    if args.offline_from:
        cmp.result["offline"] = offline_figures(Path(args.offline_from))
    cmp.save()
    try:
        cmp.start_engines(workloads)
        names = list(workloads)
        for i, name in enumerate(names):
            if cmp.servers:
                cmp.measure(name, workloads[name], vocab, more_to_come=i + 1 < len(names), tokenizer=tokenizer)
    finally:
        cmp.stop_engines()
        cmp.result["elapsed_s"] = time.monotonic() - cmp.t0
        cmp.result["complete"] = (
            all(len(s["runs"]) >= 3 for sec in cmp.result["workloads"].values() for s in sec["stacks"].values())
            and not cmp.result["errors"]
        )
        cmp.finish()
        cmp.save()
    print(
        json.dumps(
            {
                "scenario": sc["name"],
                "ratio_vs_generic": cmp.result.get("ratio_vs_generic"),
                "ratio_vs_peer": cmp.result.get("ratio_vs_peer"),
                "errors": len(cmp.result["errors"]),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
