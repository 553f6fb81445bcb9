"""Time the per-tensor weight sizing for the largest catalog architectures (run: python benchmarks/bench_quant.py).

The planner caches one result per (model, format); this shows the cost of a cache miss.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from gpuplan.catalog.arch import ModelArch
from gpuplan.memory.quant import list_formats, weights_bytes
from gpuplan.units import GIB

CONFIGS = Path(__file__).resolve().parents[2] / "shared" / "reference" / "configs"


def main() -> None:
    for name in ("deepseek-ai__DeepSeek-V3.json", "moonshotai__Kimi-K2-Instruct.json"):
        arch = ModelArch.from_config(json.loads((CONFIGS / name).read_text()))
        tensors = arch.tensors()
        start = time.perf_counter()
        sizes = {f.id: weights_bytes(tensors, f.id, n_layers=arch.num_layers, n_experts=arch.num_experts or None)
                 for f in list_formats()}
        elapsed_s = time.perf_counter() - start
        print(f"{name}: {len(tensors)} tensors x {len(sizes)} formats in {elapsed_s * 1e3:.0f} ms "
              f"({elapsed_s / len(sizes) * 1e3:.1f} ms per format); q4_k_m {sizes['gguf-q4_k_m'] / GIB:.1f} GiB")


if __name__ == "__main__":
    main()
