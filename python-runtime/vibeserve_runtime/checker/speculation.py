"""The lossless rule for speculative stacks (design_space.json `speculation`): drafts may change how
fast tokens come, never which. A stack that speculates must give the reference's greedy tokens for
requests built to tempt a wrong verify step:

  exact          the prediction is the reference output (every draft right)
  wrong          every predicted token wrong
  empty          an empty prediction
  edited         right, a few wrong tokens in the middle, right again (the cursor must find its way back)
  too_long       the reference output twice over: drafts never go past max_tokens
  stop_drafted   a stop token inside the prediction that the model does not produce: it must not end the request
  stop_reached   a stop token the model does produce, with the prediction running past it: nothing after it
  lookup_right   a prompt holding the prompt and its reference continuation, then the prompt again
                 (prompt lookup drafts that continuation)
  lookup_wrong   the same with a wrong continuation (prompt lookup drafts garbage)

Each runs alone and all of them in one batch (ragged acceptance across rows). Tokens are judged
as the greedy check judges them (checks.tokens_agree): equal, except after a near tie of the
reference or where the stack's own tolerated logit error explains a flip.
"""

from __future__ import annotations

import random

from . import checks

BASE_PROMPTS = 2  # check prompts the cases are built from


def applies(spec: dict) -> bool:
    return spec["components"].get("speculation", "none") != "none"


def _wrong(tokens: list[int], vocab: int, rng: random.Random) -> list[int]:
    """As many tokens, each different from the one at its place."""
    return [(t + rng.randrange(1, vocab - 3)) % (vocab - 3) + 3 for t in tokens]


def build_cases(ref, prompts, ref_tokens, ref_rows, n: int, max_len: int, seed: int) -> list[dict]:
    """The cases, each {"name", "request": what the stack is sent, "want": tokens, "rows": reference
    rows along them, "base": the check prompt it comes from (its tolerated errors apply) or None}."""
    rng = random.Random(seed * 7 + 3)
    vocab = ref.vocab_size
    cases = []

    def add(name, prompt, want, rows, base, prediction=(), stop=(), max_tokens=n):
        cases.append(
            {
                "name": name,
                "base": base,
                "want": list(want),
                "rows": rows,
                "request": {
                    "prompt": list(prompt),
                    "max_tokens": max_tokens,
                    "prediction": list(prediction),
                    "stop_token_ids": list(stop),
                },
            }
        )

    for b in range(min(BASE_PROMPTS, len(prompts))):
        p, want, rows = prompts[b], list(ref_tokens[b]), ref_rows[b]
        wrong = _wrong(want, vocab, rng)
        third = n // 3
        add("exact", p, want, rows, b, want)
        add("wrong", p, want, rows, b, wrong)
        add("empty", p, want, rows, b, [])
        add("edited", p, want, rows, b, want[:third] + wrong[third : third + 3] + want[third + 3 :])
        add("too_long", p, want, rows, b, want + want)
        absent = next(t for t in range(3, vocab) if t not in want)
        add("stop_drafted", p, want, rows, b, want[: n // 2] + [absent] + want[n // 2 :], stop=[absent])
        stop = want[n // 2]
        add("stop_reached", p, want[: want.index(stop) + 1], rows, b, want + wrong, stop=[stop])
        # prompt lookup: the prompt, a continuation, the prompt again (the reference runs these too)
        head = p[: max(1, (max_len - 2 * n - 8) // 2)]
        for name, middle in (("lookup_right", want), ("lookup_wrong", wrong)):
            q = head + middle + head
            if len(q) + n <= max_len:
                q_want, q_rows = ref.greedy(q, n)
                add(name, q, q_want, q_rows, None)
    return cases


def requests(cases: list[dict]) -> list[dict]:
    """What the candidate is sent: the requests, not the answers."""
    return [c["request"] for c in cases]


def lossless(cases: list[dict], obs: dict, margin_threshold: float, tolerated: list | None) -> dict:
    """One check over every case, alone and batched. `obs`: {"alone": [tokens], "batch": [tokens],
    "stats": the engine's spec_* counts}; `tolerated`: per check prompt, the stack's own row errors."""
    got = [list(map(int, t)) for t in obs["alone"]] + [list(map(int, t)) for t in obs["batch"]]
    both = cases + cases
    errors = None
    if tolerated is not None:
        # rows past a stop are never compared (tokens_agree looks at the first mismatch only)
        errors = [
            tolerated[c["base"]] if c["base"] is not None else c["rows"].new_zeros(len(c["want"]) + 1) for c in both
        ]
    names = [f"{c['name']}#{c['base'] if c['base'] is not None else 'q'}" for c in cases]
    stats = obs.get("stats") or {}
    drafted = f"{stats.get('spec_accepted_tokens', '?')} of {stats.get('spec_draft_tokens', '?')} draft tokens accepted"
    result = checks.tokens_agree(
        "speculation_lossless",
        got,
        [c["want"] for c in both],
        [c["rows"] for c in both],
        margin_threshold,
        f"speculative stack vs reference greedy on adversarial drafts ({', '.join(names)}), alone then batched; "
        f"{drafted}",
        errors,
    )
    return {**result, "cases": len(cases)}
