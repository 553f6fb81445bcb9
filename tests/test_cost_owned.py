"""``gpuplan cost --have`` (issue 15): owned GPUs, their servers and network ports carry no capex; power and operations
stay. The same parser and meaning as ``plan --have`` (gpuplan.plan.owned.parse_have); CLI, API and the core agree.

Expected money is hand arithmetic over the shipped price data, as in tests/test_cost_cli.py: 16 × H100 SXM on two
HGX nodes = 16 × $30,000 × 1.38 (Epoch AI server/GPU ratio) + 16 × $1,882.50 (IB NDR per GPU rail) = $692,520.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from gpuplan.catalog.prices import load_prices
from gpuplan.cli.main import build_app
from gpuplan.cost import CostInputs, cost_of
from gpuplan.errors import InvalidInputError
from gpuplan.i18n import set_language
from gpuplan.planfile import Candidate, MemorySummary, PerfSummary, PlanFile, PlanModel

runner = CliRunner()
H100_HGX_PER_GPU_USD = 30_000 * 1.38 + 1_882.5  # $43,282.50 per GPU with its server share and rail


@pytest.fixture(autouse=True)
def _english():
    set_language("en")
    yield
    set_language("en")


def _plan(tmp_path, gpu="h100-sxm", gpu_count=16, nodes=2, owned=None):
    memory = MemorySummary(weights_bytes=1, kv_cache_bytes=1, activation_bytes=1, overhead_bytes=1,
                           per_gpu_total_bytes=4, capacity_bytes=8, budget_bytes=8, kv_cache_bytes_per_token=1,
                           max_concurrency=1)
    candidate = Candidate(gpu=gpu, gpu_count=gpu_count, nodes=nodes, gpus_per_node=gpu_count // nodes,
                          engine="sglang", weight_format="fp8-block", kv_dtype="bf16", memory=memory,
                          perf=PerfSummary(ttft_s=1.0, tpot_s=0.05, output_tokens_per_s=5000.0,
                                           input_tokens_per_s=20000.0))
    plan = PlanFile(model=PlanModel(id="deepseek-ai/DeepSeek-V3", params_total=671_000_000_000,
                                    params_active=37_000_000_000), candidates=(candidate,), owned=owned)
    return plan.dump(tmp_path / "plan.yaml")


def _cost(path, *args):
    result = runner.invoke(build_app(), ["cost", str(path), "--gpu-tdp-watts", "700", "--ops-fraction", "0.1",
                                         *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_all_owned_zero_capex_same_opex(tmp_path):
    path = _plan(tmp_path)
    bought = _cost(path)
    owned = _cost(path, "--have", "16xh100-sxm")
    assert bought["capex_usd"] == pytest.approx(16 * H100_HGX_PER_GPU_USD, rel=1e-9)
    assert owned["capex_usd"] == 0.0 and owned["capex_gpus_usd"] == 0.0 and owned["capex_network_usd"] == 0.0
    # power and operations are those of the same hardware, owned or bought (ops = 10% of its value)
    assert owned["opex_usd_per_year"] == pytest.approx(bought["opex_usd_per_year"], rel=1e-12)
    assert owned["power_usd_per_year"] == pytest.approx(bought["power_usd_per_year"], rel=1e-12)
    assert owned["ops_usd_per_year"] == pytest.approx(0.1 * bought["capex_usd"], rel=1e-9)
    assert owned["tco_usd"] == pytest.approx(3 * owned["opex_usd_per_year"], rel=1e-12)
    assert owned["owned_gpus"] == 16 and owned["owned_nodes"] == 2
    assert owned["owned_value_usd"] == pytest.approx(bought["capex_usd"], rel=1e-9)
    assert owned["cost"]["owned_gpus"] == 16 and owned["cost"]["capex"] == 0.0
    # per-token cost of owned hardware is its running cost alone (no depreciation)
    assert owned["usd_per_million_output_tokens"] < bought["usd_per_million_output_tokens"]
    assert any("Owned: 16 of the 16" in n for n in owned["assumptions_text"])


@pytest.mark.parametrize(("have", "bought_gpus", "owned_nodes"), [
    ("8xh100-sxm", 8, 1),     # one whole HGX node owned, one bought
    ("12xh100-sxm", 4, 1),    # 4 GPUs to buy: a server share for 4 GPUs (the HGX price is 1.38 × its GPUs)
    ("4xh100-sxm,2xa100-80gb", 12, 0),  # the A100s are not this candidate's type
])
def test_mixed_owned_and_bought(tmp_path, have, bought_gpus, owned_nodes):
    path = _plan(tmp_path)
    bought = _cost(path)
    mixed = _cost(path, "--have", have)
    assert mixed["capex_usd"] == pytest.approx(bought_gpus * H100_HGX_PER_GPU_USD, rel=1e-9)
    assert mixed["capex_gpus_usd"] == pytest.approx(bought_gpus * 30_000, rel=1e-9)
    assert mixed["opex_usd_per_year"] == pytest.approx(bought["opex_usd_per_year"], rel=1e-12)
    assert mixed["owned_gpus"] == 16 - bought_gpus and mixed["owned_nodes"] == owned_nodes
    assert mixed["owned_value_usd"] + mixed["capex_usd"] == pytest.approx(bought["capex_usd"], rel=1e-9)
    if "a100" in have:
        assert any("not used by this candidate: 2×a100-80gb" in n for n in mixed["assumptions_text"])


def test_servers_with_a_price_each_are_owned_only_when_full():
    """Absolute server prices: a server is free only when every GPU in it is owned (8 × L40S in two 4-GPU servers)."""
    prices = load_prices(None, {"classes": {"pcie-server-4gpu": {"base": {
        "value": 10_000, "unit": "USD", "date": "2026-12", "source": "test"}}}})
    base = CostInputs(gpu_id="l40s", gpu_count=8, nodes=2, gpu_tdp_watts=350, node_class="pcie-server-4gpu")
    gpu_usd = cost_of(base, prices).capex_gpus_usd / 8
    for owned, servers_bought in ((0, 2), (3, 2), (4, 1), (6, 1), (8, 0)):
        res = cost_of(base.model_copy(update={"owned_gpus": owned}), prices)
        assert res.capex_nodes_usd == pytest.approx(10_000 * servers_bought)
        assert res.capex_gpus_usd == pytest.approx(gpu_usd * (8 - owned))
        assert res.owned_nodes == 2 - servers_bought
    with pytest.raises(InvalidInputError):
        cost_of(base.model_copy(update={"owned_gpus": 9}), prices)


def test_owned_gpu_without_a_price_is_priced():
    """An owned GPU needs no purchase price: capex 0 and a priced result even where the catalog has none."""
    prices = load_prices()
    unpriced = next(g for g in ("rtx-2080-ti", "p40", "a2", "rtx-3080-ti") if g not in prices.gpus
                    or prices.gpus[g].new is None and prices.gpus[g].china is None)
    x = CostInputs(gpu_id=unpriced, gpu_count=1, gpu_tdp_watts=250)
    assert cost_of(x, prices).capex_usd is None
    res = cost_of(x.model_copy(update={"owned_gpus": 1}), prices)
    assert res.capex_usd == 0.0 and res.priced and "gpu" not in res.missing
    assert not any(n.key.startswith("cost.unknown_gpu") for n in res.unknowns)


def test_plan_have_is_the_default(tmp_path):
    path = _plan(tmp_path, owned={"owned": [{"gpu": "h100-sxm", "count": 8}]})
    data = _cost(path)
    assert data["owned_gpus"] == 8
    assert data["capex_usd"] == pytest.approx(8 * H100_HGX_PER_GPU_USD, rel=1e-9)
    assert any("taken from the plan" in n for n in data["assumptions_text"])
    assert _cost(path, "--have", "16xh100-sxm")["capex_usd"] == 0.0  # the flag wins


def test_table_says_what_is_owned(tmp_path):
    path = _plan(tmp_path)
    result = runner.invoke(build_app(), ["cost", str(path), "--gpu-tdp-watts", "700", "--have", "8xh100-sxm"])
    assert result.exit_code == 0, result.output
    assert "Owned (no capex)" in result.output and "8/16 GPUs, 1/2 servers" in result.output


@pytest.mark.parametrize(("lang", "want"), [("en", "Cannot read 'two x h100' as owned GPUs"),
                                            ("zh", "无法把 'two x h100' 解析为已有 GPU")])
def test_bad_have_is_one_sentence(tmp_path, lang, want):
    path = _plan(tmp_path)
    result = runner.invoke(build_app(), ["cost", str(path), "--lang", lang, "--have", "two x h100"])
    assert result.exit_code == 2
    message = result.output.strip()
    assert want in message and "Traceback" not in message and "\n" not in message
    unknown = runner.invoke(build_app(), ["cost", str(path), "--lang", lang, "--have", "2xh100-sxn"])
    assert unknown.exit_code == 2 and "h100-sxm" in unknown.output and "Traceback" not in unknown.output


def test_plan_from_have_and_cost_agree(tmp_path):
    """plan --have prices its candidates through the same core rule: cost of the written plan matches it."""
    out = tmp_path / "owned.yaml"
    r = runner.invoke(build_app(), ["plan", "deepseek-r1-distill-qwen-7b", "--users", "5", "--have", "2xrtx-4090",
                                    "-o", str(out)])
    assert r.exit_code == 0, r.output
    k = PlanFile.load(out).candidates[0].cost
    r = runner.invoke(build_app(), ["cost", str(out), "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert k.capex_usd == 0.0 and data["capex_usd"] == 0.0
    assert data["tco_usd"] == pytest.approx(k.tco_usd, rel=1e-9)
    assert data["usd_per_million_output_tokens"] == pytest.approx(k.usd_per_million_output_tokens, rel=1e-9)


def test_api_cost_takes_have(tmp_path):
    from fastapi.testclient import TestClient

    from gpuplan.api import create_app

    plan = PlanFile.load(_plan(tmp_path)).model_dump(mode="json")
    client = TestClient(create_app())
    body = {"plan": plan, "ops_fraction": 0.1, "gpu_tdp_watts": 700}
    bought = client.post("/api/v1/cost", json=body)
    owned = client.post("/api/v1/cost", json={**body, "have": ["8xh100-sxm"]})
    assert bought.status_code == 200 and owned.status_code == 200, owned.text
    assert owned.json()["capex_usd"] == pytest.approx(8 * H100_HGX_PER_GPU_USD, rel=1e-9)
    assert owned.json()["opex_usd_per_year"] == pytest.approx(bought.json()["opex_usd_per_year"], rel=1e-12)
    bad = client.post("/api/v1/cost", json={**body, "have": ["two x h100"]}, headers={"Accept-Language": "zh"})
    assert bad.status_code in (400, 422) and "无法把" in bad.text
