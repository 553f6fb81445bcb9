"""Measurement accuracy of the ``gpuplan bench`` client against a server with known, fixed delays.

The fake server (``gpuplan.bench.fakeserver``, a real uvicorn HTTP/SSE server in a child process) sends token k of
every request at arrival + TTFT + k · ITL on its own monotonic clock, so the true TTFT and ITL are the configured
values. The client runs closed-loop at concurrency 8 and 32 and this script prints measured vs true p50, and the
relative error; the acceptance bar is 5 % (issue 8). One warm-up level at the same concurrency opens the
connections first, as a real benchmark does.

Run: ``.venv/bin/python benchmarks/bench_client_accuracy.py [--ttft-ms 300 --itl-ms 30 --output-tokens 24]``.
Exit status 1 when any p50 is off by more than the tolerance.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from gpuplan.bench.fakeserver import FakeServerConfig, serve_in_subprocess
from gpuplan.bench.models import BenchConfig
from gpuplan.bench.runner import BenchRunner
from gpuplan.bench.workload import synthetic_requests

TOLERANCE_FRACTION = 0.05


def measure(url: str, concurrency: int, num_requests: int, output_tokens: int) -> tuple[float, float]:
    """(TTFT p50, ITL p50) in seconds at ``concurrency``, after a warm-up level at the same concurrency."""
    config = BenchConfig(url=url, model="fake", concurrency_levels=(concurrency, concurrency),
                         num_requests=num_requests, input_tokens=64, output_tokens=output_tokens)
    report = asyncio.run(BenchRunner(config, synthetic_requests(num_requests, 64, output_tokens, 0)).run())
    level = report.results[-1]
    if level.errors:
        raise SystemExit(f"{level.errors} requests failed: {level.error_kinds}")
    return level.ttft_s.p50, level.itl_s.p50


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ttft-ms", type=float, default=300.0)
    parser.add_argument("--itl-ms", type=float, default=30.0)
    parser.add_argument("--output-tokens", type=int, default=24)
    parser.add_argument("--requests-per-worker", type=int, default=4)
    ns = parser.parse_args()
    true_ttft_s, true_itl_s = ns.ttft_ms / 1e3, ns.itl_ms / 1e3
    failed = False
    with serve_in_subprocess(FakeServerConfig(ttft_s=true_ttft_s, itl_s=true_itl_s)) as url:
        print(f"{'concurrency':>11} {'metric':>6} {'true_ms':>8} {'measured_ms':>11} {'error_%':>8}")
        for concurrency in (8, 32):
            ttft_s, itl_s = measure(url, concurrency, concurrency * ns.requests_per_worker, ns.output_tokens)
            for name, true_s, got_s in (("ttft", true_ttft_s, ttft_s), ("itl", true_itl_s, itl_s)):
                err = (got_s - true_s) / true_s
                failed = failed or abs(err) > TOLERANCE_FRACTION
                print(f"{concurrency:>11} {name:>6} {true_s * 1e3:>8.2f} {got_s * 1e3:>11.2f} {err * 100:>8.2f}")
    print("FAIL" if failed else f"OK: every p50 within {TOLERANCE_FRACTION:.0%} of the truth")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
