"""Online load generator against any OpenAI-compatible server (vLLM's benchmark_serving semantics).

Requests stream (SSE) with `stream_options.include_usage`; output and prompt tokens are taken from
the final usage chunk. Prompts go as token-id arrays to /v1/completions (exact lengths, as vLLM's
random dataset), or as text to /v1/chat/completions. The client is aiohttp, as in vLLM's own
benchmark: at hundreds of streams a slower client would measure itself instead of the server.
"""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp

from .metrics import RequestRecord
from .workload import BenchRequest


def request_body(model: str, req: BenchRequest, endpoint: str) -> tuple[str, dict]:
    """The path and JSON body of one benchmark request: greedy; a random prompt's every output token
    forced (`ignore_eos`), a real-text request ending where it ends, with its prediction (OpenAI's
    `prediction`) or its JSON schema (`response_format`) as the workload gives them."""
    body: dict = {
        "model": model,
        "max_tokens": req.max_tokens,
        "temperature": 0.0,
        "stream": True,
        "stream_options": {"include_usage": True},
        "ignore_eos": not req.stop_at_eos,
    }
    if req.prediction_text is not None:
        body["prediction"] = {"type": "content", "content": req.prediction_text}
    if req.json_schema is not None:
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "record", "schema": req.json_schema, "strict": True},
        }
    if endpoint == "chat":
        body["messages"] = [{"role": "user", "content": " ".join(f"w{t}" for t in req.prompt_token_ids)}]
        return "/v1/chat/completions", body
    body["prompt"] = req.prompt_token_ids
    return "/v1/completions", body


async def _one(
    session: aiohttp.ClientSession, url: str, model: str, req: BenchRequest, endpoint: str, headers: dict
) -> RequestRecord:
    """One request; sent again, on a new connection, if the server had closed the reused keep-alive
    connection before answering (llama.cpp's HTTP server closes idle ones after a few seconds), as
    HTTP clients do. The pool may hold more such connections, so the second try does not use it."""
    rec = await _attempt(session, url, model, req, endpoint, headers)
    if rec.error and rec.error.startswith(_STALE_CONNECTION) and rec.ttft_s == 0.0:
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(force_close=True), timeout=session.timeout
        ) as fresh:
            rec = await _attempt(fresh, url, model, req, endpoint, headers)
    return rec


# what a write to, or a read from, a connection the server has closed raises
_STALE_CONNECTION = ("ServerDisconnectedError", "ClientOSError")


async def _attempt(
    session: aiohttp.ClientSession, url: str, model: str, req: BenchRequest, endpoint: str, headers: dict
) -> RequestRecord:
    rec = RequestRecord(prompt_tokens=len(req.prompt_token_ids))
    path, body = request_body(model, req, endpoint)
    start = last = time.perf_counter()
    try:
        async with session.post(url.rstrip("/") + path, json=body, headers=headers) as resp:
            if resp.status != 200:
                rec.error = f"HTTP {resp.status}: {(await resp.text(errors='replace'))[:200]}"
                return rec
            buffer = b""
            async for piece in resp.content.iter_any():
                buffer += piece
                # SSE events end with a blank line; a network read may hold several, or half of one
                *events, buffer = buffer.split(b"\n\n")
                now = time.perf_counter()
                for event in events:
                    for line in event.splitlines():
                        if not line.startswith(b"data:"):
                            continue
                        data = line[5:].strip()
                        if data == b"[DONE]":
                            continue
                        chunk = json.loads(data)
                        if chunk.get("choices"):
                            if rec.ttft_s == 0.0:
                                rec.ttft_s = now - start
                            else:
                                rec.itl_s.append(now - last)
                            last = now
                        if chunk.get("usage"):
                            rec.output_tokens = chunk["usage"].get("completion_tokens", 0)
                            rec.prompt_tokens = chunk["usage"].get("prompt_tokens", rec.prompt_tokens)
        rec.e2el_s = time.perf_counter() - start
        rec.success = rec.ttft_s > 0
        if not rec.success:
            rec.error = "the stream ended without any token"
    except (aiohttp.ClientError, asyncio.TimeoutError, json.JSONDecodeError) as e:
        rec.error = f"{type(e).__name__}: {e}"
    return rec


async def run_online(
    url: str,
    model: str,
    reqs: list[BenchRequest],
    arrivals: list[float],
    max_concurrency: int | None,
    endpoint: str = "completions",
    api_key: str | None = None,
    timeout_s: float = 600.0,
) -> tuple[list[RequestRecord], float]:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    sem = asyncio.Semaphore(max_concurrency) if max_concurrency else None
    connector = aiohttp.TCPConnector(limit=max_concurrency or len(reqs) or 1, force_close=False)
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        t0 = time.perf_counter()

        async def fire(req, at):
            await asyncio.sleep(max(0.0, at - (time.perf_counter() - t0)))
            if sem is None:
                return await _one(session, url, model, req, endpoint, headers)
            async with sem:
                return await _one(session, url, model, req, endpoint, headers)

        recs = await asyncio.gather(*(fire(r, a) for r, a in zip(reqs, arrivals)))
        return list(recs), time.perf_counter() - t0


async def first_model(url: str, api_key: str | None = None) -> str:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        async with session.get(url.rstrip("/") + "/v1/models", headers=headers) as r:
            r.raise_for_status()
            return (await r.json())["data"][0]["id"]
