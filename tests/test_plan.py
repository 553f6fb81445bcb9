"""The planner: presets are feasible and meet their SLO by the model's own estimate; rejections explain; the plan
file round-trips; the JSON contract other tools read."""

import json

import pytest
from typer.testing import CliRunner

from gpuplan.cli.main import build_app
from gpuplan.plan import PRESETS, PlanRequest, search
from gpuplan.planfile import PlanFile

runner = CliRunner()


@pytest.mark.parametrize(
    ("preset", "model"),
    [("personal", "deepseek-r1-distill-qwen-7b"), ("team", "deepseek-r1-distill-qwen-32b"),
     ("enterprise", "deepseek-v3"), ("finetune", "deepseek-r1-distill-qwen-7b"), ("pretrain", "deepseek-r1-distill-llama-8b")],
)
def test_presets_are_feasible_and_meet_their_slo(preset, model):
    from gpuplan.views import build_request

    req = build_request({"model": model, "preset": preset})
    plan = search(req)
    assert plan.candidates, plan.rejections
    spec = PRESETS[preset]
    for cand in plan.candidates:
        assert cand.memory.per_gpu_total_bytes <= cand.memory.capacity_bytes
        if spec.get("tpot_s"):
            assert cand.perf.tpot_s is not None and cand.perf.tpot_s <= spec["tpot_s"]
        if spec.get("ttft_s"):
            assert cand.perf.ttft_s is not None and cand.perf.ttft_s <= spec["ttft_s"]
        if plan.task == "serve":
            assert cand.memory.max_concurrency >= (spec.get("users") or 1)


def test_ranked_by_objective():
    plan = search(PlanRequest(model="deepseek-r1-distill-qwen-32b", users=50, input_tokens=2000, output_tokens=500,
                              objective="capex", max_nodes=1))
    capex = [c.cost.capex_usd for c in plan.candidates if c.cost.capex_usd is not None]
    assert capex == sorted(capex)


def test_rejections_name_the_nearest_miss():
    """8×RTX 4090 for DeepSeek-V3: the weights cannot fit; the planner says so with numbers."""
    plan = search(PlanRequest(model="deepseek-v3", users=50, gpus=("rtx-4090",), max_nodes=1))
    assert not plan.candidates
    reasons = {r.reason: r for r in plan.rejections}
    assert "weights" in reasons and reasons["weights"].count > 0
    assert "GiB" in reasons["weights"].nearest


def test_kv_rejection_counts_sequences():
    plan = search(PlanRequest(model="meta-llama/Llama-3.1-70B-Instruct", users=400, input_tokens=4000,
                              output_tokens=1000, gpus=("l40s",), max_nodes=1, weight_formats=("awq-int4",)))
    text = " ".join(r.nearest or "" for r in plan.rejections if r.reason == "kv_cache")
    assert "sequences" in text


def test_plan_file_round_trip(tmp_path):
    plan = search(PlanRequest(model="deepseek-r1-distill-qwen-7b", users=4, max_gpus=2, max_nodes=1))
    path = plan.dump(tmp_path / "plan.yaml")
    again = PlanFile.load(path)
    assert again == plan


def test_plan_json_contract(tmp_path):
    out = tmp_path / "plan.yaml"
    res = runner.invoke(build_app(), ["plan", "deepseek-r1-distill-qwen-32b", "--users", "50", "--input-tokens", "2000",
                                      "--output-tokens", "500", "--gpu", "l40s", "--gpu", "a100-80gb-sxm",
                                      "-o", str(out), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    for key in ("candidates", "pareto", "rejections", "search"):
        assert key in data
    assert set(data["search"]) >= {"candidates_considered", "seconds"}
    cand = data["candidates"][0]
    for key in ("gpu", "gpu_count", "nodes", "engine", "weight_format", "kv_dtype", "tensor_parallel_size",
                "pipeline_parallel_size", "data_parallel_size", "expert_parallel_size"):
        assert key in cand
    assert set(cand["perf"]) >= {"ttft_s", "tpot_s", "output_tokens_per_s", "max_concurrency"}
    assert set(cand["memory"]) >= {"per_gpu_total_bytes", "capacity_bytes"}
    assert set(cand["cost"]) >= {"capex_usd", "tco_usd", "cloud_usd_per_hour", "usd_per_million_output_tokens",
                                 "break_even_months"}
    for rej in data["rejections"]:
        assert set(rej) >= {"reason", "count", "nearest"}
    assert out.exists()


def test_plan_show_reads_the_file(tmp_path):
    out = tmp_path / "plan.yaml"
    search(PlanRequest(model="deepseek-r1-distill-qwen-7b", users=4, max_gpus=2, max_nodes=1)).dump(out)
    res = runner.invoke(build_app(), ["plan", "show", str(out)])
    assert res.exit_code == 0 and "DeepSeek-R1-Distill-Qwen-7B" in res.output


def test_bad_plan_file_is_one_sentence(tmp_path):
    bad = tmp_path / "plan.yaml"
    bad.write_text("schema_version: 99\n")
    res = runner.invoke(build_app(), ["plan", "show", str(bad)])
    assert res.exit_code == 2 and "schema version" in res.output


def test_readme_main_command_in_chinese(tmp_path):
    """The README's run command, in Chinese: ranked, priced, explained, and a plan file written."""
    out = tmp_path / "plan.yaml"
    res = runner.invoke(build_app(), ["--lang", "zh", "plan", "deepseek-v3", "--users", "200", "--input-tokens", "2000",
                                      "--output-tokens", "1000", "--tpot-ms", "100", "--budget-cny", "5000000",
                                      "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "候选" in res.output and "淘汰" in res.output and "¥" in res.output
    assert PlanFile.load(out).candidates
