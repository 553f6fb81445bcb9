"""Capacity mode (``plan`` without ``--users``, issue 13) answers the same plan with its shortcuts (issue 16, speed) as
with the computations they replace. Nothing here hard-codes a figure of the speed model: each shortcut is compared
with the plain computation in the same code, so a refit of the model moves both sides together. Speed itself is
measured by benchmarks/bench_plan.py, not here.

The shortcuts: users_bound finds the largest batch of a layout once (by regula falsi on the bounds' slack, not by
doubling and bisection) and caps it per KV capacity (plan.bounds), which the planner reads off the memory model
without building its answer (memory.inference.kv_capacity); lower-quality jobs run from the cheapest up only while
one may be the --quality alternative (plan.search._run_lower_jobs); the aggregated capacity closes its bracket by
regula falsi on the SLO slack instead of bisecting it, and an xPyD layout's decode batch is searched once, not once
per prefill chunk (plan.capacity)."""

from __future__ import annotations

import math
import sys

import pytest

from gpuplan.catalog import get_gpu, get_model
from gpuplan.plan import PlanRequest, search

SEARCH = sys.modules["gpuplan.plan.search"]

CASES = {
    # issue 13's examples: 16 GPUs (aggregated layouts and every xPyD split, with and without MTP), 8 GPUs, dense
    "r1-16xh200": PlanRequest(model="deepseek-r1", gpus=("h200-sxm",), gpu_count=16, ttft_s=2.0, tpot_s=0.05),
    "r1-8xh200": PlanRequest(model="deepseek-r1", gpus=("h200-sxm",), gpu_count=8, ttft_s=2.0, tpot_s=0.05),
    # up to four nodes: six xPyD splits (decode pools of 1-3 nodes, shared between splits), each with and without
    # MTP, and a TTFT that needs smaller prefill chunks
    "v3-h800-4-nodes": PlanRequest(model="deepseek-v3", gpus=("h800",), max_nodes=4, ttft_s=0.8, tpot_s=0.05,
                                   input_tokens=4000, output_tokens=1000),
    "qwen32b-8xh100": PlanRequest(model="qwen2.5-32b-instruct", gpus=("h100-sxm",), gpu_count=8, ttft_s=2.0,
                                  tpot_s=0.05),
    # the whole catalog (bench_plan.py's capacity case): thousands of jobs, most of them lower-quality
    "distill32b-catalog": PlanRequest(model="deepseek-r1-distill-qwen-32b", ttft_s=2.0, tpot_s=0.05),
    # nothing fits at the released quality: the answer is the lower-quality alternative
    "llama70b-4x4090": PlanRequest(model="deepseek-r1-distill-llama-70b", gpus=("rtx-4090",), max_gpus=4,
                                   tpot_s=0.08),
    # the whole catalog on an MoE model and on a TTFT alone, where a cheaper lower-quality alternative is shown
    "v3-16-gpus-alternative": PlanRequest(model="deepseek-v3", gpu_count=16, ttft_s=3.0, tpot_s=0.05),
    "qwen7b-ttft-alternative": PlanRequest(model="qwen2.5-7b", ttft_s=0.5),
    # ranked by speed: lower-quality jobs ordered by a floor under their score or throughput (bounds), a cheaper or
    # faster lower-quality alternative shown
    "per-token-consumer": PlanRequest(model="qwen2.5-7b", tpot_s=0.03, objective="per_token", max_gpus=2,
                                      classes=("consumer", "workstation"), quality="released"),
    "per-token-alternative": PlanRequest(model="qwen2.5-7b", ttft_s=0.5, max_nodes=1, objective="per_token"),
    "throughput-alternative": PlanRequest(model="qwen2.5-32b-instruct", tpot_s=0.04, max_gpus=8,
                                          classes=("consumer", "workstation"), objective="throughput"),
}


def _dump(plan) -> dict:
    out = plan.model_dump(mode="json")
    out["search"].pop("seconds")
    return out


def _plain_users_bound(model, gpu, engine, fmt, kv_dtype, tp, ep, dpa, dp, per_replica_limit, input_tokens,
                       output_tokens, tpot_s, calibration=None, ttft_s=None, cached_fraction=0.0):
    """users_bound as before its memo and its secant search: one doubling-and-bisection per call, under the call's
    own limit."""
    from gpuplan.plan import bounds

    limit = math.inf if per_replica_limit is None else float(per_replica_limit)
    if not (tpot_s or ttft_s):
        return limit
    dp_att = dp if dpa else 1
    setup = bounds._setup(model, gpu, engine, fmt, kv_dtype, tp, ep, dp_att, calibration)
    if setup is None:
        return limit
    ctx = input_tokens + output_tokens / 2
    new = max(input_tokens - input_tokens * cached_fraction, 1.0)
    out = max(float(output_tokens), 1.0)
    chunks = max(1.0, math.ceil(new / setup[6]))
    alone = bounds._prefill_bound(setup, 1.0, new)

    def meets(b):
        if tpot_s and bounds._decode_bound(setup, b, ctx, dp_att) + (b - 1) / b * bounds._prefill_bound(
                setup, b, new) / out > tpot_s * (1 + 1e-9):
            return False
        return not (ttft_s and alone + (chunks * bounds._decode_bound(setup, b - 1, ctx, dp_att) if b > 1 else 0.0)
                    > ttft_s * (1 + 1e-9))

    if not meets(1.0):
        return 0.0
    hi = limit if limit != math.inf else 2.0
    while limit == math.inf and meets(hi) and hi < 1e9:
        hi *= 2
    if meets(hi):
        return hi
    lo = 1.0
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if meets(mid):
            lo = mid
        else:
            hi = mid
    return lo


def _plain_lower_jobs(jobs, evaluate, lower_rejects, seq, req, prices, model=None, calibration=None,
                      complete_capacity=None):
    """plan.search._run_lower_jobs without its cut: every lower-quality job evaluated."""
    out = []
    for job in jobs:
        seq[0] = job[0]
        cand = evaluate(job, lower_rejects)
        if cand is not None:
            out.append((job[0], False, cand))
    return out


def _plain_capacity(monkeypatch) -> None:
    """Undo the shortcuts: every lower-quality job evaluated, the users bound recomputed per call by doubling and
    bisection and capped by each job's KV capacity from size_inference, the aggregated capacity bisected over
    [1, KV capacity]."""
    from gpuplan.plan import bounds, capacity

    def plain_key(job, model, req, context, calibration, value, most=None):
        from gpuplan.perf.serving import _engine_capped

        _, gpu, count, nodes, _, fmt, engine, (tp, pp, dp, ep, dpa) = job[:8]
        dep = SEARCH._deployment(gpu, count, nodes, fmt, engine, tp, pp, dp, ep, dpa, req)
        try:
            mem = SEARCH._size_inference_uncached(model, dep, context_tokens=context, concurrency=1, gpu=gpu)
        except SEARCH.GpuplanError:
            return None
        if not mem.fits:
            return None
        most = (dp if not dpa else 1) * _plain_users_bound(
            model, gpu, engine, fmt, SEARCH._kv_dtype(fmt, engine), tp, ep, dpa, dp,
            _engine_capped(dep, mem.max_concurrency), req.input_tokens, req.output_tokens, req.tpot_s, calibration,
            req.ttft_s)
        return (-most, value), most

    monkeypatch.setattr(SEARCH, "_run_lower_jobs", _plain_lower_jobs)
    monkeypatch.setattr(SEARCH, "_capacity_key", plain_key)
    monkeypatch.setattr(bounds, "users_bound", _plain_users_bound)
    monkeypatch.setattr(capacity, "aggregated_capacity", _plain_aggregated_capacity)
    monkeypatch.setattr(capacity, "disaggregated_capacity", _plain_disaggregated_capacity)
    SEARCH._clear_memos()


def _plain_disaggregated_capacity(entry, dd, *, input_tokens, output_tokens, slo):
    """plan.capacity.disaggregated_capacity before it kept the decode batch: every prefill chunk's estimate searches
    it again."""
    from gpuplan.errors import GpuplanError
    from gpuplan.perf.disagg import estimate_disaggregated
    from gpuplan.plan.capacity import PREFILL_CHUNKS_PER_GPU

    est = None
    for chunk in PREFILL_CHUNKS_PER_GPU:
        cand = dd.model_copy(update={"prefill_tokens_per_gpu": chunk})
        try:
            est = estimate_disaggregated(entry, cand, input_tokens=input_tokens, output_tokens=output_tokens,
                                         max_tpot_s=slo.tpot_s)
        except GpuplanError:
            return None
        if slo.ttft_s is None or est.ttft_s <= slo.ttft_s:
            dd = cand
            break
    else:
        return None
    if slo.tpot_s is not None and est.tpot_s > slo.tpot_s:
        return None
    users = est.concurrency
    limit = "slo_tpot" if slo.tpot_s is not None and est.decode_batch_per_gpu < est.max_decode_batch_per_gpu \
        else "kv_capacity"
    fed = math.floor(est.prefill.tokens_per_s_per_node * dd.prefill_nodes / input_tokens
                     * (est.ttft_s + max(output_tokens - 1, 0) * est.tpot_s))
    if fed < users:
        users, limit = fed, "prefill"
    return (users, est, dd, limit) if users >= 1 else None


def _copy(spec, **changes):
    """A spec with some fields changed, pydantic model or dataclass."""
    import dataclasses

    return spec.model_copy(update=changes) if hasattr(spec, "model_copy") else dataclasses.replace(spec, **changes)


def _plain_aggregated_capacity(entry, dep, workload, slo, estimate, most=None):
    """plan.capacity.aggregated_capacity before the bracket: bisection over [1, KV capacity]."""
    from gpuplan.plan.capacity import MAX_CAPACITY_USERS, _meets

    def at(c):
        return estimate(entry, dep, _copy(workload, concurrency=c, rate_per_s=None))

    one = at(1)
    if _meets(one, slo):
        return None
    cap = one.max_concurrency if one.max_concurrency else MAX_CAPACITY_USERS
    top = at(cap)
    if not _meets(top, slo):
        return cap, top, "kv_capacity"
    lo, hi = 1, cap
    best = one
    while hi - lo > 1:
        mid = (lo + hi) // 2
        est = at(mid)
        if _meets(est, slo):
            hi = mid
        else:
            lo, best = mid, est
    return lo, best, _meets(at(hi), slo) or "kv_capacity"


@pytest.mark.parametrize("name", list(CASES))
def test_capacity_plan_is_the_plan_without_the_shortcuts(name, monkeypatch):
    req = CASES[name]
    SEARCH._clear_memos()
    fast = _dump(search(req))
    with monkeypatch.context() as patch:
        _plain_capacity(patch)
        plain = _dump(search(req))
    assert fast == plain
    assert fast["capacity"] is not None or fast["lower_quality"] is not None  # the cases answer something
    SEARCH._clear_memos()
    assert _dump(search(req)) == fast  # and again from the memos


def test_issue_13_example_answers_with_a_disaggregated_layout():
    """The 16×H200 example's answer is an xPyD layout (the reason the PD model exists) and the plan's capacity is its
    first candidate's: users, layout and speed read the same in both places."""
    plan = search(CASES["r1-16xh200"])
    first = plan.candidates[0]
    assert plan.capacity.layout == first.disaggregation.label != "aggregated"
    assert plan.capacity.users == first.capacity_users == max(c.capacity_users for c in plan.candidates)
    assert (plan.capacity.ttft_s, plan.capacity.tpot_s) == (first.perf.ttft_s, first.perf.tpot_s)


@pytest.mark.parametrize("limit", [None, 1, 2, 7, 64, 255, 256, 257, 5000, 10**6])
def test_users_bound_memo_is_the_bound_under_each_limit(limit):
    """The memo (the largest batch found once, capped by each limit) returns what a search under that limit returns,
    on layouts of a dense and an MoE model, with TPOT, TTFT or both targets."""
    from gpuplan.plan import bounds

    bounds.clear()
    for model_id, gpu_id, fmt, engine, tp, ep, dpa, dp in (
            ("qwen2.5-32b-instruct", "h100-sxm", "bf16", "vllm", 2, 1, False, 1),
            ("qwen2.5-32b-instruct", "rtx-4090", "awq-int4", "sglang", 1, 1, False, 4),
            ("deepseek-r1", "h200-sxm", "fp8-block", "sglang", 8, 8, True, 8),
            ("deepseek-r1", "h20", "fp8-block", "vllm", 8, 1, False, 1)):
        model, gpu = get_model(model_id), get_gpu(gpu_id)
        kv = "fp8" if fmt.startswith("fp8") else "auto"
        for ttft, tpot in ((None, 0.05), (2.0, None), (2.0, 0.05), (0.3, 0.02), (100.0, None)):
            args = (model, gpu, engine, fmt, kv, tp, ep, dpa, dp, limit, 2000, 500, tpot, None, ttft)
            assert bounds.users_bound(*args) == _plain_users_bound(*args), (model_id, gpu_id, ttft, tpot, limit)


@pytest.mark.parametrize("model_id", ["deepseek-r1-distill-qwen-32b", "deepseek-v3", "qwen3-30b-a3b"])
def test_users_bound_search_ends_where_the_bisection_ends_over_the_catalog(model_id):
    """The secant search of the largest batch (plan.bounds._users_bound) returns the doubling-and-bisection's on every
    catalog GPU, engine, format and TP (dense and MoE models), unlimited and under KV limits, with TPOT, TTFT, both and
    loose targets."""
    from gpuplan.catalog import list_gpus
    from gpuplan.plan import bounds

    model = get_model(model_id)
    checked = 0
    for gpu in list_gpus():
        for engine, fmt, tp in ((e, f, tp) for e in ("vllm", "sglang", "llama.cpp") for f in ("bf16", "fp8", "awq-int4",
                                                                                           "gguf-q4_k_m")
                                for tp in (1, 2, 8)):
            kv = SEARCH._kv_dtype(fmt, engine)
            for ttft, tpot in ((2.0, 0.05), (None, 0.02), (0.4, None), (30.0, 1.0)):
                for limit in (math.inf, 3.0, 117.0):
                    args = (model, gpu, engine, fmt, kv, tp, 1, 1, limit, 2000, 500, tpot, None, ttft, 0.0)
                    want = _plain_users_bound(model, gpu, engine, fmt, kv, tp, 1, False, 1,
                                              None if limit == math.inf else limit, 2000, 500, tpot, None, ttft)
                    assert bounds._users_bound(*args) == want, (gpu.id, engine, fmt, tp, ttft, tpot, limit)
                    checked += want not in (0.0, limit)
    assert checked > 100  # most layouts end inside the bracket, not at one of its ends


@pytest.mark.parametrize("shape", ["linear", "convex", "concave", "steps", "ttft-wall"])
def test_aggregated_capacity_search_ends_where_the_bisection_ends(shape):
    """On monotone SLO curves of several shapes (made-up estimators; capacities from 1 to 10^6), the secant search
    returns the bisection's C*, estimate and limit; on the near-linear curves of the serving model in fewer estimates,
    and on the others never many more."""
    from types import SimpleNamespace

    from gpuplan.plan.capacity import aggregated_capacity
    from gpuplan.spec import Slo, Workload

    curves = {
        "linear": lambda c, k: 0.01 + k * c,
        "convex": lambda c, k: 0.01 + k * c * c / 50,
        "concave": lambda c, k: 0.01 + k * 40 * math.sqrt(c),
        "steps": lambda c, k: 0.01 + k * 16 * math.ceil(c / 16),
        "ttft-wall": lambda c, k: 0.01 + k * c,
    }
    slo = Slo(ttft_s=2.0, tpot_s=0.05)
    workload = Workload(input_tokens=2000, output_tokens=500, concurrency=1)
    total = {"fast": 0, "plain": 0}
    for cap in [*range(1, 80), *range(80, 700, 37), 10**5, 10**6]:
        for k in (1e-7, 1e-5, 3e-4, 1e-3, 7e-3):
            calls = {"fast": 0, "plain": 0, "bounded": 0}

            def counting(who, cap=cap, k=k, calls=calls):
                def estimate(entry, dep, wl):
                    calls[who] += 1
                    c = wl.concurrency
                    ttft = 5.0 if shape == "ttft-wall" and c > cap // 3 + 1 else 0.1
                    return SimpleNamespace(ttft_s=ttft, tpot_s=curves[shape](c, k), max_concurrency=cap, c=c)
                return estimate

            fast = aggregated_capacity(None, None, workload, slo, counting("fast"))
            plain = _plain_aggregated_capacity(None, None, workload, slo, counting("plain"))
            want = plain and (plain[0], plain[1].c, plain[2])
            assert (fast and (fast[0], fast[1].c, fast[2])) == want, (cap, k)
            if plain:  # given a bound on C* (the planner's users bound): the same answer, a wrong bound ignored
                for most in (plain[0], plain[0] + 1, 2 * plain[0] + 7, plain[0] - 1, 0):
                    got = aggregated_capacity(None, None, workload, slo, counting("bounded"), float(most))
                    assert (got[0], got[1].c, got[2]) == want, (cap, k, most)
            assert calls["fast"] <= 2 * calls["plain"], (cap, k, calls)
            for who in total:
                total[who] += calls[who]
    if shape == "linear":
        assert total["fast"] < 0.7 * total["plain"], total
    if shape == "concave":
        assert total["fast"] < total["plain"], total


def test_a_price_without_its_monthly_series_is_the_same_price():
    """The planner prices hardware shapes without the month-by-month series (cost_of(monthly=False)); every other
    field is the full price's, on priced, unpriced, multi-node and cloud-only shapes."""
    from gpuplan.cost import CostInputs, cost_of
    from gpuplan.plan.search import default_prices

    book = default_prices()
    for gpu_id, count, nodes in (("h200-sxm", 16, 2), ("h100-sxm", 8, 1), ("rtx-4090", 2, 1), ("h20", 8, 1),
                                 ("910b", 8, 1)):
        gpu = get_gpu(gpu_id)
        inputs = CostInputs(gpu_id=gpu.id, gpu_class=gpu.gpu_class, gpu_count=count, nodes=nodes,
                            gpu_tdp_watts=gpu.tdp_watts, years=3)
        full, short = cost_of(inputs, book), cost_of(inputs, book, monthly=False)
        assert full.monthly and short.monthly == ()
        assert short == full.model_copy(update={"monthly": ()}), gpu_id


@pytest.mark.parametrize("name", ["r1-16xh200", "qwen32b-8xh100"])
def test_capacity_plan_with_the_shipped_calibration_given_explicitly(name):
    """A calibration passed in (as `plan --calibration FILE` does) takes the paths without memos; given the shipped
    one, it answers the same plan."""
    from gpuplan.perf import load_calibration

    req = CASES[name]
    assert _dump(search(req, calibration=load_calibration())) == _dump(search(req))


@pytest.mark.parametrize("objective", ["per_token", "throughput"])
@pytest.mark.parametrize("kw", [dict(model="qwen2.5-7b", ttft_s=0.5, max_nodes=1),
                                dict(model="deepseek-r1-distill-qwen-32b", ttft_s=2.0, tpot_s=0.05, max_nodes=1),
                                dict(model="qwen3-30b-a3b", tpot_s=0.03, max_gpus=8, quality="released")])
def test_speed_floor_is_never_above_a_lower_quality_candidates_value(objective, kw, monkeypatch):
    """Capacity mode ranked by speed runs lower-quality jobs from the best floor under their objective value up
    (plan.search._speed_floor: minus a throughput bound at the users bound, or the owned cost's floor over the
    throughput bound at one user): every lower-quality job that yields a candidate has a floor, at most its value."""
    req = PlanRequest(objective=objective, **kw)
    pairs = []

    def every_lower_job(jobs, evaluate, lower_rejects, seq, req, prices, model=None, calibration=None,
                        complete_capacity=None):
        out = _plain_lower_jobs(jobs, evaluate, lower_rejects, seq, req, prices)
        by_seq = {job[0]: job for job in jobs}
        pairs.extend((by_seq[position], cand, model, prices, calibration) for position, _, cand in out)
        return out

    monkeypatch.setattr(SEARCH, "_run_lower_jobs", every_lower_job)
    SEARCH._clear_memos()
    search(req)
    assert len(pairs) > 5
    for job, cand, model, prices, calibration in pairs:
        floor = SEARCH._speed_floor(job, model, req, prices, calibration, {})
        assert floor is not None and floor <= SEARCH._objective_value(cand, objective), (job[:3], job[5:8])
