"""``gpuplan fit``: every catalog model × format that runs on a given machine (DESIGN §1, the personal deployment).

For each model the formats are tried from the most to the least precise; the first that fits entirely in GPU memory is
reported with its longest context, and, when it does not fit, the hybrid placement (MoE experts or layers in host
RAM, llama.cpp ``--n-cpu-moe`` / ``-ngl``, KTransformers) is tried against the host RAM. The speed class comes from the
bandwidth bound of one decode step (DESIGN §6, hybrid CPU/GPU: GPU-resident bytes / GPU bandwidth + host-resident
bytes / host bandwidth, over the bytes one token reads).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from gpuplan.catalog import GpuSpec, HostSpec, get_gpu, get_model, list_models
from gpuplan.catalog.models import ModelEntry
from gpuplan.errors import GpuplanError
from gpuplan.memory import size_inference
from gpuplan.memory.quant import get_format
from gpuplan.spec import Deployment
from gpuplan.units import GIB

FIT_FORMATS = ("bf16", "fp8", "awq-int4", "gguf-q8_0", "gguf-q6_k", "gguf-q4_k_m", "gguf-q3_k_m", "gguf-q2_k",
               "gguf-ud-q2_k_xl", "gguf-ud-iq1_s")
HOST_RESERVE_BYTES = 4 * GIB  # left for the OS and the engine's own process; assumption, stated


class FitRow(BaseModel):
    model_config = ConfigDict(frozen=True)

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


def _engine_for(fmt: str) -> str:
    if fmt.startswith("gguf-"):
        return "llama.cpp"
    return "vllm"


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


def fit_machine(gpu_id: str, gpu_count: int = 1, ram_bytes: int | None = None, host: HostSpec | None = None,
                family: str | None = None, context_tokens: int = 4096,
                models: tuple[str, ...] = ()) -> tuple[FitRow, ...]:
    """Every catalog model (or only ``models``: catalog ids, or imported ones the catalog resolves) that runs here."""
    gpu = get_gpu(gpu_id)
    if family is not None:
        families = sorted({m.family for m in list_models()})
        if family.lower() not in families:  # an unknown family is an error, not an empty table
            from gpuplan.errors import InvalidInputError

            raise InvalidInputError("models.unknown_family", given=family, allowed=", ".join(families))
        family = family.lower()
    rows: list[FitRow] = []
    for model in (tuple(get_model(m) for m in models) if models else list_models()):
        if family and model.family != family:
            continue
        row = _fit_one(model, gpu, gpu_count, ram_bytes, host, context_tokens)
        if row is not None:
            rows.append(row)
    # DeepSeek first (the question users ask), then what runs fully on the GPU, then bigger models first.
    rows.sort(key=lambda r: (r.family != "deepseek", r.placement != "gpu", -r.params_total))
    return tuple(rows)


def _fit_one(model: ModelEntry, gpu: GpuSpec, gpu_count: int, ram_bytes: int | None, host: HostSpec | None,
             context_tokens: int) -> FitRow | None:
    ctx = min(context_tokens, model.max_context_tokens or context_tokens)
    heads = model.arch.num_attention_heads
    tp = gpu_count if heads % gpu_count == 0 else 1
    hybrid_candidates = []
    for fmt in FIT_FORMATS:
        try:
            f = get_format(fmt)
        except GpuplanError:
            continue
        engine = _engine_for(fmt)
        if gpu.vendor not in f.vendors or engine not in f.engines:
            continue
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
                          speed_class=_speed_class(tps))
        if ram_bytes and engine == "llama.cpp":
            hybrid_candidates.append((fmt, dep))
    if not ram_bytes:
        return None
    for fmt, dep in hybrid_candidates:
        offload = "experts" if model.arch.is_moe else "layers"
        if offload == "experts":
            res = _try(model, dep.model_copy(update={"offload": "experts"}), ctx, gpu)
        else:
            res = _most_layers_on_gpu(model, dep, ctx, gpu)
        if res is not None:
            if res.host_bytes + HOST_RESERVE_BYTES <= ram_bytes:
                tps = _decode_bound(model, res, gpu, host)
                return FitRow(model=model.id, family=model.family, params_total=model.arch.params_total,
                              weight_format=fmt, engine="llama.cpp", placement="hybrid",
                              weights_bytes=res.weights_bytes, gpu_bytes=res.per_gpu.total_bytes if res.per_gpu else 0,
                              host_bytes=res.host_bytes, max_context_tokens=res.max_context_tokens,
                              decode_tokens_per_s_bound=tps, speed_class=_speed_class(tps))
    return None


def _try(model: ModelEntry, dep: Deployment, ctx: int, gpu: GpuSpec):
    try:
        res = size_inference(model, dep, context_tokens=ctx, concurrency=1, gpu=gpu)
    except GpuplanError:
        return None
    return res if res.fits else None


def _most_layers_on_gpu(model: ModelEntry, dep: Deployment, ctx: int, gpu: GpuSpec):
    """Binary search for the largest ``-ngl`` (layers on the GPU) that still fits (llama.cpp offloads the last n)."""
    lo, hi, best = 0, model.arch.num_layers, None
    while lo <= hi:
        mid = (lo + hi) // 2
        res = _try(model, dep.model_copy(update={"offload": "layers", "gpu_layers": mid}), ctx, gpu)
        if res is not None:
            best, lo = res, mid + 1
        else:
            hi = mid - 1
    return best
