"""Predicted GGUF sizes vs. published ones (memory issue, Formats: "within 2% of real files").

Sources, one per row:
* ``shared/calibration/public-normalized.csv`` rows with metric ``weights_bytes`` and engine ``llama.cpp``: llama-bench
  'size' column (GiB, tensor data only) from llama.cpp PRs #4766/#4812 and the XiongjieDai GPU-Benchmarks notebooks
  (URLs in ``measured-public.csv``).
* ``tests/data/gguf_sizes.csv``: every row carries its source URL and unit. llama-bench / llama.cpp ``print_info``
  sizes are tensor bytes in GiB (2^30); ollama ``/api/tags`` sizes are whole files in bytes; Unsloth's "GB" are GiB
  (their 131GB UD-IQ1_S loads as 130.60 GiB, gpustack issue #1107).

Whole-file rows add the tokenizer metadata estimate (``gguf_metadata_bytes``: 40 B per vocab entry).
Tolerance: the issue's 2 %. Values quoted with 2 decimals in GiB are exact to ±0.005 GiB (≤0.3 % for the smallest,
1.87 GiB), integers like "212GB" to ±0.5 (0.3 %), so 2 % is never tighter than the source's rounding.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from gpuplan.catalog.arch import ModelArch
from gpuplan.memory.quant import gguf_metadata_bytes, weights_bytes
from gpuplan.units import GIB

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = Path("/work/shared/reference/configs")
if not CONFIGS.is_dir():  # the shared folder sits next to the checkout
    CONFIGS = ROOT.parent / "shared" / "reference" / "configs"
CALIBRATION = CONFIGS.parent.parent / "calibration" / "public-normalized.csv"
OWN_ROWS = ROOT / "tests" / "data" / "gguf_sizes.csv"
TOLERANCE_FRACTION = 0.02

# Calibration model ids → the config used. CodeLlama-7B = Llama-2-7B shapes with vocab 32016 instead of 32000
# (16 extra rows: 0.002 % of the file), so the Llama-2-7B config stands in for it.
MODEL_CONFIGS = {
    "codellama/CodeLlama-7b-hf": "meta-llama__Llama-2-7b-hf.json",
    "meta-llama/Llama-2-7b-hf": "meta-llama__Llama-2-7b-hf.json",
    "meta-llama/Meta-Llama-3-8B": "meta-llama__Meta-Llama-3-8B.json",
    "meta-llama/Meta-Llama-3-70B": "meta-llama__Meta-Llama-3-70B.json",
}
UNIT_BYTES = {"GiB": GIB, "B": 1}


def _arch(config_file: str) -> ModelArch:
    return ModelArch.from_config(json.loads((CONFIGS / config_file).read_text()))


def _predict_bytes(config_file: str, weight_format: str, quantity: str) -> int:
    arch = _arch(config_file)
    tensor_data = weights_bytes(arch.tensors(), weight_format, n_layers=arch.num_layers,
                                n_experts=arch.num_experts or None)
    if quantity == "file_bytes":
        return tensor_data + gguf_metadata_bytes(arch.vocab_size)
    return tensor_data


def _calibration_rows() -> list[tuple[str, str, str, float]]:
    if not CALIBRATION.exists():
        return []
    with CALIBRATION.open() as handle:
        return [
            (r["id"], r["model"], r["weight_format"], float(r["value"]))
            for r in csv.DictReader(handle)
            if r["metric"] == "weights_bytes" and r["engine"] == "llama.cpp"
        ]


def _own_rows() -> list[dict[str, str]]:
    with OWN_ROWS.open() as handle:
        return list(csv.DictReader(handle))


def test_calibration_file_has_gguf_rows():
    """The shared calibration set must keep its llama.cpp file sizes (7 rows at the time of writing)."""
    assert len(_calibration_rows()) >= 7


@pytest.mark.parametrize(("row_id", "model", "weight_format", "value_bytes"), _calibration_rows())
def test_calibration_gguf_size_within_2_percent(row_id, model, weight_format, value_bytes):
    predicted = _predict_bytes(MODEL_CONFIGS[model], weight_format, "tensor_bytes")
    assert predicted == pytest.approx(value_bytes, rel=TOLERANCE_FRACTION), row_id


_KNOWN_GAP = pytest.mark.xfail(
    strict=True,
    reason="Unsloth UD-IQ1_M: recipe not published; blog's down_proj 2.06-bit with IQ1_M experts gives ~153 GiB vs "
           "158 GiB (-3%). Strict: passes only if someone pins the recipe, and then this marker must go.",
)


@pytest.mark.parametrize(
    "row",
    [pytest.param(r, id=r["id"], marks=_KNOWN_GAP if "KNOWN GAP" in r["notes"] else ()) for r in _own_rows()],
)
def test_published_gguf_size_within_2_percent(row):
    assert row["source"].startswith("https://"), row["id"]
    published = float(row["value"]) * UNIT_BYTES[row["unit"]]
    predicted = _predict_bytes(row["config"], row["weight_format"], row["quantity"])
    assert predicted == pytest.approx(published, rel=TOLERANCE_FRACTION), row["id"]


# llama.cpp tools/quantize/README.md @f4a71e70 also gives bits/weight with 4 decimals for Llama-3.1-8B
# (https://github.com/ggml-org/llama.cpp/blob/f4a71e707e2c0e041fb43be5a32659f364fc712d/tools/quantize/README.md).
# bits/weight = 8 · size / n_params, so these pin the per-tensor mix to ±0.00005 bits (0.003 %); the tolerance
# 0.05 % also covers the 64-element rope_freqs tensor Llama-3.1 GGUFs carry and the arch does not list.
README_BPW = {
    "iq1_s": 2.0042, "iq1_m": 2.1460, "iq2_xxs": 2.3824, "iq2_xs": 2.5882, "iq2_s": 2.7403, "iq2_m": 2.9294,
    "iq3_xxs": 3.2548, "iq3_xs": 3.4977, "iq3_s": 3.6606, "iq3_m": 3.7628, "iq4_xs": 4.4597, "iq4_nl": 4.6818,
    "q2_k_s": 2.9697, "q2_k": 3.1593, "q3_k_s": 3.6429, "q3_k_l": 4.2979, "q4_k_s": 4.6672, "q4_k_m": 4.8944,
    "q5_k_s": 5.5704, "q5_k_m": 5.7036, "q6_k": 6.5633, "q8_0": 8.5008, "f16": 16.0005,
}


@pytest.mark.parametrize(("ftype", "bpw"), sorted(README_BPW.items()))
def test_llama31_8b_bits_per_weight_match_llama_cpp_readme(ftype, bpw):
    arch = _arch("meta-llama__Llama-3.1-8B-Instruct.json")
    n_params = sum(t.num_elements for t in arch.tensors())
    size = weights_bytes(arch.tensors(), f"gguf-{ftype}", n_layers=arch.num_layers)
    assert 8 * size / n_params == pytest.approx(bpw, rel=5e-4)
