"""Ascend 910B/910C in the catalog, the vLLM-Ascend engine (memory rule, flags, formats) and its calibration.

Published values used here (sources in catalog/data/GPU_SOURCES.md G32, G33, G54, G55 and engines.toml):
- vLLM-Ascend sets the KV block size to 128 tokens when none is given (vllm_ascend/utils.py refresh_block_size).
- GPUStack performance lab, vLLM-Ascend v0.9.1 on one 910B, Qwen3-30B-A3B TP2, ShareGPT batch 4:
  mean TTFT 359.99 ms (row N080 of shared/calibration/public-2-normalized.csv, held out of the fit).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from gpuplan.catalog import get_gpu
from gpuplan.memory import size_inference
from gpuplan.memory.engines import engine_facts
from gpuplan.plan.search import PlanRequest, search
from gpuplan.spec import Deployment, Workload

ROOT = Path(__file__).resolve().parents[1]


def test_910b_has_the_resolved_rates() -> None:
    gpu = get_gpu("ascend-910b")
    assert gpu.memory_bandwidth_bytes_per_s == 1.6e12  # half the 910C's 3.2 TB/s (four of its eight HBM2E stacks)
    assert gpu.dense_bf16_flops_per_s == 3.76e14  # half the 910C's 752 TFLOPS (CloudMatrix384 paper)
    c = get_gpu("ascend-910c")
    assert gpu.dense_bf16_flops_per_s * 2 <= c.dense_bf16_flops_per_s * 1.0 + 1 and c.memory_bytes == 2 * gpu.memory_bytes


def test_vllm_ascend_engine_facts() -> None:
    facts = engine_facts("vllm-ascend")
    assert facts["budget_rule"] == "fraction_of_total"
    assert facts["block_size_tokens"] == 128
    assert facts["vendors"] == ["huawei"]
    assert facts["image"].startswith("quay.io/ascend/vllm-ascend:")


def test_vllm_ascend_memory_uses_its_block_size() -> None:
    dep = Deployment(gpu_id="ascend-910b", engine="vllm-ascend", weight_format="bf16")
    from gpuplan.catalog import get_model

    mem = size_inference(get_model("qwen/qwen3-8b"), dep, context_tokens=2500, concurrency=4)
    assert mem.fits
    assert mem.engine_args["block_size"] == 128
    # 2500 tokens are padded to 20 blocks of 128 = 2560 tokens per sequence
    assert mem.kv_cache_bytes_per_sequence_per_gpu == 2560 * mem.kv_cache_bytes_per_token_per_gpu


def test_plan_on_910b_gives_vllm_ascend_with_its_flags() -> None:
    plan = search(PlanRequest(model="deepseek-r1-distill-qwen-32b", users=20, input_tokens=2000, output_tokens=500,
                              gpus=("ascend-910b",)))
    assert plan.candidates
    top = plan.candidates[0]
    assert top.engine == "vllm-ascend"
    assert top.engine_args["--block-size"] == 128
    assert top.perf.calibration and top.perf.calibration.startswith("vllm-ascend/")
    # vLLM and SGLang (CUDA/ROCm builds) are never planned on an NPU
    assert all(c.engine == "vllm-ascend" for c in plan.candidates)


def test_w8a8_on_ascend_asks_for_the_ascend_quantization_flag() -> None:
    plan = search(PlanRequest(model="deepseek-r1-distill-qwen-32b", users=20, input_tokens=2000, output_tokens=500,
                              gpus=("ascend-910b",), weight_formats=("int8",)))
    for cand in plan.candidates:
        assert cand.engine_args.get("--quantization") == "ascend"


def test_w4a8_bits_follow_the_vllm_ascend_layout() -> None:
    from gpuplan.memory.quant import get_format

    fmt = get_format("w4a8")
    # 4-bit weights + one 16-bit scale and one int64 offset per group of 256 input channels
    assert fmt.bits_per_weight == pytest.approx(4 + 80 / 256)
    assert fmt.engines == ("vllm-ascend",)


PUBLIC_2 = ROOT.parent / "shared" / "calibration" / "public-2-normalized.csv"


def _row(row_id: str) -> dict[str, str]:
    if not PUBLIC_2.exists():
        pytest.skip("shared/calibration is not checked out here")
    with open(PUBLIC_2, newline="") as fh:
        return next(r for r in csv.DictReader(fh) if r["id"] == row_id)


def test_heldout_ttft_n080_within_the_stated_band() -> None:
    """N080 (held out of the fit): Qwen3-30B-A3B, 2 × 910B TP2, batch 4, 217/202 tokens → 359.99 ms TTFT."""
    from gpuplan.catalog import get_model
    from gpuplan.perf import estimate_serving

    row = _row("N080")
    dep = Deployment(gpu_id="ascend-910b", gpu_count=2, tensor_parallel_size=2, engine="vllm-ascend",
                     weight_format="bf16")
    est = estimate_serving(get_model(row["model"]), dep, Workload(input_tokens=217, output_tokens=202, concurrency=4))
    measured = float(row["value"])
    assert est.ttft_s is not None
    assert abs(est.ttft_s - measured) / measured <= est.uncertainty_fraction


def test_heldout_tpot_n076_within_the_stated_band() -> None:
    """N076 (held out): Qwen3-8B, 1 × 910B, batch 4, 233/221 tokens → mean TPOT 47.28 ms (about 40 ms predicted)."""
    from gpuplan.catalog import get_model
    from gpuplan.perf import estimate_serving

    row = _row("N076")
    dep = Deployment(gpu_id="ascend-910b", engine="vllm-ascend", weight_format="bf16")
    est = estimate_serving(get_model(row["model"]), dep, Workload(input_tokens=233, output_tokens=221, concurrency=4))
    measured = float(row["value"])
    assert abs(est.tpot_s - measured) / measured <= est.uncertainty_fraction


def test_render_ascend_plan_uses_the_device_plugin_and_the_cann_image(tmp_path: Path) -> None:
    """k8s asks for huawei.com/Ascend910 (Ascend device plugin), the image is vLLM-Ascend on CANN, the command is
    `vllm serve` with the planned flags, and compose mounts the host driver files the vLLM-Ascend docs list."""
    import yaml
    from typer.testing import CliRunner

    from gpuplan.cli.main import build_app
    from gpuplan.i18n import set_language

    set_language("en")
    runner = CliRunner()
    plan_file = tmp_path / "plan.yaml"
    # One 8-NPU node (--gpus 8): the render of a single-node plan is what this checks. Left free, the planner now
    # prefers pipeline stages across two nodes, since the vLLM-Ascend cell fitted on the 910B rows prices each TP
    # all-reduce hop at ~0.57 ms (2 x 910B Qwen3-30B-A3B: 123 ms per decode step at 4 users, public-2 N079).
    res = runner.invoke(build_app(), ["plan", "deepseek-r1-distill-qwen-32b", "--users", "20", "--gpu", "ascend-910b",
                                      "--gpus", "8", "-o", str(plan_file)])
    assert res.exit_code == 0, res.output
    out = tmp_path / "deploy"
    res = runner.invoke(build_app(), ["render", str(plan_file), "--target", "engine,k8s,compose,docker",
                                      "--out", str(out)])
    assert res.exit_code == 0, res.output
    serve = (out / "engine" / "serve.sh").read_text()
    assert "vllm serve deepseek-ai/DeepSeek-R1-Distill-Qwen-32B" in serve and "--block-size 128" in serve
    docs = [d for d in yaml.safe_load_all((out / "k8s" / "deployment.yaml").read_text()) if d]
    container = docs[0]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "quay.io/ascend/vllm-ascend:v0.23.0"
    from gpuplan.planfile import PlanFile

    chosen = PlanFile.load(plan_file).chosen
    assert container["resources"]["limits"]["huawei.com/Ascend910"] == str(chosen.gpus_per_node)
    compose = yaml.safe_load((out / "docker" / "docker-compose.yml").read_text())
    volumes = compose["services"]["engine"]["volumes"]
    assert "/usr/local/Ascend/driver/lib64/:/usr/local/Ascend/driver/lib64/:ro" in volumes
    assert f"/dev/davinci{chosen.gpus_per_node - 1}" in compose["services"]["engine"]["devices"]
    assert (out / "docker" / "Dockerfile").read_text().count("FROM quay.io/ascend/vllm-ascend:v0.23.0") == 1


def test_mindie_needs_an_explicit_fraction_and_uses_128_token_blocks() -> None:
    """MindIE: kv_cache = total x memory_fraction - weights - workspace (MindIE error reference MIE05E01000A); the
    default fraction is unpublished, so gpuplan asks for it; cacheBlockSize 128 (MindIE Service config docs)."""
    from gpuplan.catalog import get_model
    from gpuplan.errors import UnsupportedError

    model = get_model("qwen/qwen3-8b")
    with pytest.raises(UnsupportedError):
        size_inference(model, Deployment(gpu_id="ascend-910b", engine="mindie", weight_format="bf16"),
                       context_tokens=4096, concurrency=1)
    mem = size_inference(model, Deployment(gpu_id="ascend-910b", engine="mindie", weight_format="bf16",
                                           gpu_memory_utilization=0.8), context_tokens=4096, concurrency=1)
    assert mem.engine_args["block_size"] == 128
    assert mem.per_gpu.budget_bytes == int(0.8 * get_gpu("ascend-910b").memory_bytes)

