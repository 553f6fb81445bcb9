"""Issue 13: DeepSeek-V3.2 (DSA) serving — prefill in MLA's MQA mode, top-k per query, a replicated indexer."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpuplan.perf import CalibrationParams
from gpuplan.perf.operations.attention import sparse_prefill_pairs
from gpuplan.perf.step import Hardware, prefill_time
from gpuplan.perf.tables import model_table
from gpuplan.perf.validation import load_dataset, predict_row

_BARE = CalibrationParams(mem_efficiency_fraction=1.0, compute_efficiency_fraction=1.0, compute_half_m_tokens=1e-9,
                          step_overhead_s=0.0, layer_overhead_s=0.0, seq_overhead_s=0.0, allreduce_latency_s=0.0)
# H200 SXM dense peaks (gpus.csv): FP8 1979 TFLOP/s, BF16 989 TFLOP/s; 4.8 TB/s.
_H200_TP8 = Hardware(memory_bandwidth_bytes_per_s=4.8e12, gemm_flops_per_s=1979e12, attention_flops_per_s=989e12,
                     tp=8, intra_node_bytes_per_s=450e9)
GPUSTACK = Path(__file__).parent / "data" / "calibration" / "gpustack-normalized.csv"


def test_sparse_prefill_pairs_hand_worked():
    """Each query keeps min(position, k) keys (DeepSeek-V3.2-Exp report §2.1: top-k = 2048 selected entries)."""
    # Short prompt: the causal count n²/2, as dense attention.
    assert sparse_prefill_pairs(0, 1000, 2048) == pytest.approx(1000 * 500)
    # 4000 tokens: the first 2048 positions see 2048²/2 pairs, the other 1952 keep 2048 each.
    assert sparse_prefill_pairs(0, 4000, 2048) == pytest.approx(2048**2 / 2 + 1952 * 2048)
    # Everything after a 3000-token cached prefix keeps k keys per query.
    assert sparse_prefill_pairs(3000, 500, 2048) == pytest.approx(500 * 2048)
    # Dense attention (k = 0): no cap.
    assert sparse_prefill_pairs(100, 200, 0) == pytest.approx(200 * (100 + 100))


def _attention(model: str, prompt: int) -> float:
    tab = model_table(model, "fp8-block", "bf16", 8, 1, 1)
    st = prefill_time(tab, _H200_TP8, _BARE, "fp8-block", prompt_tokens=prompt)
    return next(op for op in st.operations if op.name == "attention").compute_s


def test_dsa_prefill_runs_in_mqa_mode():
    """DeepSeek-V3.2-Exp report §2.1: "each key-value entry must be shared across multiple queries for computational
    efficiency ... we implement DSA based on the MQA mode of MLA"; FlashMLA's flash_mla_sparse_fwd takes
    q [tokens, 128 heads, 576] against kv [keys, 1, 576] with d_v 512. Per pair per layer: 2·128·(576 + 512) =
    278,528 FLOP, where dense MLA (V3, R1) prefills un-absorbed at 2·128·(192 + 128) = 81,920 (config.json of both:
    61 layers, 128 heads). The V3.2 indexer adds 2·64·128 = 16,384 per pair per layer (index_n_heads 64,
    index_head_dim 128), on every GPU of the TP group (vLLM's Indexer: "no tensor parallel, just replicated")."""
    prompt = 1000  # below top-k: both read every earlier token
    pairs = prompt * prompt / 2
    v3 = _attention("deepseek-ai/DeepSeek-V3", prompt)
    v32 = _attention("deepseek-ai/DeepSeek-V3.2", prompt)
    assert v3 == pytest.approx(pairs * 61 * 81_920 / 8 / 989e12, rel=1e-6)
    assert v32 == pytest.approx(pairs * 61 * (278_528 / 8 + 16_384) / 989e12, rel=1e-6)


def test_dsa_indexer_is_not_split_by_tp():
    """The indexer's work per GPU does not shrink with TP (ReplicatedLinear wq_b / wk / weights_proj in vLLM and
    SGLang): at 32k tokens it dominates the attention time, so TP 8 leaves it nearly where TP 1 has it."""
    prompt = 32_000
    times = {}
    for tp in (1, 8):
        tab = model_table("deepseek-ai/DeepSeek-V3.2", "fp8-block", "bf16", tp, 1, 1)
        hw = Hardware(memory_bandwidth_bytes_per_s=4.8e12, gemm_flops_per_s=1979e12, attention_flops_per_s=989e12,
                      tp=tp, intra_node_bytes_per_s=450e9)
        st = prefill_time(tab, hw, _BARE, "fp8-block", prompt_tokens=prompt)
        times[tp] = next(op for op in st.operations if op.name == "attention").compute_s
    indexer = prompt * prompt / 2 * 61 * 16_384 / 989e12
    main = sparse_prefill_pairs(0, prompt, 2048) * 61 * 278_528 / 989e12
    assert times[1] == pytest.approx(indexer + main, rel=1e-6)
    assert times[8] == pytest.approx(indexer + main / 8, rel=1e-6)


@pytest.mark.skipif(not GPUSTACK.exists(), reason="dataset not in this checkout")
def test_v32_long_prompt_burst_on_vllm_013():
    """GPUStack performance lab, DeepSeek-V3.2 on 8 × H200, vLLM 0.13.0 'vllm serve deepseek-ai/DeepSeek-V3.2 -tp 8',
    100 random prompts of 32,000 tokens sent at once, 100 output tokens: 'Output token throughput (tok/s): 30.25'
    (gpustack-sources.md, row G012; a held-out row). Prefill-bound: the DSA prefill in MQA mode and the replicated
    indexer carry it; with the un-absorbed MHA prefill and the indexer split by TP the estimate was 52.6 tokens/s
    (+74%). The tolerance is the uncertainty band the estimate itself reports for the vLLM Hopper cell."""
    from gpuplan.perf.calibration import load_calibration

    row = next(r for r in load_dataset(GPUSTACK) if r.id == "G012")
    assert row.value == pytest.approx(30.25)
    band = load_calibration().resolve("vllm", "hopper", "datacenter").params.uncertainty_fraction
    assert predict_row(row) == pytest.approx(30.25, rel=band)


def test_vllm_runs_v32_with_its_fp8_kv_layout_by_default():
    """vLLM up to 0.13 (the version the V3.2 rows state) turns kv_cache_dtype 'auto' into 'fp8_ds_mla' for
    DeepSeek-V3.2: "For DeepSeekV3.2, we use a custom fp8 format as default (i.e. 'auto')"
    (DeepseekV32ForCausalLM.verify_and_update_config, vllm/model_executor/models/config.py of that era; "The default
    config uses a custom fp8 kvcache", vllm-project/recipes DeepSeek/DeepSeek-V3_2.md; vLLM 0.34 keeps bf16 on
    SM90: tests/test_v32_kv.py). A published vLLM run of V3.2 without --kv-cache-dtype is predicted with
    656 B per token per layer (512 fp8 latent + 16 B of scales + 64 bf16 RoPE dims) plus the indexer's 128 fp8 keys +
    a 4 B scale, not the 2 · 576 B of a bf16 latent; R1 (dense MLA) and other engines keep 'auto'."""
    from gpuplan.catalog import get_model
    from gpuplan.perf.predict import default_kv_dtype

    v32, r1 = get_model("deepseek-ai/DeepSeek-V3.2"), get_model("deepseek-ai/DeepSeek-R1-0528")
    assert default_kv_dtype("vllm", "fp8-block", v32) == "fp8_ds_mla"
    assert default_kv_dtype("vllm", "fp8-block", r1) == "auto"
    assert default_kv_dtype("sglang", "fp8-block", v32) == "auto"
    tab = model_table("deepseek-ai/DeepSeek-V3.2", "fp8-block", "fp8_ds_mla", 8, 1, 1)
    assert tab.kv_bytes_per_context_token_per_gpu == pytest.approx(61 * 656)
    assert tab.indexer_kv_bytes_per_context_token_per_gpu == pytest.approx(61 * (128 + 4))


def _prefill_attention(cal: CalibrationParams, hw: Hardware, prompt: int, tp: int = 8) -> float:
    tab = model_table("deepseek-ai/DeepSeek-V3.2", "fp8-block", "fp8_ds_mla", tp, 1, 1)
    st = prefill_time(tab, hw, cal, "fp8-block", prompt_tokens=prompt)
    return next(op for op in st.operations if op.name == "attention").compute_s


def test_indexer_runs_at_the_fp8_rate():
    """DeepSeek-V3.2-Exp report §2.1: the lightning indexer "can be implemented in FP8"; vLLM and SGLang score it with
    DeepGEMM's fp8_mqa_logits. H200 SXM: FP8 1979, BF16 989 TFLOP/s dense (gpus.csv). At 1,000 tokens each query
    sees every earlier key: 500,000 pairs · 61 layers · 16,384 FLOP (2 · 64 heads · 128) for the indexer."""
    hw = Hardware(memory_bandwidth_bytes_per_s=4.8e12, gemm_flops_per_s=1979e12, attention_flops_per_s=989e12,
                  fp8_flops_per_s=1979e12, tp=8, intra_node_bytes_per_s=450e9)
    pairs = 1000 * 1000 / 2
    main = pairs * 61 * 278_528 / 8 / 989e12
    assert _prefill_attention(_BARE, hw, 1000) == pytest.approx(main + pairs * 61 * 16_384 / 1979e12, rel=1e-6)


def test_vllm_flashmla_sparse_pads_heads_and_computes_the_full_topk():
    """vLLM's FlashMLA-sparse backend (vllm/v1/attention/backends/mla/flashmla_sparse.py): "kernel requires
    num_local_head to be a multiple of 64 on hopper" — 128 heads over TP 8 leave 16 per GPU, computed as 64. Its
    prefill kernel flash_mla_sparse_fwd takes indices [tokens, 1, topk] with invalid entries -1 and computes
    Q · kv[indices]ᵀ over all topk slots (FlashMLA README, "Equivalent PyTorch Code"): a 1,000-token prompt costs
    1000 · 2048 pairs, not 1000² / 2. Both are engine facts of vLLM's entry in calibration.toml."""
    from gpuplan.perf.calibration import load_calibration

    hw = Hardware(memory_bandwidth_bytes_per_s=4.8e12, gemm_flops_per_s=1979e12, attention_flops_per_s=989e12,
                  fp8_flops_per_s=1979e12, tp=8, intra_node_bytes_per_s=450e9)
    vllm = _BARE.model_copy(update={"sparse_prefill_full_topk": 1.0, "sparse_attention_min_num_heads": 64.0})
    indexer = 1000 * 1000 / 2 * 61 * 16_384 / 1979e12
    main_vllm = 1000 * 2048 * 61 * 278_528 / 8 * (64 / 16) / 989e12
    assert _prefill_attention(vllm, hw, 1000) == pytest.approx(main_vllm + indexer, rel=1e-6)
    # At TP 1 all 128 heads are on the GPU: no padding; the top-k width still applies.
    main_tp1 = 1000 * 2048 * 61 * 278_528 / 989e12
    hw1 = Hardware(memory_bandwidth_bytes_per_s=4.8e12, gemm_flops_per_s=1979e12, attention_flops_per_s=989e12,
                   fp8_flops_per_s=1979e12, tp=1)
    assert _prefill_attention(vllm, hw1, 1000, tp=1) == pytest.approx(main_tp1 + indexer, rel=1e-6)
    cal = load_calibration()
    assert cal.resolve("vllm", "hopper", "datacenter").params.sparse_attention_min_num_heads == 64
    assert cal.resolve("vllm", "hopper", "datacenter").params.sparse_prefill_full_topk == 1
    # SGLang's rows name FlashAttention-3 over per-query lengths: neither applies, though it falls back to vLLM.
    assert cal.resolve("sglang", "hopper", "datacenter").params.sparse_attention_min_num_heads == 0
    assert cal.resolve("sglang", "hopper", "datacenter").params.sparse_prefill_full_topk == 0


def test_padded_sparse_decode_fills_its_tiles():
    """Padded to 64 heads, one decode query is a 64-row tile (M = 64), computed at the GEMM efficiency of 64 rows,
    not of the 16 real heads: η(M) = η_max · M / (M + M½) (operations/gemm.py), here η_max 1 and M½ 16."""
    from gpuplan.perf.step import decode_step

    tab = model_table("deepseek-ai/DeepSeek-V3.2", "fp8-block", "fp8_ds_mla", 8, 1, 1)
    hw = Hardware(memory_bandwidth_bytes_per_s=1e30, gemm_flops_per_s=1979e12, attention_flops_per_s=989e12,
                  fp8_flops_per_s=1979e12, tp=8, intra_node_bytes_per_s=450e9)
    cal = _BARE.model_copy(update={"compute_half_m_tokens": 16.0, "sparse_attention_min_num_heads": 64.0})
    st = decode_step(tab, hw, cal, "fp8-block", batch=1, context_tokens=1000)
    att = next(op for op in st.operations if op.name == "attention")
    eta = 64 / (64 + 16)
    main = 1000 * 61 * 278_528 / 8 * 4 / (989e12 * eta)
    indexer = 1000 * 61 * 16_384 / (1979e12 * eta)
    assert att.compute_s == pytest.approx(main + indexer, rel=1e-6)


_HEADER = ("id,task,model,weight_format,kv_dtype,gpu,gpu_count,engine,tensor_parallel_size,batch,input_tokens,"
           "output_tokens,metric,value,host,engine_version,source_id\n")


def test_stated_dp_attention_reaches_the_row():
    """GPUStack's optimized SGLang run of DeepSeek-V3.2 on 8 × H200 is '--tp-size 8 --dp-size 8 --enable-dp-attention'
    (public-2-sources.md, gs_v32); public-2 has no column for it, so dataset_conditions.toml states it for N034, N035
    and N037 with that quote. The row then runs attention split over DP 8 (128 heads per GPU, its own sequences)."""
    from gpuplan.perf.predict import _deployment, find_model
    from gpuplan.perf.validation import parse_dataset

    text = _HEADER + ("N037,serving,deepseek-ai/DeepSeek-V3.2,fp8-block,,h200-sxm,8,sglang,8,500,4000,200,"
                      "output_tokens_per_s,978.37,,0.5.6.post2,N037\n")
    row = parse_dataset(text, "public-2-normalized.csv")[0]
    assert (row.data_parallel_size, row.enable_dp_attention) == (8, True)
    dep = _deployment(row, find_model(row.model))
    assert (dep.tensor_parallel_size, dep.data_parallel_size, dep.enable_dp_attention) == (8, 8, True)
    # Another file that reuses the name and the id with another value is left as it reads.
    other = parse_dataset(text.replace("978.37", "1000"), "public-2-normalized.csv")[0]
    assert (other.data_parallel_size, other.enable_dp_attention) == (None, False)
    # R1's '--tp 8 --enable-dp-attention' names no --dp-size (SGLang's default dp_size is 1): not amended.
    r1 = parse_dataset(_HEADER + ("N027,serving,deepseek-ai/DeepSeek-R1-0528,fp8-block,,h200-sxm,8,sglang,8,500,4000,"
                                  "200,output_tokens_per_s,767.42,,0.5.3,N027\n"), "public-2-normalized.csv")[0]
    assert not r1.enable_dp_attention


def test_dataset_columns_for_dp_attention():
    """A dataset of one's own can state DP attention in optional columns."""
    from gpuplan.perf.validation import parse_dataset

    text = ("id,task,model,weight_format,gpu,gpu_count,engine,tensor_parallel_size,data_parallel_size,"
            "enable_dp_attention,batch,input_tokens,output_tokens,metric,value\n"
            "X1,serving,deepseek-ai/DeepSeek-V3.2,fp8-block,h200-sxm,8,sglang,8,8,true,64,1000,1000,itl_s,0.03\n")
    row = parse_dataset(text, "mine.csv")[0]
    assert (row.data_parallel_size, row.enable_dp_attention) == (8, True)
