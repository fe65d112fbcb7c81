"""Chat messages → prompt text: the tokenizer's own Jinja chat template, else a plain one."""

from __future__ import annotations

from typing import Any

PLAIN_TEMPLATE = (
    "{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def _content(c: Any) -> str:
    if isinstance(c, str):
        return c
    if isinstance(c, list):  # content parts: only text is supported by a text model
        return "".join(p.get("text", "") for p in c if isinstance(p, dict) and p.get("type") == "text")
    return "" if c is None else str(c)


def render_chat(tokenizer, messages: list[dict]) -> str:
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    template = getattr(tokenizer, "chat_template", None) or PLAIN_TEMPLATE
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    msgs = [{"role": m.get("role", "user"), "content": _content(m.get("content"))} for m in messages]
    return env.from_string(template).render(
        messages=msgs,
        add_generation_prompt=True,
        bos_token=getattr(tokenizer, "bos_token", "") or "",
        eos_token=getattr(tokenizer, "eos_token", "") or "",
    )
