"""An upper bound on a candidate's output throughput before it is sized or estimated (issue 16, speed).

Ranked by cost per token or by throughput, a candidate's place depends on its speed; the planner orders the candidates
by the best place they could reach and estimates them in that order, so it can stop once ``top`` are kept that no
remaining one can beat (plan.search._run_jobs). The bound follows the serving model (perf/serving.py, perf/step.py):

* one replica at B sequences: output tokens/s = B · O / E2E with E2E = TTFT + (O − 1) · TPOT (Little's law, the
  service time; queueing is not in it), and every term of TTFT and TPOT is ≥ 0 when the fitted overheads are;
* TPOT ≥ the decode step alone (the prefill share is ≥ 0), and the decode step ≥ the sum of the memory times of its
  weight, routed-expert and KV reads (each operator is max(memory, compute) ≥ memory) plus its fixed overheads;
  element-wise kernels, sampling and communication (all ≥ 0) are left out;
* that decode bound divided by B does not grow with B (weights and fixed costs are shared, the experts a batch
  touches grow concavely, KV and per-sequence costs linearly), so B / bound(B) is largest at the most sequences a
  replica can be given: the users per replica (the KV capacity only lowers B).

So output tokens/s ≤ replicas · B · O / ((O − 1) · decode bound(B)). No bound (infinity) for one output token, a
negative fitted overhead, a GPU without a stated bandwidth or a format the tables cannot take (the planner plans no
offload and no speculative decoding, which the bound does not cover). Pipeline stages do not enter: a token passes
every layer on one TP group (perf/step.py) and the hops between stages only add time.

Capacity mode (users_bound): TPOT ≥ the decode bound, which grows with B, so no more users than the largest B whose
bound meets the TPOT target can meet it, nor more than the KV capacity.

tests/test_plan_prune.py checks both bounds against every feasible candidate of several plans.
"""

from __future__ import annotations

import math

from gpuplan.catalog import GpuSpec
from gpuplan.catalog.models import ModelEntry
from gpuplan.errors import GpuplanError
from gpuplan.memory.kv import resolve_kv_dtype
from gpuplan.memory.weights import resolve_format
from gpuplan.perf.operations.attention import sparse_key_fraction
from gpuplan.perf.operations.moe import expected_experts_touched
from gpuplan.perf.serving import _calibration, hardware_for
from gpuplan.perf.step import MAX_MEM_EFFICIENCY_FRACTION
from gpuplan.perf.tables import model_table
from gpuplan.spec import Deployment

_SETUPS: dict = {}


_RATES: dict = {}
_PEAKS: dict = {}  # (GPU, format) → (the GPU, its dense-GEMM peak FLOP/s or None)


def _rates(model: ModelEntry, gpu: GpuSpec, engine: str, fmt_id: str, calibration) -> tuple | None:
    """(format, calibration parameters, dense-GEMM peak FLOP/s or None when unknown) of a GPU, engine and format — the
    same for every layout of them; None when the format or the calibration is unknown. Cached for the shipped
    calibration."""
    key = (model.id, gpu.id, engine, fmt_id) if calibration is None else None
    hit = _RATES.get(key) if key else None
    if hit is not None and hit[0] is model:
        return hit[1]
    try:
        fmt = resolve_format(model, fmt_id)
        p = _calibration(calibration, engine, gpu).params
    except GpuplanError:
        rates = None
    else:
        peak = None
        if p.compute_half_m_tokens >= 0:
            # the dense GEMMs' peak depends on the GPU and the format's compute path only (not on the engine or the
            # layout, which set hardware_for's links): looked up once per (GPU, format)
            hit = _PEAKS.get((gpu.id, fmt))
            if hit is None or hit[0] is not gpu:
                try:
                    dep = Deployment(gpu_id=gpu.id, engine=engine, weight_format=fmt)
                    hit = (gpu, hardware_for(gpu, dep, fmt).gemm_flops_per_s)
                except GpuplanError:
                    hit = (gpu, None)
                _PEAKS[gpu.id, fmt] = hit
            peak = hit[1]
        rates = (fmt, p, peak)
    if key:
        if len(_RATES) > 20000:
            _RATES.clear()
        _RATES[key] = (model, rates)
    return rates


def _setup(model: ModelEntry, gpu: GpuSpec, engine: str, fmt_id: str, kv_dtype: str, tp: int, ep: int, dp_att: int,
           calibration) -> tuple | None:
    """(weight read rate, KV read rate, fixed step cost, per-sequence cost, table, best dense-GEMM FLOP/s, prefill
    chunk, TP, routed-expert read rate) of a layout, as perf/step.py computes them; None when there is no bound. Cached per layout for the shipped
    calibration."""
    key = (model.id, gpu.id, engine, fmt_id, kv_dtype, tp, ep, dp_att) if calibration is None else None
    hit = _SETUPS.get(key) if key else None
    if hit is not None and hit[0] is model:
        return hit[1]
    setup = None
    bw = gpu.memory_bandwidth_bytes_per_s
    if bw:
        engine = "llama.cpp" if engine == "ollama" else engine
        rates = _rates(model, gpu, engine, fmt_id, calibration)
        tab = None
        if rates is not None:
            fmt, p, peak = rates
            try:
                kv = resolve_kv_dtype(kv_dtype, engine, model.arch, compute_capability=gpu.compute_capability)
                tab = model_table(model.id, fmt, kv, tp, ep, dp_att)
            except GpuplanError:
                tab = None
        if tab is not None and min(p.step_overhead_s, p.layer_overhead_s, p.seq_overhead_s) >= 0:
            eta_w = min(p.mem_efficiency_fraction * p.mem_factor(fmt, tab.family), MAX_MEM_EFFICIENCY_FRACTION)
            # the dense GEMMs' best compute rate (η(M) ≤ η_max when M½ ≥ 0); 0 when unknown: no compute term
            flops = 0.0
            if p.compute_half_m_tokens >= 0 and peak is not None:
                flops = peak * p.compute_factor(fmt, tab.family) * max(p.compute_efficiency_fraction, 1e-6)
            setup = (bw * eta_w, bw * p.mem_efficiency_fraction, p.step_overhead_s + p.layer_overhead_s * tab.num_layers,
                     p.seq_overhead_s, tab, flops, max(p.prefill_chunk_tokens, 1.0), tp,
                     bw * min(p.mem_efficiency_fraction * p.expert_mem_factor(fmt, tab.family),
                              MAX_MEM_EFFICIENCY_FRACTION))
    if key:
        if len(_SETUPS) > 20000:
            _SETUPS.clear()
        _SETUPS[key] = (model, setup)
    return setup


def output_tokens_per_s_bound(model: ModelEntry, gpu: GpuSpec, engine: str, fmt: str, kv_dtype: str, tp: int, ep: int,
                              dpa: bool, dp: int, replicas: int, users_per_replica: int, input_tokens: int,
                              output_tokens: int, calibration=None) -> float:
    """An upper bound on the candidate's aggregate output tokens/s (module docstring); ``math.inf`` when none."""
    if output_tokens <= 1 or users_per_replica < 1:
        return math.inf
    dp_att = dp if dpa else 1
    setup = _setup(model, gpu, engine, fmt, kv_dtype, tp, ep, dp_att, calibration)
    if setup is None:
        return math.inf
    b = float(users_per_replica)
    decode = _decode_bound(setup, b, input_tokens + output_tokens / 2, dp_att)
    if decode <= 0:
        return math.inf
    # 1e-9 above: the estimator's own float rounding can never put it over the bound
    return replicas * b * output_tokens / ((output_tokens - 1) * decode) * (1 + 1e-9)


def _decode_bound(setup: tuple, b: float, ctx: float, dp_att: int) -> float:
    """A lower bound on the decode step at ``b`` sequences of ``ctx`` context (module docstring); nondecreasing
    in ``b``."""
    w_rate, kv_rate, fixed, per_seq, tab = setup[:5]
    weights = tab.dense_bytes_per_gpu / w_rate
    if tab.num_moe_layers and tab.num_experts:  # the routed experts at their own rate (their own format factor)
        touched = expected_experts_touched(tab.num_experts, tab.top_k, b)
        weights += tab.num_moe_layers * touched * tab.experts_per_gpu_fraction * tab.expert_bytes_per_gpu / setup[8]
    kv = b * ctx / dp_att * tab.kv_bytes_per_context_token_per_gpu * sparse_key_fraction(ctx, tab.sparse_topk_tokens)
    return weights + (kv / kv_rate if kv_rate > 0 else 0.0) + fixed + per_seq * b


def _prefill_bound(setup: tuple, prompts: float, new_tokens: float) -> float:
    """A lower bound on the chunked prefill of ``prompts`` prompts of ``new_tokens`` uncached tokens each (perf/step.py
    ``prefill_time``): the dense GEMMs at least the larger of their weight reads (once per chunk) and their FLOPs at
    the best rate, plus the fixed costs; nondecreasing in ``prompts``."""
    w_rate, _, fixed, per_seq, tab, flops_per_s, chunk, tp, _ = setup
    new = new_tokens * prompts
    passes = max(1.0, math.ceil(new / chunk))
    gemm = passes * tab.dense_bytes_per_gpu / w_rate
    if flops_per_s > 0:
        gemm = max(gemm, new * tab.gemm_flops_per_token / tp / flops_per_s)
    return gemm + passes * fixed + per_seq * prompts


def users_bound(model: ModelEntry, gpu: GpuSpec, engine: str, fmt: str, kv_dtype: str, tp: int, ep: int, dpa: bool,
                dp: int, per_replica_limit: int | None, input_tokens: int, output_tokens: int, tpot_s: float | None,
                calibration=None, ttft_s: float | None = None, cached_fraction: float = 0.0) -> float:
    """An upper bound on the users one replica serves within TTFT/TPOT targets (capacity mode): at most
    ``per_replica_limit`` (the KV capacity capped by the engine; None: no limit) and at most the largest batch B whose
    bounds meet the targets, both nondecreasing in B (perf/serving.py ``_round_times``):
    TPOT ≥ decode bound(B) + (B − 1)/B · batched-prefill bound(B) / O, TTFT ≥ prefill bound(1) + chunks · decode
    bound(B − 1). 0 when even one sequence misses; ``math.inf`` when there is no bound."""
    limit = math.inf if per_replica_limit is None else float(per_replica_limit)
    if not (tpot_s or ttft_s):
        return limit
    dp_att = dp if dpa else 1
    if calibration is not None:
        return _users_bound(model, gpu, engine, fmt, kv_dtype, tp, ep, dp_att, limit, input_tokens, output_tokens,
                            tpot_s, calibration, ttft_s, cached_fraction)
    # The largest batch meeting the targets is the same for every limit (the bounds only grow with B, so once B misses
    # every larger B does: the bisection below finds the same B under any limit above it), so it is found once per
    # layout and workload (the planner asks for every hardware shape and KV capacity of a layout) and capped by each
    # limit.
    key = (model.id, gpu.id, engine, fmt, kv_dtype, tp, ep, dp_att, input_tokens, output_tokens, tpot_s, ttft_s,
           cached_fraction)
    hit = _MOST.get(key)
    if hit is None or hit[0] is not model:
        hit = _MOST[key] = (model, _users_bound(model, gpu, engine, fmt, kv_dtype, tp, ep, dp_att, math.inf,
                                                input_tokens, output_tokens, tpot_s, None, ttft_s, cached_fraction))
        if len(_MOST) > 20000:
            _MOST.clear()
            _MOST[key] = hit
    most = hit[1]
    if most >= _UNBOUNDED and limit > most:  # capped by the doubling below: search this limit itself
        return _users_bound(model, gpu, engine, fmt, kv_dtype, tp, ep, dp_att, limit, input_tokens, output_tokens,
                            tpot_s, None, ttft_s, cached_fraction)
    return min(limit, most)


def capped_users_bound(most: float, model: ModelEntry, gpu: GpuSpec, engine: str, fmt: str, kv_dtype: str, tp: int,
                       ep: int, dpa: bool, dp: int, per_replica_limit: int | None, input_tokens: int,
                       output_tokens: int, tpot_s: float | None, calibration=None, ttft_s: float | None = None,
                       cached_fraction: float = 0.0) -> float:
    """users_bound under ``per_replica_limit`` (the shipped calibration) from ``most``, its value without a limit
    (users_bound with None): the same number, without the lookup of the memo."""
    if per_replica_limit is None or not (tpot_s or ttft_s):
        return users_bound(model, gpu, engine, fmt, kv_dtype, tp, ep, dpa, dp, per_replica_limit, input_tokens,
                           output_tokens, tpot_s, calibration, ttft_s, cached_fraction)
    limit = float(per_replica_limit)
    if most >= _UNBOUNDED and limit > most:  # users_bound searches this limit itself
        return users_bound(model, gpu, engine, fmt, kv_dtype, tp, ep, dpa, dp, per_replica_limit, input_tokens,
                           output_tokens, tpot_s, calibration, ttft_s, cached_fraction)
    return min(limit, most)


_MOST: dict = {}
_UNBOUNDED = 1e9  # the doubling of an unlimited search stops at the first power of two from here


def _users_bound(model: ModelEntry, gpu: GpuSpec, engine: str, fmt: str, kv_dtype: str, tp: int, ep: int,
                 dp_att: int, limit: float, input_tokens: int, output_tokens: int, tpot_s: float | None, calibration,
                 ttft_s: float | None, cached_fraction: float) -> float:
    """users_bound for one limit (``math.inf``: none), by doubling and bisection over B."""
    setup = _setup(model, gpu, engine, fmt, kv_dtype, tp, ep, dp_att, calibration)
    if setup is None:
        return limit
    ctx = input_tokens + output_tokens / 2
    new = max(input_tokens - input_tokens * cached_fraction, 1.0)
    out = max(float(output_tokens), 1.0)
    chunks = max(1.0, math.ceil(new / setup[6]))
    alone = _prefill_bound(setup, 1.0, new)

    tpot_cap = tpot_s * (1 + 1e-9) if tpot_s else 0.0  # 1e-9: the estimator's float rounding can never beat the bounds
    ttft_cap = ttft_s * (1 + 1e-9) if ttft_s else 0.0

    def meets(b: float) -> tuple[bool, float]:
        """(B meets the targets, its slack: the larger of bound / target − 1 over the targets, > 0 about when it
        misses them)."""
        tpot_ok = ttft_ok = True
        s_tpot = s_ttft = -math.inf
        if tpot_s:
            got = _decode_bound(setup, b, ctx, dp_att) + (b - 1) / b * _prefill_bound(setup, b, new) / out
            tpot_ok, s_tpot = not got > tpot_cap, got / tpot_cap - 1
        if ttft_s:
            got = alone + (chunks * _decode_bound(setup, b - 1, ctx, dp_att) if b > 1 else 0.0)
            ttft_ok, s_ttft = not got > ttft_cap, got / ttft_cap - 1
        return tpot_ok and ttft_ok, max(s_tpot, s_ttft)

    ok, f_lo = meets(1.0)
    if not ok:
        return 0.0
    # The bounds grow with B, so the B that meet the targets are [1, B*] and any bracket [lo meets, hi misses] closes
    # on B*: an unlimited search's bracket is [1, 2**30] (the doubling from 2 this replaced stopped at the first power
    # of two from 1e9, and returned it when it met the targets), a limited one's [1, limit] (the limit itself when it
    # meets them). The bracket closes by regula falsi on the slack, Illinois variant, as plan.capacity's does: the
    # bounds are about linear in B, so a few steps instead of a doubling and a bisection
    # (tests/test_capacity_speedups.py compares the two over the catalog).
    hi = limit if limit != math.inf else 2.0 ** 30
    ok, f_hi = meets(hi)
    if ok:
        return hi
    lo = 1.0  # meets; hi does not
    w_lo = w_hi = 1.0
    stayed = 0
    while hi - lo > 1:
        a, b = f_lo * w_lo, f_hi * w_hi
        guess = (lo + hi) // 2
        if math.isfinite(a) and math.isfinite(b) and a != b:
            guess = min(max(lo + math.floor((hi - lo) * -a / (b - a)), lo + 1), hi - 1)
        ok, f = meets(guess)
        if ok:
            lo, f_lo = guess, f
            w_lo, w_hi, stayed = 1.0, (w_hi / 2 if stayed == 1 else 1.0), 1
        else:
            hi, f_hi = guess, f
            w_lo, w_hi, stayed = (w_lo / 2 if stayed == -1 else 1.0), 1.0, -1
    return lo


def clear() -> None:
    _SETUPS.clear()
    _MOST.clear()
    _RATES.clear()
    _PEAKS.clear()
