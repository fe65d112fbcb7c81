"""The peer-engine tools in bench/peers: a written checkpoint is exactly the runtime's seeded random model and
loads in transformers, and transformers' continuous batching server answers OpenAI requests like `generate`."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench" / "peers"))

from write_checkpoint import STAMP, checkpoint_model_spec, main as write_checkpoint_cli, write_checkpoint  # noqa: E402

from runtime_stacks import stop_process  # noqa: E402
from vibeserve_runtime.engine import Engine  # noqa: E402
from vibeserve_runtime.models import load_model_weights  # noqa: E402

PROMPT = [5, 17, 99, 3, 250, 41, 8, 77]
FORCED = [12, 400, 7, 19]


@pytest.mark.parametrize("arch,preset,tied", [("llama", "tiny-llama", False), ("gpt2", "tiny-gpt2", True)])
def test_checkpoint_is_the_seeded_random_model(tmp_path, arch, preset, tied):
    import transformers
    from safetensors import safe_open

    spec = {"arch": arch, "preset": preset, "seed": 11, "dtype": "float32"}
    out = write_checkpoint(spec, tmp_path / preset)
    from_dir = checkpoint_model_spec(spec, out)

    _, want_sd, _ = load_model_weights(spec)
    cfg, got_sd, meta = load_model_weights(from_dir)
    assert sorted(got_sd) == sorted(want_sd)
    assert all(torch.equal(got_sd[k], want_sd[k]) for k in want_sd), "tensors differ from weights: random"
    assert meta["tokenizer_dir"] == str(out)
    with safe_open(str(out / "model.safetensors"), "pt") as f:
        assert ("lm_head.weight" in f.keys()) is not tied
    assert cfg["tie_word_embeddings"] is tied and cfg["torch_dtype"] == "float32"

    # the same tensors give the same logits; safetensors hands out tensors at other memory alignments, which
    # may change the CPU kernels' summation order in the last bit
    random_engine = Engine.from_spec({"name": "random", "model": spec})
    path_engine = Engine.from_spec({"name": "path", "model": from_dir})
    ours = path_engine.teacher_forced_logits(PROMPT, FORCED)
    torch.testing.assert_close(ours, random_engine.teacher_forced_logits(PROMPT, FORCED), atol=1e-5, rtol=0)

    hf = transformers.AutoModelForCausalLM.from_pretrained(out).eval()
    assert type(hf).__name__ == cfg["architectures"][0]
    assert (hf.get_output_embeddings().weight.data_ptr() == hf.get_input_embeddings().weight.data_ptr()) is tied
    with torch.no_grad():
        theirs = hf(torch.tensor([PROMPT + FORCED])).logits[0, len(PROMPT) - 1 :]
    assert theirs.std() > 0.1, "degenerate logits"
    torch.testing.assert_close(ours, theirs, atol=2e-4, rtol=1e-4)

    tok = transformers.AutoTokenizer.from_pretrained(out)
    vocab = cfg["vocab_size"]
    assert len(tok) == vocab and tok.eos_token_id == cfg["eos_token_id"] and tok.bos_token_id == cfg["bos_token_id"]
    assert tok.decode(list(range(vocab))).split() == [f"<t{i}>" for i in range(vocab)]
    assert [tok.decode([i]) for i in (0, vocab - 1)] == ["<t0>", f"<t{vocab - 1}>"]
    assert tok.encode(" ".join(f"<t{i}>" for i in PROMPT)) == PROMPT


def test_checkpoint_is_written_once_from_a_scenario(tmp_path, capsys):
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(
        "name: s\nmodel:\n  arch: mixtral\n  preset: tiny-mixtral\n  config: {num_hidden_layers: 1}\n"
        "  weights: random\n  seed: 4\n  dtype: bfloat16\n"
    )
    out = tmp_path / "ckpt"
    assert write_checkpoint_cli(["--stack-spec-or-scenario", str(scenario), "--out", str(out)]) == 0
    event = json.loads(capsys.readouterr().out)
    assert event["model"] == {"arch": "mixtral", "weights": "path", "path": str(out), "dtype": "bfloat16"}
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["MixtralForCausalLM"] and config["num_hidden_layers"] == 1
    assert config["torch_dtype"] == "bfloat16"

    written = (out / "model.safetensors").stat().st_mtime_ns
    write_checkpoint(
        {
            "arch": "mixtral",
            "preset": "tiny-mixtral",
            "config": {"num_hidden_layers": 1},
            "seed": 4,
            "dtype": "bfloat16",
        },
        out,
    )
    assert (out / "model.safetensors").stat().st_mtime_ns == written, "an identical spec rewrote the checkpoint"
    write_checkpoint(
        {
            "arch": "mixtral",
            "preset": "tiny-mixtral",
            "config": {"num_hidden_layers": 1},
            "seed": 5,
            "dtype": "bfloat16",
        },
        out,
    )
    assert json.loads((out / STAMP).read_text())["seed"] == 5

    _, got, _ = load_model_weights(checkpoint_model_spec({"arch": "mixtral", "dtype": "bfloat16"}, out))
    _, want, _ = load_model_weights(
        {
            "arch": "mixtral",
            "preset": "tiny-mixtral",
            "config": {"num_hidden_layers": 1},
            "seed": 5,
            "dtype": "bfloat16",
        }
    )
    assert all(got[k].dtype == torch.bfloat16 and torch.equal(got[k], want[k]) for k in want)
    with pytest.raises(ValueError, match="only seeded random weights"):
        write_checkpoint({"arch": "llama", "weights": "path", "path": str(out)}, tmp_path / "again")


def _greedy(model_dir: Path, prompt: list[int], n: int) -> list[int]:
    import transformers

    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir).eval()
    ids = torch.tensor([prompt])
    # no EOS rather than min_new_tokens: the latter masks the EOS logit, which would change the argmax
    out = model.generate(
        ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, do_sample=False, eos_token_id=None, pad_token_id=0
    )
    assert out.shape[1] == len(prompt) + n
    return out[0, len(prompt) :].tolist()


class CBServer:
    """bench/peers/transformers_cb_server.py as a real process on the CPU; the URL comes from its ready line."""

    def __init__(self, model_dir: Path, log: Path):
        self.log = log
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(REPO / "bench" / "peers" / "transformers_cb_server.py"),
                "--model",
                str(model_dir),
                "--port",
                "0",
                "--device",
                "cpu",
                "--dtype",
                "float32",
                "--block-size",
                "32",
                "--num-blocks",
                "64",
                "--max-batch-tokens",
                "256",
            ],
            stdout=subprocess.PIPE,
            stderr=log.open("w"),
            text=True,
        )
        line = self.proc.stdout.readline()
        if not line.startswith("{"):
            self.close()
            raise RuntimeError(f"the server did not start: {log.read_text()[-2000:]}")
        self.ready = json.loads(line)
        self.url = self.ready["url"]

    def close(self):
        stop_process(self.proc)


@pytest.fixture(scope="module")
def cb_checkpoint(tmp_path_factory):
    """A tiny Llama whose EOS token is one that greedy decoding reaches, so stopping at EOS is observable."""
    pytest.importorskip("aiohttp", reason="the server is written with aiohttp")
    pytest.importorskip("psutil", reason="transformers' continuous batching sizes its cache with psutil on a CPU")
    spec = {"arch": "llama", "preset": "tiny-llama", "seed": 3, "dtype": "float32"}
    root = tmp_path_factory.mktemp("cb")
    greedy = _greedy(write_checkpoint(spec, root / "probe"), PROMPT, 12)
    stop_at = next(k for k in range(2, 12) if greedy[k] not in greedy[:k])
    model_dir = write_checkpoint({**spec, "config": {"eos_token_id": greedy[stop_at]}}, root / "model")
    return model_dir, greedy, stop_at


@pytest.fixture(scope="module")
def cb_server(cb_checkpoint, tmp_path_factory):
    server = CBServer(cb_checkpoint[0], tmp_path_factory.mktemp("cb-log") / "server.log")
    yield server
    server.close()


def test_cb_server_streams_exactly_max_tokens_with_ignore_eos(cb_checkpoint, cb_server):
    openai = pytest.importorskip("openai")
    _, greedy, stop_at = cb_checkpoint
    client = openai.OpenAI(base_url=cb_server.url + "/v1", api_key="unused")
    assert client.models.list().data[0].id == "model"
    engine = cb_server.ready["engine"]
    assert engine["attn_implementation"].startswith("paged|") and engine["num_blocks"] == 64

    def stream(ignore_eos: bool):
        chunks = list(
            client.completions.create(
                model="model",
                prompt=PROMPT,
                max_tokens=12,
                temperature=0,
                stream=True,
                stream_options={"include_usage": True},
                extra_body={"ignore_eos": ignore_eos, "return_token_ids": True},
            )
        )
        content = [c for c in chunks if c.choices]
        tokens = [t for c in content for t in c.choices[0].token_ids]
        assert chunks[-1].choices == [] and chunks[-1].usage.prompt_tokens == len(PROMPT)
        return tokens, chunks[-1].usage.completion_tokens, content[-1].choices[0].finish_reason, content

    tokens, used, finish, content = stream(ignore_eos=True)
    assert used == 12 and tokens == greedy and finish == "length"
    assert len(content) > 1, "the completion was not streamed"
    # text skips the special tokens (unknown, BOS, EOS), as vLLM's does by default
    special = {0, 1, greedy[stop_at]}
    assert "".join(c.choices[0].text for c in content).split() == [f"<t{t}>" for t in greedy if t not in special]

    tokens, used, finish, _ = stream(ignore_eos=False)
    assert tokens == greedy[: stop_at + 1] and used == stop_at + 1 and finish == "stop"


def test_cb_server_greedy_matches_generate_under_concurrency(cb_checkpoint, cb_server):
    openai = pytest.importorskip("openai")
    model_dir, _, _ = cb_checkpoint
    client = openai.OpenAI(base_url=cb_server.url + "/v1", api_key="unused")
    prompts = [PROMPT, [7, 300, 22], list(range(40, 90)), [511, 2, 9, 13, 400, 6]]
    want = [_greedy(model_dir, p, 10) for p in prompts]
    got: list = [None] * len(prompts)

    def ask(i: int):
        r = client.completions.create(
            model="model",
            prompt=prompts[i],
            max_tokens=10,
            temperature=0,
            extra_body={"ignore_eos": True, "return_token_ids": True},
        )
        got[i] = (r.choices[0].token_ids, r.usage.completion_tokens)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(prompts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert got == [(w, 10) for w in want]

    from_text = client.completions.create(
        model="model",
        prompt=" ".join(f"<t{t}>" for t in PROMPT),
        max_tokens=3,
        temperature=0,
        extra_body={"ignore_eos": True, "return_token_ids": True},
    )
    assert from_text.usage.prompt_tokens == len(PROMPT) and from_text.choices[0].token_ids == want[0][:3]
    with pytest.raises(openai.BadRequestError, match="greedily"):
        client.completions.create(model="model", prompt=PROMPT, max_tokens=3, temperature=0.8)
    with pytest.raises(openai.BadRequestError, match="positions"):
        client.completions.create(model="model", prompt=PROMPT, max_tokens=100_000)
    # a constraint it cannot enforce is refused; a prediction (a hint only) is accepted
    schema = {"type": "json_schema", "json_schema": {"name": "r", "schema": {"type": "object"}}}
    with pytest.raises(openai.BadRequestError, match="response_format"):
        client.completions.create(
            model="model", prompt=PROMPT, max_tokens=3, temperature=0, extra_body={"response_format": schema}
        )
    hinted = client.completions.create(
        model="model",
        prompt=PROMPT,
        max_tokens=3,
        temperature=0,
        extra_body={"ignore_eos": True, "return_token_ids": True, "prediction": {"type": "content", "content": "x"}},
    )
    assert hinted.choices[0].token_ids == want[0][:3]
