"""Command-line entry point (typer + rich). One module per command; each has ``register(app)``."""

from __future__ import annotations

import gc

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
