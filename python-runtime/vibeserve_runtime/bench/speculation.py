"""What speculative decoding (design_space.json `speculation`) would do on a workload, simulated on
the greedy outputs a benchmark's profile pass measured, for any stack, speculating or not.

Speculation never changes a greedy output, so replaying each proposer over the output that plain
decoding produced gives exactly the drafts a speculative stack would make and the tokens it would
accept: nothing here is an estimate but the cost of a verify step. Reported per choice c:

  speculation_tokens_per_step_<c>   output tokens per decode step of a sequence (1.0: nothing gained)
  speculation_acceptance_rate_<c>   accepted draft tokens / proposed ones

The architect reads the first as the speedup in steps the choice would bring (profiledBy in
design_space.json; lib/architect/profileMoves.ts).
"""

from __future__ import annotations

from ..components.speculation.predicted_outputs import PredictedOutputsProposer
from ..components.speculation.prompt_lookup import PromptLookupProposer
from ..types import SamplingParams

PROPOSERS = {"prompt_lookup": PromptLookupProposer, "predicted_outputs": PredictedOutputsProposer}
MAX_REQUESTS = 64  # enough for the figure; bounds the host time of the profile pass
DEFAULTS = {"num_speculative_tokens": 4, "ngram_min": 2, "ngram_max": 4}  # design_space.json's


class _Replay:
    """The sequence a proposer sees, fed the recorded output instead of the model's."""

    def __init__(self, prompt: list[int], prediction: list[int] | None):
        self.token_ids = list(prompt)
        self.num_prompt_tokens = len(prompt)
        self.params = SamplingParams(prediction=prediction)
        self.draft_state = None

    @property
    def output_token_ids(self) -> list[int]:
        return self.token_ids[self.num_prompt_tokens :]


def replay(
    proposer, prompt: list[int], output: list[int], prediction: list[int] | None, k: int
) -> tuple[int, int, int]:
    """(decode steps, draft tokens, accepted tokens) of one request as engine/verify_step.py runs it:
    the first token comes from the prefill, then each step drafts at most what max_tokens leaves."""
    seq = _Replay(prompt, prediction)
    seq.token_ids.append(output[0])
    pos, steps, drafted, accepted = 1, 0, 0, 0
    while pos < len(output):
        limit = min(k, len(output) - pos - 1)
        draft = proposer.propose(seq, limit)[:limit] if limit > 0 else []
        a = 0
        while a < len(draft) and draft[a] == output[pos + a]:
            a += 1
        seq.token_ids.extend(output[pos : pos + a + 1])
        pos += a + 1
        steps += 1
        drafted += len(draft)
        accepted += a
    return steps, drafted, accepted


def speculation_figures(requests: list, outputs: dict[int, list[int]], params: dict) -> dict:
    """requests: a pass's [[prompt ids, max tokens(, prediction ids)], ...]; outputs: request index
    -> its greedy output. params: the stack's (its speculation params, else the defaults)."""
    p = {k: params.get(k) or v for k, v in DEFAULTS.items()}
    done = [(requests[i], out) for i, out in sorted(outputs.items()) if len(out) > 1][:MAX_REQUESTS]
    figures: dict = {}
    for name, cls in PROPOSERS.items():
        proposer = cls(p["ngram_min"], p["ngram_max"])
        steps = drafted = accepted = tokens = 0
        for req, out in done:
            s, d, a = replay(proposer, req[0], out, req[2] if len(req) > 2 else None, p["num_speculative_tokens"])
            steps, drafted, accepted, tokens = steps + s, drafted + d, accepted + a, tokens + len(out) - 1
        if steps:
            figures[f"speculation_tokens_per_step_{name}"] = round(tokens / steps, 4)
            figures[f"speculation_acceptance_rate_{name}"] = round(accepted / drafted, 4) if drafted else 0.0
    return figures


def measured_figures(before: dict, after: dict) -> dict:
    """A speculating engine's own acceptance over a pass (its stats() spec_* counts before and after)."""
    if "spec_draft_tokens" not in after:
        return {}
    drafted = after["spec_draft_tokens"] - before.get("spec_draft_tokens", 0)
    if not drafted:
        return {"speculation_draft_tokens": 0}
    accepted = after["spec_accepted_tokens"] - before.get("spec_accepted_tokens", 0)
    rows = after["spec_verified_rows"] - before.get("spec_verified_rows", 0)
    return {
        "speculation_draft_tokens": drafted,
        "speculation_acceptance_rate": round(accepted / drafted, 4),
        "speculation_tokens_per_verify": round(accepted / rows + 1, 4),
    }
