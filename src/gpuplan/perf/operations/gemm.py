"""Dense GEMMs (attention projections, dense MLPs, shared experts, output head) by shape and dtype.

Time = max(weight bytes / (BW · η_mem · f_fmt), FLOPs / (P_dtype · η_comp(M))), with M the rows (tokens) of the GEMM.
η_comp(M) = η_max · M / (M + M½): a GEMM with few rows cannot fill the tensor cores. M½ is bounded by the fit to at
most one MMA tile (16 rows, the M of ``mma.m16n8k16`` on Ampere/Hopper, NVIDIA PTX ISA §9.7.13), so a batch-1 GEMM is
never priced above a 16-row tile and stays memory-bound where the hardware is (a 4-bit 7B on an A100 reads 3.5 GB:
its speed-up over 16-bit is visible, not hidden under a compute floor).
"""

from __future__ import annotations

from gpuplan.perf.operations import OpTime, roofline


def gemm_efficiency_fraction(m_tokens: float, eta_max: float, half_m_tokens: float) -> float:
    """η_comp(M) = η_max · M / (M + M½): a GEMM with M rows reaches half its best efficiency at M = M½."""
    if m_tokens <= 0:
        return 0.0
    return eta_max * m_tokens / (m_tokens + half_m_tokens)


def gemm_op(name: str, *, weight_bytes: float, flops: float, m_tokens: float, bytes_per_s: float,
            flops_per_s: float, eta_max: float, half_m_tokens: float) -> OpTime:
    """A dense GEMM group: ``weight_bytes`` streamed at ``bytes_per_s`` (already × η), ``flops`` at the peak × η(M)."""
    eta = gemm_efficiency_fraction(m_tokens, eta_max, half_m_tokens)
    memory_s = weight_bytes / bytes_per_s if bytes_per_s > 0 else 0.0
    compute_s = flops / (flops_per_s * max(eta, 1e-6)) if flops else 0.0
    return roofline(name, memory_s, compute_s)
