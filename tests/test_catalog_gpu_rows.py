"""Data tests for the accelerator and host catalogs (catalog/data/gpus.csv, hosts.csv).

These tests read the CSV files with the ``csv`` module and do not use the catalog loader. Every row is checked for
schema, units, plausible ranges and sources. A few cells are pinned to published measurements, each cited next to
it.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

DATA_DIR = Path(__file__).resolve().parents[1] / "src" / "gpuplan" / "catalog" / "data"
GPUS_CSV = DATA_DIR / "gpus.csv"
HOSTS_CSV = DATA_DIR / "hosts.csv"
SOURCES_MD = DATA_DIR / "GPU_SOURCES.md"

MIB = 2**20
GIB = 2**30
TIB = 2**40

GPU_COLUMNS = [
    "id",
    "aliases",
    "name",
    "vendor",
    "class",
    "architecture",
    "compute_capability",
    "memory_bytes",
    "memory_basis",
    "memory_bandwidth_bytes_per_s",
    "dense_fp32_flops_per_s",
    "dense_tf32_flops_per_s",
    "dense_bf16_flops_per_s",
    "dense_fp16_flops_per_s",
    "dense_fp8_flops_per_s",
    "dense_int8_ops_per_s",
    "dense_fp4_flops_per_s",
    "dense_int4_ops_per_s",
    "tdp_watts",
    "interconnect",
    "interconnect_bytes_per_s",
    "pcie_gen",
    "pcie_lanes",
    "launch_year",
    "china_available",
    "gfd_product",
    "sources",
    "notes",
]
HOST_COLUMNS = [
    "id",
    "name",
    "memory_type",
    "memory_channels",
    "memory_mts",
    "memory_bandwidth_bytes_per_s",
    "max_memory_bytes",
    "cpu_cores",
    "cpu_fp32_flops_per_s",
    "cpu_amx_bf16_flops_per_s",
    "sources",
    "notes",
]
RATE_COLUMNS = [c for c in GPU_COLUMNS if c.startswith("dense_")]

VENDORS = {"nvidia", "amd", "huawei", "apple", "intel", "moorethreads"}
CLASSES = {"consumer", "workstation", "datacenter", "unified", "embedded"}
ARCHITECTURES = {
    "pascal",
    "volta",
    "turing",
    "ampere",
    "ada",
    "hopper",
    "blackwell",
    "cdna2",
    "cdna3",
    "cdna4",
    "rdna3",
    "davinci",
    "musa3",
    "apple-m1",
    "apple-m2",
    "apple-m3",
    "apple-m4",
    "orin",
}
# "nvlink2" is not in the list the brief gave (it stops at nvlink3). It is used only for V100 SXM2.
INTERCONNECTS = {"nvlink2", "nvlink3", "nvlink4", "nvlink5", "nvlink-bridge", "xgmi", "hccs", "mtlink", "pcie", "none"}
MEMORY_BASES = {"driver", "label", "unified"}
SLUG = re.compile(r"^[a-z0-9]+(?:[.-][a-z0-9]+)*$")

# GPU ids used by the shared calibration dataset. This list is copied from /work/shared/calibration/README.md, section
# "GPU ids used in these files". `gpuplan validate` can only predict a row whose GPU id is in the catalog.
CALIBRATION_GPU_IDS = """
rtx-3070 rtx-3080 rtx-3080-ti rtx-3090 rtx-3090-ti rtx-4060-ti-16gb rtx-4070-ti rtx-4080 rtx-4090 rtx-4090d rtx-5070
rtx-5070-ti rtx-5080 rtx-5090 rtx-4000-ada rtx-5000-ada rtx-6000-ada rtx-a6000 a40 a10 a10g l4 l20 l40 l40s t4 p40
v100-32gb a100-40gb-pcie a100-80gb-pcie a100-80gb-sxm a800-80gb h100-pcie h100-sxm h100-sxm-96gb h800-sxm h20 h200-sxm
b200 gb200 mi300x mi325x ascend-910b apple-m1 apple-m1-7c apple-m1-max apple-m2 apple-m2-pro apple-m2-max
apple-m2-ultra-60c apple-m2-ultra-76c apple-m3-pro apple-m3-max apple-m3-ultra apple-m4 apple-m4-pro apple-m4-max
jetson-agx-orin-64gb
""".split()

# Further ids that the GPU catalog brief requires.
BRIEF_GPU_IDS = """
h100-nvl h200-nvl h20 h800-pcie a800-40gb a100-40gb-sxm l20 l40 rtx-3060-12gb rtx-4060-ti-8gb rtx-4070
rtx-4070-ti-super rtx-4080-super rtx-4090d rtx-2080-ti titan-rtx rtx-a4000 rtx-a5000 rtx-pro-6000-blackwell a30 a2
v100-16gb mi210 mi250x mi300a mi355x radeon-rx-7900-xtx ascend-910b ascend-910c jetson-agx-orin-32gb
jetson-orin-nano-8gb b100 b300
""".split()

HOST_IDS_REQUIRED = """
desktop-ddr4-2ch desktop-ddr5-2ch workstation-ddr5-4ch workstation-ddr5-8ch server-ddr4-8ch server-ddr5-8ch
server-ddr5-12ch
""".split()


def _read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


GPU_HEADER, GPU_ROWS = _read(GPUS_CSV)
HOST_HEADER, HOST_ROWS = _read(HOSTS_CSV)
DEFINED_SOURCES = set(re.findall(r"\*\*([DGH]\d+)\*\*", SOURCES_MD.read_text(encoding="utf-8")))


def _num(text: str) -> float | None:
    text = text.strip()
    return None if text == "" else float(text)


def _gpu(gpu_id: str) -> dict[str, str]:
    return next(r for r in GPU_ROWS if r["id"] == gpu_id)


# ---------------------------------------------------------------------------------------------------------- gpus.csv


def test_gpu_header_is_exact() -> None:
    assert GPU_HEADER == GPU_COLUMNS


def test_gpu_ids_unique_and_aliases_do_not_collide() -> None:
    seen: dict[str, str] = {}
    for row in GPU_ROWS:
        for name in [row["id"], *[a for a in row["aliases"].split(";") if a]]:
            assert name not in seen, f"{name!r} used by {seen.get(name)} and {row['id']}"
            seen[name] = row["id"]


@pytest.mark.parametrize("gpu_id", sorted(set(CALIBRATION_GPU_IDS + BRIEF_GPU_IDS)))
def test_required_gpu_id_present(gpu_id: str) -> None:
    assert gpu_id in {r["id"] for r in GPU_ROWS}


def test_calibration_readme_ids_are_all_listed_here() -> None:
    """Compare the pinned list with the shared README when the README is present. Skip when it is absent."""
    here = Path(__file__).resolve()
    for candidate in (here.parents[1] / "shared", here.parents[2] / "shared"):
        readme = candidate / "calibration" / "README.md"
        if readme.is_file():
            text = readme.read_text(encoding="utf-8")
            block = text.split("## GPU ids used in these files", 1)[-1]
            ids = set(" ".join(re.findall(r"`([^`]+)`", block)).split())
            assert len(ids) >= 50  # the README lists 58 ids; a parse that finds none must not pass silently
            missing = {i for i in ids if SLUG.match(i)} - {r["id"] for r in GPU_ROWS}
            assert not missing
            return
    pytest.skip("shared/calibration/README.md not found beside the checkout")


@pytest.mark.parametrize("row", GPU_ROWS, ids=[r["id"] for r in GPU_ROWS])
class TestGpuRow:
    def test_identity(self, row: dict[str, str]) -> None:
        assert SLUG.match(row["id"]), row["id"]
        assert row["name"].strip()
        for alias in (a for a in row["aliases"].split(";") if a):
            assert SLUG.match(alias), alias
        assert row["vendor"] in VENDORS
        assert row["class"] in CLASSES
        assert row["architecture"] in ARCHITECTURES
        assert row["china_available"] in ("true", "false")

    def test_compute_capability_only_for_nvidia(self, row: dict[str, str]) -> None:
        cc = row["compute_capability"]
        if row["vendor"] != "nvidia":
            assert cc == ""
        elif cc:
            assert re.fullmatch(r"\d{1,2}\.\d", cc), cc
            assert 6.0 <= float(cc) <= 13.0

    def test_memory(self, row: dict[str, str]) -> None:
        memory_bytes = int(row["memory_bytes"])
        # Discrete accelerators: 1-300 GiB. Unified-memory machines go up to 512 GB: Apple M3 Ultra is sold with up
        # to 512 GB (GPU_SOURCES.md G23).
        upper = 512 * GIB if row["memory_basis"] == "unified" else 300 * GIB
        assert 1 * GIB <= memory_bytes <= upper
        assert row["memory_basis"] in MEMORY_BASES
        if row["memory_basis"] == "driver":
            # nvidia-smi reports memory.total in whole MiB; a driver row must cite one of the D captures.
            assert memory_bytes % MIB == 0
            assert any(s.startswith("D") for s in row["sources"].split(";"))
        else:
            assert memory_bytes % GIB == 0
        if row["memory_basis"] == "unified":
            assert row["class"] in ("unified", "embedded")

    def test_bandwidth(self, row: dict[str, str]) -> None:
        bandwidth = _num(row["memory_bandwidth_bytes_per_s"])
        if bandwidth is None:
            assert "not found" in row["notes"] or "left empty" in row["notes"] or "conflict" in row["notes"]
        else:
            assert 50e9 <= bandwidth <= 10e12

    def test_rates_are_plausible_and_ordered(self, row: dict[str, str]) -> None:
        rates = {c: _num(row[c]) for c in RATE_COLUMNS}
        for column, value in rates.items():
            if value is not None:
                assert 1e12 <= value <= 30e15, column
        bf16 = rates["dense_bf16_flops_per_s"] or rates["dense_fp16_flops_per_s"]
        fp8 = rates["dense_fp8_flops_per_s"]
        fp4 = rates["dense_fp4_flops_per_s"]
        fp32 = rates["dense_fp32_flops_per_s"]
        if bf16 and fp8:
            assert bf16 <= fp8
        if fp8 and fp4:
            assert fp8 <= fp4
        if bf16 and fp4:
            assert bf16 <= fp4
        if fp32 and bf16:
            assert fp32 <= bf16

    def test_power_year_and_links(self, row: dict[str, str]) -> None:
        tdp = _num(row["tdp_watts"])
        if tdp is not None:
            assert 5 <= tdp <= 1500
        year = _num(row["launch_year"])
        if year is not None:
            assert year == int(year) and 2015 <= year <= 2026
        assert row["interconnect"] in INTERCONNECTS
        link = _num(row["interconnect_bytes_per_s"])
        if link is not None:
            assert row["interconnect"] != "none"
            assert 10e9 <= link <= 1e12
        if row["pcie_gen"]:
            assert int(row["pcie_gen"]) in (3, 4, 5, 6)
        if row["pcie_lanes"]:
            assert int(row["pcie_lanes"]) in (8, 16)

    def test_gfd_label_shape(self, row: dict[str, str]) -> None:
        label = row["gfd_product"]
        if label:
            assert row["vendor"] == "nvidia"
            assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]*", label), label

    def test_sources_defined_and_notes_present(self, row: dict[str, str]) -> None:
        sources = [s for s in row["sources"].split(";") if s]
        assert sources
        assert set(sources) <= DEFINED_SOURCES, set(sources) - DEFINED_SOURCES
        assert row["notes"].strip()


# Pinned cells. Each memory value is the nvidia-smi memory.total (MiB) printed in a public capture, and the
# catalog must store exactly MiB x 2**20. The GFD example also shows nvidia.com/gpu.memory=81559 for H100
# 80GB HBM3 (GPU_SOURCES.md G36, code-index id 36942309602).
@pytest.mark.parametrize(
    ("gpu_id", "mib"),
    [
        (
            "h100-sxm",
            81559,
        ),  # "NVIDIA H100 80GB HBM3 ... 81559MiB" (GPU_SOURCES.md D8, code-index id 8134165308)
        ("rtx-4090", 24564),  # "NVIDIA GeForce RTX 4090 ... 24564MiB" (D13, code-index id 46259373927)
        ("a100-80gb-sxm", 81920),  # "NVIDIA A100-SXM4-80GB ... 81920MiB" (D22, code-index id 57844891696)
        ("h20", 97871),  # "NVIDIA H20 ... 97871MiB" (D1, code-index id 53244009727)
        ("h200-sxm", 143771),  # "NVIDIA H200 ... 143771MiB" (D2, code-index id 6737105653)
        ("b200", 183359),  # "NVIDIA B200 ... 183359MiB" (D4, code-index id 58371658710)
    ],
)
def test_pinned_driver_memory(gpu_id: str, mib: int) -> None:
    row = _gpu(gpu_id)
    assert row["memory_basis"] == "driver"
    assert int(row["memory_bytes"]) == mib * MIB  # exact: nvidia-smi prints whole MiB


def test_pinned_h100_sxm_dense_bf16() -> None:
    # NVIDIA H100 SXM datasheet: BF16 1,979 TFLOPS "shown with sparsity" (HPCTech reproduction, GPU_SOURCES.md G6).
    # The dense rate is half of that. Lockwood's dense table gives 989.4 (G5). 0.1% tolerance covers the rounding.
    assert float(_gpu("h100-sxm")["dense_bf16_flops_per_s"]) == pytest.approx(1979e12 / 2, rel=1e-3)


def test_pinned_l4_dense_is_half_the_sparse_datasheet_figure() -> None:
    # L4 datasheet: FP16/BF16 242 TFLOPS* and FP8 485 TFLOPS*, "* with sparsity" (GPU_SOURCES.md G8).
    # 1% tolerance because the datasheet rounds to three figures.
    row = _gpu("l4")
    assert float(row["dense_bf16_flops_per_s"]) == pytest.approx(242e12 / 2, rel=1e-2)
    assert float(row["dense_fp8_flops_per_s"]) == pytest.approx(485e12 / 2, rel=1e-2)


# --------------------------------------------------------------------------------------------------------- hosts.csv


def test_host_header_is_exact() -> None:
    assert HOST_HEADER == HOST_COLUMNS


def test_host_ids_unique_and_required_present() -> None:
    ids = [r["id"] for r in HOST_ROWS]
    assert len(ids) == len(set(ids))
    assert set(HOST_IDS_REQUIRED) <= set(ids)


@pytest.mark.parametrize("row", HOST_ROWS, ids=[r["id"] for r in HOST_ROWS])
def test_host_row(row: dict[str, str]) -> None:
    assert SLUG.match(row["id"])
    assert row["name"].strip()
    assert row["memory_type"] in ("ddr4", "ddr5")
    channels = int(row["memory_channels"])
    mts = int(row["memory_mts"])
    assert 1 <= channels <= 24
    assert (1600 if row["memory_type"] == "ddr4" else 4000) <= mts <= 8800
    bandwidth = float(row["memory_bandwidth_bytes_per_s"])
    # The stored peak must equal channels x 8 bytes x MT/s (64-bit channel).
    assert bandwidth == pytest.approx(channels * 8 * mts * 1e6, rel=1e-9)
    assert 10e9 <= bandwidth <= 2e12
    if row["max_memory_bytes"]:
        assert 16 * GIB <= int(row["max_memory_bytes"]) <= 16 * TIB
    sources = [s for s in row["sources"].split(";") if s]
    assert sources and set(sources) <= DEFINED_SOURCES
    assert row["notes"].strip()


def test_pinned_epyc_milan_peak() -> None:
    # 8 channels x DDR4-3200 = 204.8 GB/s per socket (tomshardware.fr and AnandTech, GPU_SOURCES.md H1). Exact.
    assert (
        float(next(r for r in HOST_ROWS if r["id"] == "server-ddr4-8ch")["memory_bandwidth_bytes_per_s"])
        == 204.8e9
    )


def test_pinned_genoa_peak() -> None:
    # 12 channels x DDR5-4800 = 460.8 GB/s per socket (playcrazygame.com, GPU_SOURCES.md H2). Exact.
    assert (
        float(next(r for r in HOST_ROWS if r["id"] == "server-ddr5-12ch")["memory_bandwidth_bytes_per_s"])
        == 460.8e9
    )


# Rows that still lack a sourced bandwidth or 16-bit dense rate (issue 15). Each entry must really lack one: filling
# the row makes the second test fail until it is removed here, so this list can only shrink.
RATE_GAPS = {
    "h100-sxm-96gb", "h800-pcie", "h200-nvl", "a10g", "a2", "p40", "rtx-pro-6000-blackwell",
    "rtx-4060-ti-8gb", "rtx-3080-ti", "rtx-2080-ti",
    "jetson-agx-orin-64gb", "jetson-agx-orin-32gb", "jetson-orin-nano-8gb", "radeon-rx-7900-xtx",
}


def _has_rates(row: dict[str, str]) -> bool:
    return bool(_num(row["memory_bandwidth_bytes_per_s"])) and bool(
        _num(row["dense_bf16_flops_per_s"]) or _num(row["dense_fp16_flops_per_s"]))


@pytest.mark.parametrize("row", GPU_ROWS, ids=[r["id"] for r in GPU_ROWS])
def test_every_gpu_has_bandwidth_and_a_16bit_dense_rate(row: dict[str, str]) -> None:
    if row["id"] in RATE_GAPS:
        pytest.skip("rate not yet sourced (RATE_GAPS)")
    assert _has_rates(row), f"{row['id']}: memory bandwidth and a dense BF16/FP16 rate are required"


def test_rate_gaps_are_real_gaps() -> None:
    by_id = {r["id"]: r for r in GPU_ROWS}
    assert RATE_GAPS <= set(by_id)
    assert not [g for g in RATE_GAPS if _has_rates(by_id[g])]
def test_pinned_ktransformers_host_cpu_peaks() -> None:
    # 2 x Xeon Gold 6454S = 64 cores at 2.2 GHz base (Intel ARK, GPU_SOURCES.md H9/H10): AVX-512 FP32 peak
    # 64 x 2.2e9 x 2 FMA units x 16 lanes x 2 FLOP = 9.0112e12; AMX BF16 64 x 2.2e9 x 1024 = 1.441792e14. Exact.
    from gpuplan.catalog import get_host

    host = get_host("server-ddr5-8ch-2s")
    assert host.cpu_cores == 64
    assert host.cpu_fp32_flops_per_s == 64 * 2.2e9 * 2 * 16 * 2
    assert host.cpu_amx_bf16_flops_per_s == pytest.approx(64 * 2.2e9 * 1024, rel=1e-12)
