"""Attention by kind: MHA/GQA, MLA absorbed (FlashMLA), DeepSeek-V3.2 sparse attention with its lightning indexer.

Time = max(KV bytes read / (BW · η_mem), score + value FLOPs / (P16 · η_comp(M))).

* MHA/GQA: FLOPs 4 · heads · head_dim per (query, key) pair per layer; KV read = the cache of the context; M = tokens.
* MLA absorbed (DeepSeek-V2 §2.1.2, arXiv:2405.04434; FlashMLA decodes this way): scores and values over the latent
  (2 · heads · (2 · kv_lora_rank + rope) per pair per layer); all heads of one GPU share the latent, so one decode
  query is a GEMM with M = heads on this GPU × query tokens per sequence (FlashMLA's 64-head tiles).
* DeepSeek-V3.2 DSA (DeepSeek-V3.2-Exp report): the lightning indexer scores every context token (2 · index heads ·
  index_head_dim FLOPs per pair, its fp8 key cache read in full), then MLA attends only the top-k
  (``index_topk`` = 2048) selected tokens: the main KV read and FLOPs are capped at k keys per query — in prefill
  too, query by query (a prompt's first k positions see all earlier tokens, the rest k each). DSA runs in MLA's MQA
  (absorbed) mode in prefill as well as in decode: "at the kernel level, each key-value entry must be shared across
  multiple queries for computational efficiency ... we implement DSA based on the MQA mode of MLA" (DeepSeek-V3.2-Exp
  report §2.1); FlashMLA's sparse prefill kernel takes q [tokens, heads, 576] against one shared latent [keys, 1,
  576] with 512-wide values (``flash_mla_sparse_fwd``, used by vLLM's and SGLang's V3.2 backends). A pair then costs
  2 · heads · (2 · kv_lora_rank + rope) FLOPs per layer, 3.4× dense MLA's un-absorbed prefill (2 · heads · (qk + v)).
  The V3.2-era ``flash_mla_sparse_fwd(q, kv, indices, sm_scale, d_v)`` takes indices [tokens, 1, topk] with "invalid
  entries set to -1" and computes P = Q · kv[indices]ᵀ over all topk slots (FlashMLA README, "Equivalent PyTorch
  Code"); per-query lengths (``topk_length``) came with DeepSeek-V4. An engine prefilling V3.2 through it (vLLM's
  FlashMLA-sparse backend) pays k slots for every query, also the first k positions of a prompt: a 2,000-token prompt
  costs 2000 · 2048 pairs, not 2000² / 2 (``CalibrationParams.sparse_prefill_full_topk``).
"""

from __future__ import annotations

from gpuplan.perf.operations import OpTime, roofline
from gpuplan.perf.operations.gemm import gemm_efficiency_fraction


def sparse_key_fraction(keys_per_query: float, topk_tokens: int) -> float:
    """Share of the context the main attention reads: min(1, top-k / keys per query); 1 for dense attention."""
    if topk_tokens <= 0 or keys_per_query <= topk_tokens:
        return 1.0
    return topk_tokens / keys_per_query


def sparse_prefill_pairs(cached_tokens: float, new_tokens: float, topk_tokens: int) -> float:
    """(query, key) pairs the main attention of one prompt reads when each query keeps at most ``topk_tokens`` keys:
    ∫ min(position, k) over the new positions c … c + n (the dense count, n · (c + n / 2), when c + n ≤ k)."""
    c, n, k = cached_tokens, new_tokens, float(topk_tokens)
    if k <= 0 or c + n <= k:
        return n * (c + n / 2)
    if c >= k:
        return n * k
    return (k * k - c * c) / 2 + (c + n - k) * k


def attention_op(*, kv_bytes: float, flops: float, m_rows: float, bytes_per_s: float, flops_per_s: float,
                 eta_max: float, half_m_tokens: float, indexer_kv_bytes: float = 0.0,
                 indexer_flops: float = 0.0, indexer_flops_per_s: float = 0.0) -> OpTime:
    """Attention of all layers on one GPU (module docstring); the indexer's reads and FLOPs are added in, its FLOPs
    at ``indexer_flops_per_s`` (the FP8 rate: "the lightning indexer ... can be implemented in FP8", DeepSeek-V3.2-Exp
    report §2.1; vLLM and SGLang score it with DeepGEMM's fp8_mqa_logits), else at the 16-bit rate."""
    eta = max(gemm_efficiency_fraction(m_rows, eta_max, half_m_tokens), 1e-6)
    memory_s = (kv_bytes + indexer_kv_bytes) / bytes_per_s if bytes_per_s > 0 else 0.0
    compute_s = flops / (flops_per_s * eta) if flops else 0.0
    if indexer_flops:
        compute_s += indexer_flops / ((indexer_flops_per_s or flops_per_s) * eta)
    return roofline("attention", memory_s, compute_s)


def attention_kind(is_mla: bool, sparse_topk_tokens: int) -> str:
    """'gqa', 'mla' or 'mla-sparse' (V3.2 DSA): the name the breakdown shows."""
    if not is_mla:
        return "gqa"
    return "mla-sparse" if sparse_topk_tokens else "mla"


__all__ = ["OpTime", "attention_kind", "attention_op", "sparse_key_fraction", "sparse_prefill_pairs"]
