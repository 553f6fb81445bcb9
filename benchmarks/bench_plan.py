"""Full-catalog plan searches, timed as CPU time (target <= 0.3 s each). Prints figures only — no assertions.

"cold" is the first search in a fresh process (byte tables, calibration and prices built on the way), measured in a
new interpreter per run; "new" is a search not seen before in a process that has already planned something else (the
API server answering a new plan from the page); "warm" repeats the same search (answered from the memo, as when the
page re-runs a plan for another language or budget). CPU time (``time.process_time``) is used because other load on
the machine inflates wall time; ``process`` is the CPU time of a whole ``gpuplan plan`` command. Each figure is the
median of the runs, with the minimum in brackets.

Run: python benchmarks/bench_plan.py [--runs 3] [--only capacity]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

from gpuplan.plan import PlanRequest, search

CASES = {
    "deepseek-v3, 200 users, TPOT 100 ms": (
        dict(model="deepseek-v3", users=200, input_tokens=2000, output_tokens=1000, tpot_s=0.1),
        ["deepseek-v3", "--users", "200", "--input-tokens", "2000", "--output-tokens", "1000", "--tpot-ms", "100"]),
    "r1-distill-qwen-32b, 50 users, TTFT 2 s, TPOT 50 ms": (
        dict(model="deepseek-r1-distill-qwen-32b", users=50, input_tokens=2000, output_tokens=500, ttft_s=2.0,
             tpot_s=0.05),
        ["deepseek-r1-distill-qwen-32b", "--users", "50", "--input-tokens", "2000", "--output-tokens", "500",
         "--ttft-ms", "2000", "--tpot-ms", "50"]),
    # ranked by cost per token: the speed is part of the objective; ordered by a bound on each candidate's throughput
    "r1-distill-qwen-32b, 50 users, per-token cost": (
        dict(model="deepseek-r1-distill-qwen-32b", users=50, input_tokens=2000, output_tokens=500, ttft_s=2.0,
             tpot_s=0.05, objective="per_token"),
        ["deepseek-r1-distill-qwen-32b", "--users", "50", "--input-tokens", "2000", "--output-tokens", "500",
         "--ttft-ms", "2000", "--tpot-ms", "50", "--objective", "per_token"]),
    # a fine-tuning plan over the catalog (every GPU count and ZeRO stage sized for memory, speed and price)
    "qwen2.5-7b, LoRA fine-tuning": (
        dict(model="qwen2.5-7b", task="lora"), ["qwen2.5-7b", "--task", "lora"]),
    # capacity mode: the most users each candidate serves within the targets (bisection per candidate)
    "r1-distill-qwen-32b, capacity (no users), TTFT 2 s, TPOT 50 ms": (
        dict(model="deepseek-r1-distill-qwen-32b", input_tokens=2000, output_tokens=500, ttft_s=2.0, tpot_s=0.05),
        ["deepseek-r1-distill-qwen-32b", "--input-tokens", "2000", "--output-tokens", "500", "--ttft-ms", "2000",
         "--tpot-ms", "50"]),
    # capacity mode ranked by cost per token: the --quality alternative among the lower-quality candidates, ordered by
    # a floor under their score (plan.search._speed_floor)
    "r1-distill-qwen-32b, capacity ranked by per-token cost": (
        dict(model="deepseek-r1-distill-qwen-32b", input_tokens=2000, output_tokens=500, ttft_s=2.0, tpot_s=0.05,
             objective="per_token"),
        ["deepseek-r1-distill-qwen-32b", "--input-tokens", "2000", "--output-tokens", "500", "--ttft-ms", "2000",
         "--tpot-ms", "50", "--objective", "per_token"]),
    # capacity mode on a given cluster: aggregated layouts and every xPyD split (prefill/decode disaggregation)
    "deepseek-r1, capacity on 16×h200-sxm, TTFT 2 s, TPOT 50 ms": (
        dict(model="deepseek-r1", gpus=("h200-sxm",), gpu_count=16, ttft_s=2.0, tpot_s=0.05),
        ["deepseek-r1", "--gpu", "h200-sxm", "--gpus", "16", "--ttft-ms", "2000", "--tpot-ms", "50"]),
    "deepseek-r1, capacity on 8×h200-sxm, TTFT 2 s, TPOT 50 ms": (
        dict(model="deepseek-r1", gpus=("h200-sxm",), gpu_count=8, ttft_s=2.0, tpot_s=0.05),
        ["deepseek-r1", "--gpu", "h200-sxm", "--gpus", "8", "--ttft-ms", "2000", "--tpot-ms", "50"]),
    "qwen2.5-32b-instruct, capacity on 8×h100-sxm, TTFT 2 s, TPOT 50 ms": (
        dict(model="qwen2.5-32b-instruct", gpus=("h100-sxm",), gpu_count=8, ttft_s=2.0, tpot_s=0.05),
        ["qwen2.5-32b-instruct", "--gpu", "h100-sxm", "--gpus", "8", "--ttft-ms", "2000", "--tpot-ms", "50"]),
}
WARM_UP = dict(model="qwen2.5-7b", users=8, tpot_s=0.05)  # another plan first: imports, tables, prices, calibration

COLD = """
import sys, time
from gpuplan.plan import PlanRequest, search
req = PlanRequest(**eval(sys.argv[1]))
start = time.process_time()
plan = search(req)
print(time.process_time() - start, int(plan.search["candidates_considered"]), len(plan.candidates),
      sum(r.count for r in plan.rejections if r.reason == "not_evaluated"))
"""


def _env() -> dict[str, str]:
    # bytecode caches allowed, as in an installed package (the shell may set PYTHONDONTWRITEBYTECODE)
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _cold(fields: dict, runs: int) -> tuple[list[float], str]:
    out, info = [], ""
    for _ in range(runs + 1):  # the first run writes __pycache__
        res = subprocess.run([sys.executable, "-c", COLD, repr(fields)], check=True, capture_output=True, text=True,
                             env=_env())
        secs, considered, kept, skipped = res.stdout.split()
        out.append(float(secs))
        info = f"candidates {considered}, kept {kept}, not evaluated {skipped}"
    return out[1:], info


def _process_cpu_s(args: list[str], runs: int) -> list[float]:
    cmd = [sys.executable, "-m", "gpuplan", "plan", *args]
    subprocess.run(cmd, check=True, capture_output=True, env=_env())  # warm-up: writes __pycache__
    out = []
    for _ in range(runs):
        use = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(cmd, check=True, capture_output=True, env=_env())
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        out.append(after.ru_utime + after.ru_stime - use.ru_utime - use.ru_stime)
    return out


def _fig(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} s ({min(values):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default="", help="run the cases whose name contains this text (e.g. capacity)")
    opts = parser.parse_args()
    runs = opts.runs
    search(PlanRequest(**WARM_UP))
    for name, (fields, args) in CASES.items():
        if opts.only not in name:
            continue
        cold, info = _cold(fields, runs)
        req = PlanRequest(**fields)
        start = time.process_time()
        search(req)
        new = time.process_time() - start
        warm = []
        for _ in range(runs):
            start = time.process_time()
            search(req)
            warm.append(time.process_time() - start)
        print(f"{name}: {info}\n    search CPU cold {_fig(cold)}  new {new:.3f} s  warm {_fig(warm)}  "
              f"process CPU {_fig(_process_cpu_s(args, runs))}  (target <= 0.3 s)")


if __name__ == "__main__":
    main()
