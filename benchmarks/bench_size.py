"""Wall time of ``gpuplan size`` as a process and of the sizing call in-process (targets: < 0.3 s and < 1 ms).

Run: python benchmarks/bench_size.py   (prints figures; no assertions — speed is measured, not tested)
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time


def process_seconds(args: list[str], runs: int = 5) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "gpuplan", *args], check=True, capture_output=True)
        out.append(time.perf_counter() - start)
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
    cases = {
        "help": ["--help"],
        "size whole model": ["size", "deepseek-v3"],
        "size 8xH20 32k": ["size", "deepseek-v3", "--gpu", "h20", "--gpus", "8", "--context", "32768"],
    }
    for name, args in cases.items():
        secs = process_seconds(args)
        print(f"process  {name:20s} median {statistics.median(secs):.3f} s  min {min(secs):.3f} s  (target < 0.3 s)")
    secs = in_process_seconds()
    print(f"in-proc  size_inference       median {statistics.median(secs) * 1e3:.3f} ms  "
          f"p99 {sorted(secs)[int(len(secs) * 0.99)] * 1e3:.3f} ms  (target < 1 ms)")


if __name__ == "__main__":
    main()
