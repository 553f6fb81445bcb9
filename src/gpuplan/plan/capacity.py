"""Capacity mode: the most concurrent users a deployment serves within a TTFT/TPOT SLO (DESIGN §8).

Aggregated: a bracketing search over concurrency C with the serving estimator — C is feasible when TTFT(C) ≤
target, TPOT(C) ≤ target and C ≤ the KV-cache capacity (no request queues for a slot). TTFT and TPOT grow with C,
so the feasible set is an interval [1, C*]; regula falsi on the SLO slack finds C* in a few estimates.

Disaggregated (xPyD, ``perf.disagg``): the decode batch per GPU is the largest that fits memory and the TPOT target;
the prefill chunk per GPU the largest (16,384 down to 512 tokens, halving) whose TTFT meets its target; users =
decode batch × decode GPUs, reduced to what the prefill pool can feed: U ≤ prefill requests/s × E2E (Little's law).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gpuplan.perf.disagg import DisaggDeployment, DisaggEstimate
    from gpuplan.plan.search import PlanRequest

from collections.abc import Sequence

from gpuplan.catalog import GpuSpec
from gpuplan.catalog.models import ModelEntry
from gpuplan.errors import GpuplanError
from gpuplan.planfile import Candidate, CapacityResult, DisaggSummary, MemorySummary, PerfSummary
from gpuplan.spec import Deployment, Slo, Workload

MAX_CAPACITY_USERS = 1_000_000
PREFILL_CHUNKS_PER_GPU = (16384, 8192, 4096, 2048, 1024, 512)


def _meets(est, slo: Slo) -> str | None:
    """None when the estimate meets the SLO, else which target it misses."""
    if slo.ttft_s is not None and (est.ttft_s is None or est.ttft_s > slo.ttft_s):
        return "slo_ttft"
    if slo.tpot_s is not None and (est.tpot_s is None or est.tpot_s > slo.tpot_s):
        return "slo_tpot"
    return None


def _slack(est, slo: Slo) -> float:
    """How far an estimate is from the SLO: the larger of TTFT/target and TPOT/target, minus 1 (> 0: misses)."""
    out = -1.0
    for got, target in ((est.ttft_s, slo.ttft_s), (est.tpot_s, slo.tpot_s)):
        if target is not None:
            out = max(out, got / target - 1 if got is not None else math.inf)
    return out


def aggregated_capacity(entry: ModelEntry, dep: Deployment, workload: Workload, slo: Slo,
                        estimate: Callable, most: float | None = None) -> tuple[int, object, str] | None:
    """(C*, the estimate at C*, what stops C* + 1) or None when one user already misses the SLO.

    The bracket [lo meets, hi misses] closes by regula falsi on the SLO slack, Illinois variant (TTFT and TPOT grow about
    linearly with C, so the secant lands near C*; an end that stays put twice counts half, so neither end sticks).
    Meeting the SLO is monotone in C, so C* is where any bracketing search ends — in about 6 estimates instead of the
    10-11 of a bisection over [1, capacity] (tests/test_capacity_speedups.py compares the two). ``most``: a bound on
    C* (plan.bounds.users_bound, the planner's): below the KV capacity, most + 1 misses and closes the bracket there
    instead (checked: should it meet the SLO, the bracket is [1, capacity] as without it)."""

    def at(c: int):
        return estimate(entry, dep, workload.model_copy(update={"concurrency": c, "rate_per_s": None}))

    one = at(1)
    if _meets(one, slo):
        return None
    cap = one.max_concurrency if one.max_concurrency else MAX_CAPACITY_USERS
    hi, top = cap, None
    if most is not None and most + 1 < cap:
        probe = at(int(most) + 1)
        if _meets(probe, slo):
            hi, top = int(most) + 1, probe
    if top is None:
        top = at(cap)
        if not _meets(top, slo):
            return cap, top, "kv_capacity"
    lo = 1  # lo meets, hi misses
    best = one
    f_lo, f_hi = _slack(one, slo), _slack(top, slo)
    w_lo = w_hi = 1.0  # Illinois: an end that stays put twice in a row counts half in the next secant
    stayed = 0  # which end stayed put in the last step: -1 lo, +1 hi
    while hi - lo > 1:
        a, b = f_lo * w_lo, f_hi * w_hi
        guess = (lo + hi) // 2  # no secant (an unknown or flat slack): bisect
        if math.isfinite(a) and math.isfinite(b) and a != b:
            guess = min(max(lo + math.floor((hi - lo) * -a / (b - a)), lo + 1), hi - 1)
        est = at(guess)
        if _meets(est, slo):
            hi, f_hi = guess, _slack(est, slo)
            w_lo, w_hi, stayed = (w_lo / 2 if stayed == -1 else 1.0), 1.0, -1
        else:
            lo, best, f_lo = guess, est, _slack(est, slo)
            w_lo, w_hi, stayed = 1.0, (w_hi / 2 if stayed == 1 else 1.0), 1
    return lo, best, _meets(at(hi), slo) or "kv_capacity"


_DECODE_BATCHES: dict = {}  # decode pool → its batch per GPU (disaggregated_capacity)


def _field_values(spec) -> list[tuple[str, object]]:
    """(name, value) of every field of a spec, a pydantic model or a dataclass (with or without slots)."""
    import dataclasses

    if dataclasses.is_dataclass(spec):
        return [(f.name, getattr(spec, f.name)) for f in dataclasses.fields(spec)]
    return list(vars(spec).items())


def clear() -> None:
    _DECODE_BATCHES.clear()


def disaggregated_capacity(entry: ModelEntry, dd: DisaggDeployment, *, input_tokens: int, output_tokens: int,
                           slo: Slo) -> tuple[int, DisaggEstimate, DisaggDeployment, str] | None:
    """(users, estimate, the deployment with its chosen prefill chunk, limit) or None when the SLO cannot be met.

    The decode pool depends neither on the prefill chunk nor on the prefill pool: its batch, searched by the first
    estimate of a decode pool, is given to the other estimates with that pool (the same batch they would search
    again): the smaller chunks, and the other splits with as many decode nodes."""
    from gpuplan.perf.disagg import estimate_disaggregated  # only xPyD layouts need it (issue 16)

    est = None
    batch = dd.decode_batch_per_gpu
    key = None
    if batch is None:
        key = (entry.id, *(v for k, v in _field_values(dd) if k not in ("prefill_nodes", "prefill_tokens_per_gpu")),
               input_tokens, output_tokens, slo.tpot_s)
        hit = _DECODE_BATCHES.get(key)
        if hit is not None and hit[0] is entry:
            batch = hit[1]
    for chunk in PREFILL_CHUNKS_PER_GPU:
        cand = dd.model_copy(update={"prefill_tokens_per_gpu": chunk})
        try:
            est = estimate_disaggregated(
                entry, cand if batch is None else cand.model_copy(update={"decode_batch_per_gpu": batch}),
                input_tokens=input_tokens, output_tokens=output_tokens, max_tpot_s=slo.tpot_s)
        except GpuplanError:
            return None
        if batch is None and key is not None:
            if len(_DECODE_BATCHES) > 4096:
                _DECODE_BATCHES.clear()
            _DECODE_BATCHES[key] = (entry, est.decode_batch_per_gpu)
        batch = est.decode_batch_per_gpu
        if slo.ttft_s is None or est.ttft_s <= slo.ttft_s:
            dd = cand
            break
    else:
        return None
    if est is None or (slo.tpot_s is not None and est.tpot_s > slo.tpot_s):
        return None
    users = est.concurrency
    limit = "slo_tpot" if slo.tpot_s is not None and est.decode_batch_per_gpu < est.max_decode_batch_per_gpu \
        else "kv_capacity"
    e2e = est.ttft_s + max(output_tokens - 1, 0) * est.tpot_s
    prefill_rps = est.prefill.tokens_per_s_per_node * dd.prefill_nodes / input_tokens
    fed = math.floor(prefill_rps * e2e)
    if fed < users:
        users, limit = fed, "prefill"
    if users < 1:
        return None
    return users, est, dd, limit


# --------------------------------------------------------------------------------- the planner's capacity mode
# (plan.search calls these when PlanRequest.capacity_mode; the search module is imported lazily: it imports us.)


def with_capacity(model: ModelEntry, cand: Candidate, workload: Workload, req: PlanRequest,
                  estimate_serving, most: float | None = None) -> Candidate | None:
    """The candidate at the most users it serves within the SLO (plan.capacity): the most users per replica
    (aggregated_capacity; ``most``: a bound on them, when the planner has one) × replicas."""
    replicas = cand.data_parallel_size if not cand.enable_dp_attention else 1
    dep = Deployment(gpu_id=cand.gpu, gpu_count=cand.gpu_count // replicas if replicas > 1 else cand.gpu_count,
                     nodes=max(1, cand.nodes // replicas) if replicas > 1 else cand.nodes, engine=cand.engine,
                     weight_format=cand.weight_format, kv_dtype=cand.kv_dtype,
                     tensor_parallel_size=cand.tensor_parallel_size, pipeline_parallel_size=cand.pipeline_parallel_size,
                     data_parallel_size=1 if replicas > 1 else cand.data_parallel_size,
                     expert_parallel_size=cand.expert_parallel_size, enable_dp_attention=cand.enable_dp_attention)
    try:
        found = aggregated_capacity(model, dep, workload, Slo(ttft_s=req.ttft_s, tpot_s=req.tpot_s), estimate_serving,
                                    most)
    except GpuplanError:
        return None
    if found is None:
        return None
    users, est, limit = found
    total = users * replicas
    perf = cand.perf.model_copy(update={
        "ttft_s": est.ttft_s, "tpot_s": est.tpot_s, "concurrency": total,
        "output_tokens_per_s": (est.output_tokens_per_s or 0) * replicas,
        "input_tokens_per_s": (est.input_tokens_per_s or 0) * replicas,
        "requests_per_s": (est.requests_per_s or 0) * replicas, "decode_tokens_per_s": est.decode_tokens_per_s,
        "bottleneck": est.bottleneck})
    args = dict(cand.engine_args)
    for flag in ("--max-num-seqs", "--max-running-requests", "--max_batch_size"):
        if flag in args:
            args[flag] = users
    memory = _memory_at(model, cand, users)
    # the sequence limit is the candidate's own field too, so the flags and the field agree (issue 11)
    return cand.model_copy(update={"perf": perf, "capacity_users": total, "capacity_limit": limit,
                                   "engine_args": args, "memory": memory, "max_num_seqs": users})


def _memory_at(model: ModelEntry, cand: Candidate, users_per_replica: int) -> MemorySummary:
    """The candidate's per-GPU memory with ``users_per_replica`` sequences in flight (KV cache at capacity)."""
    from gpuplan.memory import size_inference

    dep = Deployment(gpu_id=cand.gpu, gpu_count=cand.gpu_count, nodes=cand.nodes, engine=cand.engine,
                     weight_format=cand.weight_format, kv_dtype=cand.kv_dtype,
                     tensor_parallel_size=cand.tensor_parallel_size, pipeline_parallel_size=cand.pipeline_parallel_size,
                     data_parallel_size=cand.data_parallel_size, expert_parallel_size=cand.expert_parallel_size,
                     enable_dp_attention=cand.enable_dp_attention)
    try:
        mem = size_inference(model, dep, context_tokens=cand.max_model_len or 1, concurrency=users_per_replica)
    except GpuplanError:
        return cand.memory
    if mem.per_gpu is None:
        return cand.memory
    return cand.memory.model_copy(update={
        "kv_cache_bytes": mem.per_gpu.kv_cache_bytes, "per_gpu_total_bytes": mem.per_gpu.total_bytes,
        "binding": mem.binding or "fits"})


def disaggregated_candidates(model: ModelEntry, gpu: GpuSpec, nodes: int, per_node: int, fmt: str,
                             req: PlanRequest, prices, rejects) -> list[Candidate]:
    """xPyD candidates (every split of the nodes) for an MoE model on NVIDIA data-center GPUs with SGLang."""
    from gpuplan.perf.disagg import DisaggDeployment

    if (gpu.architecture != "hopper" or gpu.gpu_class != "datacenter" or not fmt.startswith("fp8")
            or not model.arch.num_experts):
        return []  # the PD model's kernel rates were measured on Hopper (DeepGEMM FP8, FlashMLA, DeepEP on H800)
    out = []
    slo = Slo(ttft_s=req.ttft_s, tpot_s=req.tpot_s)
    # With an MTP head (DeepSeek-V3/R1: num_nextn_predict_layers = 1) each split is also tried with one draft token,
    # as DeepSeek serves it (SGLang --speculative-algorithm NEXTN).
    drafts = (0, 1) if model.arch.num_mtp_layers else (0,)
    for p, spec in ((p, s) for p in range(1, nodes) for s in drafts):
        dd = DisaggDeployment(gpu_id=gpu.id, gpus_per_node=per_node, prefill_nodes=p, decode_nodes=nodes - p,
                              weight_format=fmt, kv_dtype="fp8" if fmt.startswith("fp8") else "auto",
                              speculative_tokens=spec)
        label = f"{nodes * per_node}×{gpu.id} sglang {fmt} {dd.label()}" + (" MTP" if spec else "")
        try:
            found = disaggregated_capacity(model, dd, input_tokens=req.input_tokens,
                                           output_tokens=req.output_tokens, slo=slo)
        except GpuplanError as exc:
            rejects.add("perf_unknown", -1, f"{label}: {exc}")
            continue
        if found is None:
            rejects.add("slo_tpot" if req.tpot_s else "slo_ttft", -1, label)
            continue
        users, est, dd, limit = found
        out.append(_pd_candidate(model, gpu, nodes, per_node, fmt, dd, est, users, limit, req, prices))
    return out


def _pd_candidate(model, gpu, nodes, per_node, fmt, dd, est, users, limit, req, prices) -> Candidate:
    """A Candidate for an xPyD layout: the decode pool's memory, the system's speed at ``users``."""
    from gpuplan.plan.search import _base_cost

    count = nodes * per_node
    d_gpus = dd.decode_gpus
    rps = users / (est.ttft_s + max(req.output_tokens - 1, 0) * est.tpot_s)
    cost = _base_cost(gpu, count, nodes, req, prices)[0]
    kv_seq = est.kv_bytes_per_token_per_gpu * (req.input_tokens + req.output_tokens)
    kv = int(kv_seq * est.decode_batch_per_gpu)
    weights = int(est.decode_weights_bytes_per_gpu)
    return Candidate(
        gpu=gpu.id, gpu_name=gpu.name, gpu_count=count, nodes=nodes, gpus_per_node=per_node, engine="sglang",
        weight_format=fmt, kv_dtype=est.kv_dtype, tensor_parallel_size=d_gpus, data_parallel_size=d_gpus,
        expert_parallel_size=d_gpus, enable_dp_attention=True, max_model_len=req.input_tokens + req.output_tokens,
        max_num_seqs=est.decode_batch_per_gpu * d_gpus,
        gpu_memory_utilization=round(est.decode_budget_bytes_per_gpu / gpu.memory_bytes, 4),
        memory=MemorySummary(
            weights_bytes=weights, kv_cache_bytes=kv, activation_bytes=0, overhead_bytes=0,
            per_gpu_total_bytes=weights + kv, capacity_bytes=gpu.memory_bytes,
            budget_bytes=int(est.decode_budget_bytes_per_gpu), kv_cache_bytes_per_token=int(est.kv_bytes_per_token_per_gpu),
            max_concurrency=est.max_decode_batch_per_gpu * d_gpus, binding="fits"),
        perf=PerfSummary(ttft_s=est.ttft_s, tpot_s=est.tpot_s, output_tokens_per_s=rps * req.output_tokens,
                         input_tokens_per_s=rps * req.input_tokens, requests_per_s=rps,
                         decode_tokens_per_s=1.0 / est.tpot_s, max_concurrency=est.max_decode_batch_per_gpu * d_gpus,
                         concurrency=users, bottleneck="communication" if est.decode.bound == "communication"
                         else "compute", calibration="disagg-kernels",
                         uncertainty_fraction=est.uncertainty_fraction, calibration_rows=0),
        cost=cost, capacity_users=users, capacity_limit=limit,
        disaggregation=DisaggSummary(
            prefill_nodes=dd.prefill_nodes, decode_nodes=dd.decode_nodes, gpus_per_node=per_node,
            prefill_expert_parallel_size=dd.prefill_gpus, decode_expert_parallel_size=d_gpus,
            prefill_tokens_per_gpu=dd.prefill_tokens_per_gpu, decode_batch_per_gpu=est.decode_batch_per_gpu,
            speculative_tokens=dd.speculative_tokens, kv_transfer_s=est.kv_transfer_s,
            prefill_two_batch_overlap=est.prefill.two_batch_overlap,
            decode_two_batch_overlap=est.decode.two_batch_overlap,
            prefill_tokens_per_s_per_node=est.prefill.tokens_per_s_per_node,
            decode_tokens_per_s_per_node=est.decode.tokens_per_s_per_node, bottleneck_pool=est.bottleneck_pool),
        notes=("disaggregated",),
    )


def rank_by_capacity(cands: Sequence[Candidate], objective: str) -> list[Candidate]:
    """Most users first; ties by the objective, then fewer GPUs, GPU id, engine, format (deterministic).

    Keeps the best layout per (gpu, count, engine, format, aggregated or xPyD)."""
    from gpuplan.plan.search import _objective_value

    scored = [c.model_copy(update={"score": _objective_value(c, objective)}) for c in cands]
    scored.sort(key=lambda c: (-(c.capacity_users or 0), c.score if c.score is not None else math.inf, c.gpu_count,
                               c.gpu, c.engine, c.weight_format, c.tensor_parallel_size))
    seen: set = set()
    out = []
    for c in scored:
        key = (c.gpu, c.gpu_count, c.engine, c.weight_format, c.disaggregation.label if c.disaggregation else "")
        if key in seen:
            continue
        seen.add(key)
        out.append(c.model_copy(update={"score": None if c.score in (math.inf, -math.inf) else c.score}))
    return out


def capacity_result(c: Candidate) -> CapacityResult:
    return CapacityResult(users=c.capacity_users or 0,
                          layout=c.disaggregation.label if c.disaggregation else "aggregated",
                          limit=c.capacity_limit or "kv_capacity", ttft_s=c.perf.ttft_s, tpot_s=c.perf.tpot_s,
                          output_tokens_per_s=c.perf.output_tokens_per_s)
