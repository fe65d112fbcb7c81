"""The server's engine core in a process of its own (server/engine_process.py, process_core.py):
every request's tokens arrive whole and in order across many concurrent requests, a reader that
leaves aborts its request, an engine process that dies fails the requests in flight (and the
health check) instead of hanging them, and the engine process never outlives its server."""

import asyncio
import os
import signal
import time

import httpx
import openai
import pytest

from runtime_stacks import TINY_LLAMA, Server, materialize
from vibeserve_runtime.server.async_engine import AsyncEngine, EngineDead
from vibeserve_runtime.server.process_core import ProcessCore
from vibeserve_runtime.server.request_stream import MAX_SEPARATE_STEPS, RequestStream
from vibeserve_runtime.server.thread_core import ThreadCore
from vibeserve_runtime.types import Request, SamplingParams, StepOutput


class CountingEngine:
    """An engine whose request i emits tokens base+0, base+1, ... one per step (base = 1000 * i):
    whatever reaches a reader out of order, twice or not at all shows in its ids."""

    def __init__(self, max_batch: int = 8):
        self.tokenizer, self.meta, self.max_model_len = None, {"vocab_size": 10**6}, 4096
        self.spec = type("Spec", (), {"params": {"max_batch_size": max_batch}})()
        self.max_batch = max_batch
        self.running: dict[str, list] = {}  # id -> [next token, tokens left]
        self.waiting: list[Request] = []
        self.queued: list[StepOutput] = []

    def add_request(self, r: Request) -> None:
        if not r.prompt_token_ids:
            raise ValueError("prompt is empty")
        self.waiting.append(r)

    def abort_request(self, rid: str) -> bool:
        self.waiting = [r for r in self.waiting if r.request_id != rid]
        if self.running.pop(rid, None) is None:
            return False
        self.queued.append(StepOutput(rid, [], True, "abort"))
        return True

    def has_unfinished_requests(self) -> bool:
        return bool(self.running or self.waiting or self.queued)

    def step(self) -> list[StepOutput]:
        outs, self.queued = self.queued, []
        while self.waiting and len(self.running) < self.max_batch:
            r = self.waiting.pop(0)
            self.running[r.request_id] = [r.prompt_token_ids[0] * 1000, r.params.max_tokens]
        for rid, st in list(self.running.items()):
            tok, st[0], st[1] = st[0], st[0] + 1, st[1] - 1
            done = st[1] == 0
            outs.append(StepOutput(rid, [tok], done, "length" if done else None, 1, tok % 1000 + 1))
            if done:
                del self.running[rid]
        time.sleep(0.001)
        return outs

    def stats(self) -> dict:
        return {"num_running": len(self.running), "num_waiting": len(self.waiting)}


async def _collect(aengine: AsyncEngine, i: int, n: int, slow: bool = False) -> list[int]:
    ids: list[int] = []
    async for out in aengine.generate(Request(f"r{i}", [i], SamplingParams(max_tokens=n))):
        ids += out.new_token_ids
        if slow:
            await asyncio.sleep(0.01)  # lags behind the engine: gets several tokens per read
    return ids


def test_tokens_of_many_concurrent_requests_arrive_whole_and_in_order():
    async def main():
        aengine = AsyncEngine(ThreadCore(CountingEngine(max_batch=16)), max_in_flight=1000)
        await aengine.start()
        try:
            got = await asyncio.gather(*(_collect(aengine, i, 40, slow=i % 3 == 0) for i in range(1, 101)))
        finally:
            await aengine.shutdown()
        assert aengine.in_flight == 0
        return got

    got = asyncio.run(main())
    for i, ids in enumerate(got, 1):
        assert ids == list(range(1000 * i, 1000 * i + 40)), f"request {i}"


def test_a_reader_that_keeps_up_gets_one_output_per_step():
    s = RequestStream("x")

    async def step_by_step():
        outs = []
        for t, ids in enumerate(([1], [2, 3]), 1):
            s.put(("x", ids, t == 2, "length" if t == 2 else None, 2 * t - 1, None, None, None))
            outs.append(await s.get())
        return outs

    first, second = asyncio.run(step_by_step())
    assert (first.new_token_ids, second.new_token_ids, second.num_output_tokens) == ([1], [2, 3], 3)


def test_a_lagging_reader_gets_the_steps_beyond_the_bound_merged():
    s = RequestStream("x")
    n = MAX_SEPARATE_STEPS + 5
    for t in range(1, n + 1):
        s.put(("x", [t], t == n, "length" if t == n else None, t, None, None, None))

    async def drain():
        outs = []
        while True:
            outs.append(await s.get())
            if outs[-1].finished:
                return outs

    outs = asyncio.run(drain())
    assert len(outs) == MAX_SEPARATE_STEPS
    assert [t for o in outs for t in o.new_token_ids] == list(range(1, n + 1))
    assert outs[-1].new_token_ids == list(range(MAX_SEPARATE_STEPS, n + 1))
    assert (outs[-1].finish_reason, outs[-1].num_output_tokens) == ("length", n)


def test_a_reader_that_leaves_aborts_and_stays_in_flight_until_the_engine_confirms():
    async def main():
        engine = CountingEngine()
        aengine = AsyncEngine(ThreadCore(engine), max_in_flight=10)
        await aengine.start()
        gen = aengine.generate(Request("r1", [1], SamplingParams(max_tokens=10**6)))
        await gen.__anext__()
        await gen.aclose()
        assert aengine.in_flight <= 1
        for _ in range(200):
            if aengine.in_flight == 0:
                break
            await asyncio.sleep(0.01)
        assert aengine.in_flight == 0 and not engine.running
        assert aengine.num_aborted == 1  # the engine's stats came with its confirmation
        # a refused request is answered with the engine's reason
        with pytest.raises(ValueError, match="prompt is empty"):
            await _collect_raw(aengine, Request("bad", [], SamplingParams(max_tokens=2)))
        await aengine.shutdown()

    asyncio.run(main())


async def _collect_raw(aengine, request):
    return [o async for o in aengine.generate(request)]


# --- the engine process, real -----------------------------------------------------------------
SPEC = {**TINY_LLAMA, "name": "tiny", "params": {"max_model_len": 256, "max_batch_size": 8}}


def test_engine_process_death_fails_requests_in_flight_and_new_ones():
    async def main():
        core = ProcessCore.launch(SPEC, "cpu", None)
        assert core.info.pid == core.proc.pid and core.info.vocab_size > 0
        aengine = AsyncEngine(core, max_in_flight=10)
        await aengine.start()
        first = await _collect_raw(aengine, Request("ok", [5, 6, 7], SamplingParams(max_tokens=4, ignore_eos=True)))
        assert sum(len(o.new_token_ids) for o in first) == 4
        gen = aengine.generate(Request("long", [5, 6, 7], SamplingParams(max_tokens=200, ignore_eos=True)))
        await gen.__anext__()
        os.kill(core.proc.pid, signal.SIGKILL)
        with pytest.raises(EngineDead, match="exited"):
            async with asyncio.timeout(20):
                async for _ in gen:
                    pass
        assert not aengine.alive and aengine.in_flight == 0
        with pytest.raises(EngineDead):
            await _collect_raw(aengine, Request("after", [5], SamplingParams(max_tokens=2)))
        await aengine.shutdown()

    asyncio.run(main())


def test_engine_start_failure_is_raised_under_its_own_name():
    bad = {**SPEC, "params": {**SPEC["params"], "max_model_len": 10**6}}
    with pytest.raises(Exception) as e:
        ProcessCore.launch(bad, "cpu", None)
    assert type(e.value).__name__ in ("ValueError", "VibeError") and "max_model_len" in str(e.value)


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def _gone(pid: int, within_s: float) -> bool:
    deadline = time.time() + within_s
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split()[2] == "Z":  # exited, not yet reaped by its (gone) parent
                    return True
        except (ProcessLookupError, FileNotFoundError):
            return True
        time.sleep(0.1)
    return False


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    return materialize(tmp_path_factory.mktemp("split"), SPEC)


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="reads children from /proc (Linux)")
def test_served_streams_stay_ordered_and_the_engine_dies_with_the_server(stack):
    s = Server(stack, "--max-model-len", "256")
    try:
        [engine_pid] = _children(s.proc.pid)

        async def burst():
            client = openai.AsyncOpenAI(base_url=s.url + "/v1", api_key="x", max_retries=0, timeout=120)
            prompts = [f"prompt number {i}" for i in range(24)]
            kw = dict(model="tiny", max_tokens=24, temperature=0, extra_body={"ignore_eos": True})

            async def streamed(p):
                return "".join(
                    [
                        c.choices[0].text
                        async for c in await client.completions.create(prompt=p, stream=True, **kw)
                        if c.choices
                    ]
                )

            whole = await asyncio.gather(*(client.completions.create(prompt=p, **kw) for p in prompts))
            parts = await asyncio.gather(*(streamed(p) for p in prompts))
            return [w.choices[0].text for w in whole], parts

        whole, parts = asyncio.run(burst())
        assert parts == whole  # each stream whole, in order, and its own (greedy: the same text)
        assert len(set(whole)) > 1
    finally:
        s.close()  # SIGTERM: a graceful shutdown, which stops the engine process too
    assert _gone(engine_pid, 15)


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="reads children from /proc (Linux)")
def test_killed_server_leaves_no_engine_and_a_dead_engine_answers_503(stack):
    s = Server(stack, "--max-model-len", "256")
    try:
        [engine_pid] = _children(s.proc.pid)
        body = {"model": "tiny", "prompt": "x", "max_tokens": 200, "temperature": 0, "stream": True, "ignore_eos": True}
        with httpx.Client(timeout=30) as c:
            with c.stream("POST", s.url + "/v1/completions", json=body) as r:
                lines = r.iter_lines()
                assert next(lines).startswith("data:")
                os.kill(engine_pid, signal.SIGKILL)
                rest = "\n".join(lines)  # the stream ends, with the error in-band, rather than hanging
        assert "The engine stopped" in rest and "[DONE]" not in rest
        health = httpx.get(s.url + "/health")
        assert health.status_code == 503 and "exited" in health.text
        with pytest.raises(openai.APIStatusError) as e:
            openai.OpenAI(base_url=s.url + "/v1", api_key="x", max_retries=0).completions.create(
                model="tiny", prompt="x", max_tokens=2
            )
        assert e.value.status_code == 503
    finally:
        s.close()

    s = Server(stack, "--max-model-len", "256")
    [engine_pid] = _children(s.proc.pid)
    s.proc.kill()  # no chance to clean up: the kernel ends the engine (PR_SET_PDEATHSIG)
    s.proc.wait()
    assert _gone(engine_pid, 15)


class _ShortReads:
    """A socket whose reads return a few bytes at a time, as reads of a burst larger than the
    socket's buffer do."""

    def __init__(self, sock, most: int):
        self.sock, self.most = sock, most

    def fileno(self) -> int:
        return self.sock.fileno()

    def recv(self, n: int) -> bytes:
        return self.sock.recv(min(n, self.most))


def test_the_engine_side_of_the_socket_takes_a_whole_burst_of_ops_in_one_poll():
    """Clients that arrive together join the same step: poll() reads on past its first read."""
    import socket
    import threading

    from vibeserve_runtime.server.core_protocol import pack
    from vibeserve_runtime.server.engine_process import SocketTransport

    server_end, engine_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    transport = SocketTransport(_ShortReads(engine_end, 64), os.getppid())
    server_end.sendall(b"".join(pack(("abort", f"r{i}")) for i in range(300)))
    ops = transport.poll(block=False)
    assert [op[1] for op in ops] == [f"r{i}" for i in range(300)]
    frame = pack(("abort", "last"))
    server_end.sendall(frame[:3])  # half a frame: a blocking poll waits for its rest
    threading.Timer(0.1, lambda: server_end.sendall(frame[3:])).start()
    assert transport.poll(block=True) == [("abort", "last")]
    server_end.close()
    engine_end.close()
