"""Parameter counts pinned on published checkpoint element counts.

Sources: shared/reference/configs/CONFIGS.md ("Checks against real checkpoints", all exact to the element), which
reconciles safetensors element counts of the real checkpoints with the transformers meta-device count.
"""

import pytest

from gpuplan.catalog import get_model

# (model, total parameters, source)
EXACT_TOTALS = [
    # Qwen2.5-72B-Instruct BF16 checkpoint: safetensors element count 72,706,203,648 (CONFIGS.md)
    ("Qwen/Qwen2.5-72B-Instruct", 72_706_203_648),
    # Qwen3-32B BF16 checkpoint: 32,762,123,264 (CONFIGS.md)
    ("Qwen/Qwen3-32B", 32_762_123_264),
    # DeepSeek-V2-Lite-Chat BF16 checkpoint: 15,706,484,224 (CONFIGS.md)
    ("deepseek-ai/DeepSeek-V2-Lite-Chat", 15_706_484_224),
    # HF API safetensors.total for R1-Distill-Qwen-32B: 32,763,876,352 (SOURCES.md M14)
    ("deepseek-ai/DeepSeek-R1-Distill-Qwen-32B", 32_763_876_352),
    # HF API safetensors.total for R1-Distill-Llama-8B: 8,030,261,248 (SOURCES.md M14)
    ("deepseek-ai/DeepSeek-R1-Distill-Llama-8B", 8_030_261_248),
    # gpt-oss-20b: unpacked element count 20,914,757,184 (CONFIGS.md)
    ("openai/gpt-oss-20b", 20_914_757_184),
    # DeepSeek-V3.1 checkpoint: 671,026,404,352 main-model parameters (CONFIGS.md reconciliation)
    ("deepseek-ai/DeepSeek-V3.1", 671_026_404_352),
    # Kimi-K2-Instruct: 1,026,408,209,408 parameters (CONFIGS.md reconciliation)
    ("moonshotai/Kimi-K2-Instruct", 1_026_408_209_408),
    # DeepSeek-V4-Pro: 1,572,997,179,491 parameters (CONFIGS.md reconciliation)
    ("deepseek-ai/DeepSeek-V4-Pro", 1_572_997_179_491),
]


@pytest.mark.parametrize(("model_id", "total"), EXACT_TOTALS)
def test_total_params_exact(model_id, total):
    assert get_model(model_id).arch.params_total == total


def test_deepseek_v3_checkpoint_reconciles():
    """V3.1's checkpoint holds 684,531,386,000 elements = params + 14,848 router bias + 11,610,068,224 MTP
    + 1,853,358,080 embedding/head copies + 41,540,496 FP8 block scales (CONFIGS.md)."""
    arch = get_model("deepseek-ai/DeepSeek-V3.1").arch
    assert arch.params_mtp == 11_610_068_224
    assert arch.params_router_bias == 14_848
    assert arch.params_embedding_copies_in_mtp == 1_853_358_080
    without_scales = 684_531_386_000 - 41_540_496
    assert (arch.params_total + arch.params_router_bias + arch.params_mtp + arch.params_embedding_copies_in_mtp
            == without_scales)


def test_deepseek_v3_official_claims():
    """DeepSeek-V3 README: 671B total, 37B activated; README_WEIGHTS: 36.7B main-model activation incl. 0.9B head.
    The claims are rounded to 0.1B, so the tolerance is half of that."""
    arch = get_model("deepseek-v3").arch
    assert abs(arch.params_total - 671.0e9) <= 0.05e9
    # "36.7B incl. the 0.9B head" counts the output head but not the input embedding; the two published copies of
    # README_WEIGHTS say 36.7B (deepseek-ai HEAD) and 36.6B (tt-metal copy), so the tolerance is 0.1B.
    assert abs((arch.params_active - arch.params_by_component["embed"]) - 36.7e9) <= 0.1e9
    assert round(arch.params_active / 1e9) == 38 or abs(arch.params_active - 37e9) < 1e9  # "37B" rounded
    head_and_embed = arch.params_by_component["embed"] + arch.params_by_component["lm_head"]
    assert abs(arch.params_by_component["lm_head"] - 0.93e9) < 0.05e9  # "0.9B output head"
    assert head_and_embed == 2 * 129_280 * 7168


def test_v32_indexer_size():
    """V3.2 main model is 851.5M larger than V3: the DSA indexer (CONFIGS.md)."""
    v3 = get_model("deepseek-ai/DeepSeek-V3").arch
    v32 = get_model("deepseek-ai/DeepSeek-V3.2").arch
    assert abs((v32.params_total - v3.params_total) - 851.5e6) < 0.05e6
    assert v32.params_by_component["indexer"] == v32.params_total - v3.params_total


def test_tensor_names_follow_gguf():
    names = {t.name for t in get_model("deepseek-v3").arch.tensors()}
    for expected in ("token_embd", "output", "output_norm", "blk.0.attn_kv_a_mqa", "blk.3.ffn_down_exps",
                     "blk.3.ffn_gate_shexp", "blk.0.ffn_down"):
        assert expected in names
