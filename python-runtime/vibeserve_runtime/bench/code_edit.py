"""The code-edit workload (workload dataset "code_edit"): real Python source from the standard
library of the Python that runs the benchmark, each request a chat asking for a small edit of one
piece of it, with that piece as the request's prediction (OpenAI's predicted outputs: the client
knows the answer is mostly the file it sent).

A request: a function of a standard-library module, from its `def` line on, whole lines while
they fit (the prompt within input_len tokens, the code within output_len - 16); the instruction
renames the function; max_tokens is the prediction's length plus a few tokens (an edit changes
little). Prompts go through the tokenizer's chat template, so they are the model's real input. The
same seed gives the same requests on every machine with the same Python version.
"""

from __future__ import annotations

import random
import re
import sysconfig
from pathlib import Path

# pure-Python modules present in every CPython 3.9+
MODULES = (
    "textwrap",
    "bisect",
    "heapq",
    "shlex",
    "fnmatch",
    "glob",
    "colorsys",
    "calendar",
    "difflib",
    "fractions",
    "statistics",
    "string",
    "queue",
    "sched",
    "ipaddress",
    "pprint",
    "reprlib",
    "tokenize",
    "uuid",
    "netrc",
    "configparser",
    "gettext",
    "copy",
    "dataclasses",
    "functools",
    "random",
    "shutil",
    "tempfile",
    "zipapp",
    "csv",
    "base64",
    "quopri",
    "optparse",
    "argparse",
    "json/encoder",
    "json/decoder",
    "logging/handlers",
    "email/utils",
    "http/cookies",
    "urllib/parse",
)
_DEF = re.compile(r"^(\s*)def (\w+)\(")
CODE_ROOM = 16  # output tokens beyond the code: the fences, the renamed name
EXTRA_TOKENS = 8  # max_tokens past the prediction's length


def _sources() -> list[tuple[str, list[str]]]:
    root = Path(sysconfig.get_paths()["stdlib"])
    out = []
    for m in MODULES:
        p = root / f"{m}.py"
        if p.is_file():
            out.append((m, p.read_text(encoding="utf-8").splitlines()))
    if not out:
        raise FileNotFoundError(f"no standard-library sources under {root} for the code_edit workload")
    return out


_cache: list | None = None


def sources() -> list[tuple[str, list[str]]]:
    global _cache
    if _cache is None:
        _cache = _sources()
    return _cache


def _prompt(tokenizer, instruction: str, code: str) -> str:
    from ..server.chat import render_chat  # the chat template the server applies

    user = f"{instruction} Reply with the complete edited code only.\n\n```python\n{code}\n```"
    return render_chat(tokenizer, [{"role": "user", "content": user}])


def code_edit_request(tokenizer, rng: random.Random, input_len: int, output_len: int):
    """(prompt ids, max tokens, prediction ids) of one request."""
    files = sources()
    while True:
        name, lines = files[rng.randrange(len(files))]
        defs = [(i, m) for i, line in enumerate(lines) if (m := _DEF.match(line))]
        if defs:
            break
    start, m = defs[rng.randrange(len(defs))]
    indent, func = len(m.group(1)), m.group(2)
    new = f"{func.lstrip('_') or func}_v2"
    instruction = f"Rename the function `{func}` to `{new}` (from {name}.py)."
    # a method is dedented to its def's level; lines indented less (the class goes on) end the piece
    body = []
    for ln in lines[start : start + 200]:
        if ln.strip() and len(ln) - len(ln.lstrip()) < indent:
            break
        body.append(ln[indent:])
    # the longest run of whole lines that fits (binary search over the number of lines)
    lo, hi, best = 1, len(body), None
    while lo <= hi:
        mid = (lo + hi) // 2
        code = "\n".join(body[:mid]).rstrip()
        prediction = tokenizer.encode(f"```python\n{code}\n```")
        prompt = tokenizer.encode(_prompt(tokenizer, instruction, code))
        if len(prompt) <= input_len and len(prediction) <= output_len - CODE_ROOM:
            best, lo = (prompt, prediction), mid + 1
        else:
            hi = mid - 1
    if best is None:
        raise ValueError(
            f"code_edit: input_len={input_len} / output_len={output_len} leave no room for one line "
            "of code; give the workload at least 256 input and 64 output tokens"
        )
    prompt, prediction = best
    return prompt, min(output_len, len(prediction) + EXTRA_TOKENS), prediction
