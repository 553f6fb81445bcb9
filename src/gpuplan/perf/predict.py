"""One measured dataset row → the model's prediction of its metric (used by ``validate`` and the fitting script).

Mapping (shared/calibration/README.md):

* ``decode_tokens_per_s`` (inference, batch b): 1 / decode step at batch b and mean context input + output/2
  (llama.cpp ``tg`` runs start from an empty context).
* ``prefill_tokens_per_s``: input / prefill of one prompt (llama.cpp ``pp512``: chunks of n_ubatch).
* ``ttft_s`` (batch 1): the prefill of the prompt (the prefill step emits the first token).
* ``output_tokens_per_s`` (serving): aggregate output of ``estimate_serving`` at concurrency = batch, or at the KV
  capacity for ``max``.
* ``itl_s``: TPOT at the batch.
* ``weights_bytes``, ``weights_bytes_per_gpu``, ``train_peak_memory_bytes``: the memory model.
* ``train_tokens_per_s_per_gpu``, ``mfu_fraction``: ``estimate_training``.

llama.cpp on several GPUs splits layers (``--split-mode layer``): modeled as pipeline stages; so are the GPUs beyond a
row's stated tensor-parallel group on other engines (``gpu_count`` = TP × PP).

KV-cache dtype when a row leaves it empty: the engine's default, except TensorRT-LLM with FP8/NVFP4 weights. Those
rows come from TensorRT-LLM's perf overview, which runs NVIDIA's ModelOpt checkpoints (measured-public.csv notes);
ModelOpt writes ``"kv_cache_quant_algo": "FP8"`` into ``hf_quant_config.json`` (ModelOpt's own docstring example of
the file: ``{"quant_algo": "FP8", "kv_cache_quant_algo": "FP8", "exclude_modules": ["lm_head"]}``), and the engine
then stores the KV cache in FP8. vLLM up to 0.13 (the version the DeepSeek-V3.2 rows state) turns "auto" for a DSA
model into its ``fp8_ds_mla`` layout, 656 B per token per layer: "The default config uses a custom fp8 kvcache"
(vllm-project/recipes DeepSeek/DeepSeek-V3_2.md); later vLLM keeps bf16 on SM90/SM100 (memory.kv.resolve_kv_dtype).
"""

from __future__ import annotations

from gpuplan.catalog import get_gpu
from gpuplan.catalog.models import ModelEntry, get_model
from gpuplan.errors import UnknownNameError, UnsupportedError
from gpuplan.perf.calibration import Calibration, CalibrationSet, load_calibration
from gpuplan.spec import ENGINES, TRAINING_ENGINES, Deployment, TrainingJob, Workload

SERVING_ENGINES = tuple(e for e in ENGINES)
# A published vLLM row that states no version is read as vLLM 0.13: the DeepSeek-V3.2 rows without one (N038/N039)
# come from vllm-project/recipes DeepSeek/DeepSeek-V3_2.md @008786cb, which states that era's fp8 default KV cache.
UNSTATED_VLLM_VERSION = "0.13.0"
GPUS_PER_HGX_NODE = 8


def find_model(ref: str) -> ModelEntry:
    """The catalog entry for a dataset's model id; a base/instruct sibling id is tried by repo name."""
    try:
        return get_model(ref)
    except UnknownNameError:
        return get_model(ref.split("/")[-1])


def _deployment(row, entry: ModelEntry) -> Deployment:
    engine = row.engine
    n = row.gpu_count
    tp = row.tensor_parallel_size or (1 if engine in ("llama.cpp", "ollama") else n)
    # GPUs beyond the TP group are pipeline stages: llama.cpp's layer split, or an engine's stated PP (vllm serve -pp 2
    # on 2 GPUs with TP 1: GPUStack gpt-oss-120b/h100.md L274, row G044).
    pp = max(1, n // tp) if engine in ("llama.cpp", "ollama") or (row.tensor_parallel_size and n % tp == 0) else 1
    kv = row.kv_dtype or default_kv_dtype(engine, row.weight_format, entry, getattr(row, "engine_version", None))
    # A row with a host is a CPU+GPU hybrid: routed experts in host RAM (KTransformers; llama.cpp -ot exps=CPU).
    hybrid = bool(getattr(row, "host", None)) and entry.arch.num_experts > 0
    # More than 8 GPUs span nodes: every published multi-node row in the data is on 8-GPU HGX/DGX nodes.
    nodes = -(-n // GPUS_PER_HGX_NODE) if n > GPUS_PER_HGX_NODE else 1
    return Deployment(gpu_id=row.gpu, gpu_count=n, nodes=nodes, engine=engine, weight_format=row.weight_format,
                      kv_dtype=kv,
                      tensor_parallel_size=tp, pipeline_parallel_size=pp,
                      data_parallel_size=getattr(row, "data_parallel_size", None) or 1,
                      enable_dp_attention=bool(getattr(row, "enable_dp_attention", False)),
                      host_id=row.host if hybrid else None, offload="experts" if hybrid else "none")


def default_kv_dtype(engine: str, weight_format: str, entry: ModelEntry, engine_version: str | None = None) -> str:
    """The KV-cache dtype a published run had when its command set none (module docstring); vLLM's DSA layout comes
    from the one rule in memory.kv.resolve_kv_dtype, at the row's vLLM version."""
    from gpuplan.memory.kv import resolve_kv_dtype

    if engine == "trtllm" and weight_format in ("fp8", "nvfp4"):
        return "fp8"
    kv = resolve_kv_dtype("auto", engine, entry.arch,
                          engine_version=engine_version or UNSTATED_VLLM_VERSION if engine == "vllm" else None)
    return kv if kv == "fp8_ds_mla" else "auto"


def _calset(calibration: Calibration | CalibrationSet | None) -> Calibration | CalibrationSet:
    return calibration if calibration is not None else load_calibration()


def predict_value(row, calibration: Calibration | CalibrationSet | None = None) -> float:
    """Predicted value of ``row.metric`` for ``row`` (module docstring); raises a GpuplanError with the reason."""
    entry = find_model(row.model)
    metric = row.metric
    if metric == "weights_bytes":
        from gpuplan.memory import size_model_only

        return float(size_model_only(entry, row.weight_format).weights_bytes)
    if not row.gpu:
        raise UnsupportedError("validate.no_gpu", row=row.id)
    gpu = get_gpu(row.gpu)
    if metric in ("train_tokens_per_s_per_gpu", "mfu_fraction", "train_peak_memory_bytes"):
        if row.engine not in TRAINING_ENGINES:
            raise UnsupportedError("validate.engine", given=row.engine, allowed=", ".join(TRAINING_ENGINES))
        job = TrainingJob(task="full", sequence_length=row.input_tokens or 4096,
                          micro_batch_size=int(row.batch or 1), zero_stage=3, engine=row.engine)
        if metric == "train_peak_memory_bytes":
            from gpuplan.memory import size_training

            return float(size_training(entry, job, gpu_id=gpu.id, gpu_count=row.gpu_count, gpu=gpu).total_bytes)
        from gpuplan.perf.training import estimate_training

        dep = Deployment(gpu_id=gpu.id, gpu_count=row.gpu_count, data_parallel_size=row.gpu_count)
        est = estimate_training(entry, dep, job, _calset(calibration))
        return est.tokens_per_s_per_gpu if metric == "train_tokens_per_s_per_gpu" else est.mfu_fraction
    if row.engine not in SERVING_ENGINES:
        raise UnsupportedError("validate.engine", given=row.engine, allowed=", ".join(SERVING_ENGINES))
    dep = _deployment(row, entry)
    if metric == "weights_bytes_per_gpu":
        from gpuplan.memory import size_inference

        mem = size_inference(entry, dep, context_tokens=max(1, (row.input_tokens or 0) + (row.output_tokens or 0))
                             or 1, gpu=gpu)
        assert mem.per_gpu is not None
        return float(mem.per_gpu.weights_bytes)
    return _predict_speed(row, entry, dep, gpu, _calset(calibration))


def _predict_speed(row, entry: ModelEntry, dep: Deployment, gpu, cal) -> float:
    from gpuplan.memory.kv import resolve_kv_dtype
    from gpuplan.memory.weights import resolve_format
    from gpuplan.perf.serving import (
        _calibration,
        estimate_serving,
        hardware_for,
        host_rates,
        offload_hardware,
    )
    from gpuplan.perf.step import decode_step, prefill_time
    from gpuplan.perf.tables import model_table

    inp = row.input_tokens or 0
    out = row.output_tokens or 0
    metric = row.metric
    if metric in ("output_tokens_per_s", "itl_s") and row.task == "serving" or metric == "itl_s":
        batch = None if row.batch in (None, "max") else int(row.batch)
        wl = Workload(input_tokens=max(inp, 1), output_tokens=max(out, 1), concurrency=batch or 10**6)
        est = estimate_serving(entry, dep, wl, cal)
        value = est.output_tokens_per_s if metric == "output_tokens_per_s" else est.tpot_s
        if value is None:
            raise UnsupportedError("validate.metric", given=metric)
        return value
    c = _calibration(cal, "llama.cpp" if dep.engine == "ollama" else dep.engine, gpu)
    fmt = resolve_format(entry, dep.weight_format)
    kv = resolve_kv_dtype(dep.kv_dtype, dep.engine, entry.arch, compute_capability=gpu.compute_capability)
    batch = float(row.batch) if row.batch not in (None, "max") else 1.0
    # Single-sequence decode is memory-bound on every GPU in the data; a GPU without a published FLOP rate (Apple)
    # is still predicted for it, with the compute term left out.
    host_bw, host_flops = host_rates(dep) if dep.offload != "none" else (0.0, 0.0)
    hw = hardware_for(gpu, dep, fmt, allow_unknown_compute=metric == "decode_tokens_per_s" and batch <= 1,
                      host_bytes_per_s=host_bw, host_flops_per_s=host_flops)
    tab = model_table(entry.id, fmt, kv, dep.tensor_parallel_size, dep.expert_parallel_size, 1)
    hw = offload_hardware(hw, dep, tab)
    if metric == "decode_tokens_per_s":
        step = decode_step(tab, hw, c.params, fmt, batch=batch, context_tokens=inp + out / 2)
        return 1.0 / step.total_s
    if metric == "prefill_tokens_per_s":
        return inp / prefill_time(tab, hw, c.params, fmt, prompt_tokens=inp).total_s
    if metric == "ttft_s":
        return prefill_time(tab, hw, c.params, fmt, prompt_tokens=inp, num_prompts=batch).total_s
    raise UnsupportedError("validate.metric", given=metric)
