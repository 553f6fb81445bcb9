"""Routed experts as a grouped GEMM over the experts a batch touches (DeepSeek-V3, Mixtral, Qwen3-MoE, gpt-oss).

T tokens each pick k of E experts; with uniform routing E · (1 − (1 − k/E)^T) distinct experts are touched per layer
(each expert is left out with probability (1 − k/E)^T). Bytes: the touched experts' weights on this GPU. FLOPs: 2 ·
active expert parameters per token. Each touched expert multiplies only the M = T · k / touched rows routed to it,
so its GEMM efficiency is η_comp(M) for that M, not for T (grouped GEMM: DeepGEMM, SGLang/vLLM fused MoE).
"""

from __future__ import annotations

from gpuplan.perf.operations import OpTime, roofline
from gpuplan.perf.operations.gemm import gemm_efficiency_fraction


def expected_experts_touched(num_experts: int, top_k: int, num_tokens: float) -> float:
    """Expected distinct experts a step touches in one MoE layer: E · (1 − (1 − k/E)^T).

    Uniform routing is an assumption (DESIGN §6) — real routers are skewed, touching fewer.
    """
    if num_experts <= 0 or top_k <= 0 or num_tokens <= 0:
        return 0.0
    return num_experts * (1.0 - (1.0 - top_k / num_experts) ** num_tokens)


def moe_op(*, expert_bytes: float, flops: float, tokens: float, top_k: int, touched: float, bytes_per_s: float,
           flops_per_s: float, eta_max: float, half_m_tokens: float) -> OpTime:
    """The routed experts of all MoE layers on one GPU (module docstring)."""
    m_expert = tokens * top_k / max(touched, 1e-9)
    eta = gemm_efficiency_fraction(m_expert, eta_max, half_m_tokens)
    memory_s = expert_bytes / bytes_per_s if bytes_per_s > 0 else 0.0
    compute_s = flops / (flops_per_s * max(eta, 1e-6)) if flops else 0.0
    return roofline("moe_experts", memory_s, compute_s)
