"""CLI contracts (typer's runner): JSON keys other tools rely on, one-sentence errors, both languages."""

import json

import pytest
from typer.testing import CliRunner

from gpuplan.cli.main import build_app

runner = CliRunner()


def run(*args):
    return runner.invoke(build_app(), list(args))


def run_json(*args):
    res = run(*args, "--json")
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_models_json_contract():
    rows = run_json("models")
    assert len(rows) >= 50
    for row in rows:
        for key in ("id", "family", "params_total", "params_active", "context_length"):
            assert key in row
    ids = {r["id"] for r in rows}
    assert "deepseek-ai/DeepSeek-V3" in ids


def test_models_family_filter():
    rows = run_json("models", "--family", "deepseek")
    assert rows and all(r["family"] == "deepseek" for r in rows)


def test_gpus_json_contract():
    rows = run_json("gpus")
    for row in rows:
        for key in ("id", "name", "memory_bytes", "memory_bandwidth_bytes_per_s", "dense_bf16_flops_per_s", "tdp_watts"):
            assert key in row


def test_inspect_deepseek_v3():
    data = run_json("inspect", "deepseek-v3")
    assert data["id"] == "deepseek-ai/DeepSeek-V3"
    assert round(data["params_total"] / 1e9) == 671
    assert round(data["params_active"] / 1e9) == 38  # 37.55B incl. the 0.93B input embedding
    assert data["params_mtp"] == 11_610_068_224
    assert sum(v for k, v in data["params_by_component"].items() if k != "mtp") == data["params_total"]


def test_inspect_table_mentions_mtp_in_both_languages():
    res = run("inspect", "deepseek-v3")
    assert res.exit_code == 0 and "MTP" in res.output and "685B" in res.output
    res = run("--lang", "zh", "inspect", "deepseek-v3")
    assert res.exit_code == 0 and "参数量" in res.output


def test_unknown_model_suggests():
    res = run("inspect", "deepseek-v4-flahs")
    assert res.exit_code == 2
    assert "Did you mean" in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_size_json_contract():
    data = run_json("size", "deepseek-v3", "--gpu", "h20", "--gpus", "8", "--context", "32768")
    for key in ("params_total", "params_active", "weights_bytes", "kv_cache_bytes_per_token", "fits", "max_concurrency"):
        assert key in data
    for key in ("weights_bytes", "kv_cache_bytes", "activation_bytes", "overhead_bytes", "total_bytes", "capacity_bytes"):
        assert key in data["per_gpu"]
    assert data["kv_cache_bytes_per_token"] == 70_272
    assert data["max_concurrency"] >= 1


def test_size_verdict_readable_in_chinese():
    res = run("--lang", "zh", "size", "deepseek-v3", "--gpu", "h20", "--gpus", "8", "--context", "32768")
    assert res.exit_code == 0, res.output
    assert "可以运行" in res.output or "无法" in res.output


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("size", "deepseek-v3", "--gpu", "h20", "--gpus", "8", "--tp", "7"), "Valid sizes"),
        (("size", "deepseek-v3", "--gpu", "h20", "--gpus", "8", "--ep", "7"), "Valid sizes"),
        (("size", "deepseek-v3", "--context", "10000000"), "maximum"),
        (("size", "deepseek-v3", "--kv-dtype", "int3"), "Allowed"),
        (("size", "deepseek-v3", "--gpu", "h2O"), "Did you mean"),
        (("size", "deepseek-v3", "--weights", "q17"), "q17"),
    ],
)
def test_size_bad_input_is_one_sentence(args, needle):
    res = run(*args)
    assert res.exit_code == 2, res.output
    assert needle in res.output and "Traceback" not in res.output


def test_fit_json_lists_runnable_models():
    data = run_json("fit", "--gpu", "rtx-4090", "--ram", "64GiB", "--family", "deepseek")
    assert data["models"], data
    names = {m["model"] for m in data["models"]}
    assert "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B" in names
    for m in data["models"]:
        if m["placement"] == "hybrid":
            assert m["host_bytes"] > 0
