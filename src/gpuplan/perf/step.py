"""Step time: the sum of the operators of one forward pass plus communication and fixed costs (DESIGN §6).

One engine step processes ``new_tokens`` tokens (decode: one per sequence; prefill: a chunk of a prompt) for
``num_seqs`` sequences on one model replica. Its time on the most loaded GPU is the sum of the operations
(:mod:`gpuplan.perf.operations`, one module per kind), each at min(roofline, fitted efficiency):

    dense GEMMs     max(W_dense / (BW · η_mem · f_fmt), F_dense / (P · η_comp(T) · g_fmt))
    MoE experts     max(W_touched / (BW · η_mem · f_fmt), F_expert / (P · η_comp(T·k/touched) · g_fmt))
    attention       max(KV / (BW · η_mem), F_attn / (P16 · η_comp(M_attn)))      (+ V3.2 indexer; top-k keys)
    element-wise    norms, residuals, activations, sampling: bytes / (BW · η_mem)
    communication   TP all-reduce, EP all-to-all, PP p2p
    host            experts or layers in host RAM (CPU bandwidth and AVX-512/AMX compute)
    overhead        step_overhead + layer_overhead · layers + seq_overhead · sequences

with η_comp(M) = η_max · M / (M + M½), M = rows per GEMM. Pipeline parallelism: each sequence still passes every
layer once per token, so a token's latency is the whole-model time on one TP group plus (PP − 1) p2p hops; PP only
divides memory.

The planner bounds these steps from below before it estimates (gpuplan/plan/bounds.py mirrors the weight, expert and
KV read rates and the fixed costs): a change to them here needs the same change there (tests/test_plan_prune.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

from gpuplan.perf.calibration import CalibrationParams
from gpuplan.perf.operations import OpTime
from gpuplan.perf.operations.attention import attention_op, sparse_key_fraction, sparse_prefill_pairs
from gpuplan.perf.operations.communication import (
    all_to_all_s,
    ep_all_to_all_op,
    pp_send_op,
    ring_allreduce_s,
    tp_allreduce_op,
)
from gpuplan.perf.operations.elementwise import elementwise_op, sampling_op
from gpuplan.perf.operations.gemm import gemm_efficiency_fraction, gemm_op
from gpuplan.perf.operations.host import host_experts_op, host_layers_op
from gpuplan.perf.operations.moe import expected_experts_touched, moe_op
from gpuplan.perf.operations.overhead import overhead_op
from gpuplan.perf.tables import ModelTable

MAX_MEM_EFFICIENCY_FRACTION = 0.95  # no kernel streams memory faster than this share of the vendor peak
# More queries per sequence than this in one step = a prefill chunk (speculative decoding verifies a few tokens).
PREFILL_QUERIES_PER_SEQ = 16
ACTIVATION_BYTES = 2  # bf16 activations on the wire (TP all-reduce, EP dispatch/combine, PP p2p)

__all__ = ["ACTIVATION_BYTES", "Hardware", "StepTime", "all_to_all_s", "decode_step", "expected_experts_touched",
           "gemm_efficiency_fraction", "pipeline_bubble_fraction", "prefill_time", "ring_allreduce_s", "step_time"]

# Which aggregate term (StepTime field / ServingEstimate.bottleneck_term) an operation's time belongs to.
_TERM = {("dense_gemm", "memory"): "weights", ("dense_gemm", "compute"): "compute",
         ("moe_experts", "memory"): "weights", ("moe_experts", "compute"): "compute",
         ("attention", "memory"): "kv", ("attention", "compute"): "attention"}


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
    fp8_flops_per_s: float = 0.0     # FP8 peak where the GPU has FP8 units (V3.2's indexer); 0 = none
    tp: int = 1
    pp: int = 1
    ep: int = 1
    dp_attention: int = 1
    intra_node_bytes_per_s: float = 32e9
    ep_link_bytes_per_s: float = 32e9
    host_bytes_per_s: float = 0.0
    host_resident_fraction: float = 0.0   # share of the (non-expert) weights in host RAM (llama.cpp -ngl)
    host_experts: bool = False            # routed experts in host RAM (KTransformers, --n-cpu-moe)
    host_flops_per_s: float = 0.0         # host CPU peak for the experts' compute (0 = not stated: memory only)
    host_expert_fraction: float = 1.0     # share of the MoE layers whose experts are on the host (--n-cpu-moe N)
    tp_spans_nodes: bool = False          # the TP group crosses nodes (its all-reduce hops through the NIC)
    ep_spans_nodes: bool = False          # the EP group crosses nodes


class StepTime(NamedTuple):
    """Seconds of one step by term; ``total_s`` is the sum of ``operations`` (module docstring). A named tuple:
    immutable and cheap to build (the planner computes thousands of steps)."""

    weights_read_s: float
    gemm_compute_s: float
    kv_read_s: float
    attention_compute_s: float
    comm_s: float
    host_s: float
    overhead_s: float
    total_s: float
    operations: tuple[OpTime, ...] = ()

    def dominant(self) -> tuple[str, float]:
        """(term, fraction of total) of the largest contributor: 'weights', 'kv', 'compute', 'attention', ..."""
        parts: dict[str, float] = {}
        for op in self.operations:
            term = _TERM.get((op.name, op.bound))
            if term is None:
                term = {"communication": "communication", "overhead": "overhead", "host_memory": "host",
                        "host_compute": "host"}.get(op.bound, "elementwise")
            parts[term] = parts.get(term, 0.0) + op.time_s
        if not parts:
            return "overhead", 0.0
        key = max(parts, key=lambda k: parts[k])
        return key, (parts[key] / self.total_s if self.total_s > 0 else 0.0)


def step_time(tab: ModelTable, hw: Hardware, cal: CalibrationParams, weight_format: str, *, new_tokens: float,
              num_seqs: float, kv_tokens_read: float, attention_pairs: float, weight_passes: float = 1.0,
              attended_pairs: float | None = None) -> StepTime:
    """Time of a step that runs ``new_tokens`` tokens of ``num_seqs`` sequences through the whole model.

    ``kv_tokens_read``: context tokens whose KV the step reads, summed over sequences (the whole replica).
    ``attention_pairs``: (query, key) pairs the step scores, summed over sequences (V3.2's indexer scores them all).
    ``attended_pairs``: the pairs the main attention reads after V3.2's top-k selection (prefill: each query's own
    min(keys, k), summed); None = ``attention_pairs`` capped at k keys per query on average (decode).
    ``weight_passes``: how often the weights are streamed (chunked prefill reads them once per chunk).
    """
    eta_mem = cal.mem_efficiency_fraction
    bw = hw.memory_bandwidth_bytes_per_s
    eta_max, half_m = cal.compute_efficiency_fraction, cal.compute_half_m_tokens
    eta_w = min(eta_mem * cal.mem_factor(weight_format, tab.family), MAX_MEM_EFFICIENCY_FRACTION)
    w_rate = bw * eta_w / weight_passes          # weights are read once per pass
    peak = hw.gemm_flops_per_s * cal.compute_factor(weight_format, tab.family)
    tokens_per_pass = new_tokens / max(weight_passes, 1.0)
    ops: list[OpTime] = []

    # Dense GEMMs (attention projections, dense MLPs, shared experts, head); layers on the host stream from there.
    dense_bytes = tab.dense_bytes_per_gpu
    host_layer_bytes = dense_bytes * hw.host_resident_fraction if hw.host_resident_fraction > 0 else 0.0
    ops.append(gemm_op("dense_gemm", weight_bytes=dense_bytes - host_layer_bytes,
                       flops=new_tokens * tab.gemm_flops_per_token / hw.tp, m_tokens=tokens_per_pass,
                       bytes_per_s=w_rate, flops_per_s=peak, eta_max=eta_max, half_m_tokens=half_m))
    host_mem_rate = hw.host_bytes_per_s * cal.host_mem_efficiency_fraction / weight_passes
    if host_layer_bytes:
        ops.append(host_layers_op(weight_bytes=host_layer_bytes, host_bytes_per_s=host_mem_rate))

    # Routed experts: distinct experts touched per pass; with DP-attention the MoE layers see every rank's tokens.
    if tab.num_moe_layers and tab.num_experts:
        touched = expected_experts_touched(tab.num_experts, tab.top_k, tokens_per_pass)
        expert_bytes = tab.num_moe_layers * touched * tab.experts_per_gpu_fraction * tab.expert_bytes_per_gpu
        tp_expert = hw.ep if hw.ep > 1 else hw.tp
        expert_flops = new_tokens * tab.expert_flops_per_token / tp_expert
        on_host = hw.host_expert_fraction if hw.host_experts else 0.0
        if on_host:
            host_peak = hw.host_flops_per_s * cal.host_compute_efficiency_fraction
            ops.append(host_experts_op(expert_bytes=expert_bytes * on_host, flops=expert_flops * on_host,
                                       host_bytes_per_s=host_mem_rate, host_flops_per_s=host_peak))
        if on_host < 1.0:
            e_rate = bw * min(eta_mem * cal.expert_mem_factor(weight_format, tab.family),
                              MAX_MEM_EFFICIENCY_FRACTION) / weight_passes
            e_peak = hw.gemm_flops_per_s * cal.expert_compute_factor(weight_format, tab.family)
            ops.append(moe_op(expert_bytes=expert_bytes * (1 - on_host), flops=expert_flops * (1 - on_host),
                              tokens=tokens_per_pass, top_k=tab.top_k, touched=touched, bytes_per_s=e_rate,
                              flops_per_s=e_peak, eta_max=eta_max, half_m_tokens=half_m))

    # Attention: KV read vs score/value math; V3.2 reads only the top-k keys after its indexer scores them all. The
    # indexer is not split by TP: vLLM and SGLang build it from ReplicatedLinear layers ("no tensor parallel, just
    # replicated", vLLM deepseek_v2.py Indexer), so every GPU of the group scores all 64 index heads of its tokens.
    att_group = max(1, hw.tp // hw.dp_attention)  # GPUs sharing one sequence's attention heads
    share = 1.0 / hw.dp_attention                 # sequences whose KV one GPU reads
    if attended_pairs is None:
        frac = sparse_key_fraction(attention_pairs / max(new_tokens, 1e-9), tab.sparse_topk_tokens)
    else:  # (above 1 when a kernel computes masked top-k slots beyond the causal count: prefill_time)
        frac = attended_pairs / attention_pairs if attention_pairs > 0 else 1.0
    kv_bytes = kv_tokens_read * share * tab.kv_bytes_per_context_token_per_gpu * min(frac, 1.0)
    heads_per_gpu = max(1.0, tab.num_heads / att_group)
    queries_per_seq = new_tokens / max(num_seqs, 1.0)
    # MLA decodes absorbed (all heads of a GPU share the latent: M = heads × queries); a prefill chunk of dense MLA
    # runs un-absorbed (MHA over the decompressed keys). DSA (V3.2) prefills absorbed too: its sparse kernel shares
    # each selected latent across all query heads ("MQA mode", operations/attention.py).
    prefill = tab.is_mla and queries_per_seq > PREFILL_QUERIES_PER_SEQ
    attn_m = heads_per_gpu * max(1.0, queries_per_seq) if tab.is_mla and not prefill else new_tokens
    per_pair = (tab.attention_flops_per_context_token_prefill or tab.attention_flops_per_context_token) \
        if prefill and not tab.sparse_topk_tokens else tab.attention_flops_per_context_token
    # A sparse kernel that needs a minimum number of heads per GPU computes the padded heads too
    # (``sparse_attention_min_num_heads``: FlashMLA's sparse kernels take 64 heads on Hopper).
    # Its tiles are then full: a decode GEMM of M = padded heads × queries rows, not the real heads'.
    pad = max(1.0, cal.sparse_attention_min_num_heads / heads_per_gpu) if tab.sparse_topk_tokens else 1.0
    if tab.is_mla and not prefill:
        attn_m *= pad
    ops.append(attention_op(
        kv_bytes=kv_bytes, flops=attention_pairs * share * frac * per_pair / att_group * pad, m_rows=attn_m,
        bytes_per_s=bw * eta_mem, flops_per_s=hw.attention_flops_per_s, eta_max=eta_max, half_m_tokens=half_m,
        indexer_kv_bytes=kv_tokens_read * share * tab.indexer_kv_bytes_per_context_token_per_gpu,
        indexer_flops=attention_pairs * share * tab.indexer_flops_per_context_token,
        indexer_flops_per_s=hw.fp8_flops_per_s))

    # Element-wise kernels and sampling.
    if tab.elementwise_bytes_per_token:
        ops.append(elementwise_op(bytes_per_token=tab.elementwise_bytes_per_token * weight_passes,
                                  tokens=tokens_per_pass * share, bytes_per_s=bw * eta_mem,
                                  hidden_bytes_per_token=tab.hidden_size * ACTIVATION_BYTES))
    if tab.vocab_size:
        ops.append(sampling_op(vocab_size=tab.vocab_size, num_seqs=num_seqs * share, bytes_per_s=bw * eta_mem))

    # Communication.
    layers = tab.num_layers
    alpha = cal.allreduce_latency_s
    if hw.tp > 1:
        msg = tokens_per_pass * share * tab.hidden_size * ACTIVATION_BYTES
        ops.append(tp_allreduce_op(message_bytes=msg, ranks=att_group, calls=weight_passes * 2 * layers,
                                   link_bytes_per_s=hw.intra_node_bytes_per_s,
                                   latency_s=cal.internode_latency_s if hw.tp_spans_nodes else alpha))
    if hw.ep > 1 and tab.num_moe_layers:
        sent = tokens_per_pass * share * tab.top_k * tab.hidden_size * ACTIVATION_BYTES
        ops.append(ep_all_to_all_op(bytes_per_rank=sent, ranks=hw.ep, calls=weight_passes * 2 * tab.num_moe_layers,
                                    link_bytes_per_s=hw.ep_link_bytes_per_s,
                                    latency_s=cal.internode_latency_s if hw.ep_spans_nodes else alpha))
    if hw.pp > 1:
        ops.append(pp_send_op(message_bytes=tokens_per_pass * tab.hidden_size * ACTIVATION_BYTES,
                              hops=weight_passes * (hw.pp - 1), link_bytes_per_s=hw.intra_node_bytes_per_s,
                              latency_s=alpha))

    ops.append(overhead_op(passes=weight_passes, layers=layers, num_seqs=num_seqs,
                           step_overhead_s=cal.step_overhead_s, layer_overhead_s=cal.layer_overhead_s,
                           seq_overhead_s=cal.seq_overhead_s))
    return _combine(ops)


def _combine(ops: list[OpTime]) -> StepTime:
    weights = compute = kv = attn = comm = host = overhead = total = 0.0
    for op in ops:
        total += op.time_s
        if op.name in ("dense_gemm", "moe_experts"):
            weights += op.memory_s
            compute += op.compute_s
        elif op.name == "attention":
            kv += op.memory_s
            attn += op.compute_s
        elif op.bound == "communication":
            comm += op.time_s
        elif op.name.startswith("host_"):
            host += op.time_s
        else:
            overhead += op.time_s
    return StepTime(weights, compute, kv, attn, comm, host, overhead, total, tuple(ops))


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
    causal attention scores new × (cached + new / 2) pairs per prompt. DSA (V3.2) attends min(position, k) keys per
    query, or k for every query where the engine's kernel computes the full top-k width
    (``sparse_prefill_full_topk``, operations/attention.py).
    """
    new = max(prompt_tokens - cached_tokens, 1.0) * num_prompts
    chunk = max(cal.prefill_chunk_tokens, 1.0)
    passes = max(1.0, math.ceil(new / chunk))
    per_prompt_new = new / num_prompts
    pairs = num_prompts * per_prompt_new * (cached_tokens + per_prompt_new / 2)
    attended = None
    if tab.sparse_topk_tokens:
        attended = num_prompts * (per_prompt_new * tab.sparse_topk_tokens if cal.sparse_prefill_full_topk
                                  else sparse_prefill_pairs(cached_tokens, per_prompt_new, tab.sparse_topk_tokens))
    return step_time(tab, hw, cal, weight_format, new_tokens=new, num_seqs=num_prompts,
                     kv_tokens_read=num_prompts * prompt_tokens, attention_pairs=pairs, weight_passes=passes,
                     attended_pairs=attended)
