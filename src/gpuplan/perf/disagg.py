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
    prefill step = max(compute / SM share, comm) / balancedness  with TBO (DeepEP's normal kernels run on their own
                                                                  SMs beside the GEMMs the whole forward long)
                 = (compute + comm) / balancedness                without
    decode step  = (Σ MoE layers 2 · [max(SHARED + ATTN-0, dispatch) + MLP + max(ATTN-1, combine)]
                    + dense layers + head) / balancedness         with TBO: DeepSeek's decode pipeline, where a
                                                                  transfer hides only under the other micro-batch's
                                                                  attention and shared experts (``decode_moe_layer_s``)
                 = (Σ every term in series) / balancedness        without

``balancedness`` (mean ÷ max expert load over the GPUs) makes the most loaded GPU set the pace. Every rate is a
published kernel measurement (constants below, with sources), not fitted to the throughput figures the tests
reproduce. The step model's other primitives (expert touch, all-to-all, tables) come from ``perf.step`` and
``perf.tables``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from gpuplan.catalog import GpuSpec, get_gpu
from gpuplan.catalog.models import ModelEntry
from gpuplan.errors import InvalidInputError, UnsupportedError
from gpuplan.memory.kv import resolve_kv_dtype
from gpuplan.memory.weights import CACHE_CLEARERS, model_tensor_bytes, resolve_format
from gpuplan.memory.weights import entry as weights_entry
from gpuplan.perf.operations.elementwise import elementwise_op
from gpuplan.perf.serving import MTP_ACCEPTANCE_FRACTION, _peak
from gpuplan.perf.step import expected_experts_touched
from gpuplan.perf.tables import ModelTable, model_table
from gpuplan.records import Record, record

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
# (tests/test_disagg.py: prefill −13% on DeepSeek's profile; decode within 7%). No measured row is fitted.
UNCERTAINTY_FRACTION = 0.14


@record
class DisaggDeployment(Record):
    """xPyD: ``prefill_nodes`` × ``gpus_per_node`` prefill GPUs and ``decode_nodes`` × ``gpus_per_node`` decode GPUs;
    each pool runs DP-attention with EP over all its GPUs."""

    gpu_id: str
    gpus_per_node: int = 8
    prefill_nodes: int = 1
    decode_nodes: int = 1
    engine: str = "sglang"
    weight_format: str = "native"
    kv_dtype: str = "auto"
    prefill_tokens_per_gpu: int = 16384
    decode_batch_per_gpu: int | None = None   # None: the most that fits memory (and the SLO)
    speculative_tokens: int = 0               # MTP draft tokens per step
    acceptance_fraction: float | None = None
    two_batch_overlap: bool = True

    _BOUNDS = {
        "gpus_per_node": {"minimum": 1, "maximum": 64}, "prefill_nodes": {"minimum": 1, "maximum": 256},
        "decode_nodes": {"minimum": 1, "maximum": 256}, "prefill_tokens_per_gpu": {"minimum": 256, "maximum": 1_000_000},
        "decode_batch_per_gpu": {"minimum": 1, "maximum": 4096}, "speculative_tokens": {"minimum": 0, "maximum": 8},
        "acceptance_fraction": {"minimum": 0.0, "maximum": 1.0},
    }

    @property
    def prefill_gpus(self) -> int:
        return self.prefill_nodes * self.gpus_per_node

    @property
    def decode_gpus(self) -> int:
        return self.decode_nodes * self.gpus_per_node

    def label(self) -> str:
        return f"{self.prefill_nodes}P{self.decode_nodes}D"


@record
class PhaseEstimate(Record):
    """One pool's forward pass, per GPU, and its throughput per node."""

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


@record
class DisaggEstimate(Record):
    """Speed of a PD deployment under a workload. Seconds and tokens/s."""

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


@dataclass(frozen=True, slots=True)
class DecodeLayerParts:
    """Weights (bytes on one decode GPU) and matmul FLOPs per token of the pieces the decode pipeline schedules, per
    MoE layer (averaged over the MoE layers) and summed over the dense layers and the head.

    The split follows DeepSeek's decode pipeline (github.com/deepseek-ai/profile-data, decode figure): ATTN-0 = the
    MLA down/up projections before core attention (q_a, q_b, kv_a and the key half of kv_b absorbed into the query);
    ATTN-1 = core attention, the value half of kv_b, the output projection and the MoE routing gate; SHARED = the
    shared experts. Placement in an SGLang PD decode pool (DP-attention over the whole pool, DeepEP MoE): attention
    replicated; shared experts replicated ("disable tp for shared experts when enable deepep moe": tp_size=1 in
    SGLang's DeepseekV2MoE); dense MLP layers replicated (``--moe-dense-tp-size 1``, as ``render`` writes); the
    vocab-parallel head ÷ the pool size.
    """

    attn_pre_bytes: float
    attn_pre_flops: float
    attn_post_bytes: float
    attn_post_flops: float
    shared_bytes: float
    shared_flops: float
    dense_layers_bytes: float     # all dense (non-MoE) layers: attention + MLP
    dense_layers_flops: float
    head_bytes: float
    head_flops: float


@lru_cache(maxsize=256)
def decode_layer_parts(model_id: str, weight_format: str, pool_gpus: int) -> DecodeLayerParts:
    """``DecodeLayerParts`` of one model in one weight format on a decode pool of ``pool_gpus`` GPUs."""
    model = weights_entry(model_id)
    arch = model.arch
    moe = set(arch.moe_layers)
    n_moe = max(len(moe), 1)
    acc = {k: 0.0 for k in ("pre_b", "pre_f", "post_b", "post_f", "sh_b", "sh_f", "dl_b", "dl_f", "hd_b", "hd_f")}
    for t, nbytes in model_tensor_bytes(model, weight_format):
        if len(t.shape) < 2 or t.component in ("embed", "router_bias", "norm", "routed_experts", "mtp"):
            continue
        flops = 2.0 * t.num_elements
        if t.layer is None:
            acc["hd_b"] += nbytes / max(pool_gpus, 1)
            acc["hd_f"] += flops
            continue
        if t.layer not in moe:
            acc["dl_b"] += nbytes
            acc["dl_f"] += flops
            continue
        if t.component == "shared_experts":
            acc["sh_b"] += nbytes
            acc["sh_f"] += flops
            continue
        post = 0.0  # the share of the tensor that runs after core attention
        if t.component == "router" or t.name.endswith(("attn_output", "attn_o")):
            post = 1.0
        elif t.name.endswith("attn_kv_b"):
            att = arch.attention[t.layer]
            nope, v = att.qk_nope_head_dim or 0, att.v_head_dim or 0
            post = v / (nope + v) if nope + v else 0.0
        acc["post_b"] += post * nbytes
        acc["post_f"] += post * flops
        acc["pre_b"] += (1.0 - post) * nbytes
        acc["pre_f"] += (1.0 - post) * flops
    if arch.tie_word_embeddings:
        acc["hd_b"] += arch.vocab_size * arch.hidden_size * 2 / max(pool_gpus, 1)
        acc["hd_f"] += 2.0 * arch.vocab_size * arch.hidden_size
    return DecodeLayerParts(
        attn_pre_bytes=acc["pre_b"] / n_moe, attn_pre_flops=acc["pre_f"] / n_moe,
        attn_post_bytes=acc["post_b"] / n_moe, attn_post_flops=acc["post_f"] / n_moe,
        shared_bytes=acc["sh_b"] / n_moe, shared_flops=acc["sh_f"] / n_moe,
        dense_layers_bytes=acc["dl_b"], dense_layers_flops=acc["dl_f"], head_bytes=acc["hd_b"], head_flops=acc["hd_f"])


CACHE_CLEARERS.append(decode_layer_parts.cache_clear)  # an imported model re-sized under the same id

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
                 context_tokens: float, tokens_per_step: float, hidden_size: int, parts: DecodeLayerParts,
                 glue_bytes_per_token: float = 0.0, widest_bytes_per_token: float = 0.0) -> PhaseEstimate:
    """One decode step of ``batch_per_gpu`` sequences per GPU, each verifying 1 + draft tokens (module docstring).

    With two-batch overlap each micro-batch streams the layer's weights again, so at small batches overlap loses
    (SGLang measured −27% at 32 tokens per device, LMSYS 2025-05-05); the faster of the two schedules is taken, as an
    operator would set ``--enable-two-batch-overlap``.
    """
    def schedule(overlap: bool) -> PhaseEstimate:
        return _decode_schedule(tab, rates, dd, batch_per_gpu, context_tokens, tokens_per_step, hidden_size, overlap,
                                parts, glue_bytes_per_token, widest_bytes_per_token)

    options = [schedule(False)]
    if dd.two_batch_overlap and dd.decode_gpus > 1:
        options.append(schedule(True))
    return min(options, key=lambda p: p.step_s)


def decode_moe_layer_s(*, attn_pre_s: float, attn_post_s: float, shared_s: float, experts_s: float,
                       dispatch_s: float, combine_s: float, overlap: bool) -> tuple[float, float]:
    """(time of one MoE layer, communication left exposed in it) for one decode step, both micro-batches.

    DeepSeek's decode pipeline (github.com/deepseek-ai/profile-data, decode figure; SGLang runs the same stages:
    ``_compute_moe_deepseek_blog_decode`` in python/sglang/srt/operations_strategy.py, later
    srt/batch_overlap/operations_strategy.py, ``tbo_delta_stages=2``) puts each micro-batch's all-to-all
    in flight under the *other* micro-batch's computation: its dispatch under its own shared experts and the other's
    ATTN-0 (MLA projections), its combine under the other's ATTN-1 (core attention, output projection, gate). The
    routed-expert GEMMs (MLP) run with nothing in flight. The communication uses no SMs while in flight (DeepEP's
    receive hook; LMSYS: decode communication kernels "either fully utilize SMs (during send/receive) or none (during
    inflight waiting)"), so per micro-batch

        max(SHARED + ATTN-0, dispatch) + MLP + max(ATTN-1, combine)

    and the layer is twice that (the two micro-batches are the same size; times are per micro-batch). A stage whose
    transfer outlasts the computation it hides under waits for it: what LMSYS saw as SGLang's combine "2x slower than
    DeepSeek's due to shorter attention computation, causing communication kernels to busy-wait". Without overlap
    every term runs in series on the whole batch (times are then for the whole batch).
    """
    if not overlap:
        t = attn_pre_s + attn_post_s + shared_s + experts_s + dispatch_s + combine_s
        return t, dispatch_s + combine_s
    first = max(shared_s + attn_pre_s, dispatch_s)
    second = max(attn_post_s, combine_s)
    exposed = (first - shared_s - attn_pre_s) + (second - attn_post_s)
    return 2.0 * (first + experts_s + second), 2.0 * exposed


def _decode_schedule(tab: ModelTable, rates: _Rates, dd: DisaggDeployment, batch_per_gpu: float,
                     context_tokens: float, tokens_per_step: float, hidden_size: int, overlap: bool,
                     parts: DecodeLayerParts, glue_bytes_per_token: float, widest_bytes_per_token: float
                     ) -> PhaseEstimate:
    """One decode step: the dense layers and the head on the whole batch, the MoE layers as ``decode_moe_layer_s``
    schedules them on micro-batches of half the batch (with overlap) or the whole batch (without). Every GEMM takes
    the longer of streaming its weights and its FLOPs at the DeepGEMM masked-layout rates; core attention the longer of
    its KV bytes and FLOPs at FlashMLA's; dispatch and combine DeepEP's low-latency unit-test rate at the pool's EP."""
    ep = dd.decode_gpus
    b = float(batch_per_gpu)
    t = b * (1 + dd.speculative_tokens)
    mbs = 2 if overlap else 1
    m, seqs = t / mbs, b / mbs  # tokens and sequences of one micro-batch
    eta_w = rates.memory_bytes_per_s * DECODE_WEIGHT_BANDWIDTH_FRACTION
    flops_rate = rates.gemm_fp8_flops_per_s * DECODE_GEMM_FRACTION

    def gemm(nbytes: float, flops_per_token: float, tokens: float) -> float:
        return max(nbytes / eta_w, tokens * flops_per_token / flops_rate)

    layers = max(tab.num_layers, 1)

    def core_attention(sequences: float, n_layers: float) -> float:
        kv = sequences * context_tokens * tab.kv_bytes_per_context_token_per_gpu / (
            rates.memory_bytes_per_s * FLASHMLA_BANDWIDTH_FRACTION)
        fl = sequences * (1 + dd.speculative_tokens) * context_tokens * tab.attention_flops_per_context_token / (
            rates.attention_flops_per_s * FLASHMLA_COMPUTE_FRACTION)
        return max(kv, fl) * n_layers / layers

    n_moe = tab.num_moe_layers
    glue = _glue_s(m, glue_bytes_per_token, widest_bytes_per_token, rates) / layers
    attn_pre = gemm(parts.attn_pre_bytes, parts.attn_pre_flops, m) + glue
    attn_post = gemm(parts.attn_post_bytes, parts.attn_post_flops, m) + core_attention(seqs, 1)
    shared = gemm(parts.shared_bytes, parts.shared_flops, m)
    experts = max(_expert_weights_bytes_per_gpu(tab, ep, m * ep) / max(n_moe, 1) / eta_w,
                  m * tab.expert_flops_per_token / max(n_moe, 1) / flops_rate)
    disp = m * tab.top_k * dispatch_bytes_per_token(hidden_size) / _by_ep(DEEPEP_LL_DISPATCH_BYTES_PER_S, ep)
    comb = m * tab.top_k * combine_bytes_per_token(hidden_size) / _by_ep(DEEPEP_LL_COMBINE_BYTES_PER_S, ep)
    if ep <= 1:
        disp = comb = 0.0
    layer_s, exposed_s = decode_moe_layer_s(attn_pre_s=attn_pre, attn_post_s=attn_post, shared_s=shared,
                                            experts_s=experts, dispatch_s=disp, combine_s=comb, overlap=overlap)
    # The dense layers run outside the two-batch overlap (SGLang: "dense layer TBO not yet implemented"), and the head
    # once per step, on the whole batch.
    dense_layers = layers - n_moe
    dense_s = (gemm(parts.dense_layers_bytes, parts.dense_layers_flops, t) + core_attention(b, dense_layers)
               + mbs * glue * dense_layers)
    head_s = gemm(parts.head_bytes, parts.head_flops, t)
    # MTP drafting runs the draft module (one more decoder block with its MoE and its all-to-all, DeepSeek-V3 report
    # §2.2) once per draft token: one more MoE layer per draft token.
    moe_layers = n_moe + dd.speculative_tokens
    raw = moe_layers * layer_s + dense_s + head_s
    step = raw / EXPERT_BALANCEDNESS_FRACTION
    comm_s = moe_layers * mbs * (disp + comb)
    exposed = moe_layers * exposed_s
    compute_s = raw - exposed
    # Communication-bound: the transfers outlast the computation they could hide under (with overlap: the other
    # micro-batch's attention and shared experts; without: the whole step's computation).
    hideable = (shared + attn_pre + attn_post) if overlap else compute_s / max(moe_layers, 1)
    bound = "communication" if disp + comb > hideable else "compute"
    per_node = dd.gpus_per_node * b * tokens_per_step / step
    return PhaseEstimate(nodes=dd.decode_nodes, gpus=ep, expert_parallel_size=ep, tokens_per_gpu=t, step_s=step,
                         compute_s=compute_s, comm_s=comm_s, bound=bound, tokens_per_s_per_node=per_node,
                         terms_s={"attention_projections_s": moe_layers * mbs * (attn_pre - glue),
                                  "attention_s": moe_layers * mbs * core_attention(seqs, 1)
                                  + core_attention(b, dense_layers),
                                  "attention_output_gate_s": moe_layers * mbs * (attn_post - core_attention(seqs, 1)),
                                  "shared_expert_gemm_s": moe_layers * mbs * shared,
                                  "expert_gemm_s": moe_layers * mbs * experts,
                                  "dense_layers_head_s": dense_s + head_s,
                                  "glue_s": mbs * glue * (moe_layers + dense_layers),
                                  "dispatch_s": moe_layers * mbs * disp, "combine_s": moe_layers * mbs * comb,
                                  "dispatch_wait_s": moe_layers * mbs * max(disp - shared - attn_pre, 0.0)
                                  if overlap else moe_layers * disp,
                                  "combine_wait_s": moe_layers * mbs * max(comb - attn_post, 0.0)
                                  if overlap else moe_layers * comb,
                                  "exposed_communication_s": exposed},
                         two_batch_overlap=overlap)


def _decode_memory(tab: ModelTable, gpu: GpuSpec, dd: DisaggDeployment, parts: DecodeLayerParts
                   ) -> tuple[float, float]:
    """(budget, weights) bytes of one decode GPU (see ``_decode_capacity``): the pool's placement of
    ``DecodeLayerParts`` (attention, shared experts and dense layers replicated, the head ÷ the pool) + 1/EP of the
    routed experts."""
    from gpuplan.memory.engines import sglang_mem_fraction_static

    budget = sglang_mem_fraction_static(dd.decode_gpus) * gpu.memory_bytes
    experts = tab.num_moe_layers * tab.num_experts / max(dd.decode_gpus, 1) * tab.expert_bytes_per_gpu
    replicated = tab.num_moe_layers * (parts.attn_pre_bytes + parts.attn_post_bytes + parts.shared_bytes)
    weights = replicated + parts.dense_layers_bytes + parts.head_bytes + experts
    if dd.speculative_tokens:
        # The MTP draft block (one decoder layer with its experts, DeepSeek-V3 report §2.2) is loaded too: ≈ one
        # more layer's share of the weights.
        weights *= 1.0 + 1.0 / max(tab.num_layers, 1)
    return budget, weights


def _decode_capacity(tab: ModelTable, gpu: GpuSpec, dd: DisaggDeployment, parts: DecodeLayerParts,
                     context: int) -> int:
    """Sequences one decode GPU holds at ``context`` tokens: (SGLang's static budget − its weights) / KV per sequence.

    Budget = ``mem_fraction_static`` (SGLang's default for the pool's TP size, catalog engines.toml) × GPU memory;
    weights = ``_decode_memory``; the latent KV of a sequence lives whole on its DP-attention GPU.
    """
    budget, weights = _decode_memory(tab, gpu, dd, parts)
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
    kv_dtype = resolve_kv_dtype(dd.kv_dtype, dd.engine, arch, compute_capability=gpu.compute_capability)
    rates = _rates(gpu, fmt)
    inp, out = float(input_tokens), float(output_tokens)
    ctx = float(context_tokens) if context_tokens else inp + out / 2.0
    p_tab = model_table(entry.id, fmt, kv_dtype, dd.prefill_gpus, dd.prefill_gpus, dd.prefill_gpus)
    d_tab = model_table(entry.id, fmt, kv_dtype, dd.decode_gpus, dd.decode_gpus, dd.decode_gpus)
    hidden = arch.hidden_size
    glue = activation_bytes_per_token(arch, absorbed=True)
    parts = decode_layer_parts(entry.id, fmt, dd.decode_gpus)
    pre = prefill_phase(p_tab, arch, rates, dd, input_tokens=inp, cached_fraction=prefix_cache_hit_fraction,
                        hidden_size=hidden)
    # Each prompt's whole KV cache (cached prefix included) leaves its prefill GPU over that GPU's NIC, which the
    # pool's prefill rate cannot outrun.
    nic_cap = dd.gpus_per_node * RDMA_NIC_BYTES_PER_S / max(d_tab.kv_bytes_per_context_token_per_gpu, 1.0)
    if pre.tokens_per_s_per_node > nic_cap:
        pre = pre.model_copy(update={"tokens_per_s_per_node": nic_cap, "bound": "kv_transfer"})
    accept = MTP_ACCEPTANCE_FRACTION if dd.acceptance_fraction is None else dd.acceptance_fraction
    per_step = sum(accept**i for i in range(dd.speculative_tokens + 1))
    cap = _decode_capacity(d_tab, gpu, dd, parts, int(math.ceil(inp + out)))
    if cap <= 0:
        raise InvalidInputError("perf.does_not_fit", model=entry.id, gpu=gpu.id, gpus=dd.decode_gpus,
                                context=int(inp + out))
    limit = min(MAX_DECODE_TOKENS_PER_GPU // (1 + dd.speculative_tokens), cap)

    def dec(b: float) -> PhaseEstimate:
        return decode_phase(d_tab, rates, dd, batch_per_gpu=b, context_tokens=ctx, tokens_per_step=per_step,
                            hidden_size=hidden, parts=parts, glue_bytes_per_token=glue,
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
    if d.two_batch_overlap:
        assumptions.append("disagg.assume_decode_pipeline")
    if dd.speculative_tokens:
        assumptions.append("perf.assume_speculative")
    if gpu.architecture != "hopper":
        assumptions.append("disagg.assume_extrapolated")
    return DisaggEstimate(
        layout=dd.label(), prefill=pre, decode=d, decode_batch_per_gpu=int(b), max_decode_batch_per_gpu=cap,
        decode_weights_bytes_per_gpu=_decode_memory(d_tab, gpu, dd, parts)[1],
        decode_budget_bytes_per_gpu=_decode_memory(d_tab, gpu, dd, parts)[0],
        kv_bytes_per_token_per_gpu=d_tab.kv_bytes_per_context_token_per_gpu,
        tokens_per_decode_step=per_step, kv_transfer_s=kv_s, ttft_s=ttft, tpot_s=tpot,
        concurrency=int(b) * dd.decode_gpus, requests_per_s=rps, output_tokens_per_s=rps * out,
        input_tokens_per_s=rps * inp, bottleneck_pool="prefill" if prefill_rps < decode_rps else "decode",
        weight_format=fmt, kv_dtype=kv_dtype, assumptions=tuple(assumptions),
    )
