"""A store of the reference's outputs, so a search computes them once, not once per candidate.

What `check` takes from transformers before it runs a stack (the prompts, the fp32 reference's greedy
tokens and logit rows, the same-precision calibration rows, the speculation cases) depends only on the
model, its weights, the check's settings and the stack's precision, never on the stack's own code. An
entry is keyed by a hash of exactly those inputs (`key_inputs`), so anything that could change the
answer (seed, prompt count, dtype, quantizer, weights, the reference's own code, versions) misses.

Trust: the file is written atomically (temp file + rename) and owner-only, and on read its key and a
content hash must match or it is ignored and recomputed. Only the trusted `check` process touches it;
the candidate's process is never told where it is (cli/check_cmd.py passes it the prompts only).

Its JSON header also carries what the stack is sent (`probe_inputs`: prompts, tokens to force,
fillers, speculation requests), so `check` can start the stack before it imports torch to read the
rows; the rows' own copy of those inputs must then equal the header's.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from pathlib import Path

FORMAT = 2
_RUNTIME = Path(__file__).resolve().parents[1]
# The code whose output an entry holds: the reference, the weights it loads, the speculation cases.
_CODE = [
    *sorted((_RUNTIME / "reference").glob("*.py")),
    *sorted((_RUNTIME / "models").rglob("*.py")),
    _RUNTIME / "checker" / "speculation.py",
]


def _code_hash(extra_sources: tuple[str, ...]) -> str:
    h = hashlib.sha256()
    for f in _CODE:
        h.update(f.relative_to(_RUNTIME).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    for s in extra_sources:
        h.update(s.encode() + b"\0")
    return h.hexdigest()


def weights_fingerprint(model_spec: dict) -> list | None:
    """Name, size and mtime of every weights file (not their contents: hashing 16 GB per check
    would cost what the cache saves). Random weights are fully named by the spec itself."""
    path = model_spec.get("path")
    if model_spec.get("weights") == "gguf" and not path:
        from ..models.loading import find_packaged_gguf

        path = find_packaged_gguf()
    if not path:
        return None
    p = Path(path).resolve()
    files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    return [[str(f), f.stat().st_size, f.stat().st_mtime_ns] for f in files]


def key_inputs(
    spec: dict, device: str, settings: dict, calibrated: bool, speculative: bool, extra_sources: tuple[str, ...] = ()
) -> dict:
    """Everything the reference's outputs depend on. `settings`: the check's own (seed, prompt
    count, new tokens); `extra_sources`: source of the caller's prompt builder."""
    from importlib.metadata import version

    comps = spec["components"]
    return {
        "format": FORMAT,
        "model": spec["model"],
        "weights": weights_fingerprint(spec["model"]),
        "max_model_len": spec["params"].get("max_model_len"),
        "device": device,
        "settings": settings,
        # calibration runs at the stack's dtype (in `model`) and weight format, the experts too under `loop`
        "calibration": {"linear": comps.get("linear", "native"), "moe_loop": comps.get("moe") == "loop"}
        if calibrated
        else None,
        "speculative": speculative,
        # read without importing either: a check whose reference is cached starts the stack first
        "versions": {"torch": _torch_version(), "transformers": version("transformers")},
        "code": _code_hash(extra_sources),
    }


def _torch_version() -> str:
    """torch.__version__ (its local build tag, e.g. +cu130, included) from torch/version.py, unimported."""
    import importlib.util
    import re

    found = importlib.util.find_spec("torch")
    for where in (found.submodule_search_locations or []) if found else []:
        m = re.search(r"^__version__\s*=\s*['\"]([^'\"]+)", (Path(where) / "version.py").read_text(), re.M)
        if m:
            return m.group(1)
    from importlib.metadata import version

    return version("torch")


def probe_inputs(payload: dict) -> dict:
    """What the stack is sent from an entry (plain ints, JSON as much as the payload)."""
    from . import speculation

    def ints(xs) -> list[int]:
        return [int(x) for x in xs]

    cases = payload.get("spec_cases")
    return {
        "prompts": [ints(p) for p in payload["prompts"]],
        "forced": [ints(t) for t in payload["tokens"]],
        "fillers": [[ints(q), int(m)] for q, m in payload["fillers"]],
        "speculation": json.loads(json.dumps(speculation.requests(cases), default=int)) if cases else None,
    }


def load_probe_inputs(cache_dir: str | Path, key: str) -> dict | None:
    """The header's probe inputs, without reading the rows (None when the entry is absent or another key's)."""
    try:
        with open(_entry(Path(cache_dir), key), "rb") as fh:
            header = json.loads(fh.readline())
    except (OSError, ValueError):
        return None
    ok = isinstance(header, dict) and header.get("format") == FORMAT and header.get("key") == key
    return header.get("probe") if ok and isinstance(header.get("probe"), dict) else None


def cache_key(inputs: dict) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()


def _entry(cache_dir: Path, key: str) -> Path:
    return cache_dir / f"{key}.ref"


def load(cache_dir: str | Path, key: str) -> tuple[dict | None, str]:
    """(payload, why) -- payload None on a miss; why says which miss (absent, corrupt, mismatched)."""
    import torch

    f = _entry(Path(cache_dir), key)
    try:
        raw = f.read_bytes()
    except FileNotFoundError:
        return None, "absent"
    except OSError as e:
        return None, f"unreadable ({e.strerror})"
    head, sep, body = raw.partition(b"\n")
    try:
        header = json.loads(head) if sep else None
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT or header.get("key") != key:
        return None, "mismatched key or format"
    if header.get("sha256") != hashlib.sha256(body).hexdigest():
        return None, "content hash mismatch"
    try:
        payload = torch.load(io.BytesIO(body), weights_only=True)  # plain data only, never a pickle
    except Exception as e:  # noqa: BLE001 - an unreadable entry is recomputed, whatever broke it
        return None, f"unreadable payload ({type(e).__name__})"
    return (payload, "hit") if isinstance(payload, dict) else (None, "unreadable payload")


def store(cache_dir: str | Path, key: str, inputs: dict, payload: dict) -> Path:
    """Writes the entry atomically; the directory and file are owner-only (a sandboxed user never reads them)."""
    import torch

    d = Path(cache_dir)
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    buf = io.BytesIO()
    torch.save(payload, buf)
    body = buf.getvalue()
    header = json.dumps(
        {
            "format": FORMAT,
            "key": key,
            "sha256": hashlib.sha256(body).hexdigest(),
            "inputs": inputs,
            "probe": probe_inputs(payload),
        },
        sort_keys=True,
        default=str,
    ).encode()
    fd, tmp = tempfile.mkstemp(dir=d, prefix=f".{key[:16]}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(header + b"\n" + body)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o400)
        os.replace(tmp, _entry(d, key))
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return _entry(d, key)
