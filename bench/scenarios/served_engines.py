"""The engines a served comparison drives, each an OpenAI-compatible HTTP server in its own process
group: a VibeServe stack (`python -m vibeserve_runtime serve`), vLLM (`vllm serve`, from the bundle
bench/peers/install_vllm.sh unpacks), llama.cpp (`llama-server`, built by
bench/peers/build_llama_server.sh) and transformers' continuous batching
(bench/peers/transformers_cb_server.py). Every one is started the way its authors ship it; the only
settings passed are the served model, the context length and, where the engine has the knob, the
size of its KV-cache pool, so that engines sharing one GPU hold equal pools.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PEERS = REPO / "bench" / "peers"


# servers started and not yet stopped: each runs in its own process group, so a comparison killed
# mid-run (`timeout`, a job's end) would leave it holding the GPU for whatever runs next
_live: dict[int, "EngineServer"] = {}


def _stop_live_servers() -> None:
    for server in list(_live.values()):
        server.stop()


def _exit_on_sigterm(signum, _frame) -> None:
    raise SystemExit(128 + signum)  # unwinds through the callers' finally blocks, then atexit


def _stop_servers_at_exit() -> None:
    """Stops every live server when the process exits, a SIGTERM included (where the program has
    not claimed that signal itself)."""
    if getattr(_stop_servers_at_exit, "installed", False):
        return
    atexit.register(_stop_live_servers)
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    _stop_servers_at_exit.installed = True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class EngineServer:
    """One server process: started, waited on until /health answers, stopped with its group."""

    name: str  # the comparison's name for it: generic, searched, vllm, llama.cpp, transformers-cb
    engine: str  # what it is: vibeserve, vllm, llama.cpp, transformers
    command: list[str]
    log_path: Path
    port: int
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    cwd: Path = REPO
    version: str | None = None
    proc: subprocess.Popen | None = None
    load_s: float | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        _stop_servers_at_exit()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "w")
        self._t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            self.command,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _live[id(self)] = self

    def wait_healthy(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name}: the server exited with code {self.proc.returncode}: {self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                    if r.status == 200:
                        self.load_s = time.perf_counter() - self._t0
                        return
            except OSError:
                pass
            time.sleep(1.0)
        raise TimeoutError(f"{self.name}: no healthy answer within {timeout_s:.0f}s: {self.log_tail()}")

    def model_name(self) -> str:
        with urllib.request.urlopen(self.url + "/v1/models", timeout=10) as r:
            return json.loads(r.read())["data"][0]["id"]

    def log_tail(self, lines: int = 12) -> str:
        try:
            return " | ".join(self.log_path.read_text(errors="replace").strip().splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        _live.pop(id(self), None)
        if self.proc is None or self.proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue


def vibeserve_server(name: str, stack_dir: Path, log_dir: Path, max_queue: int, max_model_len: int) -> EngineServer:
    """`serve` with the comparison's context length (the same as vLLM's; `serve` would take the model's)."""
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "vibeserve_runtime",
        "serve",
        "--stack",
        str(stack_dir),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--served-model-name",
        name,
        "--max-queue",
        str(max_queue),
        "--max-model-len",
        str(max_model_len),
    ]
    return EngineServer(name, "vibeserve", cmd, log_dir / f"{name}.log", port)


# The 8-bit weight format vLLM offers for an unquantized checkpoint on Hopper: per-channel fp8 weights
# quantized at load (`--quantization fp8`); a scenario whose stacks serve 8-bit linear layers gets it.
VLLM_QUANTIZATION = {"native": None, "int8_weight_only": "fp8", "fp8": "fp8"}


# vLLM's own feature for what a workload's requests make possible, as its documentation turns it on: prompt-lookup
# (n-gram) speculation where each request's prompt holds most of its output (vLLM does not take OpenAI's
# `prediction`). Structured outputs (a request's response_format) and prefix caching need no flag: both are on by
# default.
VLLM_WORKLOAD_FEATURES = {
    "code_edit": [
        "--speculative-config",
        json.dumps({"method": "ngram", "num_speculative_tokens": 5, "prompt_lookup_max": 4}),
    ],
}


def vllm_server(
    checkpoint: Path,
    log_dir: Path,
    max_model_len: int,
    kv_cache_bytes: int | None,
    linear: str = "native",
    dataset: str = "random",
) -> EngineServer:
    """`vllm serve` at its defaults (needs `source bench/peers/env.sh` after install_vllm.sh), with its own
    feature for the workload turned on (VLLM_WORKLOAD_FEATURES)."""
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "vllm.entrypoints.cli.main",
        "serve",
        str(checkpoint),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--served-model-name",
        "vllm",
        "--max-model-len",
        str(max_model_len),
    ]
    if kv_cache_bytes:
        cmd += ["--kv-cache-memory-bytes", str(kv_cache_bytes)]
    if VLLM_QUANTIZATION.get(linear):
        cmd += ["--quantization", VLLM_QUANTIZATION[linear]]
    cmd += VLLM_WORKLOAD_FEATURES.get(dataset, [])
    return EngineServer("vllm", "vllm", cmd, log_dir / "vllm.log", port, version=_version("vllm"))


LLAMA_SERVER = Path(os.environ.get("VIBESERVE_LLAMA_SERVER", "/tmp/vibeserve-peers/llama.cpp/build/bin/llama-server"))

# The GGUF type llama.cpp gets for random weights (bench/peers/write_gguf.py writes it from the comparison's
# checkpoint): the checkpoint's own dtype, so that it serves the same weights as every other engine, but for a
# scenario whose stacks serve 8-bit linear layers: there it gets Q8_0, llama.cpp's own 8-bit weight format (int8
# in blocks of 32 weights with an fp16 scale each; its converter quantizes every 2-D weight but a MoE router and
# a position table, embeddings and output included, from the same checkpoint), as vLLM gets `--quantization fp8`.
LLAMA_CPP_8BIT = {"int8_weight_only": "q8_0", "fp8": "q8_0"}


def llama_cpp_outtype(checkpoint: Path, linear: str = "native") -> tuple[str, str]:
    """The GGUF type for llama.cpp to serve a comparison's checkpoint in, and why."""
    if LLAMA_CPP_8BIT.get(linear):
        return LLAMA_CPP_8BIT[linear], (
            f"the stacks serve {linear} linear layers: llama.cpp gets its own 8-bit weight format, Q8_0 (int8 in "
            "blocks of 32 weights with an fp16 scale each; every 2-D weight, embeddings and output included, but a MoE "
            "router and GPT-2's position table, which it keeps in f32), written by its converter from the same "
            "checkpoint, as vLLM gets --quantization fp8"
        )
    if str(PEERS) not in sys.path:
        sys.path.insert(0, str(PEERS))
    from write_gguf import checkpoint_outtype

    outtype = checkpoint_outtype(checkpoint)
    return outtype, (
        f"the checkpoint's own dtype ({outtype}): the converter copies every tensor as it is stored (1-D "
        "ones as f32, which holds them exactly), so llama.cpp serves the same weights as every other engine"
    )


def llama_cpp_server(
    gguf: Path, log_dir: Path, max_model_len: int, max_concurrency: int, device: str, log_name: str = "llama.cpp.log"
) -> EngineServer:
    """`llama-server` on the model's GGUF file, at its defaults but for three settings a user serving
    this load must give it: one slot per client in flight (`-np`, else clients queue for its default
    slots), a context holding every slot's longest request (`-c`, which llama.cpp divides among the
    slots), and on a GPU every layer offloaded (`-ngl 999`, as its documentation serves a GPU)."""
    if not LLAMA_SERVER.is_file():
        raise FileNotFoundError(
            f"no llama-server at {LLAMA_SERVER}: run bench/peers/build_llama_server.sh (or set VIBESERVE_LLAMA_SERVER)"
        )
    port = free_port()
    cmd = [
        str(LLAMA_SERVER),
        "-m",
        str(gguf),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--alias",
        "llama.cpp",
        "-np",
        str(max_concurrency),
        "-c",
        str(max_concurrency * max_model_len),
    ]
    if device == "cuda":
        cmd += ["-ngl", "999"]
    return EngineServer("llama.cpp", "llama.cpp", cmd, log_dir / log_name, port, version=_llama_cpp_version())


def llama_cpp_slots(srv: EngineServer) -> int:
    """The clients a llama-server serves at once (its `-np`)."""
    return int(srv.command[srv.command.index("-np") + 1])


def _llama_cpp_version() -> str | None:
    """What `llama-server --version` says, and which source it was built from (llama_cpp_source.sh
    stamps the tree: a build from the sdist knows no commit of its own)."""
    try:
        out = subprocess.run([str(LLAMA_SERVER), "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = [line for line in (out.stdout + out.stderr).splitlines() if line.startswith("version")]
    version = lines[0].removeprefix("version:").strip() if lines else None
    stamp = LLAMA_SERVER.parents[2] / "VIBESERVE_SOURCE"
    source = stamp.read_text().strip() if stamp.is_file() else None
    return "; ".join(v for v in (version, source) if v) or None


def transformers_cb_server(checkpoint: Path, log_dir: Path, dtype: str, device: str) -> EngineServer:
    port = free_port()
    cmd = [
        sys.executable,
        str(PEERS / "transformers_cb_server.py"),
        "--model",
        str(checkpoint),
        "--port",
        str(port),
        "--dtype",
        dtype,
        "--device",
        device,
    ]
    return EngineServer(
        "transformers-cb", "transformers", cmd, log_dir / "transformers-cb.log", port, version=_version("transformers")
    )


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None
