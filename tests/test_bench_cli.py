"""``gpuplan bench`` through typer's runner against the fake server: --json contract, --out, --plan, errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from gpuplan.bench.fakeserver import FakeServerConfig, serve_in_subprocess
from gpuplan.cli.main import build_app
from gpuplan.i18n import set_language
from gpuplan.planfile import Candidate, MemorySummary, PerfSummary, PlanFile, PlanModel
from gpuplan.spec import Slo, Workload

runner = CliRunner()
PERCENTILE_KEYS = {"p50", "p90", "p99", "mean"}


@pytest.fixture(autouse=True)
def _english():
    set_language("en")
    yield
    set_language("en")


@pytest.fixture(scope="module")
def server_url():
    with serve_in_subprocess(FakeServerConfig(ttft_s=0.02, itl_s=0.005)) as url:
        yield url


def _plan(tmp_path):
    # a plan as gpuplan plan writes it (lead's PlanFile schema); the perf numbers are the plan's, not measured
    memory = MemorySummary(weights_bytes=1, kv_cache_bytes=1, activation_bytes=1, overhead_bytes=1,
                           per_gpu_total_bytes=4, capacity_bytes=8, budget_bytes=8, kv_cache_bytes_per_token=1,
                           max_concurrency=1)
    candidate = Candidate(gpu="rtx-4090", gpu_count=1, engine="vllm", weight_format="awq-int4", kv_dtype="bf16",
                          memory=memory, perf=PerfSummary(ttft_s=0.25, tpot_s=0.02, output_tokens_per_s=180.0,
                                                          concurrency=4))
    plan = PlanFile(model=PlanModel(id="deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", params_total=7_615_616_512,
                                    params_active=7_615_616_512), workload=Workload(concurrency=4),
                    slo=Slo(ttft_s=0.5, tpot_s=0.05), candidates=(candidate,))
    return plan.dump(tmp_path / "plan.yaml")


def test_json_contract(server_url):
    result = runner.invoke(build_app(), ["bench", "--url", server_url, "--model", "fake", "--concurrency", "1,4",
                                         "--requests", "4", "--output-tokens", "5", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [r["concurrency"] for r in data["results"]] == [1, 4]
    for level in data["results"]:
        for key in ("ttft_s", "itl_s", "tpot_s", "e2e_s"):
            assert set(level[key]) >= PERCENTILE_KEYS
        assert level["requests_completed"] == 4 and level["errors"] == 0
        assert level["output_tokens_per_s"] > 0


def test_out_and_plan_side_by_side(server_url, tmp_path):
    out = tmp_path / "r.json"
    result = runner.invoke(build_app(), ["bench", "--url", server_url, "--model", "fake", "--requests", "3",
                                         "--output-tokens", "4", "--plan", str(_plan(tmp_path)), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "plan prediction" in result.stdout and "250.0" in result.stdout  # predicted TTFT 0.25 s in ms
    summary = json.loads(out.read_text())
    assert summary["prediction"]["ttft_s"] == 0.25 and summary["config"]["slo"] == {"ttft_s": 0.5, "tpot_s": 0.05}
    assert summary["results"][0]["goodput_requests_per_s"] is not None
    assert len((tmp_path / "r.json.requests.jsonl").read_text().splitlines()) == 3


def test_all_failed_exit_code(server_url):
    result = runner.invoke(build_app(), ["bench", "--url", server_url, "--model", "fake?fault=http_500",
                                         "--requests", "2", "--json"])
    assert result.exit_code == 1
    assert "No request succeeded" in result.output


@pytest.mark.parametrize(("args", "needle"), [
    (["--concurrency", "1,x"], "Concurrency '1,x'"),
    (["--concurrency", "0"], "Concurrency '0'"),
    (["--concurrency", "2", "--rate", "3"], "both given"),
    (["--rate", "-1"], "out of range"),
    (["--api", "embeddings"], "API 'embeddings'"),
    (["--output-tokens", "0"], "--output-tokens 0"),
])
def test_bad_options_are_one_sentence(args, needle):
    result = runner.invoke(build_app(), ["bench", "--url", "http://127.0.0.1:9", "--model", "m", *args])
    assert result.exit_code == 2
    assert needle in result.output and "Traceback" not in result.output


def test_unwritable_out(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = runner.invoke(build_app(), ["bench", "--url", "http://127.0.0.1:9", "--model", "m",
                                         "--out", str(blocker / "r.json")])
    assert result.exit_code == 2 and "Cannot write results" in result.output


def test_chinese_errors():
    set_language("zh")
    result = runner.invoke(build_app(), ["bench", "--url", "nohost", "--model", "m"])
    assert result.exit_code == 2 and "不是带主机名" in result.output
