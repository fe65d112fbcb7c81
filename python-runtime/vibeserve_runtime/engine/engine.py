"""The engine: a model plus the components a stack spec chose, driven one scheduler step at a time.

A step is launched (inputs built, forward and sampling queued on the device: _launch) and then
resolved (its tokens read, appended, checked for stops and handed out: _resolve). Without async
scheduling a step() call resolves the step it launched. With params.async_scheduling (vLLM v1's
async scheduling) it resolves the step launched by the call before, after launching its own: the
host schedules and builds step N+1 while the device runs step N, and step N's tokens reach step
N+1 on the device (engine/launched_step.py). With a speculation proposer (components/speculation)
a step may carry draft tokens that the forward verifies (engine/verify_step.py); such a step is
read as soon as it ran. A request with a JSON schema (components/structured_output) has its
logits masked to what its grammar allows; a step carrying one is built once the step before it
was read, and runs one decode step.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import torch

from ..models import ModelParts, build_model, load_model_weights
from ..models.loading import torch_dtype
from ..types import Request, SamplingParams, StackSpec, StepOutput
from .batch import build_batch
from .component_profile import component_shares, tag
from .forced_drafts import ForcedTokenDrafts
from .device_block_tables import DeviceBlockTables
from .launched_step import LaunchedStep
from .logprobs import PromptRows, SampledLogprobs
from .multi_step import decode_steps_for, run_decode_steps
from .registry import get_component
from .sequence import Sequence, SeqStatus
from .spec import load_stack_spec
from .step_profile import DecodeStepProfile
from .verify_step import VerifiedStep, accept, plan_drafts


@dataclass
class BuildContext:
    """What a KV-cache factory needs to size itself."""

    num_layers: int
    num_kv_heads: int
    head_dim: int
    max_model_len: int
    params: dict
    dtype: torch.dtype
    device: torch.device

    def num_blocks(self) -> int:
        bs = self.params["block_size"]
        per_seq = -(-self.max_model_len // bs)
        if self.params.get("kv_cache_tokens"):
            n = self.params["kv_cache_tokens"] // bs
        elif self.device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(self.device)
            per_token = (
                2
                * self.num_layers
                * self.num_kv_heads
                * self.head_dim
                * torch.tensor([], dtype=self.dtype).element_size()
            )
            n = int(free * self.params["gpu_memory_utilization"]) // (per_token * bs)
        else:
            n = self.params["max_batch_size"] * per_seq
        if n < per_seq:
            raise ValueError(
                f"params.kv_cache_tokens: room for {n * bs} tokens cannot hold one sequence of "
                f"max_model_len={self.max_model_len}"
            )
        return n


def model_parts(spec: StackSpec) -> ModelParts:
    """The factories the spec chose for the model's layers."""
    c = spec.components
    return ModelParts(
        linear=_tagging(get_component("linear", c["linear"]), "linear"),
        attention=get_component("attention", c["attention"])(),
        rope=get_component("rope", c["rope"]),
        moe=_tagging(get_component("moe", c["moe"]), "moe"),
    )


def _tagging(factory, component: str):
    """The factory, with every module it builds marked for the component profile."""
    return lambda *args, **kwargs: tag(factory(*args, **kwargs), component)


def load_tokenizer_for(spec: StackSpec, meta: dict):
    try:
        from ..tokenizers import load_tokenizer
    except ImportError:
        from ..tokenizers.byte import ByteTokenizer

        return ByteTokenizer(meta["vocab_size"])
    return load_tokenizer(spec, meta)


class Engine:
    def __init__(
        self,
        spec: StackSpec,
        model,
        kv_cache,
        scheduler,
        runner,
        sampler,
        tokenizer,
        hf_config,
        meta,
        proposer=None,
        structured=None,
    ):
        self.spec, self.model, self.kv, self.scheduler = spec, model, kv_cache, scheduler
        self.runner, self.sampler, self.tokenizer = runner, sampler, tokenizer
        self.hf_config, self.meta = hf_config, meta
        self.device = torch.device(spec.device)
        self.max_model_len = kv_cache.max_model_len
        self.eos_token_id = meta.get("eos_token_id")
        if getattr(tokenizer, "eos_token_id", None) is not None:
            self.eos_token_id = tokenizer.eos_token_id
        self.seqs: dict[str, Sequence] = {}
        self._queued: list[StepOutput] = []  # outputs for the next step() call (aborts, a drained step's tokens)
        self.num_steps = 0
        self.num_forward_tokens = 0
        # live requests that asked for logprobs: a step looks at logprobs only while these are non-empty
        self._logprob_requests: set[str] = set()
        self._prompt_logprob_requests: set[str] = set()
        # multi-step decode needs a sampler that leaves its tokens on the device, and one process:
        # tensor-parallel ranks replay rank 0's inputs, which are host-built
        on_device = getattr(sampler, "sample", None) is not None and spec.components.get("tp", "1") == "1"
        # speculation decides what a step keeps on the host before the next one is built (engine/verify_step.py)
        on_device = on_device and proposer is None
        steps = int(spec.params.get("decode_steps") or 1)
        self.decode_steps = steps if on_device else 1
        # async scheduling, for the same reasons: the next step's input ids come from the device
        self.async_scheduling = bool(spec.params.get("async_scheduling")) and on_device
        self._in_flight: LaunchedStep | None = None  # async scheduling: the step launched, not yet read
        # block tables kept on the device (where the cache allows), so building a step costs O(new blocks);
        # a row per running sequence and teacher forcing's, more if a custom scheduler runs more
        self.block_tables = (
            DeviceBlockTables(kv_cache, spec.params.get("max_batch_size", 16) + 2, self.device)
            if self.async_scheduling and kv_cache.stable_block_tables
            else None
        )
        # speculation: draft tokens proposed from the request itself, verified by the forward
        # (engine/verify_step.py); it runs without async scheduling or multi-step (above, and spec validation)
        self.proposer = proposer
        self.num_speculative_tokens = int(spec.params.get("num_speculative_tokens") or 0)
        self.spec_counts = {"draft_tokens": 0, "accepted_tokens": 0, "verified_rows": 0}
        # structured output (components/structured_output): the grammar backend, and the live requests
        # that have a grammar (a step with any of them runs synchronously, one decode step)
        self.structured = structured
        self._grammar_requests: set[str] = set()
        # what drafts come from: the proposer, or jump-forward's forced tokens first
        self.drafter = proposer
        self.draft_limit = self.num_speculative_tokens
        if getattr(structured, "drafts_forced_tokens", False):
            self.drafter = ForcedTokenDrafts(structured, proposer, self.num_speculative_tokens)
            self.draft_limit = self.drafter.max_draft
        self.profile: DecodeStepProfile | None = None  # off unless a benchmark asks (enable_profile)
        self.component_profile: dict | None = None  # filled by the next decode step once asked for
        self._profile_components = False

    # --- construction ----------------------------------------------------------------------
    @classmethod
    def from_spec(cls, spec, capture_cap: int | None = None) -> "Engine":
        """capture_cap: the largest decode batch this engine will be sent, where the caller knows it
        (check, bench); CUDA graphs are captured only up to it (components/execution/cuda_graphs.py).
        Not part of the spec: the design and what `serve` builds are unchanged by it."""
        spec = load_stack_spec(spec)
        device = torch.device(spec.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("device: 'cuda' requested but no CUDA GPU is visible to PyTorch")
        if spec.components.get("tp", "1") != "1":  # one process per device; this one becomes rank 0
            from ..parallel import launch_tensor_parallel_engine

            return launch_tensor_parallel_engine(spec)
        hf_config, sd, meta = load_model_weights(spec.model, device=device)
        return cls.from_weights(spec, hf_config, sd, meta, capture_cap)

    @classmethod
    def from_weights(
        cls, spec, hf_config: dict, state_dict: dict, meta: dict, capture_cap: int | None = None
    ) -> "Engine":
        """Build from already loaded weights (HF naming); the caller's dict is left intact."""
        spec = load_stack_spec(spec)
        if spec.components.get("tp", "1") != "1":
            raise ValueError(
                "components.tp > 1: build with Engine.from_spec, which starts one process per device "
                "(each loads the weights named by spec.model)"
            )
        model = build_model(hf_config, dict(state_dict), model_parts(spec)).to(torch.device(spec.device))
        return cls.from_model(spec, model, hf_config, meta, capture_cap)

    @classmethod
    def from_model(cls, spec, model, hf_config: dict, meta: dict, capture_cap: int | None = None) -> "Engine":
        """Wrap a built model (see model_parts) with a fresh KV cache, scheduler, runner and sampler.
        The model's attention layers are re-pointed at the new cache, so one model can serve
        several engines in turn (benchmarks reuse big weights this way)."""
        spec = load_stack_spec(spec)
        device = torch.device(spec.device)
        c, p = spec.components, spec.params
        max_pos = meta["max_position_embeddings"] or 2048
        max_model_len = p["max_model_len"] or min(max_pos, 4096)
        if max_model_len > max_pos:
            raise ValueError(f"params.max_model_len={max_model_len} exceeds the model's {max_pos} positions")
        ctx = BuildContext(
            len(model.layers),
            model.num_kv_heads,
            model.head_dim,
            max_model_len,
            p,
            torch_dtype(spec.model.dtype),
            device,
        )
        kv = get_component("kv_cache", c["kv_cache"])(ctx)
        for layer, k, v in zip(model.attention_layers, kv.k_caches, kv.v_caches):
            layer.k_cache, layer.v_cache = k, v
        scheduler = get_component("scheduler", c["scheduler"])(kv, p)
        # Components that time their kernels per batch size (moe=fused_tuned) do it now, for every size a
        # step can have, rather than on the clock of the first request that brings a new size.
        for module in model.modules():
            if hasattr(module, "prepare_for_tokens"):
                module.prepare_for_tokens(max(p["max_num_batched_tokens"], p["max_batch_size"]))
        # the cap rides in the runner's copy of the params only; other runners ignore it
        runner_params = p if capture_cap is None else {**p, "capture_cap": capture_cap}
        runner = get_component("execution", c["execution"])(model, kv, runner_params, device)
        sampler = get_component("sampling", c["sampling"])()
        proposer = get_component("speculation", c["speculation"])(p)
        tokenizer = load_tokenizer_for(spec, meta)
        eos = getattr(tokenizer, "eos_token_id", None)
        structured = get_component("structured_output", c["structured_output"])(
            tokenizer, meta["vocab_size"], meta.get("eos_token_id") if eos is None else eos
        )
        return cls(spec, model, kv, scheduler, runner, sampler, tokenizer, hf_config, meta, proposer, structured)

    # --- requests --------------------------------------------------------------------------
    def add_request(self, request: Request) -> None:
        n = len(request.prompt_token_ids)
        if n == 0:
            raise ValueError("prompt is empty: give at least one token")
        if n >= self.max_model_len:
            raise ValueError(
                f"prompt has {n} tokens; this stack's context is {self.max_model_len} tokens "
                "(prompt + at least one generated token must fit)"
            )
        if request.request_id in self.seqs:
            raise ValueError(f"request id {request.request_id!r} is already in use")
        vocab = self.meta["vocab_size"]
        if any(not 0 <= t < vocab for t in request.prompt_token_ids):
            raise ValueError(f"prompt token ids must lie in [0, {vocab})")
        seq = Sequence(request, self.device)
        if request.params.json_schema is not None:
            if self.structured is None:
                raise ValueError("response_format: this engine was built without a structured_output component")
            seq.grammar = self.structured.start(request.params.json_schema)
            self._grammar_requests.add(seq.request_id)
        self.seqs[seq.request_id] = seq
        if request.params.logprobs is not None:
            self._logprob_requests.add(seq.request_id)
        if request.params.prompt_logprobs is not None:
            self._prompt_logprob_requests.add(seq.request_id)
        self.scheduler.add(seq)

    def abort_request(self, request_id: str) -> bool:
        seq = self.seqs.pop(request_id, None)
        if seq is None:
            return False
        self.scheduler.remove(request_id)
        seq.status = SeqStatus.FINISHED
        self._forget_logprobs(request_id)
        self._grammar_requests.discard(request_id)
        # a step in flight may still hold a token of it: that row is dropped when the step is read
        self._queued.append(StepOutput(request_id, [], True, "abort", seq.num_prompt_tokens, seq.num_output_tokens))
        return True

    def has_unfinished_requests(self) -> bool:
        return self.scheduler.has_unfinished() or bool(self._queued) or self._in_flight is not None

    def enable_profile(self) -> DecodeStepProfile:
        """Starts timing decode steps (engine/step_profile.py); benchmarks read it, serving leaves it off."""
        if self.profile is None:
            self.profile = DecodeStepProfile(self.device)
        return self.profile

    def profile_components_at_next_decode(self) -> None:
        """The next pure decode step also measures its forward's device time per component
        (engine/component_profile.py) into self.component_profile. That step runs single, and the
        profiler's start-up cost lands in it: benchmarks ask outside their timed runs."""
        self.component_profile, self._profile_components = None, True

    # --- stepping --------------------------------------------------------------------------
    def step(self) -> list[StepOutput]:
        prof = self.profile
        if prof:
            prof.begin_step()
        outputs, self._queued = self._queued, []
        # the component profile times one step on its own; a grammar masks with every token read
        synchronous = self._profile_components or bool(self._grammar_requests)
        if synchronous:
            outputs += self._drain()
        batch = self.scheduler.schedule()
        components = self._profile_components and self._pure_decode(batch)
        drafts = None
        if (
            self.drafter is not None
            and batch
            and not components
            and not self._logprob_requests
            and not self._prompt_logprob_requests
        ):  # logprobs would need a row per token: plain steps
            batch, drafts = plan_drafts(
                batch,
                self.drafter,
                self.kv,
                self.draft_limit,
                self.spec.params["max_num_batched_tokens"],
                self.max_model_len,
            )
        if drafts:
            launched = self._verify(batch, drafts)
        else:
            launched = self._launch(batch, components) if batch else None
        overlap = self.async_scheduling and not synchronous
        if overlap:  # read the step the last call launched; this call's step is read by the next one
            launched, self._in_flight = self._in_flight, launched
        if launched is None:
            return outputs
        outputs += self._resolve(launched)
        # a profiled decode step; under overlap only beside another (the call's wall time then spans one step)
        if (
            prof
            and launched.span is not None
            and (not overlap or (self._in_flight is not None and self._in_flight.span is not None))
        ):
            prof.end_step(launched.num_tokens, launched.span)
        return outputs

    def _pure_decode(self, batch) -> bool:
        return bool(batch) and all(n == 1 and seq.num_sampled > 0 for seq, n in batch)

    def _drain(self) -> list[StepOutput]:
        """Reads the step in flight, if any (async scheduling), so the engine is between steps."""
        launched, self._in_flight = self._in_flight, None
        return self._resolve(launched) if launched is not None else []

    def _launch(self, batch, components: bool = False) -> LaunchedStep:
        """Queues the batch's forward pass(es) and sampling on the device; waits for nothing on a GPU
        (greedy sampling, no prompt logprobs). Sequences advance as if the step had run: their computed
        positions now, their sampled tokens as pending until the step is resolved."""
        prof = self.profile
        # only a profile reads it: serving does not pay a pass over the batch per step
        span = prof.forward_span() if prof is not None and self._pure_decode(batch) else None
        # a grammar masks each token on the host: one decode step per run while one is live
        k = (
            1
            if components or self._grammar_requests
            else decode_steps_for(batch, self.decode_steps, self.max_model_len, self.kv)
        )
        if k > 1:
            sampled = [seq for seq, _ in batch]
            tokens = run_decode_steps(
                self.runner,
                self.sampler.sample,
                batch,
                self.kv,
                self.device,
                k,
                span,
                self._in_flight,
                self.block_tables,
            )
            logprobs = None
        else:
            sampled, tokens, logprobs = self._forward_and_sample(batch, span, components)
        self.num_steps += k
        self.num_forward_tokens += sum(k if k > 1 else n for _, n in batch)
        for seq, n in batch:
            seq.num_computed += k if k > 1 else n
            if seq.num_computed <= len(seq.token_ids):  # else its newest tokens are unread: _resolve publishes
                self.kv.on_computed(seq)
        for seq in sampled:
            seq.num_pending += k
        return LaunchedStep(sampled, tokens, logprobs, span, num_tokens=k * len(batch))

    def _verify(self, batch, drafts: dict) -> VerifiedStep:
        """Runs a step that carries draft tokens (engine/verify_step.py) and keeps what greedy
        decoding would have produced; the rejected tokens' computed positions are rolled back."""
        input_ids, meta, sample_idx, sampled = build_batch(batch, self.kv, self.device, drafts=drafts)
        logits = self.runner.run(input_ids, meta, sample_idx)
        rows = [seq for seq in sampled for _ in range(len(drafts.get(seq, ())) + 1)]
        if self._grammar_requests:
            logits = self.structured.mask(logits, sampled, drafts)
        kept = accept(self._sample(logits, rows).view(-1).tolist(), sampled, drafts)
        self.num_steps += 1
        self.num_forward_tokens += sum(n for _, n in batch)
        for seq, n in batch:
            seq.num_computed += n
        c = self.spec_counts
        for seq, toks in zip(sampled, kept):
            seq.num_pending += len(toks)
            if seq in drafts:
                seq.num_computed -= len(drafts[seq]) + 1 - len(toks)  # the rejected draft tokens
                self.kv.truncate(seq, len(seq))
                c["draft_tokens"] += len(drafts[seq])
                c["accepted_tokens"] += len(toks) - 1
                seq.num_draft_tokens += len(drafts[seq])
                seq.num_accepted_draft_tokens += len(toks) - 1
                c["verified_rows"] += 1
        for seq, _ in batch:
            if seq.num_computed <= len(seq.token_ids):  # else its newest tokens are unread: _resolve publishes
                self.kv.on_computed(seq)
        return VerifiedStep(sampled, kept, num_tokens=sum(n for _, n in batch))

    def _forward_and_sample(self, batch, span, components: bool):
        input_ids, meta, sample_idx, sampled = build_batch(
            batch, self.kv, self.device, self._in_flight, self.block_tables
        )
        prompt_rows = None
        if self._prompt_logprob_requests and any(seq.prompt_logprobs is not None for seq, _ in batch):
            prompt_rows = PromptRows(batch)
            sample_idx = prompt_rows.index(sample_idx.device)
        if components:
            forward = getattr(self.runner, "forward_uncaptured", self.runner.run)
            self.component_profile = component_shares(
                self.model, lambda: forward(input_ids, meta, sample_idx), self.device
            )
            self._profile_components = False
        if span:
            span.start()
        logits = self.runner.run(input_ids, meta, sample_idx)  # rows only for sequences that finished their prompt
        if span:
            span.stop()
        if prompt_rows is not None:
            logits = prompt_rows.record(logits)  # reads prompt logprobs back now: this step waits for its forward
        if not sampled:
            return sampled, None, None
        masked = self.structured.mask(logits, sampled) if self._grammar_requests else logits
        tokens = self._sample(masked, sampled)
        logprobs = SampledLogprobs(logits, sampled, tokens) if self._logprob_requests else None
        return sampled, tokens, logprobs

    def _sample(self, logits, sampled) -> torch.Tensor:
        """The sampled ids [S, 1]: left on the device by a sampler that can, else on the host."""
        sample = getattr(self.sampler, "sample", None)
        if sample is not None:
            return sample(logits, sampled).to(torch.long).view(-1, 1)
        return torch.tensor(self.sampler(logits, sampled), dtype=torch.long).view(-1, 1)

    def _resolve(self, launched: LaunchedStep) -> list[StepOutput]:
        """Reads a launched step's tokens (waiting for that step only) and hands them out. A sequence
        that ended after the step was launched (a stop read from the step before, an abort) drops its
        row: that token was computed speculatively. One that ends inside a multi-step run keeps the
        tokens up to its end."""
        outputs = []
        rows = launched.host_tokens()  # first: the logprobs' copies have landed once the tokens have
        entries = launched.logprobs.entries() if launched.logprobs is not None else None
        for i, (seq, toks) in enumerate(zip(launched.seqs, rows)):
            if seq.status is SeqStatus.FINISHED:
                continue
            kept = []
            for tok in toks:
                seq.num_pending -= 1
                kept.append(tok)
                if self._record_token(seq, tok):
                    break
            finished = seq.status is SeqStatus.FINISHED
            if seq.status is SeqStatus.RUNNING:
                self.kv.on_computed(seq)  # blocks completed by the tokens just read can be shared now
            out = StepOutput(
                seq.request_id,
                kept,
                finished,
                seq.finish_reason if finished else None,
                seq.num_prompt_tokens,
                seq.num_output_tokens,
            )
            if entries is not None and entries[i] is not None:
                out.logprobs = [entries[i]]
            if seq.prompt_logprobs is not None:  # its prompt is complete: this is its first token
                out.prompt_logprobs, seq.prompt_logprobs = seq.prompt_logprobs, None
                self._prompt_logprob_requests.discard(seq.request_id)
            if seq.num_draft_tokens:
                out.draft_counts = (seq.num_draft_tokens, seq.num_accepted_draft_tokens)
            outputs.append(out)
        return outputs

    def _record_token(self, seq: Sequence, tok: int) -> bool:
        """Appends a sampled token and retires the sequence if it ends there; True when it ended."""
        seq.token_ids.append(tok)
        p = seq.params
        reason = None
        if (tok == self.eos_token_id and not p.ignore_eos) or tok in p.stop_token_ids:
            reason = "stop"
        elif p.stop and any(s in self.tokenizer.decode(seq.output_token_ids) for s in p.stop):
            reason = "stop"
        elif seq.num_output_tokens >= p.max_tokens or len(seq.token_ids) >= self.max_model_len:
            reason = "length"
        if seq.grammar is not None and not self.structured.advance(seq, tok) and reason is None:
            reason = "stop"  # the grammar is complete: nothing but EOS could follow
        if reason:
            seq.status, seq.finish_reason = SeqStatus.FINISHED, reason
            self.scheduler.finish(seq)
            self.seqs.pop(seq.request_id, None)
            if self._logprob_requests or self._prompt_logprob_requests:
                self._forget_logprobs(seq.request_id)
            self._grammar_requests.discard(seq.request_id)
        return reason is not None

    def _forget_logprobs(self, request_id: str) -> None:
        self._logprob_requests.discard(request_id)
        self._prompt_logprob_requests.discard(request_id)

    # --- offline use -----------------------------------------------------------------------
    def generate(
        self, prompts: list[list[int]], params: SamplingParams | list[SamplingParams] | None = None
    ) -> list[list[int]]:
        params = params or SamplingParams()
        plist = params if isinstance(params, list) else [params] * len(prompts)
        ids = [f"gen-{uuid.uuid4().hex[:8]}-{i}" for i in range(len(prompts))]
        for rid, prompt, sp in zip(ids, prompts, plist):
            self.add_request(Request(rid, list(prompt), sp, time.time()))
        out = {rid: [] for rid in ids}
        while any(rid in self.seqs for rid in ids):
            for o in self.step():
                if o.request_id in out:
                    out[o.request_id] += o.new_token_ids
        return [out[rid] for rid in ids]

    @torch.inference_mode()
    def teacher_forced_logits(self, prompt_ids: list[int], forced_ids: list[int]) -> torch.Tensor:
        """Row i: next-token logits after prompt + forced_ids[:i], computed through the KV cache."""
        if len(prompt_ids) + len(forced_ids) > self.max_model_len:
            raise ValueError(
                f"prompt + forced tokens ({len(prompt_ids) + len(forced_ids)}) exceed max_model_len "
                f"{self.max_model_len}"
            )
        self._queued += self._drain()  # the engine's own batch building and caches, with no step in flight
        seq = Sequence(Request(f"tf-{uuid.uuid4().hex[:8]}", list(prompt_ids), SamplingParams()), self.device)
        if not self.kv.allocate(seq):
            raise RuntimeError("teacher_forced_logits: no free KV-cache room; run it while the engine is idle")
        rows = []
        try:
            chunk = self.spec.params["max_num_batched_tokens"]
            i = 0
            while True:
                while seq.num_computed < len(seq):
                    n = min(chunk, len(seq) - seq.num_computed)
                    if not self.kv.reserve(seq, seq.num_computed + n):
                        raise RuntimeError("teacher_forced_logits: KV cache full")
                    input_ids, meta, sample_idx, _ = build_batch([(seq, n)], self.kv, self.device)
                    logits = self.runner.run(input_ids, meta, sample_idx)
                    seq.num_computed += n
                    self.kv.on_computed(seq)
                rows.append(logits[-1].float().cpu())
                if i == len(forced_ids):
                    break
                seq.token_ids.append(int(forced_ids[i]))
                i += 1
        finally:
            self.kv.free(seq)
        return torch.stack(rows)

    def stats(self) -> dict:
        running = self.scheduler.running
        s = self.kv.stats(running)
        s.update(
            num_running=len(running),
            num_waiting=len(self.scheduler.waiting),
            num_preemptions=self.scheduler.num_preemptions,
            num_steps=self.num_steps,
            num_forward_tokens=self.num_forward_tokens,
            max_model_len=self.max_model_len,
            decode_steps=self.decode_steps,
            async_scheduling=self.async_scheduling,
            components=dict(self.spec.components),
        )
        if self.proposer is not None:
            c = self.spec_counts
            s.update(
                spec_draft_tokens=c["draft_tokens"],
                spec_accepted_tokens=c["accepted_tokens"],
                spec_verified_rows=c["verified_rows"],
                # accepted draft tokens / proposed, and tokens a drafted sequence got per verify step
                spec_acceptance_rate=c["accepted_tokens"] / c["draft_tokens"] if c["draft_tokens"] else None,
                spec_tokens_per_verify=(c["accepted_tokens"] / c["verified_rows"] + 1) if c["verified_rows"] else None,
            )
        return s
