#!/usr/bin/env python
"""Time ``estimate_serving`` the way the planner calls it (target < 0.2 ms per call, issue 4).

Usage: python benchmarks/bench_estimate.py [--calls N] [--repeats R]
Prints the time per call for a few representative deployments (dense, TP, MoE with EP, a rate workload): the best of
R repeats of N calls each (timeit's convention: on a shared machine the minimum is the least disturbed measurement),
and the per-operator breakdown is built on every call, as the planner's estimates build it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from gpuplan.catalog import get_model  # noqa: E402
from gpuplan.perf import estimate_serving  # noqa: E402
from gpuplan.spec import Deployment, Workload  # noqa: E402

CASES = (
    ("llama-3.1-8b", Deployment(gpu_id="h100-sxm", engine="vllm"), Workload(input_tokens=1000, output_tokens=200,
                                                                              concurrency=32)),
    ("deepseek-r1-distill-qwen-32b", Deployment(gpu_id="l40s", gpu_count=2, tensor_parallel_size=2, engine="vllm"),
     Workload(input_tokens=2000, output_tokens=500, concurrency=50)),
    ("deepseek-v3", Deployment(gpu_id="h200-sxm", gpu_count=8, tensor_parallel_size=8, expert_parallel_size=8,
                               engine="sglang", weight_format="fp8-block"), Workload(input_tokens=1000, output_tokens=1000, concurrency=128)),
    ("llama-3.1-8b", Deployment(gpu_id="h100-sxm", engine="vllm"), Workload(input_tokens=1000, output_tokens=200,
                                                                              rate_per_s=5.0)),
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    for model, dep, wl in CASES:
        entry = get_model(model)
        estimate_serving(entry, dep, wl)  # warm the per-model caches
        best = float("inf")
        for _ in range(max(1, args.repeats)):
            start = time.perf_counter()
            for _ in range(args.calls):
                estimate_serving(entry, dep, wl)
            best = min(best, time.perf_counter() - start)
        per_call_ms = best / args.calls * 1000
        load = f"rate {wl.rate_per_s}/s" if wl.rate_per_s else f"concurrency {wl.concurrency}"
        print(f"{model:32s} {dep.gpu_count}×{dep.gpu_id:10s} {dep.engine:7s} {load:16s} {per_call_ms:.3f} ms/call")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
