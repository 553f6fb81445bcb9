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
    "davinci-310p",
    "davinci-950",
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
# h100-sxm-96gb: torchtitan, the only source for this Meta-only part, says its peak "should be between SXM and NVL, and
# we don't know the exact value" (GPU_SOURCES.md G4).
RATE_GAPS = {"h100-sxm-96gb"}

# Rows with no 16-bit matrix unit at all: the planner runs their 16-bit work at the FP32 rate. Tesla P40 (Pascal, no
# tensor cores, FP16 at 1/64 of FP32: 0.18 TFLOPS, GPU_SOURCES.md G42).
NO_16BIT_UNITS = {"p40"}


def _has_rates(row: dict[str, str]) -> bool:
    bandwidth = bool(_num(row["memory_bandwidth_bytes_per_s"]))
    if row["id"] in NO_16BIT_UNITS:
        return bandwidth and bool(_num(row["dense_fp32_flops_per_s"])) and "no tensor cores" in row["notes"]
    return bandwidth and bool(_num(row["dense_bf16_flops_per_s"]) or _num(row["dense_fp16_flops_per_s"]))


@pytest.mark.parametrize("row", GPU_ROWS, ids=[r["id"] for r in GPU_ROWS])
def test_every_gpu_has_bandwidth_and_a_16bit_dense_rate(row: dict[str, str]) -> None:
    if row["id"] in RATE_GAPS:
        pytest.skip("rate not sourced (RATE_GAPS)")
    assert _has_rates(row), f"{row['id']}: memory bandwidth and a dense BF16/FP16 rate are required"


def test_rate_gaps_are_real_gaps() -> None:
    by_id = {r["id"]: r for r in GPU_ROWS}
    assert RATE_GAPS <= set(by_id)
    assert not [g for g in RATE_GAPS if _has_rates(by_id[g])]


def test_no_16bit_rows_really_lack_a_16bit_rate() -> None:
    # A P40 row that gains an FP16 cell (0.18 TFLOPS would be the real one) must leave this list, or 16-bit work would
    # be planned at 1/64 of the FP32 rate the engines actually use.
    for gpu_id in NO_16BIT_UNITS:
        row = _gpu(gpu_id)
        assert not _num(row["dense_bf16_flops_per_s"]) and not _num(row["dense_fp16_flops_per_s"])


def test_p40_16bit_work_is_planned_at_its_fp32_rate() -> None:
    # G42: P40 FP32 11.76 TFLOPS; perf falls back to dense_fp32 when no 16-bit rate is stored.
    from gpuplan.catalog import get_gpu
    from gpuplan.perf.serving import hardware_for
    from gpuplan.spec import Deployment

    gpu = get_gpu("p40")
    hw = hardware_for(gpu, Deployment(gpu_id="p40", engine="llamacpp", weight_format="bf16"), "bf16")
    assert hw.gemm_flops_per_s == hw.attention_flops_per_s == 11.76e12


# Issue-15 cells pinned to their sources (GPU_SOURCES.md). Vendor figures are exact; derived ones follow the rule
# stated in the row's notes.
def test_pinned_ascend_910b_variants_from_huaweis_atlas_specs() -> None:
    # G61, Atlas 800T A2: 910B2 376 / 99 TFLOPS FP16 / FP32 dense, 910B3 313 / 82, 64 GB at 1600 GB/s; Atlas 800I A2:
    # 910B4 280 / 75, 32 GB at 800 GB/s or 64 GB at 1600 GB/s. Exact.
    expected = {
        "ascend-910b": (3.76e14, 9.9e13, 64, 1.6e12),
        "ascend-910b3": (3.13e14, 8.2e13, 64, 1.6e12),
        "ascend-910b4": (2.8e14, 7.5e13, 32, 8e11),
        "ascend-910b4-64gb": (2.8e14, 7.5e13, 64, 1.6e12),
    }
    for gpu_id, (fp16, fp32, gib, bandwidth) in expected.items():
        row = _gpu(gpu_id)
        assert float(row["dense_fp16_flops_per_s"]) == fp16
        assert float(row["dense_fp32_flops_per_s"]) == fp32
        assert int(row["memory_bytes"]) == gib * GIB
        assert float(row["memory_bandwidth_bytes_per_s"]) == bandwidth
        assert row["vendor"] == "huawei" and row["china_available"] == "true"
    assert "910b2" in _gpu("ascend-910b")["aliases"].split(";")


def test_pinned_ascend_910c_is_huaweis_752_tflops() -> None:
    # G61 Atlas 800T A3: 752 TFLOPS FP16, 198 FP32 per processor, 128 GB per module, 2 x 1600 GB/s; G54 gives 752 too.
    row = _gpu("ascend-910c")
    assert float(row["dense_fp16_flops_per_s"]) == 752e12
    assert float(row["dense_fp32_flops_per_s"]) == 198e12
    assert float(row["memory_bandwidth_bytes_per_s"]) == 2 * 1600e9
    assert int(row["memory_bytes"]) == 128 * GIB


def test_pinned_ascend_950pr_stores_the_cube_rates_of_the_atlas_350() -> None:
    # G61 Atlas 350: FP16/BF16 425 = Cube 378.5 + Vector 47.3; FP8 and INT8 804 = Cube 756.9 + Vector 47.3; MXFP4 1561
    # = Cube 1513.9 + Vector 47.3; 112 GB at 1.4 TB/s. The row keeps the Cube (matrix) part, exactly; Huawei's totals
    # are the sums rounded to three or four figures (0.2%).
    row = _gpu("ascend-950pr")
    cube = {"dense_bf16_flops_per_s": (378.5e12, 425e12), "dense_fp8_flops_per_s": (756.9e12, 804e12),
            "dense_fp4_flops_per_s": (1513.9e12, 1561e12)}
    for column, (stored, total) in cube.items():
        assert float(row[column]) == stored
        assert stored + 47.3e12 == pytest.approx(total, rel=2e-3)
    assert float(row["memory_bandwidth_bytes_per_s"]) == 1.4e12 and int(row["memory_bytes"]) == 112 * GIB


def test_pinned_atlas_300i_duo_is_two_310p_npus() -> None:
    # G62: the Duo card is 2 x 310P, 408 GB/s in total, 140 TFLOPS FP16, 280 TOPS INT8; 96 GB or 48 GB of LPDDR4X.
    # One row per NPU: the card's figures / 2. Exact.
    big, small = _gpu("ascend-310p-48gb"), _gpu("ascend-310p-24gb")
    assert "atlas-300i-duo" in big["aliases"].split(";") and "atlas-300i-duo-48gb" in small["aliases"].split(";")
    assert float(big["memory_bandwidth_bytes_per_s"]) == 408e9 / 2
    assert float(big["dense_fp16_flops_per_s"]) == 140e12 / 2 == float(small["dense_fp16_flops_per_s"])
    assert float(big["dense_int8_ops_per_s"]) == 280e12 / 2
    assert int(big["memory_bytes"]) == 96 * GIB // 2 and int(small["memory_bytes"]) == 48 * GIB // 2
    # The 310P has no BF16 (G62): no BF16 cell.
    assert not big["dense_bf16_flops_per_s"] and not small["dense_bf16_flops_per_s"]


def test_pinned_h800_pcie_and_h200_nvl_follow_their_sibling_boards() -> None:
    # G6: H100 PCIe BF16 1513* -> 756.5 dense; G72: NVIDIA's H200 NVL BF16 1671* -> 835.5 dense. 0.1% for the rounding.
    assert float(_gpu("h800-pcie")["dense_bf16_flops_per_s"]) == pytest.approx(1513e12 / 2, rel=1e-3)
    assert float(_gpu("h800-pcie")["dense_bf16_flops_per_s"]) == float(_gpu("h100-pcie")["dense_bf16_flops_per_s"])
    assert float(_gpu("h200-nvl")["dense_bf16_flops_per_s"]) == pytest.approx(1671e12 / 2, rel=1e-3)
    # G64: ~836 TFLOP/s measured on an H200 NVL; the stored peak must not sit far below a measurement (2%).
    assert float(_gpu("h200-nvl")["dense_bf16_flops_per_s"]) >= 836e12 * 0.98


def test_pinned_a10g_has_half_the_a10_tensor_rate() -> None:
    # G65: A10G FP16 70 TFLOPS dense, FP32 35; A10 FP16 125 (G1).
    assert float(_gpu("a10g")["dense_fp16_flops_per_s"]) == 70e12
    assert float(_gpu("a10g")["dense_fp32_flops_per_s"]) == 35e12
    assert float(_gpu("a10g")["dense_fp16_flops_per_s"]) < float(_gpu("a10")["dense_fp16_flops_per_s"])


def test_pinned_rtx_pro_6000_blackwell_is_consistent_with_its_4000_sparse_fp4_tops() -> None:
    # G67: 503.8 TFLOPS FP16 dense; G40: 4000 AI TOPS = FP4 with sparsity = 8 x the dense FP16 rate. 1% (rounding).
    fp16 = float(_gpu("rtx-pro-6000-blackwell")["dense_fp16_flops_per_s"])
    assert fp16 == 503.8e12
    assert 8 * fp16 == pytest.approx(4000e12, rel=1e-2)


def test_derived_geforce_and_jetson_rates_follow_their_rules() -> None:
    # G56: GeForce Ampere/Ada FP32-accumulate 16-bit tensor rate = 2 x FP32 (RTX 3080 Ti 34.10 -> 68.2, G68).
    for gpu_id in ("rtx-3080-ti", "rtx-4060-ti-8gb"):
        row = _gpu(gpu_id)
        assert float(row["dense_fp16_flops_per_s"]) == pytest.approx(2 * float(row["dense_fp32_flops_per_s"]), rel=1e-9)
    # G69: Turing GeForce FP32-accumulate = 4 x FP32 (8 x with FP16 accumulate, halved): 2080 Ti FE 14.2 -> 56.8/56.9.
    assert float(_gpu("rtx-2080-ti")["dense_fp16_flops_per_s"]) == pytest.approx(4 * 14.2e12, rel=2e-3)
    # G70: Orin tensor cores, 1024 dense INT8 ops (512 FP16 FLOP) per core per clock; AGX 64GB 64 cores at 1.3 GHz,
    # AGX 32GB 56 at 930 MHz; Orin Nano Super 67 sparse INT8 TOPS (no DLA) / 4. 0.2% for the rounding.
    assert float(_gpu("jetson-agx-orin-64gb")["dense_fp16_flops_per_s"]) == pytest.approx(64 * 512 * 1.3e9, rel=2e-3)
    assert float(_gpu("jetson-agx-orin-32gb")["dense_fp16_flops_per_s"]) == pytest.approx(56 * 512 * 0.93e9, rel=2e-3)
    assert float(_gpu("jetson-orin-nano-8gb")["dense_fp16_flops_per_s"]) == pytest.approx(67e12 / 4, rel=2e-3)
    # G71: RX 7900 XTX 96 CUs x 512 FP16 FLOP per clock x 2.5 GHz = 122.88 -> AMD's 122.8.
    assert float(_gpu("radeon-rx-7900-xtx")["dense_fp16_flops_per_s"]) == pytest.approx(96 * 512 * 2.5e9, rel=1e-3)


def test_pinned_ktransformers_host_cpu_peaks() -> None:
    # 2 x Xeon Gold 6454S = 64 cores at 2.2 GHz base (Intel ARK, GPU_SOURCES.md H9/H10): AVX-512 FP32 peak
    # 64 x 2.2e9 x 2 FMA units x 16 lanes x 2 FLOP = 9.0112e12; AMX BF16 64 x 2.2e9 x 1024 = 1.441792e14. Exact.
    from gpuplan.catalog import get_host

    host = get_host("server-ddr5-8ch-2s")
    assert host.cpu_cores == 64
    assert host.cpu_fp32_flops_per_s == 64 * 2.2e9 * 2 * 16 * 2
    assert host.cpu_amx_bf16_flops_per_s == pytest.approx(64 * 2.2e9 * 1024, rel=1e-12)
