"""``gpuplan fit``: every catalog model × format that runs on a given machine (DESIGN §1, the personal deployment).

For each model the formats are tried from the most to the least precise; the first that fits entirely in GPU memory is
reported with its longest context, and, when it does not fit, the hybrid placement (MoE experts or layers in host
RAM, llama.cpp ``--n-cpu-moe`` / ``-ngl``, KTransformers) is tried against the host RAM. The speed class comes from the
bandwidth bound of one decode step (DESIGN §6, hybrid CPU/GPU: GPU-resident bytes / GPU bandwidth + host-resident
bytes / host bandwidth, over the bytes one token reads).
"""

from __future__ import annotations

from dataclasses import field

from gpuplan.artifacts.engine_argv import EngineConfig, engine_flags
from gpuplan.catalog import GpuSpec, HostSpec, get_gpu, get_model, list_models
from gpuplan.catalog.checkpoints import (
    QUALITY_LEVELS,
    SIXTEEN_BIT,
    CheckpointRef,
    checkpoint_for,
    native_format_of,
    quality_allowed,
    quality_tier,
)
from gpuplan.catalog.models import ModelEntry
from gpuplan.errors import GpuplanError, InvalidInputError
from gpuplan.memory import size_inference
from gpuplan.memory.quant import get_format
from gpuplan.records import Record, record
from gpuplan.spec import Deployment
from gpuplan.units import GIB

FIT_FORMATS = ("bf16", "fp16", "fp8", "awq-int4", "gguf-q8_0", "gguf-q6_k", "gguf-q4_k_m", "gguf-q3_k_m", "gguf-q2_k",
               "gguf-ud-q2_k_xl", "gguf-ud-iq1_s")
HOST_RESERVE_BYTES = 4 * GIB  # left for the OS and the engine's own process; assumption, stated


@record(kw_only=True)
class FitRow(Record):
    """One model × format that runs on the machine (a record, not pydantic: issue 16, start-up)."""

    model: str
    family: str
    params_total: int
    weight_format: str
    engine: str
    placement: str  # "gpu" | "hybrid"
    weights_bytes: int
    gpu_bytes: int
    host_bytes: int
    max_context_tokens: int | None
    decode_tokens_per_s_bound: float | None
    speed_class: str
    quality: str | None = None
    checkpoint: CheckpointRef | None = None
    #: The engine flags that realize this row (artifacts.engine_argv), model reference included for llama.cpp.
    engine_args: dict = field(default_factory=dict)


def _engine_for(fmt: str, gpu: GpuSpec) -> str | None:
    """The engine a row is sized for: llama.cpp for GGUF files, else the vendor's vLLM build (vLLM, vLLM-Ascend);
    None where no such engine runs on the GPU's vendor (Apple: llama.cpp only), so the row's "Next:" command plans."""
    from gpuplan.memory.engines import engines_for_vendor

    engines = engines_for_vendor(gpu.vendor)
    wanted = ("llama.cpp",) if fmt.startswith("gguf-") else ("vllm", "vllm-ascend")
    return next((e for e in engines if e in wanted), None)


def _decode_bound(model: ModelEntry, res, gpu: GpuSpec, host: HostSpec | None) -> float | None:
    """Tokens/s upper bound: bytes one token reads (active weights) over the bandwidth where they live."""
    arch = model.arch
    if res.weights_bytes <= 0:
        return None
    active_fraction = arch.params_active / arch.params_total
    gpu_active = (res.weights_bytes - res.host_bytes) * (active_fraction if res.host_bytes == 0 else 1.0)
    if res.host_bytes:
        # experts (MoE) in host RAM: only the activated ones are read; dense layers on host: all of them
        routed = arch.params_routed_experts / arch.params_total
        host_active = res.host_bytes * (active_fraction if routed > 0.5 else 1.0)
        gpu_active = (res.weights_bytes - res.host_bytes) if routed > 0.5 else gpu_active
        if host is None:
            return None
        seconds = gpu_active / gpu.memory_bandwidth_bytes_per_s + host_active / host.memory_bandwidth_bytes_per_s
    else:
        seconds = gpu_active / gpu.memory_bandwidth_bytes_per_s
    return 1.0 / seconds if seconds > 0 else None


def _speed_class(tps: float | None) -> str:
    if tps is None:
        return "unknown"
    if tps >= 30:
        return "fast"
    if tps >= 10:
        return "usable"
    if tps >= 2:
        return "slow"
    return "very_slow"


#: ``fit`` answers "what runs on my card": by default the 4-bit GGUF/AWQ files people run on one machine.
FIT_DEFAULT_QUALITY = "4bit"


def fit_machine(gpu_id: str, gpu_count: int = 1, ram_bytes: int | None = None, host: HostSpec | None = None,
                family: str | None = None, context_tokens: int = 4096,
                models: tuple[str, ...] = (), quality: str = FIT_DEFAULT_QUALITY) -> tuple[FitRow, ...]:
    """Every catalog model (or only ``models``: catalog ids, or imported ones the catalog resolves) that runs here, in
    the most precise format down to ``quality`` that a checkpoint provides."""
    if quality not in QUALITY_LEVELS:
        raise InvalidInputError("checkpoint.bad_quality", given=quality, allowed=", ".join(QUALITY_LEVELS))
    gpu = get_gpu(gpu_id)
    if family is not None:
        families = sorted({m.family for m in list_models()})
        if family.lower() not in families:  # an unknown family is an error, not an empty table
            raise InvalidInputError("models.unknown_family", given=family, allowed=", ".join(families))
        family = family.lower()
    rows: list[FitRow] = []
    for model in (tuple(get_model(m) for m in models) if models else list_models()):
        if family and model.family != family:
            continue
        row = _fit_one(model, gpu, gpu_count, ram_bytes, host, context_tokens, quality)
        if row is not None:
            rows.append(row)
    # DeepSeek first (the question users ask), then what runs fully on the GPU, then bigger models first.
    rows.sort(key=lambda r: (r.family != "deepseek", r.placement != "gpu", -r.params_total))
    return tuple(rows)


def _fit_one(model: ModelEntry, gpu: GpuSpec, gpu_count: int, ram_bytes: int | None, host: HostSpec | None,
             context_tokens: int, quality: str = FIT_DEFAULT_QUALITY) -> FitRow | None:
    from gpuplan.memory.engines import gpu_has_bf16 as has_bf16

    ctx = min(context_tokens, model.max_context_tokens or context_tokens)
    heads = model.arch.num_attention_heads
    tp = gpu_count if heads % gpu_count == 0 else 1
    hybrid_candidates = []
    for fmt in FIT_FORMATS:
        try:
            f = get_format(fmt)
        except GpuplanError:
            continue
        engine = _engine_for(fmt, gpu)
        if engine is None or gpu.vendor not in f.vendors or engine not in f.engines:
            continue
        if fmt in SIXTEEN_BIT and (fmt == "bf16") != has_bf16(gpu):
            continue  # BF16 where the GPU has it, else the release cast to FP16 (T4, V100, Ascend 310P), as plan does
        tier = quality_tier(fmt, native_format_of(model))
        checkpoint = checkpoint_for(model, fmt, engine)
        if not quality_allowed(tier, quality) or checkpoint is None:
            continue  # below the allowed quality, or no artifact provides it
        if gpu.vendor == "nvidia" and f.min_compute_capability and (gpu.compute_capability or 0) < f.min_compute_capability:
            continue
        dep = Deployment(gpu_id=gpu.id, gpu_count=gpu_count, engine=engine, weight_format=fmt, tensor_parallel_size=tp)
        try:
            res = size_inference(model, dep, context_tokens=ctx, concurrency=1, gpu=gpu)
        except GpuplanError:
            continue
        if res.fits:
            tps = _decode_bound(model, res, gpu, host)
            return FitRow(model=model.id, family=model.family, params_total=model.arch.params_total,
                          weight_format=fmt, engine=engine, placement="gpu", weights_bytes=res.weights_bytes,
                          gpu_bytes=res.per_gpu.total_bytes if res.per_gpu else 0, host_bytes=0,
                          max_context_tokens=res.max_context_tokens, decode_tokens_per_s_bound=tps,
                          speed_class=_speed_class(tps), quality=tier, checkpoint=checkpoint,
                          engine_args=_flags(dep, res, checkpoint, ctx))
        if ram_bytes and engine == "llama.cpp":
            hybrid_candidates.append((fmt, dep, tier, checkpoint))
    if not ram_bytes:
        return None
    for fmt, dep, tier, checkpoint in hybrid_candidates:
        offload = "experts" if model.arch.is_moe else "layers"
        if offload == "experts":
            dep = dep.model_copy(update={"offload": "experts"})
            res = _try(model, dep, ctx, gpu)
        else:
            res, layers = _most_layers_on_gpu(model, dep, ctx, gpu)
            dep = dep.model_copy(update={"offload": "layers", "gpu_layers": layers})
        if res is not None:
            if res.host_bytes + HOST_RESERVE_BYTES <= ram_bytes:
                tps = _decode_bound(model, res, gpu, host)
                return FitRow(model=model.id, family=model.family, params_total=model.arch.params_total,
                              weight_format=fmt, engine="llama.cpp", placement="hybrid",
                              weights_bytes=res.weights_bytes, gpu_bytes=res.per_gpu.total_bytes if res.per_gpu else 0,
                              host_bytes=res.host_bytes, max_context_tokens=res.max_context_tokens,
                              decode_tokens_per_s_bound=tps, speed_class=_speed_class(tps), quality=tier,
                              checkpoint=checkpoint, engine_args=_flags(dep, res, checkpoint, ctx))
    return None


def _try(model: ModelEntry, dep: Deployment, ctx: int, gpu: GpuSpec):
    try:
        res = size_inference(model, dep, context_tokens=ctx, concurrency=1, gpu=gpu)
    except GpuplanError:
        return None
    return res if res.fits else None


def _most_layers_on_gpu(model: ModelEntry, dep: Deployment, ctx: int, gpu: GpuSpec):
    """Binary search for the largest ``-ngl`` (layers on the GPU) that still fits (llama.cpp offloads the last n)."""
    lo, hi, best, best_layers = 0, model.arch.num_layers, None, None
    while lo <= hi:
        mid = (lo + hi) // 2
        res = _try(model, dep.model_copy(update={"offload": "layers", "gpu_layers": mid}), ctx, gpu)
        if res is not None:
            best, best_layers, lo = res, mid, mid + 1
        else:
            hi = mid - 1
    return best, best_layers


def _flags(dep: Deployment, res, checkpoint: CheckpointRef, ctx: int) -> dict:
    """The launch flags of a fit row: one sequence of ``ctx`` tokens, the layout and placement it was sized with."""
    return engine_flags(EngineConfig(
        engine=dep.engine, checkpoint=checkpoint, weight_format=dep.weight_format, kv_dtype=res.kv_dtype,
        tensor_parallel_size=dep.tensor_parallel_size, context_tokens=ctx, max_seqs=1,
        memory_fraction=res.engine_args.get("gpu_memory_utilization"),
        max_num_batched_tokens=res.engine_args.get("max_num_batched_tokens"),
        block_size=res.engine_args.get("block_size"), offload=dep.offload, gpu_layers=dep.gpu_layers,
        cpu_moe_layers=dep.cpu_moe_layers))
