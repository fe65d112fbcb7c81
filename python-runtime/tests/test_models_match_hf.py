"""Our models give the same logits as Hugging Face transformers on the same config + weights (fp32)."""

import pytest
import torch

from vibeserve_runtime.engine import Engine
from vibeserve_runtime.models import load_model_weights
from vibeserve_runtime.models.hf_reference import build_hf_reference

PROMPT = [5, 17, 99, 3, 250, 41, 8, 77, 123, 6, 301]
FORCED = [12, 400, 7, 19, 33]


@pytest.mark.parametrize(
    "arch,preset",
    [("llama", "tiny-llama"), ("gpt2", "tiny-gpt2"), ("mixtral", "tiny-mixtral"), ("qwen2", "tiny-qwen2")],
)
@pytest.mark.parametrize("kv_cache", ["contiguous", "paged"])
def test_logits_match_transformers(arch, preset, kv_cache):
    model = {"arch": arch, "preset": preset, "seed": 3}
    cfg, sd, _ = load_model_weights(model)
    ref = build_hf_reference(cfg, sd)
    with torch.no_grad():
        want = ref(torch.tensor([PROMPT + FORCED])).logits[0, len(PROMPT) - 1 :].float()
    engine = Engine.from_spec(
        {
            "name": "t",
            "model": model,
            "components": {"kv_cache": kv_cache},
            "params": {"block_size": 8, "max_batch_size": 2},
        }
    )
    got = engine.teacher_forced_logits(PROMPT, FORCED)
    assert got.shape == want.shape
    assert want.std() > 0.1, "degenerate reference logits"
    torch.testing.assert_close(got, want, atol=2e-4, rtol=1e-4)


def test_llama3_rope_scaling_matches_transformers():
    scaling = {
        "rope_type": "llama3",
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 64,
    }
    model = {"arch": "llama", "preset": "tiny-llama", "seed": 1, "config": {"rope_scaling": scaling}}
    cfg, sd, _ = load_model_weights(model)
    ref = build_hf_reference(cfg, sd)
    ids = list(range(3, 200))
    with torch.no_grad():
        want = ref(torch.tensor([ids])).logits[0, -1].float()
    engine = Engine.from_spec({"name": "t", "model": model})
    got = engine.teacher_forced_logits(ids, [])[0]
    torch.testing.assert_close(got, want, atol=2e-4, rtol=1e-4)


def test_loads_hugging_face_directory(tmp_path):
    from vibeserve_runtime.models.hf_reference import save_hf_directory

    model = {"arch": "qwen2", "preset": "tiny-qwen2", "seed": 5}
    cfg, sd, _ = load_model_weights(model)
    save_hf_directory(cfg, sd, tmp_path / "m")
    from_dir = Engine.from_spec(
        {"name": "d", "model": {"arch": "qwen2", "weights": "path", "path": str(tmp_path / "m")}}
    )
    random = Engine.from_spec({"name": "r", "model": model})
    torch.testing.assert_close(
        from_dir.teacher_forced_logits(PROMPT, FORCED), random.teacher_forced_logits(PROMPT, FORCED)
    )
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_model_weights({"arch": "llama", "weights": "path", "path": str(tmp_path)})
