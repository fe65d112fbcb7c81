"""torch.compile execution gives the eager engine's tokens (CPU inductor; about a minute to compile)."""

from vibeserve_runtime.engine import Engine
from vibeserve_runtime.types import SamplingParams

BASE = {"name": "t", "model": {"arch": "llama", "preset": "tiny-llama"}, "device": "cpu"}


def with_(components=None, params=None):
    return {**BASE, "components": components or {}, "params": params or {}}


def test_torch_compile_execution_matches_eager():
    prompts = [[5, 6, 7, 8, 9], [20, 21]]
    p = SamplingParams(max_tokens=5, ignore_eos=True)
    eager = Engine.from_spec(with_({"kv_cache": "paged"}, {"max_batch_size": 4}))
    compiled = Engine.from_spec(with_({"kv_cache": "paged", "execution": "torch_compile"}, {"max_batch_size": 4}))
    assert compiled.generate(prompts, p) == eager.generate(prompts, p)
