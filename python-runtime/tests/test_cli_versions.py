"""`versions` verb: installed distribution versions for the export's pinned requirements.txt."""

import importlib.metadata as md

from runtime_stacks import error_of, result_of, run_verb


def test_versions_reports_installed_and_missing_distributions():
    rc, evs, _ = run_verb("versions", "numpy", "no-such-distribution-xyz", timeout=60)
    assert rc == 0
    assert result_of(evs)["versions"] == {"numpy": md.version("numpy"), "no-such-distribution-xyz": None}
    rc, evs, _ = run_verb("versions", timeout=60)
    assert rc == 0 and result_of(evs)["versions"] == {}


def test_versions_refuses_an_unknown_option_as_a_usage_error():
    rc, evs, _ = run_verb("versions", "--bogus", timeout=60)
    assert rc == 3 and error_of(evs)["reason"] == "bad_arguments"
