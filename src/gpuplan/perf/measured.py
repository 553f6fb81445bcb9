"""Measured operator data from NVIDIA's AIConfigurator core (optional extra ``pip install gpuplan[measured]``).

``aiconfigurator-core`` (Apache-2.0, PyPI; 82 MB wheel, ~0.6 GB installed with numpy, pandas, pyarrow and scipy)
ships kernel latency tables collected per GPU system, engine and engine version (``systems/data/<system>/<op>/
<engine>/<version>/``) and a compiled estimator over them. gpuplan asks it, through its stable facade
``aiconfigurator_core.sdk.EngineHandle`` (``compile`` → ``predict_decode_latency`` / ``predict_prefill_latency``),
for the rows it covers; everywhere else gpuplan's own fitted model stands. The import is lazy: without the extra
nothing here is imported and :func:`measured_available` says so.

What it covers (0.12.0): NVIDIA data-center parts (A100, H100, H200, B200, B300, GB200, GB300, L4, L40S, RTX PRO
6000) with vLLM, SGLang and TensorRT-LLM, and the models in its ``model_configs``; not GeForce, AMD, Ascend, Apple
or H20. Versions are "queryable slots" (current / previous / next per system and engine: SGLang 0.5.14, vLLM 0.24.0
on H200 today): an older version asked for is answered from the current slot, which :class:`MeasuredValue` says.

Latencies: ``predict_decode_latency(bs, isl, osl)`` is (osl − 1) decode steps in milliseconds;
``predict_prefill_latency(bs, isl)`` one prefill of ``bs`` prompts in milliseconds.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache

# gpuplan GPU id → AIConfigurator system name.
SYSTEMS = {"a100-80gb-sxm": "a100_sxm", "a100-40gb-sxm": "a100_sxm", "a100-80gb-pcie": "a100_pcie",
           "h100-sxm": "h100_sxm", "h100-pcie": "h100_pcie", "h200-sxm": "h200_sxm", "b200": "b200_sxm",
           "b300": "b300_sxm", "gb200": "gb200", "gb300": "gb300", "l4": "l4", "l40s": "l40s"}
ENGINES = {"vllm": "vllm", "sglang": "sglang", "trtllm": "trtllm"}
# gpuplan model id → the AIConfigurator model config of the same architecture.
MODELS = {"deepseek-ai/DeepSeek-R1-0528": "deepseek-ai/DeepSeek-R1", "deepseek-ai/DeepSeek-R1": "deepseek-ai/DeepSeek-R1",
          "deepseek-ai/DeepSeek-V3": "deepseek-ai/DeepSeek-V3", "deepseek-ai/DeepSeek-V3-0324": "deepseek-ai/DeepSeek-V3",
          "deepseek-ai/DeepSeek-V3.2": "deepseek-ai/DeepSeek-V3.2", "Qwen/Qwen3-8B": "Qwen/Qwen3-8B",
          "Qwen/Qwen3-32B": "Qwen/Qwen3-32B", "Qwen/Qwen3-30B-A3B": "Qwen/Qwen3-30B-A3B",
          "Qwen/Qwen3-235B-A22B": "Qwen/Qwen3-235B-A22B",
          "meta-llama/Llama-3.1-8B-Instruct": "meta-llama/Meta-Llama-3.1-8B",
          "meta-llama/Llama-3.1-70B-Instruct": "meta-llama/Meta-Llama-3.1-70B",
          "mistralai/Mixtral-8x7B-Instruct-v0.1": "mistralai/Mixtral-8x7B-v0.1"}
METRICS = ("itl_s", "decode_tokens_per_s", "ttft_s", "prefill_tokens_per_s")


@dataclass(frozen=True, slots=True)
class MeasuredValue:
    """AIConfigurator's value for a row's metric, or None with the reason it has none."""

    value: float | None
    reason: str | None = None


def measured_available() -> bool:
    """True when the optional ``aiconfigurator-core`` package is importable."""
    return importlib.util.find_spec("aiconfigurator_core") is not None


@lru_cache(maxsize=64)
def _engine(model: str, system: str, backend: str, tp: int):
    from aiconfigurator_core.sdk import EngineHandle

    return EngineHandle.compile(model, system, backend, tp_size=tp, moe_tp_size=tp, moe_ep_size=1)


def measured_value(row) -> MeasuredValue:
    """AIConfigurator's prediction for one dataset row (``validate``'s row), where it has data."""
    if row.metric not in METRICS:
        return MeasuredValue(None, f"metric {row.metric} not asked of it")
    system, backend = SYSTEMS.get(row.gpu or ""), ENGINES.get(row.engine)
    model = MODELS.get(row.model)
    if not (system and backend and model):
        return MeasuredValue(None, "GPU, engine or model not covered")
    tp = row.tensor_parallel_size or row.gpu_count
    bs = int(row.batch) if (row.batch or "").isdigit() else 1
    isl = max(int(row.input_tokens or 1), 1)
    osl = max(int(row.output_tokens or 2), 2)
    try:
        eng = _engine(model, system, backend, tp)
        if row.metric in ("itl_s", "decode_tokens_per_s"):
            step_s = eng.predict_decode_latency(bs, isl, osl) / (osl - 1) / 1000.0
            return MeasuredValue(step_s if row.metric == "itl_s" else 1.0 / step_s)
        prefill_s = eng.predict_prefill_latency(bs, isl) / 1000.0
        return MeasuredValue(prefill_s if row.metric == "ttft_s" else isl / prefill_s)
    except Exception as exc:  # noqa: BLE001 — the optional package's errors are reported, never raised
        return MeasuredValue(None, f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}")


def measured_decode_step(model_id: str, gpu_id: str, engine: str, tp: int, batch: int, input_tokens: int,
                         output_tokens: int) -> MeasuredValue:
    """AIConfigurator's decode step (seconds) for a deployment ``estimate`` describes, where it has data."""
    system, backend, model = SYSTEMS.get(gpu_id), ENGINES.get(engine), MODELS.get(model_id)
    if not (system and backend and model):
        return MeasuredValue(None, "GPU, engine or model not covered")
    osl = max(int(output_tokens), 2)
    try:
        eng = _engine(model, system, backend, tp)
        return MeasuredValue(eng.predict_decode_latency(max(int(batch), 1), max(int(input_tokens), 1), osl)
                             / (osl - 1) / 1000.0)
    except Exception as exc:  # noqa: BLE001 — the optional package's errors are reported, never raised
        return MeasuredValue(None, f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}")
