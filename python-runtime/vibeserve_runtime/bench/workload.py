"""Workloads: seeded datasets of token prompts and request arrival times.

A workload JSON (all optional):
  {"dataset": "random"|"fixed"|"code_edit"|"shared_prefix"|"json_schema", "num_prompts": 32, "input_len": 128,
   "output_len": 64, "range_ratio": 0.5, "request_rate": null|float, "arrival": "poisson"|"fixed",
   "max_concurrency": null|int, "warmups": 1, "repetitions": 3, "min_duration_s": 1.0, "seed": 0,
   "shared_prefix_len": null|int}
random: lengths drawn uniformly in [len*(1-range_ratio), len*(1+range_ratio)] (vLLM's random
dataset); fixed: every prompt exactly input_len tokens and every output exactly output_len;
code_edit: real text, a chat asking for an edit of a standard-library function with that function
as the request's prediction (bench/code_edit.py; prompts within input_len, outputs within
output_len). json_schema: real text, a chat asking to extract a record as JSON, with the request's
JSON schema (response_format) requiring the record's fields and sentinel id (bench/json_extraction.py;
prompts within input_len, max tokens output_len). The real-text datasets (REAL_TEXT_DATASETS) need
the stack's tokenizer: the functions below take it as `tokenizer`.
shared_prefix: fixed lengths like `fixed`, every prompt of a request set opening with the same
`shared_prefix_len` tokens (a long system prompt) and ending in input_len - shared_prefix_len
tokens of its own; each set (a timed pass, the warm-up, the profile pass) has a prefix of its own
(see _shared_prefix_requests).

A benchmark runs `warmups` untimed passes of the warm-up set (repetition 0's lengths, other tokens:
every batch and prefill shape the timed passes hit, without handing them cached prefixes), then
`repetitions` timed repetitions. A repetition is pass 0 of its own request set, then fresh seeded
sets one after another until its passes add up to `min_duration_s` (bench/repetition.py).
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass, fields
from typing import Any

from .. import events


DATASETS = ("random", "fixed", "code_edit", "shared_prefix", "json_schema")
# built from the stack's tokenizer, and ended where the model ends them (not at max tokens)
REAL_TEXT_DATASETS = ("code_edit", "json_schema")


@dataclass
class Workload:
    dataset: str = "random"
    num_prompts: int = 16
    input_len: int = 32
    output_len: int = 16
    range_ratio: float = 0.5
    request_rate: float | None = None  # None/inf: all requests at t=0
    arrival: str = "poisson"
    max_concurrency: int | None = None
    warmups: int = 1  # untimed passes of the warm-up set before the timed ones
    repetitions: int = 3  # timed repetitions: the result is their median, with the spread
    min_duration_s: float = 1.0  # a repetition repeats fresh request sets until it lasts this long
    seed: int = 0
    shared_prefix_len: int | None = None  # shared_prefix: tokens every prompt of a request set opens with

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Workload":
        names = {f.name for f in fields(cls)}
        for k in d:
            if k not in names:
                raise events.UsageError("bad_workload", f"workload field '{k}' is unknown; allowed: {sorted(names)}")
        w = cls(**d)
        if w.dataset not in DATASETS:
            raise events.UsageError("bad_workload", f"workload field 'dataset' must be one of {', '.join(DATASETS)}")
        if w.arrival not in ("poisson", "fixed"):
            raise events.UsageError("bad_workload", "workload field 'arrival' must be 'poisson' or 'fixed'")
        for k in ("num_prompts", "input_len", "output_len", "repetitions"):
            if not isinstance(getattr(w, k), int) or getattr(w, k) < 1:
                raise events.UsageError("bad_workload", f"workload field '{k}' must be a positive integer")
        if not isinstance(w.warmups, int) or w.warmups < 0:
            raise events.UsageError("bad_workload", "workload field 'warmups' must be an integer >= 0")
        if not isinstance(w.min_duration_s, (int, float)) or not 0 <= w.min_duration_s < math.inf:
            raise events.UsageError("bad_workload", "workload field 'min_duration_s' must be a number of seconds >= 0")
        _check_shared_prefix(w)
        if w.request_rate is not None and (w.request_rate <= 0 or math.isinf(w.request_rate)):
            w.request_rate = None
        return w

    def length_range(self, n: int) -> tuple[int, int]:
        """The lengths a random request's prompt (n = input_len) or output (n = output_len) is drawn from."""
        if self.dataset != "random":
            return n, n
        return max(1, int(n * (1 - self.range_ratio))), max(1, int(n * (1 + self.range_ratio)))

    def longest_sequence(self) -> int:
        """Prompt plus output tokens of the longest request the workload can make: the context a stack
        serving it needs."""
        return self.length_range(self.input_len)[1] + self.length_range(self.output_len)[1]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_shared_prefix(w: Workload) -> None:
    n = w.shared_prefix_len
    if w.dataset != "shared_prefix":
        if n is not None:
            raise events.UsageError(
                "bad_workload",
                f"workload field 'shared_prefix_len' applies to dataset 'shared_prefix' only (dataset is "
                f"'{w.dataset}'): drop it or set dataset to 'shared_prefix'",
            )
        return
    if n is None:
        raise events.UsageError(
            "bad_workload",
            "workload field 'shared_prefix_len' is required for dataset 'shared_prefix': "
            "set it to the shared system prompt's length in tokens",
        )
    if isinstance(n, bool) or not isinstance(n, int) or not 0 < n < w.input_len:
        raise events.UsageError(
            "bad_workload",
            f"workload field 'shared_prefix_len' must be an integer with 0 < shared_prefix_len < input_len "
            f"({w.input_len}), got {n!r}: lower it or raise input_len so each prompt keeps tokens of its own",
        )


@dataclass
class BenchRequest:
    prompt_token_ids: list[int]
    max_tokens: int
    prediction: list[int] | None = None  # the expected output's token ids (code_edit)
    json_schema: dict | None = None  # the schema its output must satisfy (json_schema)
    prediction_text: str | None = None  # the prediction as the text a client sends (OpenAI's `prediction`)
    stop_at_eos: bool = False  # real text ends at its end-of-sequence token; random prompts run to max_tokens


def make_requests(
    w: Workload, vocab_size: int, seed_offset: int = 0, avoid: set[int] | None = None, tokenizer=None
) -> list[BenchRequest]:
    rng = random.Random(w.seed * 1_000_003 + seed_offset)
    avoid = avoid or set()
    if w.dataset in REAL_TEXT_DATASETS and tokenizer is None:
        raise events.UsageError(
            "bad_workload",
            f"workload dataset '{w.dataset}' needs the stack's tokenizer (it is real text): run it offline, `bench --stack`",
        )
    if w.dataset == "json_schema":
        from .json_extraction import json_extraction_request

        reqs = [json_extraction_request(tokenizer, rng, w.input_len, w.output_len) for _ in range(w.num_prompts)]
        return [
            BenchRequest(prompt, max_tokens, json_schema=schema, stop_at_eos=True)
            for prompt, max_tokens, schema in reqs
        ]
    if w.dataset == "code_edit":
        from .code_edit import code_edit_request

        out = []
        for _ in range(w.num_prompts):
            prompt, max_tokens, prediction = code_edit_request(tokenizer, rng, w.input_len, w.output_len)
            text = tokenizer.decode(prediction)
            out.append(BenchRequest(prompt, max_tokens, prediction, prediction_text=text, stop_at_eos=True))
        return out
    if w.dataset == "shared_prefix":
        return _shared_prefix_requests(w, rng, vocab_size, avoid)
    reqs = []
    for _ in range(w.num_prompts):
        if w.dataset == "fixed":
            n_in, n_out = w.input_len, w.output_len
        else:
            n_in, n_out = rng.randint(*w.length_range(w.input_len)), rng.randint(*w.length_range(w.output_len))
        reqs.append(BenchRequest(_token_ids(rng, n_in, vocab_size, avoid), n_out))
    return reqs


def _shared_prefix_requests(w: Workload, rng: random.Random, vocab_size: int, avoid: set[int]) -> list[BenchRequest]:
    """One request set: a prefix drawn from the set's own seed, then each request's own tokens.
    Seeding the prefix per set, not per run, is deliberate: a set sharing an earlier set's prefix
    would find it in the prefix cache, so the warm-up would hand the timed passes a warm cache and
    pass k would hand pass k+1 one. With a prefix of its own, every pass measures what a server
    sees after a restart: the first requests compute the prefix, the later ones can reuse it."""
    assert w.shared_prefix_len is not None  # Workload.from_dict requires it for this dataset
    prefix = _token_ids(rng, w.shared_prefix_len, vocab_size, avoid)
    return [
        BenchRequest(prefix + _token_ids(rng, w.input_len - w.shared_prefix_len, vocab_size, avoid), w.output_len)
        for _ in range(w.num_prompts)
    ]


def _token_ids(rng: random.Random, n: int, vocab_size: int, avoid: set[int]) -> list[int]:
    ids = []
    while len(ids) < n:
        t = rng.randrange(vocab_size)
        if t not in avoid:
            ids.append(t)
    return ids


def arrival_offsets(w: Workload, n: int, seed_offset: int = 0) -> list[float]:
    """Seconds after the start at which each request is sent (vLLM: Poisson = exponential gaps)."""
    if w.request_rate is None:
        return [0.0] * n
    rng = random.Random(w.seed * 7919 + 17 + seed_offset)
    t, out = 0.0, []
    for _ in range(n):
        out.append(t)
        t += rng.expovariate(w.request_rate) if w.arrival == "poisson" else 1.0 / w.request_rate
    return out


# Seed offsets of the request sets: repetition r's pass k, and the token ids of the untimed sets.
_PASS_STRIDE = 100_000
_WARMUP_SEED = 10_000
_PROFILE_SEED = 20_000


def pass_seed(rep: int, k: int) -> int:
    """The seed offset of pass k of repetition `rep` (pass 0 is the repetition's own set)."""
    return rep + _PASS_STRIDE * k


# In flight during a rate-based workload's warm-up (a concurrency-bound one keeps its own).
WARMUP_IN_FLIGHT = 32


def warmup_requests(w: Workload, vocab_size: int, avoid: set[int] | None = None, tokenizer=None) -> list[BenchRequest]:
    """The warm-up set, the one rule of the bench verb and of the comparison harnesses: repetition
    0's lengths (the shapes the timed passes hit) with other token ids, so no timed pass finds its
    prompts cached (code_edit: other functions; shared_prefix: another shared prefix, so the
    timed passes' first requests still compute theirs). Not all of them: sent at the workload's
    concurrency c, 2c requests take the batch through every size up to c and back, and the pass's
    last partial wave (n mod c requests) comes after them, as it ends a timed pass."""
    reqs = _shaped_like_rep0(w, vocab_size, _WARMUP_SEED, avoid, tokenizer)
    c = w.max_concurrency or WARMUP_IN_FLIGHT
    if len(reqs) <= 2 * c:
        return reqs
    tail = len(reqs) % c
    return reqs[: 2 * c] + (reqs[-tail:] if tail else [])


def profile_requests(w: Workload, vocab_size: int, avoid: set[int] | None = None, tokenizer=None) -> list[BenchRequest]:
    """The profile pass's set (cli/profile_pass.py): repetition 0's lengths, token ids of its own."""
    return _shaped_like_rep0(w, vocab_size, _PROFILE_SEED, avoid, tokenizer)


def _shaped_like_rep0(
    w: Workload, vocab_size: int, seed_offset: int, avoid: set[int] | None, tokenizer=None
) -> list[BenchRequest]:
    if w.dataset in REAL_TEXT_DATASETS:  # real text has no "same lengths, other tokens": other texts
        return make_requests(w, vocab_size, seed_offset, avoid, tokenizer)
    if w.dataset == "shared_prefix":  # the same fixed lengths; drawn whole, its requests share a prefix of their own
        return make_requests(w, vocab_size, seed_offset, avoid)
    rng = random.Random(w.seed * 1_000_003 + seed_offset)
    return [
        BenchRequest(_token_ids(rng, len(q.prompt_token_ids), vocab_size, avoid or set()), q.max_tokens)
        for q in make_requests(w, vocab_size, pass_seed(0, 0), avoid)
    ]


def timed_pass(
    w: Workload, vocab_size: int, rep: int, k: int, avoid: set[int] | None = None, tokenizer=None
) -> list[BenchRequest]:
    """The requests of pass k of repetition `rep`."""
    return make_requests(w, vocab_size, pass_seed(rep, k), avoid, tokenizer)


def pass_payload(w: Workload, reqs: list[BenchRequest], seed_offset: int) -> dict[str, Any]:
    """A pass as the timing loop takes it (cli/timed_pass.py): requests (prompt ids, max tokens and,
    with one, the prediction's ids (else None) and, with one, the JSON schema) and their arrival times.
    Token-id datasets run every request to its max tokens (vLLM's benchmarks ignore EOS); real text
    ends where the model ends it, as a client's edit would, rather than on text generated past the
    end of the answer."""
    return {
        "stop_at_eos": w.dataset in REAL_TEXT_DATASETS,
        "requests": [_row(q) for q in reqs],
        "arrivals": arrival_offsets(w, len(reqs), seed_offset),
    }


def _row(q: BenchRequest) -> list:
    row: list = [q.prompt_token_ids, q.max_tokens]
    if q.prediction is not None or q.json_schema is not None:
        row.append(q.prediction)
    if q.json_schema is not None:
        row.append(q.json_schema)
    return row
