"""The checker's lossless rule for speculative stacks (checker/speculation.py): both library choices
pass it; a verify step that trusts its drafts instead of the model fails it (and only the rule
built for it notices: its ordinary greedy prompts carry no prediction)."""

import json
import random
import textwrap

import pytest
import torch

from runtime_stacks import TINY_LLAMA, materialize, result_of, run_verb
from vibeserve_runtime.checker import speculation

TRUSTING = """
from vibeserve_runtime.components.speculation.predicted_outputs import PredictedOutputsProposer
from vibeserve_runtime.engine import engine as _engine, register_component


def trusting_accept(targets, sampled, drafts):   # keeps every draft token: the prediction's, not the model's
    out, i = [], 0
    for seq in sampled:
        draft = list(drafts.get(seq, ()))
        out.append(draft + [targets[i + len(draft)]])
        i += len(draft) + 1
    return out


_engine.accept = trusting_accept
register_component("speculation", "custom_trusting",
                   lambda p: PredictedOutputsProposer(p["ngram_min"], p["ngram_max"]))
"""


def _check(stack):
    rc, evs, err = run_verb("check", "--stack", str(stack), "--new-tokens", "12", timeout=600)
    return rc, result_of(evs), err


@pytest.mark.parametrize("kind", ["prompt_lookup", "predicted_outputs"])
def test_a_speculative_stack_passes_the_lossless_rule(tmp_path, kind):
    spec = {
        **TINY_LLAMA,
        "name": f"llama-{kind}",
        "components": {**TINY_LLAMA["components"], "speculation": kind},
        "params": {**TINY_LLAMA["params"], "num_speculative_tokens": 4},
    }
    rc, res, err = _check(materialize(tmp_path, spec))
    assert rc == 0 and res["passed"], (res, err[-2000:])
    lossless = next(c for c in res["checks"] if c["name"] == "speculation_lossless")
    assert lossless["passed"] and lossless["cases"] >= 14
    assert res["engine_stats"]["components"]["speculation"] == kind


def test_a_verify_step_that_trusts_its_drafts_fails(tmp_path):
    spec = {
        **TINY_LLAMA,
        "name": "llama-trusting",
        "components": {**TINY_LLAMA["components"], "speculation": "custom_trusting"},
        "custom_components": {"custom_trusting": {"dimension": "speculation", "module": "custom_trusting.py"}},
    }
    stack = materialize(tmp_path, spec)
    (stack / "custom_trusting.py").write_text(textwrap.dedent(TRUSTING))
    rc, res, _ = _check(stack)
    failed = {c["name"] for c in res["checks"] if not c["passed"]}
    assert rc == 2 and failed == {"speculation_lossless"}, res["checks"]
    detail = next(c for c in res["checks"] if c["name"] == "speculation_lossless")["detail"]
    assert "wrong#0" in detail and "differs at token" in detail


class _Ref:
    vocab_size = 50

    def greedy(self, prompt, n):
        return [(t * 7) % 50 for t in range(n)], torch.zeros(n + 1, 50)


def test_cases_cover_the_adversarial_predictions_and_never_send_the_answers():
    rng = random.Random(0)
    prompts = [[rng.randrange(3, 50) for _ in range(k)] for k in (5, 9, 7)]
    ref_tokens = [[rng.randrange(3, 50) for _ in range(12)] for _ in prompts]
    rows = [torch.zeros(13, 50) for _ in prompts]
    cases = speculation.build_cases(_Ref(), prompts, ref_tokens, rows, 12, 256, 0)
    names = {c["name"] for c in cases}
    assert names == {
        "exact",
        "wrong",
        "empty",
        "edited",
        "too_long",
        "stop_drafted",
        "stop_reached",
        "lookup_right",
        "lookup_wrong",
    }
    by = {(c["name"], c["base"]): c for c in cases}
    want = ref_tokens[0]
    assert (
        by["too_long", 0]["request"]["prediction"] == want + want and by["too_long", 0]["request"]["max_tokens"] == 12
    )
    assert all(p != w for p, w in zip(by["wrong", 0]["request"]["prediction"], want))
    stop = by["stop_drafted", 0]["request"]["stop_token_ids"][0]
    assert stop in by["stop_drafted", 0]["request"]["prediction"] and stop not in want
    reached = by["stop_reached", 0]
    assert reached["want"][-1] == reached["request"]["stop_token_ids"][0] and len(reached["want"]) <= 7
    assert all(set(r) == {"prompt", "max_tokens", "prediction", "stop_token_ids"} for r in speculation.requests(cases))
    assert json.dumps(speculation.requests(cases))  # plain data for the candidate
