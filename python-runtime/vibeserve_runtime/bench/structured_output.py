"""The profile pass's structured-output figures: what each structured_output choice would do on the
pass's constrained requests (those with a JSON schema), replayed from their greedy outputs.

  structured_forced_token_share             of their output tokens, the share the grammar forced
                                             (jump_forward drafts them; token_mask spends a step on each)
  structured_tokens_per_step_<choice>        output tokens per engine step under each choice
  structured_mask_share                      the pass's host time computing token masks over its wall time

A replay drafts as the engine does (engine/verify_step.py): the first token comes from the prefill,
then each step drafts the grammar's forced tokens and keeps those the output agrees with, plus one."""

from __future__ import annotations


def replay_forced(matcher, output: list[int]) -> tuple[int, int]:
    """(steps, forced tokens kept) for one output under jump_forward, from a fresh matcher."""
    if not output:
        return 0, 0
    matcher.consume_token(output[0])  # the prefill's token
    steps, forced, pos = 1, 0, 1
    while pos < len(output) and not matcher.is_stopped():
        draft = matcher.compute_ff_tokens()
        a = 0
        while a < len(draft) and pos + a < len(output) and draft[a] == output[pos + a]:
            a += 1
        take = output[pos : pos + a + 1]
        if not matcher.consume_tokens(take):
            break  # an output its own grammar refuses: the checker's business, not the profile's
        steps, forced, pos = steps + 1, forced + a, pos + len(take)
    return steps, forced


def structured_output_figures(structured, requests: list, outputs: dict[int, list[int]], mask_s: float, wall_s: float):
    """requests: a pass's rows (bench/workload.py: the JSON schema fourth); outputs: request index ->
    its greedy output; mask_s: host seconds the pass spent on masks; wall_s: the pass's duration."""
    constrained = [(requests[i][3], out) for i, out in sorted(outputs.items()) if len(requests[i]) > 3 and out]
    if structured is None or not constrained:
        return {}
    tokens = steps = forced = 0
    for schema, out in constrained:
        s, f = replay_forced(structured.start(schema), out)
        tokens, steps, forced = tokens + len(out), steps + s, forced + f
    return {
        "structured_forced_token_share": round(forced / tokens, 4),
        "structured_tokens_per_step_token_mask": 1.0,
        "structured_tokens_per_step_jump_forward": round(tokens / steps, 4) if steps else 1.0,
        "structured_mask_share": round(mask_s / wall_s, 4) if wall_s > 0 else 0.0,
    }
