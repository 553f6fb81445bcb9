"""A real OpenAI-compatible streaming server with known delays and injectable faults (tests, accuracy benchmark).

Real HTTP (uvicorn) and real SSE framing, like vLLM's ``/v1/chat/completions`` and ``/v1/completions`` streams
(https://platform.openai.com/docs/api-reference/chat-streaming). Token k (0-based) of a request is sent at
``arrival + ttft_s + k · itl_s`` on the server's monotonic clock — an absolute schedule, so delays do not drift —
which makes the true TTFT and ITL known exactly for checking the client.

Faults (``fault``, applied to every ``fault_every``-th request, 1-based):
``http_500`` — a 500 with a JSON error; ``die`` — the connection is dropped after ``fault_after_tokens`` tokens
(no terminating chunk); ``exit`` — the whole server process exits after ``fault_after_tokens`` tokens;
``stall`` — nothing is sent for ``stall_s`` before the first token; ``malformed`` — a ``data:`` line that is not JSON
after ``fault_after_tokens`` tokens; ``no_done`` — the stream ends cleanly with neither finish_reason nor [DONE].

A request can override the server's settings through its model name, so one server serves many test cases:
``"fake?fault=die&fault_every=2&ttft_ms=20&itl_ms=5&fault_after_tokens=3&stall_ms=500&usage=0"`` (fault counters
are kept per model name).

Run: ``python -m gpuplan.bench.fakeserver --port 8001 --ttft-ms 100 --itl-ms 20``.
"""


import argparse
import asyncio
import contextlib
import dataclasses
import itertools
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qsl

FAULTS = ("none", "http_500", "die", "exit", "stall", "malformed", "no_done")


@dataclass(frozen=True)
class FakeServerConfig:
    """Delays (seconds), the default output length, and the fault to inject."""

    ttft_s: float = 0.05
    itl_s: float = 0.01
    output_tokens: int | None = None
    fault: str = "none"
    fault_every: int = 1
    fault_after_tokens: int = 3
    stall_s: float = 30.0
    send_usage: bool = True


def _chunk(api: str, model: str, text: str | None, finish: str | None) -> str:
    if api == "chat":
        choice = {"index": 0, "delta": {"content": text} if text is not None else {}, "finish_reason": finish}
        obj = "chat.completion.chunk"
    else:
        choice = {"index": 0, "text": text or "", "finish_reason": finish}
        obj = "text_completion"
    return "data: " + json.dumps({"id": "fake", "object": obj, "model": model, "choices": [choice]}) + "\n\n"


def config_for_model(base: FakeServerConfig, model: str) -> FakeServerConfig:
    """Apply the overrides in ``model`` ('name?key=value&...') to ``base``; unknown keys are ignored."""
    _, _, query = model.partition("?")
    changes: dict = {}
    for key, value in parse_qsl(query):
        if key == "fault" and value in FAULTS:
            changes["fault"] = value
        elif key in ("fault_every", "fault_after_tokens", "output_tokens"):
            changes[key] = max(int(value), 1 if key == "fault_every" else 0)
        elif key in ("ttft_ms", "itl_ms", "stall_ms"):
            changes[key.replace("_ms", "_s")] = float(value) / 1e3
        elif key == "usage":
            changes["send_usage"] = value not in ("0", "false")
    return dataclasses.replace(base, **changes)


def make_app(config: FakeServerConfig):
    """A bare ASGI app (no framework: the per-request cost stays small so the delays stay exact) serving
    ``POST /v1/chat/completions``, ``POST /v1/completions``, ``GET /v1/models`` and ``GET /health``."""
    counters: dict[str, itertools.count] = {}

    async def send_json(send, status: int, obj: object) -> None:
        body = json.dumps(obj).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def read_body(receive) -> bytes:
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                return b"".join(chunks)

    async def stream(send, api: str, body: dict, arrival_s: float, faulty: bool, cfg: FakeServerConfig) -> None:
        loop = asyncio.get_running_loop()
        model = str(body.get("model", "fake"))
        num_tokens = cfg.output_tokens or int(body.get("max_tokens") or 16)
        fault = cfg.fault if faulty else "none"
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]})

        async def emit(text: str) -> None:
            await send({"type": "http.response.body", "body": text.encode(), "more_body": True})

        if fault == "stall":
            await asyncio.sleep(cfg.stall_s)
        for k in range(num_tokens):
            await asyncio.sleep(max(0.0, arrival_s + cfg.ttft_s + k * cfg.itl_s - loop.time()))
            if k == cfg.fault_after_tokens and fault == "die":
                raise ConnectionAbortedError("fault injection: connection dropped mid-stream")
            if k == cfg.fault_after_tokens and fault == "exit":
                os._exit(1)
            if k == cfg.fault_after_tokens and fault == "malformed":
                await emit("data: {not json\n\n")
            await emit(_chunk(api, model, f" t{k}", None))
        if fault != "no_done":
            await emit(_chunk(api, model, None, "length"))
            if cfg.send_usage:
                usage = {"prompt_tokens": len(str(body.get("messages") or body.get("prompt", "")).split()),
                         "completion_tokens": num_tokens, "total_tokens": 0}
                await emit("data: " + json.dumps({"id": "fake", "choices": [], "usage": usage}) + "\n\n")
            await emit("data: [DONE]\n\n")
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def app(scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        arrival_s = asyncio.get_running_loop().time()
        path, method = scope["path"], scope["method"]
        if method == "GET" and path == "/health":
            return await send_json(send, 200, {"ok": True})
        if method == "GET" and path == "/v1/models":
            return await send_json(send, 200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})
        apis = {"/v1/chat/completions": "chat", "/v1/completions": "completions"}
        if method != "POST" or path not in apis:
            return await send_json(send, 404, {"error": {"message": f"no route {method} {path}"}})
        try:
            body = json.loads(await read_body(receive))
        except json.JSONDecodeError:
            return await send_json(send, 400, {"error": {"message": "body is not JSON"}})
        model = str(body.get("model", "fake"))
        cfg = config_for_model(config, model)
        counter = counters.setdefault(model, itertools.count(1))
        faulty = cfg.fault != "none" and next(counter) % cfg.fault_every == 0
        if faulty and cfg.fault == "http_500":
            return await send_json(send, 500, {"error": {"message": "fault injection", "code": 500}})
        await stream(send, apis[path], body, arrival_s, faulty, cfg)

    return app


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (bind to port 0, read it back)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, timeout_s: float, proc: subprocess.Popen | None = None) -> None:
    """Poll ``url`` until it answers 200; raise RuntimeError after ``timeout_s`` or if ``proc`` exits."""
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1.0, trust_env=False).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout_s} s")


@contextlib.contextmanager
def serve_in_subprocess(config: FakeServerConfig, timeout_s: float = 30.0) -> Iterator[str]:
    """Start the server in a child process on a free loopback port; yield its base URL; stop it afterwards."""
    port = free_port()
    args = [sys.executable, "-m", "gpuplan.bench.fakeserver", "--port", str(port),
            "--ttft-ms", repr(config.ttft_s * 1e3), "--itl-ms", repr(config.itl_s * 1e3),
            "--fault", config.fault, "--fault-every", str(config.fault_every),
            "--fault-after-tokens", str(config.fault_after_tokens), "--stall-ms", repr(config.stall_s * 1e3)]
    if config.output_tokens:
        args += ["--output-tokens", str(config.output_tokens)]
    if not config.send_usage:
        args.append("--no-usage")
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health", timeout_s, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="OpenAI-compatible fake server with fixed delays and faults")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ttft-ms", type=float, default=50.0)
    parser.add_argument("--itl-ms", type=float, default=10.0)
    parser.add_argument("--output-tokens", type=int, default=None)
    parser.add_argument("--fault", choices=FAULTS, default="none")
    parser.add_argument("--fault-every", type=int, default=1)
    parser.add_argument("--fault-after-tokens", type=int, default=3)
    parser.add_argument("--stall-ms", type=float, default=30_000.0)
    parser.add_argument("--no-usage", action="store_true")
    ns = parser.parse_args(argv)
    import uvicorn

    config = FakeServerConfig(
        ttft_s=ns.ttft_ms / 1e3, itl_s=ns.itl_ms / 1e3, output_tokens=ns.output_tokens, fault=ns.fault,
        fault_every=max(ns.fault_every, 1), fault_after_tokens=ns.fault_after_tokens, stall_s=ns.stall_ms / 1e3,
        send_usage=not ns.no_usage,
    )
    uvicorn.run(make_app(config), host=ns.host, port=ns.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
