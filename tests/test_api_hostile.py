"""The API server under hostile load (issue 14): idle sockets cannot lock anyone out, cheap endpoints are not
starved by /plan, the limit answers 429 with Retry-After, and a token-less localhost server checks the Host header.

A real uvicorn server runs in a thread on a loopback port with the same protocol and middleware as
``gpuplan serve`` (header timeout shortened so the test runs in seconds).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import httpx
import pytest

from gpuplan.api import ApiSettings, create_app
from gpuplan.api.server import GuardedH11Protocol, server_config
from gpuplan.cli.serve import local_host_names

SIZE_BODY = {"model": "deepseek-r1-distill-qwen-7b", "gpu": "rtx-4090", "weights": "bf16"}


class _FastHeaderProtocol(GuardedH11Protocol):
    header_timeout_s = 1.5


@pytest.fixture
def server():
    """(base_url, settings) of a live server; stopped after the test."""
    import uvicorn

    started = []

    def start(settings: ApiSettings):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()
        config = server_config(create_app(settings), "127.0.0.1", port, protocol=_FastHeaderProtocol,
                               log_level="error")
        srv = uvicorn.Server(config)
        thread = threading.Thread(target=srv.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not srv.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert srv.started
        started.append((srv, thread))
        return f"http://127.0.0.1:{port}"

    yield start
    for srv, thread in started:
        srv.should_exit = True
        thread.join(timeout=10)


def _idle_sockets(base: str, count: int, partial: bool = False) -> list[socket.socket]:
    host, port = base.removeprefix("http://").split(":")
    socks = []
    for _ in range(count):
        s = socket.create_connection((host, int(port)))
        if partial:
            s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # head never finished
        socks.append(s)
    return socks


def test_idle_connections_do_not_lock_out_others(server):
    base = server(ApiSettings(token="t0ken"))
    socks = _idle_sockets(base, 100) + _idle_sockets(base, 20, partial=True)
    try:
        headers = {"Authorization": "Bearer t0ken"}
        # The client's own timeout is the bound ("answer within a second", with slack for a loaded test machine);
        # before the fix these requests got 503 at once.
        r = httpx.get(base + "/api/v1/health", headers=headers, timeout=3)
        assert r.status_code == 200
        r = httpx.post(base + "/api/v1/size", json=SIZE_BODY, headers=headers, timeout=3)
        assert r.status_code == 200, r.text
    except BaseException:
        for s in socks:
            s.close()
        raise
    # The idle and slow-header sockets are closed by the server after the header timeout.
    time.sleep(2.5)
    closed = 0
    for s in socks:
        s.settimeout(2)
        try:
            closed += s.recv(1) == b""
        except OSError:
            closed += 1
        s.close()
    assert closed == len(socks)


def test_500_concurrent_size_requests_get_200_or_429_with_retry_after(server):
    base = server(ApiSettings(max_in_flight=256))

    async def burst():
        limits = httpx.Limits(max_connections=500, max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
            return await asyncio.gather(*(client.post("/api/v1/size", json=SIZE_BODY) for _ in range(500)),
                                        return_exceptions=True)

    answers = asyncio.run(burst())
    failures = [a for a in answers if isinstance(a, Exception)]
    assert not failures, failures[:3]
    codes = {}
    for a in answers:
        codes[a.status_code] = codes.get(a.status_code, 0) + 1
        if a.status_code == 429:
            assert int(a.headers["retry-after"]) >= 1
    print("500 concurrent /size:", codes)
    assert set(codes) <= {200, 429}, codes
    assert codes.get(200, 0) >= 100, codes


def test_plan_slots_do_not_starve_size(server):
    base = server(ApiSettings(max_parallel_jobs=1, request_time_limit_s=30))
    plan_body = {"model": "deepseek-v3", "users": 500, "max_gpus": 64, "max_nodes": 8}

    async def mixed():
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            plans = [asyncio.create_task(client.post("/api/v1/plan", json=plan_body)) for _ in range(4)]
            await asyncio.sleep(0.3)
            # Bounded by the request's own timeout: /size must not wait for the plan slot.
            size = await client.post("/api/v1/size", json=SIZE_BODY, timeout=10)
            await asyncio.gather(*plans, return_exceptions=True)
            return size

    size = asyncio.run(mixed())
    assert size.status_code == 200, size.text


def test_host_header_checked_on_tokenless_localhost_server(server):
    base = server(ApiSettings(allowed_hosts=local_host_names("127.0.0.1")))
    assert httpx.get(base + "/api/v1/health").status_code == 200
    assert httpx.get(base + "/api/v1/health", headers={"Host": "localhost:8000"}).status_code == 200
    r = httpx.get(base + "/api/v1/health", headers={"Host": "evil.example:8000"})
    assert r.status_code == 403
    assert "localhost" in r.json()["detail"]


def test_in_flight_limit_answers_429_with_retry_after():
    """The middleware alone: with the limit reached, the next request is refused at once."""
    from fastapi.testclient import TestClient

    app = create_app(ApiSettings(max_in_flight=0))
    client = TestClient(app)
    r = client.post("/api/v1/size", json=SIZE_BODY)
    assert r.status_code == 429
    assert r.headers["retry-after"] == "1"
    assert client.get("/api/v1/health").status_code == 200


@pytest.mark.parametrize("mutate", [
    lambda p: p["model"].__setitem__("id", "$(touch pwned)"),
    lambda p: p["candidates"][0]["engine_args"].__setitem__("--block-size", "16;touch pwned"),
    lambda p: p.__setitem__("assumptions", ["line\ntouch pwned"]),
    lambda p: p["candidates"][0].__setitem__("nodes", 0),
])
def test_render_endpoints_refuse_hostile_plans(mutate):
    """The API's render endpoints read the same plan schema: a hostile plan is a 4xx sentence, no files."""
    from pathlib import Path

    import yaml
    from fastapi.testclient import TestClient

    plan = yaml.safe_load((Path(__file__).parent / "data" / "plans" / "8xh20-vllm-r1-distill-llama-70b.yaml")
                          .read_text())
    mutate(plan)
    client = TestClient(create_app(ApiSettings()))
    for path in ("/api/v1/render", "/api/v1/render.zip"):
        r = client.post(path, json={"plan": plan, "targets": ["engine"]})
        assert 400 <= r.status_code < 500, (path, r.status_code, r.text[:200])
        assert "\n" not in r.json()["detail"]


def test_real_serve_command_with_100_idle_connections_and_rebinding_host():
    """'gpuplan serve' as users start it: 100 idle sockets open, /health and /size still answer 200 within a second
    (the client's timeout); a foreign Host header is refused on the token-less localhost server."""
    import os
    import subprocess
    import sys

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    env = {k: v for k, v in os.environ.items() if k != "GPUPLAN_TOKEN"}
    proc = subprocess.Popen([sys.executable, "-m", "gpuplan", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    socks: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(base + "/api/v1/health", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        httpx.post(base + "/api/v1/size", json=SIZE_BODY, timeout=30)  # warm the catalog caches
        socks = _idle_sockets(base, 100)
        assert httpx.get(base + "/api/v1/health", timeout=1).status_code == 200
        assert httpx.post(base + "/api/v1/size", json=SIZE_BODY, timeout=1).status_code == 200
        r = httpx.get(base + "/api/v1/health", headers={"Host": "attacker.example"}, timeout=1)
        assert r.status_code == 403
    finally:
        for s in socks:
            s.close()
        proc.terminate()
        proc.wait(timeout=10)
