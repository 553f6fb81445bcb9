"""Prefill/decode disaggregation with wide expert parallelism (xPyD), as DeepSeek and SGLang serve V3/R1 (DESIGN §6).

A PD deployment has a prefill pool of P nodes and a decode pool of D nodes. Inside each pool every GPU runs attention
and the dense layers data-parallel on its own sequences (DP-attention) and holds 1/EP of the routed experts, EP = the
pool's GPU count; tokens reach their experts through DeepEP all-to-all (dispatch FP8, combine BF16). Two micro-batches
overlap one's communication with the other's computation (two-batch overlap, TBO). The KV cache of each prompt moves
from the prefill GPU to a decode GPU over RDMA.

Per GPU, for one forward of ``t`` tokens (prefill: a chunk of prompts; decode: b sequences × (1 + draft tokens)):

    compute  = Σ GEMMs (dense weights of the replica + the routed-expert share) at the FP8 grouped-GEMM rate
             + attention (decode: absorbed MLA, max(KV bytes / FlashMLA bandwidth, FLOPs / FlashMLA rate);
                          prefill: MLA without absorption, FLOPs / the BF16 attention rate)
             + glue (norms, FP8 casts, RoPE, SiLU·mul, permutes: activation bytes / streaming bandwidth, zero when a
                     micro-batch's activations stay in the L2, as the perf layer's element-wise operator rules)
    comm     = Σ MoE layers (dispatch + combine bytes) / DeepEP's measured bandwidth at this EP size
    step     = max(compute · SM share, comm) / balancedness      with TBO (comm hidden behind the other micro-batch)
             = (compute + comm) / balancedness                    without

``balancedness`` (mean ÷ max expert load over the GPUs) makes the most loaded GPU set the pace. Every rate is a
published kernel measurement (constants below, with sources), not fitted to the throughput figures the tests
reproduce. The step model's other primitives (expert touch, all-to-all, tables) come from ``perf.step`` and
``perf.tables``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from gpuplan.catalog import GpuSpec, get_gpu
from gpuplan.catalog.models import ModelEntry
from gpuplan.errors import InvalidInputError, UnsupportedError
from gpuplan.memory.kv import resolve_kv_dtype
from gpuplan.memory.weights import resolve_format
from gpuplan.perf.operations.elementwise import elementwise_op
from gpuplan.perf.serving import MTP_ACCEPTANCE_FRACTION, _peak
from gpuplan.perf.step import expected_experts_touched
from gpuplan.perf.tables import ModelTable, model_table

# --- Published kernel rates (H800 SXM, the GPU they were measured on; scaled by the catalog's peak elsewhere) ---
# DeepGEMM README (github.com/deepseek-ai/DeepGEMM, 2025-03): FP8 grouped GEMMs for MoE on H800.
# Contiguous layout (prefill), 4 rows: 1297, 1099, 1288, 1093 TFLOPS → mean 1194 of the 1979 dense FP8 peak.
PREFILL_GEMM_FRACTION = 1194e12 / 1979e12
# Masked layout (decode), M = 256 per group: 932 and 815 TFLOPS → mean 874 of 1979.
DECODE_GEMM_FRACTION = 874e12 / 1979e12
# FlashMLA README (github.com/deepseek-ai/FlashMLA, 2025-04): "up to 3000 GB/s in memory-bound configuration and
# 660 TFLOPS in computation-bound configuration on H800 SXM5" (peak 3.35 TB/s, 989 BF16 TFLOPS).
FLASHMLA_BANDWIDTH_FRACTION = 3000e9 / 3.35e12
FLASHMLA_COMPUTE_FRACTION = 660e12 / 989.5e12
# FlashAttention-3 (Shah et al. 2024, arXiv:2407.08608, abstract): BF16 "up to 740 TFLOPS (75% utilization)" on H100;
# prefill MLA runs as multi-head attention with decompressed keys and values.
PREFILL_ATTENTION_FRACTION = 0.75
# Weights streamed by the decode GEMMs at the masked-layout kernels' bandwidth: DeepGEMM masked rows above reach
# 2064 / 2047 GB/s at M = 256 on a 3.35 TB/s part.
DECODE_WEIGHT_BANDWIDTH_FRACTION = 2055e9 / 3.35e12
# DeepEP docs/legacy.md (github.com/deepseek-ai/DeepEP): H800 + CX7 400 Gb/s.
# Low-latency kernels (decode; 128 tokens, top-8, FP8 dispatch, BF16 combine), RDMA GB/s by EP size:
DEEPEP_LL_DISPATCH_BYTES_PER_S = {8: 98e9, 16: 63e9, 32: 48e9, 64: 43e9, 128: 39e9, 256: 39e9}
DEEPEP_LL_COMBINE_BYTES_PER_S = {8: 127e9, 16: 74e9, 32: 53e9, 64: 46e9, 128: 39e9, 256: 40e9}
# Normal kernels (prefill; 4096 tokens): intranode EP8 NVLink 153/158 GB/s; internode RDMA by EP size.
DEEPEP_NORMAL_DISPATCH_BYTES_PER_S = {8: 153e9, 16: 43e9, 32: 58e9, 64: 51e9}
DEEPEP_NORMAL_COMBINE_BYTES_PER_S = {8: 158e9, 16: 43e9, 32: 57e9, 64: 50e9}
# DeepEP normal kernels take SMs from the GEMMs while they overlap: the README's example sets Buffer.set_num_sms(24)
# of the H800's 132 SMs (NVIDIA H100/H800 SXM5: 132 SMs).
PREFILL_COMM_SMS = 24
HOPPER_SMS = 132
# Expert-load balancedness (mean / max tokens per GPU) with EPLB: SGLang measured prefill at 50,302 tokens/s per node
# with its default expert placement vs 59,337 with a simulated perfectly balanced one (LMSYS blog, 2025-05-05,
# "Deploying DeepSeek with PD Disaggregation and Large-scale Expert Parallelism on 96 H100 GPUs", Profile Results).
EXPERT_BALANCEDNESS_FRACTION = 50302 / 59337
# DeepEP's low-latency buffers hold num_max_dispatch_tokens_per_rank tokens per dispatch, which "should be less than
# 256" (DeepEP docs/legacy.md); with two micro-batches per step that is at most 512 tokens per GPU per decode step.
MAX_DECODE_TOKENS_PER_GPU = 512
# One CX7 400 Gb/s NIC per GPU (DGX H100/H800): the path the KV cache takes from a prefill GPU to a decode GPU.
RDMA_NIC_BYTES_PER_S = 50e9
FP8_SCALE_GROUP = 128  # DeepSeek's FP8 activations carry one FP32 scale per 128 values (DeepSeek-V3 report §3.3)
# The ± band of a PD estimate: the model's largest miss on the published systems it is tested against
# (tests/test_disagg.py: decode +33% on SGLang's 96×H100; prefill within 13%). No measured row is fitted.
UNCERTAINTY_FRACTION = 0.33


class DisaggDeployment(BaseModel):
    """xPyD: ``prefill_nodes`` × ``gpus_per_node`` prefill GPUs and ``decode_nodes`` × ``gpus_per_node`` decode GPUs;
    each pool runs DP-attention with EP over all its GPUs."""

    model_config = ConfigDict(frozen=True)

    gpu_id: str
    gpus_per_node: int = Field(8, ge=1, le=64)
    prefill_nodes: int = Field(1, ge=1, le=256)
    decode_nodes: int = Field(1, ge=1, le=256)
    engine: str = "sglang"
    weight_format: str = "native"
    kv_dtype: str = "auto"
    prefill_tokens_per_gpu: int = Field(16384, ge=256, le=1_000_000)
    decode_batch_per_gpu: int | None = Field(None, ge=1, le=4096)   # None: the most that fits memory (and the SLO)
    speculative_tokens: int = Field(0, ge=0, le=8)                  # MTP draft tokens per step
    acceptance_fraction: float | None = Field(None, ge=0.0, le=1.0)
    two_batch_overlap: bool = True

    @property
    def prefill_gpus(self) -> int:
        return self.prefill_nodes * self.gpus_per_node

    @property
    def decode_gpus(self) -> int:
        return self.decode_nodes * self.gpus_per_node

    def label(self) -> str:
        return f"{self.prefill_nodes}P{self.decode_nodes}D"


class PhaseEstimate(BaseModel):
    """One pool's forward pass, per GPU, and its throughput per node."""

    model_config = ConfigDict(frozen=True)

    nodes: int
    gpus: int
    expert_parallel_size: int
    tokens_per_gpu: float            # tokens one forward processes on one GPU
    step_s: float
    compute_s: float
    comm_s: float
    bound: str                       # compute | communication | kv_transfer (prefill limited by the NIC)
    tokens_per_s_per_node: float     # prefill: input tokens incl. prefix-cache hits; decode: output tokens
    terms_s: dict[str, float]
    two_batch_overlap: bool = True   # the schedule the step assumes (decode: the faster of with and without)


class DisaggEstimate(BaseModel):
    """Speed of a PD deployment under a workload. Seconds and tokens/s."""

    model_config = ConfigDict(frozen=True)

    layout: str
    prefill: PhaseEstimate
    decode: PhaseEstimate
    decode_batch_per_gpu: int
    max_decode_batch_per_gpu: int
    decode_weights_bytes_per_gpu: float
    decode_budget_bytes_per_gpu: float
    kv_bytes_per_token_per_gpu: float
    tokens_per_decode_step: float     # accepted tokens per sequence per step (MTP)
    kv_transfer_s: float
    ttft_s: float
    tpot_s: float
    concurrency: int                  # sequences decoding at once, whole decode pool
    requests_per_s: float             # what the slower pool sustains
    output_tokens_per_s: float
    input_tokens_per_s: float
    bottleneck_pool: str              # prefill | decode
    weight_format: str
    kv_dtype: str
    uncertainty_fraction: float = UNCERTAINTY_FRACTION
    assumptions: tuple[str, ...] = ()


def _by_ep(table: dict[int, float], ep: int) -> float:
    """A measured rate at ``ep``: log-linear between the measured EP sizes, the nearest end outside them."""
    keys = sorted(table)
    if ep <= keys[0]:
        return table[keys[0]]
    if ep >= keys[-1]:
        return table[keys[-1]]
    for lo, hi in zip(keys, keys[1:], strict=False):
        if lo <= ep <= hi:
            w = (math.log(ep) - math.log(lo)) / (math.log(hi) - math.log(lo))
            return table[lo] + w * (table[hi] - table[lo])
    return table[keys[-1]]  # pragma: no cover


def dispatch_bytes_per_token(hidden_size: int) -> float:
    """FP8 activations with one FP32 scale per 128 values: hidden · 1 + hidden / 128 · 4 bytes (DeepEP FP8 dispatch)."""
    return hidden_size + hidden_size / FP8_SCALE_GROUP * 4


def combine_bytes_per_token(hidden_size: int) -> float:
    """BF16 expert outputs sent back: hidden · 2 bytes."""
    return 2.0 * hidden_size


def expected_nodes_touched(num_nodes: int, top_k: int, max_nodes: int = 4) -> float:
    """Distinct nodes one token's k experts live on: n · (1 − (1 − 1/n)^k), at most the router's node limit.

    DeepSeek-V3 routes each token to at most 4 nodes (technical report §2.1.2, arXiv:2412.19437); DeepEP's normal
    kernels send a token once per node and forward it over NVLink inside the node.
    """
    if num_nodes <= 1:
        return 1.0
    return min(float(max_nodes), num_nodes * (1.0 - (1.0 - 1.0 / num_nodes) ** top_k))


def largest_activation_bytes_per_token(arch) -> float:
    """The widest activation tensor one token materializes (bytes): an MoE layer's k gate/up outputs in BF16
    (k · 2 · expert width · 2), a dense MLP's gate/up, or the hidden state — what decides whether a batch's glue
    traffic stays in the L2 (``perf.operations.elementwise``)."""
    widest = 2.0 * arch.hidden_size
    for mlp in arch.mlp:
        k = mlp.top_k if mlp.num_experts else 1
        width = mlp.expert_intermediate_size if mlp.num_experts else mlp.intermediate_size
        widest = max(widest, 4.0 * k * width)
    return widest


def activation_bytes_per_token(arch, *, absorbed: bool) -> float:
    """HBM bytes the glue kernels between GEMMs move for one token, whole model (norms, FP8 casts, RoPE, SiLU·mul,
    MoE permute/unpermute, residual adds).

    Each activation tensor a layer materializes is written once and read back once (2 touches), at its own width:
    attention — normed input (BF16) and its FP8 copy, the q_a/kv_a outputs, q_b output, the decompressed K/V of
    prefill (``absorbed`` False; decode's absorbed path keeps the latent), the attention output (BF16 + FP8), the
    output projection and the residual; MoE — normed input and FP8 copy, k dispatched and k permuted FP8 copies, k
    gate/up outputs (BF16), k activated FP8 inputs, k down outputs and k combined (BF16), the weighted sum, and the
    shared expert's own. Dense MLP layers: the same with one "expert" of the dense width. Fusion would remove some
    touches; none is assumed.
    """
    h = arch.hidden_size
    fp8 = h + h / FP8_SCALE_GROUP * 4
    total = 0.0
    for att, mlp in zip(arch.attention, arch.mlp, strict=False):
        if att.kind == "mla":
            heads = att.num_heads
            nope, rope, v = att.qk_nope_head_dim or 0, att.qk_rope_head_dim or 0, att.v_head_dim or 0
            qr, kr = att.q_lora_rank or 0, att.kv_lora_rank or 0
            a = 2 * h + fp8 + 2 * (qr + kr + rope) + 2 * heads * (nope + rope)
            a += 2 * heads * kr if absorbed else 2 * heads * (nope + v)
            a += 2 * heads * v + heads * v + 2 * h + 2 * h
        else:
            q = att.num_heads * att.head_dim
            kv = 2 * att.num_kv_heads * att.head_dim
            a = 2 * h + fp8 + 2 * (q + kv) + 2 * q + q + 2 * h + 2 * h
        k = mlp.top_k if mlp.num_experts else 1
        width = mlp.expert_intermediate_size if mlp.num_experts else mlp.intermediate_size
        m = 2 * h + fp8
        if mlp.num_experts:
            m += 2 * k * fp8  # dispatched and permuted copies
        m += k * (2 * 2 * width + width + width / FP8_SCALE_GROUP * 4 + 2 * h)
        if mlp.num_experts:
            m += k * 2 * h  # combined
            s = mlp.shared_intermediate_size * max(mlp.num_shared_experts, 1) if mlp.num_shared_experts else 0
            m += 2 * 2 * s + s + 2 * h if s else 0
        m += 2 * h
        total += 2 * (a + m)  # written once, read back once
    return total


@dataclass(frozen=True, slots=True)
class _Rates:
    gemm_fp8_flops_per_s: float
    attention_flops_per_s: float
    memory_bytes_per_s: float


def _rates(gpu: GpuSpec, weight_format: str) -> _Rates:
    fp8 = gpu.peak_flops_per_s("fp8") if weight_format.startswith("fp8") else None
    gemm = fp8 or _peak(gpu, "bf16")
    att = _peak(gpu, "bf16")
    if not gemm or not att or not gpu.memory_bandwidth_bytes_per_s:
        raise UnsupportedError("perf.no_flops", gpu=gpu.id)
    return _Rates(gemm, att, gpu.memory_bandwidth_bytes_per_s)


def _expert_weights_bytes_per_gpu(tab: ModelTable, ep: int, tokens_in_pool: float) -> float:
    """Routed-expert bytes one GPU streams per forward: its experts that the pool's tokens touch."""
    touched = expected_experts_touched(tab.num_experts, tab.top_k, tokens_in_pool)
    return tab.num_moe_layers * touched / max(ep, 1) * tab.expert_bytes_per_gpu


def _combine(compute_s: float, comm_s: float, overlap: bool, sm_share: float) -> tuple[float, str]:
    if overlap:
        c = compute_s / sm_share
        step = max(c, comm_s)
        return step / EXPERT_BALANCEDNESS_FRACTION, "compute" if c >= comm_s else "communication"
    return (compute_s + comm_s) / EXPERT_BALANCEDNESS_FRACTION, "compute" if compute_s >= comm_s else "communication"


def _glue_s(tokens: float, bytes_per_token: float, widest_bytes_per_token: float, rates: _Rates) -> float:
    """Glue traffic of one micro-batch of ``tokens``: through HBM at the streaming rate when its widest activation
    spills the L2, nothing when it stays there (the perf layer's element-wise rule, ``operations.elementwise``)."""
    op = elementwise_op(bytes_per_token=bytes_per_token, tokens=tokens,
                        bytes_per_s=rates.memory_bytes_per_s * FLASHMLA_BANDWIDTH_FRACTION,
                        hidden_bytes_per_token=widest_bytes_per_token)
    return op.time_s


def prefill_phase(tab: ModelTable, arch, rates: _Rates, dd: DisaggDeployment, *, input_tokens: float,
                  cached_fraction: float, hidden_size: int) -> PhaseEstimate:
    """One prefill forward of ``prefill_tokens_per_gpu`` new tokens per GPU (module docstring)."""
    ep = dd.prefill_gpus
    t = float(dd.prefill_tokens_per_gpu)
    cached = input_tokens * cached_fraction
    new = max(input_tokens - cached, 1.0)
    # Prefill computes logits for the last position of each prompt only: the output head's 2 · vocab · hidden FLOPs
    # per token are counted once per prompt, not once per token.
    head_flops = 2.0 * arch.vocab_size * arch.hidden_size
    prompts = t / new
    gemm_flops = t * (tab.gemm_flops_per_token + tab.expert_flops_per_token) - max(t - prompts, 0.0) * head_flops
    gemm_s = gemm_flops / (rates.gemm_fp8_flops_per_s * PREFILL_GEMM_FRACTION)
    pairs_per_token = cached + new / 2.0  # causal: a new token sees the cached prefix and half the new part
    per_pair = tab.attention_flops_per_context_token_prefill or tab.attention_flops_per_context_token
    attn_s = t * pairs_per_token * per_pair / (rates.attention_flops_per_s * PREFILL_ATTENTION_FRACTION)
    mbs = 2 if dd.two_batch_overlap and ep > 1 else 1  # micro-batches per forward
    glue_s = mbs * _glue_s(t / mbs, activation_bytes_per_token(arch, absorbed=False),
                           largest_activation_bytes_per_token(arch), rates)
    compute_s = gemm_s + attn_s + glue_s
    if ep > dd.gpus_per_node:
        nodes = ep // dd.gpus_per_node
        per_token = expected_nodes_touched(nodes, tab.top_k) * (nodes - 1) / nodes
    else:
        per_token = float(tab.top_k) * (ep - 1) / ep if ep > 1 else 0.0
    disp = t * per_token * dispatch_bytes_per_token(hidden_size) / _by_ep(DEEPEP_NORMAL_DISPATCH_BYTES_PER_S, ep)
    comb = t * per_token * combine_bytes_per_token(hidden_size) / _by_ep(DEEPEP_NORMAL_COMBINE_BYTES_PER_S, ep)
    comm_s = tab.num_moe_layers * (disp + comb)
    share = 1.0 - PREFILL_COMM_SMS / HOPPER_SMS if ep > 1 else 1.0
    step, bound = _combine(compute_s, comm_s, dd.two_batch_overlap and ep > 1, share)
    # Tokens served per node count the prefix-cache hits (as DeepSeek's report does): t new tokens stand for
    # t / (1 − hit) prompt tokens.
    per_node = dd.gpus_per_node * t / step / max(1.0 - cached_fraction, 1e-9)
    return PhaseEstimate(nodes=dd.prefill_nodes, gpus=ep, expert_parallel_size=ep, tokens_per_gpu=t, step_s=step,
                         compute_s=compute_s, comm_s=comm_s, bound=bound, tokens_per_s_per_node=per_node,
                         terms_s={"gemm_s": gemm_s, "attention_s": attn_s, "glue_s": glue_s,
                                  "dispatch_s": tab.num_moe_layers * disp,
                                  "combine_s": tab.num_moe_layers * comb},
                         two_batch_overlap=dd.two_batch_overlap and ep > 1)


def decode_phase(tab: ModelTable, rates: _Rates, dd: DisaggDeployment, *, batch_per_gpu: float,
                 context_tokens: float, tokens_per_step: float, hidden_size: int,
                 glue_bytes_per_token: float = 0.0, widest_bytes_per_token: float = 0.0) -> PhaseEstimate:
    """One decode step of ``batch_per_gpu`` sequences per GPU, each verifying 1 + draft tokens (module docstring).

    With two-batch overlap each micro-batch streams the layer's weights again, so at small batches overlap loses
    (SGLang measured −27% at 32 tokens per device, LMSYS 2025-05-05); the faster of the two schedules is taken, as an
    operator would set ``--enable-two-batch-overlap``.
    """
    def schedule(overlap: bool) -> PhaseEstimate:
        return _decode_schedule(tab, rates, dd, batch_per_gpu, context_tokens, tokens_per_step, hidden_size, overlap,
                                glue_bytes_per_token, widest_bytes_per_token)

    options = [schedule(False)]
    if dd.two_batch_overlap and dd.decode_gpus > 1:
        options.append(schedule(True))
    return min(options, key=lambda p: p.step_s)


def _decode_schedule(tab: ModelTable, rates: _Rates, dd: DisaggDeployment, batch_per_gpu: float,
                     context_tokens: float, tokens_per_step: float, hidden_size: int, overlap: bool,
                     glue_bytes_per_token: float, widest_bytes_per_token: float) -> PhaseEstimate:
    ep = dd.decode_gpus
    b = float(batch_per_gpu)
    t = b * (1 + dd.speculative_tokens)
    eta_w = rates.memory_bytes_per_s * DECODE_WEIGHT_BANDWIDTH_FRACTION
    passes = 2 if overlap else 1  # each micro-batch streams the layer's weights again
    dense_s = max(passes * tab.dense_bytes_per_gpu / eta_w,
                  t * tab.gemm_flops_per_token / (rates.gemm_fp8_flops_per_s * DECODE_GEMM_FRACTION))
    expert_s = max(passes * _expert_weights_bytes_per_gpu(tab, ep, t * ep / passes) / eta_w,
                   t * tab.expert_flops_per_token / (rates.gemm_fp8_flops_per_s * DECODE_GEMM_FRACTION))
    kv_s = b * context_tokens * tab.kv_bytes_per_context_token_per_gpu / (
        rates.memory_bytes_per_s * FLASHMLA_BANDWIDTH_FRACTION)
    attn_flops_s = t * context_tokens * tab.attention_flops_per_context_token / (
        rates.attention_flops_per_s * FLASHMLA_COMPUTE_FRACTION)
    attention_s = max(kv_s, attn_flops_s)
    # MTP drafting runs the draft module (one more decoder block with its MoE, DeepSeek-V3 report §2.2) once per draft
    # token: counted as 1/L of a layer's share of the step per draft token, and one more MoE layer of all-to-all.
    draft = dd.speculative_tokens / max(tab.num_layers, 1)
    glue_s = passes * _glue_s(t / passes, glue_bytes_per_token, widest_bytes_per_token, rates)
    compute_s = (dense_s + expert_s + attention_s + glue_s) * (1.0 + draft)
    disp = t * tab.top_k * dispatch_bytes_per_token(hidden_size) / _by_ep(DEEPEP_LL_DISPATCH_BYTES_PER_S, ep)
    comb = t * tab.top_k * combine_bytes_per_token(hidden_size) / _by_ep(DEEPEP_LL_COMBINE_BYTES_PER_S, ep)
    comm_s = (tab.num_moe_layers + dd.speculative_tokens) * (disp + comb) if ep > 1 else 0.0
    step, bound = _combine(compute_s, comm_s, overlap, 1.0)
    per_node = dd.gpus_per_node * b * tokens_per_step / step
    return PhaseEstimate(nodes=dd.decode_nodes, gpus=ep, expert_parallel_size=ep, tokens_per_gpu=t, step_s=step,
                         compute_s=compute_s, comm_s=comm_s, bound=bound, tokens_per_s_per_node=per_node,
                         terms_s={"dense_gemm_s": dense_s, "expert_gemm_s": expert_s, "attention_s": attention_s,
                                  "glue_s": glue_s,
                                  "dispatch_s": tab.num_moe_layers * disp if ep > 1 else 0.0,
                                  "combine_s": tab.num_moe_layers * comb if ep > 1 else 0.0},
                         two_batch_overlap=overlap)


def _decode_memory(tab: ModelTable, gpu: GpuSpec, dd: DisaggDeployment) -> tuple[float, float]:
    """(budget, weights) bytes of one decode GPU (see ``_decode_capacity``)."""
    from gpuplan.memory.engines import sglang_mem_fraction_static

    budget = sglang_mem_fraction_static(dd.decode_gpus) * gpu.memory_bytes
    experts = tab.num_moe_layers * tab.num_experts / max(dd.decode_gpus, 1) * tab.expert_bytes_per_gpu
    weights = tab.dense_bytes_per_gpu + experts
    if dd.speculative_tokens:
        # The MTP draft block (one decoder layer with its experts, DeepSeek-V3 report §2.2) is loaded too: ≈ one
        # more layer's share of the weights.
        weights *= 1.0 + 1.0 / max(tab.num_layers, 1)
    return budget, weights


def _decode_capacity(tab: ModelTable, gpu: GpuSpec, dd: DisaggDeployment, context: int) -> int:
    """Sequences one decode GPU holds at ``context`` tokens: (SGLang's static budget − its weights) / KV per sequence.

    Budget = ``mem_fraction_static`` (SGLang's default for the pool's TP size, catalog engines.toml) × GPU memory;
    weights = the replicated non-expert part + 1/EP of the routed experts; the latent KV of a sequence lives whole on
    its DP-attention GPU.
    """
    budget, weights = _decode_memory(tab, gpu, dd)
    free = budget - weights
    per_seq = context * tab.kv_bytes_per_context_token_per_gpu
    return max(int(free // per_seq), 0) if per_seq > 0 else 0


def estimate_disaggregated(entry: ModelEntry, dd: DisaggDeployment, *, input_tokens: int, output_tokens: int,
                           prefix_cache_hit_fraction: float = 0.0, context_tokens: float | None = None,
                           max_tpot_s: float | None = None) -> DisaggEstimate:
    """Throughput and latency of ``entry`` on the PD deployment ``dd`` (module docstring).

    ``context_tokens``: mean KV length a decode step reads (default input + output / 2). ``decode_batch_per_gpu``
    None: the largest batch that fits the decode GPUs' KV cache, DeepEP's per-rank token limit and ``max_tpot_s``.
    Requests/s is what the slower pool sustains; TTFT = half a prefill forward waiting + one forward + the KV
    transfer; TPOT = decode step / accepted tokens per step.
    """
    arch = entry.arch
    if not arch.num_experts:
        raise InvalidInputError("disagg.needs_moe", model=entry.id)
    if dd.engine != "sglang":
        raise InvalidInputError("disagg.engine", engine=dd.engine)
    gpu = get_gpu(dd.gpu_id)
    fmt = resolve_format(entry, dd.weight_format)
    kv_dtype = resolve_kv_dtype(dd.kv_dtype, dd.engine)
    rates = _rates(gpu, fmt)
    inp, out = float(input_tokens), float(output_tokens)
    ctx = float(context_tokens) if context_tokens else inp + out / 2.0
    p_tab = model_table(entry.id, fmt, kv_dtype, dd.prefill_gpus, dd.prefill_gpus, dd.prefill_gpus)
    d_tab = model_table(entry.id, fmt, kv_dtype, dd.decode_gpus, dd.decode_gpus, dd.decode_gpus)
    hidden = arch.hidden_size
    glue = activation_bytes_per_token(arch, absorbed=True)
    pre = prefill_phase(p_tab, arch, rates, dd, input_tokens=inp, cached_fraction=prefix_cache_hit_fraction,
                        hidden_size=hidden)
    # Each prompt's whole KV cache (cached prefix included) leaves its prefill GPU over that GPU's NIC, which the
    # pool's prefill rate cannot outrun.
    nic_cap = dd.gpus_per_node * RDMA_NIC_BYTES_PER_S / max(d_tab.kv_bytes_per_context_token_per_gpu, 1.0)
    if pre.tokens_per_s_per_node > nic_cap:
        pre = pre.model_copy(update={"tokens_per_s_per_node": nic_cap, "bound": "kv_transfer"})
    accept = MTP_ACCEPTANCE_FRACTION if dd.acceptance_fraction is None else dd.acceptance_fraction
    per_step = sum(accept**i for i in range(dd.speculative_tokens + 1))
    cap = _decode_capacity(d_tab, gpu, dd, int(math.ceil(inp + out)))
    if cap <= 0:
        raise InvalidInputError("perf.does_not_fit", model=entry.id, gpu=gpu.id, gpus=dd.decode_gpus,
                                context=int(inp + out))
    limit = min(MAX_DECODE_TOKENS_PER_GPU // (1 + dd.speculative_tokens), cap)

    def dec(b: float) -> PhaseEstimate:
        return decode_phase(d_tab, rates, dd, batch_per_gpu=b, context_tokens=ctx, tokens_per_step=per_step,
                            hidden_size=hidden, glue_bytes_per_token=glue,
                            widest_bytes_per_token=largest_activation_bytes_per_token(arch))

    if dd.decode_batch_per_gpu is not None:
        b = dd.decode_batch_per_gpu
    else:
        b = limit
        if max_tpot_s is not None:
            lo, hi = 0, limit  # the largest b with step / per_step ≤ max_tpot_s (step grows with b)
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if dec(mid).step_s / per_step <= max_tpot_s:
                    lo = mid
                else:
                    hi = mid - 1
            b = max(lo, 1)
    d = dec(b)
    tpot = d.step_s / per_step
    kv_bytes = inp * d_tab.kv_bytes_per_context_token_per_gpu
    kv_s = kv_bytes / RDMA_NIC_BYTES_PER_S
    ttft = 1.5 * pre.step_s + kv_s
    prefill_rps = pre.tokens_per_s_per_node * dd.prefill_nodes / inp
    decode_rps = d.tokens_per_s_per_node * dd.decode_nodes / out
    rps = min(prefill_rps, decode_rps)
    assumptions = ["disagg.assume_kernels", "disagg.assume_balance", "disagg.assume_ttft"]
    if dd.speculative_tokens:
        assumptions.append("perf.assume_speculative")
    if gpu.architecture != "hopper":
        assumptions.append("disagg.assume_extrapolated")
    return DisaggEstimate(
        layout=dd.label(), prefill=pre, decode=d, decode_batch_per_gpu=int(b), max_decode_batch_per_gpu=cap,
        decode_weights_bytes_per_gpu=_decode_memory(d_tab, gpu, dd)[1],
        decode_budget_bytes_per_gpu=_decode_memory(d_tab, gpu, dd)[0],
        kv_bytes_per_token_per_gpu=d_tab.kv_bytes_per_context_token_per_gpu,
        tokens_per_decode_step=per_step, kv_transfer_s=kv_s, ttft_s=ttft, tpot_s=tpot,
        concurrency=int(b) * dd.decode_gpus, requests_per_s=rps, output_tokens_per_s=rps * out,
        input_tokens_per_s=rps * inp, bottleneck_pool="prefill" if prefill_rps < decode_rps else "decode",
        weight_format=fmt, kv_dtype=kv_dtype, assumptions=tuple(assumptions),
    )
