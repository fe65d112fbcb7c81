"""Plain data shared by the engine, the server, the checker and the benchmark.

The engine's public surface (implemented in ``vibeserve_runtime.engine``):

    engine = Engine.from_spec(spec: StackSpec)          # builds model + components
    engine.tokenizer                                     # .encode(str)->list[int], .decode(list[int])->str, .eos_token_id
    engine.add_request(Request)                          # queue a request
    engine.abort_request(request_id)                     # drop it and free its KV blocks
    engine.step() -> list[StepOutput]                    # one scheduler iteration
    engine.has_unfinished_requests() -> bool
    engine.generate(prompts: list[list[int]], params) -> list[list[int]]   # offline helper
    engine.teacher_forced_logits(prompt_ids, forced_ids) -> Tensor[len(forced_ids)+1, vocab]
        # prefill the prompt, then decode the forced tokens one at a time through the KV cache;
        # row i is the next-token logits after prompt + forced_ids[:i] (fp32, on CPU).
    engine.stats() -> dict   # kv blocks used/allocated, running/waiting counts, prefix-cache hits

Also available:

    Engine.from_weights(spec, hf_config, hf_state_dict, meta)   # build from weights already loaded
    vibeserve_runtime.engine.load_stack_spec(path | dir | dict | StackSpec) -> StackSpec
        # validated against design_space.json, defaults filled; ValueError names the bad field
    vibeserve_runtime.engine.register_component(dimension, name, factory)   # see engine/registry.py
    vibeserve_runtime.models.load_model_weights(model_spec) -> (hf_config, hf_state_dict, meta)
        # HF checkpoint naming; meta: arch, vocab_size, eos/bos ids, max_position_embeddings, gguf (GGUF only)
    vibeserve_runtime.models.hf_reference.build_hf_reference(hf_config, hf_state_dict) -> transformers model
    engine.meta, engine.hf_config, engine.max_model_len, engine.eos_token_id
Stop strings (SamplingParams.stop) finish a request with reason "stop" once the decoded output
contains one; the token that completed it is still reported, so the server trims the text.

Log-probabilities are opt-in per request and come from the model's own distribution (log-softmax
of the raw logits, before temperature, top-k or top-p): SamplingParams.logprobs=k gives each
generated token's logprob and the k most likely alternatives (StepOutput.logprobs, one entry per
new token); SamplingParams.prompt_logprobs=k does the same for every prompt token after the first
(StepOutput.prompt_logprobs, on the request's first output, entry 0 None). A request that asks for
prompt logprobs takes no prefix-cache hits: every prompt position has to be computed.

Speculation (components.speculation, engine/verify_step.py) never changes what a request gets, only
how many tokens a step delivers (StepOutput.new_token_ids may hold several). SamplingParams.prediction
(token ids of the expected output, OpenAI's `prediction`) is what speculation=predicted_outputs
drafts from; greedy requests without logprobs are drafted, others decode one token per step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class SamplingParams:
    max_tokens: int = 16
    temperature: float = 0.0  # 0 means greedy
    top_k: int = 0  # 0 disables
    top_p: float = 1.0
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    stop_token_ids: list[int] = field(default_factory=list)
    ignore_eos: bool = False
    logprobs: int | None = None  # None: none; k >= 0: the token's logprob and k alternatives
    prompt_logprobs: int | None = None
    # the expected output's token ids (OpenAI's `prediction`, e.g. the file being edited): drafts for
    # speculation=predicted_outputs; never changes the output, only how fast it comes
    prediction: list[int] | None = None
    # structured output (OpenAI's response_format): the JSON schema every output must satisfy
    # (components.structured_output decides how the grammar is enforced, never what comes out)
    json_schema: dict[str, Any] | None = None


@dataclass
class TokenLogprob:
    token_id: int
    logprob: float
    top: list[tuple[int, float]] = field(default_factory=list)  # (token id, logprob), most likely first


@dataclass
class Request:
    request_id: str
    prompt_token_ids: list[int]
    params: SamplingParams = field(default_factory=SamplingParams)
    arrival_time: float = 0.0


@dataclass
class StepOutput:
    request_id: str
    new_token_ids: list[int]
    finished: bool
    finish_reason: str | None = None  # "stop" | "length" | "abort"
    num_prompt_tokens: int = 0
    num_output_tokens: int = 0
    logprobs: list[TokenLogprob] | None = None  # aligned with new_token_ids
    prompt_logprobs: list[TokenLogprob | None] | None = None  # one per prompt token, first None
    # (draft tokens verified, of them accepted) over the request so far; None while nothing was drafted
    draft_counts: tuple[int, int] | None = None


@dataclass
class ModelSpec:
    arch: str  # "llama" | "gpt2" | "mixtral"
    preset: str | None = None  # a named config in models/presets.py
    config: dict[str, Any] = field(default_factory=dict)  # overrides / a full HF-style config
    weights: str = "random"  # "random" | "path" | "gguf"
    path: str | None = None
    seed: int = 0
    dtype: str = "float32"


@dataclass
class StackSpec:
    name: str
    model: ModelSpec
    components: dict[str, str]
    params: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"
