"""Full-catalog plan searches, timed as CPU time (target <= 0.3 s each). Prints figures only — no assertions.

"cold" is the first search in a fresh process (byte tables, calibration and prices built on the way); "warm" repeats it
(the web page and the API serve from a warm process). CPU time (``time.process_time``) is used because other load on
the machine inflates wall time; ``process`` is the CPU time of a whole ``gpuplan plan`` command.

Run: python benchmarks/bench_plan.py
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time

from gpuplan.plan import PlanRequest, search

CASES = {
    "deepseek-v3, 200 users, TPOT 100 ms": (
        PlanRequest(model="deepseek-v3", users=200, input_tokens=2000, output_tokens=1000, tpot_s=0.1),
        ["deepseek-v3", "--users", "200", "--input-tokens", "2000", "--output-tokens", "1000", "--tpot-ms", "100"]),
    "r1-distill-qwen-32b, 50 users, TTFT 2 s, TPOT 50 ms": (
        PlanRequest(model="deepseek-r1-distill-qwen-32b", users=50, input_tokens=2000, output_tokens=500, ttft_s=2.0,
                    tpot_s=0.05),
        ["deepseek-r1-distill-qwen-32b", "--users", "50", "--input-tokens", "2000", "--output-tokens", "500",
         "--ttft-ms", "2000", "--tpot-ms", "50"]),
}


def _process_cpu_s(args: list[str], runs: int = 3) -> float:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cmd = [sys.executable, "-m", "gpuplan", "plan", *args]
    subprocess.run(cmd, check=True, capture_output=True, env=env)  # warm-up: writes __pycache__
    out = []
    for _ in range(runs):
        use = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(cmd, check=True, capture_output=True, env=env)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        out.append(after.ru_utime + after.ru_stime - use.ru_utime - use.ru_stime)
    return statistics.median(out)


def main() -> None:
    for name, (req, args) in CASES.items():
        first = time.process_time()
        plan = search(req)
        cold = time.process_time() - first
        warm = []
        for _ in range(3):
            start = time.process_time()
            search(req)
            warm.append(time.process_time() - start)
        print(f"{name:52s} search CPU cold {cold:.3f} s  warm median {statistics.median(warm):.3f} s  "
              f"process CPU {_process_cpu_s(args):.3f} s  candidates {int(plan.search['candidates_considered'])} "
              f"kept {len(plan.candidates)}  "
              "(target <= 0.3 s)")


if __name__ == "__main__":
    main()
