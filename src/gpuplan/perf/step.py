"""Step time: roofline with fitted efficiencies, MoE expert touch, communication and fixed overheads (DESIGN §6).

One engine step processes ``new_tokens`` tokens (decode: one per sequence; prefill: a chunk of a prompt) for
``num_seqs`` sequences on one model replica. Its time on the most loaded GPU is

    t = max(W / (BW · η_mem · f_fmt), F_gemm / (P · η_comp(M) · g_fmt))          weights vs matmuls
      + max(KV / (BW · η_mem), F_attn / (P16 · η_comp(heads per GPU)))         KV reads vs attention math
      + t_comm (TP all-reduce, EP all-to-all, PP p2p) + t_host (weights in host RAM)
      + step_overhead + layer_overhead · layers + seq_overhead · sequences

with η_comp(M) = η_max · M / (M + M½), M = tokens per GEMM (for a routed expert: the tokens sent to it, T · k / touched).
Pipeline parallelism: each sequence still passes every layer once per token,
so a token's latency is the whole-model time on one TP group plus (PP − 1) p2p hops; PP only divides memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gpuplan.perf.calibration import CalibrationParams
from gpuplan.perf.tables import ModelTable

MAX_MEM_EFFICIENCY_FRACTION = 0.95  # no kernel streams memory faster than this share of the vendor peak
ACTIVATION_BYTES = 2  # bf16 activations on the wire (TP all-reduce, EP dispatch/combine, PP p2p)


def expected_experts_touched(num_experts: int, top_k: int, num_tokens: float) -> float:
    """Expected distinct experts a step touches in one MoE layer: E · (1 − (1 − k/E)^T).

    Each of T tokens picks k of E experts; with uniform routing an expert stays untouched with probability
    (1 − k/E)^T (DESIGN §6; uniform routing is an assumption — real routers are skewed, touching fewer).
    """
    if num_experts <= 0 or top_k <= 0 or num_tokens <= 0:
        return 0.0
    return num_experts * (1.0 - (1.0 - top_k / num_experts) ** num_tokens)


def gemm_efficiency_fraction(m_tokens: float, eta_max: float, half_m_tokens: float) -> float:
    """η_comp(M) = η_max · M / (M + M½): a GEMM with M rows reaches half its best efficiency at M = M½."""
    if m_tokens <= 0:
        return 0.0
    return eta_max * m_tokens / (m_tokens + half_m_tokens)


def ring_allreduce_s(message_bytes: float, num_ranks: int, link_bytes_per_s: float, latency_s: float) -> float:
    """Ring all-reduce: 2(n−1)/n · M / bw + 2(n−1) · α (Patarasuk & Yuan 2009; NCCL ring algorithm).

    Reduce-scatter then all-gather, each n−1 steps moving M/n bytes; α is the per-step latency, which dominates the
    small messages of decode.
    """
    if num_ranks <= 1:
        return 0.0
    n = num_ranks
    return 2 * (n - 1) / n * message_bytes / link_bytes_per_s + 2 * (n - 1) * latency_s


def all_to_all_s(bytes_per_rank: float, num_ranks: int, link_bytes_per_s: float, latency_s: float) -> float:
    """All-to-all: each rank sends (n−1)/n of its ``bytes_per_rank`` to the others: (n−1)/n · B / bw + (n−1) · α."""
    if num_ranks <= 1:
        return 0.0
    n = num_ranks
    return (n - 1) / n * bytes_per_rank / link_bytes_per_s + (n - 1) * latency_s


def pipeline_bubble_fraction(stages: int, microbatches: int) -> float:
    """GPipe / 1F1B bubble: (p − 1) / (m + p − 1) of the step is idle (Huang et al. 2019; Narayanan et al. 2021)."""
    if stages <= 1:
        return 0.0
    return (stages - 1) / (microbatches + stages - 1)


@dataclass(frozen=True, slots=True)
class Hardware:
    """What one GPU of the replica offers, in base units, plus the layout of the replica."""

    memory_bandwidth_bytes_per_s: float
    gemm_flops_per_s: float          # peak for the weights' compute path (fp8, int8, 16-bit)
    attention_flops_per_s: float     # 16-bit peak (attention runs in bf16/fp16)
    tp: int = 1
    pp: int = 1
    ep: int = 1
    dp_attention: int = 1
    intra_node_bytes_per_s: float = 32e9
    ep_link_bytes_per_s: float = 32e9
    host_bytes_per_s: float = 0.0
    host_resident_fraction: float = 0.0   # share of the (non-expert) weights in host RAM (llama.cpp -ngl)
    host_experts: bool = False            # routed experts in host RAM (KTransformers, --n-cpu-moe)


@dataclass(frozen=True, slots=True)
class StepTime:
    """Seconds of one step by term; ``total_s`` is their combination (module docstring)."""

    weights_read_s: float
    gemm_compute_s: float
    kv_read_s: float
    attention_compute_s: float
    comm_s: float
    host_s: float
    overhead_s: float
    total_s: float

    def dominant(self) -> tuple[str, float]:
        """(term, fraction of total) of the largest contributor: 'weights', 'kv', 'compute', 'attention', ..."""
        w = max(self.weights_read_s, self.gemm_compute_s)
        a = max(self.kv_read_s, self.attention_compute_s)
        parts = {
            "weights" if self.weights_read_s >= self.gemm_compute_s else "compute": w,
            "kv" if self.kv_read_s >= self.attention_compute_s else "attention": a,
            "communication": self.comm_s, "host": self.host_s, "overhead": self.overhead_s,
        }
        key = max(parts, key=lambda k: parts[k])
        return key, (parts[key] / self.total_s if self.total_s > 0 else 0.0)


def step_time(tab: ModelTable, hw: Hardware, cal: CalibrationParams, weight_format: str, *, new_tokens: float,
              num_seqs: float, kv_tokens_read: float, attention_pairs: float, weight_passes: float = 1.0) -> StepTime:
    """Time of a step that runs ``new_tokens`` tokens of ``num_seqs`` sequences through the whole model.

    ``kv_tokens_read``: context tokens whose KV the step reads, summed over sequences (the whole replica).
    ``attention_pairs``: (query, key) pairs the step scores, summed over sequences.
    ``weight_passes``: how often the weights are streamed (chunked prefill reads them once per chunk).
    """
    eta_mem = cal.mem_efficiency_fraction
    bw = hw.memory_bandwidth_bytes_per_s
    # MoE: distinct experts touched per pass; with DP-attention the MoE layers still see every rank's tokens.
    tokens_per_pass = new_tokens / max(weight_passes, 1.0)
    touched = expected_experts_touched(tab.num_experts, tab.top_k, tokens_per_pass)
    expert_bytes = tab.num_moe_layers * touched * tab.experts_per_gpu_fraction * tab.expert_bytes_per_gpu
    dense_bytes = tab.dense_bytes_per_gpu
    host_s = 0.0
    if hw.host_experts and expert_bytes:
        host_s += weight_passes * expert_bytes / max(hw.host_bytes_per_s * eta_mem, 1.0)
        expert_bytes = 0.0
    if hw.host_resident_fraction > 0:
        host_bytes = dense_bytes * hw.host_resident_fraction
        host_s += weight_passes * host_bytes / max(hw.host_bytes_per_s * eta_mem, 1.0)
        dense_bytes -= host_bytes
    eta_w = min(eta_mem * cal.mem_factor(weight_format), MAX_MEM_EFFICIENCY_FRACTION)
    weights_read_s = weight_passes * (dense_bytes + expert_bytes) / (bw * eta_w)

    tp_dense = hw.tp
    tp_expert = hw.ep if hw.ep > 1 else hw.tp
    eta_c = gemm_efficiency_fraction(tokens_per_pass, cal.compute_efficiency_fraction, cal.compute_half_m_tokens)
    peak = hw.gemm_flops_per_s * cal.compute_factor(weight_format)
    gemm_compute_s = new_tokens * tab.gemm_flops_per_token / tp_dense / (peak * max(eta_c, 1e-6))
    if tab.expert_flops_per_token:
        # Each touched expert multiplies only the tokens routed to it: M = T · k / touched rows per expert GEMM.
        m_expert = tokens_per_pass * tab.top_k / max(touched, 1e-9)
        eta_e = gemm_efficiency_fraction(m_expert, cal.compute_efficiency_fraction, cal.compute_half_m_tokens)
        gemm_compute_s += new_tokens * tab.expert_flops_per_token / tp_expert / (peak * max(eta_e, 1e-6))

    att_group = max(1, hw.tp // hw.dp_attention)  # GPUs sharing one sequence's attention heads
    share = 1.0 / hw.dp_attention                 # sequences whose KV one GPU reads
    kv_bytes = kv_tokens_read * share * tab.kv_bytes_per_context_token_per_gpu
    kv_read_s = kv_bytes / (bw * eta_mem)
    heads_per_gpu = max(1.0, tab.num_heads / att_group)
    attn_m = heads_per_gpu * max(1.0, new_tokens / max(num_seqs, 1.0)) if tab.is_mla else new_tokens
    eta_a = gemm_efficiency_fraction(attn_m, cal.compute_efficiency_fraction, cal.compute_half_m_tokens)
    attn_flops = attention_pairs * share * tab.attention_flops_per_context_token / att_group
    attention_compute_s = attn_flops / (hw.attention_flops_per_s * max(eta_a, 1e-6))

    comm_s = 0.0
    layers = tab.num_layers
    if hw.tp > 1:
        msg = tokens_per_pass * share * tab.hidden_size * ACTIVATION_BYTES
        comm_s += weight_passes * 2 * layers * ring_allreduce_s(msg, att_group, hw.intra_node_bytes_per_s,
                                                                cal.allreduce_latency_s)
    if hw.ep > 1 and tab.num_moe_layers:
        sent = tokens_per_pass * share * tab.top_k * tab.hidden_size * ACTIVATION_BYTES
        comm_s += weight_passes * 2 * tab.num_moe_layers * all_to_all_s(sent, hw.ep, hw.ep_link_bytes_per_s,
                                                                        cal.allreduce_latency_s)
    if hw.pp > 1:
        msg = tokens_per_pass * tab.hidden_size * ACTIVATION_BYTES
        comm_s += weight_passes * (hw.pp - 1) * (msg / hw.intra_node_bytes_per_s + cal.allreduce_latency_s)

    overhead_s = weight_passes * (cal.step_overhead_s + cal.layer_overhead_s * layers) + cal.seq_overhead_s * num_seqs
    total = (max(weights_read_s, gemm_compute_s) + max(kv_read_s, attention_compute_s) + comm_s + host_s
             + overhead_s)
    return StepTime(weights_read_s, gemm_compute_s, kv_read_s, attention_compute_s, comm_s, host_s, overhead_s,
                    total)


def decode_step(tab: ModelTable, hw: Hardware, cal: CalibrationParams, weight_format: str, *, batch: float,
                context_tokens: float, tokens_per_seq: int = 1) -> StepTime:
    """One decode step at ``batch`` sequences of ``context_tokens`` context (``tokens_per_seq`` > 1: speculative)."""
    b = max(batch, 1e-9)
    return step_time(tab, hw, cal, weight_format, new_tokens=b * tokens_per_seq, num_seqs=b,
                     kv_tokens_read=b * context_tokens, attention_pairs=b * tokens_per_seq * context_tokens)


def prefill_time(tab: ModelTable, hw: Hardware, cal: CalibrationParams, weight_format: str, *, prompt_tokens: float,
                 num_prompts: float = 1.0, cached_tokens: float = 0.0) -> StepTime:
    """Prefill ``num_prompts`` prompts of ``prompt_tokens`` (``cached_tokens`` of each already in the prefix cache).

    Chunked: the new tokens are processed ``prefill_chunk_tokens`` at a time, each chunk streaming the weights once;
    causal attention scores new × (cached + new / 2) pairs per prompt.
    """
    new = max(prompt_tokens - cached_tokens, 1.0) * num_prompts
    chunk = max(cal.prefill_chunk_tokens, 1.0)
    passes = max(1.0, math.ceil(new / chunk))
    per_prompt_new = new / num_prompts
    pairs = num_prompts * per_prompt_new * (cached_tokens + per_prompt_new / 2)
    return step_time(tab, hw, cal, weight_format, new_tokens=new, num_seqs=num_prompts,
                     kv_tokens_read=num_prompts * prompt_tokens, attention_pairs=pairs, weight_passes=passes)
