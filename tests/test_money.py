"""Money you can trust (issue 12): budgets fail closed, the user's currency end to end, the bill of materials, cost
per token at a stated utilization, and the budget tiers answered in CNY.

Published numbers pinned here carry their citation; the tier tests check what the planner promises (priced,
feasible, within the budget, in CNY, with a bill of materials), not hard-coded picks.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from gpuplan.catalog.prices import load_prices
from gpuplan.cli.main import build_app
from gpuplan.cost import CostInputs, cost_of
from gpuplan.cost.bom import BomInputs, bill_of_materials
from gpuplan.i18n import set_language
from gpuplan.plan import search
from gpuplan.planfile import PlanFile
from gpuplan.units import fmt_money
from gpuplan.views import build_request

runner = CliRunner()


@pytest.fixture(autouse=True)
def _english():
    set_language("en")
    yield
    set_language("en")


def plan(**opts) -> PlanFile:
    return search(build_request(opts))


def rate() -> float:
    return load_prices().usd_to_cny.value


# --- budgets fail closed ------------------------------------------------------------------------------------------

def test_unknown_price_never_passes_a_budget():
    # l4 has no sourced purchase price, rtx-4090 has one: with a budget only the priced GPU may remain.
    p = plan(model="deepseek-r1-distill-qwen-7b", users=1, gpu=["l4", "rtx-4090"], budget_usd=100_000)
    assert p.candidates, "the priced GPU fits the budget"
    assert all(c.cost.capex_usd is not None and c.cost.priced for c in p.candidates)
    assert all(c.cost.capex_usd <= 100_000 for c in p.candidates)
    unknown = [r for r in p.rejections if r.reason == "price_unknown"]
    assert unknown and "price unknown: missing GPU price" in unknown[0].nearest


def test_unpriced_never_ranks_above_priced_and_names_what_is_missing():
    p = plan(model="deepseek-r1-distill-qwen-7b", users=1, gpu=["l4", "rtx-4090"], top=50)
    priced = [c.cost.priced for c in p.candidates]
    assert True in priced and False in priced
    first_unpriced = priced.index(False)
    assert all(x is False for x in priced[first_unpriced:]), "no priced candidate after an unpriced one"
    for c in p.candidates[first_unpriced:]:
        assert c.cost.capex_usd is None and c.cost.missing and set(c.cost.missing) <= {"gpu", "server", "network"}
    assert any("gpu" in c.cost.missing for c in p.candidates if c.gpu == "l4")


def test_ties_break_by_throughput_then_latency():
    p = plan(model="deepseek-r1-distill-qwen-7b", users=4, gpu=["rtx-4090"], top=50)
    for a, b in zip(p.candidates, p.candidates[1:], strict=False):
        if a.cost.priced and b.cost.priced and a.score == b.score:
            assert (a.perf.output_tokens_per_s or 0) >= (b.perf.output_tokens_per_s or 0)


def test_over_budget_is_said_in_the_budget_currency():
    p = plan(model="deepseek-r1-distill-qwen-32b", users=1, input_tokens=1000, output_tokens=1000,
             budget_cny=20_000)
    over = [r for r in p.rejections if r.reason == "budget"]
    assert over and "¥" in over[0].nearest and "USD" not in over[0].nearest


# --- the user's currency ------------------------------------------------------------------------------------------

def test_currency_follows_flag_budget_and_language():
    assert plan(model="deepseek-r1-distill-qwen-7b", users=1, gpu=["rtx-4090"]).currency == "USD"
    assert plan(model="deepseek-r1-distill-qwen-7b", users=1, gpu=["rtx-4090"], budget_cny=50_000).currency == "CNY"
    assert plan(model="deepseek-r1-distill-qwen-7b", users=1, gpu=["rtx-4090"], currency="cny").currency == "CNY"
    set_language("zh")
    assert plan(model="deepseek-r1-distill-qwen-7b", users=1, gpu=["rtx-4090"]).currency == "CNY"
    assert plan(model="deepseek-r1-distill-qwen-7b", users=1, gpu=["rtx-4090"], currency="USD").currency == "USD"


def test_cny_cost_block_is_the_usd_one_at_the_dated_rate():
    p = plan(model="deepseek-r1-distill-qwen-7b", users=1, gpu=["rtx-4090"], currency="CNY")
    k = p.candidates[0].cost
    assert k.currency == "CNY" and k.exchange_rate is not None
    # CFETS central parity 7.0197 CNY/USD on 2026-01-08 (general.toml).
    assert k.exchange_rate.cny_per_usd == pytest.approx(7.0197) and k.exchange_rate.date == "2026-01"
    for usd, cny in ((k.capex_usd, k.capex), (k.tco_usd, k.tco), (k.opex_usd_per_year, k.opex_per_year),
                     (k.usd_per_million_output_tokens, k.per_million_output_tokens)):
        assert usd is not None and cny == pytest.approx(usd * 7.0197)
    # CNY plans buy at China street prices and pay a Chinese tariff: RTX 4090 about 14,500 yuan (CSDN build budget).
    assert k.purchase == "china" and k.electricity_region == "cn-commercial"
    gpu_line = p.candidates[0].bill_of_materials[0]
    assert gpu_line.kind == "gpu" and gpu_line.unit_price == pytest.approx(14_500)


def test_fmt_money_never_rounds_a_small_cost_to_zero():
    assert fmt_money(0.32, "USD") == "$0.32"
    assert fmt_money(0.0432, "USD") == "$0.0432"
    assert fmt_money(2.1, "CNY") == "¥2.10"
    assert fmt_money(736_680, "CNY") == "¥736,680"
    assert fmt_money(None, "USD") == "—"


def test_utilization_scales_cost_per_token():
    half = plan(model="deepseek-r1-distill-qwen-7b", users=1, gpu=["rtx-4090"], utilization=0.5)
    full = plan(model="deepseek-r1-distill-qwen-7b", users=1, gpu=["rtx-4090"], utilization=1.0)
    a, b = half.candidates[0], full.candidates[0]
    assert (a.gpu, a.engine, a.weight_format) == (b.gpu, b.engine, b.weight_format)
    # Same yearly cost over half the tokens: twice the cost per token.
    assert a.cost.usd_per_million_output_tokens == pytest.approx(2 * b.cost.usd_per_million_output_tokens)
    assert any("50%" in x for x in half.assumptions)


# --- the bill of materials ----------------------------------------------------------------------------------------

def test_bom_of_an_8_gpu_hgx_node_matches_the_dgx_h100_datasheet():
    prices = load_prices()
    res = cost_of(CostInputs(gpu_id="h100-sxm", gpu_count=8, nodes=1, gpu_tdp_watts=700), prices)
    bom = {i.kind: i for i in bill_of_materials(res, BomInputs(
        gpu_name="H100 SXM", gpu_tdp_watts=700, gpus_per_node=8, checkpoint_bytes=689_000_000_000), prices)}
    # NVIDIA DGX H100 datasheet: "System power usage ~10.2kW max", 8U, 8 GPUs at 700 W
    # (https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/nvidia-dgx-h100-datasheet.pdf).
    assert bom["power"].quantity == pytest.approx(10.2, abs=0.05)
    assert "12.8" in bom["power"].description  # PSU/PDU at 125% of the continuous load (NEC 210.19/210.20)
    assert "8 U each" in bom["server"].rule
    assert "HGX" in bom["cooling"].description  # 700 W GPUs: HGX chassis or liquid
    assert bom["gpu"].total == pytest.approx(8 * 30_000) and bom["gpu"].quantity == 8
    # V3-size checkpoint (689 GB) on one node: RAM ≥ 642 GiB → 1024 GiB; NVMe ≥ 2 × 689 GB → 2 TB.
    assert bom["ram"].quantity == 1024 and bom["storage"].quantity == 2
    assert bom["ram"].included_in == "server" and bom["ram"].unit_price is None


def test_bom_multi_node_counts_a_nic_and_port_per_gpu():
    prices = load_prices()
    res = cost_of(CostInputs(gpu_id="h100-sxm", gpu_count=16, nodes=2, gpu_tdp_watts=700), prices)
    bom = {i.kind: i for i in bill_of_materials(res, BomInputs(gpu_name="H100", gpu_tdp_watts=700, gpus_per_node=8),
                                                prices)}
    assert bom["network"].quantity == 16
    assert bom["network"].total == pytest.approx(res.capex_network_usd)


def test_liquid_cooling_above_1000_watts():
    prices = load_prices()
    res = cost_of(CostInputs(gpu_id="gb200", gpu_count=8, nodes=1, gpu_tdp_watts=1200), prices)
    bom = {i.kind: i for i in bill_of_materials(res, BomInputs(gpu_name="GB200", gpu_tdp_watts=1200, gpus_per_node=8),
                                                prices)}
    assert bom["cooling"].description == "liquid cooling required"


# --- the budget tiers, in CNY -------------------------------------------------------------------------------------

TIERS = [
    # (model, users, input, output, tpot_ms, budget CNY)
    ("deepseek-r1-distill-qwen-7b", 1, 1000, 1000, None, 20_000),      # personal
    ("deepseek-r1-distill-qwen-14b", 1, 1000, 1000, None, 30_000),     # personal
    ("deepseek-r1-distill-qwen-32b", 1, 1000, 1000, None, 30_000),     # personal (issue 12 "done when")
    ("deepseek-r1-distill-llama-70b", 1, 1000, 1000, None, 30_000),   # personal
    ("deepseek-r1-distill-qwen-7b", 20, 1000, 1000, 50, 100_000),      # small team
    ("deepseek-r1-distill-qwen-32b", 50, 1000, 1000, 50, 300_000),     # small team ("done when")
    ("deepseek-r1-distill-llama-70b", 50, 1000, 1000, 50, 300_000),   # small team
    ("deepseek-r1-distill-llama-70b", 200, 2000, 1000, 100, 1_000_000),  # enterprise
    ("deepseek-v3", 200, 2000, 1000, 100, 5_000_000),                  # enterprise ("done when")
    ("deepseek-r1", 200, 2000, 1000, 100, 5_000_000),                  # enterprise
    ("deepseek-r1", 50, 2000, 1000, 100, 1_000_000),                   # enterprise, low end
]


@pytest.mark.parametrize(("model", "users", "inp", "out", "tpot", "budget"), TIERS,
                         ids=[f"{m}-{u}u-{b // 1000}k" for m, u, _, _, _, b in TIERS])
def test_budget_tier_gets_a_priced_recommendation_in_cny(model, users, inp, out, tpot, budget):
    # personal tiers open 4-bit formats, as the personal preset does (issue 11: the released precision by default)
    p = plan(model=model, users=users, input_tokens=inp, output_tokens=out, tpot_ms=tpot, budget_cny=budget,
             quality="4bit" if users == 1 else None)
    assert p.currency == "CNY" and p.candidates
    for c in p.candidates:  # every candidate, not only the top pick
        assert c.cost.priced and c.cost.currency == "CNY"
        assert c.cost.capex <= budget * (1 + 1e-9)
        if tpot:
            assert c.perf.tpot_s <= tpot / 1000
    top = p.candidates[0]
    kinds = {i.kind for i in top.bill_of_materials}
    assert {"gpu", "server", "cpu", "ram", "storage", "network", "power", "cooling"} <= kinds
    priced_lines = sum(i.total or 0 for i in top.bill_of_materials if i.included_in is None)
    assert priced_lines == pytest.approx(top.cost.capex, rel=1e-6)  # the BOM adds up to the capex
    native = {"deepseek-v3": "fp8-block", "deepseek-r1": "fp8-block"}.get(model, "bf16")
    if top.weight_format != native:
        assert any(n.startswith("Quantized") for n in top.notes), "a quantized pick says so"


def test_quantized_pick_says_whether_the_budget_demands_it():
    # 32B in BF16 is ~61 GiB of weights: under ¥30,000 only a 128 GB unified machine (DGX Spark) could hold it, so
    # the pick is ≤ 4.5-bit; the note says "the budget demands it" exactly when no released-precision (BF16)
    # deployment is among the feasible, in-budget candidates.
    p = plan(model="deepseek-r1-distill-qwen-32b", users=1, input_tokens=1000, output_tokens=1000, budget_cny=30_000,
             top=200, quality="4bit")  # 4-bit opened by the user (issue 11)
    top = p.candidates[0]
    assert top.weight_format in ("awq-int4", "gguf-q4_k_m")
    native_fits = any(c.weight_format == "bf16" for c in p.candidates)
    want = "cheaper hardware" if native_fits else "budget demands it"
    assert any(want in n for n in top.notes), top.notes


# --- the edges agree ----------------------------------------------------------------------------------------------

def test_cost_cli_and_api_agree_with_the_plan(tmp_path):
    from fastapi.testclient import TestClient

    from gpuplan.api import create_app

    out = tmp_path / "plan.yaml"
    r = runner.invoke(build_app(), ["plan", "deepseek-r1-distill-qwen-32b", "--users", "1", "--input-tokens", "1000",
                            "--output-tokens", "1000", "--budget-cny", "30000", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "Bill of materials" in r.output and "¥" in r.output
    p = PlanFile.load(out)
    k = p.candidates[0].cost
    r = runner.invoke(build_app(), ["cost", str(out), "--currency", "CNY", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["cost"]["currency"] == "CNY"
    assert data["cost"]["capex"] == pytest.approx(k.capex)
    assert data["cost"]["tco"] == pytest.approx(k.tco)
    assert data["cost"]["per_million_output_tokens"] == pytest.approx(k.per_million_output_tokens)
    assert data["capex_usd"] == pytest.approx(k.capex_usd)

    client = TestClient(create_app())
    body = client.post("/api/v1/plan", json={"model": "deepseek-r1-distill-qwen-32b", "users": 1,
                                             "input_tokens": 1000, "output_tokens": 1000, "budget_cny": 30000})
    assert body.status_code == 200, body.text
    api_plan = body.json()
    c0 = api_plan["candidates"][0]
    assert api_plan["currency"] == "CNY" and c0["cost"]["currency"] == "CNY"
    assert c0["cost"]["capex"] == pytest.approx(k.capex) and c0["bill_of_materials"]
    assert c0["cost"]["exchange_rate"]["date"] == "2026-01"
    cost = client.post("/api/v1/cost", json={"plan": api_plan})
    assert cost.status_code == 200, cost.text
    assert cost.json()["cost"]["capex"] == pytest.approx(k.capex)


def test_report_cost_section_in_the_plan_currency(tmp_path):
    from gpuplan.artifacts import render_plan

    p = plan(model="deepseek-r1-distill-qwen-32b", users=1, input_tokens=1000, output_tokens=1000, budget_cny=30_000)
    report = next(f for f in render_plan(p, ["report"]) if f.path == "REPORT.md").content
    assert "## Cost (CNY)" in report and "Bill of materials" in report
    assert fmt_money(p.candidates[0].cost.capex, "CNY") in report
    assert "7.0197" in report  # the dated exchange rate used


def test_default_server_classes_by_gpu_kind():
    from gpuplan.cost import default_node_class

    assert default_node_class("h100-sxm", 1) == "hgx-8gpu"  # an SXM module never goes in a desktop
    assert default_node_class("rtx-4090", 1, "consumer") == "workstation-1gpu"
    assert default_node_class("rtx-3090", 2, "consumer") == "workstation-2gpu"
    assert default_node_class("l40s", 1, "datacenter") == "pcie-server-4gpu"  # passive cards need server airflow
    assert default_node_class("dgx-spark", 1, "unified") == "whole-system"


def test_whole_system_is_priced_once():
    prices = load_prices()
    res = cost_of(CostInputs(gpu_id="dgx-spark", gpu_class="unified", gpu_count=1, gpu_tdp_watts=140), prices)
    # DGX Spark "from $2,999" for the whole machine (shared/reference/gpus.csv, The Register 2025): no server on top.
    assert res.node_class == "whole-system" and res.capex_nodes_usd == 0 and res.capex_usd == pytest.approx(2999)
    bom = {i.kind: i for i in bill_of_materials(res, BomInputs(gpu_name="DGX Spark", gpu_tdp_watts=140,
                                                               gpus_per_node=1), prices)}
    assert bom["server"].included_in == "gpu" and bom["gpu"].total == pytest.approx(2999)


def test_renting_says_when_a_cloud_sells_only_whole_8_gpu_instances():
    prices = load_prices()
    # AWS p5.48xlarge has 8 H100s (cloud.toml): one GPU is rented as a whole instance and the result says so.
    res = cost_of(CostInputs(gpu_id="h100-sxm", gpu_count=1, gpu_tdp_watts=700, cloud_provider="aws"), prices)
    assert res.cloud_gpus_per_instance == 8
    assert res.cloud_usd_per_hour == pytest.approx(8 * 6.88)
    notes = [n.text("en") for n in res.assumptions]
    assert any("whole 8-GPU instances" in n and "for 8 GPUs, not 1" in n for n in notes)
    assert any("HGX baseboards" in n for n in notes)


@pytest.mark.parametrize(("flag", "value", "needle"), [
    ("--currency", "EUR", "Currency 'EUR' is not supported"),
    ("--utilization", "2", "outside (0, 1]"),
    ("--market", "ebay", "Market 'ebay' is not known"),
])
def test_bad_money_flags_are_one_sentence(flag, value, needle):
    r = runner.invoke(build_app(), ["plan", "deepseek-r1-distill-qwen-7b", "--users", "1", "--gpu", "rtx-4090",
                                    flag, value])
    assert r.exit_code != 0 and needle in r.output and "Traceback" not in r.output


def test_cost_in_another_currency_is_the_same_money_converted(tmp_path):
    out = tmp_path / "plan.yaml"
    r = runner.invoke(build_app(), ["plan", "deepseek-r1-distill-qwen-7b", "--users", "1", "--gpu", "rtx-4090",
                                    "--budget-cny", "40000", "-o", str(out)])
    assert r.exit_code == 0, r.output
    k = PlanFile.load(out).candidates[0].cost
    usd = json.loads(runner.invoke(build_app(), ["cost", str(out), "--currency", "USD", "--json"]).output)
    assert usd["cost"]["currency"] == "USD" and usd["cost"]["capex"] == pytest.approx(k.capex_usd)
    assert usd["cost"]["capex"] * 7.0197 == pytest.approx(k.capex)  # same China street price, shown in USD
    assert usd["electricity_region"] == "cn-commercial"  # the plan's tariff, named
