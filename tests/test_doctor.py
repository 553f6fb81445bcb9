"""``gpuplan doctor`` on recorded NVML fakes built from published captures, the nvidia-smi fallback parser, the
catalog mapping, verdicts, and the no-GPU path of this (GPU-less) CI machine.

Recordings (tests/data/nvml_recordings/, sources inside each file):
- h100_sxm_x8.json: thamada/nvidia-smi nvsim/H100SXMx8_smi.py — 8× "NVIDIA H100 80GB HBM3", 81559 MiB, driver
  565.57.01, CUDA 12.7, PCIe Gen5 x16, ECC on; CC 9.0 from nvsim/H100SXMx8_deviceQuery.py.
- rtx3090_x2.json: thamada/nvidia-smi gls/RTX3090_smi.py — 2× "NVIDIA GeForce RTX 3090", 24576 MiB, driver 560.35.03,
  CUDA 12.6, PCIe Gen4 max / Gen1 idle, x16; CC 8.6 from gls/RTX3090_deviceQuery.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gpuplan.catalog import get_model
from gpuplan.cli.main import build_app
from gpuplan.i18n import set_language
from gpuplan.probe import RecordingBackend, doctor_report, probe_gpus
from gpuplan.probe.gpus import NoGpuError, NvmlBackend, parse_smi
from gpuplan.probe.mapping import catalog_id_for
from gpuplan.probe.models import HostReport
from gpuplan.probe.verdicts import driver_verdicts, model_verdicts
from gpuplan.units import GIB, MIB

RECORDINGS = Path(__file__).parent / "data" / "nvml_recordings"
H100 = RECORDINGS / "h100_sxm_x8.json"
RTX3090 = RECORDINGS / "rtx3090_x2.json"
runner = CliRunner()


@pytest.fixture(autouse=True)
def _english():
    set_language("en")
    yield
    set_language("en")


def _host(ram_gib=512, disk_free_gib=2000):
    return HostReport(hostname="h", os="Linux", machine="x86_64", python="3.11", memory_total_bytes=ram_gib * GIB,
                      memory_available_bytes=ram_gib * GIB, disk_path="/data", disk_free_bytes=disk_free_gib * GIB,
                      disk_total_bytes=4000 * GIB)


def test_h100_recording_maps_to_catalog():
    gpus = probe_gpus(RecordingBackend(H100))
    assert len(gpus) == 8
    assert {g.catalog_id for g in gpus} == {"h100-sxm"}
    g = gpus[0]
    assert g.memory_total_bytes == 81559 * MIB  # nvidia-smi "81559MiB" in the capture
    assert (g.compute_capability, g.ecc_enabled, g.pcie_link_gen_current, g.pcie_link_width_current) == ("9.0", True, 5, 16)
    assert g.nvlink_active_links == 18  # H100 SXM5: 18 NVLink 4 links (Hopper whitepaper)


@pytest.mark.parametrize(("name", "memory_mib", "expected"), [
    ("NVIDIA H100 80GB HBM3", 81559, "h100-sxm"),        # thamada/nvidia-smi nvsim/H100SXMx8_smi.py
    ("NVIDIA GeForce RTX 3090", 24576, "rtx-3090"),      # thamada/nvidia-smi gls/RTX3090_smi.py
    ("NVIDIA A100-SXM4-80GB", 81920, "a100-80gb-sxm"),   # GFD label NVIDIA-A100-SXM4-80GB (catalog gfd_product)
    # one GFD label for the 8 and 16 GB cards: memory decides (sizes as the catalog rows store them)
    ("NVIDIA GeForce RTX 4060 Ti", 16380, "rtx-4060-ti-16gb"),
    ("NVIDIA GeForce RTX 4060 Ti", 8192, "rtx-4060-ti-8gb"),
    ("NVIDIA Imaginary X1", 1024, None),
])
def test_catalog_mapping(name, memory_mib, expected):
    assert catalog_id_for(name, memory_mib * MIB) == expected


def test_fp8_on_rtx3090_fails_with_alternatives():
    # issue 8: "FP8 weights need compute capability >= 8.9; this RTX 3090 is 8.6: use AWQ int4 or GGUF Q4_K_M"
    report = doctor_report(RecordingBackend(RTX3090), _host(), model="deepseek-ai/DeepSeek-V3")
    cc = [v for v in report.verdicts if v.check == "compute_capability"]
    assert [v.level for v in cc] == ["fail"]
    assert "8.9" in cc[0].message and "8.6" in cc[0].message
    assert "awq-int4" in cc[0].message and "gguf-q4_k_m" in cc[0].message


def test_deepseek_v3_fp8_on_8x_h100():
    # DeepSeek-V3 FP8 checkpoint: 688,586,727,753 B (catalog checkpoint.bytes) > 8 x 81559 MiB = 684,166,479,872 B,
    # so it cannot load on one 8x H100 80GB node (which is why deployments use H200 or two nodes).
    report = doctor_report(RecordingBackend(H100), _host(), model="deepseek-ai/DeepSeek-V3")
    levels = {v.check: v.level for v in report.verdicts}
    assert levels["compute_capability"] == "ok"  # CC 9.0 >= 8.9
    assert levels["gpu_memory"] == "fail"
    assert levels["driver"] == "warn"  # 565.57.01: >= 525.60.13 (12.x minor compat), < 575.51.03 (CUDA 12.9)
    assert report.cuda_driver_version == "12.7"


def test_distill_7b_bf16_fits_on_rtx3090():
    report = doctor_report(RecordingBackend(RTX3090), _host(), model="deepseek-ai/DeepSeek-R1-Distill-Qwen-7B")
    levels = {v.check: v.level for v in report.verdicts}
    assert levels["compute_capability"] == "ok" and levels["gpu_memory"] == "ok" and levels["disk"] == "ok"


def test_disk_too_small():
    model = get_model("deepseek-ai/DeepSeek-V3")
    gpus = probe_gpus(RecordingBackend(H100))
    verdicts = model_verdicts(model, gpus, _host(disk_free_gib=100), driver_version="580.65.06")
    disk = [v for v in verdicts if v.check == "disk"][0]
    assert disk.level == "fail" and "100.0 GiB free" in disk.message


@pytest.mark.parametrize(("driver", "level"), [
    # CUDA Toolkit release notes Table 3 (shared/reference/ecosystem.md §6): CUDA 12.9 GA needs >= 575.51.03;
    # CUDA minor-version compatibility: 12.x runs on >= 525.60.13.
    ("575.51.03", "ok"), ("580.65.06", "ok"), ("560.35.03", "warn"), ("525.60.13", "warn"), ("470.82.01", "fail"),
])
def test_driver_floor_for_vllm(driver, level):
    gpus = probe_gpus(RecordingBackend(RTX3090))
    verdict = [v for v in driver_verdicts(gpus, "vllm", driver) if v.check == "driver"][0]
    assert verdict.level == level


def test_no_gpu_on_this_machine_is_not_an_error():
    try:
        import pynvml

        pynvml.nvmlInit()
        pynvml.nvmlShutdown()
        pytest.skip("this machine has a working NVML; the no-GPU path needs one without")
    except pynvml.NVMLError:
        pass
    with pytest.raises(NoGpuError):
        NvmlBackend().read()
    report = doctor_report(NvmlBackend(), _host(ram_gib=64), model="deepseek-ai/DeepSeek-R1-Distill-Qwen-7B")
    assert report.gpus == () and report.gpu_error
    checks = [(v.check, v.level) for v in report.verdicts]
    assert ("gpu", "info") in checks
    # 7.6 B params at Q4_K_M (~4.5-6 bits/weight) fit 64 GiB of RAM for CPU-only llama.cpp
    assert ("cpu_only", "ok") in checks


def test_parse_nvidia_smi_csv():
    # the fields of one RTX 3090 from thamada/nvidia-smi gls/RTX3090_smi.py, in --query-gpu CSV (nounits) form
    csv = ("0, NVIDIA GeForce RTX 3090, GPU-4aba3cfa-7b42-cca6-97f4-5cdd281b0746, 00000000:41:00.0, 24576, 2, 8.6, 30, "
           "350.00, [N/A], 4, 16, 1, 16, [N/A], 560.35.03\n")
    banner = "| NVIDIA-SMI 560.35.03              Driver Version: 560.35.03      CUDA Version: 12.6     |"
    rec = parse_smi(csv, banner)
    assert (rec.driver_version, rec.cuda_driver_version) == ("560.35.03", 12060)
    g = rec.gpus[0]
    assert (g.memory_total_bytes, g.compute_capability, g.ecc_enabled, g.pcie_link_gen_max) == (24576 * MIB, (8, 6), None, 4)


def test_cli_json_with_recording(tmp_path):
    result = runner.invoke(build_app(), ["doctor", "--recording", str(H100), "--model", "deepseek-ai/DeepSeek-V3",
                                         "--disk-path", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert len(data["gpus"]) == 8 and data["driver_version"] == "565.57.01"
    assert data["host"]["memory_total_bytes"] > 0
    assert any(v["check"] == "gpu_memory" for v in data["verdicts"])


def test_cli_table_env_recording(monkeypatch):
    monkeypatch.setenv("GPUPLAN_NVML_RECORDING", str(RTX3090))
    result = runner.invoke(build_app(), ["doctor"])
    assert result.exit_code == 0, result.output
    assert "rtx-3090" in result.stdout


def test_cli_no_gpu_exit_zero(tmp_path):
    result = runner.invoke(build_app(), ["doctor", "--recording", str(RECORDINGS / "no_devices.json")])
    assert result.exit_code == 0
    assert "No NVIDIA GPU found" in result.stdout


def test_cli_bad_recording(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "gpuplan-nvml-recording/1", "gpus": [{"index": 0}]}')
    result = runner.invoke(build_app(), ["doctor", "--recording", str(bad)])
    assert result.exit_code == 2
    assert "not a valid recording" in result.output and "Traceback" not in result.output


def test_cli_plan_gpu_mismatch(tmp_path):
    from gpuplan.planfile import Candidate, MemorySummary, PerfSummary, PlanFile, PlanModel

    memory = MemorySummary(weights_bytes=1, kv_cache_bytes=1, activation_bytes=1, overhead_bytes=1,
                           per_gpu_total_bytes=4, capacity_bytes=8, budget_bytes=8, kv_cache_bytes_per_token=1,
                           max_concurrency=1)
    cand = Candidate(gpu="h200-sxm", gpu_count=8, gpus_per_node=8, engine="sglang", weight_format="fp8-block",
                     kv_dtype="bf16", memory=memory, perf=PerfSummary(ttft_s=1.0, tpot_s=0.05, output_tokens_per_s=1.0))
    plan = PlanFile(model=PlanModel(id="deepseek-ai/DeepSeek-V3", params_total=1, params_active=1), candidates=(cand,))
    path = plan.dump(tmp_path / "plan.yaml")
    result = runner.invoke(build_app(), ["doctor", "--recording", str(H100), "--plan", str(path), "--json"])
    assert result.exit_code == 0, result.output
    verdicts = {v["check"]: v for v in json.loads(result.stdout)["verdicts"]}
    assert verdicts["plan"]["level"] == "fail" and "h200-sxm" in verdicts["plan"]["message"]
    assert verdicts["driver"]["key"] == "doctor.driver_engine_unknown"  # no published floor for sglang images yet


def test_smaller_format_suggested_when_weights_do_not_fit():
    # DeepSeek-R1-Distill-Qwen-32B in bf16 (~61 GiB: 32.8 B params x 2 B) does not fit 2x RTX 3090 (2 x 24 GiB);
    # CC 8.6 rules out fp8 (needs 8.9), so the first format that runs and fits is AWQ int4.
    report = doctor_report(RecordingBackend(RTX3090), _host(), model="deepseek-ai/DeepSeek-R1-Distill-Qwen-32B")
    by_check = {v.check: v for v in report.verdicts}
    assert by_check["gpu_memory"].level == "fail"
    assert by_check["smaller_format"].params["format"] == "awq-int4"


def test_chinese_verdicts():
    set_language("zh")
    result = runner.invoke(build_app(), ["doctor", "--recording", str(RTX3090), "--model", "deepseek-ai/DeepSeek-V3",
                                         "--json"])
    assert result.exit_code == 0
    cc = [v for v in json.loads(result.stdout)["verdicts"] if v["check"] == "compute_capability"][0]
    assert "计算能力" in cc["message"] and "8.6" in cc["message"]


def test_real_nvml_path_when_a_gpu_is_present():
    """Runs only on a machine with a working NVIDIA driver (skipped in GPU-less CI): the live NVML read, the
    nvidia-smi fallback, and their agreement on names and memory."""
    pynvml = pytest.importorskip("pynvml")
    try:
        pynvml.nvmlInit()
        pynvml.nvmlShutdown()
    except pynvml.NVMLError:
        pytest.skip("no NVIDIA driver on this machine")
    live = NvmlBackend().read()
    assert live.gpus and live.driver_version and live.cuda_driver_version
    assert all(g.memory_total_bytes > 0 and g.compute_capability for g in live.gpus)
    from gpuplan.probe.gpus import NvidiaSmiBackend

    smi = NvidiaSmiBackend().read()
    assert [g.name for g in smi.gpus] == [g.name for g in live.gpus]
    # nvidia-smi prints MiB, NVML bytes: equal to the MiB
    assert [g.memory_total_bytes // MIB for g in smi.gpus] == [g.memory_total_bytes // MIB for g in live.gpus]
