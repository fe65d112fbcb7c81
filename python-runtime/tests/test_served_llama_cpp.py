"""llama.cpp as a peer of the served comparison (bench/scenarios/served_engines.py llama_cpp_server):
`llama-server` beside our stack on the same weights, driven by the same load generator. A random-weights
scenario's checkpoint is written as a GGUF by llama.cpp's own converter (bench/peers/write_gguf.py): the GGUF
holds the checkpoint's very tensors, and llama-server's greedy tokens on it are our engine's. A GGUF-weights
scenario's own file is served as it is.

The conversion tests run where llama.cpp's source is (bench/peers/llama_cpp_source.sh packs it; CI has none);
the served ones where bench/peers/build_llama_server.sh has built llama-server (about 10 minutes on 2 cores, so
not in CI's set-up); what is refused without them is checked everywhere."""

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "bench" / "scenarios"
sys.path.insert(0, str(SCENARIOS))
sys.path.insert(0, str(REPO / "bench" / "peers"))
import served_engines  # noqa: E402
import write_gguf  # noqa: E402
from write_checkpoint import checkpoint_model_spec, write_checkpoint  # noqa: E402

NO_SERVER = pytest.mark.skipif(
    not served_engines.LLAMA_SERVER.is_file(), reason="llama-server not built (bash bench/peers/build_llama_server.sh)"
)
PROMPT = [5, 17, 99, 3, 250, 41, 8, 77]


def test_without_llama_server_the_error_says_how_to_build_it(tmp_path, monkeypatch):
    monkeypatch.setattr(served_engines, "LLAMA_SERVER", tmp_path / "absent" / "llama-server")
    with pytest.raises(FileNotFoundError, match="build_llama_server.sh"):
        served_engines.llama_cpp_server(tmp_path / "m.gguf", tmp_path, 256, 4, "cpu")


def test_the_command_gives_a_slot_per_client_and_their_context(tmp_path, monkeypatch):
    fake = tmp_path / "llama-server"
    fake.write_text("#!/bin/sh\necho 'version: 1234 (abcdef0)'\n")
    fake.chmod(0o755)
    monkeypatch.setattr(served_engines, "LLAMA_SERVER", fake)
    srv = served_engines.llama_cpp_server(tmp_path / "m.gguf", tmp_path, 256, 8, "cuda")
    cmd = srv.command
    assert cmd[cmd.index("-np") + 1] == "8" and cmd[cmd.index("-c") + 1] == str(8 * 256)
    assert cmd[cmd.index("-ngl") + 1] == "999" and srv.version == "1234 (abcdef0)"
    assert "-ngl" not in served_engines.llama_cpp_server(tmp_path / "m.gguf", tmp_path, 256, 8, "cpu").command


FAKE_SERVER = """#!{python}
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

if "--version" in sys.argv:
    print("version: 1 (fake)")
    raise SystemExit(0)


class Health(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")


HTTPServer(("127.0.0.1", int(sys.argv[sys.argv.index("--port") + 1])), Health).serve_forever()
"""


def test_each_workload_gets_a_llama_server_sized_to_its_own_clients(tmp_path, monkeypatch):
    """A user serving 16 clients runs llama-server with 16 slots, not the 256 a later workload needs:
    the comparison restarts it per workload (only when the count changes), each with its own log."""
    import compare_served
    from types import SimpleNamespace

    from vibeserve_runtime.bench.workload import Workload

    fake = tmp_path / "llama-server"
    fake.write_text(FAKE_SERVER.format(python=sys.executable))
    fake.chmod(0o755)
    monkeypatch.setattr(served_engines, "LLAMA_SERVER", fake)
    monkeypatch.setattr(compare_served, "llama_cpp_server", served_engines.llama_cpp_server)
    args = SimpleNamespace(
        device="cpu",
        time_budget_s=60,
        out=str(tmp_path / "r.json"),
        work_dir=str(tmp_path),
        scenario="s.yaml",
        device_name="cpu",
        run_command="test",
        reps=1,
        start_timeout_s=30,
    )
    cmp = compare_served.Comparison(args, {"name": "s", "model": {}})
    first = served_engines.llama_cpp_server(tmp_path / "m.gguf", tmp_path, 640, 16, "cpu")
    cmp.servers["llama.cpp"], cmp._llama_cpp = first, (tmp_path / "m.gguf", tmp_path, 640)
    first.start()
    try:
        first.wait_healthy(30)
        cmp._fit_llama_cpp("scenario", Workload(num_prompts=512, max_concurrency=16))
        assert cmp.servers["llama.cpp"] is first  # already sized for 16 clients: no restart
        cmp._fit_llama_cpp("saturating", Workload(num_prompts=512, max_concurrency=256))
        second = cmp.servers["llama.cpp"]
        cmd = second.command
        assert cmd[cmd.index("-np") + 1] == "256" and cmd[cmd.index("-c") + 1] == str(256 * 640)
        assert first.proc.poll() is not None and second.proc.poll() is None
        assert second.log_path.name == "llama.cpp.saturating.log"
        entry = cmp.result["peers"]["llama.cpp"]
        assert entry["slots_by_workload"] == {"scenario": 16, "saturating": 256}
        assert "-np 256" in entry["commands_by_workload"]["saturating"]
    finally:
        cmp.stop_engines()


def test_the_gguf_type_is_the_checkpoints_dtype_or_q8_0_for_8_bit_stacks(tmp_path):
    for dtype, outtype in (("bfloat16", "bf16"), ("float32", "f32")):
        (tmp_path / "config.json").write_text(json.dumps({"torch_dtype": dtype}))
        assert served_engines.llama_cpp_outtype(tmp_path)[0] == outtype
    outtype, why = served_engines.llama_cpp_outtype(tmp_path, "int8_weight_only")
    assert outtype == "q8_0" and "--quantization fp8" in why


# --- the converter ------------------------------------------------------------------------------
def test_without_the_source_the_error_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(write_gguf, "SOURCE_DIR", tmp_path / "absent")
    monkeypatch.setattr(write_gguf, "UNPACKED", tmp_path / "unpacked")
    monkeypatch.setattr(write_gguf, "SOURCE_TARBALL", tmp_path / "absent.tar.xz")
    ckpt = write_checkpoint({"arch": "llama", "preset": "tiny-llama", "seed": 1, "dtype": "float32"}, tmp_path / "ckpt")
    with pytest.raises(FileNotFoundError, match="bench/peers/llama_cpp_source.sh"):
        write_gguf.write_gguf(ckpt)


def test_a_failing_converter_is_reported_with_its_own_error(tmp_path, monkeypatch):
    tree = tmp_path / "llama.cpp"
    for d in ("conversion", "gguf-py"):
        (tree / d).mkdir(parents=True)
    (tree / "convert_hf_to_gguf.py").write_text("raise NotImplementedError(\"Architecture 'X' not supported!\")\n")
    monkeypatch.setattr(write_gguf, "SOURCE_DIR", tree)
    ckpt = write_checkpoint({"arch": "llama", "preset": "tiny-llama", "seed": 1, "dtype": "float32"}, tmp_path / "ckpt")
    with pytest.raises(write_gguf.ConversionError, match="Architecture 'X' not supported") as e:
        write_gguf.write_gguf(ckpt)
    assert "convert_hf_to_gguf.py" in e.value.command and "--outtype f32" in e.value.command
    assert not list(ckpt.glob("*.gguf*")), "a failed conversion left a file behind"


@pytest.fixture(scope="module")
def converter():
    try:
        return write_gguf.converter_root()
    except FileNotFoundError as e:
        pytest.skip(f"no llama.cpp source: {e}")


CASES = {  # arch, preset, dtype: the three architectures of the seed scenarios
    "gpt2": ("gpt2", "tiny-gpt2", "float32"),
    "llama": ("llama", "tiny-llama", "float32"),
    "mixtral": ("mixtral", "tiny-mixtral", "float32"),
    "llama-bf16": ("llama", "tiny-llama", "bfloat16"),
}


@pytest.fixture(scope="module")
def converted(converter, tmp_path_factory):
    """Each case's checkpoint, written once, and its GGUF in the checkpoint's dtype."""
    done = {}

    def get(case):
        if case not in done:
            arch, preset, dtype = CASES[case]
            spec = {"arch": arch, "preset": preset, "seed": 7, "dtype": dtype}
            ckpt = write_checkpoint(spec, tmp_path_factory.mktemp(case) / "ckpt")
            done[case] = spec, ckpt, write_gguf.write_gguf(ckpt)
        return done[case]

    return get


def _gguf_tensors(path: str) -> dict[str, torch.Tensor]:
    from gguf import GGMLQuantizationType, GGUFReader

    out = {}
    for t in GGUFReader(path).tensors:
        data = np.ascontiguousarray(t.data)
        if t.tensor_type == GGMLQuantizationType.BF16:
            out[t.name] = torch.from_numpy(data.view(np.int16).copy()).view(torch.bfloat16)
        else:
            assert t.tensor_type == GGMLQuantizationType.F32, (t.name, t.tensor_type)
            out[t.name] = torch.from_numpy(data.copy())
    return out


def _permute(w: torch.Tensor, heads: int) -> torch.Tensor:
    """Q and K rows reordered from the checkpoint's rotary halves to llama.cpp's interleaved pairs."""
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).transpose(1, 2).reshape(w.shape)


def _expected(arch: str, cfg: dict, sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """What each GGUF tensor must hold, stated independently of the converter: names per llama.cpp's
    layout, values the checkpoint's (GPT-2's Conv1D weights transposed, Llama's Q/K rows permuted,
    Mixtral's experts stacked)."""
    if arch == "gpt2":
        out = {
            "token_embd.weight": sd["transformer.wte.weight"],
            "position_embd.weight": sd["transformer.wpe.weight"],
            "output_norm.weight": sd["transformer.ln_f.weight"],
            "output_norm.bias": sd["transformer.ln_f.bias"],
        }
        parts = {
            "attn_qkv": "attn.c_attn",
            "attn_output": "attn.c_proj",
            "ffn_up": "mlp.c_fc",
            "ffn_down": "mlp.c_proj",
        }
        for i in range(cfg["n_layer"]):
            h = f"transformer.h.{i}."
            for ours, theirs in parts.items():
                out[f"blk.{i}.{ours}.weight"] = sd[h + theirs + ".weight"].T
                out[f"blk.{i}.{ours}.bias"] = sd[h + theirs + ".bias"]
            for ours, theirs in (("attn_norm", "ln_1"), ("ffn_norm", "ln_2")):
                out[f"blk.{i}.{ours}.weight"], out[f"blk.{i}.{ours}.bias"] = (
                    sd[h + theirs + ".weight"],
                    sd[h + theirs + ".bias"],
                )
        return out
    out = {"token_embd.weight": sd["model.embed_tokens.weight"], "output_norm.weight": sd["model.norm.weight"]}
    if "lm_head.weight" in sd:
        out["output.weight"] = sd["lm_head.weight"]
    heads, kv_heads = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    for i in range(cfg["num_hidden_layers"]):
        h, b = f"model.layers.{i}.", f"blk.{i}."
        out[b + "attn_q.weight"] = _permute(sd[h + "self_attn.q_proj.weight"], heads)
        out[b + "attn_k.weight"] = _permute(sd[h + "self_attn.k_proj.weight"], kv_heads)
        out[b + "attn_v.weight"] = sd[h + "self_attn.v_proj.weight"]
        out[b + "attn_output.weight"] = sd[h + "self_attn.o_proj.weight"]
        out[b + "attn_norm.weight"] = sd[h + "input_layernorm.weight"]
        out[b + "ffn_norm.weight"] = sd[h + "post_attention_layernorm.weight"]
        if arch == "mixtral":
            moe = h + "block_sparse_moe."
            out[b + "ffn_gate_inp.weight"] = sd[moe + "gate.weight"]
            for ours, w in (("ffn_gate_exps", "w1"), ("ffn_down_exps", "w2"), ("ffn_up_exps", "w3")):
                out[b + ours + ".weight"] = torch.stack(
                    [sd[f"{moe}experts.{e}.{w}.weight"] for e in range(cfg["num_local_experts"])]
                )
        else:
            for ours, theirs in (("ffn_gate", "gate_proj"), ("ffn_up", "up_proj"), ("ffn_down", "down_proj")):
                out[b + ours + ".weight"] = sd[h + "mlp." + theirs + ".weight"]
    return out


@pytest.mark.parametrize("case", list(CASES))
def test_the_gguf_holds_the_checkpoints_very_tensors(converted, case):
    from safetensors.torch import load_file

    spec, ckpt, written = converted(case)
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[spec["dtype"]]
    assert written["path"] == str(ckpt / f"model-{written['outtype']}.gguf") and not written["reused"]
    assert written["outtype"] == {"float32": "f32", "bfloat16": "bf16"}[spec["dtype"]]
    assert "convert_hf_to_gguf.py" in written["command"] and f"--outtype {written['outtype']}" in written["command"]
    cfg = json.loads((ckpt / "config.json").read_text())
    want = _expected(spec["arch"], cfg, load_file(str(ckpt / "model.safetensors")))
    got = _gguf_tensors(written["path"])
    assert sorted(got) == sorted(want)
    for name, w in want.items():
        g = got[name]
        # 2-D and 3-D weights keep the checkpoint's dtype; 1-D ones, the position table and a MoE router are
        # stored as f32, which holds every bf16 value exactly
        if w.dim() >= 2 and name not in ("position_embd.weight",) and "ffn_gate_inp" not in name:
            assert g.dtype == dtype, name
        assert g.shape == w.shape and torch.equal(g.float(), w.float()), f"{name} differs from the checkpoint"

    # a second call finds the stamp and leaves the file alone
    mtime = Path(written["path"]).stat().st_mtime_ns
    again = write_gguf.write_gguf(ckpt)
    assert again["reused"] and Path(again["path"]).stat().st_mtime_ns == mtime


def _llama_server_greedy(gguf: str, log_dir: Path, prompt: list[int], n: int) -> list[int]:
    srv = served_engines.llama_cpp_server(Path(gguf), log_dir, 256, 1, "cpu")
    srv.start()
    try:
        srv.wait_healthy(60)
        body = {
            "prompt": prompt,
            "n_predict": n,
            "temperature": 0.0,
            "ignore_eos": True,
            "return_tokens": True,
            "cache_prompt": False,
        }
        req = urllib.request.Request(
            srv.url + "/completion", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())["tokens"]
    finally:
        srv.stop()


def _assert_same_greedy(theirs: list[int], spec: dict, ckpt: Path, prompt: list[int]) -> int:
    """llama.cpp's greedy tokens against our engine on the checkpoint: every one of its tokens is our argmax
    along its own sequence, up to a near-tie (f32 kernels sum in other orders), and up to the first such tie
    the two sequences are the same. Returns how many tokens agree."""
    from vibeserve_runtime.engine import Engine
    from vibeserve_runtime.types import SamplingParams

    engine = Engine.from_spec({"name": "ours", "model": checkpoint_model_spec(spec, ckpt)})
    ours = engine.generate([prompt], SamplingParams(max_tokens=len(theirs), ignore_eos=True))[0]
    logits = engine.teacher_forced_logits(prompt, theirs)[: len(theirs)]
    tol = 1e-3
    top2 = logits.topk(2, dim=-1).values
    for i, tok in enumerate(theirs):
        assert logits[i, tok] >= top2[i, 0] - tol, f"step {i}: llama.cpp chose {tok}, not our argmax"
    # so where the sequences part, ours took the other side of a near-tie
    return next((i for i, (a, b) in enumerate(zip(theirs, ours)) if a != b), len(theirs))


@NO_SERVER
@pytest.mark.parametrize("case", ["gpt2", "llama", "mixtral"])
def test_llama_server_on_the_gguf_generates_our_engines_greedy_tokens(converted, case, tmp_path):
    spec, ckpt, written = converted(case)
    theirs = _llama_server_greedy(written["path"], tmp_path, PROMPT, 16)
    assert len(theirs) == 16
    assert _assert_same_greedy(theirs, spec, ckpt, PROMPT) >= 4


# --- the served comparison ------------------------------------------------------------------------
def _compare(tmp_path, scenario: Path, *extra: str, env: dict | None = None) -> tuple[dict, str]:
    out = tmp_path / "served.json"
    p = subprocess.run(
        [
            sys.executable,
            str(SCENARIOS / "compare_served.py"),
            "--scenario",
            str(scenario),
            "--out",
            str(out),
            "--peers",
            "llama.cpp",
            "--reps",
            "2",
            "--no-saturating",
            "--time-budget-s",
            "300",
            "--work-dir",
            str(tmp_path / "work"),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
        env={**os.environ, **(env or {})},
    )
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(out.read_text()), p.stderr


def test_without_llama_server_a_random_weights_comparison_records_why(tmp_path):
    scenario = tmp_path / "demo.yaml"
    scenario.write_text((REPO / "scenarios" / "cpu-demo.yaml").read_text())
    r, log = _compare(
        tmp_path,
        scenario,
        "--max-prompts",
        "4",
        env={"VIBESERVE_LLAMA_SERVER": str(tmp_path / "absent" / "llama-server")},
    )
    assert "build_llama_server.sh" in r["peers"]["llama.cpp"]["error"] and not r["complete"]
    assert set(r["workloads"]["scenario"]["stacks"]) == {"generic"}
    assert not list(Path(r["checkpoint"]).glob("*.gguf")), "converted for a server that is not there"


@NO_SERVER
def test_llama_cpp_serves_a_random_weights_scenarios_checkpoint_as_a_gguf(tmp_path, converter):
    scenario = tmp_path / "demo.yaml"  # tiny random Llama, float32
    scenario.write_text((REPO / "scenarios" / "cpu-demo.yaml").read_text())
    r, log = _compare(tmp_path, scenario, "--max-prompts", "8")
    peer, ckpt = r["peers"]["llama.cpp"], Path(r["checkpoint"])
    assert "error" not in peer, peer
    assert peer["gguf"] == str(ckpt.resolve() / "model-f32.gguf") and peer["gguf_outtype"] == "f32"
    assert "same weights" in peer["gguf_outtype_reason"] and "convert_hf_to_gguf.py" in peer["gguf_converter_command"]
    assert peer["load_s"] > 0 and peer["version"] and f"-m {peer['gguf']}" in peer["command"]
    runs = r["workloads"]["scenario"]["stacks"]["llama.cpp"]["runs"]
    assert len(runs) == 2 and all(run["completed"] == 8 and run["failed"] == 0 for run in runs)
    assert all(run["output_throughput"] > 0 for run in runs)
    assert r["workloads"]["scenario"]["best_peer"] == "llama.cpp" and r["ratio_vs_peer"] > 0
    assert r["stacks"]["generic"]["metrics"] and not r["errors"]
    # the comparison records no tokens: the GGUF it served gives our engine's greedy tokens on its checkpoint
    spec = {"arch": "llama", "preset": "tiny-llama", "seed": 0, "dtype": "float32"}
    theirs = _llama_server_greedy(peer["gguf"], tmp_path, PROMPT, 16)
    assert _assert_same_greedy(theirs, spec, ckpt, PROMPT) >= 4


@NO_SERVER
def test_llama_cpp_serves_the_scenarios_gguf_beside_the_generic_stack(tmp_path):
    scenario = tmp_path / "smollm2.yaml"  # with the model's path made absolute
    subprocess.run(
        [
            sys.executable,
            str(SCENARIOS / "prepare_scenario.py"),
            str(REPO / "scenarios" / "smollm2-chat-cpu.yaml"),
            str(scenario),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    r, log = _compare(tmp_path, scenario, "--max-prompts", "8")
    peer = r["peers"]["llama.cpp"]
    assert peer["gguf"].endswith(".gguf") and peer["load_s"] > 0 and peer["version"]
    assert "scenario's own GGUF" in peer["gguf_source"] and "gguf_outtype" not in peer
    runs = r["workloads"]["scenario"]["stacks"]["llama.cpp"]["runs"]
    assert len(runs) == 2 and all(run["completed"] == 8 and run["failed"] == 0 for run in runs)
    assert all(run["output_throughput"] > 0 for run in runs)  # usage counted from its stream's last chunk
    assert r["workloads"]["scenario"]["best_peer"] == "llama.cpp" and r["ratio_vs_peer"] > 0
