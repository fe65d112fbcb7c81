"""`check --reference-cache`: the reference's outputs are computed once per model, weights, settings
and precision, then reused; any changed input misses, a tampered entry is recomputed, a warm cache
never lets a broken stack pass, and the candidate's process is never told where the cache is."""

import json
import os
import stat

import pytest
from test_checker_catches_broken import (
    CORRECT_KV,
    KV_OFF_BY_ONE,
    ROPE_WRONG_OFFSET,
    _failed_checks,
    _stack_with,
    llama_spec,
)

from runtime_stacks import TINY_LLAMA, error_of, materialize, result_of, run_verb
from vibeserve_runtime.checker import reference_cache

SETTINGS = {"num_prompts": 3, "new_tokens": 12, "seed": 0}


def _check(stack, cache, *extra):
    return run_verb("check", "--stack", str(stack), "--reference-cache", str(cache), *extra, timeout=400)


def _key(spec=TINY_LLAMA, settings=SETTINGS, calibrated=True, device="cpu"):
    return reference_cache.cache_key(reference_cache.key_inputs(spec, device, settings, calibrated, False))


def test_second_check_reuses_the_entry_with_the_same_verdict(tmp_path):
    stack, cache = materialize(tmp_path), tmp_path / "cache"
    rc1, evs1, err1 = _check(stack, cache)
    rc2, evs2, err2 = _check(stack, cache)
    cold, warm = result_of(evs1), result_of(evs2)
    assert rc1 == rc2 == 0, (err1[-1500:], err2[-1500:])
    assert cold["reference_cache"]["outcome"] == "computed" and cold["reference_cache"]["miss"] == "absent"
    assert (
        warm["reference_cache"]["outcome"] == "reused"
        and warm["reference_cache"]["key"] == cold["reference_cache"]["key"]
    )
    assert "reference_build" in cold["timings_s"] and "reference_build" not in warm["timings_s"]
    assert not warm["reference_cache"]["model_built_for_compare"]  # the stack's tokens were the reference's
    assert [(c["name"], c["passed"], c["value"]) for c in cold["checks"]] == [
        (c["name"], c["passed"], c["value"]) for c in warm["checks"]
    ]
    assert warm["reference"] == cold["reference"] and warm["prompt_lens"] == cold["prompt_lens"]
    [entry] = list(cache.glob("*.ref"))
    assert stat.S_IMODE(entry.stat().st_mode) == 0o400 and stat.S_IMODE(cache.stat().st_mode) == 0o700
    # a changed seed is another entry
    rc3, evs3, _ = _check(stack, cache, "--seed", "1")
    assert rc3 == 0 and result_of(evs3)["reference_cache"]["outcome"] == "computed"
    assert len(list(cache.glob("*.ref"))) == 2


@pytest.mark.parametrize(
    "change",
    [
        "seed",
        "num_prompts",
        "new_tokens",
        "dtype",
        "quantizer",
        "moe_loop",
        "tolerance",
        "device",
        "max_model_len",
        "preset_seed",
    ],
)
def test_any_changed_input_misses(change):
    base = {**TINY_LLAMA, "model": {**TINY_LLAMA["model"], "dtype": "bfloat16"}}
    spec, settings, calibrated, device = base, SETTINGS, True, "cpu"
    if change in SETTINGS:
        settings = {**SETTINGS, change: SETTINGS[change] + 1}
    elif change == "dtype":
        spec = {**base, "model": {**base["model"], "dtype": "float32"}}
    elif change == "quantizer":
        spec = {**base, "components": {**base["components"], "linear": "int8_weight_only"}}
    elif change == "moe_loop":
        spec = {**base, "components": {**base["components"], "moe": "loop"}}
    elif change == "tolerance":
        calibrated = False
    elif change == "device":
        device = "cuda"
    elif change == "max_model_len":
        spec = {**base, "params": {**base["params"], "max_model_len": 128}}
    elif change == "preset_seed":
        spec = {**base, "model": {**base["model"], "seed": 1}}
    assert _key(spec, settings, calibrated, device) != _key(base)
    assert _key(base) == _key({**base})  # and the same inputs hit


def test_changed_weights_path_or_file_misses(tmp_path):
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "model.safetensors").write_bytes(b"x" * 10)
    spec = lambda d: {**TINY_LLAMA, "model": {"arch": "llama", "weights": "path", "path": str(tmp_path / d)}}
    first = _key(spec("a"))
    assert first != _key(spec("b"))
    (tmp_path / "a" / "model.safetensors").write_bytes(b"y" * 11)  # rewritten weights
    assert first != _key(spec("a"))


def test_tampered_or_mismatched_entry_is_recomputed(tmp_path):
    stack, cache = materialize(tmp_path), tmp_path / "cache"
    assert _check(stack, cache)[0] == 0
    [entry] = list(cache.glob("*.ref"))
    key = entry.stem
    raw = entry.read_bytes()
    os.chmod(entry, 0o600)
    entry.write_bytes(raw[:-40] + bytes(b ^ 0xFF for b in raw[-40:]))  # flipped bytes in the payload
    assert reference_cache.load(cache, key) == (None, "content hash mismatch")
    rc, evs, err = _check(stack, cache)
    note = result_of(evs)["reference_cache"]
    assert rc == 0 and note["outcome"] == "computed" and note["miss"] == "content hash mismatch", err[-1500:]
    assert reference_cache.load(cache, key)[1] == "hit"  # rewritten whole
    # a well-formed entry of other inputs, put under this key, is not trusted either
    os.chmod(entry, 0o600)
    other = reference_cache.store(tmp_path / "other", "0" * 64, {}, {"prompts": [], "tokens": [], "fillers": []})
    entry.write_bytes(other.read_bytes())
    assert reference_cache.load(cache, key) == (None, "mismatched key or format")
    assert reference_cache.load_probe_inputs(cache, key) is None


def test_stack_starts_from_the_header_and_rows_must_match_it(tmp_path):
    """A cached check starts the stack from the entry's header before it reads the rows; a header
    whose prompts are not the rows' own is caught once the rows are read, and the entry recomputed."""
    stack, cache = materialize(tmp_path), tmp_path / "cache"
    assert _check(stack, cache)[0] == 0
    [entry] = list(cache.glob("*.ref"))
    key = entry.stem
    sent = reference_cache.load_probe_inputs(cache, key)
    payload, _ = reference_cache.load(cache, key)
    assert sent == reference_cache.probe_inputs(payload) and sent["prompts"] and sent["forced"]
    rc, evs, err = _check(stack, cache)
    assert rc == 0 and result_of(evs)["reference_cache"]["outcome"] == "reused", err[-1500:]
    head, body = entry.read_bytes().split(b"\n", 1)
    header = json.loads(head)
    header["probe"]["prompts"][0] = [5] + header["probe"]["prompts"][0][1:]
    os.chmod(entry, 0o600)
    entry.write_bytes(json.dumps(header).encode() + b"\n" + body)
    rc, evs, err = _check(stack, cache)
    note = result_of(evs)["reference_cache"]
    assert rc == 0 and note["outcome"] == "computed" and note["miss"] == "header and rows differ", err[-1500:]
    assert reference_cache.load_probe_inputs(cache, key) == sent  # rewritten whole


@pytest.mark.parametrize(
    "src,name,dim,choose",
    [
        (KV_OFF_BY_ONE, "custom_kv_off_by_one", "kv_cache", {"kv_cache": "custom_kv_off_by_one"}),
        (ROPE_WRONG_OFFSET, "custom_rope_wrong_offset", "rope", {}),
    ],
    ids=["kv-cache-off-by-one", "rope-wrong-offset"],
)
def test_broken_component_still_fails_with_a_warm_cache(tmp_path, src, name, dim, choose):
    cache = tmp_path / "cache"
    good = _stack_with(
        tmp_path / "good",
        CORRECT_KV,
        "custom_kv_correct",
        "kv_cache",
        {"kv_cache": "custom_kv_correct"},
        llama_spec("tiny"),
    )
    rc, evs, err = _check(good, cache)
    assert rc == 0 and result_of(evs)["reference_cache"]["outcome"] == "computed", err[-1500:]
    bad = _stack_with(tmp_path / "bad", src, name, dim, choose, llama_spec("tiny"))
    rc, evs, err = _check(bad, cache)
    assert result_of(evs)["reference_cache"]["outcome"] == "reused"
    e = error_of(evs)
    assert rc == 2 and e["kind"] == "candidate" and e["reason"] == "wrong_output", (evs[-2:], err[-1500:])
    assert "logits" in _failed_checks(evs)


SPY = (
    CORRECT_KV
    + """
import json as _json, os as _os, sys as _sys
_inp = _sys.argv[_sys.argv.index("--input") + 1]
_fds = {}
for _fd in _os.listdir("/proc/self/fd"):
    try:
        _fds[_fd] = _os.readlink(f"/proc/self/fd/{_fd}")
    except OSError:
        pass
with open(_os.path.join(_os.path.dirname(__file__), "seen.json"), "w") as _f:
    _json.dump({"argv": _sys.argv, "env": dict(_os.environ), "input": open(_inp).read(), "fds": _fds}, _f)
"""
)


def test_the_candidate_process_is_never_told_where_the_cache_is(tmp_path):
    cache = tmp_path / "refcache"
    stack = _stack_with(
        tmp_path, SPY, "custom_kv_correct", "kv_cache", {"kv_cache": "custom_kv_correct"}, llama_spec("tiny")
    )
    for _ in range(2):  # cold (the checker writes the entry) and warm (it reads it)
        rc, evs, err = _check(stack, cache)
        assert rc == 0, err[-1500:]
        seen = json.loads((stack / "seen.json").read_text())
        assert "_candidate" in seen["argv"]  # the spy ran in the candidate process
        assert str(cache) not in json.dumps(seen), "the candidate got the cache's path"
        assert "refcache" not in json.dumps(seen)
    [entry] = list(cache.glob("*.ref"))
    # owner-read-only file in an owner-only directory: nothing writes it in place, and a sandboxed
    # user (another uid) can neither read nor list it
    assert not entry.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert not cache.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO)


def test_a_cache_inside_the_stack_directory_is_refused(tmp_path):
    stack = materialize(tmp_path)
    rc, evs, _ = _check(stack, stack / "cache")
    assert rc != 0 and error_of(evs)["reason"] == "bad_arguments"
