"""Per-model byte and FLOP tables for the step-time model, cached per (model, format, layout).

Everything the hot loop of the planner needs is precomputed here once per (model id, weight format, TP, EP,
DP-attention): bytes of the non-expert weights one GPU reads per decode step, bytes of one routed expert per MoE
layer on one GPU, matmul FLOPs per token, attention FLOPs and KV bytes per token of context.

Conventions:

* The token-embedding lookup reads one row per token: it is left out of the bytes read and of the FLOPs
  (except when the embedding is tied to the output head, which then reads the whole matrix once per step).
* Matmul FLOPs per token = 2 · (active matmul parameters): dense weights + k of E experts per MoE layer
  (Kaplan et al. 2020, "Scaling Laws for Neural Language Models", §2.1, C_forward ≈ 2N).
* Attention FLOPs per query token per context token, GQA/MHA: 4 · heads · head_dim per layer (QKᵀ and P·V, 2 FLOPs per
  multiply-add). MLA with weight absorption (DeepSeek-V2 paper §2.1.2, arXiv:2405.04434; FlashMLA): scores over the
  latent (kv_lora_rank + rope dims) and values over the latent (kv_lora_rank): 2 · heads · (2·kv_lora_rank + rope)
  per layer; the KV bytes read are the latent cache (not sharded by TP).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from gpuplan.memory.kv import INDEXER_SCALE_BYTES, KV_BITS, kv_layout
from gpuplan.memory.shard import shard_weights
from gpuplan.memory.weights import CACHE_CLEARERS, entry, model_tensor_bytes


@dataclass(frozen=True, slots=True)
class ModelTable:
    """Bytes and FLOPs of one model in one format on one GPU of a (TP, EP, DP-attention) layout, PP = 1."""

    num_layers: int
    hidden_size: int
    dense_bytes_per_gpu: float          # non-expert weights read once per step (attention, dense MLP, shared, head)
    attention_bytes_per_gpu: float      # attention weights alone (replicated under DP-attention)
    expert_bytes_per_gpu: float         # one routed expert of one MoE layer, on one GPU (÷TP when EP = 1)
    num_moe_layers: int
    num_experts: int
    top_k: int
    experts_per_gpu_fraction: float     # share of each layer's experts on one GPU (1/EP)
    whole_weights_bytes: float          # all weights of the model, all GPUs
    gemm_flops_per_token: float         # matmul FLOPs per token, whole model, routed experts excluded
    expert_flops_per_token: float       # matmul FLOPs per token in the k routed experts it is sent to, whole model
    attention_flops_per_context_token: float   # per query token, per context token, whole model
    kv_bytes_per_context_token_per_gpu: float  # KV bytes one GPU reads per context token of one sequence
    kv_window_bytes_per_token_per_gpu: float
    kv_window_tokens: int
    is_mla: bool
    num_heads: int
    attention_flops_per_context_token_prefill: float = 0.0   # MLA prefill runs un-absorbed (MHA over decompressed KV)
    family: str = ""                             # catalog family (the calibration cell's model-family key)
    vocab_size: int = 0                          # sampling reads vocab_size fp32 logits per sequence
    elementwise_bytes_per_token: float = 0.0     # norms, residuals, activations per token, whole model, one GPU
    sparse_topk_tokens: int = 0                  # DeepSeek-V3.2 DSA: keys the main attention reads per query
    indexer_kv_bytes_per_context_token_per_gpu: float = 0.0   # V3.2 lightning-indexer key cache per context token
    indexer_flops_per_context_token: float = 0.0              # indexer scores per query per context token


# Element-wise bytes per token per layer, in units of hidden_size × 2 bytes (bf16): two RMSNorms (read + write: 4),
# two residual adds (read 2 + write 1 each: 6), rotary and activation traffic folded in at ~10 more (SwiGLU reads
# gate and up and writes their product, ≈ 3 × intermediate ≈ 8–10 × hidden for the usual 2.7–3.5 × widths).
ELEMENTWISE_HIDDEN_PASSES = 20


def _indexer(arch) -> tuple[int, float, float]:
    """(top-k keys, indexer key-cache bytes per context token per layer summed, indexer FLOPs per pair summed)."""
    topk = 0
    kv_bytes = flops = 0.0
    for att in arch.attention:
        if att.kind == "mla" and att.indexer_heads:
            topk = att.indexer_topk or 0
            kv_bytes += (att.indexer_head_dim or 0) * 1 + INDEXER_SCALE_BYTES
            flops += 2 * att.indexer_heads * (att.indexer_head_dim or 0)
    return topk, kv_bytes, flops


def _prefill_attention_flops_per_context_token(arch) -> float:
    """Prefill: MLA is computed un-absorbed, as MHA over the decompressed keys and values (vLLM's and SGLang's MLA
    prefill path; DeepSeek-V2 §2.1.2): 2 · heads · (qk_nope + rope + v_head_dim) per pair per layer. GQA as decode."""
    total = 0.0
    for att in arch.attention:
        if att.kind == "mla":
            qk = (att.qk_nope_head_dim or 0) + (att.qk_rope_head_dim or 0)
            total += 2 * att.num_heads * (qk + (att.v_head_dim or 0))
        else:
            total += 4 * att.num_heads * att.head_dim
    return total


def _attention_flops_per_context_token(arch) -> float:
    """Σ over layers: GQA 4·heads·head_dim; MLA (absorbed) 2·heads·(2·kv_lora_rank + rope)."""
    total = 0.0
    for att in arch.attention:
        if att.kind == "mla":
            total += 2 * att.num_heads * (2 * (att.kv_lora_rank or 0) + (att.qk_rope_head_dim or 0))
        else:
            total += 4 * att.num_heads * att.head_dim
    return total


@lru_cache(maxsize=256)
def _split_rows(model_id: str, weight_format: str) -> tuple[tuple, tuple, tuple, float, float, float]:
    """(dense rows, attention rows, routed-expert rows, matmul params per token, expert params per token, whole weights
    bytes) of a model in a format: the same for every layout, so walked once per (model, format); the row tuples keep
    their identity, which lets shard_weights reuse its groups for every TP/EP/DP-attention of the model."""
    model = entry(model_id)
    arch = model.arch
    rows = model_tensor_bytes(model, weight_format)
    dense_rows = [(t, n) for t, n in rows if t.component not in ("routed_experts", "embed")]
    if arch.tie_word_embeddings:
        dense_rows += [(t, n) for t, n in rows if t.component == "embed"]
    attn_rows = tuple((t, n) for t, n in rows if t.component in ("attention", "indexer"))
    expert_rows = tuple((t, n) for t, n in rows if t.component == "routed_experts")
    matmul_params = 0.0
    expert_params = 0.0
    for t, _ in rows:
        if len(t.shape) < 2 or t.component in ("embed", "router_bias"):
            continue
        if t.component == "routed_experts" and t.layer is not None:
            m = arch.mlp[t.layer]
            expert_params += t.num_elements * m.top_k / m.num_experts
        else:
            matmul_params += t.num_elements
    if arch.tie_word_embeddings:
        matmul_params += arch.vocab_size * arch.hidden_size
    return tuple(dense_rows), attn_rows, expert_rows, matmul_params, expert_params, float(sum(n for _, n in rows))


@lru_cache(maxsize=4096)
def model_table(model_id: str, weight_format: str, kv_dtype: str, tp: int = 1, ep: int = 1,
                dp_attention: int = 1) -> ModelTable:
    """The table for one (model, format, KV dtype, TP, EP, DP-attention); cached for the planner's hot loop."""
    model = entry(model_id)
    arch = model.arch
    model_tensor_bytes(model, weight_format)  # registers the entry (and raises for a format the model cannot take)
    dense_rows, attn_rows, expert_rows, matmul_params, expert_params, whole = _split_rows(model_id, weight_format)
    dense = shard_weights(arch, dense_rows, tp=tp, ep=ep, dp_attention=dp_attention).per_gpu_bytes
    attn = shard_weights(arch, attn_rows, tp=tp, ep=ep, dp_attention=dp_attention).per_gpu_bytes
    moe_layers = arch.moe_layers
    num_experts = arch.num_experts
    expert_per_gpu = 0.0
    if expert_rows and moe_layers and num_experts:
        experts_gpu = shard_weights(arch, expert_rows, tp=tp, ep=ep, dp_attention=dp_attention).per_gpu_bytes
        experts_on_gpu = num_experts / ep if ep > 1 else num_experts
        expert_per_gpu = experts_gpu / (len(moe_layers) * experts_on_gpu)
    kv_dtype_eff = kv_dtype if kv_dtype in KV_BITS else "bf16"
    layout = kv_layout(arch, kv_dtype_eff, tp=max(1, tp // dp_attention), per_gpu=True)
    att0 = arch.attention[0]
    topk, indexer_bytes, indexer_flops = _indexer(arch)
    main_kv = layout.bytes_per_token - indexer_bytes
    return ModelTable(
        num_layers=arch.num_layers, hidden_size=arch.hidden_size,
        dense_bytes_per_gpu=float(dense), attention_bytes_per_gpu=float(attn), expert_bytes_per_gpu=expert_per_gpu,
        num_moe_layers=len(moe_layers), num_experts=num_experts, top_k=arch.experts_per_token,
        experts_per_gpu_fraction=1.0 / ep if ep > 1 else 1.0,
        whole_weights_bytes=whole,
        gemm_flops_per_token=2.0 * matmul_params, expert_flops_per_token=2.0 * expert_params,
        attention_flops_per_context_token=_attention_flops_per_context_token(arch),
        attention_flops_per_context_token_prefill=_prefill_attention_flops_per_context_token(arch),
        kv_bytes_per_context_token_per_gpu=main_kv,
        kv_window_bytes_per_token_per_gpu=layout.window_bytes_per_token,
        kv_window_tokens=layout.window_tokens,
        is_mla=att0.kind == "mla", num_heads=att0.num_heads, vocab_size=arch.vocab_size, family=model.family,
        elementwise_bytes_per_token=float(ELEMENTWISE_HIDDEN_PASSES * arch.hidden_size * 2 * arch.num_layers),
        sparse_topk_tokens=topk, indexer_kv_bytes_per_context_token_per_gpu=indexer_bytes,
        indexer_flops_per_context_token=indexer_flops,
    )


CACHE_CLEARERS.append(model_table.cache_clear)  # an imported model re-sized under the same id
CACHE_CLEARERS.append(_split_rows.cache_clear)
