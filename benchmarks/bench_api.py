"""p50/p99 latency of ``POST /api/v1/size`` and ``POST /api/v1/plan`` under a short local load.

Starts ``gpuplan serve`` (uvicorn, as the command runs it) on a free loopback port in a subprocess, then runs closed-
loop clients (each sends its next request when the previous answer arrives) for a fixed time per endpoint.
Reports count, throughput, p50/p90/p99/max latency, and how many answers were 429 (all job slots busy) or 503
(past the time budget), which is how the server sheds load instead of queueing it.

Run: python benchmarks/bench_api.py [--duration-s 10] [--clients 4] [--jobs 2] [--json]
(prints figures; no assertions — speed is measured, not tested)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time

SIZE_BODIES = [
    {"model": "deepseek-v3", "gpu": "h200-sxm", "gpus": 8, "context": 8192, "concurrency": 16},
    {"model": "deepseek-r1-distill-qwen-32b", "gpu": "rtx-4090", "gpus": 2, "weights": "awq-int4"},
    {"model": "qwen3-32b", "gpu": "a100-80gb-sxm", "gpus": 4, "task": "lora"},
]
PLAN_BODIES = [
    {"model": "deepseek-r1", "users": 100, "ttft_ms": 3000, "tpot_ms": 100},
    {"model": "deepseek-r1-distill-qwen-32b", "users": 50, "ttft_ms": 2000, "tpot_ms": 50},
    {"model": "deepseek-r1-distill-qwen-7b", "users": 1, "objective": "capex"},
]
# capacity mode (no users): the most users each candidate serves within the targets, aggregated or xPyD
CAPACITY_BODIES = [
    {"model": "deepseek-r1", "gpu": ["h200-sxm"], "gpus": 16, "ttft_ms": 2000, "tpot_ms": 50},
    {"model": "deepseek-r1", "gpu": ["h200-sxm"], "gpus": 8, "ttft_ms": 2000, "tpot_ms": 50},
    {"model": "qwen2.5-32b-instruct", "gpu": ["h100-sxm"], "gpus": 8, "ttft_ms": 2000, "tpot_ms": 50},
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, jobs: int) -> subprocess.Popen:
    # stderr is discarded, not piped: a pipe nobody reads would stall the server once it fills.
    proc = subprocess.Popen([sys.executable, "-m", "gpuplan", "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--jobs", str(jobs)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "GPUPLAN_LANG": "en"})
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("gpuplan serve did not start")


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


async def load(base: str, path: str, bodies: list[dict], clients: int, duration_s: float, name: str = "") -> dict:
    import httpx

    latencies_s: list[float] = []
    statuses: dict[int, int] = {}
    stop_at = time.perf_counter() + duration_s

    async def client(index: int) -> None:
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:
            i = index
            while time.perf_counter() < stop_at:
                body = bodies[i % len(bodies)]
                i += 1
                start = time.perf_counter()
                res = await http.post(path, json=body)
                elapsed = time.perf_counter() - start
                statuses[res.status_code] = statuses.get(res.status_code, 0) + 1
                if res.status_code == 200:
                    latencies_s.append(elapsed)

    started = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(clients)))
    wall_s = time.perf_counter() - started
    ok = len(latencies_s)
    return {
        "path": path, "endpoint": name or path.removeprefix("/api/v1"), "clients": clients, "wall_s": round(wall_s, 2), "ok": ok,
        "ok_per_s": round(ok / wall_s, 2), "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "p50_ms": _ms(percentile(latencies_s, 50)), "p90_ms": _ms(percentile(latencies_s, 90)),
        "p99_ms": _ms(percentile(latencies_s, 99)), "max_ms": _ms(max(latencies_s) if latencies_s else None),
        "mean_ms": _ms(statistics.fmean(latencies_s) if latencies_s else None),
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration-s", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=2, help="gpuplan serve --jobs")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    port = free_port()
    proc = start_server(port, args.jobs)
    base = f"http://127.0.0.1:{port}"
    try:
        results = []
        for path, name, bodies in (("/api/v1/size", "", SIZE_BODIES), ("/api/v1/plan", "", PLAN_BODIES),
                                   ("/api/v1/plan", "/plan capacity", CAPACITY_BODIES)):
            asyncio.run(load(base, path, bodies, 1, 1.0))  # warm caches (catalog, byte tables)
            for clients in sorted({1, args.clients}):
                results.append(asyncio.run(load(base, path, bodies, clients, args.duration_s, name)))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    info = {"cpus": os.cpu_count(), "jobs": args.jobs, "duration_s": args.duration_s, "results": results}
    if args.json:
        print(json.dumps(info, indent=2))
        return
    print(f"gpuplan serve --jobs {args.jobs} on {os.cpu_count()} CPUs, {args.duration_s:g} s per row, closed loop")
    print(f"{'endpoint':<16}{'clients':>8}{'ok':>7}{'ok/s':>8}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}  statuses")
    for r in results:
        print(f"{r['endpoint']:<16}{r['clients']:>8}{r['ok']:>7}{r['ok_per_s']:>8}{r['p50_ms'] or '—':>9}"
              f"{r['p90_ms'] or '—':>9}{r['p99_ms'] or '—':>9}{r['max_ms'] or '—':>9}  {r['statuses']}")


if __name__ == "__main__":
    main()
