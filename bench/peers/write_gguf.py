"""Write a checkpoint directory of bench/peers/write_checkpoint.py as a GGUF file with llama.cpp's own converter,
`convert_hf_to_gguf.py`, so that llama.cpp serves the very weights every other engine of a comparison serves.

    python bench/peers/write_gguf.py --checkpoint DIR [--outtype bf16|f32|f16|q8_0]
    # -> {"event": "gguf", "path": "DIR/model-bf16.gguf", "outtype": "bf16", "command": "...", ...}

The converter is the one in the llama.cpp source that bench/peers/llama_cpp_source.sh packs: the tree
build_llama_server.sh unpacks (/tmp/vibeserve-peers/llama.cpp, or $VIBESERVE_LLAMA_CPP_SRC), else the converter's
files unpacked from .carry/peers/llama.cpp-src.tar.xz. It runs in this Python with its own gguf-py, and needs
torch, numpy, transformers and sentencepiece (its declared requirements; the last comes with
scripts/gpu/server-wheels.txt on a GPU host).

The outtype defaults to the checkpoint's dtype (bf16 for bfloat16, f32 for float32, f16 for float16): the converter
then copies every tensor bit for bit (1-D tensors, GPT-2's position table and a MoE router it stores as f32, which
holds a bf16 or f16 value exactly), so llama.cpp computes with the same weights as every other engine. `q8_0`,
llama.cpp's 8-bit format, is what a caller asks for to serve 8-bit weights (compare_served.py, for a scenario
whose stacks serve int8 or fp8 linear layers).

Vocabulary. The checkpoint's tokenizer is a BPE model without merges that looks `<t0>` ... up as whole words
(write_checkpoint.py); the converter reads it for Llama and Mixtral as it reads any Llama tokenizer.json with byte
fallback. For GPT-2 it knows only GPT-2-style BPE tokenizers it recognizes by hashing the encoding of a test text
(its table of known pre-tokenizers, which the synthetic vocabulary is not in, and which needs merges a word-level
vocabulary does not have), so for GPT-2 the converter runs with one change: the vocabulary is read the way it reads
a Llama's (`_set_vocab_llama_hf`; the Llama and Mixtral GGUFs get the same records). Tensors and hyperparameters
are the converter's own in every case. Prompts reach llama-server as token ids, so no text is ever tokenized by it.

A GGUF already written from the same checkpoint with the same outtype and converter is left alone: a stamp beside
it (`model-<outtype>.gguf.json`) says what it was written from.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tarfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from write_checkpoint import STAMP  # noqa: E402

SOURCE_DIR = Path(os.environ.get("VIBESERVE_LLAMA_CPP_SRC", "/tmp/vibeserve-peers/llama.cpp"))
SOURCE_TARBALL = Path(os.environ.get("VIBESERVE_LLAMA_CPP_TARBALL", REPO / ".carry" / "peers" / "llama.cpp-src.tar.xz"))
UNPACKED = Path(os.environ.get("VIBESERVE_PEERS", "/tmp/vibeserve-peers")) / "llama.cpp-convert"
CONVERTER = "convert_hf_to_gguf.py"
# what the converter imports from the tree: itself, its model classes and its own gguf-py
CONVERTER_FILES = (CONVERTER, "conversion", "gguf-py", "VIBESERVE_SOURCE")
OUTTYPE_OF_DTYPE = {"bfloat16": "bf16", "float32": "f32", "float16": "f16"}
OUTTYPES = ("f32", "f16", "bf16", "q8_0")
GPT2_VOCABULARY = (
    "--gpt2-vocab-as-llama"  # this script's own mode: the converter with GPT-2's vocabulary read as a Llama's
)
TIMEOUT_S = 1800


class ConversionError(RuntimeError):
    """The converter failed: the message ends with its last lines (the exception it raised)."""

    def __init__(self, message: str, command: str, log_tail: str):
        super().__init__(f"{message}: {log_tail}")
        self.command, self.log_tail = command, log_tail


def converter_root() -> Path:
    """The llama.cpp tree holding convert_hf_to_gguf.py: the one build_llama_server.sh unpacked, else the
    converter's files unpacked once from the source tarball."""
    for root in (SOURCE_DIR, UNPACKED):
        if (root / CONVERTER).is_file() and (root / "gguf-py").is_dir() and (root / "conversion").is_dir():
            return root
    if not SOURCE_TARBALL.is_file():
        raise FileNotFoundError(
            f"no llama.cpp source with {CONVERTER} at {SOURCE_DIR} and no {SOURCE_TARBALL}: run "
            "`bash bench/peers/llama_cpp_source.sh` where PyPI is reachable (or set "
            "VIBESERVE_LLAMA_CPP_SRC to a llama.cpp tree)"
        )
    partial = UNPACKED.with_name(UNPACKED.name + ".partial")
    _rmtree(partial)
    partial.mkdir(parents=True)
    with tarfile.open(SOURCE_TARBALL) as tar:
        wanted = [
            m
            for m in tar.getmembers()
            if m.name.split("/")[0] == "llama.cpp"
            and len(m.name.split("/")) > 1
            and m.name.split("/")[1] in CONVERTER_FILES
        ]
        tar.extractall(partial, members=wanted, filter="data")
    _rmtree(UNPACKED)
    (partial / "llama.cpp").rename(UNPACKED)
    _rmtree(partial)
    return UNPACKED


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def checkpoint_outtype(checkpoint: str | Path) -> str:
    """The outtype that keeps the checkpoint's tensors as they are stored."""
    cfg = json.loads((Path(checkpoint) / "config.json").read_text())
    dtype = cfg.get("torch_dtype") or cfg.get("dtype") or "float32"
    if dtype not in OUTTYPE_OF_DTYPE:
        raise ValueError(f"{checkpoint}: no GGUF type stores {dtype} as it is; known: {sorted(OUTTYPE_OF_DTYPE)}")
    return OUTTYPE_OF_DTYPE[dtype]


def gguf_path(checkpoint: str | Path, outtype: str) -> Path:
    return Path(checkpoint).resolve() / f"model-{outtype}.gguf"


def converter_command(root: Path, checkpoint: Path, outtype: str, outfile: Path, arch: str) -> list[str]:
    args = [str(checkpoint), "--outtype", outtype, "--outfile", str(outfile)]
    if arch == "gpt2":
        return [sys.executable, str(Path(__file__).resolve()), GPT2_VOCABULARY, str(root / CONVERTER), *args]
    return [sys.executable, str(root / CONVERTER), *args]


def write_gguf(checkpoint: str | Path, outtype: str | None = None) -> dict:
    """Convert `checkpoint` (a write_checkpoint.py directory) to `checkpoint/model-<outtype>.gguf` unless the stamp
    says that file was written from it already. Returns what was done: path, outtype, command, converter
    source, vocabulary note, seconds taken and whether an earlier file was reused. Raises FileNotFoundError
    without a llama.cpp source and ConversionError when the converter fails."""
    checkpoint = Path(checkpoint).resolve()
    if not (checkpoint / STAMP).is_file():
        raise ValueError(f"{checkpoint} was not written by bench/peers/write_checkpoint.py (no {STAMP})")
    outtype = outtype or checkpoint_outtype(checkpoint)
    if outtype not in OUTTYPES:
        raise ValueError(f"outtype {outtype!r}: one of {', '.join(OUTTYPES)}")
    root = converter_root()
    source = (root / "VIBESERVE_SOURCE").read_text().strip() if (root / "VIBESERVE_SOURCE").is_file() else str(root)
    written_from = json.loads((checkpoint / STAMP).read_text())
    arch = written_from["arch"]
    out = gguf_path(checkpoint, outtype)
    stamp_path = out.with_name(out.name + ".json")
    command = converter_command(root, checkpoint, outtype, out, arch)
    info = {
        "path": str(out),
        "outtype": outtype,
        "command": shlex.join(command),
        "converter_source": source,
        "vocabulary": (
            "the checkpoint's <tN> vocabulary, read by the converter as a Llama tokenizer"
            + (" (for GPT-2 in place of its hash-recognized GPT-2 BPE; see write_gguf.py)" if arch == "gpt2" else "")
        ),
    }
    stamp = {"checkpoint": written_from, "outtype": outtype, "converter_source": source}
    if out.is_file() and stamp_path.is_file() and json.loads(stamp_path.read_text()).get("stamp") == stamp:
        return {**info, **json.loads(stamp_path.read_text())["written"], "reused": True}

    partial = out.with_name(out.name + ".partial")
    partial.unlink(missing_ok=True)
    t0 = time.perf_counter()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.pop("NO_LOCAL_GGUF", None)  # the converter's own gguf-py, not the installed gguf package
    try:
        p = subprocess.run(
            converter_command(root, checkpoint, outtype, partial, arch),
            capture_output=True,
            text=True,
            env=env,
            timeout=TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as e:
        partial.unlink(missing_ok=True)
        raise ConversionError(f"{CONVERTER} ran past {TIMEOUT_S}s", info["command"], _tail(e.stderr)) from None
    if p.returncode != 0 or not partial.is_file():
        partial.unlink(missing_ok=True)
        raise ConversionError(f"{CONVERTER} exited with code {p.returncode}", info["command"], _tail(p.stderr))
    partial.rename(out)
    written = {"seconds": round(time.perf_counter() - t0, 1), "bytes": out.stat().st_size}
    stamp_path.write_text(json.dumps({"stamp": stamp, "written": written, "command": info["command"]}, indent=1))
    return {**info, **written, "reused": False}


def _tail(text: str | bytes | None, lines: int = 6) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    kept = [line for line in (text or "").strip().splitlines() if line.strip()]
    return " | ".join(kept[-lines:]) or "(no output)"


def _convert_gpt2_with_llama_vocabulary(converter: str, argv: list[str]) -> None:
    """Run llama.cpp's converter as its own command line does, but with GPT-2's vocabulary read as a Llama's."""
    import runpy

    root = str(Path(converter).resolve().parent)
    sys.path[:0] = [root, str(Path(root) / "gguf-py")]  # what the converter itself puts first: its tree, its gguf-py
    from conversion.gpt2 import GPT2Model  # pyright: ignore[reportMissingImports]  (llama.cpp's tree, on the path above)

    GPT2Model.set_vocab = lambda self: self._set_vocab_llama_hf()
    sys.argv = [converter, *argv]
    runpy.run_path(converter, run_name="__main__")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [GPT2_VOCABULARY]:
        _convert_gpt2_with_llama_vocabulary(argv[1], argv[2:])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", required=True, help="a directory written by bench/peers/write_checkpoint.py")
    ap.add_argument("--outtype", choices=OUTTYPES, help="default: the checkpoint's dtype")
    args = ap.parse_args(argv)
    try:
        info = write_gguf(args.checkpoint, args.outtype)
    except (FileNotFoundError, ConversionError) as e:
        print(json.dumps({"event": "error", "error": str(e)}))
        return 1
    print(json.dumps({"event": "gguf", **info}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
