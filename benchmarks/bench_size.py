"""CPU time of ``gpuplan size`` as a whole process and of the sizing call in-process (targets: <= 0.15 s and < 1 ms).

CPU time (user + system, from ``getrusage``) is what a loaded machine cannot inflate the way it inflates wall time.
Byte-code caching is switched on for the child processes (a user's install has ``__pycache__``), and one warm-up
run writes it first.

The "floor" line is a process that only imports the libraries every ``size`` run needs (typer and rich; the core's
value objects are dataclasses, so pydantic is not among them): what no change inside gpuplan can take away while the
command is built on them. typer >= 0.29 (excluded by pyproject) imports pydantic and builds an adapter per option when
it parses a command line, which the floor does not show and a ``size`` run pays (about 0.07 s).

Run: python benchmarks/bench_size.py [RUNS]   (prints min and median of RUNS runs, default 11; no assertions — speed
is measured, not tested)
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time


def _children_cpu_s() -> float:
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


# The libraries alone, in a process tuned as the CLI's (GC thresholds): what every `gpuplan size` process pays before
# any gpuplan code runs.
FLOOR = """
from gpuplan.cli import tune_process
tune_process()
import typer, rich.console, rich.table
"""


def process_seconds(args: list[str], runs: int = 11, code: str | None = None) -> list[float]:
    """CPU seconds (user + system) of each ``python -m gpuplan ARGS`` process (``python -c CODE`` when given)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cmd = [sys.executable, "-c", code] if code is not None else [sys.executable, "-m", "gpuplan", *args]
    subprocess.run(cmd, check=True, capture_output=True, env=env)  # warm-up: writes __pycache__
    out = []
    for _ in range(runs):
        before = _children_cpu_s()
        subprocess.run(cmd, check=True, capture_output=True, env=env)
        out.append(_children_cpu_s() - before)
    return out


def in_process_seconds(runs: int = 2000) -> list[float]:
    from gpuplan.catalog import get_gpu, get_model
    from gpuplan.memory import size_inference
    from gpuplan.spec import Deployment

    model, gpu = get_model("deepseek-v3"), get_gpu("h20")
    dep = Deployment(gpu_id="h20", gpu_count=8, tensor_parallel_size=8, weight_format="native")
    size_inference(model, dep, context_tokens=32768, concurrency=8, gpu=gpu)  # warm the caches once
    out = []
    for i in range(runs):
        start = time.perf_counter()
        size_inference(model, dep, context_tokens=32768 + (i % 7) * 16, concurrency=8, gpu=gpu)
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 11
    cases = {
        "help": (["--help"], ""),
        "plan --help": (["plan", "--help"], ""),
        "size whole model": (["size", "deepseek-v3"], "(target <= 0.15 s)"),
        "size 8xH20": (["size", "deepseek-v3", "--gpu", "h20", "--gpus", "8"], "(target <= 0.15 s)"),
        "size 8xH20 32k": (["size", "deepseek-v3", "--gpu", "h20", "--gpus", "8", "--context", "32768"],
                           "(target <= 0.15 s)"),
        "estimate 2xL40S": (["estimate", "r1-distill-qwen-32b", "--gpu", "l40s", "--gpus", "2", "--input-tokens",
                             "2000", "--output-tokens", "500", "--concurrency", "50"], ""),
    }
    secs = process_seconds([], runs, code=FLOOR)
    print(f"process CPU  {'floor: the libraries':20s} median {statistics.median(secs):.3f} s  min {min(secs):.3f} s  "
          "(python + typer + rich, no gpuplan code)")
    for name, (args, target) in cases.items():
        secs = process_seconds(args, runs)
        print(f"process CPU  {name:20s} median {statistics.median(secs):.3f} s  min {min(secs):.3f} s  {target}")
    secs = in_process_seconds()
    print(f"in-proc  size_inference       median {statistics.median(secs) * 1e3:.3f} ms  "
          f"p99 {sorted(secs)[int(len(secs) * 0.99)] * 1e3:.3f} ms  (target < 1 ms)")


if __name__ == "__main__":
    main()
