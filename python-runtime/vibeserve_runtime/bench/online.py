"""Online load generator against any OpenAI-compatible server (vLLM's benchmark_serving semantics).

Requests stream (SSE) with `stream_options.include_usage`; output and prompt tokens are taken from
the final usage chunk. Prompts go as token-id arrays to /v1/completions (exact lengths, as vLLM's
random dataset), or as text to /v1/chat/completions.
"""
from __future__ import annotations

import asyncio
import json
import time

import httpx

from .metrics import RequestRecord
from .workload import BenchRequest


async def _one(client: httpx.AsyncClient, url: str, model: str, req: BenchRequest, endpoint: str,
               headers: dict) -> RequestRecord:
    rec = RequestRecord(prompt_tokens=len(req.prompt_token_ids))
    body = {"model": model, "max_tokens": req.max_tokens, "temperature": 0.0, "stream": True,
            "stream_options": {"include_usage": True}, "ignore_eos": True}
    if endpoint == "chat":
        body["messages"] = [{"role": "user", "content": " ".join(f"w{t}" for t in req.prompt_token_ids)}]
        path = "/v1/chat/completions"
    else:
        body["prompt"] = req.prompt_token_ids
        path = "/v1/completions"
    start = last = time.perf_counter()
    try:
        async with client.stream("POST", url.rstrip("/") + path, json=body, headers=headers) as resp:
            if resp.status_code != 200:
                rec.error = f"HTTP {resp.status_code}: {(await resp.aread()).decode(errors='replace')[:200]}"
                return rec
            async for line in resp.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                chunk = json.loads(data)
                now = time.perf_counter()
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
    except (httpx.HTTPError, json.JSONDecodeError) as e:
        rec.error = f"{type(e).__name__}: {e}"
    return rec


async def run_online(url: str, model: str, reqs: list[BenchRequest], arrivals: list[float],
                     max_concurrency: int | None, endpoint: str = "completions", api_key: str | None = None,
                     timeout_s: float = 600.0) -> tuple[list[RequestRecord], float]:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    sem = asyncio.Semaphore(max_concurrency) if max_concurrency else None
    limits = httpx.Limits(max_connections=max_concurrency or len(reqs) or 1, max_keepalive_connections=64)
    async with httpx.AsyncClient(timeout=httpx.Timeout(timeout_s), limits=limits) as client:
        t0 = time.perf_counter()

        async def fire(req, at):
            await asyncio.sleep(max(0.0, at - (time.perf_counter() - t0)))
            if sem is None:
                return await _one(client, url, model, req, endpoint, headers)
            async with sem:
                return await _one(client, url, model, req, endpoint, headers)

        recs = await asyncio.gather(*(fire(r, a) for r, a in zip(reqs, arrivals)))
        return list(recs), time.perf_counter() - t0


async def first_model(url: str, api_key: str | None = None) -> str:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.get(url.rstrip("/") + "/v1/models", headers=headers)
        r.raise_for_status()
        return r.json()["data"][0]["id"]
