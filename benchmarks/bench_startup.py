"""Start-up CPU time of the commands built on the planner's modules (issue 16). Prints figures only — no assertions.

* "plan imports": what `gpuplan plan` imports after the CLI itself (typer, rich, the command's module): the catalog,
  memory, speed, cost and plan modules, timed in a process that has loaded the CLI first;
* whole processes of `gpuplan estimate` and `gpuplan fit` (CPU time, user + system, of the child);
* the REST API's start-up: importing gpuplan.api and building the app (`create_app()`), in a fresh process.

Byte-code caching is on for the child processes (a user's install has ``__pycache__``) and one warm-up run writes it
first. Each figure is the median of the runs, with the minimum in brackets.

Run: python benchmarks/bench_startup.py [RUNS]   (default 7)
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys

from bench_size import process_seconds

PLAN_IMPORTS = """
import time
from gpuplan.cli import tune_process
tune_process()
import typer, rich.console, rich.table
import gpuplan.cli.main, gpuplan.cli.common, gpuplan.cli.plan
start = time.process_time()
from gpuplan.importers.entry import install
from gpuplan.cli.calibrate import user_calibration_path
from gpuplan.perf import load_calibration
from gpuplan.plan import search
from gpuplan.views import build_request
import gpuplan.plan.capacity, gpuplan.plan.bounds, gpuplan.cost, gpuplan.cost.bom, gpuplan.memory.dtype_map
print(time.process_time() - start)
"""

API_START = """
import time
start = time.process_time()
from gpuplan.api import create_app
create_app()
print(time.process_time() - start)
"""

ESTIMATE = ["estimate", "deepseek-r1", "--gpu", "h200-sxm", "--gpus", "8", "--engine", "sglang==0.5.6", "--weights",
            "fp8-block", "--input-tokens", "1000", "--output-tokens", "1000", "--concurrency", "8"]
FIT = ["fit", "--gpu", "h200-sxm"]


def in_child_seconds(code: str, runs: int) -> list[float]:
    """What ``code`` prints (its own CPU seconds) in a fresh interpreter, ``runs`` times after one warm-up."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cmd = [sys.executable, "-c", code]
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    return [float(subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout)
            for _ in range(runs)]


def _fig(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} s ({min(values):.3f})"


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    print(f"plan imports (after the CLI):      {_fig(in_child_seconds(PLAN_IMPORTS, runs))}")
    print(f"gpuplan {' '.join(ESTIMATE[:2])} ... whole process: {_fig(process_seconds(ESTIMATE, runs))}")
    print(f"gpuplan {' '.join(FIT)} whole process:     {_fig(process_seconds(FIT, runs))}")
    print(f"API start-up (import + create_app): {_fig(in_child_seconds(API_START, runs))}")


if __name__ == "__main__":
    main()
