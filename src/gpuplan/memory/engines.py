"""Engine memory-budget rules, read from ``catalog/data/engines.toml`` (each default with its source)."""

from __future__ import annotations

from typing import Any

from gpuplan.catalog.datafiles import shipped_toml
from gpuplan.errors import InvalidInputError

ENGINE_KEYS = {"vllm": "vllm", "sglang": "sglang", "trtllm": "trtllm", "llama.cpp": "llamacpp", "ollama": "llamacpp",
               "ktransformers": "ktransformers", "transformers": "vllm", "vllm-ascend": "vllm_ascend", "mindie": "mindie"}


def engines_data() -> dict[str, Any]:
    return shipped_toml("engines.toml")


def engines_for_vendor(vendor: str) -> tuple[str, ...]:
    """Engine ids whose engines.toml ``vendors`` list ``vendor``, in ``ENGINE_KEYS`` order (the first is the default:
    vLLM on NVIDIA/AMD, llama.cpp on Apple, vLLM-Ascend on Huawei)."""
    data = engines_data()
    return tuple(e for e, key in ENGINE_KEYS.items() if vendor in data[key].get("vendors", ()))


def gpu_has_bf16(gpu) -> bool:
    """False for NVIDIA GPUs below BF16's compute capability (formats.toml bf16) and for NPUs whose engines serve FP16
    only (engines.toml ``fp16_only_architectures``: the Ascend 310P). Light: size/estimate call it at start-up."""
    if gpu.vendor == "nvidia":
        from gpuplan.memory.quant import get_format

        need = get_format("bf16").min_compute_capability
        return not need or (gpu.compute_capability or 0) >= need
    data = engines_data()
    return not any(gpu.architecture in data[ENGINE_KEYS[e]].get("fp16_only_architectures", ())
                   for e in engines_for_vendor(gpu.vendor))


def engine_facts(engine: str) -> dict[str, Any]:
    key = ENGINE_KEYS.get(engine)
    if key is None:
        raise InvalidInputError("memory.bad_engine", given=engine, allowed=", ".join(ENGINE_KEYS))
    return engines_data()[key]


def engine_seq_cap(engine: str, max_num_seqs: int | None = None) -> int:
    """The most sequences the engine runs at once: ``max_num_seqs`` when given, else its default (engines.toml)."""
    return max_num_seqs or int(engine_facts(engine).get("max_num_seqs", 10**6))


def sglang_mem_fraction_static(tp: int) -> float:
    """SGLang's default ``mem_fraction_static`` for a TP size (server_args.py: 0.88/0.87/0.85/0.81/0.79)."""
    for min_tp, frac in engine_facts("sglang")["mem_fraction_static_by_tp"]:
        if tp >= min_tp:
            return float(frac)
    return 0.88
