"""size/estimate pick an engine that runs on the GPU's vendor, and refuse one that does not.

The vendor lists are catalog facts (src/gpuplan/catalog/data/engines.toml ``vendors``, each engine's platform pages
cited there): vLLM and SGLang run on NVIDIA and AMD (CUDA and ROCm builds), llama.cpp also on Apple (Metal),
vLLM-Ascend and MindIE on Huawei Ascend. Before, ``estimate --gpu ascend-910b`` without --engine printed a vLLM
estimate, and ``--engine sglang`` on an Ascend NPU or ``--engine vllm`` on a Mac printed numbers for a combination
that cannot be launched.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gpuplan.api import ApiSettings, create_app
from gpuplan.cli.main import build_app
from gpuplan.memory.engines import engines_for_vendor

runner = CliRunner()
EST = ("--input-tokens", "1000", "--output-tokens", "200", "--json")


def run(*args):
    return runner.invoke(build_app(list(args)), list(args))


def test_vendor_engine_lists_come_from_the_catalog():
    assert engines_for_vendor("huawei") == ("vllm-ascend", "mindie")
    assert engines_for_vendor("apple")[0] == "llama.cpp"
    assert engines_for_vendor("nvidia")[:3] == ("vllm", "sglang", "trtllm")
    assert "trtllm" not in engines_for_vendor("amd")


@pytest.mark.parametrize(("gpu", "engine"), [("ascend-910b", "vllm-ascend"), ("apple-m2-max", "llama.cpp"),
                                             ("h100-sxm", "vllm"), ("mi300x", "vllm")])
def test_default_engine_follows_the_vendor(gpu, engine):
    res = run("estimate", "qwen3-8b", "--gpu", gpu, *EST)
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["deployment"]["engine"] == engine
    res = run("size", "qwen3-8b", "--gpu", gpu, "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["engine"] == engine


@pytest.mark.parametrize(("gpu", "engine"), [("ascend-910b", "sglang"), ("apple-m2-max", "vllm"),
                                             ("mi300x", "trtllm")])
def test_an_engine_that_cannot_run_there_is_refused_in_one_sentence(gpu, engine):
    for cmd in (("estimate", "qwen3-8b", "--gpu", gpu, "--engine", engine, *EST[:-1]),
                ("size", "qwen3-8b", "--gpu", gpu, "--engine", engine)):
        res = run(*cmd)
        assert res.exit_code != 0
        assert "Traceback" not in res.output
        assert f"--engine {engine} does not run on {gpu}" in res.output
        assert res.output.strip().count("\n") == 0, res.output


def test_refusal_in_chinese_and_over_the_api():
    res = run("size", "qwen3-8b", "--gpu", "ascend-910b", "--engine", "vllm", "--lang", "zh")
    assert res.exit_code != 0 and "不能在 ascend-910b" in res.output
    with TestClient(create_app(ApiSettings(request_time_limit_s=120))) as client:
        ok = client.post("/api/v1/estimate", json={"model": "qwen3-8b", "gpu": "ascend-910b"})
        assert ok.status_code == 200, ok.text
        assert ok.json()["deployment"]["engine"] == "vllm-ascend"
        bad = client.post("/api/v1/size", json={"model": "qwen3-8b", "gpu": "ascend-910b", "engine": "sglang"})
        assert 400 <= bad.status_code < 500
        assert "does not run on ascend-910b" in bad.text
