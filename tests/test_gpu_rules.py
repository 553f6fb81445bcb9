"""The derivation rules GPU_SOURCES.md states, checked against the rows NVIDIA and Apple publish figures for (issue 15).

G56: GeForce Ampere/Ada/Blackwell dense FP16/BF16 tensor rate with FP32 accumulate = 2 × FP32 shader rate. It must
hold for every GeForce row whose rates come from the vendor's own tables (RTX 3080/3090 G1/G13, 4090 G14, 5090/5080/
5070 Ti/5070 G1) before it may fill the rows no source covers.
G52/G53: Apple GPU cores run FP16 at the FP32 rate (256 OPs/clock/core), so the stored FP16 equals FP32.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

ROWS = {r["id"]: r for r in csv.DictReader(
    (Path(__file__).resolve().parents[1] / "src" / "gpuplan" / "catalog" / "data" / "gpus.csv").open(newline=""))}
VENDOR_FIGURES = ("rtx-3080", "rtx-3090", "rtx-4090", "rtx-5090", "rtx-5080", "rtx-5070-ti", "rtx-5070")
DERIVED = [i for i, r in ROWS.items() if "G56" in r["sources"].split(";")]


@pytest.mark.parametrize("gpu_id", VENDOR_FIGURES)
def test_rule_holds_on_vendor_figures(gpu_id: str) -> None:
    r = ROWS[gpu_id]
    assert "G56" not in r["sources"].split(";")  # the evidence is not itself derived
    assert float(r["dense_bf16_flops_per_s"]) == pytest.approx(2 * float(r["dense_fp32_flops_per_s"]), rel=0.01)


@pytest.mark.parametrize("gpu_id", DERIVED)
def test_derived_rows_follow_the_rule_and_say_so(gpu_id: str) -> None:
    r = ROWS[gpu_id]
    assert r["class"] in ("consumer", "unified")  # GeForce-class tensor cores only, never workstation/data-center
    assert float(r["dense_fp16_flops_per_s"]) == pytest.approx(2 * float(r["dense_fp32_flops_per_s"]), rel=0.01)
    assert "derived" in r["notes"]


def test_some_rows_use_the_rule() -> None:
    assert {"rtx-4080-super", "rtx-3060-12gb", "rtx-5060-ti-16gb", "dgx-spark"} <= set(DERIVED)


@pytest.mark.parametrize("gpu_id", [i for i, r in ROWS.items() if r["vendor"] == "apple"])
def test_apple_fp16_equals_fp32(gpu_id: str) -> None:
    r = ROWS[gpu_id]
    assert r["dense_fp16_flops_per_s"] == r["dense_fp32_flops_per_s"] != ""


def test_apple_measured_anchor() -> None:
    """G52 (measured on the M1): 8 cores × 256 OPs/clock × 1.278 GHz = 2617 GFLOPS."""
    assert float(ROWS["apple-m1"]["dense_fp16_flops_per_s"]) == pytest.approx(8 * 256 * 1.278e9, rel=0.001)
