"""Issue 16, speed: the planner estimates only the candidates that can rank among the ``top`` shown (by their price,
a bound on their throughput, or in capacity mode a bound on their users: plan.bounds), and the plan it returns is the
one the exhaustive search returns; what it skipped is counted, honestly, as ``not_evaluated`` (figures come from
benchmarks/bench_plan.py, not from here)."""

from __future__ import annotations

import math
import sys

import pytest

import gpuplan.plan.search  # noqa: F401  (the module; gpuplan.plan.search the name is the function)
from gpuplan.i18n import t
from gpuplan.plan import PlanRequest, search

CASES = {
    # the two benchmark plans (TTFT and TPOT targets; TPOT only), a preset ranked by capex, a budget with unpriced
    # GPUs in the pool, the cloud objective, a top-3 cut that falls between candidates of the same price
    "r1-distill-team": PlanRequest(model="deepseek-r1-distill-qwen-32b", users=50, input_tokens=2000,
                                   output_tokens=500, ttft_s=2.0, tpot_s=0.05),
    "v3-200-users": PlanRequest(model="deepseek-v3", users=200, input_tokens=2000, output_tokens=1000, tpot_s=0.1),
    "personal-capex": PlanRequest(model="deepseek-r1-distill-qwen-32b", users=1, max_gpus=2, objective="capex",
                                  classes=("consumer", "workstation", "unified"), quality="4bit"),
    "budget-with-unpriced": PlanRequest(model="deepseek-r1-distill-qwen-7b", users=1, gpus=("l4", "rtx-4090"),
                                        budget_usd=100_000, top=3),
    "cloud": PlanRequest(model="qwen2.5-32b", users=20, tpot_s=0.05, objective="cloud", max_nodes=1),
    "top-3-tie": PlanRequest(model="deepseek-r1-distill-qwen-32b", users=50, input_tokens=2000, output_tokens=500,
                             ttft_s=2.0, tpot_s=0.05, top=3),
    # ranked by speed: ordered by a bound on each candidate's throughput (plan.bounds)
    "per-token": PlanRequest(model="deepseek-r1-distill-qwen-32b", users=50, input_tokens=2000, output_tokens=500,
                             ttft_s=2.0, tpot_s=0.05, objective="per_token"),
    "throughput-moe": PlanRequest(model="deepseek-v3", users=200, input_tokens=2000, output_tokens=1000, tpot_s=0.1,
                                  objective="throughput"),
    "per-token-personal": PlanRequest(model="qwen3-30b-a3b", users=1, max_gpus=2, objective="per_token",
                                      classes=("consumer", "workstation", "unified"), quality="any"),
    # capacity mode (most users first): ordered by a bound on the users (KV capacity, TPOT), xPyD candidates beside
    "capacity": PlanRequest(model="deepseek-r1-distill-qwen-32b", ttft_s=2.0, tpot_s=0.05, max_nodes=1),
    "capacity-16-gpus": PlanRequest(model="deepseek-v3", gpu_count=16, ttft_s=3.0, tpot_s=0.05),
    # capacity mode with a cheaper lower-quality alternative shown (its jobs run apart, cheapest first), ranked by
    # throughput (the alternative found among every lower-quality job)
    "capacity-alternative": PlanRequest(model="qwen2.5-7b", ttft_s=0.5, max_nodes=1),
    "capacity-throughput": PlanRequest(model="deepseek-r1-distill-qwen-32b", tpot_s=0.05, objective="throughput",
                                       max_nodes=1),
}

# Rejected before any sizing or estimate (enumeration order): the pruned search counts them exactly as before.
ENUMERATION_REASONS = ("format_engine", "format_vendor", "format_cc", "engine_vendor", "no_checkpoint")


def _pair(req: PlanRequest):
    return search(req), search(req.model_copy(update={"exhaustive": True}))


@pytest.mark.parametrize("name", list(CASES))
def test_pruned_search_returns_the_exhaustive_plan(name):
    pruned, full = _pair(CASES[name])
    assert [c.model_dump() for c in pruned.candidates] == [c.model_dump() for c in full.candidates]
    assert pruned.lower_quality == full.lower_quality
    assert pruned.pareto == full.pareto
    assert pruned.assumptions == full.assumptions
    assert pruned.search["candidates_considered"] == full.search["candidates_considered"]
    assert all(r.reason != "not_evaluated" for r in full.rejections)
    got = {r.reason: r for r in pruned.rejections}
    want = {r.reason: r for r in full.rejections}
    skipped = got.pop("not_evaluated").count if "not_evaluated" in got else 0
    for reason, rej in got.items():
        assert reason in want and rej.count <= want[reason].count, reason
    for reason in ENUMERATION_REASONS:
        if reason in want:
            assert got[reason] == want[reason]
    # every rejection of the exhaustive search is either still counted by its reason or among the skipped ones
    assert sum(r.count for r in got.values()) + skipped >= sum(r.count for r in want.values())
    if pruned.rejections and pruned.rejections[-1].reason != "not_evaluated":
        assert skipped == 0  # the skipped group, when there is one, comes last


def test_the_benchmark_plan_is_pruned_and_says_so():
    plan = search(CASES["r1-distill-team"])
    last = plan.rejections[-1]
    assert last.reason == "not_evaluated" and last.count > 0
    tenth = plan.candidates[-1].cost.tco_usd
    assert f"${tenth:,.0f}" in last.nearest and "not sized or estimated" in last.nearest
    assert t("plan.reason_not_evaluated", lang="zh") != t("plan.reason_not_evaluated", lang="en")


def test_pruning_skips_most_estimates(monkeypatch):
    module = sys.modules["gpuplan.plan.search"]
    calls = []
    original = module._evaluate

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, "_evaluate", counting)
    req = CASES["r1-distill-team"]
    search(req)
    pruned = len(calls)
    calls.clear()
    search(req.model_copy(update={"exhaustive": True}))
    assert pruned * 10 < len(calls)


def test_arrival_rates_ranked_by_speed_are_never_pruned():
    for req in (PlanRequest(model="deepseek-r1-distill-qwen-7b", rate_per_s=2, tpot_s=0.05, objective="per_token",
                            max_nodes=1),
                PlanRequest(model="deepseek-r1-distill-qwen-7b", rate_per_s=2, tpot_s=0.05, objective="throughput",
                            max_nodes=1)):
        assert all(r.reason != "not_evaluated" for r in search(req).rejections)


@pytest.mark.parametrize("req", [
    PlanRequest(model="deepseek-r1-distill-qwen-32b", ttft_s=2.0, tpot_s=0.05, max_nodes=1, top=200),
    PlanRequest(model="deepseek-v3", gpu_count=8, tpot_s=0.1, top=200),
    PlanRequest(model="qwen3-30b-a3b", ttft_s=1.0, max_gpus=2, quality="any", top=200),  # TTFT only
    PlanRequest(model="deepseek-v3", gpu_count=16, input_tokens=8000, ttft_s=3.0, tpot_s=0.05, top=200),
], ids=lambda r: f"{r.model}-{r.gpu_count}")
def test_users_bound_is_never_below_the_capacity(req):
    """Capacity mode orders the candidates by a bound on the users they serve: it must hold for every one."""
    from gpuplan.perf.serving import _engine_capped
    from gpuplan.plan.bounds import users_bound

    module = sys.modules["gpuplan.plan.search"]
    plan = search(req.model_copy(update={"exhaustive": True}))
    checked = 0
    for c in plan.candidates:
        if c.disaggregation is not None:
            continue
        gpu = module.get_gpu(c.gpu)
        dp, dpa = c.data_parallel_size, c.enable_dp_attention
        dep = module._deployment(gpu, c.gpu_count, c.nodes, c.weight_format, c.engine, c.tensor_parallel_size,
                                 c.pipeline_parallel_size, dp, c.expert_parallel_size, dpa, req)
        mem = module.size_inference(module.get_model(req.model), dep, context_tokens=c.max_model_len, concurrency=1,
                                    gpu=gpu)
        replicas = dp if not dpa else 1
        most = replicas * users_bound(module.get_model(req.model), gpu, c.engine, c.weight_format,
                                      module._kv_dtype(c.weight_format, c.engine),
                                      c.tensor_parallel_size, c.expert_parallel_size, dpa, dp,
                                      _engine_capped(dep, mem.max_concurrency), req.input_tokens, req.output_tokens,
                                      req.tpot_s, None, req.ttft_s)
        assert c.capacity_users <= most, (c.gpu, c.gpu_count, c.engine, c.capacity_users, most)
        checked += 1
    assert checked > 10


BOUND_CASES = [
    PlanRequest(model="deepseek-r1-distill-qwen-32b", users=50, input_tokens=2000, output_tokens=500, top=200),
    PlanRequest(model="deepseek-v3", users=200, input_tokens=2000, output_tokens=1000, top=200),
    PlanRequest(model="deepseek-v3.2", users=64, input_tokens=8000, output_tokens=2000, top=200),  # sparse attention
    PlanRequest(model="qwen3-30b-a3b", users=1, input_tokens=1000, output_tokens=300, quality="any", top=200),
    PlanRequest(model="qwen3-30b-a3b", users=3, input_tokens=1000, output_tokens=2, quality="any", top=200),
]


@pytest.mark.parametrize("req", BOUND_CASES, ids=lambda r: f"{r.model}-{r.users}")
def test_throughput_bound_is_never_below_the_estimate(req, monkeypatch):
    """The bound that orders a speed-ranked search must hold for every candidate the estimator keeps: dense and MoE,
    GQA, MLA with DP-attention and EP, sparse attention, one user (llama.cpp GGUF), two output tokens."""
    from gpuplan.plan.bounds import output_tokens_per_s_bound

    module = sys.modules["gpuplan.plan.search"]
    seen = []
    original = module._evaluate

    def recording(model, gpu, count, nodes, per_node, fmt, engine, tp, pp, dp, ep, dpa, users, *rest, **kwargs):
        cand = original(model, gpu, count, nodes, per_node, fmt, engine, tp, pp, dp, ep, dpa, users, *rest, **kwargs)
        if cand is not None:
            replicas = dp if not dpa else 1
            bound = output_tokens_per_s_bound(model, gpu, engine, fmt, module._kv_dtype(fmt, engine), tp, ep, dpa, dp,
                                              replicas, -(-users // replicas), req.input_tokens, req.output_tokens)
            seen.append((cand.perf.output_tokens_per_s, bound, f"{count}x{gpu.id} {engine} {fmt} tp{tp} dp{dp}"))
        return cand

    monkeypatch.setattr(module, "_evaluate", recording)
    module._clear_memos()
    search(req.model_copy(update={"exhaustive": True}))
    assert len(seen) > 20
    bad = [(got, bound, what) for got, bound, what in seen if got > bound]
    assert not bad, bad[:5]
    assert any(bound < 10 * got for got, bound, _ in seen if bound != float("inf"))  # and it is not vacuous


@pytest.mark.parametrize("objective", ["tco", "throughput", "per_token"])
def test_budget_keeps_unpriced_candidates_explained(objective):
    """Budgets fail closed and the user is told which prices are unknown: unpriced candidates are still evaluated,
    whatever the ranking."""
    req = CASES["budget-with-unpriced"].model_copy(update={"objective": objective})
    pruned, full = _pair(req)
    assert [c.model_dump() for c in pruned.candidates] == [c.model_dump() for c in full.candidates]
    got = [r for r in pruned.rejections if r.reason == "price_unknown"]
    assert got and got == [r for r in full.rejections if r.reason == "price_unknown"]


def test_exhaustive_from_the_command_line_and_the_api():
    """``--exhaustive`` (CLI) and ``"exhaustive": true`` (API) evaluate every candidate: no ``not_evaluated`` group,
    the same candidates as the pruned plan."""
    import json

    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from gpuplan.api import ApiSettings, create_app
    from gpuplan.cli.main import build_app

    args = ["plan", "deepseek-r1-distill-qwen-7b", "--users", "8", "--tpot-ms", "50", "--max-nodes", "1", "--json"]
    runner = CliRunner()
    plans = []
    for extra in ([], ["--exhaustive"]):
        res = runner.invoke(build_app(), [*args, *extra])
        assert res.exit_code == 0, res.output
        plans.append(json.loads(res.stdout))
    assert any(r["reason"] == "not_evaluated" for r in plans[0]["rejections"])
    assert all(r["reason"] != "not_evaluated" for r in plans[1]["rejections"])
    assert plans[0]["candidates"] == plans[1]["candidates"]
    body = {"model": "deepseek-r1-distill-qwen-7b", "users": 8, "tpot_ms": 50, "max_nodes": 1}
    with TestClient(create_app(ApiSettings(request_time_limit_s=120))) as client:
        pruned = client.post("/api/v1/plan", json=body).json()
        full = client.post("/api/v1/plan", json={**body, "exhaustive": True}).json()
    assert any(r["reason"] == "not_evaluated" for r in pruned["rejections"])
    assert all(r["reason"] != "not_evaluated" for r in full["rejections"])
    assert pruned["candidates"] == full["candidates"]


def test_throughput_bound_holds_with_a_separate_expert_factor():
    """FP8 MoE on Ampere: the routed experts have their own fitted format factor (calibration ``fp8-block@experts``);
    the bound reads them at that rate, as the step model does."""
    from gpuplan.catalog import get_gpu, get_model
    from gpuplan.perf import estimate_serving
    from gpuplan.plan.bounds import output_tokens_per_s_bound
    from gpuplan.spec import Deployment, Workload

    entry, gpu = get_model("qwen3-30b-a3b"), get_gpu("a100-80gb-sxm")
    for users, tp in ((1, 1), (16, 1), (64, 2)):
        dep = Deployment(gpu_id=gpu.id, gpu_count=tp, engine="vllm", weight_format="fp8-block",
                         tensor_parallel_size=tp, kv_dtype="fp8")
        est = estimate_serving(entry, dep, Workload(input_tokens=2000, output_tokens=500, concurrency=users),
                               detail=False)
        bound = output_tokens_per_s_bound(entry, gpu, "vllm", "fp8-block", "fp8", tp, 1, False, 1, 1, users, 2000, 500)
        assert est.output_tokens_per_s <= bound < 10 * est.output_tokens_per_s


@pytest.mark.parametrize("objective", ["capex", "tco", "per_token"])
@pytest.mark.parametrize("currency,market", [("USD", None), ("CNY", None), ("USD", "used")])
def test_price_floor_is_never_above_the_price(objective, currency, market):
    """The planner orders jobs by a floor under their shape's price (the GPUs' purchase price alone, or for cost per
    token that over the depreciation years) and prices a shape only when its floor comes up (_floor_value): on every
    catalog GPU and shape, the floor is at most the cost model's value, and equal to it (infinite) exactly when the
    shape is unpriced."""
    from gpuplan.catalog import list_gpus

    search_mod = sys.modules["gpuplan.plan.search"]
    req = PlanRequest(model="qwen2.5-7b", users=1, objective=objective, currency=currency, market=market)
    checked = 0
    for gpu in list_gpus():
        for nodes, per_node in search_mod._node_shapes(gpu, req):
            count = nodes * per_node
            floor, exact = search_mod._floor_value(gpu, count, req, None)
            price = search_mod._base_price(gpu, count, nodes, req, None)
            value = {"capex": price[0], "tco": price[1], "per_token": price[3]}[objective]
            value = math.inf if value is None else value
            assert floor <= value, (gpu.id, count, nodes, floor, value)
            if exact:
                assert floor == value == math.inf and price[0] is None, (gpu.id, count)
            checked += floor < value
    assert checked > 10  # priced shapes (few GPUs have a used-market price)


@pytest.mark.parametrize("name", list(CASES))
def test_price_floors_answer_the_plan_of_exact_prices(name, monkeypatch):
    """Ordering jobs by price floors and pricing a shape only when its floor comes up (plan.search._floor_value)
    answers the plan — candidates, figures, rejection counts and nearest misses, the not_evaluated one included — that
    ordering them by their exact prices answers."""
    search_mod = sys.modules["gpuplan.plan.search"]
    req = CASES[name]
    fast = search(req).model_dump(mode="json")

    keys = search_mod._best_keys

    def exact_keys(jobs, model, req, prices, users, context, calibration):
        out, floors = keys(jobs, model, req, prices, users, context, calibration)
        for i in floors:
            out[i] = search_mod._exact_key(jobs[i], out[i][0], out[i][1], req, prices), out[i][1]
        return out, set()

    def exact_value(gpu, count, nodes, req, prices, values):
        if req.objective in ("capex", "tco"):
            return search_mod._shape_price_key(gpu, count, nodes, req, prices)[1], True
        return shape_value(gpu, count, nodes, req, prices, values)

    shape_value = search_mod._shape_value
    monkeypatch.setattr(search_mod, "_best_keys", exact_keys)
    monkeypatch.setattr(search_mod, "_shape_value", exact_value)
    plain = search(req).model_dump(mode="json")
    fast["search"].pop("seconds")
    plain["search"].pop("seconds")
    assert fast == plain
