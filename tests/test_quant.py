"""Weight formats: bits per weight from documented block layouts, kept tensors, DeepSeek FP8 block scales, GGUF
per-tensor rules, catalog rows and error messages."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from gpuplan.catalog.arch import ModelArch, TensorSpec
from gpuplan.errors import UnknownNameError
from gpuplan.i18n import catalog, placeholders
from gpuplan.memory.gguf_mix import GGML_TYPES, MixContext, gguf_tensor_types
from gpuplan.memory.quant import (
    FP8_DS_MLA_BYTES_PER_TOKEN_LAYER,
    KV_DTYPES,
    fp8_block_scale_count,
    get_format,
    list_formats,
    tensor_bytes,
    weights_bytes,
)

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = Path("/work/shared/reference/configs")
if not CONFIGS.is_dir():
    CONFIGS = ROOT.parent / "shared" / "reference" / "configs"
FORMATS_TOML = ROOT / "src" / "gpuplan" / "catalog" / "data" / "formats.toml"

REQUIRED_IDS = (
    "bf16 fp16 fp32 fp8 fp8-block int8 awq-int4 gptq-int4 nf4 mxfp4 nvfp4 gguf-f16 gguf-q8_0 gguf-q6_k gguf-q5_k_m "
    "gguf-q5_0 gguf-q4_k_m gguf-q4_k_s gguf-q4_0 gguf-q3_k_m gguf-q2_k gguf-iq4_xs gguf-iq3_xxs gguf-iq2_xs "
    "gguf-iq2_xxs gguf-iq1_s gguf-iq1_m gguf-ud-iq1_s gguf-ud-iq1_m gguf-ud-iq2_xxs gguf-ud-q2_k_xl"
).split()
ENGINES = {"vllm", "sglang", "llama.cpp", "ollama", "ktransformers", "trtllm", "transformers", "vllm-ascend", "mindie"}
VENDORS = {"nvidia", "amd", "apple", "huawei", "cpu"}
COMPUTE_PATHS = {"w16a16", "w8a8-fp8", "w8a8-int8", "w8a16-fp8", "w4a16", "w4a4-fp4", "gguf-dequant"}


def _arch(name: str) -> ModelArch:
    return ModelArch.from_config(json.loads((CONFIGS / name).read_text()))


# --------------------------------------------------------------------------- bits per weight from block layouts
@pytest.mark.parametrize(
    ("fmt_id", "bits"),
    [
        # AutoAWQ GEMM: 4-bit weights, fp16 scale + 4-bit zero per group of 128 → 4 + 20/128.
        ("awq-int4", 4 + (16 + 4) / 128),
        ("gptq-int4", 4 + (16 + 4) / 128),
        # DeepSeek-V3 README_WEIGHTS.md: e4m3 + one fp32 scale per 128×128 block.
        ("fp8-block", 8 + 32 / (128 * 128)),
        # QLoRA (arXiv:2305.14314) §3: NF4 + double-quantized absmax: 8/64 + 32/(64·256) = 0.127 bits.
        ("nf4", 4 + 8 / 64 + 32 / (64 * 256)),
        # OCP MX v1.0: 32 E2M1 values share one E8M0 scale.
        ("mxfp4", 4 + 8 / 32),
        # NVIDIA NVFP4: 16 E2M1 values share one E4M3 scale.
        ("nvfp4", 4 + 8 / 16),
        ("bf16", 16), ("fp16", 16), ("fp32", 32), ("fp8", 8), ("int8", 8),
        # ggml block layouts (ggml-common.h): block_q4_K 144 B / 256, block_q8_0 34 B / 32, block_q6_K 210 B / 256,
        # block_q5_K 176 B / 256, block_q4_0 18 B / 32, block_q2_K 84 B / 256, block_iq1_s 50 B / 256.
        ("gguf-q4_k_m", 4.5), ("gguf-q8_0", 8.5), ("gguf-q6_k", 6.5625), ("gguf-q5_k_m", 5.5), ("gguf-q4_0", 4.5),
        ("gguf-q2_k", 2.625), ("gguf-iq1_s", 1.5625), ("gguf-iq2_xxs", 2.0625), ("gguf-iq4_xs", 4.25),
        ("gguf-f16", 16),
    ],
)
def test_bits_per_weight_from_block_layout(fmt_id, bits):
    assert get_format(fmt_id).bits_per_weight == pytest.approx(bits, rel=1e-12)


def test_ggml_type_table_matches_gguf_package():
    """Our copy of (block elements, block bytes) equals gguf-py's GGML_QUANT_SIZES for every shared type."""
    from gguf.constants import GGML_QUANT_SIZES

    upstream = {t.name: sizes for t, sizes in GGML_QUANT_SIZES.items()}
    for name, t in GGML_TYPES.items():
        assert upstream[name] == (t.block_elements, t.block_bytes), name


# --------------------------------------------------------------------------- kept tensors
@pytest.mark.parametrize("fmt_id", ["awq-int4", "gptq-int4", "nf4", "fp8", "int8"])
def test_int4_and_8bit_formats_keep_embeddings_head_norms_router_16bit(fmt_id):
    fmt = get_format(fmt_id)
    assert {"embed", "lm_head", "norm", "router"} <= set(fmt.kept_16bit_components)
    assert not {"embed", "lm_head", "norm", "router"} & set(fmt.quantized_components)


def test_awq_keeps_embedding_and_head_at_16_bits_on_llama3_8b():
    arch = _arch("meta-llama__Meta-Llama-3-8B.json")
    rows = {r.tensor.name: r for r in tensor_bytes(arch.tensors(), "awq-int4", n_layers=32)}
    assert rows["token_embd"].num_bytes == 128256 * 4096 * 2
    assert rows["output"].num_bytes == 128256 * 4096 * 2
    assert rows["blk.0.attn_norm"].num_bytes == 4096 * 2
    # q_proj 4096×4096: 4-bit weights + (fp16 scale + 4-bit zero) per 128 inputs = 8,388,608 + 655,360 bytes.
    assert rows["blk.0.attn_q"].num_bytes == 4096 * 4096 // 2 + 4096 * (4096 // 128) * 20 // 8


def test_mxfp4_quantizes_only_routed_experts():
    fmt = get_format("mxfp4")
    assert fmt.quantized_components == ("routed_experts",)


# --------------------------------------------------------------------------- DeepSeek FP8 block scales
def test_deepseek_v3_fp8_block_scale_count_matches_checkpoint():
    """CONFIGS.md: the V3.1 checkpoint stores 41,540,496 FP8 block scales (same shapes as V3), MTP layer included;
    embeddings, head, norms, routers and the MTP eh_proj stay BF16 without scales."""
    arch = _arch("deepseek-ai__DeepSeek-V3.json")
    fmt = get_format("fp8-block")
    assert sum(fp8_block_scale_count(t, fmt) for t in arch.tensors(include_mtp=True)) == 41_540_496


def test_fp8_block_bytes_are_weights_plus_fp32_scales():
    t = TensorSpec("blk.0.attn_output", (7168, 16384), 0, "attention")
    row = tensor_bytes([t], "fp8-block", n_layers=1)[0]
    assert row.num_bytes == 7168 * 16384 + 56 * 128 * 4


# --------------------------------------------------------------------------- GGUF per-tensor rules
def _llama3_gguf(ftype: str):
    arch = _arch("meta-llama__Meta-Llama-3-8B.json")
    return {r.tensor.name: r.type_name for r in gguf_tensor_types(arch.tensors(), ftype, MixContext(32, 0, 4))}


def test_q4_k_m_follows_llama_cpp_rules_on_llama3_8b():
    """llama-quant.cpp @007dbbf3: output → Q6_K; attn_v and ffn_down → Q6_K where use_more_bits(i, 32):
    i < 4, i ≥ 28, or (i − 4) % 3 == 2; norms F32; token_embd keeps the base type."""
    types = _llama3_gguf("Q4_K_M")
    assert types["output"] == "Q6_K" and types["token_embd"] == "Q4_K"
    assert types["blk.0.attn_norm"] == "F32"
    more_bits = [i for i in range(32) if types[f"blk.{i}.attn_v"] == "Q6_K"]
    assert more_bits == [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31]
    assert [i for i in range(32) if types[f"blk.{i}.ffn_down"] == "Q6_K"] == more_bits
    assert types["blk.5.attn_q"] == "Q4_K"


def test_row_length_not_multiple_of_256_falls_back():
    """tensor_type_fallback(): Q4_K → Q5_0 when ne[0] % 256 != 0; → F16 when not even a multiple of 32."""
    odd32 = TensorSpec("blk.0.ffn_gate", (64, 4160), 0, "mlp")   # 4160 = 130 · 32
    odd = TensorSpec("blk.0.ffn_up", (64, 100), 0, "mlp")
    rows = gguf_tensor_types([odd32, odd], "Q4_K_S", MixContext(1))
    assert [r.type_name for r in rows] == ["Q5_0", "F16"]


def test_moe_router_and_biases_stay_f32_in_gguf():
    arch = _arch("deepseek-ai__DeepSeek-V3.json")
    rows = {r.tensor.name: r for r in tensor_bytes(arch.tensors(), "gguf-q4_k_m", n_layers=61, n_experts=256)}
    assert rows["blk.3.ffn_gate_inp"].type_name == "F32"
    assert rows["blk.3.exp_probs_b"].type_name == "F32"


def test_ud_iq1_s_type_counts_match_published_load_log():
    """gpustack/gpustack#1107 (DeepSeek-R1-UD-IQ1_S load log): f32 361, q4_K 190, q5_K 116, q6_K 184, iq2_xxs 6,
    iq1_s 168 tensors."""
    arch = _arch("deepseek-ai__DeepSeek-R1-0528.json")
    rows = tensor_bytes(arch.tensors(), "gguf-ud-iq1_s", n_layers=61, n_experts=256)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.type_name] = counts.get(r.type_name, 0) + 1
    assert counts == {"F32": 361, "Q4_K": 190, "Q5_K": 116, "Q6_K": 184, "IQ2_XXS": 6, "IQ1_S": 168}


def test_weights_bytes_is_sum_of_tensor_bytes():
    arch = _arch("meta-llama__Meta-Llama-3-8B.json")
    rows = tensor_bytes(arch.tensors(), "nf4", n_layers=32)
    assert weights_bytes(arch.tensors(), "nf4", n_layers=32) == sum(r.num_bytes for r in rows)


# --------------------------------------------------------------------------- KV dtypes
def test_fp8_ds_mla_layout_is_656_bytes_per_token_layer():
    """512 fp8 latent + 4 fp32 scales + 64 bf16 RoPE dims (Tencent/KsanaLLM quant_type.h kFp8DsMla)."""
    assert FP8_DS_MLA_BYTES_PER_TOKEN_LAYER == 656
    assert KV_DTYPES["bf16"] == 16 and KV_DTYPES["fp8"] == 8


# --------------------------------------------------------------------------- catalog rows and errors
def test_every_required_format_id_exists():
    ids = {f.id for f in list_formats()}
    assert set(REQUIRED_IDS) <= ids


@pytest.mark.parametrize("fmt", list_formats(), ids=lambda f: f.id)
def test_format_row_is_complete(fmt):
    assert fmt.source.strip()
    assert set(fmt.engines) <= ENGINES and fmt.engines
    assert set(fmt.vendors) <= VENDORS and fmt.vendors
    assert fmt.compute_path in COMPUTE_PATHS
    assert fmt.min_compute_capability is None or 3.0 <= fmt.min_compute_capability <= 12.0
    assert 1.0 <= fmt.bits_per_weight <= 32.0
    if fmt.kind == "dense":
        assert fmt.weight_bits and fmt.quantized_components


def test_formats_toml_every_table_has_source():
    data = tomllib.loads(FORMATS_TOML.read_text())
    assert all(table.get("source") for table in data.values())


def test_unknown_format_error_suggests_close_names():
    with pytest.raises(UnknownNameError) as info:
        get_format("gguf-q4_k_x")
    text = str(info.value)
    assert "gguf-q4_k_x" in text and "gguf-q4_k_m" in text


def test_formats_messages_exist_in_both_languages_with_same_placeholders():
    en = {k: v for k, v in catalog("en").items() if k.startswith("formats.")}
    zh = {k: v for k, v in catalog("zh").items() if k.startswith("formats.")}
    assert en and set(en) == set(zh)
    for key, text in en.items():
        assert placeholders(text) == placeholders(zh[key]), key


def test_deepseek_v3_fp8_checkpoint_bytes():
    """The V3 safetensors checkpoint totals 688,586,727,753 B (catalog entry deepseek-ai/DeepSeek-V3, bytes_source:
    HF commit afb92e1fa402, shared/reference/SOURCES.md M15; 641.30 GiB in gogongxt/python
    scripts/models/deepseek_v3.md). Predicted: fp8-block weights of the main model + MTP layer, plus the MTP layer's
    BF16 copies of embedding and head. Tolerance 0.01 %: the 163 files' JSON headers (tens of KB each) are not
    modeled."""
    arch = _arch("deepseek-ai__DeepSeek-V3.json")
    predicted = weights_bytes(arch.tensors(include_mtp=True), "fp8-block", n_layers=62, n_experts=256)
    predicted += arch.params_embedding_copies_in_mtp * 2
    assert predicted == pytest.approx(688_586_727_753, rel=1e-4)


def test_ud_mix_on_dense_model_is_a_clear_error():
    from gpuplan.errors import UnsupportedError

    arch = _arch("meta-llama__Meta-Llama-3-8B.json")
    with pytest.raises(UnsupportedError) as info:
        weights_bytes(arch.tensors(), "gguf-ud-iq1_s", n_layers=32)
    assert "UD-IQ1_S" in str(info.value) and "gguf-q4_k_m" in str(info.value)


def test_gguf_formats_report_f32_kept_tensors():
    assert set(get_format("gguf-q4_k_m").kept_16bit_components) == {"norm", "router", "router_bias"}


def test_mxfp4_leaves_gpt_oss_expert_biases_unquantized():
    """gpt-oss model card: only the MoE weight matrices are MXFP4; biases stay BF16."""
    arch = _arch("openai__gpt-oss-20b.json")
    rows = {r.tensor.name: r for r in tensor_bytes(arch.tensors(), "mxfp4", n_layers=arch.num_layers,
                                                    n_experts=arch.num_experts)}
    bias = rows["blk.0.ffn_gate_up_exps.bias"]
    assert bias.num_bytes == bias.tensor.num_elements * 2
    assert rows["blk.0.ffn_up_exps"].bits_per_element == pytest.approx(4.25)


def test_gpt_oss_20b_mxfp4_checkpoint_bytes_exact():
    """shared/reference/configs/CONFIGS.md: the gpt-oss-20b checkpoint holds 11,956,805,184 stored elements, of which
    9,555,148,800 are uint8 MXFP4 blocks (two fp4 values each) and 597,196,800 uint8 E8M0 scales; the remaining
    1,804,459,584 are BF16. Bytes = 1,804,459,584 · 2 + 9,555,148,800 + 597,196,800 (safetensors headers excluded)."""
    arch = _arch("openai__gpt-oss-20b.json")
    expected = 1_804_459_584 * 2 + 9_555_148_800 + 597_196_800
    assert weights_bytes(arch.tensors(), "mxfp4", n_layers=arch.num_layers, n_experts=arch.num_experts) == expected
