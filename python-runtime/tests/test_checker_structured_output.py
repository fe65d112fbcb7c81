"""The checker's structured-output rule (checker/structured_output.py): a stack that enforces the
schema passes it; one whose masks let every token through fails it, and only it (the ordinary
greedy prompts carry no schema)."""

import textwrap

from runtime_stacks import TINY_LLAMA, materialize, result_of, run_verb
from vibeserve_runtime.checker import structured_output

UNMASKED = """
from vibeserve_runtime.components.structured_output.token_mask import TokenMaskDecoding
from vibeserve_runtime.engine import register_component


class Unmasked(TokenMaskDecoding):   # follows the grammar's state, never restricts the logits
    def mask(self, logits, sampled, drafts=None):
        return logits

    def advance(self, seq, token):
        return True


register_component("structured_output", "custom_unmasked", Unmasked)
"""


def _check(stack):
    rc, evs, err = run_verb("check", "--stack", str(stack), "--new-tokens", "10", timeout=600)
    return rc, result_of(evs), err


def test_a_stack_that_enforces_the_schema_passes(tmp_path):
    spec = {**TINY_LLAMA, "components": {**TINY_LLAMA["components"], "structured_output": "jump_forward"}}
    rc, res, err = _check(materialize(tmp_path, spec))
    assert rc == 0 and res["passed"], (res, err[-2000:])
    rule = next(c for c in res["checks"] if c["name"] == "structured_output")
    assert rule["passed"] and rule["value"] == 0


def test_a_stack_that_does_not_mask_fails_only_the_structured_output_rule(tmp_path):
    spec = {
        **TINY_LLAMA,
        "name": "llama-unmasked",
        "components": {**TINY_LLAMA["components"], "structured_output": "custom_unmasked"},
        "custom_components": {"custom_unmasked": {"dimension": "structured_output", "module": "custom_unmasked.py"}},
    }
    stack = materialize(tmp_path, spec)
    (stack / "custom_unmasked.py").write_text(textwrap.dedent(UNMASKED))
    rc, res, _ = _check(stack)
    failed = {c["name"] for c in res["checks"] if not c["passed"]}
    assert rc == 2 and failed == {"structured_output"}, res["checks"]
    assert "not JSON" in next(c for c in res["checks"] if c["name"] == "structured_output")["detail"]


def test_an_output_without_its_sentinel_or_off_schema_is_named():
    case = {"sentinel": "R00042", "schema": structured_output.schema_for("R00042")}
    good = '{"id": "R00042", "ok": true, "level": "low", "count": 7}'
    assert structured_output.violations(case, good) == []
    assert any("fails its schema" in v for v in structured_output.violations(case, good.replace("low", "max")))
    other = {"sentinel": "R00043", "schema": structured_output.schema_for("R00043")}
    assert any("lacks its sentinel R00043" in v for v in structured_output.violations(other, good))


def test_a_context_too_short_for_a_json_request_is_recorded_not_run_and_a_long_one_runs_the_rule():
    from vibeserve_runtime.tokenizers import ByteTokenizer

    cases = structured_output.build_cases(ByteTokenizer(), seed=0)
    need = max(len(c["prompt"]) for c in cases) + structured_output.MAX_TOKENS
    short = structured_output.context_too_short(cases, {"params": {"max_model_len": need - 1}})
    assert short and "not run" in short and str(need) in short
    assert structured_output.context_too_short(cases, {"params": {"max_model_len": need}}) is None
    assert structured_output.context_too_short(cases, {"params": {"max_model_len": None}}) is None
    assert structured_output.not_run(short)["passed"] is True


def test_greedy_outputs_that_differ_alone_and_batched_but_stay_valid_pass_with_a_note():
    """Quantized kernels pick tiles by batch size and may flip a near tie: batch_invariance judges that
    (with its near-tie allowance); this rule judges the JSON, and a grammar crossing requests still fails."""
    from vibeserve_runtime.tokenizers import ByteTokenizer

    tok = ByteTokenizer()
    cases = structured_output.build_cases(tok, seed=0)

    def out(case, level="low"):
        return tok.encode(f'{{"id": "{case["sentinel"]}", "ok": true, "level": "{level}", "count": 7}}')

    alone = [out(c) for c in cases]
    batch = [out(cases[0], "high")] + alone[1:]
    res = structured_output.valid_json(cases, {"alone": alone, "batch": batch, "sampled": alone}, tok)
    assert res["passed"], res
    assert "greedy #0: batched differs from alone at token" in res["detail"]
    crossed = [out(cases[1])] + alone[1:]  # request 0 got request 1's grammar
    res = structured_output.valid_json(cases, {"alone": alone, "batch": crossed, "sampled": alone}, tok)
    assert not res["passed"] and f"lacks its sentinel {cases[0]['sentinel']}" in res["detail"]
