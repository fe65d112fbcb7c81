"""The pinned wheel set a GPU host gets (scripts/gpu/server-wheels.txt, carried by pack.sh and
installed by unpack.sh with --no-index --no-deps): every pin exists as a wheel for Python 3.12 on
x86-64 Linux, the set is complete (every dependency of every wheel is pinned in it, at a version it
accepts, or comes with the host), and installed alone into a --target directory it serves: the
server app answers a completion with only that directory added to the path.

The wheels come from a cache directory ($VIBESERVE_WHEEL_CACHE, default ~/.cache/vibeserve/gpu-wheels),
filled from PyPI the first time; without network and without a cache the test is skipped."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PINS = Path(__file__).resolve().parents[2] / "scripts" / "gpu" / "server-wheels.txt"
RUNTIME = Path(__file__).resolve().parents[1]
HOST = {"torch", "triton", "transformers", "tokenizers", "safetensors", "numpy", "httpx", "pyyaml", "tqdm"}
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"]
OFFLINE = re.compile(
    r"NewConnectionError|Temporary failure in name resolution|Network is unreachable|"
    r"No route to host|Max retries exceeded|Could not fetch URL"
)


def _pins() -> dict[str, str]:
    lines = [ln.split("#")[0].strip() for ln in PINS.read_text().splitlines()]
    return {canonicalize_name(ln.split("==")[0]): ln.split("==")[1] for ln in lines if ln}


def _wheels(tag: str, *download_args: str) -> Path:
    """The pinned wheels for one interpreter tag, from the cache or downloaded into it."""
    cache = Path(os.environ.get("VIBESERVE_WHEEL_CACHE", Path.home() / ".cache" / "vibeserve" / "gpu-wheels")) / tag
    cache.mkdir(parents=True, exist_ok=True)
    if len(list(cache.glob("*.whl"))) >= len(_pins()):
        return cache
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--only-binary=:all:",
            *download_args,
            "-d",
            str(cache),
            "-r",
            str(PINS),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if p.returncode != 0:
        if OFFLINE.search(p.stderr):
            pytest.skip(f"no cached wheels in {cache} and PyPI cannot be reached")
        pytest.fail(f"pip download of the pinned set failed:\n{p.stderr[-2000:]}")
    return cache


def _install(wheels: Path, target: Path) -> None:
    files = sorted(str(w) for w in wheels.glob("*.whl"))
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-index",
            "--no-deps",
            "--no-compile",
            "--target",
            str(target),
            *files,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr[-2000:]


def test_every_pin_has_a_wheel_for_python_3_12_on_the_gpu_hosts():
    platform_args = [a for pl in PLATFORMS for a in ("--platform", pl)]
    wheels = _wheels("cp312-manylinux", "--python-version", "3.12", "--implementation", "cp", *platform_args)
    names = {canonicalize_name(w.name.split("-")[0]): w.name.split("-")[1] for w in wheels.glob("*.whl")}
    assert names == _pins()


def test_the_set_is_complete_and_serves_alone(tmp_path):
    wheels = _wheels(f"cp{sys.version_info.major}{sys.version_info.minor}-here")
    target = tmp_path / "site"
    _install(wheels, target)
    pins = _pins()

    from importlib.metadata import distributions

    env = {
        "python_version": "3.12",
        "python_full_version": "3.12.0",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "x86_64",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "os_name": "posix",
        "extra": "",
    }
    unmet = []
    for dist in distributions(path=[str(target)]):
        for raw in dist.requires or []:
            req = Requirement(raw)
            if req.marker and not req.marker.evaluate(env):
                continue
            name = canonicalize_name(req.name)
            if name in HOST:
                continue
            if name not in pins or not req.specifier.contains(pins[name], prereleases=True):
                unmet.append(f"{dist.metadata['Name']} needs {raw}")
    assert not unmet, "the pinned set is not complete:\n" + "\n".join(unmet)

    probe = r"""
import sys, json
from fastapi.testclient import TestClient
from vibeserve_runtime.engine import Engine
from vibeserve_runtime.server.app import create_app
import fastapi, pydantic, pydantic_core, starlette, uvicorn, jsonschema, gguf, prometheus_client, openai, llguidance
outside = [m.__name__ for m in (fastapi, pydantic, pydantic_core, starlette, uvicorn, jsonschema, gguf,
                                prometheus_client, openai, llguidance) if not m.__file__.startswith(sys.argv[1])]
assert not outside, f"imported from outside the target: {outside}"
engine = Engine.from_spec({"name": "w", "model": {"arch": "llama", "preset": "tiny-llama"}, "components": {},
                           "params": {"max_model_len": 64, "max_batch_size": 2}, "device": "cpu"})
with TestClient(create_app(engine, "w")) as client:
    r = client.post("/v1/completions", json={"prompt": "hi", "max_tokens": 3, "temperature": 0, "ignore_eos": True})
    assert r.status_code == 200, r.text
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    j = client.post("/v1/completions", json={"prompt": "hi", "max_tokens": 16, "temperature": 0,
                    "response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": schema}}})
    assert j.status_code == 200 and j.json()["choices"][0]["text"].startswith('{"ok": '), j.text
    print(json.dumps(r.json()["usage"]))
"""
    # the target comes first, so its pinned versions win over the test environment's own
    env_ = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), str(RUNTIME)])}
    p = subprocess.run(
        [sys.executable, "-c", probe, str(target)], capture_output=True, text=True, env=env_, timeout=300
    )
    assert p.returncode == 0, p.stderr[-3000:]
    assert '"completion_tokens": 3' in p.stdout
