"""Load test of ``gpuplan serve`` on loopback: /size and /plan under 50 and 500 concurrent clients, and cheap
endpoints while 100 idle connections are held open.

Starts ``gpuplan serve`` (the real command: uvicorn with gpuplan's protocol and limits) on a free 127.0.0.1 port in
a subprocess, then for each scenario runs closed-loop clients (each sends its next request when the previous answer
arrives; a 429 is followed by a pause of its Retry-After, as a well-behaved client does) for a fixed time, with a
cap on the number of requests. Everything is bounded: loopback only, ``--duration-s`` per scenario,
``--max-requests`` per scenario, and a deadline for the whole run; the server is stopped at the end.

Reports per scenario: answers per second, 200s per second, p50/p99 latency of 200 answers, counts by status, and
client errors (refused, reset, timed out). For the idle scenario: latency of /api/v1/health and /api/v1/size while
100 sockets sit open without sending anything.

Run: python benchmarks/bench_load.py [--duration-s 5] [--max-requests 20000] [--jobs 2] [--json]
(prints figures; no assertions: speed is measured, not tested)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import time

from bench_api import (  # the sibling script: one server start-up, one percentile
    _ms,
    free_port,
    percentile,
    start_server,
)

SIZE_BODY = {"model": "deepseek-r1-distill-qwen-32b", "gpu": "rtx-4090", "gpus": 2, "weights": "awq-int4"}
PLAN_BODY = {"model": "deepseek-r1-distill-qwen-7b", "users": 8, "gpu": ["rtx-4090", "l40s"], "max_nodes": 1}
RUN_DEADLINE_S = 600.0


async def closed_loop(base: str, method: str, path: str, body: dict | None, clients: int, duration_s: float,
                      max_requests: int) -> dict:
    import httpx

    latencies_s: list[float] = []
    statuses: dict[int, int] = {}
    errors: dict[str, int] = {}
    sent = 0
    stop_at = time.perf_counter() + duration_s
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:
        async def client() -> None:
            nonlocal sent
            while time.perf_counter() < stop_at and sent < max_requests:
                sent += 1
                start = time.perf_counter()
                try:
                    res = await http.request(method, path, json=body)
                except httpx.HTTPError as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                    await asyncio.sleep(0.1)
                    continue
                elapsed = time.perf_counter() - start
                statuses[res.status_code] = statuses.get(res.status_code, 0) + 1
                if res.status_code == 200:
                    latencies_s.append(elapsed)
                elif res.status_code in (429, 503):
                    await asyncio.sleep(min(5.0, float(res.headers.get("retry-after", "1"))))

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        wall_s = time.perf_counter() - started
    answers = sum(statuses.values())
    return {
        "scenario": f"{path.removeprefix('/api/v1')} x{clients}", "clients": clients, "wall_s": round(wall_s, 2),
        "answers_per_s": round(answers / wall_s, 1), "ok_per_s": round(len(latencies_s) / wall_s, 1),
        "p50_ms": _ms(percentile(latencies_s, 50)), "p99_ms": _ms(percentile(latencies_s, 99)),
        "statuses": {str(k): v for k, v in sorted(statuses.items())}, "client_errors": errors,
    }


async def with_idle_connections(base: str, port: int, idle: int, samples: int) -> dict:
    """Hold ``idle`` sockets open (nothing sent), then time /health and /size one after another."""
    import httpx

    socks = []
    for _ in range(idle):
        s = socket.create_connection(("127.0.0.1", port))
        socks.append(s)
    try:
        out: dict = {"scenario": f"{idle} idle connections", "idle": idle}
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            for name, method, path, body in (("health", "GET", "/api/v1/health", None),
                                             ("size", "POST", "/api/v1/size", SIZE_BODY)):
                lat, statuses = [], {}
                for _ in range(samples):
                    start = time.perf_counter()
                    res = await http.request(method, path, json=body)
                    lat.append(time.perf_counter() - start)
                    statuses[res.status_code] = statuses.get(res.status_code, 0) + 1
                out[name] = {"p50_ms": _ms(percentile(lat, 50)), "max_ms": _ms(max(lat)),
                             "statuses": {str(k): v for k, v in statuses.items()}}
        return out
    finally:
        for s in socks:
            s.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration-s", type=float, default=5.0)
    parser.add_argument("--max-requests", type=int, default=20000)
    parser.add_argument("--jobs", type=int, default=2, help="gpuplan serve --jobs")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    duration_s = min(max(args.duration_s, 0.5), 60.0)
    max_requests = min(max(args.max_requests, 1), 200_000)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(port, args.jobs)
    began = time.monotonic()
    results: list[dict] = []
    try:
        asyncio.run(closed_loop(base, "POST", "/api/v1/size", SIZE_BODY, 1, 1.0, 50))  # warm caches
        asyncio.run(closed_loop(base, "POST", "/api/v1/plan", PLAN_BODY, 1, 1.0, 5))
        for path, body in (("/api/v1/size", SIZE_BODY), ("/api/v1/plan", PLAN_BODY)):
            for clients in (50, 500):
                if time.monotonic() - began > RUN_DEADLINE_S:
                    break
                results.append(asyncio.run(closed_loop(base, "POST", path, body, clients, duration_s, max_requests)))
        results.append(asyncio.run(with_idle_connections(base, port, 100, 20)))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    info = {"cpus": os.cpu_count(), "jobs": args.jobs, "duration_s": duration_s, "results": results}
    if args.json:
        print(json.dumps(info, indent=2))
        return
    print(f"gpuplan serve --jobs {args.jobs} on {os.cpu_count()} CPUs (client in the same machine), "
          f"{duration_s:g} s per row, closed loop")
    print(f"{'scenario':<16}{'answers/s':>10}{'200/s':>8}{'p50 ms':>9}{'p99 ms':>9}  statuses  client errors")
    for r in results:
        if "idle" in r:
            for name in ("health", "size"):
                x = r[name]
                print(f"{'idle100 ' + name:<16}{'':>10}{'':>8}{x['p50_ms']:>9}{x['max_ms']:>9}  {x['statuses']}"
                      "  (max instead of p99)")
            continue
        print(f"{r['scenario']:<16}{r['answers_per_s']:>10}{r['ok_per_s']:>8}{r['p50_ms'] or '—':>9}"
              f"{r['p99_ms'] or '—':>9}  {r['statuses']}  {r['client_errors'] or '—'}")


if __name__ == "__main__":
    main()
