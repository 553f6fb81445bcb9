"""The accelerators issue 15 added or filled, used through the CLI: each one sizes and estimates with one clear answer
(uncalibrated architectures say so and widen their band), the one GPU still without a rate fails with one sentence, and
the China filter lists the domestic parts. Catalog values themselves are pinned in test_catalog_gpu_rows.py.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from gpuplan.catalog import get_gpu
from gpuplan.cli.main import build_app
from gpuplan.i18n import set_language, t

NEW_HUAWEI = ("ascend-910b3", "ascend-910b4", "ascend-910b4-64gb", "ascend-950pr", "ascend-310p-48gb",
              "ascend-310p-24gb")
FILLED = ("h800-pcie", "h200-nvl", "a10g", "a2", "rtx-pro-6000-blackwell", "rtx-4060-ti-8gb", "rtx-3080-ti",
          "rtx-2080-ti", "jetson-agx-orin-64gb", "jetson-agx-orin-32gb", "jetson-orin-nano-8gb", "radeon-rx-7900-xtx")


@pytest.fixture()
def run():
    set_language("en")
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(build_app(), list(args))

    return invoke


@pytest.mark.parametrize("gpu_id", FILLED)
def test_filled_gpus_estimate_at_their_16bit_rate(run, gpu_id: str) -> None:
    from gpuplan.perf.serving import hardware_for
    from gpuplan.spec import Deployment

    gpu = get_gpu(gpu_id)
    hw = hardware_for(gpu, Deployment(gpu_id=gpu_id, weight_format="bf16"), "bf16")
    # The 16-bit rate the row now states, not the FP32 fallback some of these rows used before issue 15.
    assert hw.gemm_flops_per_s == hw.attention_flops_per_s == gpu.dense_16bit_flops_per_s
    res = run("estimate", "deepseek-coder-1.3b-instruct", "--gpu", gpu_id, "--input-tokens", "1000",
              "--output-tokens", "200", "--json")
    assert res.exit_code == 0, res.output
    est = json.loads(res.output)
    assert est["ttft_s"] > 0 and est["tpot_s"] > 0


@pytest.mark.parametrize("gpu_id", NEW_HUAWEI)
def test_new_ascend_parts_size_and_estimate_on_vllm_ascend(run, gpu_id: str) -> None:
    res = run("size", "qwen3-8b", "--gpu", gpu_id, "--engine", "vllm-ascend")
    assert res.exit_code == 0, res.output
    res = run("estimate", "qwen3-8b", "--gpu", gpu_id, "--engine", "vllm-ascend", "--input-tokens", "1000",
              "--output-tokens", "200")
    assert res.exit_code == 0, res.output
    if get_gpu(gpu_id).architecture != "davinci":
        # 310P and 950PR have their own architecture keys: no fitted cell, so the fallback is stated and widened.
        assert " ".join(t("perf.assume_fallback").split()[:6]) in " ".join(res.output.split())


def test_the_atlas_300i_duo_alias_is_one_of_its_two_npus() -> None:
    npu = get_gpu("atlas-300i-duo")
    assert npu.id == "ascend-310p-48gb" and npu.memory_bytes == 48 * 2**30


def test_h100_96gb_still_fails_with_one_sentence(run) -> None:
    res = run("estimate", "qwen3-8b", "--gpu", "h100-sxm-96gb", "--input-tokens", "1000", "--output-tokens", "200")
    assert res.exit_code != 0
    assert "Traceback" not in res.output
    assert "h100-sxm-96gb" in res.output and "FLOP/s" in res.output


def test_china_filter_lists_the_domestic_parts(run) -> None:
    res = run("gpus", "--china", "--json")
    assert res.exit_code == 0, res.output
    ids = {g["id"] for g in json.loads(res.output)}
    assert {"ascend-910b", "ascend-910c", "mtt-s4000", *NEW_HUAWEI} <= ids
