"""Full-catalog plan searches, timed (target < 0.5 s each on the 2-core CI machine). Prints figures only.

Run: python benchmarks/bench_plan.py
"""

from __future__ import annotations

import statistics
import time

from gpuplan.plan import PlanRequest, search

CASES = {
    "deepseek-v3, 200 users, TPOT 100 ms": PlanRequest(model="deepseek-v3", users=200, input_tokens=2000,
                                                         output_tokens=1000, tpot_s=0.1),
    "r1-distill-qwen-32b, 50 users, TTFT 2 s": PlanRequest(model="deepseek-r1-distill-qwen-32b", users=50,
                                                            input_tokens=2000, output_tokens=500, ttft_s=2.0),
}


def main() -> None:
    for name, req in CASES.items():
        first = time.perf_counter()
        plan = search(req)
        cold = time.perf_counter() - first
        warm = []
        for _ in range(3):
            start = time.perf_counter()
            search(req)
            warm.append(time.perf_counter() - start)
        print(f"{name:45s} cold {cold:.3f} s  warm median {statistics.median(warm):.3f} s  "
              f"candidates {int(plan.search['candidates_considered'])}  kept {len(plan.candidates)}  (target < 0.5 s)")


if __name__ == "__main__":
    main()
