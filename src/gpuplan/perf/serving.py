"""Serving estimate: continuous batching at a concurrency or an arrival rate (DESIGN §6).

For concurrency C (capped by the KV-cache capacity and the engine's ``max_num_seqs``), in steady state every request
is prefilled once and then decodes O tokens in a batch of B = min(C, cap) sequences:

    TTFT  = prefill of its own prompt (chunked) + the decode steps of the others it shares those chunks with
    TPOT  = decode step at batch B and mean context I + O/2  +  (B − 1)/B · batched prefill of B prompts / O
    E2E   = TTFT + (O − 1) · TPOT
    requests/s = B / E2E (Little's law), output tokens/s = requests/s · O, input tokens/s = requests/s · I.

For an arrival rate R the concurrency is the B that solves B = R · E2E(B) (Little's law); above the capacity the
queue grows without bound and the estimate says so. Speculative decoding / MTP with s draft tokens accepted with
probability p each: a step verifies s + 1 tokens per sequence and yields Σ_{i=0..s} p^i of them.
"""

from __future__ import annotations

import math
from functools import lru_cache

from gpuplan.catalog import GpuSpec, get_gpu
from gpuplan.catalog.models import ModelEntry
from gpuplan.errors import InvalidInputError, UnsupportedError
from gpuplan.memory import size_inference
from gpuplan.memory.engines import engine_seq_cap
from gpuplan.memory.kv import resolve_kv_dtype
from gpuplan.memory.quant import get_format
from gpuplan.memory.weights import CACHE_CLEARERS, resolve_format
from gpuplan.memory.weights import entry as entry_for_id
from gpuplan.perf.calibration import Calibration, CalibrationSet, load_calibration
from gpuplan.perf.engine_version import version_covered
from gpuplan.perf.step import Hardware, StepTime, decode_step, prefill_time
from gpuplan.perf.tables import model_table
from gpuplan.records import Record, record
from gpuplan.spec import Deployment, Workload

# Per-GPU inter-node bandwidth when the deployment spans nodes: one 400 Gb/s NDR InfiniBand / ConnectX-7 port per
# GPU, as in NVIDIA DGX H100 (8 × 400 Gb/s; docs.nvidia.com/dgx/dgxh100-user-guide/introduction-to-dgxh100.html).
INTERNODE_BYTES_PER_S = 50e9
# PCIe 4.0 x16 per direction (GT/s × lanes × 128/130 ÷ 8), used when a card lists no interconnect rate.
PCIE4_X16_BYTES_PER_S = 31.5e9
# DeepSeek-V3 technical report §5.4.3 (arXiv:2412.19437): the second token predicted by MTP is accepted 85–90%.
MTP_ACCEPTANCE_FRACTION = 0.85
# Uncertainty band multiplier when the calibration falls back to another engine or architecture.
FALLBACK_UNCERTAINTY_FACTOR = 1.5
# Uncertainty band multiplier when no measured row stands behind the calibration cell (priors only).
NO_ROWS_UNCERTAINTY_FACTOR = 2.0

_COMPUTE_DTYPE = {"w16a16": "bf16", "w8a8-fp8": "fp8", "w8a8-int8": "int8", "w8a16-fp8": "bf16", "w4a16": "bf16",
                  "w4a4-fp4": "fp4", "gguf-dequant": "fp16"}

BOTTLENECK_KEYS = {"weights": "memory_bandwidth", "kv": "memory_bandwidth", "compute": "compute",
                   "attention": "compute", "communication": "communication", "host": "host_bandwidth",
                   "overhead": "overhead"}


@record
class OperationShare(Record):
    """One operator of the decode step: seconds, what bounds it, and its share of the step."""

    name: str              # dense_gemm | moe_experts | attention | elementwise | sampling | tp_allreduce | ...
    time_s: float
    bound: str             # memory | compute | communication | host_memory | host_compute | overhead
    share_fraction: float


@record(kw_only=True)
class ServingEstimate(Record):
    """Speed of one replica under a workload. Seconds and tokens/s; ``None`` = cannot be stated."""

    ttft_s: float | None
    tpot_s: float | None
    e2e_s: float | None
    decode_tokens_per_s: float | None        # per sequence
    prefill_tokens_per_s: float | None       # one prompt alone
    output_tokens_per_s: float | None        # aggregate
    input_tokens_per_s: float | None
    requests_per_s: float | None
    concurrency: float                       # sequences in flight (solved from the rate when a rate is given)
    requested_concurrency: float | None = None  # what the workload asked for (None for a rate)
    max_concurrency: int | None              # KV-cache capacity at this context, capped by max_num_seqs
    saturated: bool = False                  # arrival rate above what the deployment can serve
    bottleneck: str                          # memory_bandwidth | compute | communication | overhead | ...
    bottleneck_term: str                     # weights | kv | compute | attention | communication | host | overhead
    bottleneck_fraction: float               # share of the decode step the bottleneck term takes
    decode_step_s: float
    decode_step_terms_s: dict[str, float]
    weight_format: str
    kv_dtype: str
    calibration: str
    calibration_exact: bool
    uncertainty_fraction: float
    assumptions: tuple[str, ...] = ()
    decode_step_operations: tuple[OperationShare, ...] = ()
    prefill_operations: tuple[OperationShare, ...] = ()   # one prompt alone, by operator (chunked passes summed)
    calibration_rows: int = 0                 # measured rows behind the calibration cell (0: priors only)
    calibration_versions: tuple[str, ...] = ()  # engine versions those rows were measured on
    engine_version: str | None = None         # the version asked for (None: the calibrated versions apply)


def _peak(gpu: GpuSpec, dtype: str) -> float | None:
    """Dense peak for the compute dtype, falling back to 16-bit, then FP32 (no FP8 units → runs as 16-bit).

    ``fp16-or-fp32`` (llama.cpp): the better of the FP16 tensor rate and the FP32 rate (Pascal has no FP16 tensor
    cores). None when the catalog states no rate at all.
    """
    if dtype == "fp16-or-fp32":
        rates = [gpu.peak_flops_per_s(d) for d in ("fp16", "fp32")]
        return max((r for r in rates if r), default=None)
    for d in (dtype, "fp8" if dtype == "fp4" else "bf16", "bf16", "fp16", "fp32"):
        v = gpu.peak_flops_per_s(d)
        if v:
            return v
    return None


def host_rates(dep: Deployment, host_bytes_per_s: float | None = None) -> tuple[float, float]:
    """(memory bytes/s, CPU FLOP/s) of the deployment's host for weights kept in host RAM; 0 = not stated.

    The CPU rate is the AVX-512/AVX2 FP32 FMA peak (llama.cpp's and KTransformers 0.2's llamafile kernels); without a
    stated rate the host path is priced by its memory bandwidth alone.
    """
    bw = host_bytes_per_s or 0.0
    flops = 0.0
    if dep.host_id:
        from gpuplan.catalog import get_host

        host = get_host(dep.host_id)
        bw = bw or (host.memory_bandwidth_bytes_per_s or 0.0)
        flops = host.cpu_fp32_flops_per_s or 0.0
    return bw, flops


def hardware_for(gpu: GpuSpec, dep: Deployment, weight_format: str, *, host_bytes_per_s: float = 0.0,
                 host_flops_per_s: float = 0.0, allow_unknown_compute: bool = False) -> Hardware:
    """The per-GPU rates and layout the step model needs, from the catalog GPU and the deployment."""
    if not gpu.memory_bandwidth_bytes_per_s:
        raise UnsupportedError("perf.no_bandwidth", gpu=gpu.id)
    path = get_format(weight_format).compute_path
    dtype = _COMPUTE_DTYPE.get(path, "bf16")
    if path == "gguf-dequant":
        # The int8 rate (MMQ) is missing for several cards in the catalog; the FP16 (else FP32) rate is used for every
        # GGUF type and the per-format compute factor of the calibration carries the int8 speed-up.
        dtype = "fp16-or-fp32"
    gemm_peak = _peak(gpu, dtype)
    attention_peak = _peak(gpu, "fp16-or-fp32" if path == "gguf-dequant" else "bf16")
    if gemm_peak is None or attention_peak is None:
        if not allow_unknown_compute:
            raise UnsupportedError("perf.no_flops", gpu=gpu.id)
        gemm_peak = attention_peak = math.inf  # compute term unknown: memory-bound only (stated as an assumption)
    link = gpu.interconnect_bytes_per_s or PCIE4_X16_BYTES_PER_S
    ep = dep.expert_parallel_size
    ep_link = link if ep <= dep.gpus_per_node else min(link, INTERNODE_BYTES_PER_S)
    tp_link = link if dep.tensor_parallel_size <= dep.gpus_per_node else min(link, INTERNODE_BYTES_PER_S)
    dp_att = dep.data_parallel_size if dep.enable_dp_attention else 1
    return Hardware(
        memory_bandwidth_bytes_per_s=gpu.memory_bandwidth_bytes_per_s,
        gemm_flops_per_s=gemm_peak, attention_flops_per_s=attention_peak,
        fp8_flops_per_s=gpu.peak_flops_per_s("fp8") or 0.0,
        tp=dep.tensor_parallel_size, pp=dep.pipeline_parallel_size, ep=ep, dp_attention=dp_att,
        intra_node_bytes_per_s=tp_link, ep_link_bytes_per_s=ep_link, host_bytes_per_s=host_bytes_per_s,
        tp_spans_nodes=dep.tensor_parallel_size > dep.gpus_per_node, ep_spans_nodes=ep > dep.gpus_per_node,
        host_experts=dep.offload == "experts", host_resident_fraction=0.0, host_flops_per_s=host_flops_per_s,
    )


def offload_hardware(hw: Hardware, dep: Deployment, tab) -> Hardware:
    """``hw`` with the host's share of the weights: layers left on the host (llama.cpp ``-ngl`` below the layer count)
    or the routed experts of the first N MoE layers (llama.cpp ``--n-cpu-moe N``; all of them for KTransformers)."""
    update: dict[str, float] = {}
    if dep.offload == "layers" and dep.gpu_layers is not None:
        update["host_resident_fraction"] = 1 - min(dep.gpu_layers, tab.num_layers) / tab.num_layers
    if dep.offload == "experts" and dep.cpu_moe_layers is not None and tab.num_moe_layers:
        update["host_expert_fraction"] = min(dep.cpu_moe_layers, tab.num_moe_layers) / tab.num_moe_layers
    if not update:
        return hw
    return Hardware(**{**{f: getattr(hw, f) for f in hw.__slots__}, **update})


def _calibration(cal: Calibration | CalibrationSet | None, engine: str, gpu: GpuSpec) -> Calibration:
    if isinstance(cal, Calibration):
        return cal
    cset = cal if isinstance(cal, CalibrationSet) else load_calibration()
    return cset.resolve(engine, gpu.architecture, gpu.gpu_class)


@lru_cache(maxsize=8192)
def _capacity(model_id: str, dep: Deployment, context_tokens: int, gpu_id: str) -> int | None:
    """KV-cache capacity in sequences at ``context_tokens`` (memory model), capped by the engine's max_num_seqs."""
    mem = size_inference(entry_for_id(model_id), dep, context_tokens=context_tokens, concurrency=1)
    return _engine_capped(dep, mem.max_concurrency)


def _engine_capped(dep: Deployment, kv_max_concurrency: int | None) -> int | None:
    """The memory model's capacity in sequences capped by the engine's max_num_seqs."""
    if kv_max_concurrency is None:
        return None
    return min(kv_max_concurrency, engine_seq_cap(dep.engine, dep.max_num_seqs))


CACHE_CLEARERS.append(_capacity.cache_clear)


def _round_times(tab, hw, p, fmt, b: float, inp: float, out: float, cached: float, spec_tokens: int,
                 accept: float) -> tuple[float, float, float, StepTime, StepTime]:
    """(ttft_s, tpot_s, e2e_s, decode step, prefill of one prompt alone) for B = b sequences in flight (module
    docstring)."""
    tokens_per_step = sum(accept**i for i in range(spec_tokens + 1))
    step = decode_step(tab, hw, p, fmt, batch=b, context_tokens=inp + out / 2, tokens_per_seq=spec_tokens + 1)
    alone = prefill_time(tab, hw, p, fmt, prompt_tokens=inp, cached_tokens=cached)
    chunks = max(1.0, math.ceil(max(inp - cached, 1.0) / max(p.prefill_chunk_tokens, 1.0)))
    others = decode_step(tab, hw, p, fmt, batch=max(b - 1, 0.0), context_tokens=inp + out / 2).total_s if b > 1 else 0
    ttft = alone.total_s + chunks * others
    batched = prefill_time(tab, hw, p, fmt, prompt_tokens=inp, num_prompts=b, cached_tokens=cached).total_s
    tpot = step.total_s / tokens_per_step + (b - 1) / b * batched / max(out, 1.0)
    e2e = ttft + max(out - 1.0, 0.0) * tpot
    return ttft, tpot, e2e, step, alone


def estimate_serving(entry: ModelEntry, dep: Deployment, workload: Workload,
                     calibration: Calibration | CalibrationSet | None = None, *, speculative_tokens: int = 0,
                     speculative_acceptance_fraction: float | None = None,
                     host_bytes_per_s: float | None = None, detail: bool = True,
                     kv_max_concurrency: int | None = None) -> ServingEstimate:
    """Serving speed of ``entry`` on ``dep`` under ``workload`` (module docstring for the model).

    ``data_parallel_size`` > 1 without DP-attention means independent replicas behind a load balancer: the workload
    is split evenly (concurrency ⌈C / DP⌉, rate R / DP), and aggregate rates, capacity and concurrency are DP times
    one replica's. Latencies are one replica's. ``detail=False`` leaves the per-operator breakdowns empty (the
    planner's hot loop needs only the totals). ``kv_max_concurrency``: the memory model's ``max_concurrency`` for
    this deployment at the workload's context, when the caller already sized it (the planner): not sized again.
    """
    replicas = dep.data_parallel_size if not dep.enable_dp_attention else 1
    if replicas <= 1:
        return _estimate_replica(entry, dep, workload, calibration, speculative_tokens,
                                 speculative_acceptance_fraction, host_bytes_per_s, detail, kv_max_concurrency)
    one = dep.model_copy(update={"data_parallel_size": 1, "gpu_count": max(1, dep.gpu_count // replicas),
                                 "nodes": max(1, dep.nodes // replicas)})
    if workload.rate_per_s:
        part = workload.model_copy(update={"rate_per_s": workload.rate_per_s / replicas})
    else:
        part = workload.model_copy(update={"concurrency": math.ceil((workload.concurrency or 1) / replicas)})
    est = _estimate_replica(entry, one, part, calibration, speculative_tokens, speculative_acceptance_fraction,
                            host_bytes_per_s, detail)

    def times(v: float | None) -> float | None:
        return None if v is None else v * replicas

    return est.model_copy(update={
        "output_tokens_per_s": times(est.output_tokens_per_s), "input_tokens_per_s": times(est.input_tokens_per_s),
        "requests_per_s": times(est.requests_per_s), "concurrency": est.concurrency * replicas,
        "max_concurrency": None if est.max_concurrency is None else est.max_concurrency * replicas,
        "requested_concurrency": None if workload.rate_per_s else float(workload.concurrency or 1),
    })


def _estimate_replica(entry: ModelEntry, dep: Deployment, workload: Workload,
                      calibration: Calibration | CalibrationSet | None, speculative_tokens: int,
                      speculative_acceptance_fraction: float | None,
                      host_bytes_per_s: float | None, detail: bool = True,
                      kv_max_concurrency: int | None = None) -> ServingEstimate:
    """One replica (module docstring)."""
    gpu = get_gpu(dep.gpu_id)
    engine = "llama.cpp" if dep.engine == "ollama" else dep.engine
    fmt = resolve_format(entry, dep.weight_format)
    kv_dtype = resolve_kv_dtype(dep.kv_dtype, engine, entry.arch, compute_capability=gpu.compute_capability)
    cal = _calibration(calibration, engine, gpu)
    p = cal.params
    assumptions: list[str] = []
    host_bw, host_flops = host_rates(dep, host_bytes_per_s) if dep.offload != "none" else (0.0, 0.0)
    if dep.offload != "none":
        if not host_bw:
            raise InvalidInputError("perf.offload_needs_host", offload=dep.offload)
        assumptions.append("perf.assume_host")
    hw = hardware_for(gpu, dep, fmt, host_bytes_per_s=host_bw, host_flops_per_s=host_flops)
    dp_att = hw.dp_attention
    tab = model_table(entry.id, fmt, kv_dtype, dep.tensor_parallel_size, dep.expert_parallel_size, dp_att)
    hw = offload_hardware(hw, dep, tab)
    inp, out = float(workload.input_tokens), float(workload.output_tokens)
    cached = inp * workload.prefix_cache_hit_fraction
    context = int(inp + out)
    cap = _capacity(entry.id, dep, context, gpu.id) if kv_max_concurrency is None else \
        _engine_capped(dep, kv_max_concurrency)
    if cap is not None and cap <= 0:
        raise InvalidInputError("perf.does_not_fit", model=entry.id, gpu=gpu.id, gpus=dep.gpu_count,
                                context=context)
    spec = max(0, speculative_tokens)
    accept = MTP_ACCEPTANCE_FRACTION if speculative_acceptance_fraction is None else speculative_acceptance_fraction
    if spec:
        assumptions.append("perf.assume_speculative")
    saturated = False
    capped = False
    limit = float(cap) if cap else 1e9
    if workload.rate_per_s:
        b, saturated = _solve_little(tab, hw, p, fmt, workload.rate_per_s, inp, out, cached, spec, accept, limit)
        assumptions.append("perf.assume_little")
    else:
        want = float(workload.concurrency or 1)
        b = min(want, limit)
        capped = want > limit
    ttft, tpot, e2e, step, alone = _round_times(tab, hw, p, fmt, b, inp, out, cached, spec, accept)
    wait = 0.0
    if capped:
        # Closed loop with more clients C than slots B: throughput is B / E2E_service, so by Little's law each request
        # spends C / B · E2E_service in the system; the extra (C / B − 1) · E2E_service is spent queued before prefill.
        wait = (float(workload.concurrency or 1) / b - 1.0) * e2e
        ttft, e2e = ttft + wait, e2e + wait
        assumptions.append("perf.assume_queue")
    if cached:  # the prefill speed is stated without the prefix cache; with none, it is the prefill above
        alone = prefill_time(tab, hw, p, fmt, prompt_tokens=inp)
    rps = b / (e2e - wait) if e2e > wait else None
    term, frac = step.dominant()
    bottleneck = "kv_capacity" if capped else BOTTLENECK_KEYS[term]
    unc = p.uncertainty_fraction * (1.0 if cal.exact else FALLBACK_UNCERTAINTY_FACTOR)
    if dep.offload != "none" or spec:
        unc *= FALLBACK_UNCERTAINTY_FACTOR  # no measured row with offload or speculative decoding in the fit
    if not cal.exact:
        assumptions.append("perf.assume_fallback")
    if cal.rows == 0:
        unc *= NO_ROWS_UNCERTAINTY_FACTOR
        assumptions.append("speedmodel.assume_no_rows")
    if dep.engine_version:
        covered = version_covered(dep.engine_version, cal.versions)
        if covered is None:
            assumptions.append("speedmodel.assume_version_unknown")
        elif not covered:
            unc *= FALLBACK_UNCERTAINTY_FACTOR
            assumptions.append("speedmodel.assume_version_outside")
    terms = {"weights_read_s": step.weights_read_s, "gemm_compute_s": step.gemm_compute_s,
             "kv_read_s": step.kv_read_s, "attention_compute_s": step.attention_compute_s, "comm_s": step.comm_s,
             "host_s": step.host_s, "overhead_s": step.overhead_s}
    return ServingEstimate(
        ttft_s=None if saturated else ttft, tpot_s=tpot, e2e_s=None if saturated else e2e,
        decode_tokens_per_s=1.0 / tpot if tpot > 0 else None,
        prefill_tokens_per_s=inp / alone.total_s if alone.total_s > 0 else None,
        output_tokens_per_s=rps * out if rps else None, input_tokens_per_s=rps * inp if rps else None,
        requests_per_s=rps, concurrency=b, max_concurrency=cap,
        requested_concurrency=None if workload.rate_per_s else float(workload.concurrency or 1), saturated=saturated,
        bottleneck=bottleneck, bottleneck_term=term, bottleneck_fraction=frac, decode_step_s=step.total_s,
        decode_step_terms_s=terms, weight_format=fmt, kv_dtype=kv_dtype, calibration=cal.id, calibration_exact=cal.exact,
        uncertainty_fraction=min(unc, 0.9), assumptions=tuple(assumptions),
        decode_step_operations=_operation_shares(step) if detail else (),
        prefill_operations=_operation_shares(alone) if detail else (),
        calibration_rows=cal.rows,
        calibration_versions=cal.versions, engine_version=dep.engine_version,
    )


def _operation_shares(step: StepTime) -> tuple[OperationShare, ...]:
    total = step.total_s or 1.0
    # The planner calls this thousands of times: a record's construction checks no bounds here (none declared).
    return tuple(OperationShare(name=op.name, time_s=op.time_s, bound=op.bound, share_fraction=op.time_s / total)
                 for op in step.operations)


def _solve_little(tab, hw, p, fmt, rate: float, inp: float, out: float, cached: float, spec: int, accept: float,
                  limit: float) -> tuple[float, bool]:
    """The concurrency B with B = rate · E2E(B) (E2E grows with B). (limit, True) when none ≤ limit."""
    def excess(b: float) -> float:
        return b - rate * _round_times(tab, hw, p, fmt, b, inp, out, cached, spec, accept)[2]

    f_hi = excess(limit)
    if f_hi < 0:
        return limit, True
    lo, hi = 1e-6, limit
    f_lo = excess(lo)
    # Illinois variant of regula falsi: converges in a handful of steps on this smooth monotone function.
    side = 0
    for _ in range(60):
        mid = hi - f_hi * (hi - lo) / (f_hi - f_lo) if f_hi != f_lo else 0.5 * (lo + hi)
        f_mid = excess(mid)
        if abs(f_mid) <= 1e-5 * max(mid, 1e-3) or hi - lo <= 1e-9 * max(hi, 1.0):
            return mid, False
        if f_mid < 0:
            lo, f_lo = mid, f_mid
            if side == -1:
                f_hi /= 2
            side = -1
        else:
            hi, f_hi = mid, f_mid
            if side == 1:
                f_lo /= 2
            side = 1
    return hi, False
