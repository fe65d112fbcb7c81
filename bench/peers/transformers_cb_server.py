"""transformers' own continuous batching (paged attention) behind a small OpenAI-compatible HTTP server.

The model runs in transformers' ContinuousBatchingManager with the defaults transformers picks for this model
and device (attention implementation, KV block size and count, batch token budget, CUDA graphs); what it picked
is printed at startup and returned by /v1/models. Decoding is greedy: the manager samples with one generation
config for all requests, and the comparison runs at temperature 0.

    python bench/peers/transformers_cb_server.py --model DIR --port 8001 [--dtype bfloat16] [--device cuda]

Endpoints: GET /health, GET /v1/models, POST /v1/completions (`prompt` as token ids or a string, `max_tokens`,
`temperature` 0, `ignore_eos`, `stream` with `stream_options.include_usage`, `return_token_ids`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from pathlib import Path

from aiohttp import web
from tokenizers.decoders import DecodeStream

DEFAULT_MAX_TOKENS = 16  # the OpenAI completions default


class CompletionError(Exception):
    """A request the server refuses, answered with this HTTP status."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class ContinuousBatchingModel:
    """A model, its tokenizer and the running transformers continuous batching manager."""

    def __init__(self, model_dir: str, dtype: str, device: str, attn_implementation: str | None, cb_overrides: dict):
        import torch
        import transformers
        from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig
        from transformers.generation.configuration_utils import ContinuousBatchingConfig

        self.name = Path(model_dir).name
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        load = {"dtype": getattr(torch, dtype)}
        if attn_implementation:
            load["attn_implementation"] = attn_implementation
        self.model = AutoModelForCausalLM.from_pretrained(model_dir, **load).to(device).eval()
        text_config = self.model.config.get_text_config()
        self.max_model_len = getattr(text_config, "max_position_embeddings", None) or getattr(
            text_config, "n_positions"
        )
        self.vocab_size = text_config.vocab_size

        generation = GenerationConfig.from_model_config(self.model.config)
        if Path(model_dir, "generation_config.json").is_file():
            generation = GenerationConfig.from_pretrained(model_dir)
        generation.do_sample = False
        generation.max_new_tokens = DEFAULT_MAX_TOKENS
        cb_config = ContinuousBatchingConfig(**cb_overrides)
        self.manager = self.model.init_continuous_batching(
            generation_config=generation, continuous_batching_config=cb_config
        )
        # as transformers' own continuous_batching_context_manager does: build the paged cache (and capture CUDA
        # graphs when it chose them) before the first request, then start the generation thread
        self.manager.warmup()
        self.manager.start()
        resolved = self.manager.continuous_batching_config
        self.chosen = {
            "transformers": transformers.__version__,
            "torch": torch.__version__,
            "device": str(self.model.device),
            "dtype": str(self.model.dtype).removeprefix("torch."),
            "attn_implementation": self.model.config._attn_implementation,
            "block_size": resolved.block_size,
            "num_blocks": resolved.num_blocks,
            "max_batch_tokens": resolved.max_batch_tokens,
            "max_requests_per_batch": resolved.max_requests_per_batch,
            "max_memory_percent": resolved.max_memory_percent,
            "decode_fast_path_max_blocks_per_request": resolved.max_blocks_per_request,
            "use_cuda_graph": list(resolved.use_cuda_graph),
            "use_async_batching": resolved.use_async_batching,
            "compiled": [resolved.varlen_compile_config is not None, resolved.decode_compile_config is not None],
            "prefix_sharing": getattr(self.manager, "_use_prefix_sharing", None),
            "scheduler": resolved.scheduler_type,
            "do_sample": False,
            "max_model_len": self.max_model_len,
        }

    def healthy(self) -> bool:
        return self.manager.is_running() and self.manager.background_thread_status.fatal_error is None

    def prompt_ids(self, prompt) -> list[int]:
        if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], (list, str)):
            prompt = prompt[0]  # a batch of one
        if isinstance(prompt, str):
            return self.tokenizer.encode(prompt)
        if isinstance(prompt, list) and prompt and all(isinstance(t, int) for t in prompt):
            bad = [t for t in prompt if not 0 <= t < self.vocab_size]
            if bad:
                raise CompletionError(
                    400, f"prompt: token ids {bad[:5]} are outside the vocabulary [0, {self.vocab_size})"
                )
            return prompt
        raise CompletionError(
            400, "prompt: expected a non-empty list of token ids or a string (one prompt per request)"
        )

    def submit(
        self, request_id: str, ids: list[int], max_tokens: int, ignore_eos: bool, streaming: bool, on_output
    ) -> None:
        """Start one request; `on_output(GenerationOutput)` is called on the event loop as tokens arrive."""
        if not self.healthy():
            raise CompletionError(
                503, f"the continuous batching loop is not running: {self.manager.background_thread_status.fatal_error}"
            )
        # registered before the request is queued, so a fast first output cannot miss its handler
        self.manager.register_result_handler(request_id, on_output)
        # a negative EOS id matches no token: transformers' per-request way to generate exactly max_new_tokens
        queued = self.manager.add_request(
            ids,
            request_id=request_id,
            max_new_tokens=max_tokens,
            streaming=streaming,
            eos_token_id=-1 if ignore_eos else None,
        )
        if queued is None:
            raise CompletionError(503, "the continuous batching manager is stopping and takes no new requests")

    def cancel(self, request_id: str) -> None:
        self.manager.cancel_request(request_id)

    def stop(self) -> None:
        self.manager.stop(block=True, timeout=10)


def parse_completion_request(body: dict, model: ContinuousBatchingModel) -> dict:
    if not isinstance(body, dict):
        raise CompletionError(400, "the request body must be a JSON object")
    ids = model.prompt_ids(body.get("prompt"))
    max_tokens = body.get("max_tokens")
    max_tokens = DEFAULT_MAX_TOKENS if max_tokens is None else max_tokens
    if not isinstance(max_tokens, int) or max_tokens < 1:
        raise CompletionError(400, "max_tokens: expected a positive integer")
    if len(ids) + max_tokens > model.max_model_len:
        raise CompletionError(
            400,
            f"prompt ({len(ids)} tokens) + max_tokens ({max_tokens}) exceeds the model's "
            f"{model.max_model_len} positions",
        )
    temperature = body.get("temperature")
    if temperature not in (None, 0, 0.0):
        raise CompletionError(
            400,
            "temperature: this server decodes greedily (continuous batching applies one "
            "sampling configuration to every request); send 0",
        )
    if (body.get("n") or 1) != 1:
        raise CompletionError(400, "n: only one completion per request")
    # a constraint it cannot enforce is refused, not ignored (that would time other work than asked);
    # `prediction` is only a hint (the answer is the same without it), so it is accepted and not used
    if (body.get("response_format") or {}).get("type", "text") != "text":
        raise CompletionError(400, "response_format: transformers' continuous batching has no constrained decoding")
    stream = bool(body.get("stream", False))
    return {
        "ids": ids,
        "max_tokens": max_tokens,
        "ignore_eos": bool(body.get("ignore_eos", False)),
        "stream": stream,
        "return_token_ids": bool(body.get("return_token_ids", False)),
        "include_usage": stream and bool((body.get("stream_options") or {}).get("include_usage", False)),
        "model": body.get("model") or model.name,
    }


def _finish_reason(output, max_tokens: int) -> str:
    return "length" if len(output.generated_tokens) >= max_tokens else "stop"


def _usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _sse(payload) -> bytes:
    return b"data: " + (payload if isinstance(payload, bytes) else json.dumps(payload).encode()) + b"\n\n"


async def completions(request: web.Request) -> web.StreamResponse:
    model: ContinuousBatchingModel = request.app["model"]
    try:
        try:
            body = await request.json()
        except json.JSONDecodeError as e:
            raise CompletionError(400, f"the request body is not JSON: {e}")
        req = parse_completion_request(body, model)
        request_id = f"cmpl-{uuid.uuid4().hex}"
        outputs: asyncio.Queue = asyncio.Queue()
        model.submit(request_id, req["ids"], req["max_tokens"], req["ignore_eos"], req["stream"], outputs.put_nowait)
    except CompletionError as e:
        return web.json_response(
            {"error": {"message": str(e), "type": "invalid_request_error", "code": e.status}}, status=e.status
        )

    created = int(time.time())
    head = {"id": request_id, "object": "text_completion", "created": created, "model": req["model"]}
    rust_tokenizer = model.tokenizer._tokenizer
    decoder = DecodeStream(skip_special_tokens=True)
    sent = 0
    finished = False
    try:
        if not req["stream"]:
            output = await outputs.get()
            finished = True
            if output.error is not None:
                return web.json_response(
                    {"error": {"message": output.error, "type": "server_error", "code": 500}}, status=500
                )
            tokens = output.generated_tokens
            choice = {
                "index": 0,
                "text": model.tokenizer.decode(tokens, skip_special_tokens=True),
                "finish_reason": _finish_reason(output, req["max_tokens"]),
                "logprobs": None,
            }
            if req["return_token_ids"]:
                choice["token_ids"] = tokens
            return web.json_response({**head, "choices": [choice], "usage": _usage(len(req["ids"]), len(tokens))})

        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        while not finished:
            output = await outputs.get()
            finished = output.is_finished()
            if output.error is not None:
                await response.write(_sse({"error": {"message": output.error, "type": "server_error", "code": 500}}))
                break
            # each output carries every token so far; the chunk holds the ones not sent yet
            new = output.generated_tokens[sent:]
            sent += len(new)
            if not new and not finished:
                continue
            text = "".join(piece for t in new if (piece := decoder.step(rust_tokenizer, t)) is not None)
            choice = {
                "index": 0,
                "text": text,
                "logprobs": None,
                "finish_reason": _finish_reason(output, req["max_tokens"]) if finished else None,
            }
            if req["return_token_ids"]:
                choice["token_ids"] = new
            await response.write(_sse({**head, "choices": [choice]}))
        if req["include_usage"]:
            await response.write(_sse({**head, "choices": [], "usage": _usage(len(req["ids"]), sent)}))
        await response.write(_sse(b"[DONE]"))
        await response.write_eof()
        return response
    except ConnectionResetError:  # the client closed the stream
        return response
    finally:
        if not finished:  # the client went away: free the request's KV blocks
            model.cancel(request_id)


async def health(request: web.Request) -> web.Response:
    model: ContinuousBatchingModel = request.app["model"]
    return web.Response(status=200 if model.healthy() else 503)


async def models(request: web.Request) -> web.Response:
    model: ContinuousBatchingModel = request.app["model"]
    return web.json_response(
        {
            "object": "list",
            "data": [
                {
                    "id": model.name,
                    "object": "model",
                    "owned_by": "transformers",
                    "max_model_len": model.max_model_len,
                    "engine": model.chosen,
                }
            ],
        }
    )


def build_app(model: ContinuousBatchingModel) -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app["model"] = model
    app.router.add_get("/health", health)
    app.router.add_get("/v1/models", models)
    app.router.add_post("/v1/completions", completions)
    return app


async def serve(model: ContinuousBatchingModel, host: str, port: int) -> None:
    runner = web.AppRunner(build_app(model), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    print(json.dumps({"event": "ready", "url": f"http://{host}:{bound}", "engine": model.chosen}), flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="a Hugging Face model directory")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8001, help="0 picks a free port (the ready line says which)")
    ap.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    ap.add_argument("--device", default="cuda")
    ap.add_argument(
        "--attn-implementation",
        default=None,
        help="passed to from_pretrained; by default transformers picks it (paged|sdpa without flash-attn)",
    )
    # transformers sizes these from free device memory; a CPU run states them, as free host memory is no budget
    ap.add_argument("--block-size", type=int, default=None)
    ap.add_argument("--num-blocks", type=int, default=None)
    ap.add_argument("--max-batch-tokens", type=int, default=None)
    args = ap.parse_args(argv)
    overrides = {
        k: v
        for k, v in {
            "block_size": args.block_size,
            "num_blocks": args.num_blocks,
            "max_batch_tokens": args.max_batch_tokens,
        }.items()
        if v is not None
    }
    model = ContinuousBatchingModel(args.model, args.dtype, args.device, args.attn_implementation, overrides)
    try:
        asyncio.run(serve(model, args.host, args.port))
    except KeyboardInterrupt:
        pass
    finally:
        model.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
