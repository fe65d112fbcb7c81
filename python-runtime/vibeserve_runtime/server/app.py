"""The FastAPI application: /v1/completions, /v1/chat/completions, /v1/models, /health, /metrics."""
from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from typing import Any, AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse

from ..types import Request as EngineRequest
from ..types import SamplingParams
from .async_engine import AsyncEngine, EngineDead, Overloaded
from .chat import render_chat
from .metrics import ServerMetrics
from .protocol import APIError, ChatRequest, CompletionRequest, _Sampling, error_response
from .text import OutputText


def create_app(engine, model_name: str, api_key: str | None = None, max_queue: int = 256) -> FastAPI:
    max_batch = int(engine.spec.params.get("max_batch_size") or 16)
    aengine = AsyncEngine(engine, max_in_flight=max_batch + max_queue)
    metrics = ServerMetrics(aengine)
    tok = engine.tokenizer
    vocab = engine.meta["vocab_size"]
    @contextlib.asynccontextmanager
    async def lifespan(_app):
        yield
        aengine.shutdown()

    app = FastAPI(title="VibeServe", version="0.1.0", lifespan=lifespan)
    app.state.aengine, app.state.metrics = aengine, metrics

    @app.exception_handler(APIError)
    async def _api_error(_: Request, e: APIError):
        metrics.errors.labels(str(e.status)).inc()
        return e.response()

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, e: RequestValidationError):
        err = e.errors()[0] if e.errors() else {}
        loc = ".".join(str(x) for x in err.get("loc", ()) if x != "body")
        metrics.errors.labels("400").inc()
        return error_response(400, f"{loc}: {err.get('msg', 'invalid request')}" if loc else err.get("msg", "invalid request"),
                              param=loc or None)

    @app.middleware("http")
    async def _auth(request: Request, call_next):
        if api_key and request.url.path.startswith("/v1/"):
            if request.headers.get("authorization", "") != f"Bearer {api_key}":
                return error_response(401, "Incorrect or missing API key: send 'Authorization: Bearer <key>'.",
                                      code="invalid_api_key")
        return await call_next(request)

    @app.get("/health")
    async def health():
        if not aengine.alive:
            return error_response(503, f"engine loop stopped: {aengine.error}", "server_error")
        return {"status": "ok"}

    @app.get("/metrics")
    async def prometheus():
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{"id": model_name, "object": "model", "created": int(time.time()),
                                            "owned_by": "vibeserve", "max_model_len": engine.max_model_len}]}

    def _params(body: _Sampling, prompt_len: int, max_tokens: int | None, param: str) -> SamplingParams:
        if body.model and body.model != model_name:
            raise APIError(404, f"The model '{body.model}' does not exist; this server serves '{model_name}'.",
                           param="model", code="model_not_found")
        if body.n != 1:
            raise APIError(400, "only n=1 is supported", param="n")
        if body.logprobs not in (None, False, 0):
            raise APIError(400, "logprobs are not supported", param="logprobs")
        room = engine.max_model_len - prompt_len
        if prompt_len == 0:
            raise APIError(400, "the prompt is empty", param=param)
        if max_tokens is None:
            max_tokens = max(room, 1)
        if room < 1 or max_tokens > room:
            raise APIError(400, f"This model's maximum context length is {engine.max_model_len} tokens. However, you "
                           f"requested {prompt_len + max_tokens} tokens ({prompt_len} in the {param}, {max_tokens} in "
                           "the completion). Please reduce the length of the prompt or completion.",
                           param=param, code="context_length_exceeded")
        return SamplingParams(max_tokens=max_tokens, temperature=body.temperature, top_k=max(0, body.top_k),
                              top_p=body.top_p, seed=body.seed, stop=[], ignore_eos=body.ignore_eos,
                              stop_token_ids=list(body.stop_token_ids or []))

    def _prompt_ids(prompt: Any) -> list[int]:
        if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], (str, list)):
            prompt = prompt[0]
        if isinstance(prompt, str):
            return tok.encode(prompt)
        if isinstance(prompt, list) and all(isinstance(t, int) for t in prompt):
            if any(not 0 <= t < vocab for t in prompt):
                raise APIError(400, f"prompt token ids must lie in [0, {vocab})", param="prompt")
            return list(prompt)
        raise APIError(400, "prompt must be a string, a list of token ids, or a list with one of those "
                       "(batched prompts are not supported)", param="prompt")

    async def _run(rid: str, ids: list[int], sp: SamplingParams, stop: list[str]) -> AsyncIterator[tuple]:
        """Yields (text delta, finish_reason|None, completion tokens) per engine step."""
        text = OutputText(tok, stop)
        start = time.perf_counter()
        first = True
        n_out = 0
        gen = aengine.generate(EngineRequest(rid, ids, sp))
        try:
            async for out in gen:
                if first:
                    metrics.ttft.observe(time.perf_counter() - start)
                    first = False
                n_out = out.num_output_tokens or n_out + len(out.new_token_ids)
                delta, stopped = text.push(out.new_token_ids, out.finished)
                if stopped and not out.finished:
                    await gen.aclose()   # frees the request's KV blocks now
                    yield delta, "stop", n_out
                    break
                yield delta, (out.finish_reason if out.finished else None), n_out
        except Overloaded as e:
            raise APIError(429, f"The server is at capacity ({e}); retry later.", "rate_limit_error", code="overloaded")
        except EngineDead as e:
            raise APIError(503, f"The engine stopped: {e}", "server_error")
        except ValueError as e:
            raise APIError(400, str(e), param="prompt")
        finally:
            await gen.aclose()   # however this ends (client gone, stop string), the engine lets go
        metrics.e2e.observe(time.perf_counter() - start)
        metrics.prompt_tokens.inc(len(ids))
        metrics.generation_tokens.inc(n_out)

    async def _serve(http: Request, body: _Sampling, ids: list[int], sp: SamplingParams, chat: bool):
        rid = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex
        created = int(time.time())
        obj = "chat.completion" if chat else "text_completion"
        usage = lambda n: {"prompt_tokens": len(ids), "completion_tokens": n, "total_tokens": len(ids) + n}
        stream = _run(rid, ids, sp, body.stop_list())

        if not body.stream:
            async def collect():
                parts, reason, n = [], None, 0
                async for delta, reason, n in stream:
                    parts.append(delta)
                return "".join(parts), reason, n
            task = asyncio.ensure_future(collect())
            while not task.done():   # a client that hangs up stops its generation
                await asyncio.wait({task}, timeout=0.25)
                if not task.done() and await http.is_disconnected():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                    return Response(status_code=499)
            text, reason, n = task.result()
            metrics.requests.labels(reason or "length").inc()
            choice = ({"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None, "finish_reason": reason}
                      if chat else {"index": 0, "text": text, "logprobs": None, "finish_reason": reason})
            return {"id": rid, "object": obj, "created": created, "model": model_name, "choices": [choice], "usage": usage(n)}

        # Streaming: fetch the first step before answering, so errors (429, 400) keep their status.
        try:
            first = await stream.__anext__()
        except StopAsyncIteration:
            first = None
        include_usage = bool(body.stream_options and body.stream_options.include_usage)

        def chunk(delta: str | None, reason: str | None, role: bool = False) -> str:
            if chat:
                d = ({"role": "assistant", "content": ""} if role else {}) | ({"content": delta} if delta is not None else {})
                c = {"index": 0, "delta": d, "logprobs": None, "finish_reason": reason}
            else:
                c = {"index": 0, "text": delta or "", "logprobs": None, "finish_reason": reason}
            body_ = {"id": rid, "object": obj + (".chunk" if chat else ""), "created": created, "model": model_name, "choices": [c]}
            if include_usage:
                body_["usage"] = None
            return f"data: {json.dumps(body_)}\n\n"

        async def sse():
            n, reason = 0, None
            try:
                if chat:
                    yield chunk(None, None, role=True)
                items = [first] if first else []
                for item in items:
                    yield chunk(item[0], item[1])
                    n, reason = item[2], item[1]
                async for delta, reason, n in stream:
                    yield chunk(delta, reason)
                metrics.requests.labels(reason or "length").inc()
                if include_usage:
                    yield f"data: {json.dumps({'id': rid, 'object': obj + ('.chunk' if chat else ''), 'created': created, 'model': model_name, 'choices': [], 'usage': usage(n)})}\n\n"
                yield "data: [DONE]\n\n"
            except APIError as e:   # failure after the stream began: report it in-band
                yield f"data: {json.dumps({'error': {'message': e.message, 'type': e.type, 'code': e.code}})}\n\n"
            finally:
                await stream.aclose()

        return StreamingResponse(sse(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @app.post("/v1/completions")
    async def completions(body: CompletionRequest, http: Request):
        if body.echo or body.suffix:
            raise APIError(400, "echo and suffix are not supported", param="echo" if body.echo else "suffix")
        ids = _prompt_ids(body.prompt)
        sp = _params(body, len(ids), body.max_tokens or 16, "prompt")
        return await _serve(http, body, ids, sp, chat=False)

    @app.post("/v1/chat/completions")
    async def chat_completions(body: ChatRequest, http: Request):
        prompt = render_chat(tok, [m.model_dump() for m in body.messages])
        ids = tok.encode(prompt)
        sp = _params(body, len(ids), body.max_completion_tokens or body.max_tokens, "messages")
        return await _serve(http, body, ids, sp, chat=True)

    return app
