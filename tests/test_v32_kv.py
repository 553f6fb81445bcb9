"""DeepSeek-V3.2 (DSA) on vLLM and SGLang is sized with the KV cache the engine really allocates, and the plan's
command says it.

vLLM 0.34.0 (the parser installed for tests/test_engine_parsers.py):

* ``DeepseekV32ForCausalLM.verify_and_update_config`` (vllm/model_executor/models/config.py L81-95) maps
  "bfloat16" to "auto" ("Using bfloat16 kv-cache for DeepSeekV3.2"): "auto" is the model dtype, 2 · 576 B per layer.
* ``_canonicalize_sparse_mla_kv_cache_dtype`` (vllm/model_executor/layers/attention/mla_attention.py L367-383): on
  FLASHMLA_SPARSE any quantized dtype ("fp8") becomes "fp8_ds_mla"; on FLASHINFER_MLA_SPARSE_SM120 "auto" does too.
* vllm/platforms/cuda.py L94-152: SM90 gets FLASH_ATTN_MLA_SPARSE (16-bit caches only,
  flashattn_mla_sparse.py L43-47) then FLASHMLA_SPARSE; SM100 with an FP8 cache prefers FLASHINFER_MLA_SPARSE
  (standard FP8 layout); SM12x gets FLASHINFER_MLA_SPARSE_SM120.

fp8_ds_mla is 656 B per token per layer (512 fp8 latent + 4 fp32 scales + 64 bf16 RoPE dims, flashmla_sparse.py
L139 "the bf16 tail of the 656B layout"); the lightning indexer adds 128 fp8 keys + a 4 B scale per layer.
"""

from __future__ import annotations

import pytest

from gpuplan.catalog import get_gpu, get_model
from gpuplan.memory import size_model_only
from gpuplan.memory.inference import size_inference
from gpuplan.memory.kv import resolve_kv_dtype
from gpuplan.plan import PlanRequest, search
from gpuplan.spec import Deployment

LAYERS = 61
INDEXER = 128 + 4
V32 = "deepseek-ai/DeepSeek-V3.2"


def _size(gpu: str, kv: str, engine: str = "vllm"):
    dep = Deployment(gpu_id=gpu, gpu_count=8, engine=engine, weight_format="fp8-block", kv_dtype=kv,
                     tensor_parallel_size=8)
    return size_inference(get_model(V32), dep, context_tokens=4096, gpu=get_gpu(gpu))


def test_h200_auto_is_bf16_and_fp8_is_fp8_ds_mla():
    auto, fp8 = _size("h200-sxm", "auto"), _size("h200-sxm", "fp8")
    assert auto.kv_dtype == "bf16"
    assert auto.kv_cache_bytes_per_token == LAYERS * (576 * 2 + INDEXER)   # 78,324 B
    assert fp8.kv_dtype == "fp8_ds_mla"
    assert fp8.kv_cache_bytes_per_token == LAYERS * (656 + INDEXER)        # 48,068 B, not 61 · (576 + 132)
    assert fp8.kv_cache_bytes_per_token_per_gpu == pytest.approx(LAYERS * (656 + INDEXER))
    assert "v32kv.assume_fp8_ds_mla" in fp8.assumptions and "v32kv.assume_fp8_ds_mla" not in auto.assumptions


def test_blackwell_rules():
    arch = get_model(V32).arch
    b200, rtx = get_gpu("b200").compute_capability, get_gpu("rtx-5090").compute_capability
    assert (int(b200), int(rtx)) == (10, 12)
    assert resolve_kv_dtype("auto", "vllm", arch, compute_capability=b200) == "bf16"
    assert resolve_kv_dtype("fp8", "vllm", arch, compute_capability=b200) == "fp8"
    assert resolve_kv_dtype("auto", "vllm", arch, compute_capability=rtx) == "fp8_ds_mla"


def test_rule_is_vllm_and_dsa_only():
    v32, r1 = get_model(V32).arch, get_model("deepseek-r1").arch
    h200 = get_gpu("h200-sxm").compute_capability
    assert resolve_kv_dtype("fp8", "vllm", r1, compute_capability=h200) == "fp8"
    assert resolve_kv_dtype("auto", "sglang", r1, compute_capability=10.0) == "bf16"
    assert resolve_kv_dtype("auto", "vllm", v32) == "bf16"            # no GPU: vLLM 0.34's auto on SM90/SM100
    assert size_model_only(get_model(V32), "fp8-block").kv_dtype == "bf16"
    # vLLM 0.13 turned "auto" into fp8_ds_mla everywhere ("The default config uses a custom fp8 kvcache",
    # vllm-project/recipes DeepSeek/DeepSeek-V3_2.md): the published rows of that version are predicted with it.
    assert resolve_kv_dtype("auto", "vllm", v32, compute_capability=h200, engine_version="0.13.0") == "fp8_ds_mla"
    assert resolve_kv_dtype("auto", "vllm", v32, compute_capability=h200, engine_version="v0.14.1") == "bf16"


def test_plan_render_round_trip_runs_the_sized_kv_dtype():
    from tests.test_engine_parsers import _argv, _vllm_parser

    parser = _vllm_parser()
    plan = search(PlanRequest(model="deepseek-v3.2", users=64, input_tokens=2000, output_tokens=500,
                              gpus=("h200-sxm",), engines=("vllm",), max_nodes=1, top=2))
    assert plan.candidates
    for i, c in enumerate(plan.candidates):
        assert c.kv_dtype == "fp8_ds_mla"
        args = parser.parse_args(_argv(plan, i)[2:])
        assert args.kv_cache_dtype == "fp8_ds_mla"


def test_sglang_rules():
    """SGLang 0.5.23, sglang/srt/arg_groups/overrides.py (DSA override): "auto" becomes fp8_e4m3 on SM >= 10
    ("fp8_e4m3" if major >= 10 ... else "bfloat16"); an fp8_e4m3 cache gets "trtllm if major >= 10 else flashmla_kv"
    backends. sglang/srt/mem_cache/kv_cache_configurator.py calculate_mla_kv_cache_dim: the trtllm backend keeps the raw
    kv_lora_rank + qk_rope_head_dim row (576 fp8 B); flashmla_kv stores kv_lora_rank + kv_lora_rank // 128 * 4 +
    qk_rope_head_dim * 2 = 656 B."""
    v32 = get_model(V32).arch
    h200, b200 = get_gpu("h200-sxm").compute_capability, get_gpu("b200").compute_capability
    assert resolve_kv_dtype("auto", "sglang", v32, compute_capability=h200) == "bf16"
    assert resolve_kv_dtype("fp8", "sglang", v32, compute_capability=h200) == "fp8_ds_mla"
    assert resolve_kv_dtype("auto", "sglang", v32, compute_capability=b200) == "fp8"
    assert resolve_kv_dtype("fp8", "sglang", v32, compute_capability=b200) == "fp8"
    assert 512 + 512 // 128 * 4 + 64 * 2 == 656
    fp8 = _size("h200-sxm", "fp8", engine="sglang")
    assert fp8.kv_cache_bytes_per_token == LAYERS * (656 + INDEXER)
    assert "v32kv.assume_fp8_ds_mla_sglang" in fp8.assumptions
    b = _size("b200", "auto", engine="sglang")
    assert b.kv_dtype == "fp8" and b.kv_cache_bytes_per_token == LAYERS * (576 + INDEXER)


def test_sglang_plan_render_round_trip():
    from tests.test_engine_parsers import _argv, _sglang_parse

    prepare = _sglang_parse()
    plan = search(PlanRequest(model="deepseek-v3.2", users=64, input_tokens=2000, output_tokens=500,
                              gpus=("h200-sxm",), engines=("sglang",), max_nodes=1, top=2))
    assert plan.candidates
    for i, c in enumerate(plan.candidates):
        assert c.kv_dtype == "fp8_ds_mla"
        args = prepare(_argv(plan, i)[3:])
        assert args.kv_cache_dtype == "fp8_e4m3"   # the dtype whose Hopper backend (flashmla_kv) keeps 656 B rows
