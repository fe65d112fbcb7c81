"""`protected` verb: the runtime's protected entries, as the TypeScript builder reads them."""

from runtime_stacks import result_of, run_verb

from vibeserve_runtime.checker.integrity import PROTECTED


def test_protected_lists_the_integrity_checkers_entries():
    rc, evs, _ = run_verb("protected", timeout=60)
    assert rc == 0 and [e["event"] for e in evs] == ["result"]
    assert result_of(evs)["entries"] == list(PROTECTED)
    assert {"checker", "reference", "cli"} <= set(result_of(evs)["entries"])
