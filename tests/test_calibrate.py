"""gpuplan calibrate: bench a real OpenAI-compatible server (gpuplan's own, with known per-token delays), fit the
user's efficiencies, and check that estimate and plan use the fit from then on."""

import json
import tomllib

import pytest
from typer.testing import CliRunner

from gpuplan.bench.fakeserver import FakeServerConfig, serve_in_subprocess
from gpuplan.cli.main import build_app
from gpuplan.i18n import set_language
from gpuplan.plan import PlanRequest, search

runner = CliRunner()
ITL_S = 0.040  # the server's true inter-token delay: slower than any catalog estimate for this deployment


@pytest.fixture(autouse=True)
def _english():
    set_language("en")
    yield


@pytest.fixture(scope="module")
def server_url():
    with serve_in_subprocess(FakeServerConfig(ttft_s=0.12, itl_s=ITL_S)) as url:
        yield url


@pytest.fixture
def plan_path(tmp_path):
    plan = search(PlanRequest(model="deepseek-r1-distill-qwen-7b", users=4, input_tokens=256, output_tokens=16,
                              gpus=("rtx-4090",), engines=("vllm",), weight_formats=("awq-int4",), max_nodes=1, top=1))
    assert plan.candidates
    return plan.dump(tmp_path / "plan.yaml")


def _tpot(args) -> float:
    res = runner.invoke(build_app(), ["estimate", "deepseek-r1-distill-qwen-7b", "--gpu", "rtx-4090", "--gpus", "1",
                                      "--engine", "vllm", "--weights", "awq-int4", "--input-tokens", "256",
                                      "--output-tokens", "16", "--concurrency", "4", "--json", *args])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)["tpot_s"]


def test_bench_then_calibrate_then_estimate_uses_it(server_url, plan_path, tmp_path):
    results = tmp_path / "results.json"
    res = runner.invoke(build_app(), ["bench", "--url", server_url, "--model", "fake", "--concurrency", "1,4",
                                      "--requests", "8", "--input-tokens", "256", "--output-tokens", "16",
                                      "--plan", str(plan_path), "--out", str(results)])
    assert res.exit_code == 0, res.output
    cal = tmp_path / "calibration.toml"
    res = runner.invoke(build_app(), ["calibrate", str(results), "--plan", str(plan_path), "--out", str(cal), "--json"])
    assert res.exit_code == 0, res.output
    fit = json.loads(res.stdout)
    assert fit["median_ape_after_fraction"] < fit["median_ape_before_fraction"]
    data = tomllib.loads(cal.read_text())
    entry = data["entry"][0]
    assert entry["engine"] == "vllm" and entry["architecture"] == "ada/consumer"
    assert entry["fitted_on"]["mem_efficiency_fraction"] == ["results.json"]
    shipped, user = _tpot([]), _tpot(["--calibration", str(cal)])
    assert abs(user - ITL_S) < abs(shipped - ITL_S)
    # and the planner with the same file predicts the slower TPOT the server really has
    from gpuplan.perf import load_calibration

    replan = search(PlanRequest(model="deepseek-r1-distill-qwen-7b", users=4, input_tokens=256, output_tokens=16,
                                gpus=("rtx-4090",), engines=("vllm",), weight_formats=("awq-int4",), max_nodes=1,
                                top=1), calibration=load_calibration(str(cal)))
    assert abs(replan.candidates[0].perf.tpot_s - ITL_S) < abs(shipped - ITL_S)


def test_calibrate_bad_input_is_one_sentence(tmp_path):
    bad = tmp_path / "results.json"
    bad.write_text("{not json")
    res = runner.invoke(build_app(), ["calibrate", str(bad), "--model", "deepseek-r1-distill-qwen-7b", "--gpu", "l4"])
    assert res.exit_code == 2 and "not a 'gpuplan bench' results file" in res.output
    res = runner.invoke(build_app(), ["calibrate", str(tmp_path / "nope.json")])
    assert res.exit_code == 2 and "does not exist" in res.output


def test_calibrate_human_output_and_nan_only_results(server_url, plan_path, tmp_path):
    """Issue 14: the normal path without --json crashed (t() got multiple values for 'key'); a results file whose
    measurements are all NaN became a calibration. Now: a table, an atomic write; NaN-only → one sentence."""
    results = tmp_path / "results.json"
    res = runner.invoke(build_app(), ["bench", "--url", server_url, "--model", "fake", "--concurrency", "2",
                                      "--requests", "4", "--input-tokens", "256", "--output-tokens", "16",
                                      "--plan", str(plan_path), "--out", str(results)])
    assert res.exit_code == 0, res.output
    cal = tmp_path / "calibration.toml"
    res = runner.invoke(build_app(), ["calibrate", str(results), "--plan", str(plan_path), "--out", str(cal)])
    assert res.exit_code == 0, res.output
    assert "vllm/" in res.output and cal.is_file()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []

    data = json.loads(results.read_text())

    def nan_all(node):
        if isinstance(node, dict):
            return {k: (float("nan") if isinstance(v, float) else nan_all(v)) for k, v in node.items()}
        if isinstance(node, list):
            return [nan_all(v) for v in node]
        return node

    data["results"] = nan_all(data["results"])
    nan_file = tmp_path / "nan.json"
    nan_file.write_text(json.dumps(data))
    before = cal.read_bytes()
    res = runner.invoke(build_app(), ["calibrate", str(nan_file), "--plan", str(plan_path), "--out", str(cal)])
    assert res.exit_code == 2, res.output
    assert len(res.output.strip().splitlines()) == 1
    assert cal.read_bytes() == before  # the good calibration was not replaced
