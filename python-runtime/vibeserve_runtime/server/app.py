"""The FastAPI application: /v1/completions, /v1/chat/completions, /v1/models, /health, /metrics, and
vLLM's /tokenize, /detokenize, /tokenizer_info. Every error, unknown paths and methods included, has
OpenAI's shape {"error": {"message", "type", "param", "code"}}."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response, StreamingResponse
from starlette.exceptions import HTTPException

from ..components.structured_output.json_schema_grammar import compile_json_schema
from ..types import SamplingParams
from .async_engine import AsyncEngine
from .auth import ApiKeyMiddleware
from .chat import render_chat
from .choice import Choice, run_choice
from .choice_output import ChoiceOutput, usage_of
from .merged_streams import MergedStreams
from .metrics import ServerMetrics
from .process_core import ProcessCore
from .protocol import APIError, ChatRequest, CompletionRequest, _Sampling, error_response
from .thread_core import ThreadCore
from .tokenizer_routes import add_tokenizer_routes
from .unsupported import refuse_unsupported


def create_app(engine, model_name: str, api_key: str | None = None, max_queue: int = 256) -> FastAPI:
    """engine: the engine process's handle (process_core.ProcessCore, as `serve` starts it), or an
    Engine built in this process, whose core then runs in a thread (thread_core.ThreadCore)."""
    core = engine if isinstance(engine, (ProcessCore, ThreadCore)) else ThreadCore(engine)
    info = core.info
    aengine = AsyncEngine(core, max_in_flight=info.max_batch_size + max_queue)
    metrics = ServerMetrics(aengine)
    tok = info.tokenizer
    vocab = info.vocab_size
    max_model_len = info.max_model_len

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        await aengine.start()
        yield
        await aengine.shutdown()

    app = FastAPI(title="VibeServe", version="0.1.0", lifespan=lifespan)
    app.state.aengine, app.state.metrics = aengine, metrics
    if api_key:
        app.add_middleware(ApiKeyMiddleware, api_key=api_key)

    @app.exception_handler(APIError)
    async def _api_error(_: Request, e: APIError):
        metrics.errors.labels(str(e.status)).inc()
        return e.response()

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, e: HTTPException):
        metrics.errors.labels(str(e.status_code)).inc()
        where = f"{request.method} {request.url.path}"
        message = {404: f"Invalid URL ({where})", 405: f"Method not allowed ({where})"}.get(
            e.status_code, str(e.detail)
        )
        response = error_response(e.status_code, message)
        response.headers.update(e.headers or {})  # 405 keeps its Allow header
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, e: RequestValidationError):
        err = e.errors()[0] if e.errors() else {}
        loc = ".".join(str(x) for x in err.get("loc", ()) if x != "body")
        metrics.errors.labels("400").inc()
        return error_response(
            400,
            f"{loc}: {err.get('msg', 'invalid request')}" if loc else err.get("msg", "invalid request"),
            param=loc or None,
        )

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
        return {
            "object": "list",
            "data": [
                {
                    "id": model_name,
                    "object": "model",
                    "created": int(time.time()),
                    "owned_by": "vibeserve",
                    "max_model_len": max_model_len,
                }
            ],
        }

    def _params(
        body: _Sampling,
        prompt_len: int,
        max_tokens: int | None,
        param: str,
        logprobs: int | None = None,
        prompt_logprobs: int | None = None,
    ) -> SamplingParams:
        if body.model and body.model != model_name:
            raise APIError(
                404,
                f"The model '{body.model}' does not exist; this server serves '{model_name}'.",
                param="model",
                code="model_not_found",
            )
        room = max_model_len - prompt_len
        if prompt_len == 0:
            raise APIError(400, "the prompt is empty", param=param)
        if max_tokens is None:
            max_tokens = max(room, 1)
        if room < 1 or max_tokens > room:
            raise APIError(
                400,
                f"This model's maximum context length is {max_model_len} tokens. However, you "
                f"requested {prompt_len + max_tokens} tokens ({prompt_len} in the {param}, {max_tokens} in "
                "the completion). Please reduce the length of the prompt or completion.",
                param=param,
                code="context_length_exceeded",
            )
        json_schema = body.response_format.schema_to_follow() if body.response_format else None
        if json_schema is not None:
            try:
                compile_json_schema(json_schema)
            except ValueError as e:
                raise APIError(400, str(e), param="response_format") from None
        return SamplingParams(
            max_tokens=max_tokens,
            temperature=body.temperature,
            top_k=max(0, body.top_k),
            top_p=body.top_p,
            seed=body.seed,
            stop=[],
            ignore_eos=body.ignore_eos,
            stop_token_ids=list(body.stop_token_ids or []),
            logprobs=logprobs,
            prompt_logprobs=prompt_logprobs,
            prediction=tok.encode(body.prediction.text()) if body.prediction else None,
            json_schema=json_schema,
        )

    def _prompts(prompt: Any) -> list[tuple[list[int], str]]:
        """The request's prompts as (token ids, the prompt as sent, for echo)."""
        one = isinstance(prompt, str) or (isinstance(prompt, list) and all(isinstance(t, int) for t in prompt))
        out = []
        for p in [prompt] if one else prompt:
            if isinstance(p, str):
                out.append((tok.encode(p), p))
            elif isinstance(p, list) and all(isinstance(t, int) for t in p):
                if any(not 0 <= t < vocab for t in p):
                    raise APIError(400, f"prompt token ids must lie in [0, {vocab})", param="prompt")
                out.append((list(p), tok.decode(p)))
            else:
                raise APIError(400, "prompt must be a string, a list of token ids, or a list of those", param="prompt")
        return out

    def _with_seed(sp: SamplingParams, j: int) -> SamplingParams:
        """Choice j of n: a seeded request stays reproducible, and its n choices still differ."""
        return dataclasses.replace(sp, seed=None if sp.seed is None else sp.seed + j)

    async def _serve(
        http: Request, body: _Sampling, choices: list[Choice], prompt_tokens: int, chat: bool, top_k: int | None
    ):
        rid = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex
        created = int(time.time())
        obj = "chat.completion" if chat else "text_completion"
        outputs = [ChoiceOutput(c, tok, chat, top_k) for c in choices]
        usage = lambda: usage_of(outputs, prompt_tokens, body.prediction is not None)
        stop = body.stop_list()
        merged = MergedStreams([run_choice(aengine, tok, metrics, f"{rid}-{c.index}", c, stop) for c in choices])

        if not body.stream:

            async def collect():
                try:
                    async for i, piece in merged:
                        outputs[i].add(piece)
                finally:
                    await merged.aclose()

            task = asyncio.ensure_future(collect())
            while not task.done():  # a client that hangs up stops its generation
                await asyncio.wait({task}, timeout=0.25)
                if not task.done() and await http.is_disconnected():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                    return Response(status_code=499)
            task.result()
            for o in outputs:
                metrics.requests.labels(o.finish_reason or "length").inc()
            return {
                "id": rid,
                "object": obj,
                "created": created,
                "model": model_name,
                "choices": [o.whole() for o in outputs],
                "usage": usage(),
            }

        # Streaming: every choice's first step comes before the answer, so errors (429, 400) keep their status.
        early: list[tuple[int, Any]] = []
        try:
            while len({i for i, _ in early}) < len(choices):
                early.append(await merged.__anext__())
        except StopAsyncIteration:
            pass
        except BaseException:
            await merged.aclose()
            raise
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        obj += ".chunk" if chat else ""

        def event(choices_: list[dict], usage_: dict | None = None) -> str:
            body_ = {"id": rid, "object": obj, "created": created, "model": model_name, "choices": choices_}
            if include_usage:
                body_["usage"] = usage_
            return f"data: {json.dumps(body_)}\n\n"

        async def sse():
            try:
                if chat:
                    for o in outputs:
                        yield event([o.role_chunk()])
                for i, piece in early:
                    yield event([outputs[i].chunk(piece)])
                async for i, piece in merged:
                    yield event([outputs[i].chunk(piece)])
                for o in outputs:
                    metrics.requests.labels(o.finish_reason or "length").inc()
                if include_usage:
                    yield event([], usage())
                yield "data: [DONE]\n\n"
            except APIError as e:  # failure after the stream began: report it in-band
                yield f"data: {json.dumps({'error': {'message': e.message, 'type': e.type, 'code': e.code}})}\n\n"
            finally:
                await merged.aclose()

        return StreamingResponse(sse(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @app.post("/v1/completions")
    async def completions(body: CompletionRequest, http: Request):
        refuse_unsupported(body)
        max_tokens = 16 if body.max_tokens is None else body.max_tokens  # OpenAI's default
        if max_tokens == 0 and not body.echo:
            raise APIError(
                400,
                "max_tokens=0 generates nothing; it is meant for scoring a prompt with echo=true and logprobs",
                param="max_tokens",
            )
        prompts = _prompts(body.prompt)
        generate = max_tokens != 0
        prompt_logprobs = body.logprobs if body.echo else None
        choices = []
        for p, (ids, text) in enumerate(prompts):
            sp = _params(body, len(ids), max_tokens if generate else 1, "prompt", body.logprobs, prompt_logprobs)
            choices += [
                Choice(p * body.n + j, ids, _with_seed(sp, j), text if body.echo else None, generate)
                for j in range(body.n)
            ]
        return await _serve(http, body, choices, sum(len(ids) for ids, _ in prompts), chat=False, top_k=body.logprobs)

    @app.post("/v1/chat/completions")
    async def chat_completions(body: ChatRequest, http: Request):
        refuse_unsupported(body)
        if body.top_logprobs is not None and not body.logprobs:
            raise APIError(400, "top_logprobs needs logprobs=true", param="top_logprobs")
        prompt = render_chat(tok, [m.model_dump() for m in body.messages])
        ids = tok.encode(prompt)
        top_k = (body.top_logprobs or 0) if body.logprobs else None
        sp = _params(body, len(ids), body.max_completion_tokens or body.max_tokens, "messages", top_k)
        choices = [Choice(j, ids, _with_seed(sp, j)) for j in range(body.n)]
        return await _serve(http, body, choices, len(ids), chat=True, top_k=top_k)

    add_tokenizer_routes(app, info)
    return app
