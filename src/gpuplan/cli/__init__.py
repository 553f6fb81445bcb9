"""Command-line entry point (typer + rich). One module per command; each has ``register(app)``."""

from __future__ import annotations

import gc
import sys

# Cyclic-GC thresholds for a CLI process. Start-up allocates ~100k long-lived objects (typer, pydantic, rich, the
# catalog) and CPython's default first threshold (700) rescans them ~90 times on the way: 12-15 ms of a 0.2 s
# `gpuplan size`, 36 ms of a 0.4 s full-catalog `gpuplan plan`, 55-65 ms of a capacity-mode plan (measured with
# gc.callbacks). With 100,000 a short command finishes before the first collection; a long one (serve, bench) still
# collects cycles, in larger batches (peak memory of those plans unchanged).
CLI_GC_THRESHOLDS = (100_000, 10, 10)


def tune_process() -> None:
    """Interpreter settings for a gpuplan CLI process; called by the entry points only, never on import (a program
    that imports gpuplan keeps its own settings)."""
    gc.set_threshold(*CLI_GC_THRESHOLDS)


def exit_now(code: object = 0) -> None:
    """End a CLI process whose command has finished, without tearing the interpreter down: freeing every module and
    object one by one is 0.04-0.05 s of CPU after a `gpuplan plan` (benchmarks/bench_plan.py). The exit handlers
    (atexit: logging, temporary directories) still run and stdout/stderr are flushed; the status is what
    ``sys.exit(code)`` would give. It exits the ordinary way with other threads still running (they are joined) and
    under a profiler or tracer (``python -m cProfile -m gpuplan ...`` writes its report after the command returns)."""
    import atexit
    import os
    import threading

    if threading.active_count() > 1 or sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(code)
    if code is None:
        code = 0
    elif not isinstance(code, int):  # sys.exit("message"): the message on stderr, status 1
        sys.stderr.write(f"{code}\n")
        code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:  # None under pythonw
                stream.flush()
        except (OSError, ValueError):  # a closed pipe (`gpuplan plan ... | head`) or a closed stream
            code = code or 120  # what the interpreter returns when it cannot flush stdout at exit
    os._exit(code)
