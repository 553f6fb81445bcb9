"""--quality through the edges (CLI flag, API field, presets) and REPORT.md's account of the layout (issue 11)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gpuplan.api import ApiSettings, create_app
from gpuplan.artifacts import render_plan
from gpuplan.cli.main import build_app
from gpuplan.plan import PlanRequest, search
from gpuplan.views import build_request


def test_api_plan_takes_quality():
    with TestClient(create_app(ApiSettings(request_time_limit_s=120))) as client:
        body = {"model": "deepseek-r1", "users": 16, "gpu": ["a100-sxm4-80gb"], "max_nodes": 2}
        released = client.post("/api/v1/plan", json=body).json()
        assert released["candidates"] == [] and released["lower_quality"]["weight_format"] == "awq-int4"
        opened = client.post("/api/v1/plan", json={**body, "quality": "4bit"}).json()
        assert opened["quality"] == "4bit" and opened["candidates"][0]["weight_format"] == "awq-int4"
        assert opened["candidates"][0]["checkpoint"]["repo"] == "cognitivecomputations/DeepSeek-R1-AWQ"
        assert client.post("/api/v1/plan", json={**body, "quality": "best"}).status_code == 422


def test_cli_quality_flag_and_personal_preset():
    res = CliRunner().invoke(build_app(), ["plan", "deepseek-r1-distill-qwen-32b", "--gpu", "rtx-4090", "--users",
                                           "1", "--max-gpus", "1", "--quality", "4bit", "--json"])
    assert res.exit_code == 0, res.output
    plan = json.loads(res.stdout)
    assert plan["candidates"][0]["weight_format"] == "gguf-q4_k_m"
    assert plan["candidates"][0]["engine_args"]["-hf"] == "unsloth/DeepSeek-R1-Distill-Qwen-32B-GGUF:Q4_K_M"
    assert build_request({"model": "deepseek-r1", "preset": "personal"}).quality == "4bit"
    assert build_request({"model": "deepseek-r1"}).quality == "released"
    res = CliRunner().invoke(build_app(), ["plan", "deepseek-v3", "--quality", "best"])
    assert res.exit_code == 2 and "released, 8bit, 4bit, any" in res.output


def test_plan_show_prints_the_checkpoint(tmp_path):
    path = tmp_path / "plan.yaml"
    res = CliRunner().invoke(build_app(), ["plan", "deepseek-v3", "--users", "200", "--input-tokens", "2000",
                                           "--output-tokens", "1000", "--tpot-ms", "100", "--top", "3", "-o",
                                           str(path)])
    assert res.exit_code == 0, res.output
    shown = CliRunner().invoke(build_app(), ["plan", "show", str(path)])
    assert "Loads deepseek-ai/DeepSeek-V3 (the release)" in shown.output
    assert "Quality (released)" in shown.output


def _report(req: PlanRequest) -> str:
    plan = search(req)
    assert plan.candidates
    return {f.path: f.content for f in render_plan(plan, ["report"])}["REPORT.md"]


def test_report_network_section_tells_the_layout():
    """TP 8 inside an H200 node: NVLink peer-to-peer, never 'one GPU'; 2 nodes: the IB/RoCE variables; consumer
    cards: NCCL_P2P_DISABLE; one GPU: no NCCL."""
    nvlink = _report(PlanRequest(model="deepseek-v3", users=200, gpus=("h200-sxm",), max_nodes=1, top=1))
    assert "NVLink 4" in nvlink and "One GPU" not in nvlink
    multi = _report(PlanRequest(model="deepseek-v3", users=64, gpus=("h100-sxm",), max_nodes=4, top=1))
    assert "NET/IB" in multi and "NCCL_IB_HCA" in multi
    consumer = _report(PlanRequest(model="deepseek-r1-distill-llama-70b", users=1, gpus=("rtx-4090",), max_gpus=2,
                                   quality="4bit", top=1))
    assert "NCCL_P2P_DISABLE" in consumer and "no peer-to-peer" in consumer
    single = _report(PlanRequest(model="deepseek-r1-distill-qwen-7b", users=1, gpus=("rtx-4090",), max_gpus=1, top=1))
    assert "One GPU" in single


def test_fit_defaults_to_4bit_with_real_checkpoints():
    from gpuplan.plan.fit import fit_machine

    rows = {r.model: r for r in fit_machine("rtx-4090", family="deepseek")}
    r32 = rows["deepseek-ai/DeepSeek-R1-Distill-Qwen-32B"]
    assert r32.quality == "4bit" and r32.checkpoint.repo == "casperhansen/deepseek-r1-distill-qwen-32b-awq"
    assert all(r.checkpoint is not None and r.quality in ("released", "8bit", "4bit") for r in rows.values())
    released = {r.model for r in fit_machine("rtx-4090", family="deepseek", quality="released")}
    assert "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B" not in released  # 61 GiB of BF16 on a 24 GiB card
    with pytest.raises(Exception, match="released, 8bit, 4bit, any"):
        fit_machine("rtx-4090", quality="3bit")


def test_ollama_pulls_the_planned_gguf():
    plan = search(PlanRequest(model="deepseek-r1-distill-qwen-32b", users=1, gpus=("rtx-4090",), max_gpus=1,
                              quality="4bit", engines=("llama.cpp",), top=1))
    files = {f.path: f.content for f in render_plan(plan, ["engine"])}
    assert "\nFROM hf.co/unsloth/DeepSeek-R1-Distill-Qwen-32B-GGUF:Q4_K_M\n" in files["engine/ollama/Modelfile"]
