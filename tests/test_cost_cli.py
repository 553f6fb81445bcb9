"""``gpuplan cost PLAN_FILE`` through typer's test runner: table, chart, JSON, currencies, languages, errors.

The plan file is built here with the lead's PlanFile schema. Expected money comes from the shipped price data
(sources cited in tests/test_cost_model.py::test_shipped_prices_16_h100_sxm_capex) or from hand arithmetic.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from gpuplan.cli.main import build_app
from gpuplan.i18n import set_language
from gpuplan.planfile import Candidate, MemorySummary, PerfSummary, PlanFile, PlanModel

runner = CliRunner()


@pytest.fixture(autouse=True)
def _english():
    set_language("en")
    yield
    set_language("en")


def _plan(tmp_path, gpu="h100-sxm", gpu_count=16, nodes=2, out_tps=5000.0, in_tps=20000.0):
    memory = MemorySummary(weights_bytes=1, kv_cache_bytes=1, activation_bytes=1, overhead_bytes=1,
                           per_gpu_total_bytes=4, capacity_bytes=8, budget_bytes=8, kv_cache_bytes_per_token=1,
                           max_concurrency=1)
    candidate = Candidate(gpu=gpu, gpu_count=gpu_count, nodes=nodes, gpus_per_node=gpu_count // nodes,
                          engine="sglang", weight_format="fp8-block", kv_dtype="bf16", memory=memory,
                          perf=PerfSummary(ttft_s=1.0, tpot_s=0.05, output_tokens_per_s=out_tps,
                                           input_tokens_per_s=in_tps))
    plan = PlanFile(model=PlanModel(id="deepseek-ai/DeepSeek-V3", params_total=671_000_000_000,
                                    params_active=37_000_000_000), candidates=(candidate,))
    return plan.dump(tmp_path / "plan.yaml")


def _run(*args):
    return runner.invoke(build_app(), list(args))


def test_json_output(tmp_path):
    path = _plan(tmp_path)
    result = _run("cost", str(path), "--gpu-tdp-watts", "700", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    # 16 × $30,000 × 1.38 + 16 × $1,882.5 = $692,520 (shipped data, see test_cost_model).
    assert data["capex_usd"] == pytest.approx(692_520, rel=1e-9)
    assert data["years"] == 3 and data["currency"] == "USD"
    assert len(data["monthly"]) == 37
    assert data["unknowns_text"] and data["assumptions_text"]
    assert data["usd_to_cny"] == pytest.approx(7.0197)


def test_table_and_chart(tmp_path):
    path = _plan(tmp_path)
    result = _run("cost", str(path), "--gpu-tdp-watts", "700", "--ops-fraction", "0.1", "--years", "2")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "$692,520" in out and "Break-even" in out and "Total over 2 years" in out
    assert "Cumulative cost" in out and "●" in out and "○" in out and "24 months" in out
    assert "Price sources" in out


def test_flags_override_prices(tmp_path):
    path = _plan(tmp_path, gpu_count=8, nodes=1)
    result = _run("cost", str(path), "--gpu-tdp-watts", "700", "--gpu-price-usd", "20000", "--usd-per-kwh", "0.1",
                  "--pue", "1.0", "--ops-fraction", "0", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    # GPUs 8 × 20,000 = 160,000; HGX base 38% = 60,800 → 220,800; one node, no network.
    assert data["capex_usd"] == pytest.approx(220_800, rel=1e-9)
    # (700 × 0.7 × 8 + 4,600) W × PUE 1.0 = 8,520 W × 8760 h / 1000 × $0.10 = $7,463.52 per year.
    assert data["power_usd_per_year"] == pytest.approx(7463.52, rel=1e-9)


def test_cny_and_chinese(tmp_path):
    path = _plan(tmp_path)
    result = _run("--lang", "zh", "cost", str(path), "--currency", "cny", "--gpu-tdp-watts", "700")
    assert result.exit_code == 0, result.output
    # 692,520 USD × 7.0197 = 4,861,282.6 CNY → "¥4,861,283".
    assert "¥4,861,283" in result.stdout
    assert "资本支出" in result.stdout and "累计成本" in result.stdout


def test_prices_file(tmp_path):
    path = _plan(tmp_path, gpu="rtx-4090", gpu_count=1, nodes=1, out_tps=50, in_tps=100)
    prices = tmp_path / "mine.toml"
    prices.write_text("""
[classes.workstation-1gpu.base]
value = 1500
unit = "USD"
date = "2026-11"
source = "our quote"

[[offers]]
provider = "autodl"
gpu = "rtx-4090"
instance = "RTX 4090"
value = 1.98
unit = "CNY/GPU-hour"
date = "2026-11"
source = "our invoice"
""", encoding="utf-8")
    result = _run("cost", str(path), "--prices", str(prices), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    # $1,599 launch MSRP (shipped gpus.toml) + $1,500 workstation = $3,099.
    assert data["capex_usd"] == pytest.approx(3099, rel=1e-9)
    # 1.98 CNY / 7.0197 CNY per USD per hour.
    assert data["cloud_usd_per_hour"] == pytest.approx(1.98 / 7.0197, rel=1e-9)
    assert data["cloud_provider"] == "autodl"


@pytest.mark.parametrize("args", [
    ("--currency", "EUR"),
    ("--provider", "nowhere"),
    ("--electricity", "mars"),
    ("--node-class", "mainframe"),
    ("--candidate", "3"),
    ("--years", "0"),
])
def test_errors_are_one_sentence(tmp_path, args):
    path = _plan(tmp_path)
    result = _run("cost", str(path), *args)
    assert result.exit_code == 2
    message = result.output.strip()
    assert message and "Traceback" not in message and "\n" not in message


def test_missing_plan_and_bad_prices(tmp_path):
    result = _run("cost", str(tmp_path / "none.yaml"))
    assert result.exit_code == 2 and "Traceback" not in result.output
    path = _plan(tmp_path)
    bad = tmp_path / "bad.toml"
    bad.write_text("[pue\n", encoding="utf-8")
    result = _run("cost", str(path), "--prices", str(bad))
    assert result.exit_code == 2 and "bad.toml" in result.output and "Traceback" not in result.output


def test_chart_marks_crossing():
    from gpuplan.catalog.prices import load_prices
    from gpuplan.cli.cost import cumulative_chart
    from gpuplan.cost import CostInputs, cost_of

    prices = load_prices()
    result = cost_of(CostInputs(gpu_id="h100-sxm", gpu_count=8, nodes=1, gpu_tdp_watts=700), prices)
    lines = cumulative_chart(result, prices, width=40, height=10)
    assert len(lines) == 1 + 10 + 2
    body = "".join(lines[1:11])
    assert "●" in body and "○" in body
    # Renting starts at $0 (bottom-left), owning starts at the capex (above the bottom row).
    assert lines[10].split("┤")[1].startswith("○")


def test_training_plan_shows_training_cost(tmp_path):
    from gpuplan.spec import TrainingJob

    path = _plan(tmp_path, gpu_count=8, nodes=1)
    plan = PlanFile.load(path)
    c = plan.candidates[0]
    c = c.model_copy(update={"perf": c.perf.model_copy(update={"train_tokens_per_s": 10_000.0})})
    plan = plan.model_copy(update={"task": "lora", "candidates": (c,),
                                   "training": TrainingJob(tokens_to_train=1e9)})
    plan.dump(path)
    result = _run("cost", str(path), "--gpu-tdp-watts", "700", "--json")
    assert result.exit_code == 0, result.output
    training = json.loads(result.stdout)["training"]
    # 1e9 tokens / 1e4 tokens/s = 1e5 s; 8 GPUs → 1e5 / 3600 × 8 = 222.2 GPU-hours.
    assert training["seconds"] == pytest.approx(1e5, rel=1e-9)
    assert training["gpu_hours"] == pytest.approx(1e5 / 3600 * 8, rel=1e-9)
    table = _run("cost", str(path), "--gpu-tdp-watts", "700")
    assert table.exit_code == 0 and "Training 1e+09 tokens" in table.stdout and "GPU-hours" in table.stdout
