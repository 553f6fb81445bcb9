"""KV-cache bytes per token pinned on published values."""

import pytest

from gpuplan.catalog import get_model
from gpuplan.memory.kv import kv_cache_bytes_per_token, kv_layout


def test_deepseek_v3_mla_bf16():
    """DESIGN §5 / DeepSeek-V2 paper: MLA caches (d_c + d_h^R) per token per layer: 61 · (512 + 64) · 2 = 70,272 B."""
    assert kv_cache_bytes_per_token(get_model("deepseek-v3").arch, "bf16") == 70_272


def test_llama3_70b_gqa_bf16():
    """Llama-3-70B: 80 layers · 2 · 8 KV heads · 128 · 2 B = 327,680 B/token (memory issue golden value)."""
    assert kv_cache_bytes_per_token(get_model("meta-llama/Meta-Llama-3-70B").arch, "bf16") == 327_680


def test_mla_not_sharded_by_tp():
    arch = get_model("deepseek-v3").arch
    one = kv_layout(arch, "bf16", tp=1, per_gpu=True).bytes_per_token
    eight = kv_layout(arch, "bf16", tp=8, per_gpu=True).bytes_per_token
    assert one == eight == 70_272


@pytest.mark.parametrize(("tp", "heads_per_gpu"), [(1, 8), (2, 4), (8, 1), (16, 1)])
def test_gqa_heads_replicate_past_n_kv(tp, heads_per_gpu):
    arch = get_model("meta-llama/Meta-Llama-3-70B").arch
    per_gpu = kv_layout(arch, "bf16", tp=tp, per_gpu=True).bytes_per_token
    assert per_gpu == 80 * 2 * heads_per_gpu * 128 * 2


def test_fp8_ds_mla_layout():
    """vLLM fp8_ds_mla: 656 B per token per layer (512 fp8 latent + 4 fp32 scales + 64 bf16 rope)."""
    assert kv_cache_bytes_per_token(get_model("deepseek-v3").arch, "fp8_ds_mla") == 61 * 656
