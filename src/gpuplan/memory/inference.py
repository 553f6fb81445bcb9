"""Inference memory per GPU, per engine (DESIGN §5): weights, KV cache, activations, overheads, and the verdict.

Budget rules (engines.toml has the sources):

* vLLM: budget = gpu_memory_utilization × total; KV pool = budget − weights − peak activations − non-torch memory.
* SGLang: weights + KV pool = mem_fraction_static × total; activations and CUDA graphs live in the rest.
* TensorRT-LLM: KV pool = free_gpu_memory_fraction × (total − weights − activations − overhead).
* llama.cpp / Ollama / KTransformers: exact allocation — weights on the GPU + KV for the context + compute buffer;
  on unified-memory machines the GPU may use ``recommendedMaxWorkingSetSize`` (≈ 75% of RAM on Apple Silicon).

``max_concurrency`` = ⌊KV pool / KV bytes of one sequence of ``context_tokens`` (paged-block rounded)⌋.
"""

from __future__ import annotations

import math
from dataclasses import field
from functools import lru_cache
from typing import Any

from gpuplan.catalog import GpuSpec, ModelArch, get_gpu
from gpuplan.catalog.models import ModelEntry
from gpuplan.errors import GpuplanError, InvalidInputError, UnsupportedError
from gpuplan.memory.engines import engine_facts, sglang_mem_fraction_static
from gpuplan.memory.kv import kv_bytes_for_sequence, kv_cache_bytes_per_token, kv_layout, resolve_kv_dtype
from gpuplan.memory.shard import shard_weights
from gpuplan.memory.weights import CACHE_CLEARERS, entry, model_tensor_bytes, resolve_format
from gpuplan.records import Record, record
from gpuplan.spec import Deployment
from gpuplan.units import GIB, MIB

# Apple Silicon: Metal's recommendedMaxWorkingSetSize is about 75% of unified memory on larger machines
# (llama.cpp ggml-metal logs "recommendedMaxWorkingSetSize"; Apple documents the property on MTLDevice).
UNIFIED_GPU_FRACTION = 0.75
CUDA_CONTEXT_BYTES = 512 * MIB  # CUDA context + cuBLAS workspace that llama.cpp does not count; assumption, stated


@record(slots=True, kw_only=True)
class PerGpuMemory(Record):
    """Bytes on the most loaded GPU. ``total_bytes`` = weights + KV for the request + activations + overhead."""

    weights_bytes: int
    kv_cache_bytes: int
    activation_bytes: int
    overhead_bytes: int
    total_bytes: int
    capacity_bytes: int
    budget_bytes: int
    kv_pool_bytes: int


@record(slots=True, kw_only=True)
class InferenceMemory(Record):
    """The answer of ``gpuplan size`` for serving."""

    model_id: str
    params_total: int
    params_active: int
    weight_format: str
    kv_dtype: str
    engine: str
    weights_bytes: int
    weights_by_component_bytes: dict[str, int]
    kv_cache_bytes_per_token: int
    kv_cache_bytes_per_token_per_gpu: int
    kv_cache_bytes_per_sequence_per_gpu: int
    context_tokens: int
    concurrency: int
    gpu: str | None = None
    gpu_count: int | None = None
    per_gpu: PerGpuMemory | None = None
    fits: bool | None = None
    binding: str | None = None
    max_concurrency: int | None = None
    max_context_tokens: int | None = None
    host_bytes: int = 0
    engine_args: dict[str, Any] = field(default_factory=dict)
    assumptions: tuple[str, ...] = ()


@lru_cache(maxsize=4096)
def _sharded_bytes(model_id: str, weight_format: str, tp: int, pp: int, ep: int, dp_att: int) -> int:
    """Weights on the most loaded GPU, cached: the planner asks the same layout for every GPU type."""
    model = entry(model_id)
    return shard_weights(model.arch, model_tensor_bytes(model, weight_format), tp=tp, pp=pp, ep=ep,
                         dp_attention=dp_att).per_gpu_bytes


@lru_cache(maxsize=1024)
def _whole_weights(model_id: str, weight_format: str) -> tuple[int, dict[str, int]]:
    by_comp: dict[str, int] = {}
    for t, n in model_tensor_bytes(entry(model_id), weight_format):
        by_comp[t.component] = by_comp.get(t.component, 0) + n
    return sum(by_comp.values()), by_comp


@lru_cache(maxsize=1024)
def _kv_per_token_cached(model_id: str, kv_dtype: str) -> int:
    return kv_cache_bytes_per_token(entry(model_id).arch, kv_dtype)


@lru_cache(maxsize=4096)
def _kv_layout_cached(model_id: str, kv_dtype: str, tp: int, pp: int):
    return kv_layout(entry(model_id).arch, kv_dtype, tp=tp, pp=pp, per_gpu=True)


def _check_layout(arch: ModelArch, tp: int, pp: int, ep: int, gpu_count: int, model_max_context: int | None,
                  context_tokens: int) -> None:
    heads = arch.num_attention_heads
    if heads % tp:
        valid = [d for d in range(1, heads + 1) if heads % d == 0 and d <= 64]
        raise InvalidInputError("memory.tp_heads", tp=tp, heads=heads, valid=", ".join(map(str, valid)))
    if pp > arch.num_layers:
        raise InvalidInputError("memory.pp_layers", pp=pp, layers=arch.num_layers)
    if ep > 1:
        experts = arch.num_experts
        if not experts:
            raise InvalidInputError("memory.ep_dense", ep=ep)
        if experts % ep:
            valid = [d for d in range(1, experts + 1) if experts % d == 0 and d <= 512]
            raise InvalidInputError("memory.ep_experts", ep=ep, experts=experts, valid=", ".join(map(str, valid)))
    if model_max_context and context_tokens > model_max_context:
        raise InvalidInputError("memory.context_too_long", given=context_tokens, allowed=model_max_context)
    if tp * pp > gpu_count:
        raise InvalidInputError("memory.layout_gpus", tp=tp, pp=pp, gpus=gpu_count)


def _activation_bytes(arch: ModelArch, engine: str, tp: int, batched_tokens: int, facts: dict[str, Any]) -> int:
    """Peak activations of the engine's profiling step: tokens × factor × (hidden + intermediate/TP) × 2 B.

    The factor is fitted on vLLM's logged peak (engines.toml [vllm.fitted]); MoE layers use top_k × expert width
    (the fused-MoE intermediate cache).
    """
    factor = float(engines_fitted(facts).get("activation_elements_per_token_factor", 3.0))
    return math.ceil(batched_tokens * factor * (arch.hidden_size + arch.widest_mlp_intermediate / tp) * 2)




CACHE_CLEARERS.extend([_sharded_bytes.cache_clear, _whole_weights.cache_clear, _kv_layout_cached.cache_clear,
                       _kv_per_token_cached.cache_clear])


def rope_cache_bytes(arch: ModelArch) -> int:
    """vLLM's rotary ``cos_sin_cache`` buffer, counted in its "Loading model weights took" figure:
    max_position_embeddings × rotary dim × 2 B (Llama-3.1-8B: 131072 · 128 · 2 = 33.5 MB, which is exactly the gap
    between its parameters and the 14.9888 GiB vLLM logs, shared/calibration M208)."""
    att = arch.attention[0]
    rot = att.qk_rope_head_dim if att.kind in ("mla", "dsv4") else att.head_dim
    return (arch.max_position_embeddings or 0) * (rot or 0) * 2


def engines_fitted(facts: dict[str, Any]) -> dict[str, Any]:
    return facts.get("fitted", {})


def size_inference(
    model: ModelEntry,
    dep: Deployment,
    *,
    context_tokens: int,
    concurrency: int = 1,
    gpu: GpuSpec | None = None,
) -> InferenceMemory:
    """Memory of serving ``model`` on ``dep`` with ``concurrency`` sequences of ``context_tokens`` each."""
    arch = model.arch
    gpu = gpu or get_gpu(dep.gpu_id)
    engine = dep.engine
    dp_att = dep.data_parallel_size if dep.enable_dp_attention else 1
    (kv_dtype, weights_gpu, activation, overhead, budget, kv_pool, capacity, seq_bytes_gpu, per_tok_gpu, block,
     host_bytes, engine_args, assumptions) = _pool(
        model, gpu, engine, dep.weight_format, dep.kv_dtype, dep.tensor_parallel_size, dep.pipeline_parallel_size,
        dep.expert_parallel_size, dp_att, dep.gpu_count, context_tokens, dep.offload, dep.cpu_moe_layers,
        dep.gpu_layers, dep.gpu_memory_utilization, dep.max_num_batched_tokens)
    whole_weights, by_comp = _whole_weights(model.id, dep.weight_format)
    # DP-attention splits sequences over DP ranks: each GPU holds its share of the concurrent sequences.
    seqs_per_gpu = math.ceil(concurrency / dp_att)

    kv_needed = seq_bytes_gpu * seqs_per_gpu
    total = weights_gpu + kv_needed + activation + overhead
    fits = kv_pool >= kv_needed and kv_pool > 0
    if kv_pool <= 0:
        binding = "weights"
    elif not fits:
        binding = "kv_cache"
    else:
        binding = "fits"
    max_conc = max(0, kv_pool // seq_bytes_gpu) * dp_att if seq_bytes_gpu > 0 else None
    max_ctx = None
    if kv_pool > 0 and per_tok_gpu > 0:
        max_ctx = int(kv_pool // (per_tok_gpu * seqs_per_gpu)) // block * block
        if model.max_context_tokens:
            max_ctx = min(max_ctx, model.max_context_tokens)

    engine_args.update({"max_model_len": context_tokens, "max_num_seqs": max(1, min(concurrency, max_conc or 1)),
                        "kv_cache_dtype": kv_dtype})
    per_gpu = PerGpuMemory(
        weights_bytes=weights_gpu, kv_cache_bytes=kv_needed, activation_bytes=activation, overhead_bytes=overhead,
        total_bytes=total, capacity_bytes=capacity, budget_bytes=budget, kv_pool_bytes=max(kv_pool, 0),
    )
    return InferenceMemory(
        model_id=model.id, params_total=arch.params_total, params_active=arch.params_active,
        weight_format=resolve_format(model, dep.weight_format), kv_dtype=kv_dtype, engine=engine,
        weights_bytes=whole_weights, weights_by_component_bytes=by_comp,
        kv_cache_bytes_per_token=_kv_per_token_cached(model.id, kv_dtype),
        kv_cache_bytes_per_token_per_gpu=per_tok_gpu, kv_cache_bytes_per_sequence_per_gpu=seq_bytes_gpu,
        context_tokens=context_tokens, concurrency=concurrency, gpu=gpu.id, gpu_count=dep.gpu_count,
        per_gpu=per_gpu, fits=fits, binding=binding, max_concurrency=max_conc, max_context_tokens=max_ctx,
        host_bytes=host_bytes, engine_args=engine_args, assumptions=tuple(assumptions),
    )


def kv_capacity(model: ModelEntry, gpu: GpuSpec, *, engine: str, weight_format: str, kv_dtype: str, tp: int, pp: int,
                ep: int, dp_att: int, gpu_count: int, context_tokens: int) -> tuple[bool, int | None]:
    """What ``size_inference`` says of one sequence on this layout (no offload, the engine's default budget), without
    building its answer: (``fits``, ``max_concurrency``). The planner asks this of every layout it orders
    (plan.search); raises as ``size_inference`` does."""
    pool = _pool(model, gpu, engine, weight_format, kv_dtype, tp, pp, ep, dp_att, gpu_count, context_tokens)
    kv_pool, seq_bytes_gpu = pool[5], pool[7]
    seqs_per_gpu = math.ceil(1 / dp_att)
    fits = kv_pool >= seq_bytes_gpu * seqs_per_gpu and kv_pool > 0
    return fits, (max(0, kv_pool // seq_bytes_gpu) * dp_att if seq_bytes_gpu > 0 else None)


def _pool(model: ModelEntry, gpu: GpuSpec, engine: str, weight_format: str, kv_dtype_asked: str, tp: int, pp: int,
          ep: int, dp_att: int, gpu_count: int, context_tokens: int, offload: str = "none",
          cpu_moe_layers: int | None = None, gpu_layers: int | None = None,
          gpu_memory_utilization: float | None = None, max_num_batched_tokens: int | None = None) -> tuple:
    """The concurrency-independent part of ``size_inference``: (KV dtype, weights per GPU, activations, overhead,
    budget, KV pool, capacity, KV bytes of one sequence per GPU, per token per GPU, block, host bytes, engine args,
    assumptions). What does not depend on the GPU (past its KV dtype) is worked out once per layout and context
    (_layout_part): the planner asks this of one layout on every GPU of the catalog."""
    arch = model.arch
    facts = engine_facts(engine)
    kv_dtype = resolve_kv_dtype(kv_dtype_asked, engine, arch, compute_capability=gpu.compute_capability)
    _check_layout(arch, tp, pp, ep, gpu_count, model.max_context_tokens, context_tokens)
    if offload == "none":
        key = (model.id, engine, weight_format, kv_dtype, tp, pp, ep, dp_att, context_tokens, gpu_memory_utilization,
               max_num_batched_tokens)
        hit = _LAYOUT_PARTS.get(key)
        if hit is None or hit[0] is not model:
            try:
                part = _layout_part(model, facts, engine, weight_format, kv_dtype, tp, pp, ep, dp_att, context_tokens,
                                    offload, cpu_moe_layers, gpu_layers, gpu_memory_utilization,
                                    max_num_batched_tokens)
            except GpuplanError as exc:  # as deterministic as a result: the same error for the same layout
                part = exc
            if len(_LAYOUT_PARTS) > 20000:
                _LAYOUT_PARTS.clear()
            hit = _LAYOUT_PARTS[key] = (model, part)
        part = hit[1]
        if isinstance(part, GpuplanError):
            raise part
    else:
        part = _layout_part(model, facts, engine, weight_format, kv_dtype, tp, pp, ep, dp_att, context_tokens, offload,
                            cpu_moe_layers, gpu_layers, gpu_memory_utilization, max_num_batched_tokens)
    weights_gpu, host_bytes, block, seq_bytes_gpu, per_tok_gpu, rule, fixed, args, rule_note = part
    assumptions: list[str] = []
    if kv_dtype == "fp8_ds_mla" and engine in ("vllm", "sglang"):
        assumptions.append("v32kv.assume_fp8_ds_mla" if engine == "vllm" else "v32kv.assume_fp8_ds_mla_sglang")

    capacity = gpu.memory_bytes
    if gpu.is_unified_memory:
        capacity = int(gpu.memory_bytes * UNIFIED_GPU_FRACTION)
        assumptions.append("memory.assume_unified")

    if rule == "fraction_of_total":
        util, activation, overhead = fixed
        budget = int(util * capacity)
        kv_pool = budget - weights_gpu - activation - overhead
    elif rule == "mem_fraction_static":
        frac = fixed
        budget = int(frac * capacity)
        activation = 0
        overhead = capacity - budget  # reserved for activations and CUDA graphs by the engine's own rule
        kv_pool = budget - weights_gpu
    elif rule == "fraction_of_free":
        frac, activation = fixed
        overhead = CUDA_CONTEXT_BYTES
        free = capacity - weights_gpu - activation - overhead
        kv_pool = int(frac * free)
        budget = capacity - int((1 - frac) * max(free, 0))
    else:  # exact (llama.cpp, ollama, ktransformers)
        activation = fixed
        overhead = CUDA_CONTEXT_BYTES if gpu.vendor == "nvidia" else 0
        budget = capacity
        kv_pool = budget - weights_gpu - activation - overhead
    assumptions.append(rule_note)
    return (kv_dtype, weights_gpu, activation, overhead, budget, kv_pool, capacity, seq_bytes_gpu, per_tok_gpu, block,
            host_bytes, dict(args), assumptions)


_LAYOUT_PARTS: dict = {}
CACHE_CLEARERS.append(_LAYOUT_PARTS.clear)


def _layout_part(model: ModelEntry, facts: dict[str, Any], engine: str, weight_format: str, kv_dtype: str, tp: int,
                 pp: int, ep: int, dp_att: int, context_tokens: int, offload: str, cpu_moe_layers: int | None,
                 gpu_layers: int | None, gpu_memory_utilization: float | None,
                 max_num_batched_tokens: int | None) -> tuple:
    """_pool's figures that do not depend on the GPU: (weights per GPU — with vLLM's rope cache —, host bytes, block,
    KV bytes of one sequence per GPU, per token per GPU, budget rule, the rule's GPU-independent figures, engine
    args, the rule's assumption)."""
    arch = model.arch
    # Hybrid placement: routed experts (KTransformers, llama.cpp --n-cpu-moe) or whole layers (-ngl) in host RAM.
    host_bytes = 0
    if offload == "none":
        model_tensor_bytes(model, weight_format)  # registers the entry (and raises for a format it cannot take)
        weights_gpu = _sharded_bytes(model.id, weight_format, tp, pp, ep, dp_att)
    else:
        tb = model_tensor_bytes(model, weight_format)
        whole_weights = _whole_weights(model.id, weight_format)[0]
        gpu_tb = tb
        if offload == "experts":
            gpu_tb = [(t, n) for t, n in tb if t.component != "routed_experts"]
            host_bytes = whole_weights - sum(n for _, n in gpu_tb)
            if cpu_moe_layers is not None:
                keep = set(arch.moe_layers[cpu_moe_layers:]) if cpu_moe_layers < len(arch.moe_layers) else set()
                gpu_tb = [(t, n) for t, n in tb if t.component != "routed_experts" or t.layer in keep]
                host_bytes = whole_weights - sum(n for _, n in gpu_tb)
        elif offload == "layers":
            n_gpu = arch.num_layers if gpu_layers is None else min(gpu_layers, arch.num_layers)
            first_gpu_layer = arch.num_layers - n_gpu  # llama.cpp offloads the last n layers
            gpu_tb = [(t, n) for t, n in tb if t.layer is None and t.component == "lm_head" or
                      (t.layer is not None and t.layer >= first_gpu_layer) or t.component == "norm" and t.layer is None]
            host_bytes = whole_weights - sum(n for _, n in gpu_tb)
        weights_gpu = shard_weights(arch, gpu_tb, tp=tp, pp=pp, ep=ep, dp_attention=dp_att).per_gpu_bytes

    block = int(facts.get("block_size_tokens", facts.get("page_size_tokens", 1)) or 1)
    gpu_layer_fraction = 1.0
    if offload == "layers" and gpu_layers is not None:
        gpu_layer_fraction = min(gpu_layers, arch.num_layers) / arch.num_layers
    layout = _kv_layout_cached(model.id, kv_dtype, tp, pp)
    padded = math.ceil(context_tokens / block) * block
    seq_bytes_gpu = math.ceil(layout.bytes_for_sequence(padded) * gpu_layer_fraction)
    per_tok_gpu = math.ceil(layout.bytes_per_token * gpu_layer_fraction)

    rule = facts["budget_rule"]
    args: dict[str, Any] = {}
    if rule == "fraction_of_total":
        if gpu_memory_utilization is None and "gpu_memory_utilization" not in facts:
            raise UnsupportedError("ascend.no_default_fraction", engine=engine)  # MindIE: default not published
        util = gpu_memory_utilization or float(facts["gpu_memory_utilization"])
        weights_gpu += rope_cache_bytes(arch)
        batched = max_num_batched_tokens or int(facts["max_num_batched_tokens"])
        activation = _activation_bytes(arch, engine, tp, batched, facts)
        overhead = int(engines_fitted(facts).get("non_torch_bytes_single_gpu", 0))
        fixed: Any = (util, activation, overhead)
        args = {"gpu_memory_utilization": util, "max_num_batched_tokens": batched, "block_size": block}
        note = "memory.assume_vllm"
    elif rule == "mem_fraction_static":
        fixed = frac = gpu_memory_utilization or sglang_mem_fraction_static(tp * pp)
        args = {"mem_fraction_static": frac}
        note = "memory.assume_sglang"
    elif rule == "fraction_of_free":
        frac = gpu_memory_utilization or float(facts["kv_cache_free_gpu_memory_fraction"])
        batched = max_num_batched_tokens or 8192
        fixed = (frac, _activation_bytes(arch, engine, tp, batched, engine_facts("vllm")))  # vLLM's fitted factor
        args = {"kv_cache_free_gpu_memory_fraction": frac}
        note = "memory.assume_trtllm"
    else:  # exact (llama.cpp, ollama, ktransformers)
        ubatch = int(facts.get("n_ubatch_default", 512))
        fixed = ubatch * (arch.vocab_size + 4 * max(arch.hidden_size, max(m.intermediate_size for m in arch.mlp))) * 4
        note = "memory.assume_exact"
    return weights_gpu, host_bytes, block, seq_bytes_gpu, per_tok_gpu, rule, fixed, args, note


def size_model_only(model: ModelEntry, weight_format: str, kv_dtype: str = "auto", engine: str = "vllm",
                    context_tokens: int = 4096, concurrency: int = 1) -> InferenceMemory:
    """Whole-model figures without a GPU (``gpuplan size MODEL`` with no ``--gpu``)."""
    arch = model.arch
    kv = resolve_kv_dtype(kv_dtype, engine, arch)
    whole, by_comp = _whole_weights(model.id, weight_format)
    seq = kv_bytes_for_sequence(arch, kv, context_tokens)
    if model.max_context_tokens and context_tokens > model.max_context_tokens:
        raise InvalidInputError("memory.context_too_long", given=context_tokens, allowed=model.max_context_tokens)
    return InferenceMemory(
        model_id=model.id, params_total=arch.params_total, params_active=arch.params_active,
        weight_format=resolve_format(model, weight_format), kv_dtype=kv, engine=engine, weights_bytes=whole,
        weights_by_component_bytes=by_comp, kv_cache_bytes_per_token=kv_cache_bytes_per_token(arch, kv),
        kv_cache_bytes_per_token_per_gpu=kv_cache_bytes_per_token(arch, kv),
        kv_cache_bytes_per_sequence_per_gpu=seq, context_tokens=context_tokens, concurrency=concurrency,
    )


__all__ = ["GIB", "InferenceMemory", "PerGpuMemory", "kv_capacity", "size_inference", "size_model_only"]
